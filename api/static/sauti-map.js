/* Sauti map: popups bound per locality, and the side panel's names open them. */
/* the map's clear area: right of the layer list, below the title, left of the side panel (pixels) */
var CLEAR_TOP_LEFT = [370, 100];
var CLEAR_BOTTOM_RIGHT = [300, 10];
window.sautiMap = {
  init: function (map, layer) {
    var byId = {};
    this.map = map;
    this.layer = layer;
    layer.eachLayer(function (item) {
      byId[item.feature.id] = item;
      item.bindPopup(item.feature.properties.popup, {
        maxWidth: 320, autoPanPaddingTopLeft: CLEAR_TOP_LEFT, autoPanPaddingBottomRight: CLEAR_BOTTOM_RIGHT
      });
    });
    document.querySelectorAll("[data-locality]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var item = byId[link.getAttribute("data-locality")];
        if (!item) { return; }
        map.fitBounds(item.getBounds(), {
          maxZoom: 8, animate: false, paddingTopLeft: CLEAR_TOP_LEFT, paddingBottomRight: CLEAR_BOTTOM_RIGHT
        });
        item.openPopup();
      });
    });
  }
};

/* The title bar grows with its warnings (stale data, a silent forecast target): keep the map's
   controls and the side panel below it, whatever its height. */
(function () {
  function placeBelowTitle() {
    var title = document.querySelector(".sauti-title");
    if (title) {
      document.documentElement.style.setProperty("--sauti-title-height", title.offsetHeight + "px");
    }
  }
  document.addEventListener("DOMContentLoaded", placeBelowTitle);
  window.addEventListener("load", placeBelowTitle);
  window.addEventListener("resize", placeBelowTitle);
})();
