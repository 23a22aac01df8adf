"""A live Sauti server for the API tests: demo workspace built once, one user per role, real uvicorn.

The server and workspace are built once per test session (memoised here, because several test
modules import these fixtures) and the uvicorn process is killed at exit. Its access log is kept in
``server.log`` so tests can check what it writes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVENTS = ROOT / "data" / "sample" / "events" / "ucdp_ged_v23_1_CAF.geojson"
ROLES = ("reporter", "planner", "analyst", "admin")
STARTUP_S = 60


@dataclass
class LiveServer:
    """A running ``uvicorn`` process serving a demo workspace."""

    url: str
    workspace: Path
    keys: dict[str, str]
    log: Path
    process: subprocess.Popen = field(repr=False)

    def client(self, role: str | None = None, **kwargs) -> httpx.Client:
        """An HTTP client, with the bearer key of ``role`` when given."""
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def get(self, path: str, role: str | None = None, **kwargs) -> httpx.Response:
        with self.client(role) as client:
            return client.get(path, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sauti(*args: str, workspace: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAUTI_WORKSPACE": str(workspace)}
    return subprocess.run(
        [sys.executable, "-m", "sauti.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


_STATE: dict[str, object] = {}


def _build_workspace() -> Path:
    """``sauti demo --no-serve`` into a temporary folder.

    ``SAUTI_API_TEST_WORKSPACE=/path/to/demo/ws`` copies an already built demo workspace instead
    (for quick local iterations; CI builds it).
    """
    folder = Path(tempfile.mkdtemp(prefix="sauti-api-test-"))
    atexit.register(shutil.rmtree, folder, True)
    workspace = folder / "ws"
    prebuilt = os.environ.get("SAUTI_API_TEST_WORKSPACE")
    if prebuilt:
        shutil.copytree(prebuilt, workspace)
        return workspace
    done = _sauti("demo", "--no-serve", workspace=workspace)
    if done.returncode != 0:
        pytest.fail(f"`sauti demo --no-serve` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return workspace


def start_server(
    workspace: Path, keys: dict[str, str], extra_env: dict[str, str] | None = None
) -> LiveServer:
    """Start uvicorn on a free loopback port for ``workspace`` and wait for /api/v1/health."""
    port = free_port()
    log = workspace.parent / f"server-{port}.log"
    env = {**os.environ, "SAUTI_WORKSPACE": str(workspace), **(extra_env or {})}
    handle = open(log, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "sauti.api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=workspace.parent,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        handle.close()

    atexit.register(stop)
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                server = LiveServer(url, workspace, keys, log, process)
                server.stop = stop  # type: ignore[attr-defined]
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop()
    pytest.fail(f"uvicorn did not answer /api/v1/health within {STARTUP_S} s")


def live_server() -> LiveServer:
    """The session's server (built on first use)."""
    if "server" not in _STATE:
        workspace = _build_workspace()
        keys = {}
        for role in ROLES:
            done = _sauti("users", "add", f"test-{role}", "--role", role, "--json", workspace=workspace)
            assert done.returncode == 0, done.stderr
            import json

            keys[role] = json.loads(done.stdout)["key"]
        _STATE["server"] = start_server(workspace, keys)
    return _STATE["server"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def server() -> LiveServer:
    """A real uvicorn process on 127.0.0.1 serving the demo workspace."""
    return live_server()
