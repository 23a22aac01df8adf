"""Ingest benchmark: N synthetic ACLED-like incident rows, end to end into a fresh store.

Generates a seeded CSV in the current ACLED export schema (with ~0.3 % bad rows and ~0.2 %
repeated rows, so the reject and duplicate paths are exercised), then runs
``sauti.ingest.incidents.ingest_incidents`` on it in a fresh workspace, in a child process per
repeat so that each run's peak RSS is its own. Prints rows per second of wall time and per
CPU-second of the ingest process, wall and CPU time and peak RSS (medians over ``--repeat`` runs).
Target: ≥ 100,000 rows/s on one core, judged on rows per CPU-second (the machine is shared: wall
time includes waiting for other jobs; the load average is printed).

    .venv/bin/python bench/bench_ingest.py            # 1,000,000 rows
    .venv/bin/python bench/bench_ingest.py --quick    # 100,000 rows
    .venv/bin/python bench/bench_ingest.py --repeat 3 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGET_ROWS_PER_S = 100_000
EVENT_TYPES = np.array(
    [
        "Battles",
        "Violence against civilians",
        "Protests",
        "Riots",
        "Explosions/Remote violence",
        "Strategic developments",
    ]
)
SUB_TYPES = np.array(["Armed clash", "Attack", "Peaceful protest", "Mob violence", "Shelling", "Looting"])
PLACES = np.array(["Bangui", "Bambari", "Bria", "Kaga-Bandoro", "Bossangoa", "Ndélé", "Obo", "Birao"])
ADMIN1 = np.array(["Bangui", "Ouaka", "Haute-Kotto", "Nana-Grebizi", "Ouham", "Bamingui-Bangoran"])
ACTORS = np.array(
    [
        "Anti-Balaka",
        "UPC",
        "FPRC",
        "Military Forces of CAR",
        "Unidentified Armed Group",
        "Civilians",
        "Rioters",
    ]
)
MONTHS = np.array(
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
)


def generate(path: Path, rows: int, seed: int = 20260101) -> None:
    """Write ``rows`` seeded ACLED-like rows to ``path`` (vectorised; a few bad and repeated rows)."""
    rng = np.random.default_rng(seed)
    day = pd.Timestamp("1997-01-01") + pd.to_timedelta(rng.integers(0, 26 * 365, rows), unit="D")
    date_text = (
        pd.Series(day.day).astype(str).str.zfill(2)
        + " "
        + MONTHS[day.month.to_numpy() - 1]
        + " "
        + pd.Series(day.year).astype(str)
    )
    lon = np.round(rng.uniform(14.5, 27.4, rows), 4)
    lat = np.round(rng.uniform(2.2, 11.0, rows), 4)
    frame = pd.DataFrame(
        {
            "event_id_cnty": np.char.add("CAF", np.arange(1, rows + 1).astype(str)),
            "event_date": date_text.to_numpy(),
            "year": day.year,
            "time_precision": rng.choice([1, 1, 1, 2, 3], rows),
            "event_type": EVENT_TYPES[rng.integers(0, len(EVENT_TYPES), rows)],
            "sub_event_type": SUB_TYPES[rng.integers(0, len(SUB_TYPES), rows)],
            "actor1": ACTORS[rng.integers(0, len(ACTORS), rows)],
            "inter1": rng.integers(1, 9, rows),
            "actor2": ACTORS[rng.integers(0, len(ACTORS), rows)],
            "inter2": rng.integers(0, 9, rows),
            "interaction": rng.integers(10, 88, rows),
            "country": "Central African Republic",
            "admin1": ADMIN1[rng.integers(0, len(ADMIN1), rows)],
            "admin2": PLACES[rng.integers(0, len(PLACES), rows)],
            "location": PLACES[rng.integers(0, len(PLACES), rows)],
            "latitude": lat,
            "longitude": lon,
            "geo_precision": rng.choice([1, 1, 2, 3], rows),
            "source": "Synthetic",
            "notes": "Synthetic benchmark event near " + PLACES[rng.integers(0, len(PLACES), rows)],
            "fatalities": rng.poisson(0.8, rows),
        }
    )
    bad = rng.choice(rows, size=max(rows // 300, 1), replace=False)
    third = len(bad) // 3
    frame.loc[bad[:third], "event_date"] = "31 Smarch 2019"  # unparseable date
    frame.loc[bad[third : 2 * third], "latitude"] = 123.0  # out of range
    frame.loc[bad[2 * third :], "fatalities"] = -1  # negative count
    repeat = rng.choice(rows, size=max(rows // 500, 1), replace=False)
    frame = pd.concat([frame, frame.iloc[repeat]], ignore_index=True)  # duplicates within the file
    frame.to_csv(path, index=False)


def _peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` rather than ``ru_maxrss``: on Linux the
    latter carries the parent's size across fork+exec, which would count the generator's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(csv_path: str, profile: bool) -> None:
    """Run one ingest into a fresh workspace and print its figures as JSON."""
    from sauti.ingest.incidents import ingest_incidents
    from sauti.store import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        ws.schema_version()  # create and migrate the store outside the timing
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        start, cpu_start = time.perf_counter(), time.process_time()
        report = ingest_incidents(ws, csv_path)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if profile:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats(
                os.environ.get("BENCH_SORT", "tottime")
            ).print_stats(30)
        with ws.session() as con:
            stored = con.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
    peak_mb = _peak_rss_mb()
    print(
        json.dumps(
            {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak_mb, "stored": stored, **report.summary()}
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--repeat", type=int, default=1, help="runs; medians are printed")
    parser.add_argument("--profile", action="store_true", help="cProfile the (first) run to stderr")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.profile)
        return 0
    rows = 100_000 if args.quick else args.rows
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "acled_synthetic.csv"
        t0 = time.perf_counter()
        generate(csv_path, rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {rows:,} rows (+ repeats) → {size_mb:.0f} MB in {time.perf_counter() - t0:.1f} s")
        runs = []
        for i in range(args.repeat):
            cmd = [sys.executable, __file__, "--child", str(csv_path)]
            if args.profile and i == 0:
                cmd.append("--profile")
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            if args.profile and i == 0:
                print(out.stderr, file=sys.stderr)
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["rows_per_s"] = run["read"] / run["wall_s"]
            run["rows_per_cpu_s"] = run["read"] / run["cpu_s"]
            runs.append(run)
            print(
                f"run {i + 1}: {run['wall_s']:.2f} s wall, {run['cpu_s']:.2f} s CPU, "
                f"{run['rows_per_s']:,.0f} rows/s, {run['rows_per_cpu_s']:,.0f} rows/CPU-s, "
                f"peak RSS {run['peak_rss_mb']:.0f} MB, load {os.getloadavg()[0]:.1f}"
            )
    first = runs[0]
    assert first["read"] == first["accepted"] + first["rejected"] + first["duplicates"]
    assert first["stored"] == first["accepted"]
    rate = statistics.median(r["rows_per_s"] for r in runs)
    print(
        f"rows read {first['read']:,}: accepted {first['accepted']:,}, rejected {first['rejected']:,}, "
        f"duplicates {first['duplicates']:,}"
    )
    print(
        f"median wall time     {statistics.median(r['wall_s'] for r in runs):.2f} s over {len(runs)} run(s)"
    )
    print(f"median CPU time      {statistics.median(r['cpu_s'] for r in runs):.2f} s")
    print(f"median rows/s        {rate:,.0f}  (wall clock: slowed by other work on the machine)")
    cpu_rate = statistics.median(r["rows_per_cpu_s"] for r in runs)
    print(
        f"median rows/CPU-s    {cpu_rate:,.0f}  (CPU time of the ingest process: the one-core figure; "
        f"target ≥ {TARGET_ROWS_PER_S:,}: {'met' if cpu_rate >= TARGET_ROWS_PER_S else 'NOT met'})"
    )
    print(f"median peak RSS      {statistics.median(r['peak_rss_mb'] for r in runs):.0f} MB")
    print(
        f"load average         {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(other work slows the wall figures)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
