"""The ``/map`` pages: the key form, a message page, the sign-in that trades a key for a session
cookie, and the map itself (cached per role, basemap and period; alert details audited).

:mod:`sauti.api.routers.map` answers the requests with these; what the map says and how it is drawn
are :mod:`~sauti.api.map.content` and :mod:`~sauti.api.map.view`.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sauti.api.errors import Forbidden, Unauthenticated
from sauti.api.map import content, view
from sauti.api.security import SESSION_COOKIE, SESSION_SECONDS, Principal, audit, issue_session_token
from sauti.api.services.source import DataSource
from sauti.basemap import Basemap, BasemapError, open_basemap

log = logging.getLogger("sauti.api")


def sign_in_page(source: DataSource, key: str, period: str | None) -> Response:
    """A session cookie and a redirect to the map, or the form again with the reason."""
    try:
        return _sign_in(source, key, period)
    except Unauthenticated:
        return ask_for_key("That key was not recognised (unknown or revoked). Try again.", period)
    except Forbidden as exc:
        return message_page("Not allowed", f"{exc}.", 403)


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


def ask_for_key(message: str | None, period: str | None) -> HTMLResponse:
    """The key form (status 401), with ``message`` above it when there is one."""
    page = content.render("map_message.html", title="Risk map", message=message, ask_key=True, period=period)
    return HTMLResponse(
        page, status_code=401, headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"}
    )


def message_page(title: str, message: str, status: int) -> HTMLResponse:
    """A page that says one thing (not allowed, not found), with its HTTP status."""
    page = content.render("map_message.html", title=title, message=message, ask_key=False)
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def map_response(source: DataSource, principal: Principal, period: str | None) -> HTMLResponse:
    """The map page for ``principal``; reading alert details on it is written to the audit log."""
    view.map_ready(source)
    basemap = configured_basemap(source)
    zooms = None if basemap is None else (basemap.min_zoom, basemap.max_zoom)
    # keyed by role: the page depends on several of the role's permissions (alert details, patrol
    # plans, responses), so a page built for one role is never served to another
    page, shown = source.cached(
        ("map", principal.role, zooms, period),
        lambda: view.build_map(source, principal, basemap=zooms, period=period),
    )
    if shown:
        audit(source.workspace, principal, "read_alert_details", "/map", alert_ids=shown)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def configured_basemap(source: DataSource) -> Basemap | None:
    """The configured basemap, or None (a file that cannot be served is logged, not fatal)."""
    try:
        return open_basemap(source.settings.basemap)
    except BasemapError as exc:
        log.warning("basemap not used: %s", exc)
        return None
