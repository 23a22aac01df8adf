"""Dependencies shared by the routers: the data source, the caller, and grouped query parameters.

The data source lives on ``app.state`` and is reached only through :func:`get_source`, so tests can
swap it with ``app.dependency_overrides``. Query parameters that travel together are dependency
classes (titiler's habit), parsed and checked once here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from sauti.api.errors import Forbidden, InvalidInput, Unauthenticated
from sauti.api.security import SESSION_COOKIE, Principal
from sauti.api.services.source import DataSource

SAFE_METHODS = ("GET", "HEAD")


def get_source(request: Request) -> DataSource:
    """The workspace-backed data source the app was built with."""
    return request.app.state.source


def current_principal(request: Request, source: DataSource = Depends(get_source)) -> Principal:
    """The caller, from ``Authorization: Bearer KEY`` or (for GET only) the map's session cookie."""
    header = request.headers.get("authorization", "")
    principal = None
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <API key>'")
        principal = source.principal_for_key(key.strip())
        if principal is None:
            raise Unauthenticated("unknown or revoked API key: ask an admin for one (`sauti users add`)")
    elif request.method in SAFE_METHODS and request.cookies.get(SESSION_COOKIE):
        principal = source.principal_for_session(request.cookies[SESSION_COOKIE])
        if principal is None:
            raise Unauthenticated("the map session expired: open /map?key=<API key> again")
    if principal is None:
        raise Unauthenticated("this endpoint needs an API key: send 'Authorization: Bearer <key>'")
    request.state.principal = principal
    return principal


def require(permission: str):
    """A dependency that lets through only callers whose role grants ``permission``."""

    def checker(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(permission):
            raise Forbidden(f"role {principal.role!r} may not do this (needs {permission!r})")
        return principal

    checker.__name__ = f"require_{permission.replace(':', '_')}"
    return checker


# --- parameter parsing ---------------------------------------------------------------------------
def parse_bbox(text: str | None, name: str = "bbox") -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` in lon/lat, checked."""
    if text is None or text == "":
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 6:  # OGC allows 3-D boxes: drop the heights
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInput(
            f"{name} must be four numbers 'minx,miny,maxx,maxy' (lon/lat), got {text!r}",
            [{"field": name, "reason": "expected minx,miny,maxx,maxy"}],
        )
    minx, miny, maxx, maxy = values
    if minx > maxx or miny > maxy or not (-180 <= minx <= 180 and -90 <= miny <= 90):
        raise InvalidInput(
            f"{name} {text!r} is not a valid lon/lat box (min must not exceed max)",
            [{"field": name, "reason": "min greater than max or out of range"}],
        )
    return minx, miny, maxx, maxy


def _parse_instant(text: str, name: str) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{name}: {text!r} is not an RFC 3339 date or date-time",
            [{"field": name, "reason": "not a date"}],
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_datetime(text: str | None) -> tuple[datetime | None, datetime | None] | None:
    """OGC ``datetime``: an instant, or an interval ``start/end`` with ``..`` for open ends."""
    if not text:
        return None
    if "/" in text:
        start_text, _, end_text = text.partition("/")
        start, end = _parse_instant(start_text, "datetime"), _parse_instant(end_text, "datetime")
        if start and end and start > end:
            raise InvalidInput(
                "datetime interval starts after it ends", [{"field": "datetime", "reason": "start > end"}]
            )
        return start, end
    instant = _parse_instant(text, "datetime")
    if instant is not None and len(text) <= 10:  # a date: the whole day
        from datetime import timedelta

        return instant, instant + timedelta(days=1) - timedelta(microseconds=1)
    return instant, instant


@dataclass
class LocalityQuery:
    """Filters for ``GET /localities``."""

    admin1: Annotated[
        str | None, Query(description="First-level unit: P-code or name (case-insensitive).")
    ] = None
    min_risk: Annotated[float | None, Query(ge=0, le=1, description="Only localities with risk ≥ this.")] = (
        None
    )
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in lon/lat.")] = None
    tolerance: Annotated[
        float, Query(ge=0, le=1, description="Geometry simplification tolerance in degrees (0 = exact).")
    ] = 0.005
    level: Annotated[str | None, Query(description="Unit level (default: the level the model scored).")] = (
        None
    )

    def __post_init__(self) -> None:
        self.bbox_tuple = parse_bbox(self.bbox)


@dataclass
class ItemsQuery:
    """OGC API – Features ``/items`` parameters."""

    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in lon/lat.")] = None
    limit: Annotated[int, Query(ge=1, le=10000, description="Features per page.")] = 100
    offset: Annotated[int, Query(ge=0, description="Features to skip (paging).")] = 0
    datetime: Annotated[str | None, Query(description="Instant or interval 'start/end' ('..' open).")] = None
    f: Annotated[str | None, Query(description="Output format: json (GeoJSON).")] = None

    def __post_init__(self) -> None:
        self.bbox_tuple = parse_bbox(self.bbox)
        self.interval = parse_datetime(self.datetime)
        if self.f not in (None, "json", "geojson"):
            raise InvalidInput(f"f={self.f!r} is not offered: use f=json", [{"field": "f", "reason": "json"}])


@dataclass
class HeatmapQuery:
    """Area and resolution of a heatmap export."""

    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in lon/lat (default: all).")] = None
    resolution_km: Annotated[
        float | None, Query(gt=0, le=100, description="Pixel size in km (default: the surface's).")
    ] = None
    width: Annotated[int | None, Query(ge=16, le=4096, description="PNG width in pixels (heatmap.png).")] = (
        None
    )

    def __post_init__(self) -> None:
        self.bbox_tuple = parse_bbox(self.bbox)


@dataclass
class PatrolQuery:
    """Patrol planning parameters (default: what the stored bases say)."""

    patrols: Annotated[
        int | None, Query(ge=0, le=1000, description="Patrols per base (overrides the bases).")
    ] = None
    range_km: Annotated[float | None, Query(gt=0, le=2000, description="Patrol range in km (overrides).")] = (
        None
    )
    method: Annotated[
        str, Query(pattern="^(auto|exact|greedy)$", description="auto, exact (MILP) or greedy.")
    ] = "auto"
