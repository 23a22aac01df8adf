"""``/map``: the offline folium map, and ``/basemap`` tiles from an optional local MBTiles/PMTiles file.

A browser cannot send a bearer header on a plain navigation: ``/map?key=KEY`` checks the key, sets
a short-lived signed session cookie (``HttpOnly``, ``SameSite=Strict``) and redirects to ``/map``
so the key leaves the address bar; the page and the tiles it loads then ride on the cookie. The
cookie is accepted for GET requests only. ``?key=`` is accepted on no other path.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sauti.api import mapview
from sauti.api.deps import get_source, require
from sauti.api.errors import Forbidden, Unauthenticated
from sauti.api.security import SESSION_COOKIE, SESSION_SECONDS, Principal, audit, issue_session_token
from sauti.api.services.basemap import Basemap, BasemapError, open_basemap
from sauti.api.services.source import DataSource

from sauti.errors import NotFoundError

router = APIRouter(tags=["map"])
log = logging.getLogger("sauti.api")


@router.get("/map", response_class=HTMLResponse, include_in_schema=False)
def map_with_key(
    request: Request,
    key: str | None = Query(None, description="API key, traded for a session cookie."),
    source: DataSource = Depends(get_source),
):
    if key is None:
        return _map_page(request, source)
    principal = source.principal_for_key(key)
    if principal is None:
        raise Unauthenticated("unknown or revoked API key in ?key=")
    if not principal.can("map:read"):
        raise Forbidden(f"role {principal.role!r} may not open the map")
    response = RedirectResponse("/map", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issue_session_token(source.workspace, principal),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        path="/",
    )
    return response


def _map_page(request: Request, source: DataSource) -> HTMLResponse:
    from sauti.api.deps import current_principal

    principal = current_principal(request, source)
    if not principal.can("map:read"):
        raise Forbidden(f"role {principal.role!r} may not open the map")
    return _render(request, source, principal)


def _render(request: Request, source: DataSource, principal: Principal) -> HTMLResponse:
    mapview.map_ready(source)
    basemap = _basemap(source)
    zooms = None if basemap is None else (basemap.min_zoom, basemap.max_zoom)
    page, shown = source.cached(
        ("map", mapview.redaction.may_see_alert_details(principal), zooms),
        lambda: mapview.build_map(source, principal, basemap=zooms),
    )
    if shown:
        audit(source.workspace, principal, "read_alert_details", "/map", alert_ids=shown)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def _basemap(source: DataSource) -> Basemap | None:
    """The configured basemap, or None (a file that cannot be served is logged, not fatal)."""
    try:
        return open_basemap(source.settings.basemap)
    except BasemapError as exc:
        log.warning("basemap not used: %s", exc)
        return None


@router.get("/basemap/{z}/{x}/{y}.png", response_class=Response, include_in_schema=False)
def basemap_tile(
    z: int,
    x: int,
    y: int,
    source: DataSource = Depends(get_source),
    _: Principal = Depends(require("map:read")),
) -> Response:
    """A tile of the local MBTiles or PMTiles raster basemap (XYZ numbering; PNG, JPEG or WebP)."""
    try:
        basemap = open_basemap(source.settings.basemap)
    except BasemapError as exc:
        raise NotFoundError(f"no usable local basemap: {exc}") from None
    if basemap is None:
        raise NotFoundError("no local basemap: set SAUTI_BASEMAP to an .mbtiles or .pmtiles file")
    data = basemap.tile(z, x, y)
    if data is None:
        raise NotFoundError(f"the basemap has no tile {z}/{x}/{y}")
    return Response(data, media_type=basemap.media_type, headers={"Cache-Control": "max-age=86400"})
