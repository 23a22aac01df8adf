"""Fault injection: ``sauti ingest`` killed with SIGKILL at each point of a run, in a real
subprocess, leaves store, run record and rejects file consistent.

Incident files are committed in batches (so the live service never waits for a whole file): the
kill points are set by a small driver that wraps the real code (no hook in Sauti itself): while
rows stream in (before the first rows' COMMIT), between two batches, after the rejects file is
fsynced but before its rename, after the rename but before the last COMMIT, as that COMMIT starts
(SQLite's statement trace), and right after it. At every point: a run recorded ``ok`` has its
rejects file with exactly ``rejected`` rows and its rows stored; a run that committed rows has its
rejects file in place; a killed run is marked ``interrupted`` by the next one; and the next run
completes the file, giving the same store as one uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sauti.store import Workspace

pytestmark = pytest.mark.slow
ROWS, BAD_EVERY = 6_000, 50

DRIVER = r"""
import logging, os, signal, sys
from sauti.ingest import bookkeeping, runs
from sauti.store import Workspace

point = sys.argv[1]
armed = {"on": False}
if os.environ.get("BULK_INDEX_ROWS"):  # a small file loaded as a bulk load: its date index away
    runs.BULK_INDEX_ROWS = int(os.environ["BULK_INDEX_ROWS"])

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "streaming":
    def store(self, *args, **kwargs):
        die()
    runs.RunContext.store = store
if point == "between-batches":
    runs.BATCH_ROWS = 1000
    commit_batch = runs.RunContext.commit_batch
    def committing(self):
        commit_batch(self)
        if self.committed_batches == 3:  # the run record, then two batches of rows
            die()
    runs.RunContext.commit_batch = committing
if point == "before-rename":  # the first rename: before the run record's COMMIT
    def replace(src, dst):
        die()
    bookkeeping.os.replace = replace
close = bookkeeping.RejectsWriter.close
def closing(self):
    path = close(self)
    if point == "before-commit":
        die()
    armed["on"] = True
    return path
bookkeeping.RejectsWriter.close = closing
connect = Workspace.connect
def connecting(self):
    con = connect(self)
    if point == "at-commit":
        con.set_trace_callback(lambda sql: die() if armed["on"] and sql.strip() == "COMMIT" else None)
    return con
Workspace.connect = connecting
class Killer(logging.Handler):
    def emit(self, record):
        if point == "after-commit" and record.getMessage().startswith("ingested"):
            die()
logging.getLogger("sauti.ingest.runs").addHandler(Killer())
logging.getLogger("sauti.ingest.runs").setLevel(logging.INFO)
from sauti.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _acled(path: Path) -> Path:
    lines = ["event_id_cnty,event_date,event_type,inter1,inter2,latitude,longitude,geo_precision,fatalities"]
    for i in range(ROWS):
        deaths = -1 if i % BAD_EVERY == 0 else i % 3  # a negative count is rejected
        lines.append(
            f"CRASH{i},{1 + i % 28:02d} March 2019,Battles,2,3,{4 + i % 500 / 100:.2f},18.5,1,{deaths}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ingest(ws: Path, source: Path, point: str | None, bulk: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAUTI_WORKSPACE": str(ws)}
    if bulk:
        env["BULK_INDEX_ROWS"] = "1000"
    args = ["ingest", "incidents", str(source), "--json"]
    command = (
        [sys.executable, "-c", DRIVER, point, *args] if point else [sys.executable, "-m", "sauti.cli", *args]
    )
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _check_consistent(ws: Path) -> tuple[int, int]:
    """Store, run records and rejects files agree; returns (runs recorded ok, rows stored)."""
    with sqlite3.connect(ws / "sauti.sqlite") as con:
        runs = con.execute(
            "SELECT run_id, rows_read, accepted, rejected, duplicates, rejects_file FROM ingest_runs "
            "WHERE kind = 'incidents' AND status = 'ok'"
        ).fetchall()
        stored = con.execute("SELECT COUNT(*) FROM incidents WHERE event_id LIKE 'acled:CRASH%'").fetchone()[
            0
        ]
        holding = [r[0] for r in con.execute("SELECT DISTINCT run_id FROM incidents")]
    for _run_id, read, accepted, rejected, duplicates, rejects_file in runs:
        assert read == accepted + rejected + duplicates
        assert Path(rejects_file).exists(), "a run recorded ok without its rejects file"
        assert len(pd.read_csv(rejects_file)) == rejected
    for run_id in holding:  # every run that committed rows has its rejects file in place
        assert list((ws / "rejects").glob(f"{run_id:05d}_incidents_*.rejects.csv")), run_id
    expected = ROWS - ROWS // BAD_EVERY
    assert stored <= expected
    if runs:
        assert stored == expected
    return len(runs), stored


def _indexes(ws: Path) -> tuple[set[str], set[str]]:
    """The incidents' secondary indexes in the store, and those recorded as away for a bulk load."""
    with sqlite3.connect(ws / "sauti.sqlite") as con:
        present = {
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master"
                " WHERE type = 'index' AND tbl_name = 'incidents' AND sql IS NOT NULL"
            )
        }
        away = {r[0] for r in con.execute("SELECT name FROM deferred_indexes")}
    return present, away


@pytest.mark.parametrize("bulk", [False, True], ids=["indexes-kept", "bulk-load"])
@pytest.mark.parametrize(
    ("point", "committed", "rows_kept"),
    [
        ("streaming", False, False),
        ("between-batches", False, True),
        ("before-rename", False, False),
        ("before-commit", False, True),
        ("at-commit", False, True),
        ("after-commit", True, True),
    ],
)
def test_sigkill_at_each_point_leaves_a_consistent_workspace(
    tmp_path: Path, point: str, committed: bool, rows_kept: bool, bulk: bool
) -> None:
    """``bulk``: the run drops the date index for a bulk load into the empty table (committed with
    its first batch): killed at any point, the index is in the store or recorded as away, and the
    next opening of the store re-creates it."""
    ws = tmp_path / "ws"
    Workspace(ws).schema_version()
    source = _acled(tmp_path / "acled.csv")
    killed = _ingest(ws, source, point, bulk)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    ok_runs, stored = _check_consistent(ws)
    assert ok_runs == int(committed)
    assert (stored > 0) == rows_kept
    present, away = _indexes(ws)
    assert present | away == {"incidents_occurred_on"}, "an index lost by the kill"
    if bulk and point == "between-batches":
        assert away == {"incidents_occurred_on"}  # the bulk load was under way
        assert not present
    Workspace(ws).schema_version()  # opening the store puts back what the killed run took away
    assert _indexes(ws) == ({"incidents_occurred_on"}, set())
    again = _ingest(ws, source, None)  # the next run completes (or finds everything stored)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    expected = ROWS - ROWS // BAD_EVERY
    assert summary["rejected"] == ROWS // BAD_EVERY
    assert (summary["accepted"], summary["duplicates"]) == (expected - stored, stored)
    assert _check_consistent(ws) == (1 + int(committed), expected)
    assert len(pd.read_csv(summary["rejects_file"])) == ROWS // BAD_EVERY
    assert _indexes(ws) == ({"incidents_occurred_on"}, set())
    with sqlite3.connect(ws / "sauti.sqlite") as con:
        statuses = [r[0] for r in con.execute("SELECT status FROM ingest_runs ORDER BY run_id")]
    recorded = point != "before-rename"  # killed before its record's COMMIT: no record
    assert statuses == (["ok", "ok"] if committed else ["interrupted", "ok"] if recorded else ["ok"])
