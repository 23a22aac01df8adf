/* Sauti map: popups bound per locality, and the side panel's names open them. */
/* the map's clear area: right of the layer list, below the title, left of the side panel (pixels) */
var CLEAR_TOP_LEFT = [370, 100];
var CLEAR_BOTTOM_RIGHT = [300, 10];
window.sautiMap = {
  init: function (map, layer, heat) {
    var byId = {};
    this.map = map;
    this.layer = layer;
    this.heat = heat;
    if (heat) {  /* heatmap on: locality fills cleared (sauti-map.css), outlines kept, so it shows */
      var container = map.getContainer();
      var sync = function () { container.classList.toggle("sauti-heat-on", map.hasLayer(heat)); };
      map.on("overlayadd overlayremove layeradd layerremove", sync);
      sync();
    }
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
