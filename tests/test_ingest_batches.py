"""A large incident ingest and the live service: batches are committed as they go, and the
service keeps serving the incidents it had until the ingest ends, then rebuilds its view without
making a reader wait (issue 20 item 10; ``bench/bench_ingest_live.py`` measures the waits)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from store_rows import after_each_batch, fail_at_batch

from sauti.api.services.source import DataSource
from sauti.ingest import runs
from sauti.ingest.incidents import ingest_incidents
from sauti.settings import Settings
from sauti.store import Workspace

HEADER = "event_id_cnty,event_date,event_type,inter1,inter2,latitude,longitude,geo_precision,fatalities"


def _acled(path: Path, first: int, n: int) -> Path:
    rows = [
        f"B{i},0{1 + i % 9} March 2019,Battles,2,3,5.{i % 90:02d},20.5,1,0" for i in range(first, first + n)
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_rows_are_committed_batch_by_batch(tmp_path: Path, monkeypatch) -> None:
    """Another connection sees the rows of each committed batch while the file is still read."""
    monkeypatch.setattr(runs, "BATCH_ROWS", 100)
    ws = Workspace(tmp_path / "ws")
    seen: list[int] = []

    def look(run):
        with ws.session() as other:  # a second connection: sees only committed rows
            seen.append(other.execute("SELECT COUNT(*) FROM incidents").fetchone()[0])

    after_each_batch(monkeypatch, look)
    report = ingest_incidents(ws, _acled(tmp_path / "a.csv", 0, 450))
    assert report.accepted == 450
    assert seen == [0, 100, 200, 300, 400, 450]  # the run record first, then each batch


def test_the_service_serves_the_last_finished_state_while_it_rebuilds(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ingest_incidents(ws, _acled(tmp_path / "a.csv", 0, 300))
    source = DataSource(Workspace(ws.root), Settings(workspace=ws.root))
    assert len(source.incidents()) == 300
    ingest_incidents(ws, _acled(tmp_path / "b.csv", 300, 200))
    time.sleep(1.2)  # the stamp is re-read at most once a second
    assert len(source.incidents()) in (300, 500)  # the old view at once (or the new if already built)
    deadline = time.monotonic() + 30
    while len(source.incidents()) != 500 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(source.incidents()) == 500


def _date_index(con) -> tuple[bool, list[str]]:
    """Whether the incidents' date index exists, and the indexes recorded as away for a bulk load."""
    present = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'incidents_occurred_on'"
    ).fetchone()
    return present is not None, [r[0] for r in con.execute("SELECT name FROM deferred_indexes")]


def test_a_bulk_load_into_an_empty_table_builds_the_date_index_once_at_the_end(
    tmp_path: Path, monkeypatch
) -> None:
    """Batches are committed without the date index (recorded as away, so a kill cannot lose it);
    the run builds it before its last COMMIT, and the store is the same as a load that kept it."""
    monkeypatch.setattr(runs, "BATCH_ROWS", 100)
    monkeypatch.setattr(runs, "BULK_INDEX_ROWS", 200)
    ws = Workspace(tmp_path / "ws")
    seen: list[tuple[bool, list[str]]] = []

    def look(run):
        with ws.session() as other:
            seen.append(_date_index(other))

    after_each_batch(monkeypatch, look)
    source = _acled(tmp_path / "a.csv", 0, 450)
    report = ingest_incidents(ws, source)
    assert report.accepted == 450
    away = (False, ["incidents_occurred_on"])
    assert seen == [(True, []), away, away, away, away, away]  # the run record, then each batch
    with ws.session() as con:
        assert _date_index(con) == (True, [])
        query = "EXPLAIN QUERY PLAN SELECT * FROM incidents WHERE occurred_on = '2019-03-01'"
        plan = " ".join(str(r[-1]) for r in con.execute(query))
        bulk = con.execute("SELECT * FROM incidents ORDER BY rowid").fetchall()
    assert "incidents_occurred_on" in plan
    monkeypatch.setattr(runs, "BULK_INDEX_ROWS", 10**9)  # the same file with the index kept
    kept = Workspace(tmp_path / "kept")
    ingest_incidents(kept, source)
    with kept.session() as con:
        assert [tuple(r)[:-1] for r in con.execute("SELECT * FROM incidents ORDER BY rowid")] == [
            tuple(r)[:-1] for r in bulk
        ]


def test_a_large_file_into_a_filled_table_keeps_the_date_index(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runs, "BATCH_ROWS", 100)
    monkeypatch.setattr(runs, "BULK_INDEX_ROWS", 200)
    ws = Workspace(tmp_path / "ws")
    ingest_incidents(ws, _acled(tmp_path / "a.csv", 0, 250))  # more than BULK_INDEX_ROWS stored
    seen = []

    def look(run):
        with ws.session() as other:
            seen.append(_date_index(other))

    after_each_batch(monkeypatch, look)
    ingest_incidents(ws, _acled(tmp_path / "b.csv", 250, 400))
    assert seen
    assert all(s == (True, []) for s in seen)


def test_a_bulk_load_that_fails_after_committing_batches_puts_the_date_index_back(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(runs, "BATCH_ROWS", 100)
    monkeypatch.setattr(runs, "BULK_INDEX_ROWS", 200)
    ws = Workspace(tmp_path / "ws")
    fail_at_batch(monkeypatch, 3)  # the run record, then two batches
    with pytest.raises(RuntimeError, match="disk gone"):
        ingest_incidents(ws, _acled(tmp_path / "a.csv", 0, 450))
    with ws.session() as con:
        assert con.execute("SELECT COUNT(*) FROM incidents").fetchone()[0] == 200  # two batches kept
        assert _date_index(con) == (True, [])
        assert con.execute("SELECT status FROM ingest_runs").fetchone()[0] == "failed"
