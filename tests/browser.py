"""Headless Chromium as the tests start it: as root, with the network cut but for 127.0.0.1.

The DevTools protocol (a tiny client over websockets) records every request, failure and response
status, evaluates script in the page and takes screenshots.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Chromium as root on this machine, without background traffic; every host but 127.0.0.1 resolves
# to "not found" and anything else goes to a dead proxy, so a page that needs the network fails.
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)

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


@contextmanager
def chromium() -> Iterator[DevTools]:
    """A headless Chromium with the network cut, driven over its DevTools websocket."""
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


def load_page(devtools: DevTools, url: str, settle: float = 2.0, limit: float = 45.0) -> None:
    """Open ``url`` in a new 1200×800 tab and wait for the load and a quiet network."""
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
    wait_quiet(devtools, settle, limit, need_load=True)


def wait_quiet(devtools: DevTools, settle: float = 1.0, limit: float = 45.0, need_load: bool = False) -> None:
    """Wait until every request started has ended and no event came for ``settle`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:  # wait for load, then for the network to go quiet
        devtools.pump(0.5)
        if need_load and not devtools.of("Page.loadEventFired"):
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


def evaluate(devtools: DevTools, expression: str):
    """The value of a JavaScript expression in the page (JSON-serialisable)."""
    result = devtools.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
    if "exceptionDetails" in result:
        raise AssertionError(f"{expression[:80]}: {result['exceptionDetails']}")
    return result["result"].get("value")


def screenshot(devtools: DevTools, path: Path) -> Path:
    """Save the page as PNG at ``path``."""
    import base64

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(devtools.call("Page.captureScreenshot", {"format": "png"})["data"]))
    return path
