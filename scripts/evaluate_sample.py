"""Backtest the sample on its validation or its test origins, the way the README's tables were made.

The development protocol (docs/models.md): design choices are made on the validation origins
(2013-07 … 2016-12) only; the test origins (2017-01 … 2022-11) are run once per finished design,
and every such run is appended to ``docs/test_period_runs.jsonl`` with the git commit, so anyone
can count them. Incident data only (the sample's alerts are synthetic).

    .venv/bin/python scripts/evaluate_sample.py --period validation
    .venv/bin/python scripts/evaluate_sample.py --period test --out runs/sample   # ledgered
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
LEDGER = ROOT / "docs" / "test_period_runs.jsonl"
PERIODS = {"validation": ("2013-07", "2016-12"), "test": ("2017-01", "2022-11")}


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()


def _workspace(folder: Path):
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.ingest.incidents import ingest_incidents
    from sauti.store import Workspace

    ws = Workspace(folder / "sample_ws")
    ingest_boundaries(ws, SAMPLE / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_incidents(ws, SAMPLE / "events" / "ucdp_ged_v23_1_CAF.geojson")
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", choices=sorted(PERIODS), required=True)
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--out", type=Path, default=None, help="keep each horizon's outputs in OUT/h<N>")
    args = parser.parse_args()
    from sauti.models.backtest import run_backtest
    from sauti.models.backtest_report import metrics_markdown, verdict_line
    from sauti.models.catalog import sauti_design
    from sauti.models.result import BacktestResult

    start, end = PERIODS[args.period]
    commit = _git("rev-parse", "HEAD"), bool(_git("status", "--porcelain", "--untracked-files=no"))
    with tempfile.TemporaryDirectory() as folder:
        ws = _workspace(Path(folder))
        for horizon in args.horizons:
            out = (args.out or Path(folder) / "runs") / f"h{horizon}"
            started = time.perf_counter()
            metrics = run_backtest(ws, start=start, end=end, horizon=horizon, out=out, use_alerts=False)
            seconds = time.perf_counter() - started
            detail = json.loads((out / "metrics_detail.json").read_text())
            result = BacktestResult(metrics, detail, None, None)  # type: ignore[arg-type]
            print(f"\n### {args.period} {start}..{end}, h = {horizon} ({seconds:.0f} s)\n")
            print(metrics_markdown(metrics, detail))
            print("\n" + verdict_line(result))
            if args.period == "test":
                _ledger(commit, horizon, start, end, metrics, detail, sauti_design(horizon))


def _ledger(commit, horizon, start, end, metrics, detail, design) -> None:
    versus = detail.get("versus_best_baseline", {})
    entry = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit[0],  # the code the run started with
        "uncommitted_changes": commit[1],
        "period": f"{start}..{end}",
        "horizon": horizon,
        "design": {k: list(v) if isinstance(v, tuple) else v for k, v in design.items()},
        "sauti": metrics["models"]["sauti"],
        "versus_best_baseline": {
            k: {kk: v.get(kk) for kk in ("baseline", "difference", "low", "high")} for k, v in versus.items()
        },
    }
    with LEDGER.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    print(f"ledger: appended to {LEDGER.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
