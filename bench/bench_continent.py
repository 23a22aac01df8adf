"""Benchmark: a synthetic continent (labelled synthetic, seeded) at three sizes, weekly, in bounded memory.

Every size is a square grid of 10 km cells with admin1-like regions, 520 weeks and events scattered
around hotspots (:mod:`sauti.features.synthetic`; nothing here is real data). Each step runs in a
fresh process so its peak RSS is its own:

- ``features``: the cube built block by block (Dask, local threads) and written as chunked Zarr;
- ``score-read``: what scoring reads back: the latest 24 periods of every variable, block by block;
- ``heatmap``: the risk surface (incident density) over the whole continent at 10 km.

With ``--cli`` the same continent is written as files (regions as a GeoPackage, incidents as an
ACLED-schema CSV), ingested with ``sauti ingest`` and run through ``sauti features``, ``train``,
``score`` and ``heatmap``, each its own process; one backtest origin is measured by
``bench/bench_train_continent.py``. The scaling exponent is the slope of log(time) and log(peak
RSS) against log(cells × periods).

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


# ---------------------------------------------------------------------------------------------
# --cli: the same continent through the real `sauti` commands, each its own process
# ---------------------------------------------------------------------------------------------

#: a step above this peak RSS is stopped (the machine is shared; the target is 4 GiB)
KILL_ABOVE_GIB = 8.0
GIB = 1024**3
EVENT_TYPES = {
    "intercommunal": ("Battles", 4),
    "armed_clash": ("Battles", 1),
    "violence_against_civilians": ("Violence against civilians", 2),
    "riot_protest": ("Riots", 5),
    "explosive_remote": ("Explosions/Remote violence", 1),
    "other": ("Strategic developments", 1),
}
GEO_PRECISION = {"point": 1, "locality": 2, "region": 3, "country": 3}


def write_continent(folder: Path, side: int, events: int, weeks: int) -> dict:
    """Boundaries (admin1-like squares, GeoPackage) and an ACLED-schema incident CSV, seeded.

    Labelled synthetic: the regions are named ``Synthetic region …`` and every event's notes say so.
    The regions tile a ``side`` × ``side`` square of 10 km cells (LAEA), so ``grid:10km`` on the
    workspace (cells over the union of the finest admin level) has about ``side``² cells.
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely
    from pyproj import CRS, Transformer

    from sauti.features.synthetic import CENTRE, synthetic_incidents

    crs = CRS.from_proj4(f"+proj=laea +lat_0={CENTRE[1]} +lon_0={CENTRE[0]} +datum=WGS84 +units=m +no_defs")
    per_side = max(side // 25, 2)
    half, band = side * 5_000.0, side * 10_000.0 / per_side
    boxes, ids = [], []
    for r in range(per_side):
        for c in range(per_side):
            x0, y1 = -half + c * band, half - r * band
            boxes.append(shapely.segmentize(shapely.box(x0, y1 - band, x0 + band, y1), 10_000.0))
            ids.append(f"SYN{r:02d}{c:02d}")
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform
    regions = gpd.GeoDataFrame(
        {"region_id": ids, "region_name": [f"Synthetic region {i}" for i in ids]},
        geometry=[shapely.transform(b, to_lonlat, interleaved=False) for b in boxes],
        crs="EPSG:4326",
    )
    boundaries = folder / "synthetic_regions.gpkg"
    regions.to_file(boundaries, driver="GPKG")
    outline = shapely.union_all(regions.geometry.to_numpy())
    frame = gpd.GeoDataFrame(geometry=[outline], crs="EPSG:4326")  # synthetic_incidents reads its bounds
    incidents = synthetic_incidents(frame, events, start=START, weeks=weeks)
    kind = incidents["category"].map(EVENT_TYPES)
    day = pd.DatetimeIndex(incidents["occurred_on"])
    csv = folder / "synthetic_incidents.csv"
    pd.DataFrame(
        {
            "event_id_cnty": np.char.add("SYN", np.arange(1, events + 1).astype(str)),
            "event_date": day.strftime("%Y-%m-%d"),
            "year": day.year,
            "time_precision": 1,
            "event_type": [k[0] for k in kind],
            "sub_event_type": "",
            "actor1": "Synthetic actor",
            "inter1": [k[1] for k in kind],
            "actor2": "",
            "inter2": 0,
            "country": "Synthetic continent",
            "admin1": "",
            "location": "",
            "latitude": incidents["latitude"].round(5),
            "longitude": incidents["longitude"].round(5),
            "geo_precision": incidents["location_precision"].map(GEO_PRECISION),
            "source": "Synthetic (sauti bench)",
            "notes": "Synthetic benchmark event (labelled synthetic, seeded)",
            "fatalities": incidents["fatalities"],
        }
    ).to_csv(csv, index=False)
    return {"boundaries": boundaries, "incidents": csv, "regions": len(regions)}


def measure(
    args: list[str],
    *,
    env: dict | None = None,
    kill_above_gib: float = KILL_ABOVE_GIB,
    log: Path | None = None,
) -> dict:
    """Run one command; its wall time and peak RSS (``wait4``: this child and nothing else).

    A watchdog stops it when its process tree passes ``kill_above_gib`` (reported, not hidden).
    Its stderr (``sauti -v``: progress per block) is copied to ``log`` as it comes, time-stamped.
    """
    import os
    import threading

    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    stopped = None
    out_lines: list[str] = []
    err_lines: list[str] = []

    def _copy_stderr() -> None:
        sink = open(log, "a", encoding="utf-8") if log is not None else None  # noqa: SIM115
        for line in proc.stderr:
            err_lines.append(line)
            if sink is not None:
                sink.write(f"{time.strftime('%H:%M:%S')} {line}")
                sink.flush()
        if sink is not None:
            sink.close()

    reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout), daemon=True)
    err_reader = threading.Thread(target=_copy_stderr, daemon=True)
    reader.start()
    err_reader.start()
    watched = psutil.Process(proc.pid)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            tree = [watched, *watched.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in tree)
        except psutil.Error:
            rss = 0
        if rss > kill_above_gib * GIB and stopped is None:
            stopped = round(rss / GIB, 2)
            proc.kill()
        time.sleep(0.5)
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(5)
    err_reader.join(5)
    row = {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_gib": round(usage.ru_maxrss * 1024 / GIB, 2),  # kilobytes on Linux
        "exit": proc.returncode,
    }
    if stopped is not None:
        row["stopped_above_gib"] = stopped
    if proc.returncode != 0:
        row["stderr"] = "".join(err_lines)[-1500:]
    row["stdout"] = "".join(out_lines)
    return row


def _slice_train(workspace: str, unit: str, freq: str, localities: int, weeks: int) -> dict:
    """Fallback when ``sauti train`` cannot run at this size: the model fitted on a slice of the cube
    (the first ``localities`` cells × the latest ``weeks`` weeks), so score and heatmap can be measured."""
    from sauti.features import load_cube
    from sauti.models.scoring import train
    from sauti.store import Workspace

    ws = Workspace(workspace)
    cube = load_cube(ws, freq=freq, unit=unit, last_periods=weeks, lazy=True)
    cube = cube.isel(locality=slice(0, localities)).load()
    record = train(ws, freq=freq, unit=unit, cube=cube)
    return {"version": record["version"], "rows": record["training"]["rows"]}


def run_cli(
    side: int, events: int, weeks: int, folder: Path, steps: list[str], kill_above: float
) -> list[dict]:
    """The continent at one size through ``sauti`` commands: one measured row per step."""
    import os

    sauti = str(Path(sys.executable).with_name("sauti"))
    ws = folder / "workspace"
    env = {**os.environ, "SAUTI_WORKSPACE": str(ws)}
    env.pop("SAUTI_DASK_SCHEDULER", None)
    started = time.perf_counter()
    # written by a child, so this process stays small (a child's peak RSS starts at its parent's)
    done = subprocess.run(
        [sys.executable, __file__, "--write", str(folder), str(side), str(events), str(weeks)],
        capture_output=True,
        text=True,
        check=True,
    )
    files = {k: Path(v) if k != "regions" else v for k, v in json.loads(done.stdout.splitlines()[-1]).items()}
    print(
        json.dumps(
            {
                "step": "write",
                "side": side,
                "events": events,
                "regions": files["regions"],
                "seconds": round(time.perf_counter() - started, 1),
            }
        ),
        flush=True,
    )
    unit, freq = "grid:10km", "W"
    key = ["--unit", unit, "--freq", freq]
    commands = {
        "ingest-boundaries": [
            "ingest",
            "boundaries",
            str(files["boundaries"]),
            "--level",
            "admin1",
            "--id-field",
            "region_id",
            "--name-field",
            "region_name",
            "--json",
        ],
        "ingest-incidents": ["ingest", "incidents", str(files["incidents"]), "--json"],
        "features": ["features", *key, "--json"],
        "train": ["train", *key, "--json"],
        "score": ["score", *key, "--top", "3"],
        "heatmap": ["heatmap", "--out", str(folder / "heatmap.tif"), *key, "--json"],
    }
    rows = []
    cells = None
    for step in ["ingest-boundaries", "ingest-incidents", *steps]:
        row = {"step": step, "side": side, "events": events, "weeks": weeks}
        log = folder / f"{step}.log"
        row.update(measure([sauti, "-v", *commands[step]], env=env, kill_above_gib=kill_above, log=log))
        stdout = row.pop("stdout")
        if step == "features" and row["exit"] == 0:
            cells = json.loads(stdout[stdout.index("{") :]).get("localities")
        row["cells"] = cells or side * side
        if step == "train" and row["exit"] != 0:
            fallback = measure(
                [sys.executable, __file__, "--slice-train", str(ws), unit, freq],
                env=env,
                kill_above_gib=kill_above,
            )
            fallback.pop("stdout")
            row["fallback"] = fallback
        rows.append(row)
        print(json.dumps(row), flush=True)
        if row["exit"] != 0 and step != "train":
            break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[71, 158, 224])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 500_000, 1_000_000])
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--steps", nargs="+", default=None)
    parser.add_argument("--cli", action="store_true", help="ingest and run each step as a `sauti` command")
    parser.add_argument(
        "--folder", type=Path, default=None, help="work here (kept) instead of a temporary folder"
    )
    parser.add_argument("--kill-above-gib", type=float, default=KILL_ABOVE_GIB)
    options = parser.parse_args()
    if options.cli:
        main_cli(options)
        return
    options.steps = options.steps or ["features", "score-read", "heatmap"]
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


def main_cli(options) -> None:
    steps = options.steps or ["features", "train", "score", "heatmap"]
    print("synthetic continent (labelled synthetic data, seeded) through `sauti` commands, grid:10km weekly")
    results: dict[str, list[dict]] = {}
    for side, events in zip(options.sides, options.events, strict=True):
        if options.folder is not None:
            folder = options.folder / f"side{side}"
            folder.mkdir(parents=True, exist_ok=False)
            rows = run_cli(side, events, options.weeks, folder, steps, options.kill_above_gib)
        else:
            with tempfile.TemporaryDirectory(prefix="sauti-continent-cli-") as name:
                rows = run_cli(side, events, options.weeks, Path(name), steps, options.kill_above_gib)
        for row in rows:
            results.setdefault(row["step"], []).append(row)
    for step, rows in results.items():
        ok = [dict(r, peak_rss_gb=r["peak_rss_gib"]) for r in rows if r.get("exit") == 0]
        print(
            f"{step}: peak RSS {[r['peak_rss_gib'] for r in rows]} GiB, "
            f"time {[r['seconds'] for r in rows]} s; "
            f"time exponent {_exponent(ok, 'seconds')}, peak RSS exponent {_exponent(ok, 'peak_rss_gb')} "
            "(against cells × weeks)"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--write":
        folder, side, events, weeks = sys.argv[2:6]
        written = write_continent(Path(folder), int(side), int(events), int(weeks))
        print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in written.items()}))
    elif len(sys.argv) > 1 and sys.argv[1] == "--slice-train":
        workspace, unit, freq = sys.argv[2:5]
        print(json.dumps(_slice_train(workspace, unit, freq, localities=2000, weeks=156)))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        step, side, events, weeks, folder = sys.argv[2:7]
        print(json.dumps(child(step, int(side), int(events), int(weeks), folder)))
    else:
        main()
