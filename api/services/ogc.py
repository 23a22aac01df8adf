"""OGC API – Features (Part 1: Core, GeoJSON) over the workspace: localities, incidents, alerts.

Each collection is a cached *feature table* (ids, bounding boxes, times, GeoJSON text per feature)
built once per data generation; ``/items`` filters it by ``bbox`` and ``datetime`` and pages it by
``limit``/``offset`` with ``next``/``prev`` links. The alerts collection depends on the caller:
analysts get one feature per alert placed at its locality's representative point (never the stored
coordinates, never ``reporter_ref``); planners get one feature per locality with counts only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import numpy as np

from sauti.api.services import redaction
from sauti.api.services.risk import _feature_table, mark_after_forecast_data, served_level
from sauti.api.services.source import DataSource
from sauti.constants import LOCALITY_ID
from sauti.errors import NotFoundError
from sauti.jsonable import json_number, json_text

if TYPE_CHECKING:  # pragma: no cover
    from sauti.api.deps import ItemsQuery
    from sauti.api.security import Principal

GEOJSON = "application/geo+json"
JSON = "application/json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
COLLECTIONS = {
    "localities": (
        "Localities and their latest risk",
        "Units scored by the model, with risk, rank and drivers.",
    ),
    "incidents": (
        "Incidents",
        "Incidents located to a point or a locality (public sources such as UCDP GED).",
    ),
    "alerts": (
        "Community alerts",
        "Analysts: one feature per alert at its locality's representative point. "
        "Planners: counts per locality. Stored coordinates and reporter pseudonyms are never served.",
    ),
}


@dataclass
class FeatureTable:
    """Features of a collection, ready to filter: ids, boxes (n×4), times (UTC ns or NaT), JSON."""

    ids: list[str]
    bounds: np.ndarray
    start: np.ndarray
    end: np.ndarray
    texts: list[str]

    @property
    def extent(self) -> list[float] | None:
        if not len(self.ids):
            return None
        b = self.bounds
        return [
            float(np.nanmin(b[:, 0])),
            float(np.nanmin(b[:, 1])),
            float(np.nanmax(b[:, 2])),
            float(np.nanmax(b[:, 3])),
        ]

    @property
    def interval(self) -> list[str | None]:
        valid = self.start[~np.isnat(self.start)]
        if not len(valid):
            return [None, None]
        fmt = lambda t: str(np.datetime_as_string(t, unit="s")) + "Z"  # noqa: E731
        return [fmt(valid.min()), fmt(self.end[~np.isnat(self.end)].max())]


def _point_text(fid: str, lon: float, lat: float, props: dict) -> str:
    geometry = f'{{"type":"Point","coordinates":[{round(lon, 5)!r},{round(lat, 5)!r}]}}'
    return (
        '{"type":"Feature","id":'
        + json.dumps(fid)
        + ',"geometry":'
        + geometry
        + ',"properties":'
        + json.dumps(props, ensure_ascii=False, default=str)
        + "}"
    )


def _times(values) -> np.ndarray:
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(values), utc=True, errors="coerce")
    return stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def localities_table(source: DataSource) -> FeatureTable:
    def build():
        level = served_level(source)
        table = _feature_table(source, level, 0.001)
        n = len(table["ids"])
        nat = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        return FeatureTable(table["ids"], table["bounds"], nat, nat, table["texts"])

    return source.cached("ogc:localities", build)


def incidents_table(source: DataSource) -> FeatureTable:
    def build():
        incidents = source.incidents()
        located = incidents.dropna(subset=["longitude", "latitude"])
        located = located[located["location_precision"].isin(["point", "locality"])]
        texts = []
        cols = ["source", "category", "fatalities", "location_precision", "place_name", "admin1", "admin2"]
        for row in located[["event_id", "occurred_on", "longitude", "latitude", *cols]].to_dict("records"):
            props = {"event_id": row["event_id"], "occurred_on": json_text(row["occurred_on"])[:10]}
            props.update({c: (json_number(row[c]) if c == "fatalities" else json_text(row[c])) for c in cols})
            texts.append(_point_text(row["event_id"], row["longitude"], row["latitude"], props))
        xy = located[["longitude", "latitude"]].to_numpy(dtype=float)
        start = _times(located["occurred_on"])
        end = start + np.timedelta64(1, "D") - np.timedelta64(1, "ns")
        return FeatureTable(located["event_id"].astype(str).tolist(), np.hstack([xy, xy]), start, end, texts)

    return source.cached_incidents("ogc:incidents", build)


def alert_points_table(source: DataSource) -> FeatureTable:
    """One feature per located alert at the generalised position (analysts)."""

    def build():
        alerts = source.alerts()
        located = alerts.dropna(subset=[LOCALITY_ID])
        points = redaction.generalised_points(located, source.localities())
        located = located[located[LOCALITY_ID].isin(points)]
        texts, xy = [], []
        for detail in mark_after_forecast_data(source, redaction.alert_details(located)):
            lon, lat = points[detail[LOCALITY_ID]]
            props = {**detail, "position": "locality_representative_point"}
            texts.append(_point_text(detail["alert_id"], lon, lat, props))
            xy.append((lon, lat, lon, lat))
        start = _times(located["received_at"])
        bounds = np.asarray(xy, dtype=float).reshape(-1, 4)
        return FeatureTable(located["alert_id"].astype(str).tolist(), bounds, start, start, texts)

    return source.cached("ogc:alerts:points", build)


def alert_aggregate_table(source: DataSource, interval) -> FeatureTable:
    """Counts per locality at its representative point (planners), for alerts in ``interval``."""
    import pandas as pd

    alerts = source.alerts().dropna(subset=[LOCALITY_ID])
    if interval is not None:
        start, end = interval
        times = alerts["received_at"]
        keep = pd.Series(True, index=alerts.index)
        if start is not None:
            keep &= times >= pd.Timestamp(start)
        if end is not None:
            keep &= times <= pd.Timestamp(end)
        alerts = alerts[keep]
    localities = source.localities().set_index(LOCALITY_ID)
    points = redaction.generalised_points(alerts, localities.reset_index())
    ids, texts, xy = [], [], []
    for lid, group in alerts.groupby(LOCALITY_ID):
        if lid not in points:
            continue
        lon, lat = points[lid]
        props = {LOCALITY_ID: lid, "name": localities.at[lid, "name"], **redaction.alert_counts(group)}
        ids.append(str(lid))
        texts.append(_point_text(str(lid), lon, lat, props))
        xy.append((lon, lat, lon, lat))
    nat = np.full(len(ids), np.datetime64("NaT"), dtype="datetime64[ns]")
    return FeatureTable(ids, np.asarray(xy, dtype=float).reshape(-1, 4), nat, nat, texts)


def table_for(source: DataSource, collection: str, principal: Principal, interval=None) -> FeatureTable:
    """The feature table of ``collection`` as ``principal`` may see it."""
    if collection == "localities":
        return localities_table(source)
    if collection == "incidents":
        return incidents_table(source)
    if collection == "alerts":
        if redaction.may_see_alert_details(principal):
            return alert_points_table(source)
        return alert_aggregate_table(source, interval)
    raise NotFoundError(f"no such collection: choose one of {', '.join(COLLECTIONS)}")


def _select(table: FeatureTable, query: ItemsQuery, temporal: bool) -> np.ndarray:
    keep = np.ones(len(table.ids), dtype=bool)
    if query.bbox_tuple is not None and len(table.ids):
        minx, miny, maxx, maxy = query.bbox_tuple
        b = table.bounds
        keep &= (b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny)
    if temporal and query.interval is not None and len(table.ids):
        start, end = query.interval
        if start is not None:
            keep &= table.end >= np.datetime64(start.replace(tzinfo=None), "ns")
        if end is not None:
            keep &= table.start <= np.datetime64(end.replace(tzinfo=None), "ns")
    return np.flatnonzero(keep)


def _url(base: str, path: str, params: dict | None = None) -> str:
    params = {k: v for k, v in (params or {}).items() if v is not None}
    return base + path + ("?" + urlencode(params) if params else "")


def landing(base: str) -> dict:
    return {
        "title": "Sauti – OGC API Features",
        "description": "Risk of intercommunal violence per locality, incidents and community alerts.",
        "links": [
            {"href": _url(base, "/ogc"), "rel": "self", "type": JSON, "title": "This document"},
            {
                "href": _url(base, "/api/v1/openapi.json"),
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "OpenAPI definition",
            },
            {
                "href": _url(base, "/ogc/conformance"),
                "rel": "conformance",
                "type": JSON,
                "title": "Conformance classes",
            },
            {"href": _url(base, "/ogc/collections"), "rel": "data", "type": JSON, "title": "Collections"},
        ],
    }


def conformance() -> dict:
    return {"conformsTo": CONFORMANCE}


def collection_meta(source: DataSource, base: str, name: str, principal: Principal) -> dict:
    if name not in COLLECTIONS:
        raise NotFoundError(f"no such collection: choose one of {', '.join(COLLECTIONS)}")
    title, description = COLLECTIONS[name]
    table = table_for(source, name, principal)
    extent: dict[str, Any] = {"spatial": {"bbox": [table.extent or [-180, -90, 180, 90]], "crs": CRS84}}
    if name != "localities":
        extent["temporal"] = {
            "interval": [table.interval],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return {
        "id": name,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            {"href": _url(base, f"/ogc/collections/{name}"), "rel": "self", "type": JSON, "title": title},
            {
                "href": _url(base, f"/ogc/collections/{name}/items", {"f": "json"}),
                "rel": "items",
                "type": GEOJSON,
                "title": f"{title} (GeoJSON)",
            },
        ],
    }


def collections(source: DataSource, base: str, principal: Principal) -> dict:
    return {
        "links": [
            {"href": _url(base, "/ogc/collections"), "rel": "self", "type": JSON, "title": "Collections"}
        ],
        "collections": [collection_meta(source, base, name, principal) for name in COLLECTIONS],
    }


def items(
    source: DataSource, base: str, name: str, query: ItemsQuery, principal: Principal
) -> tuple[str, list[str]]:
    """A page of ``name``'s features as GeoJSON text, and the ids of alerts it shows in detail."""
    from datetime import UTC, datetime

    table = table_for(source, name, principal, query.interval)
    # the planners' alert counts were already cut to the interval when aggregated
    temporal = name == "incidents" or (name == "alerts" and redaction.may_see_alert_details(principal))
    selected = _select(table, query, temporal)
    page = selected[query.offset : query.offset + query.limit]
    path = f"/ogc/collections/{name}/items"
    params = {"bbox": query.bbox, "datetime": query.datetime, "limit": query.limit, "f": "json"}
    links = [
        {
            "href": _url(base, path, {**params, "offset": query.offset}),
            "rel": "self",
            "type": GEOJSON,
            "title": "This page",
        },
        {"href": _url(base, f"/ogc/collections/{name}"), "rel": "collection", "type": JSON, "title": name},
    ]
    if query.offset + query.limit < len(selected):
        links.append(
            {
                "href": _url(base, path, {**params, "offset": query.offset + query.limit}),
                "rel": "next",
                "type": GEOJSON,
                "title": "Next page",
            }
        )
    if query.offset > 0:
        links.append(
            {
                "href": _url(base, path, {**params, "offset": max(query.offset - query.limit, 0)}),
                "rel": "prev",
                "type": GEOJSON,
                "title": "Previous page",
            }
        )
    head = {
        "type": "FeatureCollection",
        "numberMatched": len(selected),
        "numberReturned": len(page),
        "timeStamp": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "links": links,
    }
    body = json.dumps(head)[:-1] + ',"features":[' + ",".join(table.texts[i] for i in page) + "]}"
    shown = (
        [table.ids[i] for i in page]
        if name == "alerts" and redaction.may_see_alert_details(principal)
        else []
    )
    return body, shown


def item(
    source: DataSource, base: str, name: str, feature_id: str, principal: Principal
) -> tuple[str, list[str]]:
    """One feature by id, with ``self`` and ``collection`` links."""
    table = table_for(source, name, principal)
    try:
        i = table.ids.index(feature_id)
    except ValueError:
        raise NotFoundError(f"collection {name} has no feature with this id") from None
    feature = json.loads(table.texts[i])
    feature["links"] = [
        {"href": _url(base, f"/ogc/collections/{name}/items/{feature_id}"), "rel": "self", "type": GEOJSON},
        {"href": _url(base, f"/ogc/collections/{name}"), "rel": "collection", "type": JSON},
    ]
    shown = [feature_id] if name == "alerts" and redaction.may_see_alert_details(principal) else []
    return json.dumps(feature, ensure_ascii=False), shown
