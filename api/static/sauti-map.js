/* Sauti map: popups bound per locality, and the side panel's names open them. */
window.sautiMap = {
  init: function (map, layer) {
    var byId = {};
    this.map = map;
    this.layer = layer;
    layer.eachLayer(function (item) {
      byId[item.feature.id] = item;
      item.bindPopup(item.feature.properties.popup, {
        maxWidth: 320, autoPanPaddingTopLeft: [10, 100], autoPanPaddingBottomRight: [300, 10]
      });
    });
    document.querySelectorAll("[data-locality]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var item = byId[link.getAttribute("data-locality")];
        if (!item) { return; }
        map.fitBounds(item.getBounds(), { maxZoom: 8, animate: false, paddingBottomRight: [300, 0] });
        item.openPopup();
      });
    });
  }
};
