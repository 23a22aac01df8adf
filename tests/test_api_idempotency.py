"""Idempotency-Key under concurrency, against a real uvicorn process: 20 SMS-gateway clients that
abort and retry with the same key (no alert id, no time: what a gateway retrying sends).

Every retry of a key must get the first answer (same ``alert_id``), never "200 duplicate", and
every alert must be stored exactly once: 0 lost, 0 duplicated.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from live_server import sauti, start_server

from sauti.ingest.boundaries import ingest_boundaries
from sauti.store import Workspace

pytestmark = [pytest.mark.server, pytest.mark.slow]
CLIENTS = 20


@pytest.fixture(scope="module")
def reporter_server(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path):
    """A server on a small workspace (CAR boundaries, no model) with one reporter key."""
    root = tmp_path_factory.mktemp("idem") / "ws"
    ingest_boundaries(Workspace(root), sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    done = sauti("users", "add", "gateway", "--role", "reporter", "--json", workspace=root)
    assert done.returncode == 0, done.stderr
    server = start_server(root, {"reporter": json.loads(done.stdout)["key"]})
    yield server
    server.stop()


def _post(server, key: str, text: str, timeout: float) -> httpx.Response | None:
    headers = {"Authorization": f"Bearer {server.keys['reporter']}", "Idempotency-Key": key}
    body = {"from": "+236 75 12 34 98", "text": text}  # SMS-gateway shape, no id, no time
    try:
        return httpx.post(f"{server.url}/api/v1/alerts", json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:  # the client gave up: the request may or may not have been stored
        return None


def test_concurrent_same_key_retries_store_each_alert_once(reporter_server) -> None:
    # letters only: a hex id with 7+ digits in a row reads as a phone number and is scrubbed from the text
    run = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    answers: dict[int, list[httpx.Response]] = {k: [] for k in range(CLIENTS)}
    lock = threading.Lock()

    def client(k: int) -> None:
        key, text = f"{run}-{k}", f"Tension au marché, message {run} numéro {k}"
        _post(reporter_server, key, text, timeout=0.01)  # aborted almost at once
        pair = []

        def retry() -> None:
            response = _post(reporter_server, key, text, timeout=60)
            with lock:
                pair.append(response)

        threads = [threading.Thread(target=retry) for _ in range(2)]  # two overlapping retries
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        answers[k] = pair

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    ids = {}
    for k, pair in answers.items():
        assert all(r is not None for r in pair), f"client {k}: a retry got no answer"
        bodies = [r.json() for r in pair]
        assert [r.status_code for r in pair] == [201, 201], (k, bodies, reporter_server.log_tail())
        assert {b["status"] for b in bodies} == {"accepted"}, (k, bodies)  # never "duplicate"
        assert bodies[0]["alert_id"] == bodies[1]["alert_id"]
        assert sorted(r.headers.get("Idempotent-Replayed", "false") for r in pair) in (
            ["false", "true"],
            ["true", "true"],  # the aborted first request had already been answered
        )
        ids[k] = bodies[0]["alert_id"]
    with sqlite3.connect(reporter_server.workspace / "sauti.sqlite") as con:
        stored = con.execute("SELECT alert_id, text FROM alerts WHERE text LIKE ?", (f"%{run}%",)).fetchall()
    assert len(stored) == CLIENTS  # 0 lost, 0 duplicated
    by_text = {text: alert_id for alert_id, text in stored}
    for k, alert_id in ids.items():
        assert by_text[f"Tension au marché, message {run} numéro {k}"] == alert_id


def test_the_same_key_with_another_body_is_refused(reporter_server) -> None:
    key = uuid.uuid4().hex
    first = _post(reporter_server, key, "Calme à Bria", timeout=60)
    assert first.status_code == 201
    other = _post(reporter_server, key, "Calme à Ndélé", timeout=60)
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
