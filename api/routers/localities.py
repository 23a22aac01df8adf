"""``/api/v1/localities``: latest risk per locality (GeoJSON) and one locality's detail."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sauti.api.deps import LocalityQuery, get_source, require
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
