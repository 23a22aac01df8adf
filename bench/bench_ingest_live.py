"""The live service while a large incident file is ingested: how long reads and alert posts wait.

Serves a copy of the demo workspace (``--workspace``, or built with ``sauti demo --no-serve``) with
uvicorn, starts ``sauti ingest incidents`` of a seeded ACLED-like file (``bench_ingest.generate``,
1,000,000 rows by default) in a second process, and from a third (this one) times, until the
ingest ends, a loop of: ``GET /ogc/collections/incidents/items?limit=50`` (an analyst's read) and
``POST /api/v1/alerts`` (a reporter's alert). Prints p50 / p95 / max latency of each, per mode:

* ``one-transaction``: the whole file in one transaction (how ingest ran before issue 20: the
  store's write lock held from the first row to the COMMIT) — the same code with ``batched=False``;
* ``batched``: rows committed ``BATCH_ROWS`` (20,000) at a time (``ingest_incidents`` now).

Each mode starts from its own copy of the workspace. The machine is shared: figures are noisy.

    .venv/bin/python bench/bench_ingest_live.py --workspace WS [--rows 1000000] [--modes batched]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import build_workspace, start_server
from bench_ingest import generate

MODES = ("one-transaction", "batched")
INGEST = """
import sys
from sauti.ingest import incidents, runs
if sys.argv[1] == "one-transaction":  # the code as it ran before: one transaction per file
    whole = runs.ingest_run
    incidents.ingest_run = lambda *a, **k: whole(*a, **{**k, "batched": False})
from sauti.cli import main
sys.exit(main(["ingest", "incidents", sys.argv[2], "--json"]))
"""


def _users(workspace: Path) -> dict[str, str]:
    from sauti.api.services.accounts import add_user
    from sauti.store import Workspace

    ws = Workspace(workspace)
    return {role: add_user(ws, f"bench-{role}-{time.time_ns()}", role)[1] for role in ("reporter", "analyst")}


def _probe(url: str, keys: dict[str, str], stop: threading.Event, out: dict[str, list[float]]) -> None:
    """Alternate a read and an alert post until ``stop``; record each one's seconds."""
    read = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['analyst']}"}, timeout=120)
    post = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['reporter']}"}, timeout=120)
    n = 0
    with read, post:
        while not stop.is_set():
            started = time.perf_counter()
            reply = read.get("/ogc/collections/incidents/items", params={"limit": 50, "offset": n % 500})
            out["read"].append(time.perf_counter() - started)
            out["read_at"].append(started)
            out["read_errors"].append(float(reply.status_code >= 400))
            started = time.perf_counter()
            reply = post.post(
                "/api/v1/alerts",
                json={
                    "received_at": "2022-12-01T08:00:00Z",
                    "text": f"bench alert {n} {time.time_ns()}",
                    "place_name": "Bambari",
                    "category": "other",
                },
            )
            out["post"].append(time.perf_counter() - started)
            out["post_errors"].append(float(reply.status_code >= 400))
            n += 1
            time.sleep(0.05)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max_s": round(ordered[-1], 3),
    }


def run_mode(mode: str, template: Path, csv_path: Path, folder: Path) -> dict:
    workspace = folder / f"ws-{mode}"
    shutil.copytree(template, workspace)
    keys = _users(workspace)
    server, url = start_server(workspace, workers=1)
    try:
        out: dict[str, list[float]] = {
            "read": [],
            "post": [],
            "read_errors": [],
            "post_errors": [],
            "read_at": [],
        }
        idle_stop = threading.Event()
        idle = threading.Thread(target=_probe, args=(url, keys, idle_stop, out))
        idle.start()
        time.sleep(5)  # the service alone
        idle_stop.set()
        idle.join()
        before = {k: _summary(out[k]) for k in ("read", "post")}
        out = {k: [] for k in out}
        stop = threading.Event()
        prober = threading.Thread(target=_probe, args=(url, keys, stop, out))
        env = {**os.environ, "SAUTI_WORKSPACE": str(workspace)}
        started = time.perf_counter()
        ingest = subprocess.Popen(
            [sys.executable, "-c", INGEST, mode, str(csv_path)], env=env, stdout=subprocess.PIPE, text=True
        )
        prober.start()
        stdout, _ = ingest.communicate()
        ingest_s = time.perf_counter() - started
        time.sleep(3)  # and just after it (the first reads of the new data)
        stop.set()
        prober.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "mode": mode,
        "ingest_wall_s": round(ingest_s, 1),
        "ingest": json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else None,
        "idle": before,
        "during_ingest": {k: _summary(out[k]) for k in ("read", "post")},
        "errors": {k: int(sum(out[k])) for k in ("read_errors", "post_errors")},
        "slowest_read_started_s": round(out["read_at"][out["read"].index(max(out["read"]))] - started, 1)
        if out["read"]
        else None,
        "load_avg": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, help="A demo workspace (default: build one).")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--modes", default=",".join(MODES), help="Comma-separated: " + ", ".join(MODES))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = args.workspace or build_workspace(folder)
        csv_path = folder / "incidents.csv"
        generate(csv_path, args.rows)
        results = [run_mode(mode, template, csv_path, folder) for mode in args.modes.split(",")]
    for result in results:
        print(json.dumps(result))
    print(f"\n{'mode':<16} {'ingest s':>8}  {'wait during ingest':<44} idle (p50 / max)")
    for r in results:
        d, i = r["during_ingest"], r["idle"]
        print(
            f"{r['mode']:<16} {r['ingest_wall_s']:>8}  "
            f"read p50 {d['read'].get('p50_s')} max {d['read'].get('max_s')}; "
            f"post p50 {d['post'].get('p50_s')} max {d['post'].get('max_s')}   "
            f"read {i['read'].get('p50_s')} / {i['read'].get('max_s')}, post {i['post'].get('p50_s')} / "
            f"{i['post'].get('max_s')}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
