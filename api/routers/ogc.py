"""OGC API – Features at ``/ogc``: landing page, conformance, collections, items, item."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from sauti.api.deps import ItemsQuery, get_source, require
from sauti.api.schemas import NOT_FOUND
from sauti.api.security import Principal, audit
from sauti.api.services import ogc
from sauti.api.services.source import DataSource

router = APIRouter(prefix="/ogc", tags=["ogc"])
READ = require("risk:read")


def _base(request: Request) -> str:
    """Where links point: ``settings.public_url``, else the address the connection came in on.

    Never the ``Host`` header: a client (or anyone between) could make the service hand out links
    to another site.
    """
    public = request.app.state.settings.public_url
    if public:
        return public.rstrip("/")
    host, port = request.scope.get("server") or ("127.0.0.1", None)
    host = f"[{host}]" if ":" in host else host
    scheme = request.scope.get("scheme", "http")
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")


@router.get("", summary="Landing page")
def landing(request: Request, _: Principal = Depends(READ)) -> JSONResponse:
    return JSONResponse(ogc.landing(_base(request)))


@router.get("/conformance", summary="Conformance classes")
def conformance(_: Principal = Depends(READ)) -> JSONResponse:
    return JSONResponse(ogc.conformance())


@router.get("/collections", summary="Collections")
def collections(
    request: Request, source: DataSource = Depends(get_source), principal: Principal = Depends(READ)
) -> JSONResponse:
    return JSONResponse(ogc.collections(source, _base(request), principal))


@router.get("/collections/{collection_id}", summary="One collection", responses=NOT_FOUND)
def collection(
    collection_id: str,
    request: Request,
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(READ),
) -> JSONResponse:
    return JSONResponse(ogc.collection_meta(source, _base(request), collection_id, principal))


@router.get(
    "/collections/{collection_id}/items",
    response_class=Response,
    responses={200: {"content": {ogc.GEOJSON: {}}}, **NOT_FOUND},
    summary="Features (GeoJSON), filtered by bbox and datetime, paged by limit/offset",
)
def items(
    collection_id: str,
    request: Request,
    query: ItemsQuery = Depends(),
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(READ),
) -> Response:
    body, shown = ogc.items(source, _base(request), collection_id, query, principal)
    if shown:
        audit(source.workspace, principal, "read_alert_details", request.url.path, alert_ids=shown)
    return Response(body, media_type=ogc.GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_class=Response,
    responses={200: {"content": {ogc.GEOJSON: {}}}, **NOT_FOUND},
    summary="One feature",
)
def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    source: DataSource = Depends(get_source),
    principal: Principal = Depends(READ),
) -> Response:
    body, shown = ogc.item(source, _base(request), collection_id, feature_id, principal)
    if shown:
        audit(source.workspace, principal, "read_alert_details", request.url.path, alert_ids=shown)
    return Response(body, media_type=ogc.GEOJSON)
