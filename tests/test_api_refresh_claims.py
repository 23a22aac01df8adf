"""The refresh claim in the store (services/refresh_claims.py), on both back-ends: a request is
covered by a refresh claimed after it and finished; a failed refresh covers nothing; turns are
exclusive. The four-worker server is in tests/test_api_workers_postgres.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sauti.api.services.refresh_claims import (
    claim_refresh,
    finish_refresh,
    latest_refresh,
    refresh_runs,
    refresh_turn,
)
from sauti.store import Workspace


def test_a_refresh_claimed_after_a_request_covers_it(tmp_path: Path, store_url: str | None) -> None:
    ws = Workspace(tmp_path / "ws", store_url)
    early = latest_refresh(ws)  # a request whose alerts were stored before any refresh
    assert early == 0
    with refresh_turn(ws):
        first = claim_refresh(ws, early)
    assert first is not None
    assert first.data_stamp  # the store's data stamp it started from
    late = latest_refresh(ws)  # a request stored while the first refresh runs: not covered by it
    assert late == first.refresh_id
    finish_refresh(ws, first, ok=True)
    with refresh_turn(ws):
        assert claim_refresh(ws, early) is None  # the first refresh read its alerts: skip
        second = claim_refresh(ws, late)
    assert second is not None
    assert second.refresh_id > first.refresh_id
    finish_refresh(ws, second, ok=False)
    with refresh_turn(ws):  # a failed refresh covers nothing: the request is refreshed again
        third = claim_refresh(ws, late)
    assert third is not None
    finish_refresh(ws, third, ok=True)
    with refresh_turn(ws):
        assert claim_refresh(ws, late) is None
    runs = refresh_runs(ws)
    assert [r["status"] for r in runs] == ["ok", "failed", "ok"]
    assert all(r["finished_at"] and ":" in r["worker"] for r in runs)


def test_turns_are_exclusive(tmp_path: Path, store_url: str | None) -> None:
    """While one holder refreshes, another waits for its turn (a file lock with SQLite, an
    advisory lock with PostgreSQL: both held per connection or open file, so threads show it)."""
    ws = Workspace(tmp_path / "ws", store_url)
    latest_refresh(ws)  # the store exists
    events: list[str] = []
    holding = threading.Event()

    def first() -> None:
        with refresh_turn(ws):
            events.append("first in")
            holding.set()
            time.sleep(1.0)
            events.append("first out")

    def second() -> None:
        holding.wait(30)
        with refresh_turn(ws):
            events.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert events == ["first in", "first out", "second in"]
