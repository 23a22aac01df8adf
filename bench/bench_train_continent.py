"""Benchmark: `sauti train` and one backtest origin on a synthetic continent, weekly, with peak RSS.

The cube is the synthetic continent of ``bench/bench_continent.py`` (labelled synthetic, seeded: a
square grid of 10 km cells, 520 weeks, events around hotspots), built by its ``features`` step into
a workspace; then each command runs in a fresh process under ``/usr/bin/time -v``, which reports
its peak resident memory. Training reads its rows block by block and samples negatives over the
row budget (docs/models.md, "Training rows read block by block"); the model card's sampling record is printed.

    nice .venv/bin/python bench/bench_train_continent.py                      # 50,176 cells, 1M events
    .venv/bin/python bench/bench_train_continent.py --side 40 --weeks 156 --events 30000   # quick
    .venv/bin/python bench/bench_train_continent.py --folder /tmp/continent  # keep / reuse the cube
    .venv/bin/python bench/bench_train_continent.py --row-budget 3000000     # a larger training panel
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SAUTI = Path(sys.executable).with_name("sauti")
UNIT = "grid:10km"


def _timed(args: list[str]) -> dict:
    """Wall seconds, peak RSS (GB) and the last stdout line of a command run under /usr/bin/time -v."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    out = {
        "seconds": round(seconds, 1),
        "peak_rss_gb": round(int(peak.group(1)) / 1e6, 2) if peak else None,
        "returncode": done.returncode,
    }
    if done.returncode != 0:
        out["error"] = done.stderr[-2000:]
    out["stdout"] = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return out


def build_workspace(folder: Path, side: int, events: int, weeks: int) -> tuple[Path, dict]:
    """The synthetic continent's cube (built once per folder) linked into a workspace."""
    from sauti.features.storage import cube_path
    from sauti.store import Workspace

    cube = folder / "cube.zarr"
    built: dict = {"reused": True}
    if not cube.exists():
        built = _timed(
            [sys.executable, str(BENCH / "bench_continent.py"), "--child", "features"]
            + [str(side), str(events), str(weeks), str(folder)]
        )
    root = folder / "ws"
    workspace = Workspace(root)
    link = cube_path(workspace, freq="W", unit=UNIT)
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(cube.resolve())
    return root, built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=224, help="cells per side (224: 50,176 cells)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--folder", help="keep the cube and workspace here (reused when present)")
    parser.add_argument("--steps", nargs="+", default=["train", "backtest"])
    parser.add_argument("--row-budget", type=int, default=None, help="sauti train/backtest --row-budget")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sauti-train-continent-") as scratch:
        folder = Path(options.folder or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        root, built = build_workspace(folder, options.side, options.events, options.weeks)
        from sauti.features.storage import cube_path, read_cube
        from sauti.store import Workspace

        print(json.dumps({"step": "features (bench_continent)", **built}), flush=True)
        cube = read_cube(cube_path(Workspace(root), freq="W", unit=UNIT), lazy=True)
        sizes = {"cells": cube.sizes["locality"], "weeks": cube.sizes["period"], "events": options.events}
        last = str(cube["period"].to_numpy()[-1])[:10]
        base = [str(SAUTI), "--workspace", str(root)]
        budget = [] if options.row_budget is None else ["--row-budget", str(options.row_budget)]
        for step in options.steps:
            if step == "train":
                row = _timed([*base, "train", "--freq", "W", "--unit", UNIT, "--json", *budget])
                if row["returncode"] == 0:
                    training = json.loads(row.pop("stdout"))["training"]
                    row["negative_sampling"] = training.get("negative_sampling")
                    row["in_sample_average_precision"] = round(training["in_sample_average_precision"], 4)
            else:  # one origin: the last week (its features are the week before)
                out = folder / "backtest"
                row = _timed(
                    [*base, "backtest", "--freq", "W", "--unit", UNIT, "--start", last, "--end", last]
                    + ["--out", str(out), *budget]
                )
                if row["returncode"] == 0:
                    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
                    detail = json.loads((out / "metrics_detail.json").read_text(encoding="utf-8"))
                    row["n_forecasts"] = metrics["n_forecasts"]
                    row["sauti_average_precision"] = metrics["models"]["sauti"]["average_precision"]
                    row["negative_sampling"] = detail.get("negative_sampling")
            row.pop("stdout", None)
            print(json.dumps({"step": step, **sizes, **row}), flush=True)


if __name__ == "__main__":
    main()
