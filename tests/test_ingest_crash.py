"""Fault injection: ``sauti ingest`` killed with SIGKILL at each point of a run's end, in a real
subprocess, leaves store, run record and rejects file consistent.

The kill points are set by a small driver that wraps the real code (no hook in Sauti itself):
while rows stream in, after the rejects file is fsynced but before its rename, after the rename
but before the COMMIT, as the COMMIT starts (SQLite's statement trace), and right after it. At
every point: a run recorded ``ok`` has its rejects file with exactly ``rejected`` rows and its
rows stored; a run not recorded ``ok`` stored nothing; and a second run completes the file.
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

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "streaming":
    def store(self, *args, **kwargs):
        die()
    runs.RunContext.store = store
if point == "before-rename":
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


def _ingest(ws: Path, source: Path, point: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAUTI_WORKSPACE": str(ws)}
    args = ["ingest", "incidents", str(source), "--json"]
    command = (
        [sys.executable, "-c", DRIVER, point, *args] if point else [sys.executable, "-m", "sauti.cli", *args]
    )
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _check_consistent(ws: Path) -> int:
    """Store, run records and rejects files agree; returns how many runs are recorded ok."""
    with sqlite3.connect(ws / "sauti.sqlite") as con:
        runs = con.execute(
            "SELECT run_id, rows_read, accepted, rejected, duplicates, rejects_file FROM ingest_runs "
            "WHERE kind = 'incidents' AND status = 'ok'"
        ).fetchall()
        stored = con.execute("SELECT COUNT(*) FROM incidents WHERE event_id LIKE 'acled:CRASH%'").fetchone()[
            0
        ]
    for _run_id, read, accepted, rejected, duplicates, rejects_file in runs:
        assert read == accepted + rejected + duplicates
        assert Path(rejects_file).exists(), "a run recorded ok without its rejects file"
        assert len(pd.read_csv(rejects_file)) == rejected
    expected = ROWS - ROWS // BAD_EVERY
    assert stored == (expected if runs else 0)
    return len(runs)


@pytest.mark.parametrize(
    ("point", "committed"),
    [
        ("streaming", False),
        ("before-rename", False),
        ("before-commit", False),
        ("at-commit", False),
        ("after-commit", True),
    ],
)
def test_sigkill_at_each_point_leaves_a_consistent_workspace(
    tmp_path: Path, point: str, committed: bool
) -> None:
    ws = tmp_path / "ws"
    Workspace(ws).schema_version()
    source = _acled(tmp_path / "acled.csv")
    killed = _ingest(ws, source, point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert _check_consistent(ws) == int(committed)
    again = _ingest(ws, source, None)  # the next run completes (or finds everything stored)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["rejected"] == ROWS // BAD_EVERY
    assert (summary["accepted"], summary["duplicates"]) == (
        (0, ROWS - ROWS // BAD_EVERY) if committed else (ROWS - ROWS // BAD_EVERY, 0)
    )
    assert _check_consistent(ws) == 1 + int(committed)
    assert len(pd.read_csv(summary["rejects_file"])) == ROWS // BAD_EVERY
