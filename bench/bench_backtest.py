"""Time a full monthly backtest on the sample and scoring 10,000 localities; print medians.

1. Backtest: a fresh workspace from ``data/sample`` (UCDP GED CAR, admin2), monthly cube, the
   Sauti model and every baseline at origins 2017-01 … 2022-11, horizon 1 (``--quick``: 2017-01 …
   2017-06). Prints the wall time per run, the median, and seconds per origin.
2. Scoring: a model trained on a small synthetic cube is recorded in a workspace holding a
   synthetic cube of 10,000 localities (``--quick``: 2,000) with the same features; ``score``
   (24 periods of probabilities, ranks, changes, top drivers for every locality, stored in SQLite)
   is timed ``--repeat`` times. Prints the median and the peak memory of the process.

    .venv/bin/python bench/bench_backtest.py [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_backtest(tmp: Path, quick: bool, repeat: int) -> dict:
    from sauti.features import compute_features
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.ingest.incidents import ingest_incidents
    from sauti.models.backtest import backtest_cube
    from sauti.progress import progress_bar
    from sauti.store import Workspace

    ws = Workspace(tmp / "sample_ws")
    ingest_boundaries(ws, SAMPLE / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_incidents(ws, SAMPLE / "events" / "ucdp_ged_v23_1_CAF.geojson")
    started = time.perf_counter()
    cube = compute_features(ws, freq="M", unit="admin2")
    cube_seconds = time.perf_counter() - started
    end = "2017-06" if quick else "2022-11"
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        with progress_bar("backtest", None) as advance:
            result = backtest_cube(cube, start="2017-01", end=end, horizon=1, progress=advance)
        times.append(time.perf_counter() - started)
    n_origins = result.detail["n_origins"]
    median = statistics.median(times)
    return {
        "cube_seconds": cube_seconds,
        "runs": times,
        "median": median,
        "origins": n_origins,
        "per_origin": median / n_origins,
        "forecasts": result.metrics["n_forecasts"],
    }


def bench_scoring(tmp: Path, n_localities: int, repeat: int) -> dict:
    from sauti.features import cube_path, save_cube
    from sauti.models import score
    from sauti.models.ensemble import SautiClassifier
    from sauti.models.panel import model_features, panel_frame
    from sauti.models.registry_store import save_model
    from sauti.models.scoring import data_snapshot
    from sauti.models.synthetic import synthetic_cube
    from sauti.models.target import make_target
    from sauti.store import Workspace

    ws = Workspace(tmp / "score_ws")
    small = synthetic_cube(400, 60, start="2018-01-01", seed=1)
    features = model_features(small)
    frame = panel_frame(small, features, extra={"_y": make_target(small, 1).to_numpy()})
    frame = frame[frame["_y"].notna()]
    model = SautiClassifier(random_state=0).fit(
        frame[features],
        frame["_y"].to_numpy().astype(int),
        periods=frame["period_index"].to_numpy(),
    )
    started = time.perf_counter()
    big = synthetic_cube(n_localities, 60, start="2018-01-01", seed=2)
    build_seconds = time.perf_counter() - started
    save_cube(big, cube_path(ws, freq="M", unit="admin2"))
    save_model(
        ws,
        model,
        freq="M",
        unit="admin2",
        horizon=1,
        estimator="sauti",
        features=features,
        data_snapshot=data_snapshot(big),
        params=model.get_params(),
        training={"bench": True},
    )
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        scored = score(ws)
        times.append(time.perf_counter() - started)
    assert len(scored) == n_localities
    return {
        "localities": n_localities,
        "estimator": model.describe(),
        "synthetic_cube_seconds": build_seconds,
        "runs": times,
        "median": statistics.median(times),
        "with_drivers": int(scored["drivers"].map(len).gt(0).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 origins and 2,000 localities")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per measurement (default 3, backtest 1)"
    )
    parser.add_argument("--skip-backtest", action="store_true")
    parser.add_argument("--skip-scoring", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if not args.skip_backtest:
            bt = bench_backtest(tmp, args.quick, args.repeat or 1)
            print(
                f"backtest (sample, admin2 x month, h=1, {bt['origins']} origins, "
                f"{bt['forecasts']} forecasts, "
                f"sauti + 7 baselines): median {bt['median']:.1f} s over {len(bt['runs'])} run(s) "
                f"({bt['per_origin']:.2f} s per origin); cube build {bt['cube_seconds']:.1f} s"
            )
        if not args.skip_scoring:
            n = 2_000 if args.quick else 10_000
            sc = bench_scoring(tmp, n, args.repeat or 3)
            runs = ", ".join(f"{t:.2f}" for t in sc["runs"])
            print(
                f"score {sc['localities']:,} localities (model {sc['estimator']}, 24 periods, drivers for "
                f"{sc['with_drivers']:,}): median {sc['median']:.2f} s (runs {runs})"
            )
        print(f"peak memory {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
