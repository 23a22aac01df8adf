"""Which ingest runs are still running when many processes, on any host, share one store: on
PostgreSQL the session of a batched run holds an advisory lock keyed on its run id for the whole
run, and only a run whose lock is free is marked ``interrupted`` (its process id, meaningless on
another host, is not consulted); SQLite (one file, one host) keeps the process-id rule.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from store_rows import after_each_batch

from sauti.bulk_indexes import run_lock
from sauti.ingest import runs
from sauti.ingest.incidents import ingest_incidents
from sauti.store import Workspace

GONE = os.getpid() + 10**7  # no such process on this machine (above any pid_max)


def _running_run(con, message: str) -> int:
    """A ``running`` run record, as a batched loader writes it when it starts."""
    with Workspace.transaction(con):
        return con.execute(
            "INSERT INTO ingest_runs (kind, path, sha256, format, params, started_at, status, message)"
            " VALUES ('incidents', '/elsewhere/big.csv', 'x', 'acled', '{}', '2026-12-08T00:00:00Z',"
            " 'running', ?) RETURNING run_id",
            (message,),
        ).fetchone()[0]


def _statuses(ws: Workspace) -> dict[int, str]:
    with ws.session() as con:
        return dict(con.execute("SELECT run_id, status FROM ingest_runs ORDER BY run_id").fetchall())


def test_a_live_run_on_another_host_is_left_running_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """A run whose message names a process that does not exist here (its loader is on another
    host) while a session holds its run lock is left ``running`` by the next ingest; once that
    session ends it is ``interrupted``."""
    from test_cli_ingest import _big_acled

    ws = Workspace(tmp_path / "ws", postgres_url)
    loader = ws.connect()  # the other host's loading session
    run_id = _running_run(loader, runs.RUNNING.format(pid=GONE))
    loader.execute("SELECT pg_advisory_lock(hashtextextended(?, 0))", (run_lock(run_id),))
    report = ingest_incidents(ws, _big_acled(tmp_path / "a.csv", 50))
    assert report.accepted == 50
    assert _statuses(ws) == {run_id: "running", report.run_id: "ok"}
    loader.raw.close()  # the session ends (its client killed): the server drops the lock
    loader._pooled.invalidate()
    with ws.session() as con:
        assert runs.close_interrupted_runs(con) == [run_id]
    assert _statuses(ws)[run_id] == "interrupted"


def test_a_batched_run_on_postgresql_holds_its_run_lock_until_it_ends(
    postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    """While a batched load commits its batches, another session closing interrupted runs leaves
    it ``running`` even when its message names no process here; afterwards no lock is left with
    the pooled connection."""
    from test_cli_ingest import _big_acled
    from test_pg_bulk_load import _advisory_locks

    monkeypatch.setattr(runs, "BATCH_ROWS", 1000)
    ws = Workspace(tmp_path / "ws", postgres_url)
    seen: list[list[int]] = []

    def look(run):
        if run.committed_batches == 2:
            other = Workspace(ws.root, postgres_url).connect()
            try:
                message = runs.RUNNING.format(pid=GONE)  # as if its loader were on another host
                other.execute("UPDATE ingest_runs SET message = ? WHERE run_id = ?", (message, run.run_id))
                seen.append(runs.close_interrupted_runs(other))
            finally:
                other.close()

    after_each_batch(monkeypatch, look)
    report = ingest_incidents(ws, _big_acled(tmp_path / "a.csv", 3500))
    assert report.accepted == 3500
    assert seen == [[]]
    assert _statuses(ws) == {report.run_id: "ok"}
    assert _advisory_locks(postgres_url) == 0


@pytest.mark.slow
def test_a_killed_run_on_postgresql_is_interrupted_whatever_its_pid(
    postgres_url: str, tmp_path: Path
) -> None:
    """``kill -9`` of a loader after its first batch: the next ingest marks its run ``interrupted``
    because its session (and lock) are gone, even though the pid its message names is a live
    process here (a pid reused, or the same number on another host)."""
    from test_cli_ingest import _big_acled, kill_after_first_batch
    from test_pg_bulk_load import wait_for_advisory_locks_released

    ws = Workspace(tmp_path / "ws", postgres_url)
    ws.schema_version()
    env = {**os.environ, "SAUTI_WORKSPACE": str(ws.root), "SAUTI_DATABASE_URL": postgres_url}
    big = _big_acled(tmp_path / "big.csv", 120_000)
    sauti = [str(Path(sys.executable).parent / "sauti"), "ingest", "incidents", str(big), "--json"]
    proc = subprocess.Popen(sauti, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kept = kill_after_first_batch(proc, lambda: ws.status()["incidents"], within=300, poll=0.05)
    assert kept > 0
    wait_for_advisory_locks_released(postgres_url)  # the killed client's session ended
    (killed,) = _statuses(ws)
    assert _statuses(ws) == {killed: "running"}
    with ws.session() as con:  # its pid now names a live process here
        con.execute(
            "UPDATE ingest_runs SET message = ? WHERE run_id = ?",
            (runs.RUNNING.format(pid=os.getpid()), killed),
        )
    report = ingest_incidents(ws, _big_acled(tmp_path / "small.csv", 50))
    assert _statuses(ws) == {killed: "interrupted", report.run_id: "ok"}


def test_sqlite_keeps_the_process_id_rule(tmp_path: Path) -> None:
    """SQLite: a run whose process is alive stays ``running``, one whose process is gone is
    ``interrupted`` (no lock is involved)."""
    ws = Workspace(tmp_path / "ws")
    with ws.session() as con:
        alive = _running_run(con, runs.RUNNING.format(pid=os.getpid()))
        gone = _running_run(con, runs.RUNNING.format(pid=GONE))
        assert runs.close_interrupted_runs(con) == [gone]
    assert _statuses(ws) == {alive: "running", gone: "interrupted"}
