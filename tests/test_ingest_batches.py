"""A large incident ingest and the live service: batches are committed as they go, and the
service keeps serving the incidents it had until the ingest ends, then rebuilds its view without
making a reader wait (issue 20 item 10; ``bench/bench_ingest_live.py`` measures the waits)."""

from __future__ import annotations

import time
from pathlib import Path

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
    commit_batch = runs.RunContext.commit_batch

    def committing(self):
        commit_batch(self)
        with ws.session() as other:  # a second connection: sees only committed rows
            seen.append(other.execute("SELECT COUNT(*) FROM incidents").fetchone()[0])

    monkeypatch.setattr(runs.RunContext, "commit_batch", committing)
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
