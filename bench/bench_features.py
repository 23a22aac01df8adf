"""Benchmark: build the feature cube for 1,000,000 synthetic events over 10,000 grid localities × 520 weeks.

Targets (issue 3): under 60 s and under 8 GB peak memory on a 2-core machine, and 10× the events
costs at most 10× the time. Each size runs in a fresh process so its peak RSS is its own.

    .venv/bin/python bench/bench_features.py            # 100k and 1M events, 10,000 cells, 520 weeks
    .venv/bin/python bench/bench_features.py --quick    # 10k and 100k events, 2,500 cells, 104 weeks
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def child(events: int, side: int, weeks: int, alerts: int) -> dict:
    """One measured build, in this process."""
    t0 = time.perf_counter()
    import pandas as pd

    from sauti.features import FeatureParams, build_cube
    from sauti.features.synthetic import synthetic_alerts, synthetic_grid, synthetic_incidents

    grid = synthetic_grid(side_cells=side)
    incidents = synthetic_incidents(grid, events, weeks=weeks)
    alert_frame = synthetic_alerts(grid, alerts, weeks=weeks) if alerts else None
    prepared = time.perf_counter()
    steps: list[float] = []

    def tick(_: int) -> None:
        steps.append(time.perf_counter())

    start = time.perf_counter()
    cube = build_cube(
        incidents,
        alert_frame,
        grid,
        freq="W",
        params=FeatureParams(),
        start="2015-01-05",
        end=str((pd.Timestamp("2015-01-05") + pd.Timedelta(weeks=weeks - 1)).date()),
        progress=tick,
    )
    seconds = time.perf_counter() - start
    names = ["periods", "assignment", "counts", "temporal", "spatial_lags", "static+season", "assemble"]
    marks = [start, *steps]
    return {
        "events": events,
        "alerts": alerts,
        "localities": int(cube.sizes["locality"]),
        "periods": int(cube.sizes["period"]),
        "variables": len(cube.data_vars),
        "cube_gb": round(cube.nbytes / 1e9, 2),
        "build_seconds": round(seconds, 2),
        "steps_seconds": {n: round(b - a, 2) for n, a, b in zip(names, marks[:-1], marks[1:], strict=False)},
        "data_seconds": round(prepared - t0, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
    }


def run(events: int, side: int, weeks: int, alerts: int) -> dict:
    args = [sys.executable, __file__, "--child", str(events), str(side), str(weeks), str(alerts)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"benchmark child failed for {events} events")
    return json.loads(done.stdout.strip().splitlines()[-1])


def sample_nowcast(repeat: int = 5) -> dict:
    """compute_features on the sample (admin2 × M, with the synthetic alerts when present), warm."""
    import tempfile
    from pathlib import Path

    from sauti.features import compute_features
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.ingest.incidents import ingest_incidents
    from sauti.store import Workspace

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        ingest_boundaries(ws, sample / "boundaries" / "caf_adm2.gpkg", "admin2")
        ingest_boundaries(ws, sample / "boundaries" / "caf_adm3.gpkg", "admin3")
        ingest_incidents(ws, sample / "events" / "ucdp_ged_v23_1_CAF.geojson")
        alerts = sample / "alerts" / "synthetic_alerts.csv"
        if alerts.exists():
            from sauti.ingest.alerts import ingest_alerts

            ingest_alerts(ws, alerts)
        population = sample / "population" / "worldpop2020_density_caf.tif"
        start = time.perf_counter()
        compute_features(ws, population=population)
        first = time.perf_counter() - start
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            cube = compute_features(ws)
            times.append(time.perf_counter() - start)
    return {
        "first_seconds": round(first, 2),
        "warm_median_seconds": round(statistics.median(times), 2),
        "localities": int(cube.sizes["locality"]),
        "periods": int(cube.sizes["period"]),
        "alerts": alerts.exists(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small run: 2,500 cells, 104 weeks, 10k/100k events"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (median reported)")
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        print(json.dumps(child(*ns.child)))
        return
    side, weeks, sizes = (50, 104, (10_000, 100_000)) if ns.quick else (100, 520, (100_000, 1_000_000))
    results = {}
    for events in sizes:
        runs = [run(events, side, weeks, events // 10) for _ in range(ns.repeat)]
        best = sorted(runs, key=lambda r: r["build_seconds"])[len(runs) // 2]
        best["build_seconds_median"] = statistics.median(r["build_seconds"] for r in runs)
        best["peak_rss_gb_max"] = max(r["peak_rss_gb"] for r in runs)
        results[events] = best
        print(
            f"{events:>9,} events ({events // 10:,} alerts) over {best['localities']:,} localities × "
            f"{best['periods']} weeks: build median {best['build_seconds_median']:.1f} s, "
            f"peak RSS {best['peak_rss_gb_max']:.2f} GB, cube {best['cube_gb']:.2f} GB, "
            f"{best['variables']} variables"
        )
        print("    steps (s): " + ", ".join(f"{k} {v}" for k, v in best["steps_seconds"].items()))
    small, large = (results[s] for s in sizes)
    ratio = large["build_seconds_median"] / small["build_seconds_median"]
    print(
        f"10× the events costs {ratio:.2f}× the time (target ≤ 10×); "
        f"largest build {large['build_seconds_median']:.1f} s (target < 60 s), "
        f"peak {large['peak_rss_gb_max']:.2f} GB (target < 8 GB)"
    )
    nowcast = sample_nowcast()
    print(
        f"sample admin2 × M ({nowcast['localities']} × {nowcast['periods']}, alerts: {nowcast['alerts']}): "
        f"compute_features first {nowcast['first_seconds']:.2f} s (imports, graph, zonal stats), "
        f"then median {nowcast['warm_median_seconds']:.2f} s per rebuild (the nowcast)"
    )
    summary = {"time_ratio_10x_events": round(ratio, 2), "runs": results, "sample_nowcast": nowcast}
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
