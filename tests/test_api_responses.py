"""The early-response loop against a served sample workspace (issue 19, done-when): alerts posted,
patrols recorded by a planner and an analyst, the day's summary exact, idempotent ids, roles, and
no phone number in any reply — served from SQLite and from a real PostgreSQL server (item 7)."""

from __future__ import annotations

import uuid

import pytest
from live_server import add_users, copy_workspace, start_server
from postgres_fixtures import TEMPLATE, _admin

from sauti.store import Workspace
from sauti.store_admin import copy_store

pytestmark = [pytest.mark.server, pytest.mark.slow]

DAY = "2024-06-15"  # no sample alert falls on it
PHONE = "+236 75 44 33 21"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, sample_workspace_template, tmp_path_factory):
    """The sample workspace served from its SQLite store, or with its store copied into a fresh
    PostgreSQL database (the SQLite file removed, so every read and write goes to the server)."""
    workspace = copy_workspace(sample_workspace_template, tmp_path_factory.mktemp("responses") / "ws")
    keys = add_users(workspace, prefix="resp")
    env, database = {}, None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        database = f"sauti_t_{uuid.uuid4().hex[:12]}"
        _admin(server, f"CREATE DATABASE {database} TEMPLATE {TEMPLATE}")
        url = server.rsplit("/", 1)[0] + "/" + database
        copy_store(Workspace(workspace), Workspace(workspace, url))
        (workspace / "sauti.sqlite").unlink()
        env = {"SAUTI_DATABASE_URL": url}
    live = start_server(workspace, keys, extra_env=env)
    yield live
    live.stop()
    if database:
        _admin(server, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture(scope="module")
def posted(served):
    """Four alerts received on DAY at 06:00, 07:00, 08:00 and 09:00 UTC, placed by a locality id."""
    locality = served.get("/api/v1/localities?limit=1", "analyst").json()["features"][0]["id"]
    ids = []
    with served.client("reporter") as client:
        for hour in (6, 7, 8, 9):
            reply = client.post(
                "/api/v1/alerts",
                json={
                    "received_at": f"{DAY}T{hour:02d}:00:00Z",
                    "category": "intercommunal_tension",
                    "text": f"Tension au marché, heure {hour}",
                    "locality_id": locality,
                },
            )
            assert reply.status_code == 201, reply.text
            ids.append(reply.json()["alert_id"])
    return ids


def test_the_loop_summary_is_exact(served, posted):
    # the planner patrols the first alert: dispatched after 45 min, there after 2 h
    planner = {
        "response_id": "plan-patrol-1",
        "action": "patrol",
        "alert_ids": [posted[0]],
        "unit": "BANBAT 1 Coy",
        "dispatched_at": f"{DAY}T06:45:00Z",
        "arrived_at": f"{DAY}T08:00:00Z",
        "outcome": "calm",
        "notes": f"Chef de quartier joignable au {PHONE}",
    }
    # the analyst records a patrol for the second: 15 min to dispatch, 40 min to arrival
    analyst = {
        "response_id": "ana-patrol-2",
        "action": "patrol",
        "alert_ids": [posted[1]],
        "dispatched_at": f"{DAY}T07:15:00Z",
        "arrived_at": f"{DAY}T07:40:00Z",
    }
    with served.client("planner") as client:
        first = client.post("/api/v1/responses", json=planner)
    with served.client("analyst") as client:
        second = client.post("/api/v1/responses", json=analyst)
    assert (first.status_code, first.json()["response_id"]) == (201, "plan-patrol-1"), first.text
    assert (second.status_code, second.json()["response_id"]) == (201, "ana-patrol-2"), second.text

    summary = served.get(f"/api/v1/responses/summary?start={DAY}&end={DAY}", "planner").json()
    assert summary["alerts"] == 4
    assert summary["alerts_with_response"] == 2
    assert summary["share_with_response"] == 0.5
    # dispatch: 45 and 15 min → median 30; arrival: 120 and 40 min → median 80
    assert summary["minutes_alert_to_dispatch"]["median"] == 30.0
    assert summary["minutes_alert_to_dispatch"]["n"] == 2
    assert summary["minutes_alert_to_arrival"]["median"] == 80.0
    assert summary["minutes_alert_to_arrival"]["n"] == 2
    (category,) = summary["by_category"]
    assert (category["category"], category["alerts"], category["alerts_with_response"]) == (
        "intercommunal_tension",
        4,
        2,
    )
    assert sum(region["alerts"] for region in summary["by_admin1"]) == 4

    # the same response_id again stores nothing new
    with served.client("planner") as client:
        again = client.post("/api/v1/responses", json={**planner, "notes": "changed"})
    assert (again.status_code, again.json()["response_id"]) == (200, "plan-patrol-1")
    listed = served.get(f"/api/v1/responses?start={DAY}&end={DAY}", "analyst").json()["responses"]
    assert sorted(r["response_id"] for r in listed) == ["ana-patrol-2", "plan-patrol-1"]
    stored = next(r for r in listed if r["response_id"] == "plan-patrol-1")
    assert stored["notes"] == "Chef de quartier joignable au [phone]"
    assert stored["alert_ids"] == [posted[0]]
    # planners never see alert text through responses
    for reply in (
        served.get(f"/api/v1/responses?alert_id={posted[0]}", "planner"),
        served.get(f"/api/v1/responses/summary?start={DAY}&end={DAY}", "planner"),
    ):
        assert reply.status_code == 200
        assert "Tension au march" not in reply.text
        assert "44 33 21" not in reply.text


def test_a_reporter_gets_403_and_nobody_anonymous(served, posted):
    body = {"action": "patrol", "alert_ids": [posted[2]]}
    with served.client("reporter") as client:
        assert client.post("/api/v1/responses", json=body).status_code == 403
        assert client.get("/api/v1/responses").status_code == 403
        assert client.get("/api/v1/responses/summary").status_code == 403
    with served.client() as client:
        assert client.post("/api/v1/responses", json=body).status_code == 401


def test_a_patch_adds_arrival_audited_and_a_bad_one_names_the_field(served, posted):
    with served.client("analyst") as client:
        made = client.post(
            "/api/v1/responses",
            json={"response_id": "late-1", "action": "engagement", "alert_ids": [posted[3]],
                  "dispatched_at": f"{DAY}T09:30:00Z"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        bad = client.patch("/api/v1/responses/late-1", json={"arrived_at": f"{DAY}T09:10:00Z"})
        assert bad.status_code == 422
        assert bad.json()["errors"] == [{"field": "arrived_at", "reason": "arrival before dispatch"}]
        good = client.patch(
            "/api/v1/responses/late-1",
            json={"arrived_at": f"{DAY}T10:00:00Z", "outcome": "tension", "notes": f"call {PHONE}"},
        )
        assert good.status_code == 200, good.text
        assert (good.json()["arrived_at"], good.json()["outcome"]) == (f"{DAY}T10:00:00Z", "tension")
        assert "44 33 21" not in good.text
        assert client.patch("/api/v1/responses/nope", json={"outcome": "calm"}).status_code == 404
        missing = client.patch("/api/v1/responses/+23672114495", json={"outcome": "calm"})
        assert missing.status_code == 404
        assert "72114495" not in missing.text  # an unknown id is not echoed: it may be a phone number
        before = client.post("/api/v1/responses", json={"action": "patrol", "alert_ids": [posted[3]],
                                                        "dispatched_at": f"{DAY}T08:00:00Z"})  # fmt: skip
        assert before.status_code == 422
        assert before.json()["errors"][0] == {
            "field": "dispatched_at",
            "reason": "dispatch before the alert was received",
        }
    audit = served.get("/api/v1/audit?limit=50", "admin").json()
    entries = audit if isinstance(audit, list) else audit.get("entries", [])
    assert any(e.get("action") == "change_response" and "late-1" in e.get("resource", "") for e in entries)


def test_responses_come_a_page_at_a_time_in_a_stable_order(served, posted):
    with served.client("analyst") as client:
        for hour in (10, 11, 12):
            made = client.post(
                "/api/v1/responses",
                json={"response_id": f"page-{hour}", "action": "message", "alert_ids": [posted[2]],
                      "decided_at": f"{DAY}T{hour}:00:00Z"},
            )  # fmt: skip
            assert made.status_code in (200, 201), made.text
        everything = client.get("/api/v1/responses", params={"limit": 5000})
        assert everything.status_code == 200
        assert everything.json()["next"] is None
        expected = [r["response_id"] for r in everything.json()["responses"]]
        assert len(expected) >= 3
        seen, path = [], "/api/v1/responses?limit=2"
        while path:
            page = client.get(path).json()
            assert set(page) == {"responses", "next"}
            assert len(page["responses"]) <= 2
            seen.extend(r["response_id"] for r in page["responses"])
            path = page["next"]
        assert seen == expected  # every response once, in the same order
        # the filters travel with the next page
        day = client.get("/api/v1/responses", params={"start": DAY, "end": DAY, "limit": 1}).json()
        assert day["next"] == f"/api/v1/responses?start={DAY}&end={DAY}&limit=1&offset=1"
        last = client.get("/api/v1/responses", params={"start": DAY, "end": DAY, "limit": 1, "offset": 10**6})
        assert last.json() == {"responses": [], "next": None}
        for bad in ({"limit": 0}, {"limit": 5001}, {"offset": -1}):
            assert client.get("/api/v1/responses", params=bad).status_code == 422, bad
