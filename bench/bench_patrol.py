"""Benchmark patrol planning: 10 bases × 10,000 localities, exact (HiGHS MILP) and greedy.

Prints median times over repeats, the covered risk of each method, the true gap of greedy against
the exact optimum and the gap each method reports from its own bound, and peak memory.

    .venv/bin/python bench/bench_patrol.py            # 10 bases × 10,000 localities, 3 ranges
    .venv/bin/python bench/bench_patrol.py --quick    # 10 bases × 1,000 localities
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import geopandas as gpd
import numpy as np
import pandas as pd

from sauti.models.patrol import compute_reach, plan_patrols
from sauti.models.patrol.solve import CoverProblem, solve, solve_exact


def synthetic_instance(n_localities: int, n_bases: int, seed: int = 0):
    """Point localities jittered on a grid over a CAR-sized box; skewed risk; random bases."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_localities)))
    gx, gy = np.meshgrid(np.linspace(14.5, 27.0, side), np.linspace(2.5, 11.0, side))
    x = gx.ravel()[:n_localities] + rng.normal(0, 0.02, n_localities)
    y = gy.ravel()[:n_localities] + rng.normal(0, 0.02, n_localities)
    ids = [f"c{i:05d}" for i in range(n_localities)]
    localities = gpd.GeoDataFrame({"locality_id": ids}, geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    risk = pd.DataFrame({"locality_id": ids, "probability": rng.beta(0.3, 6.0, n_localities)})
    bases = gpd.GeoDataFrame(
        {
            "name": [f"base{k}" for k in range(n_bases)],
            "patrols": pd.array(rng.integers(10, 31, n_bases), dtype="Int64"),
            "range_km": np.full(n_bases, 100.0),
        },
        geometry=gpd.points_from_xy(rng.uniform(15, 26.5, n_bases), rng.uniform(3, 10.5, n_bases)),
        crs="EPSG:4326",
    )
    return localities, risk, bases


def _median_time(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 localities, fewer repeats")
    parser.add_argument("--localities", type=int, default=None)
    parser.add_argument("--bases", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=60.0, help="exact solver limit (s)")
    args = parser.parse_args()
    n = args.localities or (1_000 if args.quick else 10_000)
    repeats_exact, repeats_greedy = (1, 3) if args.quick else (3, 5)
    localities, risk, bases = synthetic_instance(n, args.bases)
    print(
        f"patrol bench: {args.bases} bases × {n:,} localities, patrols per base {bases['patrols'].tolist()}"
    )
    print(
        f"{'range km':>8} {'pairs':>8} {'reach s':>8} {'exact s':>8} {'unpruned s':>10} {'greedy s':>9} "
        f"{'plan s':>7} "
        f"{'exact obj':>10} {'greedy obj':>10} {'true gap':>9} {'greedy bound gap':>16} "
        f"{'exact gap':>9} status"
    )
    for range_km in (50.0, 100.0, 200.0, 400.0):
        bases["range_km"] = range_km
        t_reach, reach = _median_time(lambda: compute_reach(localities, bases), repeats_greedy)
        value = risk["probability"].to_numpy()
        ok = reach.open_route
        problem = CoverProblem(
            value=value,
            capacity=bases["patrols"].to_numpy(dtype=np.int64),
            pair_base=reach.pair_base[ok],
            pair_locality=reach.pair_locality[ok],
            pair_distance=reach.pair_distance[ok],
        )
        t_exact, exact = _median_time(lambda p=problem: solve(p, "exact", args.time_limit), repeats_exact)
        t_greedy, greedy = _median_time(lambda p=problem: solve(p, "greedy"), repeats_greedy)
        t_unpruned, unpruned = _median_time(lambda p=problem: solve_exact(p, args.time_limit, prune=False), 1)
        assert abs(unpruned.objective - exact.objective) <= 1e-9 * max(1.0, exact.objective)
        t_plan, plan = _median_time(
            lambda: plan_patrols(localities, risk, bases, method="auto", time_limit_s=args.time_limit),
            repeats_exact,
        )
        true_gap = (exact.objective - greedy.objective) / exact.objective if exact.objective else 0.0
        print(
            f"{range_km:8.0f} {problem.n_pairs:8,d} {t_reach:8.3f} {t_exact:8.3f} {t_unpruned:10.3f} "
            f"{t_greedy:9.4f} "
            f"{t_plan:7.3f} "
            f"{exact.objective:10.4f} {greedy.objective:10.4f} {true_gap:9.4%} {greedy.gap:16.4%} "
            f"{exact.gap:9.2e} {exact.status}/{plan.status}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
