"""A refresh after new alerts runs once across every worker process on one store.

Each alert post asks its own process's :class:`~sauti.api.services.nowcast.Nowcaster` for a
refresh; with ``sauti serve --workers N`` that is up to N processes asking after one burst. The
claim lives in the store (table ``refresh_runs``, the API's):

* a request notes the id of the latest refresh when its alerts were already committed
  (:func:`latest_refresh`);
* a refresh is taken in turns — :func:`refresh_turn` holds a PostgreSQL advisory lock (a file
  lock on SQLite), so at most one process on the store is refreshing;
* in its turn a process skips when a refresh that started after its request has finished
  (:func:`claim_refresh`: that refresh read the alerts the request was for), else it inserts a
  ``running`` row — the claim — and runs it; :func:`finish_refresh` records the outcome.

A refresh that failed covers nothing: the next request runs it again.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sauti import db
from sauti.store import Workspace, utc_now

log = logging.getLogger("sauti.api.nowcast")

LOCK_NAME = "sauti:nowcast-refresh"
LOCK_FILE = ".refresh.lock"  # in the workspace folder (SQLite stores)
KEEP_ROWS = 1000  # older rows of refresh_runs are pruned when a refresh finishes
_LOCAL = threading.Lock()  # SQLite without file locks (not POSIX): one process at least


@dataclass(frozen=True)
class RefreshClaim:
    """This process's claim on a refresh: the row it writes and the data stamp it started from."""

    refresh_id: int
    data_stamp: str


def worker_name() -> str:
    """``host:pid`` of this process (what ``refresh_runs.worker`` records)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def latest_refresh(workspace: Workspace) -> int:
    """The id of the latest refresh claimed so far (0 for none): a request's mark."""
    with workspace.session() as con:
        return int(con.execute("SELECT COALESCE(MAX(refresh_id), 0) FROM refresh_runs").fetchone()[0])


@contextmanager
def refresh_turn(workspace: Workspace) -> Iterator[None]:
    """Wait for this process's turn to refresh: one refresh at a time across every process on the
    store (a session-level advisory lock on PostgreSQL, released if the process dies; an exclusive
    lock on a file in the workspace folder with SQLite)."""
    if workspace.backend == db.POSTGRESQL:
        with workspace.session() as con:
            con.execute("SELECT pg_advisory_lock(hashtextextended(?, 0))", (LOCK_NAME,))
            try:
                yield
            finally:
                _unlock(con)
    else:
        with _file_lock(workspace.root / LOCK_FILE):
            yield


def _unlock(con) -> None:
    """Release the session lock; a connection that cannot say so is dropped, not pooled (its
    lock goes with it), so no pooled connection ever holds the turn."""
    try:
        con.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (LOCK_NAME,))
    except Exception:
        log.exception("refresh lock: could not release it; dropping the connection")
        con.raw.close()  # the pool sees a closed connection and replaces it


@contextmanager
def _file_lock(path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: serialise this process's threads only
        with _LOCAL:
            yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim_refresh(workspace: Workspace, mark: int, *, skip: bool = True) -> RefreshClaim | None:
    """In this process's :func:`refresh_turn`: ``None`` when a refresh claimed after ``mark`` has
    finished (it covered the request: skip and serve its result), else the claim to run one
    (always with ``skip=False``)."""
    stamp = json.dumps(list(workspace.fingerprint()), default=str)
    with workspace.session() as con, Workspace.transaction(con):
        done = (
            None
            if not skip
            else con.execute(
                "SELECT refresh_id, worker FROM refresh_runs WHERE refresh_id > ? AND status = 'ok'"
                " ORDER BY refresh_id DESC LIMIT 1",
                (mark,),
            ).fetchone()
        )
        if done is not None:
            log.info("refresh skipped: refresh %s by %s already covered this data", done[0], done[1])
            return None
        # the next id: claims take turns (refresh_turn), so no two read the same maximum
        refresh_id = con.execute(
            "INSERT INTO refresh_runs (refresh_id, data_stamp, worker, started_at, status)"
            " SELECT COALESCE(MAX(refresh_id), 0) + 1, ?, ?, ?, 'running' FROM refresh_runs"
            " RETURNING refresh_id",
            (stamp, worker_name(), utc_now()),
        ).fetchone()[0]
    log.info("refresh %s claimed by %s", refresh_id, worker_name())
    return RefreshClaim(int(refresh_id), stamp)


def finish_refresh(workspace: Workspace, claim: RefreshClaim, ok: bool) -> None:
    """Record how the claimed refresh ended (``ok`` or ``failed``) and prune old rows."""
    with workspace.session() as con, Workspace.transaction(con):
        con.execute(
            "UPDATE refresh_runs SET status = ?, finished_at = ? WHERE refresh_id = ?",
            ("ok" if ok else "failed", utc_now(), claim.refresh_id),
        )
        con.execute("DELETE FROM refresh_runs WHERE refresh_id <= ?", (claim.refresh_id - KEEP_ROWS,))


def refresh_runs(workspace: Workspace) -> list[dict]:
    """Every kept refresh, oldest first (the health check and the tests read it)."""
    with workspace.session() as con:
        rows = con.execute(
            "SELECT refresh_id, data_stamp, worker, started_at, finished_at, status FROM refresh_runs"
            " ORDER BY refresh_id"
        ).fetchall()
    return [dict(r) for r in rows]
