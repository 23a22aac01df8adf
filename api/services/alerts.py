"""Alert intake and verification for the API, with ``Idempotency-Key`` handling.

Validation, pseudonymisation, scrubbing, geocoding and storage are the ingest layer's
(:func:`sauti.ingest.alerts.prepare_submission`, :func:`~sauti.ingest.alerts.store_submission`).
This module opens the transaction, has ingest store the alerts on its connection and writes the
service's own rows in the same commit: the reply kept under an ``Idempotency-Key``
(:mod:`sauti.api.services.idempotency`), the audit entry of a verification. It turns the outcomes
into responses, replays the stored response when a client retries with the same key and body,
refuses the same key with another body (409), and asks the nowcaster to refresh risk after
anything was accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sauti.api.errors import Conflict, InvalidInput
from sauti.api.services import idempotency, redaction
from sauti.api.services.idempotency import IdempotencyKey
from sauti.api.services.source import DataSource
from sauti.constants import LOCALITY_ID
from sauti.errors import SautiError
from sauti.jsonable import json_scalar
from sauti.store import Workspace

if TYPE_CHECKING:  # pragma: no cover
    from sauti.api.security import Principal

MAX_BATCH = 5000
MAX_IDEMPOTENCY_KEY = 200

STATUS_CODE = {"accepted": 201, "duplicate": 200, "rejected": 422}


def outcome_dict(outcome: Any) -> dict:
    """An ``AlertOutcome`` as the JSON a client receives (no reporter data: the outcome has none)."""
    errors = [
        {"field": e.get("field"), "reason": e.get("reason")} if isinstance(e, dict) else {"reason": str(e)}
        for e in (outcome.errors or [])
    ]
    confidence = json_scalar(outcome.locality_confidence)
    return {
        "row": int(outcome.row),
        "status": outcome.status,
        "alert_id": json_scalar(outcome.alert_id),
        LOCALITY_ID: json_scalar(outcome.locality_id),
        "locality_name": json_scalar(outcome.locality_name),
        "locality_confidence": None if confidence is None else round(float(confidence), 3),
        "location_source": json_scalar(outcome.location_source),
        "errors": errors,
    }


Reply = tuple[int, dict]


def _submit(
    source: DataSource,
    principal: Principal,
    records: list[dict],
    channel_source: str,
    reply: Callable[[list[dict]], Reply],
    claim: IdempotencyKey | None = None,
) -> tuple[int, dict, bool]:
    """Store ``records`` and answer with ``reply(outcomes)``.

    The service owns the transaction: ingest stores the prepared alerts on its connection, and the
    reply kept under an idempotency ``claim`` is written in the same commit (a retry waits for the
    first request and replays it; nothing is stored twice).
    """
    from sauti.ingest.alerts import prepare_submission, store_submission

    source.require_store()
    workspace = source.workspace
    if claim is not None:  # a finished first request: replay without preparing anything
        with workspace.session() as con:
            done = _stored_reply(con, claim)
        if done is not None:
            return done[0], done[1], True
    # only those who may verify (analysts, admins) may send an alert already verified
    submission = prepare_submission(
        workspace,
        records,
        source=channel_source,
        may_verify=principal.can("alerts:verify"),
        timezone=source.settings.timezone,
    )
    with workspace.session() as con, Workspace.transaction(con):
        done = _stored_reply(con, claim) if claim is not None else None
        if done is not None:  # an overlapping request with this key committed while we waited
            return done[0], done[1], True
        outcomes = [outcome_dict(o) for o in store_submission(con, workspace, submission)]
        status, body = reply(outcomes)
        if claim is not None:
            idempotency.save_reply(con, claim, status, body)
    accepted = {o[LOCALITY_ID] for o in outcomes if o["status"] == "accepted"}
    if any(o["status"] == "accepted" for o in outcomes):
        source.bump()
        if source.nowcast is not None:
            source.nowcast.request({lid for lid in accepted if lid})
    return status, body, False


def _stored_reply(con: Any, claim: IdempotencyKey) -> Reply | None:
    try:
        return idempotency.stored_reply(con, claim)
    except idempotency.IdempotencyConflict as exc:
        raise Conflict(str(exc)) from None


def _one_reply(outcomes: list[dict]) -> Reply:
    (outcome,) = outcomes
    status = STATUS_CODE.get(outcome["status"], 422)
    if outcome["status"] == "rejected":
        return status, {
            "detail": "alert rejected",
            "type": "InvalidInput",
            "errors": outcome["errors"],
            **outcome,
        }
    return status, outcome


def _batch_reply(outcomes: list[dict]) -> Reply:
    counts = {s: sum(o["status"] == s for o in outcomes) for s in ("accepted", "duplicate", "rejected")}
    return 200, {
        "read": len(outcomes),
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "results": outcomes,
    }


def submit_one(
    source: DataSource, principal: Principal, record: dict, claim: Any = None
) -> tuple[int, dict, bool]:
    """One alert: 201 accepted, 200 duplicate, 422 rejected with field-level errors."""
    return _submit(source, principal, [record], "api", _one_reply, claim)


def submit_many(
    source: DataSource,
    principal: Principal,
    records: list[dict],
    channel_source: str = "api-batch",
    claim: IdempotencyKey | None = None,
) -> tuple[int, dict, bool]:
    """A batch: 200 with one outcome per record and the counts (read = accepted + rejected + duplicates)."""
    if not records:
        raise InvalidInput("the batch holds no alerts", [{"field": "alerts", "reason": "empty"}])
    if len(records) > MAX_BATCH:
        raise InvalidInput(
            f"a batch holds at most {MAX_BATCH} alerts, got {len(records)}: split it",
            [{"field": "alerts", "reason": f"more than {MAX_BATCH}"}],
        )
    return _submit(source, principal, records, channel_source, _batch_reply, claim)


def csv_records(data: bytes, filename: str = "upload.csv") -> list[dict]:
    """Rows of an uploaded alerts CSV as records (blank cells dropped), read by the ingest reader
    straight from the bytes (no temporary file)."""
    from sauti.ingest.tabular import read_delimited

    if not data.strip():
        raise InvalidInput("the uploaded file is empty", [{"field": "file", "reason": "empty"}])
    try:
        frames = list(read_delimited(data, name=filename))
    except SautiError as exc:  # the reply names the problem, never the file's name (it may hold a phone)
        raise InvalidInput(
            f"the uploaded file is not a readable CSV: {getattr(exc, 'problem', 'unreadable')}",
            [{"field": "file", "reason": "unreadable CSV"}],
        ) from None
    records = []
    for frame in frames:
        for row in frame.drop(columns="_row").to_dict("records"):
            records.append({k: v for k, v in row.items() if v != ""})
    return records


def verify(source: DataSource, principal: Principal, alert_id: str, verification: str) -> dict:
    """Set an alert's verification state; returns the alert as an analyst sees it.

    The decision and its audit entry are written in one transaction: no verification without the
    record of who made it."""
    from sauti.api.security import audit_in
    from sauti.ingest.alerts import record_verification

    source.require_store()
    workspace = source.workspace
    with workspace.session() as con, Workspace.transaction(con):
        stored = record_verification(
            con, workspace, alert_id, verification, decided_by=principal.name, source="api"
        )
        # the stored id in the audit: the one in the path may be as the gateway wrote it (a phone number)
        resource = f"/api/v1/alerts/{stored['alert_id']}"
        audit_in(con, principal, "verify_alert", resource, verification=verification)
    source.bump()
    if source.nowcast is not None:
        source.nowcast.request({stored.get(LOCALITY_ID)} - {None})
    return redaction.alert_detail(stored)


# --- idempotency ------------------------------------------------------------------------------------
def with_idempotency(
    source: DataSource,
    principal: Principal,
    key: str | None,
    method: str,
    path: str,
    body: bytes,
    run: Callable[[IdempotencyKey | None], tuple[int, dict, bool]],
) -> tuple[int, dict, bool]:
    """Run ``run(claim)`` once per (user, key): replay the first response for the same body, 409
    for another. The claim is reserved in the transaction that stores the alerts (:func:`_submit`),
    so overlapping retries are answered with the first reply and stored once.

    Returns ``(status, body, replayed)``.
    """
    if not key:
        return run(None)
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(
            f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters",
            [{"field": "Idempotency-Key", "reason": "too long"}],
        )
    return run(IdempotencyKey.for_request(principal.name, key, method, path, body))
