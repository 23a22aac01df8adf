"""The map works with the network cut: headless Chromium, every non-loopback host blocked.

Chromium resolves every host but 127.0.0.1 to "not found" and sends anything else to a dead proxy;
the DevTools protocol (a tiny client over websockets) records every request, failure and response
status. The page must load with zero failed requests, zero requests to another host, the map must
have drawn its polygons and heatmap tiles, and a screenshot must not be blank.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from browser import CHROMIUM, OFFLINE_FLAGS
from PIL import Image

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.slow]

FLAGS = [*OFFLINE_FLAGS, "--window-size=1200,800", "--remote-debugging-port=0"]


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands on one page session, events recorded."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def call(
        self, method: str, params: dict | None = None, session: bool = True, timeout: float = 30
    ) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def pump(self, seconds: float) -> None:
        """Record events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.05))))
            except TimeoutError:
                return

    def of(self, method: str) -> list[dict]:
        return [e["params"] for e in self.events if e.get("method") == method]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium not found: install Debian chromium (scripts/system-deps.sh)")
    profile = Path(tempfile.mkdtemp(prefix="sauti-chromium-"))
    process = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("chromium did not open its DevTools port")
        time.sleep(0.1)
    port, path = port_file.read_text().splitlines()[:2]
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}{path}", max_size=64 * 1024 * 1024, open_timeout=20) as ws:
        yield DevTools(ws)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(profile, ignore_errors=True)


def _load(devtools: DevTools, url: str, settle: float = 2.0, limit: float = 45.0) -> None:
    target = devtools.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
    devtools.session = devtools.call(
        "Target.attachToTarget", {"targetId": target, "flatten": True}, session=False
    )["sessionId"]
    devtools.call("Network.enable")
    devtools.call("Page.enable")
    devtools.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1200, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    devtools.events.clear()
    devtools.call("Page.navigate", {"url": url})
    start = time.monotonic()
    while time.monotonic() - start < limit:  # wait for load, then for the network to go quiet
        devtools.pump(0.5)
        if not devtools.of("Page.loadEventFired"):
            continue
        started = {e["requestId"] for e in devtools.of("Network.requestWillBeSent")}
        ended = {e["requestId"] for e in devtools.of("Network.loadingFinished")}
        ended |= {e["requestId"] for e in devtools.of("Network.loadingFailed")}
        if started <= ended:
            before = len(devtools.events)
            devtools.pump(settle)
            if len(devtools.events) == before:
                return
    raise AssertionError("the map page did not finish loading")


@pytest.mark.timeout(180)
def test_map_loads_everything_from_sauti_with_the_network_cut(server, browser, tmp_path):
    _load(browser, f"{server.url}/map?key={server.keys['planner']}")
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
        _load(browser, f"{live.url}/map?key={live.keys['planner']}")
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
