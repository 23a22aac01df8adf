"""What the mission did about alerts: record a response, add to it later, list and summarise them.

Analysts, planners and admins read and write; reporters never. Nothing here carries alert text.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from sauti.api.deps import MAX_PARAM_CHARS, get_source, parse_period, require
from sauti.api.schemas import BODY_ERRORS, NOT_FOUND, ResponseChange, ResponseIn
from sauti.api.security import Principal
from sauti.api.services import responses
from sauti.api.services.source import DataSource

router = APIRouter(prefix="/api/v1", tags=["responses"])
READ = require("responses:read")
WRITE = require("responses:write")
PAGE_DEFAULT = 500
PAGE_MAX = 5000


@router.post(
    "/responses",
    status_code=201,
    summary="Record a response to alerts or a plan (analysts, planners)",
    responses={
        201: {"description": "Stored: `{response_id, status, locality_id}`."},
        200: {"description": "This response_id was stored already: nothing new stored."},
        **BODY_ERRORS,
    },
)
def post_response(
    body: ResponseIn,
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(WRITE),
) -> JSONResponse:
    """201 with the response id; a repeat of the same response_id → 200 with the same id."""
    status, reply = responses.record(source, principal, body.model_dump(exclude_none=True))
    return JSONResponse(reply, status_code=status)


@router.patch(
    "/responses/{response_id}",
    summary="Add times, outcome or notes to a response (audited)",
    responses={**NOT_FOUND, **BODY_ERRORS},
)
def patch_response(
    change: ResponseChange,
    response_id: str = Path(..., max_length=200),
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(WRITE),
) -> dict:
    """The response as stored after the change; times must stay in order."""
    return responses.change(source, principal, response_id, change.model_dump(exclude_unset=True))


@router.get(
    "/responses", summary="Responses, earliest first, a page at a time (filters: window, locality, alert)"
)
def get_responses(
    start: str | None = Query(None, description="YYYY-MM-DD: responses from this day (UTC)."),
    end: str | None = Query(None, description="YYYY-MM-DD: responses up to this day (UTC), inclusive."),
    locality_id: str | None = Query(None, max_length=MAX_PARAM_CHARS),
    alert_id: str | None = Query(None, max_length=MAX_PARAM_CHARS),
    limit: int = Query(PAGE_DEFAULT, ge=1, le=PAGE_MAX, description="Responses per page."),
    offset: int = Query(0, ge=0, le=10_000_000, description="Responses to skip (paging; see `next`)."),
    source: DataSource = Depends(get_source),
    _: Principal = Depends(READ),
) -> dict:
    """`{"responses": [...], "next": ...}`: ids of the alerts answered, never their text. `next` is
    the path of the following page (same filters), `null` on the last page."""
    return responses.listing(
        source,
        limit=limit,
        offset=offset,
        start=parse_period(start, "start"),
        end=parse_period(end, "end"),
        locality_id=locality_id,
        alert_id=alert_id,
    )


@router.get("/responses/summary", summary="Alerts answered and minutes to dispatch and arrival")
def get_summary(
    start: str | None = Query(None, description="YYYY-MM-DD: alerts received from this day (UTC)."),
    end: str | None = Query(None, description="YYYY-MM-DD: alerts received up to this day (UTC), inclusive."),
    source: DataSource = Depends(get_source),
    _: Principal = Depends(READ),
) -> dict:
    """`alerts`, `alerts_with_response`, `share_with_response`, `minutes_alert_to_dispatch` and
    `minutes_alert_to_arrival` (`{median, p90, n}`), and the same `by_admin1` and `by_category`."""
    return responses.summary(source, parse_period(start, "start"), parse_period(end, "end"))
