"""Freshness over real HTTP: an accepted alert is counted at once and rescores the map by one
refresh of the service's nowcaster (on SQLite: the refresh's claim across workers is in
tests/test_api_workers_postgres.py)."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from live_server import copy_workspace

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _state(server):
    features = server.get("/api/v1/localities", "analyst").json()["features"]
    return {f["id"]: f["properties"] for f in features}


@pytest.fixture(scope="module")
def current_server(sqlite_server, sample_dir, tmp_path_factory):
    """A second server on a copy of the demo workspace whose incident log is declared current through
    today (the forecast period is this month), so a live alert lands in the cube and changes risk."""
    from datetime import UTC, datetime

    from live_server import start_server

    from sauti.ingest.incidents import ingest_incidents
    from sauti.models.refresh import refresh_risk
    from sauti.store import Workspace

    root = tmp_path_factory.mktemp("current") / "ws"
    copy_workspace(sqlite_server.workspace, root)
    ws = Workspace(root)
    today = datetime.now(UTC).date()
    events = sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson"
    ingest_incidents(ws, events, complete_through=today.isoformat())
    refresh_risk(ws, timezone="Africa/Bangui")
    current = start_server(root, sqlite_server.keys)
    yield current
    current.stop()


RESCORE_BUDGET_S = 5.0  # alert → rescored map, on an idle machine (README's target)


@pytest.mark.timeout(240)
def test_accepted_alert_reflected_within_five_seconds(current_server):
    """An accepted alert is counted within 5 s and rescores the map by one refresh.

    The count is cheap and must show within 5 s whatever the load. The rescore is timed by what
    the refresh itself costs — its CPU seconds (``nowcast.last.cpu_seconds``), which a busy machine
    does not inflate — against the 5 s budget; wall-clock time from post to new scores is held to
    the budget only on an idle machine (load below the cores), and to a 60 s bound always, so a
    slow refresh fails here either way while a loaded CI machine (6.6-7.9 s seen at load 12-19)
    does not."""
    live = current_server
    health = live.get("/api/v1/health").json()
    deadline = time.monotonic() + 60
    while "warm_seconds" not in health["nowcast"] and time.monotonic() < deadline:  # warm-up first
        time.sleep(0.2)
        health = live.get("/api/v1/health").json()
    deadline = time.monotonic() + 60
    while health["nowcast"]["running"] and time.monotonic() < deadline:  # let earlier refreshes finish
        time.sleep(0.2)
        health = live.get("/api/v1/health").json()
    # the warm-up's feature graph is in the service's own caches (app.state.caches), not a module's
    assert health["caches"].get("features.cube", 0) > 0, health
    before = _state(live)
    runs = health["nowcast"]["runs"]
    surface = live.workspace / "rasters" / "risk_surface.tif"
    drawn = surface.stat().st_mtime_ns
    idle = os.getloadavg()[0] < (os.cpu_count() or 1)
    posted = time.monotonic()
    reply = (
        live.client("reporter")
        .post(
            "/api/v1/alerts",
            json={"text": f"Affrontements intercommunautaires à Bambari {uuid.uuid4().hex[:6]}"},
        )
        .json()
    )
    assert reply["status"] == "accepted"
    target = next(i for i, p in before.items() if p["name"].lower() == "bambari")
    seen_count = seen_rescore = None
    while time.monotonic() - posted < 60:
        now = _state(live)
        if seen_count is None and now[target]["alerts_total"] == before[target]["alerts_total"] + 1:
            seen_count = time.monotonic() - posted
        health = live.get("/api/v1/health").json()["nowcast"]
        if health["runs"] > runs and not health["running"]:
            assert health["last_error"] is None, health
            if now[target]["scored_at"] != before[target]["scored_at"]:
                seen_rescore = time.monotonic() - posted
                break
        time.sleep(0.25)
    assert seen_count is not None, "alert count not reflected within 60 s"
    assert seen_count < 5, f"alert count reflected after {seen_count:.1f} s"
    assert seen_rescore is not None, f"risk not rescored within 60 s: {health}"
    last = health["last"]
    # the heatmap was redrawn with the new scores by the same refresh
    assert last["heatmap"] is True, health
    assert last["changed"] is True, health
    # drivers were recomputed only where the alert changed the features (its unit and around it)
    assert target in last["localities"], health
    assert len(last["localities"]) < len(before), health
    assert surface.stat().st_mtime_ns != drawn
    print(
        f"alert → rescored in {seen_rescore:.2f} s (refresh {last['seconds']} s wall,"
        f" {last['cpu_seconds']} s CPU; load {os.getloadavg()[0]:.1f})"
    )
    assert last["cpu_seconds"] < RESCORE_BUDGET_S, f"the refresh itself costs {last['cpu_seconds']} s of CPU"
    if idle:
        assert seen_rescore < RESCORE_BUDGET_S, f"risk rescored after {seen_rescore:.1f} s on an idle machine"
