"""Benchmark: a synthetic continent (labelled synthetic, seeded) at three sizes, weekly, in bounded memory.

Every size is a square grid of 10 km cells with admin1-like regions, 520 weeks and events scattered
around hotspots (:mod:`sauti.features.synthetic`; nothing here is real data). Each step runs in a
fresh process so its peak RSS is its own:

- ``features``: the cube built block by block (Dask, local threads) and written as chunked Zarr;
- ``score-read``: what scoring reads back: the latest 24 periods of every variable, block by block;
- ``heatmap``: the risk surface (incident density) over the whole continent at 10 km.

Train, score and a backtest origin on a whole continent are not measured here yet (the training
panel is still built in memory: see docs/features.md, "Continental scale"). The scaling exponent
is the slope of log(time) and log(peak RSS) against log(cells × periods).

    nice .venv/bin/python bench/bench_continent.py                  # 5,041 / 24,964 / 50,176 cells
    .venv/bin/python bench/bench_continent.py --sides 20 40 --weeks 104 --events 20000 80000  # quick
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = "2015-01-05"


def _peak_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)


def _frames(side: int, events: int, weeks: int):
    from sauti.features.synthetic import synthetic_grid, synthetic_incidents

    grid = synthetic_grid(side_cells=side, regions_per_side=max(side // 25, 2))
    return grid, synthetic_incidents(grid, events, weeks=weeks)


def child(step: str, side: int, events: int, weeks: int, folder: str) -> dict:
    """One measured step, in this process."""
    import pandas as pd

    grid, incidents = _frames(side, events, weeks)
    end = str((pd.Timestamp(START) + pd.Timedelta(weeks=weeks - 1)).date())
    path = Path(folder) / "cube.zarr"
    started = time.perf_counter()
    out: dict = {"step": step, "cells": len(grid), "weeks": weeks, "events": events}
    if step == "features":
        from sauti.features import FeatureParams, build_cube
        from sauti.features.blocks import block_size
        from sauti.features.storage import save_cube

        block = block_size(len(grid), weeks)
        cube = build_cube(
            incidents,
            None,
            grid,
            freq="W",
            params=FeatureParams(),
            start=START,
            end=end,
            block=block,
            lazy=True,
        )
        save_cube(cube, path)
        out.update(block=block, variables=len(cube.data_vars), cube_gb=round(cube.nbytes / 1e9, 2))
    elif step == "score-read":
        from sauti.features.storage import read_cube

        cube = read_cube(path, last_periods=24, lazy=True)
        step_size = cube["count_violent"].chunks[0][0]  # the build's blocks of localities
        total = 0.0
        for first in range(0, cube.sizes["locality"], step_size):
            block = cube.isel(locality=slice(first, first + step_size)).load()
            total += float(block["count_violent"].sum())
        out.update(blocks=math.ceil(cube.sizes["locality"] / step_size), checksum=total)
    elif step == "heatmap":
        from sauti.features import risk_surface

        surface = risk_surface(incidents, grid, resolution_km=10.0)
        out.update(pixels=int(surface.size))
    out["seconds"] = round(time.perf_counter() - started, 2)
    out["peak_rss_gb"] = _peak_gb()
    return out


def run(step: str, side: int, events: int, weeks: int, folder: str) -> dict:
    args = [sys.executable, __file__, "--child", step, str(side), str(events), str(weeks), folder]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        return {"step": step, "side": side, "failed": done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _exponent(rows: list[dict], key: str) -> float | None:
    points = [(math.log(r["cells"] * r["weeks"]), math.log(max(r[key], 1e-3))) for r in rows if key in r]
    if len(points) < 2:
        return None
    (x0, y0), (x1, y1) = points[0], points[-1]
    return round((y1 - y0) / (x1 - x0), 2) if x1 != x0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[71, 158, 224])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 500_000, 1_000_000])
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--steps", nargs="+", default=["features", "score-read", "heatmap"])
    options = parser.parse_args()
    results: dict[str, list[dict]] = {s: [] for s in options.steps}
    print("synthetic continent (labelled synthetic data, seeded), weekly; peak RSS per step, fresh process")
    for side, events in zip(options.sides, options.events, strict=True):
        with tempfile.TemporaryDirectory(prefix="sauti-continent-") as folder:
            for step in options.steps:
                row = run(step, side, events, options.weeks, folder)
                results[step].append(row)
                print(json.dumps(row), flush=True)
    for step, rows in results.items():
        ok = [r for r in rows if "seconds" in r]
        print(
            f"{step}: time exponent {_exponent(ok, 'seconds')}, "
            f"peak RSS exponent {_exponent(ok, 'peak_rss_gb')} (against cells × weeks)"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        step, side, events, weeks, folder = sys.argv[2:7]
        print(json.dumps(child(step, int(side), int(events), int(weeks), folder)))
    else:
        main()
