"""The map works with the network cut: headless Chromium, every non-loopback host blocked.

Chromium resolves every host but 127.0.0.1 to "not found" and sends anything else to a dead proxy;
the DevTools protocol (a tiny client over websockets) records every request, failure and response
status. The page must load with zero failed requests, zero requests to another host, the map must
have drawn its polygons and heatmap tiles, and a screenshot must not be blank.
"""

from __future__ import annotations

import base64
import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from browser import chromium, evaluate, load_page, wait_quiet
from PIL import Image

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser():
    with chromium() as devtools:
        yield devtools


@pytest.mark.timeout(180)
def test_map_loads_everything_from_sauti_with_the_network_cut(server, browser, tmp_path):
    load_page(browser, f"{server.url}/map?key={server.keys['planner']}")
    assert not [e for e in browser.of("Network.requestWillBeSent") if "/tiles/" in e["request"]["url"]]
    # the heatmap is off at first (it would hide the localities' colours): switch it on
    evaluate(
        browser,
        "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".find(l => l.innerText.trim() === 'Risk heatmap').querySelector('input').click()",
    )
    wait_quiet(browser, 2.0)
    requests = [e["request"]["url"] for e in browser.of("Network.requestWillBeSent")]
    failed = browser.of("Network.loadingFailed")
    statuses = {e["response"]["url"]: e["response"]["status"] for e in browser.of("Network.responseReceived")}
    foreign = [u for u in requests if not u.startswith(server.url + "/") and not u.startswith("data:")]
    assert foreign == [], foreign
    assert failed == [], failed
    assert all(code < 400 for code in statuses.values()), statuses
    assert any(u.endswith("/static/vendor/leaflet-1.9.4/leaflet.js") for u in requests)
    tiles = [u for u in requests if "/tiles/" in u]
    assert tiles, "the heatmap layer requested tiles"
    drawn = browser.call(
        "Runtime.evaluate",
        {
            "expression": "[document.querySelectorAll('.leaflet-tile-loaded').length,"
            " document.querySelectorAll('.leaflet-control-layers-overlays label').length,"
            " typeof L === 'object']",
            "returnByValue": True,
        },
    )["result"]["value"]
    tiles_loaded, overlays, leaflet = drawn
    assert tiles_loaded > 0, drawn
    assert overlays >= 4, drawn
    assert leaflet is True
    shot = browser.call("Page.captureScreenshot", {"format": "png"})["data"]
    png = tmp_path / "map.png"
    png.write_bytes(base64.b64decode(shot))
    keep = Path(tempfile.gettempdir()) / "sauti-map-screenshot.png"
    shutil.copy(png, keep)
    pixels = np.asarray(Image.open(io.BytesIO(png.read_bytes())).convert("RGB"))
    assert pixels.shape[:2] == (800, 1200)
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    background = (pixels == pixels[400, 5]).all(axis=2).mean()  # left edge: the map's background
    assert colours > 50, f"only {colours} colours: blank map? see {keep}"
    assert background < 0.7, f"{background:.0%} of the screenshot is background: see {keep}"


@pytest.mark.timeout(180)
def test_a_local_pmtiles_basemap_loads_with_the_network_cut(server, browser, tmp_path):
    """The basemap comes from a file on the server: its tiles load, nothing else is asked for."""
    from live_server import start_server
    from pmtiles.tile import TileType
    from test_basemap import pyramid, write_pmtiles

    path = write_pmtiles(tmp_path / "car.pmtiles", pyramid(), TileType.PNG)
    live = start_server(server.workspace, server.keys, {"SAUTI_BASEMAP": str(path)})
    try:
        load_page(browser, f"{live.url}/map?key={live.keys['planner']}")
    finally:
        live.stop()
    requests = [e["request"]["url"] for e in browser.of("Network.requestWillBeSent")]
    statuses = {e["response"]["url"]: e["response"]["status"] for e in browser.of("Network.responseReceived")}
    assert [u for u in requests if not u.startswith(live.url + "/") and not u.startswith("data:")] == []
    assert browser.of("Network.loadingFailed") == []
    basemap = {u: code for u, code in statuses.items() if "/basemap/" in u}
    assert basemap, "the basemap layer requested tiles"
    assert set(basemap.values()) == {200}, basemap
    assert all(u.split("/basemap/")[1].startswith("2/") for u in basemap)  # the file's deepest zoom, enlarged
