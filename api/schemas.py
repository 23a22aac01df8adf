"""Request bodies the API accepts, described in the OpenAPI document.

Only the shape is checked here (422 with the field's location); meaning is checked by the ingest
layer (``submit_alerts``), whose field-level errors come back in the same form.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from sauti.constants import ALERT_VERIFICATION

MAX_TEXT = 5000


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
    longitude: float | None = Field(None, ge=-180, le=180)
    latitude: float | None = Field(None, ge=-90, le=90)
    place_name: str | None = Field(None, max_length=200)
    locality_id: str | None = Field(None, max_length=64)
    severity: int | None = Field(None, ge=1, le=5)
    reporter_phone: str | None = Field(
        None, max_length=64, description="Pseudonymised at once, never stored."
    )
    reporter_name: str | None = Field(
        None, max_length=200, description="Pseudonymised at once, never stored."
    )


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
