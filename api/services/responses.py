"""Responses for the API: record, change, list and summarise what the mission did about alerts.

Checking, scrubbing and storing are the ingest layer's (:mod:`sauti.ingest.responses`); the summary
is :func:`sauti.features.responses.response_summary`. Replies are allow-listed here: a response
carries the ids of its alerts, never their text (planners read responses too) nor anything of the
reporter; notes were scrubbed of phone numbers and reporter names when they were stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sauti.api.errors import InvalidInput
from sauti.api.services.source import DataSource
from sauti.constants import LOCALITY_ID
from sauti.jsonable import json_value

if TYPE_CHECKING:  # pragma: no cover
    from sauti.api.security import Principal

RESPONSE_FIELDS = (
    "response_id",
    "action",
    "alert_ids",
    LOCALITY_ID,
    "plan_entry",
    "unit",
    "decided_at",
    "dispatched_at",
    "arrived_at",
    "completed_at",
    "outcome",
    "casualties",
    "notes",
    "recorded_by",
    "synthetic",
    "updated_at",
)
"""What a caller may read of one response (allow-listed)."""


def response_view(row: dict) -> dict:
    """One stored response as the API serves it."""
    view = {name: json_value(row.get(name)) for name in RESPONSE_FIELDS if name != "alert_ids"}
    view["alert_ids"] = [str(a) for a in row.get("alert_ids") or []]
    return {name: view[name] for name in RESPONSE_FIELDS}


def record(source: DataSource, principal: Principal, body: dict) -> tuple[int, dict]:
    """Store one response: 201 with its id, 200 with the same id when it was stored already."""
    from sauti.api.security import audit
    from sauti.ingest.responses import submit_responses

    source.require_store()
    (outcome,) = submit_responses(
        source.workspace, [body], recorded_by=principal.name, timezone=source.settings.timezone
    )
    if outcome.status == "rejected":
        raise InvalidInput("response rejected: " + outcome.errors[0]["reason"], outcome.errors)
    if outcome.status == "accepted":
        audit(source.workspace, principal, "record_response", f"/api/v1/responses/{outcome.response_id}")
    reply = {"response_id": outcome.response_id, "status": outcome.status, LOCALITY_ID: outcome.locality_id}
    return (201 if outcome.status == "accepted" else 200), reply


def change(source: DataSource, principal: Principal, response_id: str, changes: dict[str, Any]) -> dict:
    """Add times, outcome or notes to a stored response; audited with the fields that changed."""
    from sauti.api.security import audit
    from sauti.errors import InvalidInputError
    from sauti.ingest.responses import update_response

    source.require_store()
    try:
        row, changed = update_response(
            source.workspace, response_id, changes, timezone=source.settings.timezone
        )
    except InvalidInputError as exc:
        raise InvalidInput(str(exc), getattr(exc, "errors", None)) from None
    audit(source.workspace, principal, "change_response", f"/api/v1/responses/{response_id}", fields=changed)
    return response_view(row)


def listing(source: DataSource, *, limit: int, offset: int = 0, **filters: Any) -> dict:
    """``{"responses": [...], "next": ...}``: one page of responses, earliest first, filtered by
    window, locality or alert; ``next`` is the path of the following page (``None`` on the last)."""
    from sauti.ingest.responses import list_responses

    source.require_store()
    rows = list_responses(source.workspace, limit=limit + 1, offset=offset, **filters)
    following = None
    if len(rows) > limit:
        query = {k: v for k, v in filters.items() if v is not None}
        following = "/api/v1/responses?" + urlencode({**query, "limit": limit, "offset": offset + limit})
    return {"responses": [response_view(r) for r in rows[:limit]], "next": following}


def summary(source: DataSource, start: str | None, end: str | None) -> dict:
    """Alerts received in the window, how many got a response that acted, and how fast."""
    from sauti.features.responses import response_summary
    from sauti.ingest.responses import response_frames

    source.require_store()
    responses, links = response_frames(source.workspace)
    return response_summary(source.alerts(), responses, links, source.localities(), start=start, end=end)
