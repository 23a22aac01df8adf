"""Big hostile inputs: time and peak memory of ``sauti ingest alerts`` on each, in its own process.

Generates, in a temporary folder: one 52 MB alert whose text is 50 MB (JSON and CSV), a CSV with
10⁶ columns, and 200,000 alerts as a JSON array and as JSON Lines; ingests each with the real CLI
into a workspace holding the CAR admin2 boundaries, and prints wall time, peak RSS of the child
process, its CPU seconds, its exit code and one line of its output. Limits (issue #12): each under
1.5 GB and 120 s, ending with exit 2 and one line, or every row accounted for. The machine is shared:
the time limit is judged on the child's CPU seconds when the wall time includes waiting for others.

    .venv/bin/python bench/bench_hostile.py
    .venv/bin/python bench/bench_hostile.py --alerts 20000   # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
LIMIT_S, LIMIT_MB = 120, 1536


def _huge_alert_json(path: Path) -> Path:
    text = ("Des hommes armés près de Bria. " * 1_700_000)[: 50 << 20]
    path.write_text(json.dumps([{"received_at": "2021-03-04T10:00:00Z", "text": text}]), encoding="utf-8")
    return path


def _huge_alert_csv(path: Path) -> Path:
    text = ("Des hommes armés près de Bria. " * 1_700_000)[: 50 << 20]
    path.write_text(f"received_at,text\n2021-03-04 10:00,{text}\n2021-03-04 11:00,calme\n", encoding="utf-8")
    return path


def _wide_csv(path: Path, columns: int = 1_000_000) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        fh.write(",".join("1" for _ in range(columns)) + "\n")
    return path


def _many_alerts(path: Path, n: int, lines: bool) -> Path:
    places = ["Bria", "Bambari", "Kaga-Bandoro", "Ndélé", "Bangui", "Obo", "Birao", "Bossangoa"]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("" if lines else "[")
        for i in range(n):
            record = {
                "sms_id": str(99_000_000 + i),
                "received_at": f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                "from": f"+236 75 {i % 100:02d} {i // 100 % 100:02d} {i // 10_000 % 100:02d}",
                "text": f"Tension signalée à {places[i % len(places)]}, message {i}",
                "category": "tension",
            }
            sep = "\n" if lines else ("," if i < n - 1 else "")
            fh.write(json.dumps(record, ensure_ascii=False) + sep)
        fh.write("" if lines else "]")
    return path


_CHILD = (
    "import resource, sys\n"
    "from sauti.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "use = resource.getrusage(resource.RUSAGE_SELF)\n"
    "sys.stderr.write(f'\\nPEAK_KB {use.ru_maxrss} {use.ru_utime + use.ru_stime}\\n')\n"
    "sys.exit(code)\n"
)


def _run(workspace: Path, path: Path) -> tuple[float, float, float, int, str]:
    """Ingest ``path`` in a child process: (wall s, CPU s, peak RSS MB of that child, exit code, output)."""
    env = {**os.environ, "SAUTI_WORKSPACE": str(workspace)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, "ingest", "alerts", str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    err = [line for line in done.stderr.splitlines() if line.strip()]
    peak = cpu = float("nan")
    if err and err[-1].startswith("PEAK_KB"):
        _, kib, cpu_s = err.pop().split()
        peak, cpu = float(kib) / 1024, float(cpu_s)
    shown = done.stdout.strip().splitlines() or err
    return wall, cpu, peak, done.returncode, (shown[-1][:120] if shown else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=200_000, help="alerts in the JSON and JSONL files")
    args = parser.parse_args()
    n = args.alerts
    tmp = Path(tempfile.mkdtemp(prefix="sauti-bench-hostile-"))
    try:
        template = tmp / "template"
        subprocess.run(
            [sys.executable, "-m", "sauti.cli", "ingest", "boundaries",
             str(SAMPLE / "boundaries" / "caf_adm2.gpkg"), "--level", "admin2", "--json"],
            env={**os.environ, "SAUTI_WORKSPACE": str(template)}, check=True, capture_output=True,
        )  # fmt: skip
        cases = [
            ("CSV with 10^6 columns", lambda p: _wide_csv(p / "wide.csv")),
            ("52 MB alert, 50 MB text (JSON)", lambda p: _huge_alert_json(p / "huge.json")),
            ("52 MB alert, 50 MB text (CSV)", lambda p: _huge_alert_csv(p / "huge.csv")),
            (f"{n:,} alerts (JSON Lines)", lambda p: _many_alerts(p / "many.jsonl", n, True)),
            (f"{n:,} alerts (JSON array)", lambda p: _many_alerts(p / "many.json", n, False)),
        ]
        failures = 0
        for name, make in cases:
            path = make(tmp)
            size = path.stat().st_size / 1e6
            workspace = tmp / f"ws-{path.name}"
            shutil.copytree(template, workspace)
            wall, cpu, peak_mb, code, line = _run(workspace, path)
            ok = (
                min(wall, cpu) < LIMIT_S
                and not peak_mb > LIMIT_MB
                and code in (0, 2)
                and "Traceback" not in line
            )
            failures += not ok
            print(
                f"{name:<34} {size:6.1f} MB  {wall:6.1f} s wall  {cpu:6.1f} s CPU  peak {peak_mb:5.0f} MB"
                f"  exit {code}  {'ok' if ok else 'OVER LIMIT'}  {line}"
            )
            path.unlink()
            shutil.rmtree(workspace)
        print(f"limits: {LIMIT_S} s and {LIMIT_MB} MB per file; {failures} over")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
