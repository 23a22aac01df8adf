"""``/api/v1/patrols/priorities``: where limited patrols cover the most risk."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends

from sauti.api.deps import PatrolQuery, get_source, require
from sauti.api.schemas import BODY_ERRORS
from sauti.api.security import Principal
from sauti.api.services import patrols
from sauti.api.services.source import DataSource

router = APIRouter(prefix="/api/v1", tags=["patrols"])


@router.get("/patrols/priorities", summary="Patrol plan from the stored bases")
def priorities(
    query: PatrolQuery = Depends(),
    source: DataSource = Depends(get_source),
    _: Principal = Depends(require("patrols:read")),
) -> dict:
    """Summary (forecast period, model version, expected localities with an incident covered, warnings,
    status, gap, explanation), ranked targets per base, GeoJSON."""
    return patrols.plan(source, query)


@router.post("/patrols/priorities", summary="Patrol plan for posted bases (GeoJSON)", responses=BODY_ERRORS)
def priorities_for_bases(
    bases: dict[str, Any] = Body(
        ..., description="FeatureCollection of Point bases: name, patrols, range_km."
    ),
    query: PatrolQuery = Depends(),
    source: DataSource = Depends(get_source),
    _: Principal = Depends(require("patrols:read")),
) -> dict:
    """As the GET, for bases posted in the body instead of the stored ones."""
    return patrols.plan(source, query, bases)
