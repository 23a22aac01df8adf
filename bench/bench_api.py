"""Load the live Sauti server from a second process: p50/p99 latency and requests/s.

Starts ``uvicorn`` on a demo workspace (built with ``sauti demo --no-serve`` unless ``--workspace``
is given), then drives it with ``wrk`` (Debian package) or, when wrk is absent, a Python load
generator (threads over keep-alive httpx clients) in a separate process. Four scenarios:

* ``tile``: XYZ heatmap tiles cycling over every tile covering the country at zooms 6-8;
* ``localities``: ``GET /api/v1/localities`` (the whole sample, admin2);
* ``locality``: ``GET /api/v1/localities/{id}`` over 20 localities (what a map click opens);
* ``health``: ``GET /api/v1/health``.

Targets on the 2-core machine: tile p99 < 50 ms and ≥ 300 tiles/s; /localities and one locality
p99 < 100 ms. Then the freshness of the nowcast, on a copy whose incident log is declared current
(an alert after the incident coverage changes no score): seconds from posting an alert to the
rescored risk (target 5 s), on admin2 and, with ``--grid``, on a grid:10km workspace of 6,517 cells.

    .venv/bin/python bench/bench_api.py [--workspace WS] [--quick] [--grid] [--duration 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "tile": {"p99_ms": 50, "rps": 300},
    "localities": {"p99_ms": 100},
    "locality": {"p99_ms": 100},
    "health": {},
}

WRK_SCRIPT = """
paths = {%(paths)s}
i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer %(key)s"})
end
done = function(summary, latency, requests)
  io.write(string.format('\\nRESULT {"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f, '
    .. '"errors": %%d, "non_2xx": %%d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def locality_paths(workspace: Path, n: int = 20) -> list[str]:
    """``/api/v1/localities/{id}`` of ``n`` scored localities (the detail a map click opens)."""
    import sqlite3

    con = sqlite3.connect(workspace / "sauti.sqlite")
    try:
        ids = [r[0] for r in con.execute("SELECT DISTINCT locality_id FROM risk_scores LIMIT ?", (n,))]
    finally:
        con.close()
    return [f"/api/v1/localities/{i}" for i in ids]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tile_paths(workspace: Path, zooms: range) -> list[str]:
    """Every XYZ tile touching the risk surface's extent at ``zooms``."""
    import morecantile
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(workspace / "rasters" / "risk_surface.tif") as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    tms = morecantile.tms.get("WebMercatorQuad")
    return [f"/tiles/{t.z}/{t.x}/{t.y}.png" for t in tms.tiles(west, south, east, north, zooms=list(zooms))]


def _python_load(url: str, key: str, paths: list[str], seconds: float, connections: int, out) -> None:
    """Runs in its own process: ``connections`` threads, each a keep-alive client, for ``seconds``."""
    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        local, bad = [], 0
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            i = offset
            while time.perf_counter() < stop:
                start = time.perf_counter()
                response = client.get(paths[i % len(paths)])
                local.append(time.perf_counter() - start)
                bad += response.status_code >= 300
                i += connections
        with lock:
            latencies.extend(local)
            errors[0] += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    out.put(
        {
            "requests": len(latencies),
            "seconds": elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "errors": 0,
            "non_2xx": errors[0],
        }
    )


def run_scenario(url: str, key: str, paths: list[str], seconds: float, connections: int) -> dict:
    """One load run from a second process; wrk when installed."""
    wrk = shutil.which("wrk")
    if wrk:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths), "key": key})
            script = fh.name
        try:
            done = subprocess.run(
                [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", script, url],
                capture_output=True, text=True, timeout=seconds + 60,
            )  # fmt: skip
        finally:
            os.unlink(script)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        line = lines[0]
        result = json.loads(line[len("RESULT ") :])
        result["tool"] = "wrk"
    else:
        queue: mp.Queue = mp.Queue()
        process = mp.Process(target=_python_load, args=(url, key, paths, seconds, connections, queue))
        process.start()
        result = queue.get(timeout=seconds + 120)
        process.join()
        result["tool"] = "python-threads"
    result["rps"] = result["requests"] / result["seconds"]
    return result


def _idle(client, timeout: float = 600) -> None:
    """Wait until the nowcast worker has warmed up and has nothing running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get("/api/v1/health").json().get("nowcast") or {}
        if "warm_seconds" in state and not state.get("running"):
            return
        time.sleep(0.25)


def measure_freshness(url: str, key: str, rounds: int) -> list[float]:
    """Seconds from posting an alert (naming Bambari, received now) to rescored risk (``/version``).

    The workspace's incident log must be declared current (:func:`declare_current`): an alert
    after the incident coverage is not in the forecast period and changes no score.
    """
    import uuid

    import httpx

    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:

        def latest() -> str:
            return str(client.get("/api/v1/version").json()["scored_at"])

        for _ in range(rounds):
            _idle(client)  # one alert at a time: the cube write after the previous rescore is done
            before = latest()
            start = time.monotonic()
            reply = client.post(
                "/api/v1/alerts", json={"text": f"Affrontements à Bambari {uuid.uuid4().hex[:6]}"}
            )
            reply.raise_for_status()
            while latest() == before and time.monotonic() - start < 300:
                time.sleep(0.1)
            out.append(time.monotonic() - start)
    return out


def declare_current(workspace: Path, unit: str = "admin2", train_sample: int = 5) -> None:
    """Declare the sample incident log current through today and rescore (the forecast period is
    this month); for a grid, build its cube and train the model on every ``train_sample``-th cell
    of the last 120 periods (training on all 6,517 cells × 377 months needs > 10 GB)."""
    from datetime import UTC, datetime

    from sauti.features import compute_features
    from sauti.ingest.incidents import ingest_incidents
    from sauti.models import train
    from sauti.models.refresh import refresh_risk
    from sauti.store import Workspace

    ws = Workspace(workspace)
    events = ROOT / "data" / "sample" / "events" / "ucdp_ged_v23_1_CAF.geojson"
    ingest_incidents(ws, events, complete_through=datetime.now(UTC).date().isoformat())
    population = ROOT / "data" / "sample" / "population" / "worldpop2020_density_caf.tif"
    cube = compute_features(ws, unit=unit, population=population, timezone="Africa/Bangui")
    if unit != "admin2":
        train(
            ws, unit=unit, cube=cube.isel(locality=slice(None, None, train_sample), period=slice(-120, None))
        )
    refresh_risk(ws, unit=unit, cube=cube)


def freshness_on_copy(workspace: Path, folder: Path, unit: str, rounds: int, workers: int) -> dict:
    """Copy the demo workspace, declare its log current (``unit``), serve it, time alert → rescored."""
    from sauti.api.security import create_user
    from sauti.store import Workspace

    copy = folder / f"current-{unit.replace(':', '')}"
    shutil.copytree(workspace, copy)
    started = time.perf_counter()
    declare_current(copy, unit)
    setup = time.perf_counter() - started
    _, key = create_user(Workspace(copy), f"bench-fresh-{os.getpid()}", "analyst")
    process, url = start_server(copy, workers)
    try:
        seconds = measure_freshness(url, key, rounds)
    finally:
        process.terminate()
        process.wait(30)
    return {"unit": unit, "seconds": seconds, "median_s": statistics.median(seconds), "setup_s": setup}


def build_workspace(folder: Path) -> Path:
    workspace = folder / "ws"
    env = {**os.environ, "SAUTI_WORKSPACE": str(workspace)}
    print(f"building the demo workspace in {workspace} (sauti demo --no-serve)…", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "sauti.cli", "demo", "--no-serve"], env=env, check=True)
    return workspace


def start_server(workspace: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "SAUTI_WORKSPACE": str(workspace)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "sauti.api.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--workers", str(workers), "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(1500):  # up, and the nowcast warm-up (imports + one cube rebuild) finished
        try:
            health = httpx.get(url + "/api/v1/health", timeout=2)
            if health.status_code == 200 and "warm_seconds" in (health.json().get("nowcast") or {}):
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, help="A demo workspace (default: build one in a temp dir).")
    parser.add_argument("--quick", action="store_true", help="3-second runs instead of 10.")
    parser.add_argument("--duration", type=float, default=None, help="Seconds per scenario.")
    parser.add_argument("--connections", type=int, default=8, help="Concurrent keep-alive connections.")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    parser.add_argument(
        "--grid",
        action="store_true",
        help="Also time alert → rescored on a grid:10km workspace (6,517 cells).",
    )
    args = parser.parse_args(argv)
    seconds = args.duration or (3.0 if args.quick else 10.0)

    temp = Path(tempfile.mkdtemp(prefix="sauti-bench-api-"))
    try:
        workspace = args.workspace or build_workspace(temp)
        from sauti.api.security import create_user
        from sauti.store import Workspace

        _, key = create_user(Workspace(workspace), f"bench-{os.getpid()}-{int(time.time())}", "analyst")
        process, url = start_server(workspace, args.workers)
        try:
            scenarios = {
                "tile": tile_paths(workspace, range(6, 9)),
                "localities": ["/api/v1/localities"],
                "locality": locality_paths(workspace),
                "health": ["/api/v1/health"],
            }
            results = {}
            for name, paths in scenarios.items():
                import httpx

                with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
                    cold = []
                    for path in paths[:200]:  # first requests: opens the dataset, renders uncached tiles
                        start = time.perf_counter()
                        client.get(path).raise_for_status()
                        cold.append(1000 * (time.perf_counter() - start))
                results[name] = run_scenario(url, key, paths, seconds, args.connections)
                results[name]["distinct_paths"] = len(paths)
                results[name]["cold_median_ms"] = statistics.median(cold)
        finally:
            process.terminate()
            process.wait(10)
        rounds = 2 if args.quick else 3
        freshness = [freshness_on_copy(workspace, temp, "admin2", rounds, args.workers)]
        if args.grid:
            freshness.append(freshness_on_copy(workspace, temp, "grid:10km", rounds, args.workers))
    finally:
        shutil.rmtree(temp, ignore_errors=True)

    tool = results["tile"]["tool"]
    print(f"\nSauti API load ({tool}, {args.connections} connections, {seconds:.0f} s each, "
          f"{args.workers} uvicorn worker(s), {os.cpu_count()} cores)")  # fmt: skip
    print(f"{'scenario':<12}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'non-2xx':>9}{'cold ms':>9}  target")
    verdicts = []
    for name, r in results.items():
        target = TARGETS[name]
        ok = r["p99_ms"] < target.get("p99_ms", float("inf")) and r["rps"] >= target.get("rps", 0)
        goal = ", ".join(f"{k} {'<' if k.startswith('p') else '≥'} {v}" for k, v in target.items()) or "-"
        verdicts.append(ok)
        print(f"{name:<12}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['rps']:>9.0f}{r['non_2xx']:>9d}"
              f"{r['cold_median_ms']:>9.1f}  {goal} {'met' if ok else 'MISSED'}")  # fmt: skip
    for fresh in freshness:
        print(
            f"freshness ({fresh['unit']}): alert posted → risk rescored in "
            + ", ".join(f"{s:.2f}" for s in fresh["seconds"])
            + f" s, median {fresh['median_s']:.2f} s (target 5 s) "
            + ("met" if fresh["median_s"] < 5 else "MISSED")
        )
    if args.json:
        args.json.write_text(json.dumps({**results, "freshness_s": freshness}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
