"""Responses: what the mission did about alerts and plans (patrol, engagement, message, none), when
and with what outcome — read from patrol-report files or posted to the service, checked and stored.

One checker serves files, API posts and later changes (:func:`check_response`): the vocabularies,
ISO 8601 times in order (decided ≤ dispatched ≤ arrived ≤ completed, and no dispatch or arrival
before the alerts were received), the linked alerts and locality known. Free text (``notes``,
``unit``, ``plan_entry``) is scrubbed of phone numbers and reporter names as alert text is
(:func:`~sauti.ingest.alerts.prepare.scrub_free_text`). ``response_id`` is the client's key: the same
id again stores nothing new. Every row of a file is stored or written to the rejects file with its
field and reason (:func:`~sauti.ingest.runs.ingest_run`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from sauti.constants import DEFAULT_TIMEZONE, LOCALITY_ID
from sauti.errors import NotFoundError
from sauti.ingest.alerts.prepare import AlertContext, scrub_free_text
from sauti.ingest.alerts.store import alert_context
from sauti.ingest.bookkeeping import IngestReport
from sauti.ingest.errors import IngestError
from sauti.ingest.responses.check import (
    CHANGEABLE_FIELDS,
    RESPONSE_ACTIONS,
    RESPONSE_COLUMNS,
    RESPONSE_FIELDS,
    RESPONSE_TIMES,
    CheckedResponse,
    ResponseLookups,
    ResponseOutcome,
    alert_id_list,
    canonical_record,
    check_response,
    field_text,
    parse_time,
    parse_times,
)
from sauti.ingest.runs import RunContext, ingest_run
from sauti.ingest.tabular import (
    EXTRA_FIELDS,
    RECORD_PROBLEM,
    iter_json_records,
    read_delimited,
)
from sauti.ingest.validate import RowChecker
from sauti.store import Workspace, stored_keys, utc_now

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
JSON_LIST_KEYS = ("responses", "records", "data")


# --- storing --------------------------------------------------------------------------------------
def _store_checked(
    run: RunContext,
    checked: list[CheckedResponse],
    rows_index: list[int],
    *,
    source: str,
    recorded_by: str | None,
    synthetic: bool,
) -> dict[int, str]:
    """Store the accepted rows of one chunk with their alert links; return each row's status."""
    status: dict[int, str] = {}
    good = [(idx, c) for idx, c in zip(rows_index, checked, strict=True) if c.row is not None]
    for idx, c in zip(rows_index, checked, strict=True):
        if c.row is None:
            status[idx] = "rejected"
    if not good:
        return status
    now = utc_now()
    frame = pd.DataFrame.from_records(
        [
            {
                **c.row,
                "recorded_by": recorded_by,
                "source": source,
                "synthetic": int(synthetic),
                "created_at": now,
                "updated_at": now,
            }
            for _, c in good
        ],
        index=[idx for idx, _ in good],
    ).astype(object)
    frame = frame.where(frame.notna(), None)
    known = stored_keys(run.con, "responses", "response_id", frame["response_id"].tolist())
    repeated = frame["response_id"].duplicated().to_numpy()
    for pos, (idx, response_id) in enumerate(zip(frame.index, frame["response_id"], strict=True)):
        status[idx] = "duplicate" if repeated[pos] or response_id in known else "accepted"
    refused_before = len(run.refused)
    run.store("responses", frame[list(RESPONSE_COLUMNS[:-2]) + ["created_at", "updated_at"]])
    status.update(dict.fromkeys(run.refused[refused_before:], "rejected"))
    links = [
        (c.row["response_id"], alert_id)
        for idx, c in good
        if status[idx] == "accepted"
        for alert_id in c.alert_ids
    ]
    if links:
        run.con.executemany("INSERT INTO response_alerts (response_id, alert_id) VALUES (?, ?)", links)
    return status


def _reject(
    run: RunContext, source_name: str, raw: pd.DataFrame, checked: dict[int, CheckedResponse]
) -> None:
    """Write the rejected rows (scrubbed form) to the run's rejects file: field and reason named."""
    checker = RowChecker(source_name, raw)
    for idx, c in checked.items():
        if c.row is None and c.errors:
            first = c.errors[0]
            checker.fail((raw.index == idx), first["field"], first["reason"])
    run.reject(checker.rejects())


def _shown_frame(chunk: pd.DataFrame, checked: dict[int, CheckedResponse], ctx: AlertContext) -> pd.DataFrame:
    """What the rejects file may show of each row: its scrubbed fields, never the raw cells."""
    rows = []
    for idx in chunk.index:
        shown = dict(checked[idx].shown) if idx in checked else {}
        for special in (RECORD_PROBLEM, EXTRA_FIELDS):
            if special in chunk.columns and field_text(chunk.at[idx, special]):
                shown[special] = scrub_free_text(field_text(chunk.at[idx, special]), ctx)
        rows.append(shown)
    frame = pd.DataFrame.from_records(rows, index=chunk.index).astype(object)
    frame.insert(0, "_row", chunk["_row"].to_numpy())
    return frame


# --- files ----------------------------------------------------------------------------------------
def _detect_kind(path: Path) -> str:
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        return "json"
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if head[:1] in (b"{", b"[") else "csv"


def _chunks(path: Path, kind: str) -> Iterator[pd.DataFrame]:
    if kind == "json":
        return iter_json_records(path, JSON_LIST_KEYS, CHUNK_ROWS)
    return read_delimited(path, chunksize=CHUNK_ROWS)


def _check_columns(path: Path, columns: list[str]) -> None:
    have = set(canonical_record(dict.fromkeys(columns, "")))
    if "action" not in have:
        raise IngestError(path, f"no action column (one of {', '.join(RESPONSE_ACTIONS)} per row)")


def _is_synthetic(chunk: pd.DataFrame) -> bool:
    column = next((c for c in chunk.columns if str(c).strip().lower() == "synthetic"), None)
    return column is not None and bool(
        chunk[column].astype(str).str.strip().str.lower().isin(["true", "1", "yes"]).any()
    )


def ingest_responses(
    workspace: Workspace,
    path: str | Path,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    progress=None,
) -> IngestReport:
    """Read, check, scrub and store every response of a CSV or JSON patrol-report file.

    Columns: ``response_id`` (the key; derived from the content when absent), ``action``,
    ``alert_ids`` (``;``-separated), ``locality_id``, ``plan_entry``, ``unit``, ``decided_at``,
    ``dispatched_at``, ``arrived_at``, ``completed_at``, ``outcome``, ``casualties``, ``notes``; a
    ``synthetic`` column holding true marks made-up rows. Every row is stored, a duplicate of a
    stored ``response_id``, or rejected with its field and reason.

    Examples
    --------
    >>> report = ingest_responses(Workspace("ws"), "patrol_reports.csv")  # doctest: +SKIP
    >>> report.read == report.accepted + report.rejected + report.duplicates  # doctest: +SKIP
    True
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(path, "file not found")
    kind = _detect_kind(path)
    ctx = alert_context(workspace, timezone=timezone)
    first = True
    with ingest_run(workspace, "responses", path, fmt=kind) as run:
        for chunk in _chunks(path, kind):
            columns = [c for c in chunk.columns if c not in ("_row", RECORD_PROBLEM, EXTRA_FIELDS)]
            if first and columns:
                _check_columns(path, columns)
                first = False
            run.count_read(len(chunk))
            _ingest_chunk(run, chunk, path.name, ctx, synthetic=_is_synthetic(chunk))
            if progress:
                progress(len(chunk))
    return run.report


def _records(chunk: pd.DataFrame) -> dict[int, dict]:
    drop = [c for c in ("_row", RECORD_PROBLEM, EXTRA_FIELDS) if c in chunk.columns]
    broken = pd.Series(False, index=chunk.index)
    for special in (RECORD_PROBLEM, EXTRA_FIELDS):
        if special in chunk.columns:
            broken |= chunk[special].map(lambda v: bool(field_text(v)))
    body = chunk.drop(columns=drop)
    return {idx: body.loc[idx].to_dict() for idx in chunk.index if not broken[idx]}


def _ingest_chunk(
    run: RunContext,
    chunk: pd.DataFrame,
    source_name: str,
    ctx: AlertContext,
    *,
    source: str = "file",
    recorded_by: str | None = None,
    synthetic: bool = False,
) -> dict[int, tuple[str, CheckedResponse | None]]:
    records = _records(chunk)  # a ragged or unreadable row is rejected whole by the RowChecker
    wanted_alerts = [a for r in records.values() for a in alert_id_list(canonical_record(r).get("alert_ids"))]
    wanted_localities = [field_text(canonical_record(r).get(LOCALITY_ID)) for r in records.values()]
    lookups = ResponseLookups.load(run.con, wanted_alerts, [w for w in wanted_localities if w])
    parsed = parse_times(records, ctx.timezone)
    checked = {
        idx: check_response(record, lookups, ctx, parsed=parsed[idx]) for idx, record in records.items()
    }
    _reject(run, source_name, _shown_frame(chunk, checked, ctx), checked)
    index = list(checked)
    status = _store_checked(
        run, [checked[i] for i in index], index, source=source, recorded_by=recorded_by, synthetic=synthetic
    )
    return {idx: (status.get(idx, "rejected"), checked.get(idx)) for idx in chunk.index}


# --- the service ----------------------------------------------------------------------------------
def submit_responses(
    workspace: Workspace,
    records: list[dict],
    *,
    recorded_by: str | None = None,
    source: str = "api",
    timezone: str = DEFAULT_TIMEZONE,
) -> list[ResponseOutcome]:
    """Check and store responses posted to the service, in ONE transaction; one outcome per record.

    A record whose ``response_id`` is stored already is a ``duplicate`` (nothing new stored). A
    rejected record is also written to a rejects file (run kind ``responses``, path ``api:<source>``).
    """
    if not records:
        return []
    frame = pd.DataFrame.from_records([r if isinstance(r, dict) else {} for r in records]).astype(object)
    frame.index = pd.RangeIndex(1, len(records) + 1)
    frame.insert(0, "_row", frame.index.to_numpy())
    ctx = alert_context(workspace, timezone=timezone)
    label = Path(f"api:{source}")
    payload = json.dumps(records, sort_keys=True, default=str).encode()
    with ingest_run(workspace, "responses", label, fmt="records", payload=payload, lazy=True) as run:
        run.count_read(len(frame))
        done = _ingest_chunk(run, frame, label.name, ctx, source=source, recorded_by=recorded_by)
    outcomes = []
    for idx, (state, checked) in done.items():
        if checked is None:
            outcomes.append(
                ResponseOutcome(int(idx), "rejected", errors=[{"field": "(row)", "reason": "unreadable"}])
            )
        elif state == "rejected":
            errors = checked.errors or [{"field": "(row)", "reason": "refused by the store"}]
            outcomes.append(ResponseOutcome(int(idx), "rejected", errors=errors))
        else:
            outcomes.append(
                ResponseOutcome(int(idx), state, checked.row["response_id"], checked.row[LOCALITY_ID])
            )
    return outcomes


def update_response(
    workspace: Workspace,
    response_id: str,
    changes: dict[str, Any],
    *,
    timezone: str = DEFAULT_TIMEZONE,
) -> tuple[dict, list[str]]:
    """Add or correct times, outcome, casualties, unit or notes of a stored response.

    The whole response is checked again with the change (times stay in order). Returns the
    response as :func:`list_responses` gives it and the names of the fields that changed. Raises
    :class:`~sauti.errors.NotFoundError` for an unknown id and
    :class:`~sauti.errors.InvalidInputError` (with ``errors``) for a change that does not pass.
    """
    from sauti.errors import InvalidInputError

    unknown = sorted(set(changes) - set(CHANGEABLE_FIELDS))
    if unknown:
        raise _invalid(
            InvalidInputError, "these fields cannot be changed", [(f, "not changeable") for f in unknown]
        )
    ctx = alert_context(workspace, timezone="UTC")
    with workspace.session() as con, Workspace.transaction(con):
        row = con.execute(
            f"SELECT {', '.join(RESPONSE_COLUMNS)} FROM responses WHERE response_id = ?", (response_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError("no response with this id")  # not repeated: it may hold a phone number
        stored = dict(row)
        alert_ids = [
            r[0]
            for r in con.execute(
                "SELECT alert_id FROM response_alerts WHERE response_id = ? ORDER BY alert_id",
                (response_id,),
            )
        ]
        given = {k: v for k, v in changes.items()}
        # a change's naive times are the mission's local times; stored ones are UTC
        local = {k: v for k, v in given.items() if k in RESPONSE_TIMES and v}
        for name, value in local.items():
            parsed = parse_time(field_text(value), timezone)
            given[name] = parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed is not None else value
        record = {
            **{k: stored[k] for k in RESPONSE_FIELDS if k in stored},
            **given,
            "alert_ids": alert_ids,
        }
        lookups = ResponseLookups.load(con, alert_ids, [stored[LOCALITY_ID]])
        checked = check_response(record, lookups, ctx)
        if checked.row is None:
            raise _invalid(
                InvalidInputError,
                "the change does not pass the checks",
                [(e["field"], e["reason"]) for e in checked.errors],
            )
        changed = [k for k in CHANGEABLE_FIELDS if k in given and checked.row[k] != stored[k]]
        if changed:
            sets = ", ".join(f"{k} = ?" for k in changed)
            con.execute(
                f"UPDATE responses SET {sets}, updated_at = ? WHERE response_id = ?",
                (*[checked.row[k] for k in changed], utc_now(), response_id),
            )
    return list_responses(workspace, response_id=response_id)[0], changed


def _invalid(cls, message: str, errors: list[tuple[str, str]]):
    exc = cls(message)
    exc.errors = [{"field": f, "reason": r} for f, r in errors]
    return exc


# --- reading --------------------------------------------------------------------------------------
_FIRST_TIME = "COALESCE(r.decided_at, r.dispatched_at, r.arrived_at, r.completed_at, r.created_at)"


def list_responses(
    workspace: Workspace,
    *,
    start: str | None = None,
    end: str | None = None,
    locality_id: str | None = None,
    alert_id: str | None = None,
    response_id: str | None = None,
    include_synthetic: bool = True,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict]:
    """Stored responses with their ``alert_ids``, earliest first (ties by ``response_id``: a stable order).

    ``start``/``end`` (``YYYY-MM-DD``, inclusive, UTC) filter on the response's first known time
    (decision, else dispatch, arrival, completion, else when it was recorded). ``limit`` and
    ``offset`` return one page of that order (all rows when ``limit`` is ``None``).
    """
    where, params = [], []
    if start:
        where.append(f"{_FIRST_TIME} >= ?")
        params.append(start)
    if end:
        where.append(f"{_FIRST_TIME} < ?")
        params.append((pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d"))
    if locality_id:
        where.append("r.locality_id = ?")
        params.append(locality_id)
    if response_id:
        where.append("r.response_id = ?")
        params.append(response_id)
    if alert_id:
        where.append("r.response_id IN (SELECT response_id FROM response_alerts WHERE alert_id = ?)")
        params.append(alert_id)
    if not include_synthetic:
        where.append("r.synthetic = 0")
    columns = ", ".join(f"r.{c}" for c in RESPONSE_COLUMNS)
    sql = f"SELECT {columns} FROM responses r"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {_FIRST_TIME}, r.response_id"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params.extend([int(limit), int(offset)])
    elif offset:
        raise ValueError("offset needs a limit")
    with workspace.session() as con:
        rows = [dict(r) for r in con.execute(sql, params)]
        links: dict[str, list[str]] = {}
        ids = [r["response_id"] for r in rows]
        for first in range(0, len(ids), 500):
            part = ids[first : first + 500]
            marks = ", ".join("?" * len(part))
            for rid, aid in con.execute(
                f"SELECT response_id, alert_id FROM response_alerts WHERE response_id IN ({marks})"
                " ORDER BY response_id, alert_id",
                part,
            ):
                links.setdefault(rid, []).append(aid)
    for row in rows:
        row["alert_ids"] = links.get(row["response_id"], [])
        row["synthetic"] = bool(row["synthetic"])
    return rows


def response_frames(
    workspace: Workspace, *, include_synthetic: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All responses (times as UTC datetimes) and their links ``(response_id, alert_id)``, for analysis."""
    responses = pd.DataFrame(
        list_responses(workspace, include_synthetic=include_synthetic),
        columns=[*RESPONSE_COLUMNS, "alert_ids"],
    )
    for name in RESPONSE_TIMES:
        responses[name] = pd.to_datetime(responses[name], utc=True, format="ISO8601")
    links = responses[["response_id", "alert_ids"]].explode("alert_ids").dropna()
    links = links.rename(columns={"alert_ids": "alert_id"}).reset_index(drop=True)
    return responses, links


__all__ = ["ingest_responses", "list_responses", "response_frames", "submit_responses", "update_response"]
