"""Alerts posted to the service: validated, stored and answered in one transaction.

With an :class:`~sauti.ingest.alerts.store.IdempotencyKey`, the key is reserved in the same
transaction that stores the alerts: a retry that overlaps the first request waits for it and
replays its reply (same ``alert_id``), and nothing is ever stored twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sauti.constants import DEFAULT_TIMEZONE, LOCALITY_ID
from sauti.ingest.alerts.prepare import PreparedAlerts, prepare_alerts
from sauti.ingest.alerts.store import IdempotencyKey, alert_context, save_reply, store_alerts, stored_reply
from sauti.ingest.runs import ingest_run
from sauti.store import Workspace

Reply = tuple[int, dict]


@dataclass
class AlertOutcome:
    """What happened to one submitted alert (``row`` is its 1-based position in the batch)."""

    row: int
    status: str  # "accepted" | "duplicate" | "rejected"
    alert_id: str | None = None
    locality_id: str | None = None
    locality_name: str | None = None
    locality_confidence: float | None = None
    location_source: str = "unresolved"
    errors: list[dict] = field(default_factory=list)


def submit_alerts(
    workspace: Workspace,
    records: list[dict],
    *,
    source: str = "api",
    may_verify: bool = True,
    timezone: str = DEFAULT_TIMEZONE,
) -> list[AlertOutcome]:
    """Validate, pseudonymise, scrub, geocode and store alerts posted to the service.

    ``records`` are canonical alert dicts or SMS-gateway dicts (``from``/``text``/``received_at``);
    all of them are handled in ONE transaction. A record without ``received_at`` is dated now; one
    without ``channel`` is ``sms`` in the gateway shape, else ``app``; naive times are local times
    in ``timezone``. Nothing raw is persisted anywhere. With ``may_verify=False`` (a reporter's key)
    a record giving a state other than ``unverified`` or a ``verified_at`` is rejected:
    verification is an analyst's decision. A run record (kind ``alerts``, path ``api:<source>``)
    and a rejects file are written only when a record is rejected.

    Returns one :class:`AlertOutcome` per record, in order.
    """
    if not records:
        return []
    outcomes: list[AlertOutcome] = []

    def keep(found: list[AlertOutcome]) -> Reply:
        outcomes.extend(found)
        return 200, {}

    _submit(workspace, records, source, may_verify, timezone, None, keep)
    return outcomes


def submit_alerts_once(
    workspace: Workspace,
    records: list[dict],
    claim: IdempotencyKey,
    reply: Callable[[list[AlertOutcome]], Reply],
    *,
    source: str = "api",
    may_verify: bool = True,
    timezone: str = DEFAULT_TIMEZONE,
) -> tuple[int, dict, bool]:
    """:func:`submit_alerts` once per key: ``(status, body, replayed)``.

    ``reply`` turns the outcomes into the status and body sent back; they are kept under the key
    in the transaction that stores the alerts. The same key again gets that reply (``replayed``);
    with another request it raises :class:`~sauti.ingest.alerts.store.IdempotencyConflict`.
    """
    with workspace.session() as con:  # a finished first request: replay without preparing anything
        done = stored_reply(con, claim)
    if done is not None:
        return done[0], done[1], True
    return _submit(workspace, records, source, may_verify, timezone, claim, reply)


def _submit(
    workspace: Workspace,
    records: list[dict],
    source: str,
    may_verify: bool,
    timezone: str,
    claim: IdempotencyKey | None,
    reply: Callable[[list[AlertOutcome]], Reply],
) -> tuple[int, dict, bool]:
    frame = _records_frame(records)
    ctx = alert_context(
        workspace, timezone=timezone, default_received_now=True, default_channel="app", may_verify=may_verify
    )
    label = f"api:{source}"
    prepared = prepare_alerts(frame, label, ctx)
    run_args = {"fmt": "records", "params": {"source": source}, "payload": _digest_payload(prepared)}
    with ingest_run(workspace, "alerts", Path(label), lazy=True, **run_args) as run:
        done = stored_reply(run.con, claim) if claim is not None else None
        if done is not None:  # an overlapping request with this key committed while we waited
            return done[0], done[1], True
        run.count_read(len(frame))
        status = store_alerts(run, prepared, source="api")
        code, body = reply(_outcomes(frame.index, prepared, status))
        if claim is not None:
            save_reply(run.con, claim, code, body)
    return code, body, False


def _records_frame(records: list[dict]) -> pd.DataFrame:
    rows = [r if isinstance(r, dict) else {} for r in records]
    frame = (
        pd.DataFrame.from_records(rows).astype(object) if any(rows) else pd.DataFrame(index=range(len(rows)))
    )
    frame.index = pd.RangeIndex(1, len(rows) + 1)
    frame.insert(0, "_row", frame.index.to_numpy())
    return frame


def _digest_payload(prepared: PreparedAlerts) -> bytes:
    """What the run's checksum is taken over: the pseudonymised rows, never the raw identifiers."""
    digest_rows = prepared.rows.drop(columns=["created_at", "updated_at"]).astype(object)
    return json.dumps(
        [
            prepared.checker.raw.to_dict("records"),
            digest_rows.where(digest_rows.notna(), None).to_dict("records"),
        ],
        default=str,
        sort_keys=True,
    ).encode()


def _outcomes(index: pd.Index, prepared: PreparedAlerts, status: dict[Any, str]) -> list[AlertOutcome]:
    outcomes = []
    for idx in index:
        if status.get(idx) not in ("accepted", "duplicate"):
            errors = prepared.errors.get(idx) or [{"field": "(row)", "reason": "refused by the store"}]
            outcomes.append(AlertOutcome(row=int(idx), status="rejected", errors=errors))
            continue
        row = prepared.rows.loc[idx]
        confidence = row["locality_confidence"]
        outcomes.append(
            AlertOutcome(
                row=int(idx),
                status=status[idx],
                alert_id=row["alert_id"],
                locality_id=row[LOCALITY_ID],
                locality_name=prepared.names.get(idx),
                locality_confidence=None if confidence is None or pd.isna(confidence) else float(confidence),
                location_source=row["location_source"],
            )
        )
    return outcomes
