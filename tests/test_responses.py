"""Responses (issue 19) in the store: patrol-report files, checks, scrubbing, idempotency, the summary."""

from __future__ import annotations

import json
import subprocess

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point
from store_rows import with_squares, write_lines

from sauti import db
from sauti.errors import InvalidInputError, NotFoundError
from sauti.features.responses import response_summary
from sauti.ingest.alerts import ingest_alerts
from sauti.ingest.responses import (
    ingest_responses,
    list_responses,
    response_frames,
    submit_responses,
    update_response,
)
from sauti.models.patrol import evaluate_plan_visits, plan_patrols
from sauti.store import Workspace

ALERTS = [
    "alert_id,received_at,telephone,nom,message,categorie,latitude,longitude",
    "a1,2024-03-01T08:00:00Z,+236 75 69 51 79,,Tension ici,tension intercommunautaire,5.5,20.5",
    "a2,2024-03-01T09:00:00Z,+236 75 69 51 80,,Hommes armés,mouvement de groupe armé,5.5,21.5",
    "a3,2024-03-01T10:00:00Z,,Jean-Baptiste Ngaba,Menaces,tension intercommunautaire,5.5,22.5",
]


@pytest.fixture
def response_workspace(tmp_path, store_url, three_squares):
    """Three squares and three alerts in a store on SQLite or on a real PostgreSQL server."""
    workspace = with_squares(Workspace(tmp_path / "ws", store_url), three_squares, tmp_path)
    alerts = write_lines(tmp_path, "alerts.csv", ALERTS)
    assert ingest_alerts(workspace, alerts, timezone="UTC").accepted == 3
    return workspace


def _store_text(workspace: Workspace) -> str:
    """Every row of the store as text: SQLite's dump, or ``pg_dump --data-only`` on PostgreSQL."""
    if workspace.backend == db.POSTGRESQL:
        done = subprocess.run(
            ["pg_dump", "--data-only", db.libpq_url(workspace.database_url)],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return done.stdout
    with workspace.session() as con:
        return "\n".join(con.iterdump())


def test_three_patrol_reports_one_arriving_before_dispatch(response_workspace, tmp_path):
    path = write_lines(
        tmp_path,
        "patrols.csv",
        [
            "response_id,action,alert_ids,unit,dispatched_at,arrived_at,outcome,notes",
            "r1,patrol,a1,BANBAT 1,2024-03-01T08:30:00Z,2024-03-01T09:40:00Z,calm,Chief met",
            "r2,patrol,a2;a3,BANBAT 2,2024-03-01T10:15:00Z,2024-03-01T11:00:00Z,tension,",
            "r3,patrol,a1,BANBAT 3,2024-03-01T12:00:00Z,2024-03-01T11:00:00Z,calm,",
        ],
    )
    report = ingest_responses(response_workspace, path, timezone="UTC")
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (3, 2, 1, 0)
    rejects = pd.read_csv(report.rejects_file)
    assert rejects[["row", "field", "reason"]].values.tolist() == [
        [4, "arrived_at", "arrival before dispatch"]
    ]  # line 4 (header is line 1)
    stored = {r["response_id"]: r for r in list_responses(response_workspace)}
    assert sorted(stored) == ["r1", "r2"]
    assert stored["r2"]["alert_ids"] == ["a2", "a3"]
    assert stored["r2"]["locality_id"] == "B"  # the first linked alert's locality
    # the same file again: nothing new
    again = ingest_responses(response_workspace, path, timezone="UTC")
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 1)


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"action": "patrol", "alert_ids": "a1", "dispatched_at": "2024-03-01T07:00:00Z"}, "dispatched_at",
         "dispatch before the alert was received"),
        ({"action": "fly", "alert_ids": "a1"}, "action",
         "not one of patrol, engagement, message, other, none"),
        ({"action": "none", "alert_ids": "a1"}, "notes", None),
        ({"action": "patrol", "alert_ids": "zz"}, "alert_ids", "1 of 1 alert ids are not stored alerts"),
        ({"action": "patrol", "locality_id": "Q"}, "locality_id", "not a stored locality"),
        ({"action": "patrol"}, "locality_id", None),
        ({"action": "patrol", "alert_ids": "a1", "outcome": "fine"}, "outcome", None),
        ({"action": "patrol", "alert_ids": "a1", "casualties": "-2"}, "casualties", None),
        ({"action": "patrol", "alert_ids": "a1", "decided_at": "2024-03-01T09:00:00Z",
          "dispatched_at": "2024-03-01T08:30:00Z"}, "dispatched_at", "dispatch before decision"),
        ({"action": "patrol", "alert_ids": "a1", "arrived_at": "yesterday"}, "arrived_at", None),
    ],
    ids=["before-alert", "action", "none-without-notes", "unknown-alert", "unknown-locality", "no-place",
         "outcome", "casualties", "dispatch-before-decision", "bad-time"],
)  # fmt: skip
def test_a_bad_response_is_rejected_with_its_field(response_workspace, record, field, reason):
    (outcome,) = submit_responses(response_workspace, [record], timezone="UTC")
    assert outcome.status == "rejected"
    assert outcome.errors[0]["field"] == field
    if reason:
        assert outcome.errors[0]["reason"] == reason
    assert list_responses(response_workspace) == []


def test_notes_are_scrubbed_of_phone_numbers_and_reporter_names(response_workspace):
    (outcome,) = submit_responses(
        response_workspace,
        [{"response_id": "r9", "action": "engagement", "alert_ids": ["a3"],
          "notes": "Met Ngaba, call him on +236 75 11 22 33 or 72112233"}],
        timezone="UTC",
    )  # fmt: skip
    assert outcome.status == "accepted"
    (stored,) = list_responses(response_workspace)
    assert stored["notes"] == "Met [name], call him on [phone] or [phone]"
    dump = _store_text(response_workspace)
    for secret in ("75 11 22 33", "72112233", "Ngaba, call"):
        assert secret not in dump


def test_the_same_response_id_stores_nothing_new_and_a_patch_adds_times(response_workspace):
    record = {
        "response_id": "p1",
        "action": "patrol",
        "alert_ids": "a1",
        "dispatched_at": "2024-03-01T08:20:00Z",
    }
    first = submit_responses(response_workspace, [record], recorded_by="ana", timezone="UTC")
    second = submit_responses(response_workspace, [{**record, "notes": "other"}], timezone="UTC")
    assert (first[0].status, second[0].status) == ("accepted", "duplicate")
    assert second[0].response_id == "p1"
    assert len(list_responses(response_workspace)) == 1
    updated, changed = update_response(
        response_workspace, "p1", {"arrived_at": "2024-03-01T09:05:00Z", "outcome": "calm"}, timezone="UTC"
    )
    assert changed == ["arrived_at", "outcome"]
    assert (updated["arrived_at"], updated["outcome"]) == ("2024-03-01T09:05:00Z", "calm")
    with pytest.raises(InvalidInputError) as bad:
        update_response(response_workspace, "p1", {"completed_at": "2024-03-01T09:00:00Z"}, timezone="UTC")
    assert bad.value.errors == [{"field": "completed_at", "reason": "completion before arrival"}]
    with pytest.raises(NotFoundError):
        update_response(response_workspace, "nope", {"outcome": "calm"})


def test_summary_counts_answered_alerts_and_minutes(response_workspace):
    submit_responses(
        response_workspace,
        [
            {"action": "patrol", "alert_ids": "a1", "dispatched_at": "2024-03-01T08:30:00Z",
             "arrived_at": "2024-03-01T09:30:00Z"},
            {"action": "patrol", "alert_ids": "a2;a3", "dispatched_at": "2024-03-01T11:00:00Z"},
            {"action": "none", "alert_ids": "a3", "notes": "road cut"},
        ],
        timezone="UTC",
    )  # fmt: skip
    responses, links = response_frames(response_workspace)
    alerts = response_workspace.alerts()
    localities = response_workspace.localities()
    summary = response_summary(alerts, responses, links, localities, start="2024-03-01", end="2024-03-01")
    assert (summary["alerts"], summary["alerts_with_response"]) == (3, 3)
    # dispatch: a1 30 min, a2 120 min, a3 60 min → median 60; arrival only a1: 90
    assert summary["minutes_alert_to_dispatch"] == {"median": 60.0, "p90": 108.0, "n": 3}
    assert summary["minutes_alert_to_arrival"] == {"median": 90.0, "p90": 90.0, "n": 1}
    regions = {r["admin1_name"]: (r["alerts"], r["alerts_with_response"]) for r in summary["by_admin1"]}
    assert regions == {"Region One": (2, 2), "Region Two": (1, 1)}
    assert response_summary(alerts, responses, links, localities, start="2024-03-02")["alerts"] == 0
    json.dumps(summary)  # plain JSON


def test_an_empty_response_is_rejected_not_an_error(response_workspace):
    """A body with no field at all (a gateway's empty post) is a reject naming the missing field;
    the rejects file shows it as an empty record (it raised a ValueError: a 500 to the client)."""
    (outcome,) = submit_responses(response_workspace, [{}], timezone="UTC")
    assert outcome.status == "rejected"
    assert outcome.errors[0]["field"] == "action"
    assert list_responses(response_workspace) == []


def _plan_for_b_and_c(workspace: Workspace) -> pd.DataFrame:
    """A real plan on the three squares: one base between B and C with two patrols → targets B and C."""
    localities = workspace.localities()
    risk = pd.DataFrame({"locality_id": ["A", "B", "C"], "probability": [0.1, 0.5, 0.4]})
    bases = gpd.GeoDataFrame(
        {"name": ["Base Bêta"], "patrols": [2], "range_km": [150.0]},
        geometry=[Point(22.0, 5.5)],
        crs="EPSG:4326",
    )
    plan = plan_patrols(localities, risk, bases)
    targets = pd.DataFrame(plan.to_records())
    assert sorted(targets["locality_id"]) == ["B", "C"]
    return targets


def test_a_plan_is_evaluated_from_the_recorded_patrol_visits(response_workspace):
    """Only patrols that arrived in the plan's period count as visits: B twice (two units), C never
    (an engagement, a patrol without an arrival and one arriving after the period), A off the plan."""
    submit_responses(
        response_workspace,
        [
            {"response_id": "v1", "action": "patrol", "locality_id": "B", "unit": "BANBAT 2",
             "dispatched_at": "2024-03-03T07:00:00Z", "arrived_at": "2024-03-03T09:30:00Z"},
            {"response_id": "v2", "action": "patrol", "locality_id": "B", "unit": "BANBAT 1",
             "arrived_at": "2024-03-02T15:00:00Z", "outcome": "calm"},
            {"response_id": "v3", "action": "engagement", "locality_id": "C", "unit": "CIMIC",
             "arrived_at": "2024-03-02T10:00:00Z"},
            {"response_id": "v4", "action": "patrol", "locality_id": "C",
             "dispatched_at": "2024-03-04T08:00:00Z"},
            {"response_id": "v5", "action": "patrol", "locality_id": "C",
             "arrived_at": "2024-03-08T00:30:00Z"},
            {"response_id": "v6", "action": "patrol", "locality_id": "A", "unit": "BANBAT 3",
             "arrived_at": "2024-03-05T11:00:00Z"},
        ],
        timezone="UTC",
    )  # fmt: skip
    targets = _plan_for_b_and_c(response_workspace)
    responses, _links = response_frames(response_workspace)
    incidents = pd.DataFrame(
        {"occurred_on": ["2024-03-02", "2024-03-06", "2024-03-04", "2024-03-09"],
         "locality_id": ["B", "B", "C", "C"]}
    )  # fmt: skip
    result = evaluate_plan_visits(targets, responses, ("2024-03-01", "2024-03-07"), incidents=incidents)
    assert result["source"] == "recorded visits"
    assert (result["targets"], result["visited"], result["share"]) == (2, 1, 0.5)
    assert (result["recorded_visits"], result["off_plan_visits"]) == (3, 1)
    rows = {r["locality_id"]: r for r in result["rows"]}
    assert rows["B"]["visited"] is True
    assert rows["B"]["first_arrival"] == "2024-03-02T15:00Z"
    assert rows["B"]["units"] == ["BANBAT 1", "BANBAT 2"]
    assert (rows["C"]["visited"], rows["C"]["first_arrival"], rows["C"]["units"]) == (False, None, [])
    assert result["risk_planned"] == pytest.approx(0.9)
    assert result["risk_covered"] == pytest.approx(0.5)
    # three incidents in the period (the one on 9 March is after it): two where patrols went
    assert (result["incidents"], result["incidents_covered"]) == (3, 2)
    assert (result["hit_rate"], result["hit_rate_as_drawn"]) == (pytest.approx(0.667), 1.0)


def test_without_recorded_visits_the_plan_counts_as_drawn_and_says_so(response_workspace):
    submit_responses(
        response_workspace,
        [
            {
                "response_id": "late",
                "action": "patrol",
                "locality_id": "B",
                "arrived_at": "2024-04-02T09:00:00Z",
            }
        ],
        timezone="UTC",
    )
    targets = _plan_for_b_and_c(response_workspace)
    responses, _links = response_frames(response_workspace)
    result = evaluate_plan_visits(targets, responses, ("2024-03-01", "2024-03-07"))
    assert result["source"] == "plan as drawn"
    assert (result["targets"], result["visited"], result["recorded_visits"]) == (2, 2, 0)
    assert [r["visited"] for r in result["rows"]] == [None, None]  # assumed, not observed
    with pytest.raises(ValueError, match="after it ends"):
        evaluate_plan_visits(targets, responses, ("2024-03-07", "2024-03-01"))


def test_every_action_and_outcome_has_plain_words():
    from sauti.features.glossary import ACTION_WORDS, OUTCOME_WORDS
    from sauti.ingest.responses.check import RESPONSE_ACTIONS, RESPONSE_OUTCOMES

    assert tuple(ACTION_WORDS) == RESPONSE_ACTIONS
    assert tuple(OUTCOME_WORDS) == RESPONSE_OUTCOMES
    for words in (*ACTION_WORDS.values(), *OUTCOME_WORDS.values()):
        assert "_" not in words
