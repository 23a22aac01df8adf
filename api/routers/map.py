"""``/map``: the offline folium map, and ``/basemap`` tiles from an optional local MBTiles file.

A browser cannot send a bearer header on a plain navigation: ``/map?key=KEY`` checks the key, sets
a short-lived signed session cookie (``HttpOnly``, ``SameSite=Strict``) and redirects to ``/map``
so the key leaves the address bar; the page and the tiles it loads then ride on the cookie. The
cookie is accepted for GET requests only. ``?key=`` is accepted on no other path.
"""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sauti.api import mapview
from sauti.api.deps import get_source, require
from sauti.api.errors import Forbidden, Unauthenticated
from sauti.api.security import SESSION_COOKIE, SESSION_SECONDS, Principal, audit, issue_session_token
from sauti.api.services.source import DataSource

from sauti.errors import NotFoundError

router = APIRouter(tags=["map"])


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
    basemap = _basemap_path(source) is not None
    page, shown = source.cached(
        ("map", mapview.redaction.may_see_alert_details(principal), basemap),
        lambda: mapview.build_map(source, principal, basemap=basemap),
    )
    if shown:
        audit(source.workspace, principal, "read_alert_details", "/map", alert_ids=shown)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def _basemap_path(source: DataSource):
    path = source.settings.basemap
    if path is None or not path.exists() or path.suffix.lower() != ".mbtiles":
        return None
    return path


@router.get("/basemap/{z}/{x}/{y}.png", response_class=Response, include_in_schema=False)
def basemap_tile(
    z: int,
    x: int,
    y: int,
    source: DataSource = Depends(get_source),
    _: Principal = Depends(require("map:read")),
) -> Response:
    """A tile of the local MBTiles basemap (TMS rows flipped to XYZ)."""
    path = _basemap_path(source)
    if path is None:
        raise NotFoundError("no local basemap: set SAUTI_BASEMAP to an .mbtiles file")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
    finally:
        con.close()
    if row is None:
        raise NotFoundError(f"the basemap has no tile {z}/{x}/{y}")
    return Response(bytes(row[0]), media_type="image/png")
