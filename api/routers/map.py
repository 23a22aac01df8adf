"""``/map``: the offline folium map, and ``/basemap`` tiles from an optional local MBTiles/PMTiles file.

A browser cannot send a bearer header on a plain navigation. Without a valid key or session the page
asks for the key in a small form (HTML, status 401); the form posts it to ``/map``, which, like
``/map?key=KEY``, checks the key, sets a short-lived signed session cookie (``HttpOnly``,
``SameSite=Strict``) and redirects to ``/map`` so the key leaves the address bar; the page and the
tiles it loads then ride on the cookie. The cookie is accepted for GET requests only. ``?key=`` is
accepted on no other path. ``?period=YYYY-MM-DD`` shows an earlier scored period.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sauti.api.deps import current_principal, get_source, require
from sauti.api.errors import Forbidden, Unauthenticated
from sauti.api.map import content, view
from sauti.api.security import SESSION_COOKIE, SESSION_SECONDS, Principal, audit, issue_session_token
from sauti.api.services.source import DataSource

from sauti.basemap import Basemap, BasemapError, open_basemap
from sauti.errors import NotFoundError

router = APIRouter(tags=["map"])
log = logging.getLogger("sauti.api")
PERIOD = Query(None, description="A scored period, YYYY-MM-DD (default: the latest).")


@router.get("/map", response_class=HTMLResponse, include_in_schema=False)
def map_page(
    request: Request,
    key: str | None = Query(None, description="API key, traded for a session cookie."),
    period: str | None = PERIOD,
    source: DataSource = Depends(get_source),
):
    if key is not None:
        return _sign_in_page(source, key, period)
    try:
        principal = current_principal(request, source)
    except Unauthenticated as exc:
        expired = request.cookies.get(SESSION_COOKIE) is not None and "session" in str(exc)
        message = "Your map session has expired: enter your key again." if expired else None
        return _ask_for_key(message, period)
    if not principal.can("map:read"):
        return _message("Not allowed", f"The role {principal.role!r} may not open the map.", 403)
    try:
        return _render(source, principal, period)
    except NotFoundError as exc:
        return _message("Not found", str(exc), 404)


@router.post("/map", response_class=HTMLResponse, include_in_schema=False)
def map_sign_in(
    key: str = Form(..., description="API key, traded for a session cookie."),
    period: str | None = Form(None),
    source: DataSource = Depends(get_source),
):
    """The key form's answer: a session cookie and the map, or the form again."""
    return _sign_in_page(source, key.strip(), period)


def _sign_in_page(source: DataSource, key: str, period: str | None) -> Response:
    """A session cookie and a redirect to the map, or the form again with the reason."""
    try:
        return _sign_in(source, key, period)
    except Unauthenticated:
        return _ask_for_key("That key was not recognised (unknown or revoked). Try again.", period)
    except Forbidden as exc:
        return _message("Not allowed", f"{exc}.", 403)


def _sign_in(source: DataSource, key: str, period: str | None) -> Response:
    principal = source.principal_for_key(key)
    if principal is None:
        raise Unauthenticated("unknown or revoked API key in ?key=")
    if not principal.can("map:read"):
        raise Forbidden(f"role {principal.role!r} may not open the map")
    target = "/map" + (f"?{urlencode({'period': period})}" if period else "")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issue_session_token(source.workspace, principal),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        path="/",
    )
    return response


def _ask_for_key(message: str | None, period: str | None) -> HTMLResponse:
    page = content.render("map_message.html", title="Risk map", message=message, ask_key=True, period=period)
    return HTMLResponse(
        page, status_code=401, headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"}
    )


def _message(title: str, message: str, status: int) -> HTMLResponse:
    page = content.render("map_message.html", title=title, message=message, ask_key=False)
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def _render(source: DataSource, principal: Principal, period: str | None) -> HTMLResponse:
    view.map_ready(source)
    basemap = _basemap(source)
    zooms = None if basemap is None else (basemap.min_zoom, basemap.max_zoom)
    page, shown = source.cached(
        ("map", view.redaction.may_see_alert_details(principal), zooms, period),
        lambda: view.build_map(source, principal, basemap=zooms, period=period),
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
