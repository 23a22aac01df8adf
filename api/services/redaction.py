"""Do No Harm at the edge: the only place where stored alerts become something a caller receives.

Fields are allow-listed, never block-listed: a column added to the store later stays inside until
someone adds it here. Nobody receives ``reporter_ref`` or the stored coordinates. Analysts see each
alert (text already scrubbed at ingest) placed at its locality's representative point, the
*generalised position*; planners see only counts per locality.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sauti.constants import ALERT_CATEGORIES, ALERT_VERIFICATION, LOCALITY_ID
from sauti.jsonable import json_value

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd

    from sauti.api.security import Principal

# what an analyst may read of one alert
ALERT_DETAIL_FIELDS = (
    "alert_id",
    "received_at",
    "channel",
    "text",
    "category",
    "place_name",
    LOCALITY_ID,
    "locality_confidence",
    "location_source",
    "verification",
    "severity",
)
POSITION_RULE = "locality representative point (stored coordinates are never served)"


def alert_detail(row: dict | Any) -> dict:
    """One alert as an analyst may see it (allow-listed fields only)."""
    get = row.get if isinstance(row, dict) else row.__getitem__
    out = {}
    for field in ALERT_DETAIL_FIELDS:
        try:
            out[field] = json_value(get(field))
        except KeyError:
            out[field] = None
    return out


def alert_details(frame: pd.DataFrame) -> list[dict]:
    """Every alert of ``frame`` through :func:`alert_detail`."""
    cols = [c for c in ALERT_DETAIL_FIELDS if c in frame.columns]
    return [alert_detail(r) for r in frame[cols].to_dict("records")]


def alert_counts(frame: pd.DataFrame) -> dict:
    """What a planner may know about a set of alerts: counts by category and verification."""
    by_category = {c: 0 for c in ALERT_CATEGORIES}
    by_verification = {v: 0 for v in ALERT_VERIFICATION}
    for key, n in frame["category"].value_counts().items():
        by_category[str(key)] = int(n)
    for key, n in frame["verification"].value_counts().items():
        by_verification[str(key)] = int(n)
    latest = frame["received_at"].max() if len(frame) else None
    return {
        "count": int(len(frame)),
        "by_category": by_category,
        "by_verification": by_verification,
        "latest_received_at": json_value(latest),
    }


def may_see_alert_details(principal: Principal) -> bool:
    return principal.can("alerts:detail")


def generalised_points(alerts: pd.DataFrame, localities: gpd.GeoDataFrame) -> dict[str, tuple[float, float]]:
    """The served position of alerts: each locality's representative point (lon, lat)."""
    wanted = set(alerts[LOCALITY_ID].dropna().astype(str))
    sub = localities[localities[LOCALITY_ID].isin(wanted)]
    points = sub.geometry.representative_point()
    return {lid: (round(p.x, 5), round(p.y, 5)) for lid, p in zip(sub[LOCALITY_ID], points, strict=True)}
