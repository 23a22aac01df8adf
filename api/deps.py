"""Dependencies shared by the routers: the data source, the caller, and grouped query parameters.

The data source lives on ``app.state`` and is reached only through :func:`get_source`, so tests can
swap it with ``app.dependency_overrides``. Query parameters that travel together are dependency
classes (titiler's habit), parsed and checked once here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from sauti.api.errors import Forbidden, InvalidInput, Unauthenticated
from sauti.api.security import SESSION_COOKIE, Principal
from sauti.api.services.source import DataSource

SAFE_METHODS = ("GET", "HEAD")
# the map page's own writes (a response recorded from a popup) carry this header: a cookie alone
# never writes (the cookie is SameSite=Strict, and another origin cannot add the header without CORS)
MAP_WRITE_HEADER = "X-Sauti-Map"


def get_source(request: Request) -> DataSource:
    """The workspace-backed data source the app was built with."""
    return request.app.state.source


def current_principal(request: Request, source: DataSource = Depends(get_source)) -> Principal:
    """The caller, from ``Authorization: Bearer KEY`` or the map's session cookie (GET, or a write
    from the map page carrying :data:`MAP_WRITE_HEADER`)."""
    header = request.headers.get("authorization", "")
    principal = None
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <API key>'")
        principal = source.principal_for_key(key.strip())
        if principal is None:
            raise Unauthenticated("unknown or revoked API key: ask an admin for one (`sauti users add`)")
    elif request.cookies.get(SESSION_COOKIE) and (
        request.method in SAFE_METHODS or request.headers.get(MAP_WRITE_HEADER) == "1"
    ):
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
# Messages name the parameter and what is expected, never the value sent (it may be 60 KB, or hold
# a phone number).
MAX_PARAM_CHARS = 200


def parse_bbox(text: str | None, name: str = "bbox") -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` in lon/lat, checked."""
    if text is None or text == "":
        return None
    try:
        values = [float(v) for v in text.split(",", 6)]
    except ValueError:
        values = []
    if len(values) == 6:  # OGC allows 3-D boxes: drop the heights
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInput(
            f"{name} must be four numbers 'minx,miny,maxx,maxy' (lon/lat)",
            [{"field": name, "reason": "expected minx,miny,maxx,maxy"}],
        )
    minx, miny, maxx, maxy = values
    in_range = all(-180 <= x <= 180 for x in (minx, maxx)) and all(-90 <= y <= 90 for y in (miny, maxy))
    if minx > maxx or miny > maxy or not in_range:
        raise InvalidInput(
            f"{name} is not a valid lon/lat box (min must not exceed max; lon within ±180, lat within ±90)",
            [{"field": name, "reason": "min greater than max or out of range"}],
        )
    return minx, miny, maxx, maxy


# what pandas' nanosecond timestamps can hold: a date outside would be silently wrong
EARLIEST = datetime(1678, 9, 22, tzinfo=UTC)
LATEST = datetime(2262, 4, 10, tzinfo=UTC)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt]?$")  # a date; GDAL sends 'YYYY-MM-DDT'


def _bad_datetime(reason: str) -> InvalidInput:
    return InvalidInput(
        f"datetime: {reason} (use an RFC 3339 date or date-time, or 'start/end' with '..' for an open end)",
        [{"field": "datetime", "reason": reason}],
    )


def _parse_instant(text: str, end: bool = False) -> datetime | None:
    """One side of an interval; a date alone is its first instant, or its last when ``end``."""
    if text in ("", ".."):
        return None
    date = _DATE.match(text)
    try:
        if date:
            value = datetime(*(int(g) for g in date.groups()), tzinfo=UTC)
            if end:
                value += timedelta(days=1) - timedelta(microseconds=1)
        else:
            value = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise _bad_datetime("not a date or date-time") from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not EARLIEST <= value <= LATEST:
        raise _bad_datetime(f"dates must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


def parse_period(text: str | None, name: str = "period") -> str | None:
    """A scored period asked for as ``YYYY-MM-DD``: a real date the service can hold, or 422."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(
            f"{name}: not a date (use YYYY-MM-DD)", [{"field": name, "reason": "not a date"}]
        ) from None
    if not EARLIEST <= day <= LATEST:
        reason = f"dates must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
        raise InvalidInput(f"{name}: {reason}", [{"field": name, "reason": reason}])
    return text


def parse_datetime(text: str | None) -> tuple[datetime | None, datetime | None] | None:
    """OGC ``datetime``: an instant, or an interval ``start/end`` with ``..`` (or nothing) for open ends.

    A date without a time stands for the whole day: ``2022-01-01`` and ``2022-01-01T`` (what GDAL
    sends) cover 00:00 to 23:59:59.999999 UTC; as an interval's end, a date includes that day.

    Examples
    --------
    >>> parse_datetime("2022-01-01T/..")[0].isoformat()
    '2022-01-01T00:00:00+00:00'
    """
    if not text:
        return None
    if text.count("/") > 1:
        raise _bad_datetime("more than one '/'")
    if "/" in text:
        start_text, _, end_text = text.partition("/")
        start, end = _parse_instant(start_text), _parse_instant(end_text, end=True)
        if start and end and start > end:
            raise _bad_datetime("the interval starts after it ends")
        return start, end
    if text == "..":
        raise _bad_datetime("'..' only stands for an open end of an interval")
    start = _parse_instant(text)
    return start, (_parse_instant(text, end=True) if _DATE.match(text) else start)


@dataclass
class LocalityQuery:
    """Filters for ``GET /localities``."""

    admin1: Annotated[
        str | None, Query(description="First-level unit: P-code or name (case-insensitive).")
    ] = None
    min_risk: Annotated[float | None, Query(ge=0, le=1, description="Only localities with risk ≥ this.")] = (
        None
    )
    bbox: Annotated[
        str | None, Query(max_length=MAX_PARAM_CHARS, description="minx,miny,maxx,maxy in lon/lat.")
    ] = None
    tolerance: Annotated[
        float, Query(ge=0, le=1, description="Geometry simplification tolerance in degrees (0 = exact).")
    ] = 0.005
    level: Annotated[
        str | None,
        Query(description="Unit level (default: the level the model scored); admin1 rolls risk up."),
    ] = None
    period: Annotated[
        str | None,
        Query(
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            description="An earlier scored period, YYYY-MM-DD (see GET /api/v1/periods); default the latest.",
        ),
    ] = None
    sort: Annotated[
        Literal["rank", "change"] | None,
        Query(description="rank: highest risk first; change: largest rise since the previous period first."),
    ] = None
    limit: Annotated[int | None, Query(ge=1, le=100000, description="At most this many localities.")] = None

    def __post_init__(self) -> None:
        self.bbox_tuple = parse_bbox(self.bbox)
        parse_period(self.period)


@dataclass
class ItemsQuery:
    """OGC API – Features ``/items`` parameters."""

    bbox: Annotated[
        str | None, Query(max_length=MAX_PARAM_CHARS, description="minx,miny,maxx,maxy in lon/lat.")
    ] = None
    limit: Annotated[int, Query(ge=1, le=10000, description="Features per page.")] = 100
    offset: Annotated[int, Query(ge=0, description="Features to skip (paging).")] = 0
    datetime: Annotated[
        str | None,
        Query(
            max_length=MAX_PARAM_CHARS,
            description="RFC 3339 date or date-time, or interval 'start/end' ('..' or empty: open); "
            "a date alone is the whole day (UTC). Dates between 1678-09-22 and 2262-04-10.",
        ),
    ] = None
    f: Annotated[str | None, Query(description="Output format: json (GeoJSON).")] = None

    def __post_init__(self) -> None:
        self.bbox_tuple = parse_bbox(self.bbox)
        self.interval = parse_datetime(self.datetime)
        if self.f not in (None, "json", "geojson"):
            raise InvalidInput(
                "f: this format is not offered: use f=json", [{"field": "f", "reason": "not offered"}]
            )


@dataclass
class HeatmapQuery:
    """Area and resolution of a heatmap export."""

    bbox: Annotated[
        str | None,
        Query(max_length=MAX_PARAM_CHARS, description="minx,miny,maxx,maxy in lon/lat (default: all)."),
    ] = None
    resolution_km: Annotated[
        float | None,
        Query(ge=0.001, le=100, description="Pixel size in km, 0.001–100 (default: the surface's)."),
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
