"""``/map``: the offline folium map, and ``/basemap`` tiles from an optional local MBTiles/PMTiles file.

A browser cannot send a bearer header on a plain navigation. Without a valid key or session the page
asks for the key in a small form (HTML, status 401); the form posts it to ``/map``, which, like
``/map?key=KEY``, checks the key, sets a short-lived signed session cookie (``HttpOnly``,
``SameSite=Strict``) and redirects to ``/map`` so the key leaves the address bar; the page and the
tiles it loads then ride on the cookie. The cookie is accepted for GET requests only. ``?key=`` is
accepted on no other path. ``?period=YYYY-MM-DD`` shows an earlier scored period.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from sauti.api.deps import current_principal, get_source, require
from sauti.api.errors import Unauthenticated
from sauti.api.map.page import ask_for_key, map_response, message_page, sign_in_page
from sauti.api.security import SESSION_COOKIE, Principal
from sauti.api.services.source import DataSource
from sauti.basemap import BasemapError, open_basemap
from sauti.errors import NotFoundError

router = APIRouter(tags=["map"])
PERIOD = Query(None, description="A scored period, YYYY-MM-DD (default: the latest).")


@router.get("/map", response_class=HTMLResponse, include_in_schema=False)
def map_page(
    request: Request,
    key: str | None = Query(None, description="API key, traded for a session cookie."),
    period: str | None = PERIOD,
    source: DataSource = Depends(get_source),
) -> Response:
    if key is not None:
        return sign_in_page(source, key, period)
    try:
        principal = current_principal(request, source)
    except Unauthenticated as exc:
        expired = request.cookies.get(SESSION_COOKIE) is not None and "session" in str(exc)
        message = "Your map session has expired: enter your key again." if expired else None
        return ask_for_key(message, period)
    if not principal.can("map:read"):
        return message_page("Not allowed", f"The role {principal.role!r} may not open the map.", 403)
    try:
        return map_response(source, principal, period)
    except NotFoundError as exc:
        return message_page("Not found", str(exc), 404)


@router.post("/map", response_class=HTMLResponse, include_in_schema=False)
def map_sign_in(
    key: str = Form(..., description="API key, traded for a session cookie."),
    period: str | None = Form(None),
    source: DataSource = Depends(get_source),
) -> Response:
    """The key form's answer: a session cookie and the map, or the form again."""
    return sign_in_page(source, key.strip(), period)


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
