"""Alerts posted to the service: outcomes per record, run records and rejects, verification decisions,
and alert ids that are keys (an id written as a phone number is stored keyed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from sauti.errors import NotFoundError
from sauti.ingest.alerts import set_verification, submit_alerts
from sauti.store import Workspace

PHONE = "+236 72 12 34 56"
NAME = "Jean-Paul Ngakoutou"


@pytest.fixture
def ws(car_workspace: Workspace) -> Workspace:
    """The CAR boundaries workspace the submissions are stored in."""
    return car_workspace


def test_submit_alerts_outcomes_and_run_record(ws: Workspace) -> None:
    sms = {"from": PHONE, "text": "Hommes armés à Kaga Bandoro", "received_at": "2022-05-01T08:00:00Z"}
    records = [
        sms,
        {"text": "bad", "severity": 9, "reporter_name": NAME},
        dict(sms),
        {"text": "Tension à Ndele", "category": "tension"},  # no date: received now; no channel: app
    ]
    outcomes = submit_alerts(ws, records, source="web")
    assert [o.status for o in outcomes] == ["accepted", "rejected", "duplicate", "accepted"]
    assert [o.row for o in outcomes] == [1, 2, 3, 4]
    assert outcomes[0].alert_id == outcomes[2].alert_id
    assert (outcomes[0].locality_id, outcomes[0].locality_name) == ("CF4211", "Kaga-Bandoro")
    assert outcomes[1].errors == [{"field": "severity", "reason": "out of range 1-5"}]
    assert outcomes[1].alert_id is None
    stored = ws.alerts().set_index("alert_id")
    assert stored.loc[outcomes[0].alert_id, "channel"] == "sms"
    assert stored.loc[outcomes[3].alert_id, "channel"] == "app"
    age = datetime.now(UTC) - stored.loc[outcomes[3].alert_id, "received_at"].to_pydatetime()
    assert timedelta(0) <= age < timedelta(minutes=5)
    run = ws.runs().iloc[-1]
    assert (run["kind"], run["path"], run["status"]) == ("alerts", "api:web", "ok")
    assert (run["rows_read"], run["accepted"], run["rejected"], run["duplicates"]) == (4, 2, 1, 1)
    assert "12 34 56" not in Path(run["rejects_file"]).read_text(encoding="utf-8")


def test_submit_alerts_reports_every_error_of_a_record(ws: Workspace) -> None:
    (outcome,) = submit_alerts(
        ws, [{"received_at": "not a date", "channel": "pigeon", "severity": 0, "text": "x"}]
    )
    assert outcome.status == "rejected"
    assert {e["field"] for e in outcome.errors} == {"received_at", "channel", "severity"}


def test_set_verification(ws: Workspace) -> None:
    (outcome,) = submit_alerts(ws, [{"text": "Attaque à Bria", "received_at": "2022-01-01T10:00:00Z"}])
    result = set_verification(ws, outcome.alert_id, "fausse alerte")
    assert result["verification"] == "false_alarm"
    assert "reporter_ref" not in result
    assert "latitude" not in result
    assert ws.alerts().set_index("alert_id").loc[outcome.alert_id, "verification"] == "false_alarm"
    assert set_verification(ws, outcome.alert_id, "verified")["verification"] == "verified"
    with pytest.raises(NotFoundError):
        set_verification(ws, "al_nope", "verified")
    with pytest.raises(ValueError, match="verification must be one of"):
        set_verification(ws, outcome.alert_id, "maybe")


def test_verification_by_the_id_as_written_finds_its_keyed_form_and_an_unknown_id_is_not_repeated(
    ws: Workspace,
) -> None:
    record = {"alert_id": "sms-23672114465", "text": "Attaque à Bria", "received_at": "2022-01-01T10:00:00Z"}
    (outcome,) = submit_alerts(ws, [record])
    assert outcome.alert_id.startswith("id_")
    result = set_verification(ws, "sms-23672114465", "verified")
    assert (result["alert_id"], result["verification"]) == (outcome.alert_id, "verified")
    with pytest.raises(NotFoundError) as caught:
        set_verification(ws, "+23672114495", "verified")
    assert str(caught.value) == "no alert with this id"


def test_verification_decisions_are_kept_with_time_and_author(ws: Workspace) -> None:
    (outcome,) = submit_alerts(ws, [{"text": "Attaque à Bria", "received_at": "2022-01-01T10:00:00Z"}])
    assert ws.alert_verifications().empty  # unverified on arrival: no decision yet
    set_verification(ws, outcome.alert_id, "verified", decided_by="analyst-1", source="api")
    set_verification(ws, outcome.alert_id, "false_alarm", decided_by="analyst-2", source="api")
    with ws.session() as con:
        made = [tuple(r) for r in con.execute(
            "SELECT verification, decided_by, source FROM alert_verifications "
            "WHERE alert_id = ? ORDER BY rowid",
            (outcome.alert_id,),
        )]  # fmt: skip
    assert made == [("verified", "analyst-1", "api"), ("false_alarm", "analyst-2", "api")]
    assert ws.alerts().set_index("alert_id").loc[outcome.alert_id, "verification"] == "false_alarm"


@pytest.mark.parametrize(
    ("given", "keyed"),
    [
        ("+236 72 99 88 77", True),  # someone else's number written as an id
        ("(236) 72.99.88.77", True),
        ("72-99-88-77", True),
        ("99120001", False),  # a gateway's numeric id
        ("2021-03-04-0001", False),  # a dated id
        ("a1b2c3d4-1234-5678-9abc-def012345678", False),  # a KoboToolbox uuid
        ("sms-23672114465", True),  # a number in E.164 digits behind a prefix
        ("0023672114466", True),  # the 00 international prefix
        ("tel:+23672114467", True),
        ("msisdn-72114468", True),  # a label and a local number
        ("sms-99120001", False),  # a gateway counter behind a prefix
        ("2021030400001", False),  # 13 digits that are no country's number
        ("1234567890123456", False),  # a 16-digit KoboToolbox id: longer than any E.164 number
        ("secours.bambari@gmail.com", True),  # an e-mail address as an id
    ],
    ids=[
        "intl-spaced",
        "parentheses-dots",
        "local-dashes",
        "gateway-counter",
        "dated",
        "uuid",
        "prefix-e164",
        "00-prefix",
        "tel-plus",
        "label-local",
        "prefixed-counter",
        "long-counter",
        "kobo-16-digits",
        "email",
    ],
)
def test_an_alert_id_written_as_a_phone_number_is_keyed(ws: Workspace, given: str, keyed: bool) -> None:
    """An id written as a phone number, whoever's it is, would be served by the API as it is: it is
    stored as its keyed pseudonym instead; other ids stay as written, and both are stable keys."""
    record = {"alert_id": given, "text": "calme", "received_at": "2021-03-05"}
    (first,) = submit_alerts(ws, [record])
    (again,) = submit_alerts(ws, [record])
    assert first.status == "accepted"
    assert (again.status, again.alert_id) == ("duplicate", first.alert_id)
    assert first.alert_id.startswith("id_") is keyed
    if keyed:
        assert "99 88" not in first.alert_id
        assert "9988" not in first.alert_id
    else:
        assert first.alert_id == given


def test_api_submission_leaves_a_run_record_and_rejects_file_only_when_it_rejects(ws: Workspace) -> None:
    runs_before = len(ws.runs())
    files_before = set((ws.root / "rejects").glob("*")) if (ws.root / "rejects").exists() else set()
    good = {"text": "Tension à Ndele", "received_at": "2022-05-01T08:00:00Z"}
    for k in range(5):
        (outcome,) = submit_alerts(ws, [{**good, "alert_id": f"ok-{k}"}])
        assert outcome.status == "accepted"
    assert len(ws.runs()) == runs_before  # nothing but the alerts
    assert set((ws.root / "rejects").glob("*")) == files_before
    stored = ws.alerts().set_index("alert_id")
    assert stored.loc["ok-0", "run_id"] is None or pd.isna(stored.loc["ok-0", "run_id"])
    outcomes = submit_alerts(ws, [{**good, "alert_id": "ok-9"}, {**good, "severity": 9}])
    assert [o.status for o in outcomes] == ["accepted", "rejected"]
    run = ws.runs().iloc[-1]
    assert len(ws.runs()) == runs_before + 1
    assert (run["rows_read"], run["accepted"], run["rejected"], run["status"]) == (2, 1, 1, "ok")
    assert len(pd.read_csv(run["rejects_file"])) == 1


def test_reports_that_differ_only_in_where_or_how_are_distinct_alerts(ws: Workspace) -> None:
    """No id, no time: the same text for two localities, or by two channels, is not a duplicate."""
    base = {"text": "Affrontements entre éleveurs et agriculteurs", "received_at": "2022-05-01T08:00:00Z"}
    records = [
        {**base, "locality_id": "CF4211"},
        {**base, "locality_id": "CF4311"},
        {**base, "locality_id": "CF4311", "channel": "sms"},
        {**base, "locality_id": "CF4311", "channel": "sms"},  # a true retry: every field matches
    ]
    outcomes = submit_alerts(ws, records, source="web")
    assert [o.status for o in outcomes] == ["accepted", "accepted", "accepted", "duplicate"]
    assert len({o.alert_id for o in outcomes[:3]}) == 3
    assert outcomes[3].alert_id == outcomes[2].alert_id
    assert len(ws.alerts()) == 3
