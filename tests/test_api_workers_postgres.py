"""Many processes, one truth: ``sauti serve --workers 4`` on one PostgreSQL store, 20 SMS-gateway
clients each sending 10 alerts twice at once with the same Idempotency-Key. Every alert is stored
exactly once, both sends of a pair get the same ``alert_id``, and no request fails (no 5xx)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import httpx
import pytest
from live_server import start_server

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
