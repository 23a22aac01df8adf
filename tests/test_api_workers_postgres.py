"""Many processes, one truth: ``sauti serve --workers 4`` on one PostgreSQL store.

20 SMS-gateway clients each sending 10 alerts twice at once with the same Idempotency-Key: every
alert is stored exactly once, both sends of a pair get the same ``alert_id``, and no request fails
(no 5xx). The refresh after alerts runs once per data change across the four workers, not once
per worker that took an alert."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from live_server import add_users, copy_workspace_to_postgres, start_server

from sauti.api.services.accounts import add_user
from sauti.ingest.boundaries import ingest_boundaries
from sauti.store import Workspace

pytestmark = [pytest.mark.server, pytest.mark.slow]
CLIENTS, ALERTS = 20, 10


@pytest.fixture
def workers_server(tmp_path: Path, postgres_url: str, sample_dir: Path):
    root = tmp_path / "ws"
    workspace = Workspace(root, postgres_url)
    ingest_boundaries(workspace, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    _, key = add_user(workspace, "gateway", "reporter")
    server = start_server(
        root,
        {"reporter": key},
        extra_env={"SAUTI_DATABASE_URL": postgres_url},
        via_cli=True,
        extra_args=("--workers", "4"),
        startup_s=300,  # four processes importing the service on a busy machine
    )
    yield server, workspace
    server.stop()


def test_four_workers_store_each_alert_once(workers_server) -> None:
    server, workspace = workers_server
    run = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))  # no digit runs
    headers = {"Authorization": f"Bearer {server.keys['reporter']}"}
    answers: dict[tuple[int, int], list[httpx.Response]] = {}
    lock = threading.Lock()

    def send(k: int, i: int, client: httpx.Client) -> None:
        text = f"Tension au marché {run} client {k} alerte {i}"
        body = {"from": f"+236 75 00 {k:02d} {i:02d}", "text": text}
        response = client.post(
            "/api/v1/alerts", json=body, headers={**headers, "Idempotency-Key": f"{run}-{k}-{i}"}
        )
        with lock:
            answers.setdefault((k, i), []).append(response)

    def gateway(k: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for i in range(ALERTS):
                pair = [threading.Thread(target=send, args=(k, i, client)) for _ in range(2)]
                for t in pair:
                    t.start()
                for t in pair:
                    t.join()

    threads = [threading.Thread(target=gateway, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(answers) == CLIENTS * ALERTS
    for key, pair in answers.items():
        assert [r.status_code for r in pair] == [201, 201], (key, [r.text for r in pair], server.log_tail())
        assert pair[0].json()["alert_id"] == pair[1].json()["alert_id"], key
    with workspace.session() as con:
        stored = con.execute("SELECT COUNT(*) FROM alerts WHERE text LIKE ?", (f"%{run}%",)).fetchone()[0]
    assert stored == CLIENTS * ALERTS
    assert not (workspace.root / "sauti.sqlite").exists()


@pytest.fixture
def sample_workers_server(tmp_path: Path, postgres_url: str, sample_workspace_template: Path):
    """The sample workspace (a trained model, scores) on PostgreSQL, served by four workers."""
    root = copy_workspace_to_postgres(sample_workspace_template, tmp_path / "ws", postgres_url)
    keys = add_users(root, database_url=postgres_url)
    server = start_server(
        root,
        keys,
        extra_env={"SAUTI_DATABASE_URL": postgres_url},
        via_cli=True,
        extra_args=("--workers", "4"),
        startup_s=300,
    )
    yield server, Workspace(root, postgres_url), postgres_url
    server.stop()


def _refreshes(workspace: Workspace) -> list[dict]:
    from sauti.api.services.refresh_claims import refresh_runs

    return refresh_runs(workspace)


def _settled(workspace: Workspace, url: str, count: int, timeout_s: float = 600) -> list[dict]:
    """The refresh rows once ``count`` have finished, none runs and no worker waits for its turn
    (checked twice, two seconds apart)."""
    from sauti.api.services.refresh_claims import LOCK_NAME

    deadline, quiet = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        runs = _refreshes(workspace)
        with psycopg.connect(url) as con:
            waiting = con.execute(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()[0]
        finished = [r for r in runs if r["status"] != "running"]
        quiet = quiet + 1 if len(finished) >= count and len(finished) == len(runs) and not waiting else 0
        if quiet >= 2:
            return runs
        time.sleep(2)
    pytest.fail(f"refreshes did not settle within {timeout_s} s: {_refreshes(workspace)} ({LOCK_NAME})")


def _post(server, text: str, sender: int) -> httpx.Response:
    with server.client("reporter") as client:
        return client.post("/api/v1/alerts", json={"from": f"+236 75 11 22 {sender:02d}", "text": text})


def test_a_refresh_after_alerts_runs_once_across_four_workers(sample_workers_server) -> None:
    """Eight alerts posted at once land on several workers, each of which asks for a refresh; the
    test holds the store's refresh lock meanwhile so every request is queued. Once released, ONE
    refresh runs (it reads all eight) and the other workers skip it. Then one alert at a time gets
    one refresh each: a refresh per data change, never one per worker."""
    from sauti.api.services.refresh_claims import LOCK_NAME

    server, workspace, url = sample_workers_server
    run = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    before = len(_refreshes(workspace))
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (LOCK_NAME,))
        answers: list[httpx.Response] = []
        posts = [
            threading.Thread(target=lambda i=i: answers.append(_post(server, f"Tension {run} marché {i}", i)))
            for i in range(8)
        ]
        for t in posts:
            t.start()
        for t in posts:
            t.join()
        assert sorted(r.status_code for r in answers) == [201] * 8, [r.text for r in answers]
        time.sleep(3)  # the workers' refresh threads reach the lock
        assert _refreshes(workspace)[before:] == []  # nobody refreshed while the lock was held
    burst = _settled(workspace, url, before + 1)[before:]
    assert [r["status"] for r in burst] == ["ok"], burst

    for i in range(3):  # one at a time: one refresh each
        assert _post(server, f"Tension {run} route {i}", 50 + i).status_code == 201
        runs = _settled(workspace, url, before + 2 + i)
        assert len(runs) == before + 2 + i, runs
    ours = _refreshes(workspace)[before:]
    assert [r["status"] for r in ours] == ["ok"] * 4
    assert len({r["data_stamp"] for r in ours}) == 4  # four data changes, four refreshes
    assert "nowcast refresh failed" not in server.log.read_text(errors="replace")
