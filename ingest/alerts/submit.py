"""Alerts posted to the service: validated, prepared, then stored in the caller's transaction.

:func:`prepare_submission` does the work that needs no lock (validation, pseudonyms, scrubbing,
geocoding); :func:`store_submission` stores the prepared rows on a connection whose transaction the
caller owns, so the service can keep its own rows (an Idempotency-Key reply, an audit entry) in the
same commit without ingest knowing about them. :func:`submit_alerts` does both in a transaction of
its own (the library's and the tests' entry point).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sauti.constants import DEFAULT_TIMEZONE, LOCALITY_ID
from sauti.ingest.alerts.prepare import PreparedAlerts, prepare_alerts
from sauti.ingest.alerts.store import alert_context, store_alerts
from sauti.ingest.runs import RunContext, ingest_run, ingest_run_within
from sauti.store import Workspace


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


@dataclass(frozen=True)
class Submission:
    """Posted alerts, prepared for the store (pseudonymised and geocoded) but not stored yet."""

    frame: pd.DataFrame
    prepared: PreparedAlerts
    source: str

    @property
    def label(self) -> Path:
        """The run's label (``api:<source>``): what its rejects file and run record are named for."""
        return Path(f"api:{self.source}")

    def run_args(self) -> dict[str, Any]:
        """What :func:`~sauti.ingest.runs.ingest_run` records of the run (its checksum is over the
        pseudonymised rows, never the raw identifiers)."""
        payload = _digest_payload(self.prepared)
        return {"fmt": "records", "params": {"source": self.source}, "payload": payload}


def prepare_submission(
    workspace: Workspace,
    records: list[dict],
    *,
    source: str = "api",
    may_verify: bool = True,
    timezone: str = DEFAULT_TIMEZONE,
) -> Submission:
    """Validate, pseudonymise, scrub and geocode alerts posted to the service (nothing is stored).

    ``records`` are canonical alert dicts or SMS-gateway dicts (``from``/``text``/``received_at``).
    A record without ``received_at`` is dated now; one without ``channel`` is ``sms`` in the gateway
    shape, else ``app``; naive times are local times in ``timezone``. Nothing raw is kept. With
    ``may_verify=False`` (a reporter's key) a record giving a state other than ``unverified`` or a
    ``verified_at`` is rejected: verification is an analyst's decision.
    """
    frame = _records_frame(records)
    ctx = alert_context(
        workspace, timezone=timezone, default_received_now=True, default_channel="app", may_verify=may_verify
    )
    return Submission(frame, prepare_alerts(frame, f"api:{source}", ctx), source)


def store_submission(
    con: sqlite3.Connection, workspace: Workspace, submission: Submission
) -> list[AlertOutcome]:
    """Store prepared alerts on ``con``, inside the caller's transaction; one outcome per record.

    Nothing is committed here: the caller commits (or rolls back) the alerts together with its own
    rows. A run record (kind ``alerts``, path ``api:<source>``) and a rejects file are written only
    when a record is rejected.
    """
    with ingest_run_within(con, workspace, "alerts", submission.label, **submission.run_args()) as run:
        return _store(run, submission)


def submit_alerts(
    workspace: Workspace,
    records: list[dict],
    *,
    source: str = "api",
    may_verify: bool = True,
    timezone: str = DEFAULT_TIMEZONE,
) -> list[AlertOutcome]:
    """:func:`prepare_submission` then :func:`store_submission`, in ONE transaction of its own.

    Returns one :class:`AlertOutcome` per record, in order. A failure stores nothing and records a
    ``failed`` run.
    """
    if not records:
        return []
    submission = prepare_submission(
        workspace, records, source=source, may_verify=may_verify, timezone=timezone
    )
    with ingest_run(workspace, "alerts", submission.label, lazy=True, **submission.run_args()) as run:
        return _store(run, submission)


def _store(run: RunContext, submission: Submission) -> list[AlertOutcome]:
    run.count_read(len(submission.frame))
    status = store_alerts(run, submission.prepared, source="api")
    return _outcomes(submission.frame.index, submission.prepared, status)


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
