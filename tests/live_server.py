"""A live Sauti server for the API tests (real uvicorn on 127.0.0.1) and the copy of a workspace.

``tests/conftest.py`` builds the sample workspace once per session and starts one server on a copy
of it (fixture ``server``); modules that need another server (other settings) call
:func:`start_server` on the same workspace. A server's access log is kept beside its workspace so
tests can check what it writes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROLES = ("reporter", "planner", "researcher", "analyst", "admin")
DATABASE_URLS: dict[Path, str] = {}  # workspace folder → its PostgreSQL store (copy_workspace_to_postgres)
STARTUP_S = 60
STORE = "sauti.sqlite"


@dataclass
class LiveServer:
    """A running ``uvicorn`` process serving a workspace."""

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

    def log_tail(self, lines: int = 80) -> str:
        """The end of the server's log (tracebacks of 500s are there), for a failing assertion."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no server log: {exc})"

    def stop(self) -> None:
        """Terminate the process (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sauti(*args: str, workspace: Path, database_url: str | None = None) -> subprocess.CompletedProcess:
    """Run the ``sauti`` CLI of this interpreter on ``workspace`` (its store at ``database_url``)."""
    env = {**os.environ, "SAUTI_WORKSPACE": str(workspace)}
    if database_url:
        env["SAUTI_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "sauti.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


@contextmanager
def read_store(workspace: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a workspace's store, closed on exit (safe while it is served).

    Tests must not leave connections to a served store open, nor copy its files byte by byte: a
    copy of a live WAL database can be malformed, and closing any other descriptor of the file
    drops this process's SQLite locks on it. A workspace whose store is on PostgreSQL
    (:func:`copy_workspace_to_postgres`) gets a connection to it (same ``?`` placeholders, rows by name).
    """
    url = DATABASE_URLS.get(Path(workspace))
    if url is not None:
        from sauti.store import Workspace

        with Workspace(workspace, url).session() as con:
            yield con
        return
    con = sqlite3.connect(f"file:{workspace / STORE}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        yield con
    finally:
        con.close()


def copy_workspace(source: Path, destination: Path) -> Path:
    """Copy a workspace folder; the store goes through SQLite's backup API (safe while it is served).

    A served workspace may swap in a new cube (a Zarr folder behind a link) while it is copied: the
    files of the one replaced vanish mid-copy, so such a copy is started again (a few times).
    """
    for attempt in range(5):
        try:
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns(f"{STORE}*", ".*.tmp"))
            break
        except shutil.Error as error:
            vanished = all("No such file or directory" in str(why) for *_, why in error.args[0])
            shutil.rmtree(destination, ignore_errors=True)
            if not vanished or attempt == 4:
                raise
            time.sleep(0.5)
    if (source / STORE).exists():
        with sqlite3.connect(source / STORE) as live, sqlite3.connect(destination / STORE) as copy:
            live.backup(copy)
        live.close()
        copy.close()
    return destination


def copy_workspace_to_postgres(source: Path, destination: Path, database_url: str) -> Path:
    """:func:`copy_workspace` with the store moved into ``database_url`` (an empty PostgreSQL
    database) by ``sauti db copy``'s function; no SQLite file is left in the copy."""
    from sauti.store import Workspace
    from sauti.store_admin import copy_store

    copy_workspace(source, destination)
    copy_store(Workspace(destination), Workspace(destination, database_url))
    for leftover in destination.glob(f"{STORE}*"):
        leftover.unlink()
    DATABASE_URLS[Path(destination)] = database_url
    return destination


def add_users(workspace: Path, prefix: str = "test", database_url: str | None = None) -> dict[str, str]:
    """One user per role (``<prefix>-<role>``); returns the bearer key of each role."""
    import json

    keys = {}
    for role in ROLES:
        args = ("users", "add", f"{prefix}-{role}", "--role", role, "--json")
        done = sauti(*args, workspace=workspace, database_url=database_url)
        assert done.returncode == 0, done.stderr
        keys[role] = json.loads(done.stdout)["key"]
    return keys


def start_server(
    workspace: Path,
    keys: dict[str, str],
    extra_env: dict[str, str] | None = None,
    via_cli: bool = False,
    extra_args: tuple[str, ...] = (),
    startup_s: float = STARTUP_S,
) -> LiveServer:
    """Start uvicorn on a free loopback port for ``workspace`` and wait for /api/v1/health.

    ``via_cli`` runs it as users do, ``sauti serve`` (with its connection timeouts and limits).
    """
    port = free_port()
    log = workspace.parent / f"server-{port}.log"
    env = {**os.environ, "SAUTI_WORKSPACE": str(workspace), **(extra_env or {})}
    command = (
        ["-m", "sauti.cli", "serve"]
        if via_cli
        else ["-m", "uvicorn", "--factory", "sauti.api.app:create_app"]
    )
    with open(log, "wb") as handle:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, *command, "--host", "127.0.0.1", "--port", str(port), *extra_args],
            env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=workspace.parent,
        )  # fmt: skip
    server = LiveServer(f"http://127.0.0.1:{port}", workspace, keys, log, process)
    atexit.register(server.stop)
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(server.url + "/api/v1/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"uvicorn did not answer /api/v1/health within {startup_s} s")


def drop_patrol_bases(workspace: Path) -> Path:
    """Remove the saved patrol bases of a (not yet served) workspace copy: a workspace as a mission
    has it before anyone ran ``sauti patrol --save-bases``."""
    with sqlite3.connect(workspace / STORE) as con:
        con.execute("DELETE FROM patrol_bases")
    con.close()
    return workspace
