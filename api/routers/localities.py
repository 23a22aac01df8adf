"""``/api/v1/localities``: latest risk per locality (GeoJSON) and one locality's detail."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from sauti.api.deps import LocalityQuery, get_source, parse_period, require
from sauti.api.schemas import NOT_FOUND
from sauti.api.security import Principal, audit
from sauti.api.services import risk
from sauti.api.services.source import DataSource

router = APIRouter(prefix="/api/v1", tags=["risk"])
GEOJSON = "application/geo+json"


@router.get(
    "/localities",
    response_class=Response,
    responses={
        200: {"content": {GEOJSON: {}}, "description": "FeatureCollection of localities with risk."},
        **NOT_FOUND,  # an unknown level
    },
    summary="Latest risk per locality (GeoJSON)",
)
def list_localities(
    query: LocalityQuery = Depends(),
    source: DataSource = Depends(get_source),
    _: Principal = Depends(require("risk:read")),
) -> Response:
    """Localities with the latest risk, rank, change since the previous period and top drivers.

    Filters: ``admin1`` (P-code or name), ``min_risk``, ``bbox``; ``tolerance`` simplifies geometry.
    """
    return Response(risk.localities_geojson(source, query), media_type=GEOJSON)


@router.get("/localities/rising", summary="What is rising: largest increases and new entries in the top 10%")
def rising_localities(
    n: int = Query(5, ge=1, le=100, description="Largest increases to list."),
    period: str | None = Query(
        None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Scored period, YYYY-MM-DD."
    ),
    source: DataSource = Depends(get_source),
    _: Principal = Depends(require("risk:read")),
) -> dict:
    """The ``n`` largest increases in risk since the previous scored period, and the localities
    newly in the top 10% by rank (each with name, risk, previous risk, change and ranks)."""
    return risk.rising(source, n, parse_period(period))


@router.get("/periods", summary="Scored periods (for ?period= on /localities)")
def periods(source: DataSource = Depends(get_source), _: Principal = Depends(require("risk:read"))) -> dict:
    """Every period the current model has scores for, oldest first, and the latest."""
    return risk.scored_periods(source)


@router.get(
    "/localities/{locality_id}",
    summary="One locality: risk, drivers, history, incidents, alerts",
    responses=NOT_FOUND,
)
def get_locality(
    locality_id: str,
    request: Request,
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(require("risk:read")),
) -> dict:
    """Risk history, drivers, recent incidents, and alerts redacted for the caller's role.

    Analysts get the alerts themselves (scrubbed text, no reporter pseudonym, no coordinates) and
    the read is written to the audit log; planners get counts only.
    """
    body, shown = risk.locality_detail(source, locality_id, principal)
    if shown:
        audit(source.workspace, principal, "read_alert_details", request.url.path, alert_ids=shown)
    return body
