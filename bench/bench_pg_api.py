"""The service on a PostgreSQL store: ``/api/v1/localities/{id}`` p50/p95 against ``/api/v1/health``
(the floor: no store work), from a second process, on the sample built into a fresh database.

    .venv/bin/python bench/bench_pg_api.py                     # starts a throw-away cluster
    .venv/bin/python bench/bench_pg_api.py --database postgresql://sauti:sauti@127.0.0.1:5432/sauti
    .venv/bin/python bench/bench_pg_api.py --workers 2 --requests 300
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _sauti(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sauti.cli", *args], env=env, capture_output=True, text=True, check=True
    )


def _timings(client: httpx.Client, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="a PostgreSQL superuser URL (default: start a throw-away cluster)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    import psycopg

    server_url, folder = args.database, None
    script = str(ROOT / "scripts" / "postgres.sh")
    if not server_url:
        done = subprocess.run(["bash", script, "start"], capture_output=True, text=True, check=True)
        values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        server_url, folder = values["SAUTI_PG_URL"], values["SAUTI_PG_DIR"]
    name = f"sauti_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    url = server_url.rsplit("/", 1)[0] + "/" + name
    process = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "SAUTI_WORKSPACE": str(Path(tmp) / "ws"), "SAUTI_DATABASE_URL": url}
            _sauti(env, "demo", "--no-serve")
            key = json.loads(_sauti(env, "users", "add", "bench", "--role", "analyst", "--json").stdout)[
                "key"
            ]
            with psycopg.connect(url) as con:
                locality = con.execute("SELECT locality_id FROM sauti_risk_latest WHERE rank = 1").fetchone()[
                    0
                ]
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            process = subprocess.Popen(
                [sys.executable, "-m", "sauti.cli", "serve", "--port", str(port),
                 "--workers", str(args.workers)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                _timings(client, f"/api/v1/localities/{locality}", 20)  # warm the caches
                health = _timings(client, "/api/v1/health", args.requests)
                one = _timings(client, f"/api/v1/localities/{locality}", args.requests)
        for label, values in (("/api/v1/health", health), (f"/api/v1/localities/{locality}", one)):
            p95 = values[int(len(values) * 0.95) - 1]
            p50 = statistics.median(values)
            print(f"{label:<32} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   ({len(values)} requests)")
        load = os.getloadavg()[0]
        print(f"store: PostgreSQL; workers {args.workers}; load average {load:.1f} on {os.cpu_count()} cores")
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
        with psycopg.connect(server_url, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if folder:
            subprocess.run(["bash", script, "stop", folder], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
