"""PostgreSQL ingest benchmark: N synthetic ACLED-like incident rows end to end into a PostgreSQL
store (``ingest_incidents``: read, validate, reject, COPY), against a plain ``COPY`` of the same CSV
through ``psql`` into a table of text columns (no validation: the floor).

Targets: ≥ 100,000 rows/s, and at most 1.5× the plain COPY's time. The CSV is the one of
``bench_ingest.py`` (seeded; ~0.3 % bad rows, ~0.2 % repeats). Printed as context, never instead:
what PostgreSQL itself spends to store the same CSV in a table with the incidents table's key, date
index and GiST point (``COPY`` into text, then one ``INSERT … SELECT``), and the server's CPU both
for the benchmark's connections and for the whole cluster (parallel workers, autovacuum, WAL writer);
and, after the ingest, the time to build each of the table's secondary indexes once (what a bulk
load into an empty table does at its end), the GiST index also by the older unsorted build.

    .venv/bin/python bench/bench_pg_ingest.py                    # starts a throw-away cluster
    .venv/bin/python bench/bench_pg_ingest.py --database postgresql://sauti:sauti@127.0.0.1:5432/sauti
    .venv/bin/python bench/bench_pg_ingest.py --quick            # 100,000 rows
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import generate

ROOT = Path(__file__).resolve().parents[1]
TARGET_ROWS_PER_S = 100_000
TARGET_RATIO = 1.5


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql)


def _fresh_database(server: str) -> str:
    name = f"sauti_bench_{uuid.uuid4().hex[:8]}"
    _admin(server, f"CREATE DATABASE {name}")
    url = server.rsplit("/", 1)[0] + "/" + name
    _admin(url, "CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def _plain_copy(url: str, csv_path: Path) -> float:
    """Seconds for ``psql \\copy`` of the CSV into a table with one text column per CSV column."""
    with open(csv_path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    columns = ", ".join(f'"c{i}" text' for i in range(len(header)))
    _admin(url, f"DROP TABLE IF EXISTS plain_copy; CREATE UNLOGGED TABLE plain_copy ({columns})")
    start = time.perf_counter()
    subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-c", f"\\copy plain_copy FROM '{csv_path}' CSV HEADER"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


# the synthetic CSV's columns (bench_ingest.generate) as the incidents table's, without checks
_INDEXED_SELECT = (
    "SELECT 'acled:' || c0, 'acled', c1, c3, c16::float8, c15::float8, c17, c4, c20::integer, c6, c8,"
    " c12, c13, c14, c4 || ': ' || c5, c19, 1 FROM indexed_copy_text"
)


def _indexed_copy(url: str, csv_path: Path) -> tuple[float, float | None]:
    """Seconds and server CPU-seconds for a ``COPY … CSV`` of the file into a text table followed by
    one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` into a table with the incidents table's
    columns, primary key, date index and PostGIS point (generated, GiST-indexed): what PostgreSQL
    itself spends to store the rows where sauti stores them (no validation, no triggers, one
    transaction). Context for the ratio, not the issue's comparator. Run after sauti's ingest (it
    copies the shape of that table)."""
    import psycopg

    with open(csv_path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    columns = ", ".join(f'"c{i}" text' for i in range(len(header)))
    names = (
        "event_id, source, occurred_on, date_precision, longitude, latitude, location_precision, category,"
        " fatalities, actor1, actor2, admin1, admin2, place_name, source_category, text, run_id"
    )
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            "DROP TABLE IF EXISTS indexed_copy_text, indexed_copy;"
            f" CREATE UNLOGGED TABLE indexed_copy_text ({columns});"
            " CREATE TABLE indexed_copy (LIKE incidents INCLUDING ALL)"
        )
        pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]
        before, start = _process_cpu(pid), time.perf_counter()
        sql = "COPY indexed_copy_text FROM STDIN (FORMAT csv, HEADER)"
        with con.cursor().copy(sql) as copy, open(csv_path, "rb") as fh:
            while block := fh.read(1 << 20):
                copy.write(block)
        con.execute(f"INSERT INTO indexed_copy ({names}) {_INDEXED_SELECT} ON CONFLICT DO NOTHING")
        seconds, after = time.perf_counter() - start, _process_cpu(pid)
        con.execute("DROP TABLE indexed_copy_text, indexed_copy")
    return seconds, None if before is None or after is None else after - before


def _index_builds(url: str) -> list[tuple[str, float, float | None]]:
    """``(label, seconds, server CPU-seconds)`` of building each of the loaded incidents table's
    secondary indexes once, as a bulk load does at its end (dropped and created again, one at a
    time), and of the GiST index built with ``buffering = on`` (PostgreSQL's older, unsorted build)
    for comparison: the default build of a PostGIS 3 point index on PostgreSQL ≥ 14 is sorted."""
    import psycopg

    out = []
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("SET client_min_messages = warning")
        pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]
        indexes = con.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'incidents'"
            " AND indexdef NOT LIKE 'CREATE UNIQUE%' ORDER BY 1"
        ).fetchall()
        builds = [(name, name, sql) for name, sql in indexes]
        builds += [
            (f"{name} (buffering = on, unsorted)", name, f"{sql} WITH (buffering = on)")
            for name, sql in indexes
            if " USING gist " in sql
        ]
        builds += [(None, name, sql) for name, sql in indexes if " USING gist " in sql]  # as it was
        for label, name, sql in builds:
            con.execute(f'DROP INDEX "{name}"')
            before, start = _process_cpu(pid), time.perf_counter()
            con.execute(sql)
            seconds, after = time.perf_counter() - start, _process_cpu(pid)
            if label is not None:
                out.append((label, seconds, None if before is None or after is None else after - before))
    return out


def _process_cpu(pid: int) -> float | None:
    """CPU seconds used so far by process ``pid`` (from /proc), or ``None`` when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu(url: str) -> float | None:
    """CPU seconds used so far by the server processes connected to ``url``'s database (read from
    /proc: only for a server on this machine), this query's own left out, or ``None`` when they
    cannot be read."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        pids = [
            r[0]
            for r in con.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    total = 0.0
    for pid in pids:
        used = _process_cpu(pid)
        if used is None:
            return None
        total += used
    return total


def _cluster_cpu(url: str) -> float | None:
    """CPU seconds used so far by every process of the server's cluster — backends, the parallel
    workers they start, autovacuum, the WAL writer and checkpointer, and the children that have
    exited (the postmaster's ``cutime``) — or ``None`` when that cannot be read (a server on
    another machine, or not ours to read)."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as con:
            folder = Path(con.execute("SHOW data_directory").fetchone()[0])
        postmaster = int((folder / "postmaster.pid").read_text().split()[0])
        tick = os.sysconf("SC_CLK_TCK")
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        total = sum(int(f) for f in fields[11:15]) / tick  # its own and its reaped children's
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / tick
        return total
    except (OSError, ValueError, psycopg.Error):
        return None


def _sauti_ingest(url: str, csv_path: Path, profile: bool = False) -> tuple[float, dict]:
    from sauti.ingest.incidents import ingest_incidents
    from sauti.store import Workspace

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws", url)
        ws.schema_version()  # create and migrate the store outside the timing
        server_before, cluster_before = _server_cpu(url), _cluster_cpu(url)
        start, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        report = ingest_incidents(ws, csv_path)
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        server_after = _server_cpu(url)  # the pool's connections are still open: their backends count
        server = None if server_before is None or server_after is None else server_after - server_before
        cluster_after = _cluster_cpu(url)
        cluster = None if cluster_before is None or cluster_after is None else cluster_after - cluster_before
        with ws.session() as con:
            stored = con.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
            located = con.execute("SELECT COUNT(geom) FROM incidents").fetchone()[0]
        assert not (ws.root / "sauti.sqlite").exists()
    if profiler is not None:
        import pstats

        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    cpus = {"cpu": cpu, "server_cpu": server, "cluster_cpu": cluster}
    return wall, {**report.summary(), "stored": stored, "located": located, **cpus}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--database", help="a PostgreSQL superuser URL (default: start a throw-away cluster)")
    parser.add_argument("--profile", action="store_true", help="cProfile of the main thread, to stderr")
    args = parser.parse_args(argv)
    rows = 100_000 if args.quick else args.rows
    server, folder, url = args.database, None, None
    if not server:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
            capture_output=True,
            text=True,
            check=True,
        )
        values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        server, folder = values["SAUTI_PG_URL"], values["SAUTI_PG_DIR"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = Path(tmp) / "acled_synthetic.csv"
            generate(csv_path, rows)
            url = _fresh_database(server)
            load = os.getloadavg()[0]
            plain = _plain_copy(url, csv_path)
            wall, report = _sauti_ingest(url, csv_path, args.profile)
            builds = _index_builds(url)
            indexed, indexed_cpu = _indexed_copy(url, csv_path)
        read = report["read"]
        assert read == report["accepted"] + report["rejected"] + report["duplicates"]
        assert report["stored"] == report["accepted"]
        rate, ratio = read / wall, wall / plain
        print(f"rows read {read:,}: accepted {report['accepted']:,}, rejected {report['rejected']:,}, "
              f"duplicates {report['duplicates']:,}; located {report['located']:,}")  # fmt: skip
        print(f"plain psql \\copy       {plain:.2f} s  ({read / plain:,.0f} rows/s, text columns, no checks)")
        ok_rate = "met" if rate >= TARGET_ROWS_PER_S else "NOT met"
        ok_ratio = "met" if ratio <= TARGET_RATIO else "NOT met"
        target = f"target ≥ {TARGET_ROWS_PER_S:,}: {ok_rate}"
        print(f"sauti ingest           {wall:.2f} s  ({rate:,.0f} rows/s; {target})")
        print(f"ratio to plain COPY    {ratio:.2f}×  (target ≤ {TARGET_RATIO}×: {ok_ratio})")
        server_cpu = report["server_cpu"]
        shown = "not readable" if server_cpu is None else f"{server_cpu:.2f} s"
        cluster_cpu = report["cluster_cpu"]
        whole = "" if cluster_cpu is None else f" ({cluster_cpu:.2f} s with workers, autovacuum, WAL writer)"
        print(f"CPU                    sauti process {report['cpu']:.2f} s, PostgreSQL server {shown}{whole}"
              " (wall time on a shared machine includes waiting for other jobs)")  # fmt: skip
        shown = "server CPU not readable" if indexed_cpu is None else f"server CPU {indexed_cpu:.2f} s"
        print(f"context: COPY + INSERT {indexed:.2f} s, {shown}  (not the target: the CSV COPYed"
              " into text columns, then one INSERT into incidents' key, date index, GiST point)")  # fmt: skip
        for label, seconds, cpu in builds:
            shown = "server CPU not readable" if cpu is None else f"server CPU {cpu:.2f} s"
            print(f"index built once       {label}: {seconds:.2f} s, {shown}")
        after = os.getloadavg()[0]
        print(f"load average           {load:.1f} before, {after:.1f} after, on {os.cpu_count()} cores")
    finally:
        if url and not folder:  # a server of the user's: leave no benchmark database behind
            _admin(server, f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
        if folder:
            subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", folder], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
