"""PostgreSQL bulk loads of incident files: a batched load into an empty table builds its date and
GiST indexes once at its end, and no kill, failure or concurrent opening of the store loses them
(the deferral lock of ``sauti.bulk_indexes``); a killed load is finished by a re-run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from store_rows import after_each_batch, fail_at_batch

from sauti import db
from sauti.ingest.incidents import ingest_incidents
from sauti.store import Workspace


@pytest.mark.slow
def test_a_killed_ingest_on_postgresql_is_finished_by_a_rerun(tmp_path: Path, postgres_url: str) -> None:
    """PostgreSQL: a run killed part-way keeps whole batches, and the re-run stores the rest (its
    batches mix keys stored by the killed run, taking the staging path, with new ones copied
    straight in), with every row counted once."""
    import os
    import sys

    from test_cli_ingest import _big_acled, kill_after_first_batch

    from sauti.ingest import runs

    rows = 120_000
    big = _big_acled(tmp_path / "big.csv", rows)
    ws = Workspace(tmp_path / "ws", postgres_url)
    ws.schema_version()
    env = {**os.environ, "SAUTI_WORKSPACE": str(ws.root), "SAUTI_DATABASE_URL": postgres_url}
    sauti = [str(Path(sys.executable).parent / "sauti"), "ingest", "incidents", str(big), "--json"]
    proc = subprocess.Popen(sauti, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def stored() -> int:
        return ws.status()["incidents"]

    kept = kill_after_first_batch(proc, stored, within=300, poll=0.05)
    assert 0 < kept < rows
    assert kept % runs.BATCH_ROWS == 0  # whole batches only
    # a bulk load into the empty table: its date and GiST indexes were away, recorded as such
    wait_for_advisory_locks_released(postgres_url)  # the killed client's session ended
    assert _pg_indexes(postgres_url) == (set(), INCIDENT_INDEXES)
    Workspace(ws.root, postgres_url).schema_version()  # the next opening of the store puts them back
    assert _pg_indexes(postgres_url) == (INCIDENT_INDEXES, set())
    done = subprocess.run(sauti, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["read"], summary["accepted"], summary["duplicates"]) == (rows, rows - kept, kept)
    assert stored() == rows
    assert not (ws.root / "sauti.sqlite").exists()
    with ws.session() as con:
        statuses = [r[0] for r in con.execute("SELECT status FROM ingest_runs ORDER BY run_id")]
    assert statuses == ["interrupted", "ok"]
    assert _pg_indexes(postgres_url) == (INCIDENT_INDEXES, set())


INCIDENT_INDEXES = {"incidents_geom_gist", "incidents_occurred_on"}


def _pg_indexes(url: str) -> tuple[set[str], set[str]]:
    """The incidents' secondary indexes in a PostgreSQL store, and those recorded as away for a
    bulk load (read without opening the store, which would put them back)."""
    import psycopg

    with psycopg.connect(db.libpq_url(url), autocommit=True) as con:
        present = con.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'incidents'"
            " AND indexdef NOT LIKE 'CREATE UNIQUE%'"
        ).fetchall()
        away = con.execute("SELECT name FROM deferred_indexes").fetchall()
    return {r[0] for r in present}, {r[0] for r in away}


def _advisory_locks(url: str) -> int:
    import psycopg

    with psycopg.connect(db.libpq_url(url), autocommit=True) as con:
        query = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        return con.execute(query).fetchone()[0]


def wait_for_advisory_locks_released(url: str, within: float = 30) -> None:
    """Wait until no session holds an advisory lock (a killed client's backend ends when it reads
    the closed socket)."""
    import time

    deadline = time.monotonic() + within
    while _advisory_locks(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _advisory_locks(url) == 0


def test_a_batched_bulk_load_on_postgresql_builds_its_indexes_at_the_end(
    postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    """A batched load into the empty incidents table commits its batches without the date and GiST
    indexes (recorded as away; its session holds the deferral lock, so opening the store meanwhile
    leaves them to it) and builds them before its last COMMIT; then no lock is left held."""
    from test_cli_ingest import _big_acled

    from sauti.ingest import runs

    monkeypatch.setattr(runs, "BATCH_ROWS", 1000)
    monkeypatch.setattr(runs, "BULK_INDEX_ROWS", 2000)
    ws = Workspace(tmp_path / "ws", postgres_url)
    seen: list[tuple[set[str], set[str]]] = []

    def look(run):
        Workspace(ws.root, postgres_url).schema_version()  # another opening: the load is alive
        seen.append(_pg_indexes(postgres_url))

    after_each_batch(monkeypatch, look)
    report = ingest_incidents(ws, _big_acled(tmp_path / "a.csv", 4500))
    assert report.accepted == 4500
    away = (set(), INCIDENT_INDEXES)
    assert seen == [(INCIDENT_INDEXES, set()), away, away, away, away, away]  # record, then batches
    assert _pg_indexes(postgres_url) == (INCIDENT_INDEXES, set())
    assert _advisory_locks(postgres_url) == 0  # released: not left with the pooled connection
    with ws.session() as con:
        con.execute("SET enable_seqscan = off")
        plan = " ".join(
            r[0]
            for r in con.execute("EXPLAIN SELECT * FROM incidents WHERE occurred_on = ?", ("2019-03-02",))
        )
        assert "incidents_occurred_on" in plan
        located = con.execute(
            "SELECT COUNT(*) FROM incidents WHERE geom && ST_MakeEnvelope(0, 0, 90, 90, 4326)"
        )
        assert located.fetchone()[0] == 4500


def test_a_batched_bulk_load_on_postgresql_that_fails_puts_its_indexes_back(
    postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    from test_cli_ingest import _big_acled

    from sauti.ingest import runs

    monkeypatch.setattr(runs, "BATCH_ROWS", 1000)
    monkeypatch.setattr(runs, "BULK_INDEX_ROWS", 2000)
    ws = Workspace(tmp_path / "ws", postgres_url)
    fail_at_batch(monkeypatch, 3)  # the run record, then two batches
    with pytest.raises(RuntimeError, match="disk gone"):
        ingest_incidents(ws, _big_acled(tmp_path / "a.csv", 4500))
    assert ws.status()["incidents"] == 2000  # two batches kept
    assert _pg_indexes(postgres_url) == (INCIDENT_INDEXES, set())
    assert _advisory_locks(postgres_url) == 0


def test_opening_a_postgresql_store_recreates_indexes_whose_load_session_ended(
    postgres_url: str, tmp_path: Path
) -> None:
    """``deferred_indexes`` names indexes a load took away: left while its session holds the
    deferral lock (on any host: no process id is looked at), put back once that session ends."""
    import os

    from sauti.bulk_indexes import defer_secondary_indexes, deferral_lock

    ws = Workspace(tmp_path / "ws", postgres_url)
    loader = ws.connect()
    other = ws.connect()
    other.execute("SELECT pg_advisory_lock(hashtextextended(?, 0))", (deferral_lock("incidents"),))
    with Workspace.transaction(loader):  # another session holds the lock: nothing dropped, no wait
        assert defer_secondary_indexes(loader, "incidents") == {}
    assert _pg_indexes(postgres_url) == (INCIDENT_INDEXES, set())
    other.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (deferral_lock("incidents"),))
    other.close()
    with Workspace.transaction(loader):
        assert set(defer_secondary_indexes(loader, "incidents")) == INCIDENT_INDEXES
    loader.execute("UPDATE deferred_indexes SET pid = ?", (os.getpid() + 10**7,))  # no such process
    Workspace(ws.root, postgres_url).schema_version()
    assert _pg_indexes(postgres_url) == (set(), INCIDENT_INDEXES)  # its session holds the lock
    loader.raw.close()  # the session ends (as when its client is killed): the server drops the lock
    loader._pooled.invalidate()
    wait_for_advisory_locks_released(postgres_url)
    Workspace(ws.root, postgres_url).schema_version()
    assert _pg_indexes(postgres_url) == (INCIDENT_INDEXES, set())
