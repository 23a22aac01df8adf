"""The service's data stamp on a large store: ``Workspace.fingerprint`` with a million alerts and two
million risk scores (rows written straight into SQLite, no ingest).

The service reads the stamp at most once a second, on the request path: a request that arrives
when it is due waits for it. Prints the median and the slowest of ``--repeat`` reads and the query
plan (every part must be a B-tree look-up, no SCAN of a table).

    .venv/bin/python bench/bench_store_stamp.py              # 1,000,000 alerts, 2,000,000 scores
    .venv/bin/python bench/bench_store_stamp.py --alerts 100000 --scores 200000
    .venv/bin/python bench/bench_store_stamp.py --database postgresql://sauti:sauti@127.0.0.1:5432/sauti

On PostgreSQL (``--database``: an empty store, or a server URL whose database gets the rows) the
stamp is :func:`sauti.db.data_stamp` (a sequence and the writers' advisory locks, migration 0013):
the plan printed is that of its sequence read.
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


def _fill_postgres(ws: Workspace, alerts: int, scores: int) -> None:
    """The same rows as :func:`_fill`, made by the server (``generate_series``)."""
    with ws.session() as con, Workspace.transaction(con):
        con.execute("SET LOCAL session_replication_role = replica")  # no foreign keys (a superuser's URL)
        con.execute(
            "INSERT INTO alerts (alert_id, received_at, channel, category, location_source, verification,"
            " created_at, updated_at) SELECT 'al' || i, '2021-01-01T00:00:00Z', 'sms', 'other', 'unresolved',"
            " 'unverified', 't', '2021-' || lpad((i % 12 + 1)::text, 2, '0') || '-01T00:00:'"
            " || lpad((i % 60)::text, 2, '0') || 'Z' FROM generate_series(0, ? - 1) AS i",
            (alerts,),
        )
        con.execute(
            "INSERT INTO risk_scores (locality_id, period, freq, unit, probability, rank, change, drivers,"
            " model_version, data_snapshot, scored_at) SELECT 'L' || (i % 10000), (2000 + i / 120000) || '-'"
            " || lpad((i / 10000 % 12 + 1)::text, 2, '0') || '-01', 'M', 'admin2', 0.01, 1, 0, '[]', 'm',"
            " 's', '2022-01-01T00:' || lpad((i % 60)::text, 2, '0') FROM generate_series(0, ? - 1) AS i",
            (scores,),
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--scores", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", help="a PostgreSQL store URL (default: a SQLite store)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace(Path(folder) / "ws", args.database)
        started = time.perf_counter()
        (_fill_postgres if args.database else _fill)(ws, args.alerts, args.scores)
        written = time.perf_counter() - started
        print(f"store: {args.alerts:,} alerts, {args.scores:,} risk scores ({written:.0f} s to write)")
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            ws.fingerprint()
            times.append(time.perf_counter() - t)
        median, slowest = 1000 * statistics.median(times), 1000 * max(times)
        print(f"fingerprint: median {median:.2f} ms, slowest {slowest:.2f} ms")
        if args.database:
            with ws.session() as con:
                plan = [r[0] for r in con.execute("EXPLAIN SELECT last_value FROM sauti_data_stamp")]
            print("query plan:", plan[0], "(the one-row sequence; the lock list is pg_locks)")
            return
        with ws.session() as con:
            plan = [row[3] for row in con.execute("EXPLAIN QUERY PLAN " + _FINGERPRINT_SQL)]
        scans = [p for p in plan if p.startswith("SCAN") and p != "SCAN CONSTANT ROW"]
        print("query plan:", "; ".join(p for p in plan if p.startswith(("SEARCH", "SCAN"))))
        print("table scans:", ", ".join(scans) if scans else "none")


if __name__ == "__main__":
    main()
