"""Checking one response record: vocabularies, times in order and after the alerts, the linked
alerts and locality known, free text scrubbed like alert text (issue 19). Files, service posts and
later changes all go through :func:`check_response`; :mod:`~sauti.ingest.responses.records` stores.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sauti.constants import LOCALITY_ID
from sauti.ingest.alerts.fields import FUTURE_TOLERANCE, parse_received_at
from sauti.ingest.alerts.prepare import AlertContext, scrub_free_text
from sauti.ingest.tabular import MAX_FIELD_CHARS
from sauti.privacy import find_phone_numbers

log = logging.getLogger(__name__)

RESPONSE_ACTIONS = ("patrol", "engagement", "message", "other", "none")
"""What was done; ``none``: decided not to act (``notes`` say why)."""
RESPONSE_OUTCOMES = ("calm", "tension", "violence", "unreachable", "unknown")
RESPONSE_TIMES = ("decided_at", "dispatched_at", "arrived_at", "completed_at")
"""In the order they happen; each may be unknown (null) until reported."""
RESPONSE_TEXT_FIELDS = ("unit", "notes", "plan_entry")
RESPONSE_FIELDS = (
    "response_id",
    "action",
    "alert_ids",
    LOCALITY_ID,
    *RESPONSE_TEXT_FIELDS,
    *RESPONSE_TIMES,
    "outcome",
    "casualties",
)
CHANGEABLE_FIELDS = ("unit", "notes", "plan_entry", *RESPONSE_TIMES, "outcome", "casualties")
"""What ``PATCH`` may add or correct later (the action, alerts and locality stay as recorded)."""
RESPONSE_COLUMNS = (
    "response_id",
    "action",
    LOCALITY_ID,
    "plan_entry",
    "unit",
    *RESPONSE_TIMES,
    "outcome",
    "casualties",
    "notes",
    "recorded_by",
    "source",
    "synthetic",
    "created_at",
    "updated_at",
)
ALERT_ID_SEPARATOR = ";"
MAX_KEY_CHARS = 200
MAX_ALERTS_PER_RESPONSE = 500


# words a patrol report may use (French and English), folded to the vocabulary
_ACTION_WORDS = {
    "patrouille": "patrol",
    "dialogue": "engagement",
    "rencontre": "engagement",
    "meeting": "engagement",
    "message": "message",
    "warning": "message",
    "alerte": "message",
    "autre": "other",
    "aucune": "none",
    "aucun": "none",
    "no action": "none",
}
_OUTCOME_WORDS = {
    "calme": "calm",
    "tendu": "tension",
    "inaccessible": "unreachable",
    "inconnu": "unknown",
    "": "unknown",
}
_FIELD_ALIASES = {"alert_id": "alert_ids", "alerts": "alert_ids", "locality": LOCALITY_ID, "notes_": "notes"}
_TIME_WORDS = {
    "decided_at": "decision",
    "dispatched_at": "dispatch",
    "arrived_at": "arrival",
    "completed_at": "completion",
}


@dataclass
class ResponseOutcome:
    """What happened to one response sent in (``row``: its 1-based row in the file or batch)."""

    row: int
    status: str  # accepted | duplicate | rejected
    response_id: str | None = None
    locality_id: str | None = None
    errors: list[dict] = field(default_factory=list)


@dataclass
class CheckedResponse:
    """One record after :func:`check_response`: the storable row (or ``None``), its alerts and
    errors, and the scrubbed form a rejects file or a reply may show."""

    row: dict | None
    alert_ids: list[str]
    errors: list[dict]
    shown: dict


# --- reading a record -----------------------------------------------------------------------------
def field_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value).replace("\x00", "").strip()


def canonical_record(record: dict) -> dict[str, Any]:
    """The record's known fields under their canonical names (unknown ones dropped: never stored)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = str(key).strip().lower().replace(" ", "_")
        name = _FIELD_ALIASES.get(name, name)
        if name in RESPONSE_FIELDS and name not in out:
            out[name] = value
    return out


def alert_id_list(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else field_text(value).split(ALERT_ID_SEPARATOR)
    seen: dict[str, None] = {}
    for item in items:
        text = field_text(item)
        if text:
            seen.setdefault(text, None)
    return list(seen)


def _key_without_phone(value: str, secret: bytes) -> str:
    """A client key as given, unless it reads as a phone number: then a keyed pseudonym (as stable)."""
    if not find_phone_numbers(value):
        return value
    return "id_" + hmac.new(secret, ("response:" + value).encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def _derived_id(values: dict[str, Any], alert_ids: list[str]) -> str:
    """A stable key for a report without one: the same report sent twice is the same response."""
    content = json.dumps({**values, "alert_ids": sorted(alert_ids)}, sort_keys=True, default=str)
    return "resp_" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:20]


@dataclass
class ResponseLookups:
    """What checking needs from the store: the linked alerts' times and localities, known localities."""

    alerts: dict[str, tuple[pd.Timestamp, str | None]]
    localities: set[str]

    @classmethod
    def load(cls, con, alert_ids: Iterable[str], locality_ids: Iterable[str]) -> ResponseLookups:
        alerts: dict[str, tuple[pd.Timestamp, str | None]] = {}
        ids = sorted(set(alert_ids))
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join("?" * len(part))
            for alert_id, received, locality in con.execute(
                f"SELECT alert_id, received_at, locality_id FROM alerts WHERE alert_id IN ({marks})", part
            ):
                alerts[alert_id] = (pd.Timestamp(received).tz_convert("UTC"), locality)
        wanted = sorted(set(locality_ids))
        known: set[str] = set()
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ", ".join("?" * len(part))
            known |= {
                r[0]
                for r in con.execute(
                    f"SELECT locality_id FROM localities WHERE locality_id IN ({marks})", part
                )
            }
        return cls(alerts, known)


def parse_time(value: str, timezone: str) -> pd.Timestamp | None:
    parsed = parse_received_at(pd.Series([value], dtype=object), timezone).iloc[0]
    return None if pd.isna(parsed) else parsed


def parse_times(records: dict[Any, dict], timezone: str) -> dict[Any, dict[str, pd.Timestamp | None]]:
    """Every record's times parsed to UTC, one column at a time (vectorised): index → field → time."""
    index = list(records)
    out: dict[Any, dict[str, pd.Timestamp | None]] = {idx: {} for idx in index}
    for name in RESPONSE_TIMES:
        texts = pd.Series(
            [field_text(canonical_record(records[i]).get(name)) for i in index], index=index, dtype=object
        )
        values = parse_received_at(texts, timezone)
        for idx, value in zip(index, values, strict=True):
            out[idx][name] = None if pd.isna(value) else value
    return out


def check_response(
    record: dict,
    lookups: ResponseLookups,
    ctx: AlertContext,
    *,
    now: pd.Timestamp | None = None,
    parsed: dict[str, pd.Timestamp | None] | None = None,
) -> CheckedResponse:
    """Check one response record; return its storable row or every error (``[{field, reason}]``).

    Naive times are local times in ``ctx.timezone``. Free text is scrubbed before anything is
    kept or shown. ``parsed`` holds the record's times already parsed (a chunk parses each column
    at once: :func:`parse_times`); without it they are parsed here.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    values = canonical_record(record)
    errors: list[dict] = []

    def fail(name: str, reason: str) -> None:
        errors.append({"field": name, "reason": reason})

    text = {name: field_text(values.get(name)) for name in RESPONSE_FIELDS if name != "alert_ids"}
    for name in (*RESPONSE_TEXT_FIELDS,):  # scrubbed at the door: nothing raw is kept or shown
        text[name] = scrub_free_text(text[name], ctx) if text[name] else ""
    alert_ids = alert_id_list(values.get("alert_ids"))
    shown = {k: v for k, v in text.items() if v}
    if alert_ids:
        shown["alert_ids"] = ALERT_ID_SEPARATOR.join(alert_ids)[:MAX_FIELD_CHARS]
    for name, value in text.items():
        if len(value) > (MAX_FIELD_CHARS if name == "notes" else MAX_KEY_CHARS * 5):
            fail(name, f"longer than {MAX_FIELD_CHARS if name == 'notes' else MAX_KEY_CHARS * 5} characters")
            shown[name] = value[:200] + "…"

    action = text["action"].lower()
    action = _ACTION_WORDS.get(action, action)
    if not action:
        fail("action", f"missing (one of {', '.join(RESPONSE_ACTIONS)})")
    elif action not in RESPONSE_ACTIONS:
        fail("action", f"not one of {', '.join(RESPONSE_ACTIONS)}")
    if action == "none" and not text["notes"]:
        fail("notes", "a response with action 'none' must say in notes why no action was taken")
    outcome = text["outcome"].lower()
    outcome = _OUTCOME_WORDS.get(outcome, outcome)
    if outcome not in RESPONSE_OUTCOMES:
        fail("outcome", f"not one of {', '.join(RESPONSE_OUTCOMES)}")

    casualties = None
    if text["casualties"]:
        try:
            number = float(text["casualties"].replace(",", "."))
        except ValueError:
            number = -1.0
        if not (math.isfinite(number) and number >= 0 and number.is_integer() and number < 1e6):
            fail("casualties", "not a whole number of people (0 or more)")
        else:
            casualties = int(number)

    times: dict[str, pd.Timestamp | None] = {}
    for name in RESPONSE_TIMES:
        times[name] = None
        if not text[name]:
            continue
        value = parsed[name] if parsed is not None else parse_time(text[name], ctx.timezone)
        if value is None or pd.isna(value):
            fail(name, "not a date-time (use ISO 8601, e.g. 2024-03-01T14:30:00Z)")
        elif value > now + FUTURE_TOLERANCE:
            fail(name, "in the future")
        else:
            times[name] = value
            shown[name] = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    known = [(name, times[name]) for name in RESPONSE_TIMES if times[name] is not None]
    for (earlier, t0), (later, t1) in zip(known, known[1:], strict=False):
        if t1 < t0:
            fail(later, f"{_TIME_WORDS[later]} before {_TIME_WORDS[earlier]}")

    if len(alert_ids) > MAX_ALERTS_PER_RESPONSE:
        fail("alert_ids", f"more than {MAX_ALERTS_PER_RESPONSE} alerts")
    if any(len(a) > MAX_KEY_CHARS for a in alert_ids):
        fail("alert_ids", f"an alert id longer than {MAX_KEY_CHARS} characters")
    missing = [a for a in alert_ids if a not in lookups.alerts]
    if missing:
        fail("alert_ids", f"{len(missing)} of {len(alert_ids)} alert ids are not stored alerts")
    received = [lookups.alerts[a][0] for a in alert_ids if a in lookups.alerts]
    if received:
        first_alert = min(received)
        for name in ("decided_at", "dispatched_at", "arrived_at"):
            if times[name] is not None and times[name] < first_alert:
                fail(name, f"{_TIME_WORDS[name]} before the alert was received")
                break

    locality = text[LOCALITY_ID]
    if locality and locality not in lookups.localities:
        fail(LOCALITY_ID, "not a stored locality")
    if not locality:
        locality = next(
            (lookups.alerts[a][1] for a in alert_ids if a in lookups.alerts and lookups.alerts[a][1]), ""
        )
    if not locality and not missing:
        fail(LOCALITY_ID, "no locality: give locality_id, or alert_ids of located alerts")

    response_id = text["response_id"]
    if len(response_id) > MAX_KEY_CHARS:
        fail("response_id", f"longer than {MAX_KEY_CHARS} characters")
    if errors:
        return CheckedResponse(None, alert_ids, errors, shown)
    kept = {
        "action": action,
        LOCALITY_ID: locality,
        **{name: text[name] or None for name in RESPONSE_TEXT_FIELDS},
        **{name: (t.strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None) for name, t in times.items()},
        "outcome": outcome,
        "casualties": casualties,
    }
    response_id = _key_without_phone(response_id, ctx.secret) if response_id else _derived_id(kept, alert_ids)
    return CheckedResponse({"response_id": response_id, **kept}, alert_ids, errors, shown)
