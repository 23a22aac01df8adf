"""The ingest CLI contract: ``--json`` keys, exit codes, one-line fatal errors, and crash safety.

Runs the real ``sauti`` executable in a subprocess where the process boundary matters (exit code,
stderr, SIGKILL), and ``sauti.cli.main`` in-process elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sauti.cli import main
from sauti.ingest import runs
from sauti.store import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
SAUTI = Path(sys.executable).parent / "sauti"
SUMMARY_KEYS = ["read", "accepted", "rejected", "duplicates", "rejects_file"]


def run_cli(workspace: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAUTI_WORKSPACE": str(workspace)}
    return subprocess.run(
        [str(SAUTI), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def test_json_summary_has_exactly_the_contract_keys(tmp_path):
    ws = tmp_path / "ws"
    done = run_cli(ws, "ingest", "incidents", str(FIXTURES / "acled_current.csv"), "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert list(summary) == [*SUMMARY_KEYS, "outside"]  # incidents: rows outside the boundaries
    assert summary["outside"] == 0  # (none stored: nothing lies outside them)
    assert summary["read"] == summary["accepted"] == 6
    assert (summary["rejected"], summary["duplicates"]) == (0, 0)
    assert Path(summary["rejects_file"]).parent == ws.resolve() / "rejects"
    assert Path(summary["rejects_file"]).exists()


def test_boundaries_json_and_status(tmp_path, sample_dir, capsys):
    ws = str(tmp_path / "ws")
    gpkg = str(sample_dir / "boundaries" / "caf_adm2.gpkg")
    assert main(["--workspace", ws, "ingest", "boundaries", gpkg, "--level", "admin2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # boundaries add the schema recognised to the contract keys
    assert list(summary) == [*SUMMARY_KEYS, "schema"]
    assert summary["accepted"] == 72
    assert summary["schema"]["name"] == "ocha-cod-legacy"
    assert (summary["schema"]["id_field"], summary["schema"]["name_field"]) == ("admin2Pcod", "admin2Name")
    assert main(["--workspace", ws, "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["localities"] == {"admin0": 1, "admin1": 17, "admin2": 72}


def test_boundaries_summary_line_names_the_schema(tmp_path, shared_data, capsys):
    import boundary_fixtures

    path = boundary_fixtures.gadm36_topojson(shared_data, tmp_path)
    assert (
        main(["--workspace", str(tmp_path / "ws"), "ingest", "boundaries", str(path), "--level", "admin2"])
        == 0
    )
    captured = capsys.readouterr()
    assert "read 79, accepted 79, rejected 0, duplicates 0" in captured.out
    assert (
        "schema: GADM 3.6 / 4.1 (GID_2, NAME_2): id GID_2, name NAME_2, parent GID_1 (NAME_1)" in captured.out
    )
    assert "no CRS" in captured.err


def test_partial_rejects_exit_zero_with_the_summary(tmp_path, capsys):
    bad = tmp_path / "partly_bad.csv"
    lines = (FIXTURES / "acled_current.csv").read_text().splitlines()
    lines[2] = lines[2].replace("07 December 2022", "07 Decembre 2022")
    bad.write_text("\n".join(lines) + "\n")
    code = main(["--workspace", str(tmp_path / "ws"), "ingest", "incidents", str(bad)])
    out = capsys.readouterr().out
    assert code == 0
    assert "read 6, accepted 5, rejected 1, duplicates 0" in out
    assert "rejects: " in out


def _write_header_only(path: Path) -> Path:
    path.write_text((FIXTURES / "acled_current.csv").read_text().splitlines()[0] + "\n")
    return path


def _write_no_column(path: Path) -> Path:
    frame = pd.read_csv(FIXTURES / "acled_current.csv", dtype=str).drop(columns=["event_date"])
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: p, [], r"missing\.csv: file not found"),
        (lambda p: (p.write_bytes(b""), p)[1], [], r"missing\.csv: file is empty"),
        (lambda p: (p.write_bytes(b"\n \n"), p)[1], [], r"missing\.csv: file is empty"),
        (
            _write_no_column,
            ["--format", "acled"],
            r"missing\.csv: missing required column\(s\) for ACLED: event_date",
        ),
        (lambda p: (p.write_text("a,b\n1,2\n"), p)[1], [], r"missing\.csv: cannot tell the incident format"),
        (lambda p: (p.write_text("a,b\n1,2\n"), p)[1], ["--format", "gdelt"], r"unknown format 'gdelt'"),
        (lambda p: (p.write_text("a,b\n1,2\n"), p)[1], ["--format", "csv"], r"needs a --mapping file"),
        (
            lambda p: (p.write_text("a,b\n1,2\n"), p)[1],
            ["--mapping", "nowhere.yaml"],
            r"nowhere\.yaml: mapping file not found",
        ),
    ],
    ids=[
        "no-file",
        "empty",
        "blank-lines",
        "no-column",
        "unknown-columns",
        "unknown-format",
        "csv-without-mapping",
        "no-mapping-file",
    ],
)
def test_fatal_problems_print_one_line_and_exit_2(tmp_path, capsys, make, args, message):
    path = make(tmp_path / "missing.csv")
    code = main(["--workspace", str(tmp_path / "ws"), "ingest", "incidents", str(path), *args, "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert re.search(message, lines[0]), lines[0]


def test_fatal_problem_in_the_real_executable_has_no_traceback(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    done = run_cli(tmp_path / "ws", "ingest", "incidents", str(empty), "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"error: {empty}: file is empty"]


def test_header_only_file_exits_zero_reading_nothing(tmp_path, capsys):
    path = _write_header_only(tmp_path / "header.csv")
    assert main(["--workspace", str(tmp_path / "ws"), "ingest", "incidents", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [summary[k] for k in SUMMARY_KEYS[:4]] == [0, 0, 0, 0]


def test_unknown_key_in_mapping_file_via_cli(tmp_path, capsys):
    mapping = tmp_path / "log_mapping.yaml"
    mapping.write_text((FIXTURES / "mission_log.yaml").read_text().replace("fields:", "feilds:"))
    argv = ["--workspace", str(tmp_path / "ws"), "ingest", "incidents", str(FIXTURES / "mission_log.csv")]
    code = main([*argv, "--format", "csv", "--mapping", str(mapping)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ")
    assert "log_mapping.yaml: unknown key 'feilds'" in err
    assert len(err.splitlines()) == 1


def test_packaged_mapping_by_name_via_cli(tmp_path, shared_data, capsys):
    path = shared_data / "events" / "awsd_security_incidents_1997-2025.csv"
    argv = [
        "--workspace",
        str(tmp_path / "ws"),
        "ingest",
        "incidents",
        str(path),
        "--mapping",
        "awsd",
        "--json",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["read"] == 4337
    assert summary["read"] == summary["accepted"] + summary["rejected"] + summary["duplicates"]


def _big_acled(path: Path, rows: int) -> Path:
    header = "event_id_cnty,event_date,event_type,inter1,inter2,"
    header += "latitude,longitude,geo_precision,fatalities,notes\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header)
        for i in range(rows):
            day = 1 + i % 28
            fh.write(
                f"KILL{i},{day:02d} March 2019,Battles,2,3,{4 + (i % 500) / 100:.2f},"
                f"{18 + (i % 700) / 100:.2f},1,{i % 3},row {i}\n"
            )
    return path


def kill_after_first_batch(proc: subprocess.Popen, stored, *, within: float, poll: float) -> int:
    """``kill -9`` an ingest as soon as ``stored()`` shows its first committed batch (within ``within``
    seconds); the rows stored then."""
    try:
        deadline = time.monotonic() + within
        while stored() == 0 and time.monotonic() < deadline:  # a first batch committed
            assert proc.poll() is None, proc.communicate()
            time.sleep(poll)
        assert proc.poll() is None, "the ingest finished before it could be killed: use a bigger file"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return stored()


@pytest.mark.slow
def test_killed_ingest_keeps_its_committed_batches_and_a_rerun_completes(tmp_path):
    """Incident files are committed in batches: a run killed part-way keeps whole batches (never
    half of one), is marked interrupted by the next run, and the re-run stores the rest."""
    rows = 250_000
    big = _big_acled(tmp_path / "big.csv", rows)
    ws = tmp_path / "ws"
    Workspace(ws).schema_version()  # create the store before the clock starts
    env = {**os.environ, "SAUTI_WORKSPACE": str(ws)}
    proc = subprocess.Popen(
        [str(SAUTI), "ingest", "incidents", str(big), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def stored() -> int:
        with sqlite3.connect(ws / "sauti.sqlite", timeout=30) as con:
            count = "SELECT COUNT(*) FROM incidents WHERE event_id LIKE 'acled:KILL%'"
            return con.execute(count).fetchone()[0]

    kept = kill_after_first_batch(proc, stored, within=120, poll=0.02)
    with sqlite3.connect(ws / "sauti.sqlite") as con:
        finished = con.execute("SELECT COUNT(*) FROM ingest_runs WHERE status = 'ok'").fetchone()[0]
    assert 0 < kept < rows
    assert kept % runs.BATCH_ROWS == 0  # whole batches only
    assert finished == 0
    done = run_cli(ws, "ingest", "incidents", str(big), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["read"], summary["accepted"], summary["duplicates"]) == (rows, rows - kept, kept)
    assert len(Workspace(ws).incidents()) == rows
    with sqlite3.connect(ws / "sauti.sqlite") as con:
        assert [r[0] for r in con.execute("SELECT status FROM ingest_runs ORDER BY run_id")] == [
            "interrupted",
            "ok",
        ]
