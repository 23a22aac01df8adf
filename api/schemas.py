"""Request bodies the API accepts, described in the OpenAPI document.

Only the shape is checked here (422 with the field's location); meaning is checked by the ingest
layer (``submit_alerts``), whose field-level errors come back in the same form.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from sauti.constants import ALERT_VERIFICATION

MAX_TEXT = 5000
MAX_ALERT_FIELDS = 100
"""Most fields one alert object may carry (the canonical ones and a gateway's own: refused early,
before a request of 330,000 keys costs the server a DataFrame of as many columns)."""


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Coordinate = Annotated[float | None, BeforeValidator(_not_a_boolean)]


class AlertIn(BaseModel):
    """A canonical alert. Give a point, a ``locality_id`` or a ``place_name`` (or a place in the text)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "received_at": "2022-11-03T08:15:00Z",
                    "channel": "phone",
                    "category": "intercommunal_tension",
                    "text": "Tensions entre éleveurs et agriculteurs près de Kaga-Bandoro",
                    "place_name": "Kaga-Bandoro",
                    "severity": 3,
                }
            ]
        },
    )

    received_at: str | None = Field(
        None, max_length=64, description="ISO 8601; naive times are mission local."
    )
    channel: str | None = Field(None, max_length=32, description="sms | phone | in_person | app")
    text: str | None = Field(None, max_length=MAX_TEXT)
    category: str | None = Field(None, max_length=64)
    longitude: Coordinate = Field(None, ge=-180, le=180, allow_inf_nan=False)
    latitude: Coordinate = Field(None, ge=-90, le=90, allow_inf_nan=False)
    place_name: str | None = Field(None, max_length=200)
    locality_id: str | None = Field(None, max_length=64)
    severity: int | None = Field(None, ge=1, le=5)
    reporter_phone: str | None = Field(
        None, max_length=64, description="Pseudonymised at once, never stored."
    )
    reporter_name: str | None = Field(
        None, max_length=200, description="Pseudonymised at once, never stored."
    )

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > MAX_ALERT_FIELDS:
            raise ValueError(f"an alert has at most {MAX_ALERT_FIELDS} fields; this one has {len(data):,}")
        return data


class SmsIn(BaseModel):
    """The shape an SMS gateway posts."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str = Field(..., alias="from", min_length=3, max_length=64, description="Sender number.")
    text: str = Field(..., min_length=1, max_length=MAX_TEXT)
    received_at: str | None = Field(None, max_length=64)


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "sms" if "from" in value else "alert"
    return "sms" if hasattr(value, "from_") else "alert"


AnyAlert = Annotated[Annotated[AlertIn, Tag("alert")] | Annotated[SmsIn, Tag("sms")], Discriminator(_shape)]


def as_record(alert: AlertIn | SmsIn) -> dict:
    """The record handed to ``submit_alerts`` (SMS shape keeps its ``from`` key)."""
    return alert.model_dump(by_alias=True, exclude_none=True)


class AlertBatch(BaseModel):
    """Several alerts in one request (each canonical or SMS-shaped)."""

    alerts: list[AnyAlert] = Field(..., min_length=1, max_length=5000)


class VerificationIn(BaseModel):
    """An analyst's verdict on an alert."""

    model_config = ConfigDict(extra="forbid")

    verification: Literal[ALERT_VERIFICATION]  # type: ignore[valid-type]


# --- replies -------------------------------------------------------------------------------------
class ErrorItem(BaseModel):
    """What is wrong with one field (the field is named, its value never repeated)."""

    field: str | None = Field(
        None, description="The parameter or body field, e.g. 'bbox', 'alerts.3.severity'."
    )
    reason: str | None = Field(None, description="Why it was refused.")


class ErrorBody(BaseModel):
    """Every error reply (4xx and 5xx) has this shape."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(..., description="One sentence saying what went wrong and what to do.")
    type: str = Field(..., description="Kind of error, e.g. RequestValidationError, NotFoundError.")
    errors: list[ErrorItem] | None = Field(None, description="Field-level details, where there are any.")
    error_id: str | None = Field(
        None, description="500 only: the id under which the server logged the failure."
    )


class AlertOutcome(BaseModel):
    """What became of one submitted alert (never any reporter data)."""

    row: int = Field(..., description="1-based position in the request (or CSV data row).")
    status: Literal["accepted", "duplicate", "rejected"]
    alert_id: str | None = None
    locality_id: str | None = None
    locality_name: str | None = None
    locality_confidence: float | None = None
    location_source: str | None = None
    errors: list[ErrorItem] = Field(default_factory=list)


class AlertBatchResult(BaseModel):
    """One outcome per submitted alert, in order; ``read = accepted + duplicates + rejected``."""

    read: int
    accepted: int
    duplicates: int
    rejected: int
    results: list[AlertOutcome]


def error_reply(description: str) -> dict:
    return {"model": ErrorBody, "description": description}


# replies any endpoint may give, documented on every route (see sauti.api.errors for the mapping)
COMMON_ERRORS: dict[int | str, dict] = {
    400: error_reply("A request the service cannot act on (e.g. an unreadable file)."),
    401: error_reply("No valid API key or session."),
    403: error_reply("The caller's role does not allow this."),
    422: error_reply("A parameter or body field is invalid; `errors` names each field."),
    500: error_reply("The service failed; `error_id` is in the server log."),
    503: error_reply("Not ready: a step must run first (ingest, features, train, score)."),
}
NOT_FOUND = {404: error_reply("No such locality, collection, feature, alert or user.")}
BODY_ERRORS = {
    408: error_reply("The request body did not arrive within the body timeout."),
    413: error_reply("The request body is larger than the limit (SAUTI_MAX_BODY_BYTES)."),
}


# --- responses (issue 19) ---------------------------------------------------------------------
RESPONSE_TIME = Field(None, max_length=64, description="ISO 8601; naive times are mission local.")
RESPONSE_NOTES = Field(None, max_length=5000, description="Scrubbed of phone numbers and reporter names.")


class ResponseChange(BaseModel):
    """What may be added or corrected later: times, outcome, casualties, unit, notes, plan entry."""

    model_config = ConfigDict(extra="forbid")

    unit: str | None = Field(None, max_length=200, description="Who went.")
    plan_entry: str | None = Field(None, max_length=200, description="The patrol-plan entry it carried out.")
    decided_at: str | None = RESPONSE_TIME
    dispatched_at: str | None = RESPONSE_TIME
    arrived_at: str | None = RESPONSE_TIME
    completed_at: str | None = RESPONSE_TIME
    outcome: str | None = Field(
        None, max_length=32, description="calm | tension | violence | unreachable | unknown"
    )
    casualties: int | None = Field(None, ge=0, le=1_000_000)
    notes: str | None = RESPONSE_NOTES


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
