"""The service's data stamp on a large store: ``Workspace.fingerprint`` with a million alerts and two
million risk scores (rows written straight into SQLite, no ingest).

The service reads the stamp at most once a second, on the request path: a request that arrives
when it is due waits for it. Prints the median and the slowest of ``--repeat`` reads and the query
plan (every part must be a B-tree look-up, no SCAN of a table).

    .venv/bin/python bench/bench_store_stamp.py              # 1,000,000 alerts, 2,000,000 scores
    .venv/bin/python bench/bench_store_stamp.py --alerts 100000 --scores 200000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sauti.store import _FINGERPRINT_SQL, Workspace


def _fill(ws: Workspace, alerts: int, scores: int) -> None:
    with ws.session() as con:
        con.execute("PRAGMA foreign_keys=OFF")
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO alerts (alert_id, received_at, channel, category, location_source, verification,"
            " created_at, updated_at) VALUES (?, '2021-01-01T00:00:00Z', 'sms', 'other', 'unresolved',"
            " 'unverified', 't', ?)",
            ((f"al{i}", f"2021-{i % 12 + 1:02d}-01T00:00:{i % 60:02d}Z") for i in range(alerts)),
        )
        con.executemany(
            "INSERT INTO risk_scores (locality_id, period, freq, unit, probability, rank, change, drivers,"
            " model_version, data_snapshot, scored_at) VALUES (?, ?, 'M', 'admin2', 0.01, 1, 0, '[]', 'm',"
            " 's', ?)",
            (
                (
                    f"L{i % 10_000}",
                    f"{2000 + i // 120_000}-{i // 10_000 % 12 + 1:02d}-01",
                    f"2022-01-01T00:{i % 60:02d}",
                )
                for i in range(scores)
            ),
        )
        con.execute("COMMIT")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--scores", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace(Path(folder) / "ws")
        started = time.perf_counter()
        _fill(ws, args.alerts, args.scores)
        written = time.perf_counter() - started
        print(f"store: {args.alerts:,} alerts, {args.scores:,} risk scores ({written:.0f} s to write)")
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            ws.fingerprint()
            times.append(time.perf_counter() - t)
        median, slowest = 1000 * statistics.median(times), 1000 * max(times)
        print(f"fingerprint: median {median:.2f} ms, slowest {slowest:.2f} ms")
        with ws.session() as con:
            plan = [row[3] for row in con.execute("EXPLAIN QUERY PLAN " + _FINGERPRINT_SQL)]
        scans = [p for p in plan if p.startswith("SCAN") and p != "SCAN CONSTANT ROW"]
        print("query plan:", "; ".join(p for p in plan if p.startswith(("SEARCH", "SCAN"))))
        print("table scans:", ", ".join(scans) if scans else "none")


if __name__ == "__main__":
    main()
