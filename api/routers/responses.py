"""What the mission did about alerts: record a response, add to it later, list and summarise them.

Analysts, planners and admins read and write; reporters never. Nothing here carries alert text.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sauti.api.deps import MAX_PARAM_CHARS, get_source, parse_period, require
from sauti.api.schemas import BODY_ERRORS, NOT_FOUND
from sauti.api.security import Principal
from sauti.api.services import responses
from sauti.api.services.source import DataSource

router = APIRouter(prefix="/api/v1", tags=["responses"])
READ = require("responses:read")
WRITE = require("responses:write")
TIME = Field(None, max_length=64, description="ISO 8601; naive times are mission local.")
NOTES = Field(None, max_length=5000, description="Scrubbed of phone numbers and reporter names.")


class ResponseChange(BaseModel):
    """What may be added or corrected later: times, outcome, casualties, unit, notes, plan entry."""

    model_config = ConfigDict(extra="forbid")

    unit: str | None = Field(None, max_length=200, description="Who went.")
    plan_entry: str | None = Field(None, max_length=200, description="The patrol-plan entry it carried out.")
    decided_at: str | None = TIME
    dispatched_at: str | None = TIME
    arrived_at: str | None = TIME
    completed_at: str | None = TIME
    outcome: str | None = Field(
        None, max_length=32, description="calm | tension | violence | unreachable | unknown"
    )
    casualties: int | None = Field(None, ge=0, le=1_000_000)
    notes: str | None = NOTES


class ResponseIn(ResponseChange):
    """A response: an action linked to alerts and/or a locality, its times and outcome."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "response_id": "BANBAT-2024-03-01-01",
                    "action": "patrol",
                    "alert_ids": ["a1"],
                    "unit": "BANBAT 2 Coy",
                    "dispatched_at": "2024-03-01T08:30:00Z",
                    "arrived_at": "2024-03-01T09:40:00Z",
                    "outcome": "calm",
                }
            ]
        },
    )

    response_id: str | None = Field(
        None, max_length=200, description="The client's key: the same id again stores nothing new."
    )
    action: str = Field(..., max_length=32, description="patrol | engagement | message | other | none")
    alert_ids: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=500)
    locality_id: str | None = Field(None, max_length=64, description="Default: the first alert's locality.")


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


@router.get("/responses", summary="Responses, earliest first (filters: window, locality, alert)")
def get_responses(
    start: str | None = Query(None, description="YYYY-MM-DD: responses from this day (UTC)."),
    end: str | None = Query(None, description="YYYY-MM-DD: responses up to this day (UTC), inclusive."),
    locality_id: str | None = Query(None, max_length=MAX_PARAM_CHARS),
    alert_id: str | None = Query(None, max_length=MAX_PARAM_CHARS),
    source: DataSource = Depends(get_source),
    _: Principal = Depends(READ),
) -> dict:
    """`{"responses": [...]}`: ids of the alerts answered, never their text."""
    return responses.listing(
        source,
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
