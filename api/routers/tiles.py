"""Heatmap of the risk surface: XYZ tiles, a PNG picture, a GeoTIFF export."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sauti.api.deps import HeatmapQuery, get_source, require
from sauti.api.security import Principal
from sauti.api.services.source import DataSource
from sauti.api.services.tiles import HeatmapRenderer

router = APIRouter(tags=["heatmap"])
READ = require("map:read")
PNG = "image/png"
TIFF = "image/tiff; application=geotiff"


def get_renderer(request: Request, source: DataSource = Depends(get_source)) -> HeatmapRenderer:
    """The shared renderer of the workspace's risk surface (one per app)."""
    renderer = getattr(request.app.state, "heatmap", None)
    if renderer is None or renderer.path != source.risk_surface_path:
        renderer = request.app.state.heatmap = HeatmapRenderer(source.risk_surface_path)
    return renderer


@router.get(
    "/tiles/{z}/{x}/{y}.png",
    response_class=Response,
    responses={200: {"content": {PNG: {}}}},
    summary="XYZ tile of the risk heatmap",
)
def tile(
    z: int, x: int, y: int, renderer: HeatmapRenderer = Depends(get_renderer), _: Principal = Depends(READ)
) -> Response:
    """256-pixel PNG in Web Mercator, YlOrRd ramp, transparent where there is no data."""
    return Response(renderer.tile(z, x, y), media_type=PNG, headers={"Cache-Control": "private, max-age=60"})


@router.get(
    "/heatmap.png",
    response_class=Response,
    responses={200: {"content": {PNG: {}}}},
    summary="The heatmap as one PNG (EPSG:4326)",
)
def heatmap_png(
    query: HeatmapQuery = Depends(),
    renderer: HeatmapRenderer = Depends(get_renderer),
    _: Principal = Depends(READ),
) -> Response:
    return Response(renderer.png(query.bbox_tuple, query.width), media_type=PNG)


@router.get(
    "/heatmap.tif",
    response_class=Response,
    responses={200: {"content": {"image/tiff": {}}}},
    summary="The risk surface as GeoTIFF for a bbox and resolution",
)
def heatmap_tif(
    query: HeatmapQuery = Depends(),
    renderer: HeatmapRenderer = Depends(get_renderer),
    _: Principal = Depends(READ),
) -> Response:
    """Float32 risk values in the surface's equal-area CRS; nodata −9999."""
    return Response(
        renderer.geotiff(query.bbox_tuple, query.resolution_km),
        media_type=TIFF,
        headers={"Content-Disposition": 'attachment; filename="sauti_heatmap.tif"'},
    )
