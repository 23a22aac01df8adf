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

/* Record a response from a popup (issue 19): the form posts to the local server with the map's
   session cookie; the X-Sauti-Map header is what lets a cookie write (same origin only). */
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.classList || !form.classList.contains("sauti-respond")) { return; }
  event.preventDefault();
  var status = form.querySelector(".sauti-respond-status");
  var body = {};
  new FormData(form).forEach(function (value, name) {
    if (value === "") { return; }
    body[name] = name === "alert_ids" ? [value] : value;
  });
  status.textContent = "Saving…";
  fetch("/api/v1/responses", {
    method: "POST",
    credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-Sauti-Map": "1"},
    body: JSON.stringify(body)
  }).then(function (reply) {
    return reply.json().then(function (data) { return [reply.status, data]; });
  }).then(function (result) {
    var code = result[0], data = result[1];
    if (code === 201 || code === 200) {
      status.textContent = code === 201 ? "Saved." : "Already recorded.";
      form.querySelector("button").disabled = true;
    } else {
      var first = (data.errors && data.errors[0]) || {};
      status.textContent = "Not saved: " + (first.field ? first.field + ": " + first.reason : data.detail);
    }
  }).catch(function () { status.textContent = "Not saved: the server did not answer."; });
});
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
