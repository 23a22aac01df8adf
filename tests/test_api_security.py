"""Keys stored hashed, session tokens, the role table, log redaction and redaction of alerts."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from sauti.api import security
from sauti.api.app import RedactKeysFilter, redact_url
from sauti.api.deps import parse_bbox, parse_datetime
from sauti.api.errors import InvalidInput
from sauti.api.services import accounts, redaction
from sauti.errors import NotFoundError, SautiError
from sauti.store import Workspace


@pytest.fixture
def store(tmp_path, store_url) -> Workspace:
    """An empty workspace on each back-end: its SQLite file, or a fresh PostgreSQL database (users,
    revocations, sessions and the audit log are SQL the API owns: services/accounts.py)."""
    return Workspace(tmp_path / "ws", store_url)


def test_key_is_stored_only_as_its_hash(workspace):
    principal, key = security.create_user(workspace, "amina", "analyst")
    raw = workspace.db_path.read_bytes() + b"".join(
        p.read_bytes() for p in workspace.root.glob("sauti.sqlite-wal")
    )
    assert key.encode() not in raw
    assert security.hash_key(key).encode() in raw
    assert security.authenticate_key(workspace, key) == principal
    assert security.authenticate_key(workspace, key + "x") is None
    assert security.authenticate_key(workspace, "") is None
    listed = security.list_users(workspace)
    assert [u["name"] for u in listed] == ["amina"]
    assert "key_hash" not in listed[0]


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [
        ("x", "superuser", "unknown role"),
        ("  ", "admin", "must not be empty"),
        ("amina", "admin", "already exists"),
    ],
    ids=["unknown-role", "empty-name", "duplicate-name"],
)
def test_create_user_refuses_bad_input(store, name, role, message):
    security.create_user(store, "amina", "planner")
    with pytest.raises(ValueError, match=message):
        security.create_user(store, name, role)


def test_revoked_user_cannot_authenticate_and_the_revocation_is_audited(store):
    admin, _ = security.create_user(store, "root", "admin")
    paul, key = security.create_user(store, "paul", "planner")
    token = security.issue_session_token(store, paul)
    marker = accounts.revocation_marker(store)
    security.revoke_user(store, "paul", by=admin, resource="/api/v1/users/paul")
    assert security.authenticate_key(store, key) is None
    assert security.authenticate_session(store, token) is None
    assert accounts.revocation_marker(store) != marker
    (row,) = security.audit_entries(store)
    assert (row["user_name"], row["action"], row["detail"]) == (
        "root",
        "revoke_user",
        {"user": "paul", "via": "api"},
    )
    with pytest.raises(NotFoundError):  # already revoked
        security.revoke_user(store, "paul", by=admin, resource="/api/v1/users/paul")


def test_session_token_round_trip_tamper_and_expiry(store):
    principal, _ = security.create_user(store, "amina", "planner")
    token = security.issue_session_token(store, principal)
    assert security.authenticate_session(store, token) == principal
    body, signature = token.rsplit(".", 1)
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    assert security.authenticate_session(store, forged) is None
    expired = security.issue_session_token(store, principal, ttl_s=-1)
    assert security.authenticate_session(store, expired) is None
    other = type(store)(store.root.parent / "other")
    assert security.authenticate_session(other, token) is None  # another store's secret


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        ("reporter", {"alerts:write"}, {"risk:read", "map:read", "alerts:aggregate", "alerts:detail"}),
        (
            "planner",
            {"risk:read", "map:read", "patrols:read", "alerts:aggregate"},
            {"alerts:detail", "alerts:write"},
        ),
        (
            "researcher",
            {"risk:read", "incidents:read", "map:read", "alerts:aggregate", "backtests:read"},
            {"alerts:detail", "alerts:write", "alerts:verify", "patrols:read", "users:admin"},
        ),
        ("analyst", {"alerts:detail", "alerts:verify", "risk:read", "backtests:read"}, {"users:admin"}),
        ("admin", {"users:admin", "alerts:detail", "backtests:read"}, set()),
    ],
    ids=["reporter", "planner", "researcher", "analyst", "admin"],
)
def test_role_table(role, allowed, denied):
    principal = security.Principal(1, "x", role)
    assert all(principal.can(p) for p in allowed)
    assert not any(principal.can(p) for p in denied)


def test_audit_rows(store):
    principal, _ = security.create_user(store, "amina", "analyst")
    security.audit(store, principal, "read_alert_details", "/api/v1/localities/CF11", alert_ids=["a1", "a2"])
    (row,) = security.audit_entries(store)
    assert (row["user_name"], row["action"], row["detail"]) == (
        "amina",
        "read_alert_details",
        {"alert_ids": ["a1", "a2"]},
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/map?key=sk_abc-123", "/map?key=***"),
        ("/map?x=1&key=sk_abc&y=2", "/map?x=1&key=***&y=2"),
        ("/tiles/1/2/3.png?token=t0k", "/tiles/1/2/3.png?token=***"),
        ("/api/v1/localities?admin1=CF61", "/api/v1/localities?admin1=CF61"),
    ],
    ids=["only-key", "key-between", "token", "no-key"],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/alerts/+23672114495", "/api/v1/alerts/[phone]"),
        ("/api/v1/alerts/%2B23672114495", "/api/v1/alerts/[phone]"),
        ("/api/v1/alerts/72%2011%2044%2055?key=sk_x", "/api/v1/alerts/[phone]?key=***"),
        ("/api/v1/localities/CF4112", "/api/v1/localities/CF4112"),
        ("/tiles/12/2345/1987.png", "/tiles/12/2345/1987.png"),
    ],
    ids=["plus", "encoded-plus", "encoded-spaces-and-key", "p-code", "tile-address"],
)
def test_access_log_paths_are_decoded_and_scrubbed(path, expected):
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "PATCH", path, "1.1", 404), None,
    )  # fmt: skip
    RedactKeysFilter().filter(record)
    assert f"PATCH {expected} HTTP" in record.getMessage()


def test_access_log_filter_rewrites_uvicorn_args():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/map?key=sk_secret", "1.1", 303), None,
    )  # fmt: skip
    RedactKeysFilter().filter(record)
    assert "sk_secret" not in record.getMessage()
    assert "/map?key=***" in record.getMessage()


def test_alert_redaction_is_an_allow_list():
    row = {
        "alert_id": "a1", "received_at": pd.Timestamp("2022-01-02T03:04:05Z"), "reporter_ref": "rep_x",
        "longitude": 20.123456, "latitude": 5.654321, "text": "t", "category": "attack", "channel": "sms",
        "place_name": "Bria", "locality_id": "CF1", "locality_confidence": 0.9,
        "location_source": "gazetteer", "verification": "verified", "severity": 3,
        "future_sensitive_column": "secret",
    }  # fmt: skip
    detail = redaction.alert_detail(row)
    assert set(detail) == set(redaction.ALERT_DETAIL_FIELDS)
    assert detail["received_at"] == "2022-01-02T03:04:05Z"
    counts = redaction.alert_counts(pd.DataFrame([row, {**row, "verification": "false_alarm"}]))
    assert counts["count"] == 2
    assert counts["by_verification"]["false_alarm"] == 1
    assert sum(counts["by_category"].values()) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20,5,21,6", (20.0, 5.0, 21.0, 6.0)), ("20,5,0,21,6,100", (20.0, 5.0, 21.0, 6.0)), (None, None)],
    ids=["2d", "3d-drops-heights", "absent"],
)
def test_parse_bbox(text, expected):
    assert parse_bbox(text) == expected


@pytest.mark.parametrize(
    "text", ["a,b,c,d", "1,2,3", "5,5,4,4", "nan,1,2,3"], ids=["words", "three", "inverted", "nan"]
)
def test_parse_bbox_rejects(text):
    with pytest.raises(InvalidInput):
        parse_bbox(text)


def test_parse_datetime_forms():
    start, end = parse_datetime("2020-01-01/..")
    assert start.isoformat() == "2020-01-01T00:00:00+00:00"
    assert end is None
    day_start, day_end = parse_datetime("2020-03-04")
    assert (day_end - day_start).total_seconds() == pytest.approx(86400, abs=1e-3)
    with pytest.raises(InvalidInput):
        parse_datetime("2021-01-01/2020-01-01")


DAY = "2022-01-01T00:00:00+00:00"
DAY_END = "2022-01-01T23:59:59.999999+00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-01-01T/..", (DAY, None)),  # what GDAL sends for occurred_on >= '2022-01-01'
        ("../2022-01-01T", (None, DAY_END)),  # ... and for <= (the end date included)
        ("/2022-01-01", (None, DAY_END)),  # an empty side is open too
        ("2022-01-01/", (DAY, None)),
        ("2022-01-01", (DAY, DAY_END)),  # a date alone is the whole day
        ("2022-01-01T00:00:00Z", (DAY, DAY)),
        ("2022-01-01t00:00:00z", (DAY, DAY)),
        ("2022-01-01T01:00:00+01:00", ("2022-01-01T01:00:00+01:00", "2022-01-01T01:00:00+01:00")),
        ("2021-12-31T00:00:00Z/2022-01-01", ("2021-12-31T00:00:00+00:00", DAY_END)),
        ("../..", (None, None)),
    ],
    ids=["gdal-open-end", "gdal-open-start", "empty-start", "empty-end", "date", "utc", "lowercase",
         "offset", "interval", "both-open"],
)  # fmt: skip
def test_parse_datetime_accepts_what_gdal_and_qgis_send(text, expected):
    got = parse_datetime(text)
    assert tuple(None if v is None else v.isoformat() for v in got) == expected


@pytest.mark.parametrize(
    "text",
    ["1500-01-01", "2022-01-01/2300-01-01", "0001-01-01T00:00:00Z", "yesterday", "2022-13-01",
     "2022-01-01/2022-02-01/2022-03-01", "+23675000001"],
    ids=["before-1678", "after-2262", "year-1", "words", "month-13", "two-slashes", "phone"],
)  # fmt: skip
def test_parse_datetime_refuses_without_echoing(text):
    with pytest.raises(InvalidInput) as caught:
        parse_datetime(text)
    assert text not in str(caught.value)
    assert caught.value.errors[0]["field"] == "datetime"


def test_parse_datetime_refuses_an_open_end_alone():
    with pytest.raises(InvalidInput, match="open end"):
        parse_datetime("..")


def test_parse_bbox_does_not_echo_a_huge_value():
    text = ",".join(["1.0000001"] * 6000)  # ~60 KB
    with pytest.raises(InvalidInput) as caught:
        parse_bbox(text)
    assert len(str(caught.value)) < 200


def test_users_cli_prints_the_key_once_and_lists_without_it(workspace, capsys):
    from sauti.cli import main

    assert main(["--workspace", str(workspace.root), "users", "add", "amina", "--role", "planner"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk_")
    assert security.authenticate_key(workspace, key).role == "planner"
    assert main(["--workspace", str(workspace.root), "users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "amina" in listing
    assert listing.splitlines()[0].split() == ["NAME", "ROLE", "KEY", "CREATED", "STATE"]
    assert "planner" in listing
    assert key not in listing
    assert main(["--workspace", str(workspace.root), "users", "add", "x", "--role", "boss"]) == 2
    assert "unknown role" in capsys.readouterr().err


def test_the_last_admin_cannot_be_revoked_not_even_by_itself(workspace):
    """Nobody could add users or revoke keys after it: refused until another admin exists."""
    root, _ = security.create_user(workspace, "root", "admin")
    with pytest.raises(SautiError, match="the last active admin cannot be revoked"):
        security.revoke_user(workspace, "root", by=root, resource="/api/v1/users/root")
    assert security.audit_entries(workspace) == []  # nothing done, nothing audited
    deputy, _ = security.create_user(workspace, "deputy", "admin")
    security.revoke_user(workspace, "root", by=deputy, resource="/api/v1/users/root")
    with pytest.raises(SautiError, match="last active admin"):
        security.revoke_user(workspace, "deputy", by=deputy, resource="/api/v1/users/deputy")
