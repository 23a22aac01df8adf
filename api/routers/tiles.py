"""Heatmap of the risk surface: XYZ tiles, a PNG picture, a GeoTIFF export."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from sauti.api.byte_ranges import bytes_response
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


TIF_DOC = {
    "response_class": Response,
    "responses": {
        200: {"content": {"image/tiff": {}}, "description": "The whole Cloud-Optimized GeoTIFF."},
        206: {"description": "The byte range asked for (Range: bytes=first-last)."},
        416: {"description": "The range lies beyond the file."},
    },
}


@router.get("/heatmap.tif", summary="The risk surface as a Cloud-Optimized GeoTIFF (byte ranges)", **TIF_DOC)
@router.head("/heatmap.tif", summary="Size and validator of the heatmap GeoTIFF", **TIF_DOC)
def heatmap_tif(
    request: Request,
    query: HeatmapQuery = Depends(),
    renderer: HeatmapRenderer = Depends(get_renderer),
    _: Principal = Depends(READ),
) -> Response:
    """Float32 risk values in the surface's UTM CRS (an EPSG code); nodata −9999; compressed COG.

    Tags ``quantity``, ``units`` and ``description`` say what the values are (a relative index
    unless the surface was made as a probability). HEAD and ``Range`` requests are answered, so
    GDAL's ``/vsicurl/`` and QGIS open it lazily (key in an ``Authorization: Bearer`` header).
    Without ``bbox`` and ``resolution_km`` the stored surface is sent as it is.
    """
    disposition = {"Content-Disposition": 'attachment; filename="sauti_heatmap.tif"'}
    if query.bbox_tuple is None and query.resolution_km is None:
        renderer.version()  # NotReadyError when there is no surface yet
        return FileResponse(renderer.path, media_type=TIFF, headers=disposition)
    content = renderer.geotiff(query.bbox_tuple, query.resolution_km)
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    return bytes_response(request, content, media_type=TIFF, etag=etag, headers=disposition)
