"""Alerts in the store: the context a run reads, storing prepared chunks and verification decisions.
The SQL of alert intake lives here (the service's Idempotency-Key replies are the API's:
:mod:`sauti.api.services.idempotency`)."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from sauti.cache import memo
from sauti.constants import ALERT_COLUMNS, ALERT_SENSITIVE_COLUMNS, ALERT_VERIFICATION
from sauti.errors import NotFoundError
from sauti.ingest.alerts.fields import normalize_verification
from sauti.ingest.alerts.ids import stored_alert_id
from sauti.ingest.alerts.prepare import AlertContext, PreparedAlerts
from sauti.ingest.gazetteer import Gazetteer
from sauti.ingest.incidents import workspace_extent
from sauti.ingest.runs import RunContext
from sauti.store import Workspace, stored_keys, utc_now

log = logging.getLogger(__name__)

_INSERT_DECISION = (
    "INSERT INTO alert_verifications (alert_id, verification, decided_at, decided_by, source) "
    "VALUES (?, ?, ?, ?, ?)"
)
_PUBLIC_ALERT_COLUMNS = [c for c in ALERT_COLUMNS if c not in ALERT_SENSITIVE_COLUMNS] + ["updated_at"]


def workspace_gazetteer(workspace: Workspace) -> Gazetteer:
    """The workspace's gazetteer, rebuilt only when boundaries or settlements were ingested."""
    with workspace.session() as con:
        stamp = con.execute(
            "SELECT COALESCE(MAX(run_id), 0), COUNT(*) FROM ingest_runs"
            " WHERE kind IN ('boundaries', 'settlements') AND status = 'ok'"
        ).fetchone()
    key = (str(workspace.root), int(stamp[0]), int(stamp[1]))
    # the last workspace's gazetteer, keyed by its boundaries/places runs; the cache is its owner's
    return memo("ingest.gazetteer", 1).get(key, lambda: Gazetteer.from_workspace(workspace))


def alert_context(workspace: Workspace, *, timezone: str, **kwargs: Any) -> AlertContext:
    """What preparing alerts for ``workspace`` needs (``kwargs``: the :class:`AlertContext` defaults)."""
    with workspace.session() as con:
        known = {r[0] for r in con.execute("SELECT token_ref FROM reporter_name_tokens")}
    return AlertContext(
        known_tokens=known,
        secret=workspace.secret(),
        gazetteer=workspace_gazetteer(workspace),
        timezone=timezone,
        now=pd.Timestamp(datetime.now(UTC)),
        extent=workspace_extent(workspace),
        **kwargs,
    )


def store_alerts(run: RunContext, prepared: PreparedAlerts, source: str = "file") -> dict[Any, str]:
    """Reject and store one prepared chunk; return the status of every row.

    ``source`` (``file`` or ``api``) is recorded with the verification states the rows came with.
    """
    run.reject(prepared.checker.rejects())
    if prepared.new_tokens:
        run.con.executemany(
            "INSERT INTO reporter_name_tokens (token_ref, run_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(ref, run.run_id) for ref in sorted(prepared.new_tokens)],
        )
    rows = prepared.rows
    status = {idx: "rejected" for idx in prepared.checker.raw.index[prepared.checker.bad.to_numpy()]}
    if rows.empty:
        return status
    known = stored_keys(run.con, "alerts", "alert_id", rows["alert_id"].tolist())
    repeated = rows["alert_id"].duplicated().to_numpy()
    for pos, (idx, alert_id) in enumerate(zip(rows.index, rows["alert_id"], strict=True)):
        status[idx] = "duplicate" if repeated[pos] or alert_id in known else "accepted"
    refused_before = len(run.refused)
    run.store("alerts", rows)
    status.update(dict.fromkeys(run.refused[refused_before:], "rejected"))
    decisions = prepared.decisions
    if decisions is not None and not decisions.empty:  # the states of the alerts stored just now
        new = decisions[[status.get(idx) == "accepted" for idx in decisions.index]]
        made = new[["alert_id", "verification", "decided_at"]].to_numpy()
        run.con.executemany(_INSERT_DECISION, [(a, v, d, None, source) for a, v, d in made])
    return status


def mark_run_synthetic(run: RunContext) -> None:
    """Record that the run's file marks its alerts as synthetic (``params.synthetic``)."""
    run_id = run.open()
    params = json.loads(
        run.con.execute("SELECT params FROM ingest_runs WHERE run_id = ?", (run_id,)).fetchone()[0]
    )
    params["synthetic"] = True
    run.con.execute("UPDATE ingest_runs SET params = ? WHERE run_id = ?", (json.dumps(params), run_id))


def set_verification(
    workspace: Workspace,
    alert_id: str,
    verification: str,
    *,
    decided_by: str | None = None,
    source: str = "library",
) -> dict:
    """Set an alert's verification state (``verified``, ``false_alarm``, ``unverified``).

    :func:`record_verification` in a transaction of its own. Returns the alert without its
    sensitive columns (no reporter pseudonym, no exact point). Raises
    :class:`~sauti.errors.NotFoundError` for an unknown id and ``ValueError`` for an unknown state.
    """
    with workspace.session() as con, Workspace.transaction(con):
        row = record_verification(
            con, workspace, alert_id, verification, decided_by=decided_by, source=source
        )
    log.info("alert %s set to %s", row["alert_id"], row["verification"])
    return row


def record_verification(
    con: sqlite3.Connection,
    workspace: Workspace,
    alert_id: str,
    verification: str,
    *,
    decided_by: str | None = None,
    source: str = "library",
) -> dict:
    """Set an alert's verification state on ``con``, inside the caller's transaction.

    The decision is kept with its time and author in ``alert_verifications``: features use the
    state known at the end of each period, never a later one. Returns the alert without its
    sensitive columns. Raises :class:`~sauti.errors.NotFoundError` for an unknown id (the caller's
    transaction is then rolled back: nothing was written) and ``ValueError`` for an unknown state.
    """
    state = normalize_verification(verification)
    if not str(verification or "").strip():
        raise ValueError(f"verification must be one of {', '.join(ALERT_VERIFICATION)}")
    now = utc_now()
    # an id given as the gateway wrote it finds the keyed form it was stored as (it held a number)
    for key in dict.fromkeys([alert_id, stored_alert_id(alert_id, workspace.secret())]):
        updated = con.execute(
            "UPDATE alerts SET verification = ?, updated_at = ? WHERE alert_id = ?", (state, now, key)
        ).rowcount
        if updated:
            con.execute(_INSERT_DECISION, (key, state, now, decided_by, source))
            row = con.execute(
                f"SELECT {', '.join(_PUBLIC_ALERT_COLUMNS)} FROM alerts WHERE alert_id = ?", (key,)
            ).fetchone()
            return dict(row)
    raise NotFoundError("no alert with this id")  # the id is not repeated: it may hold a phone number


def count_alerts(workspace: Workspace) -> int:
    """How many alerts the store holds."""
    with workspace.session() as con:
        return int(con.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])


def synthetic_alert_files(workspace: Workspace) -> list[str]:
    """The names of the alert files whose rows were stored marked synthetic (:func:`mark_run_synthetic`)."""
    from sauti.ingest.runs import stored_runs

    files = {
        path.replace("\\", "/").rsplit("/", 1)[-1]
        for path, params in stored_runs(workspace, "alerts")
        if bool(params.get("synthetic"))
    }
    return sorted(files)
