"""The offline risk map: a folium page whose every script, stylesheet and image Sauti serves itself.

folium points its default JavaScript and CSS at CDNs; :func:`build_map` replaces them on the ``Map``
instance with the vendored Leaflet under ``/static/vendor`` and uses no plugin that pulls its own
assets (no markers with icon fonts, no branca colormap, which loads d3 from a CDN). There is no
basemap tile server: the boundaries are the basemap, with an optional local MBTiles/PMTiles file served at
``/basemap/{z}/{x}/{y}.png``. Popups carry the top drivers and an inline SVG sparkline of the risk
history (inline markup, not an image request).
"""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import TYPE_CHECKING

from sauti.api.services import redaction
from sauti.api.services.risk import _drivers, _scores_by_id, alert_counts_by_locality, served_level
from sauti.api.services.source import DataSource

from sauti.errors import NotReadyError, SautiError

if TYPE_CHECKING:  # pragma: no cover
    from sauti.api.security import Principal

VENDOR = "/static/vendor/leaflet-1.9.4"
LOCAL_JS = [("leaflet", f"{VENDOR}/leaflet.js")]
LOCAL_CSS = [("leaflet_css", f"{VENDOR}/leaflet.css"), ("sauti_map_css", "/static/sauti-map.css")]
RISK_BREAKS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)
RISK_COLOURS = ("#ffffcc", "#fed976", "#feb24c", "#fd8d3c", "#e31a1c", "#800026")
NO_SCORE_COLOUR = "#d9d9d9"
RECENT_INCIDENT_DAYS = 365
HISTORY_POINTS = 24


def risk_colour(risk: float | None) -> str:
    """The choropleth colour of a probability (class breaks :data:`RISK_BREAKS`)."""
    if risk is None:
        return NO_SCORE_COLOUR
    colour = RISK_COLOURS[0]
    for brk, col in zip(RISK_BREAKS, RISK_COLOURS, strict=True):
        if risk >= brk:
            colour = col
    return colour


def sparkline(values: list[float], width: int = 160, height: int = 36) -> str:
    """An inline SVG polyline of ``values`` (0..max), or an empty string."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    top = max(max(values), 1e-9)
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values)
    )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="risk history"><polyline fill="none" stroke="#bd0026" stroke-width="1.5" '
        f'points="{points}"/></svg>'
    )


def _histories(source: DataSource, ids: list[str]) -> dict[str, list[float]]:
    """Recent probabilities per locality from the stored scores (one query for all)."""
    import pandas as pd

    try:
        with source.workspace.session() as con:
            frame = pd.read_sql_query(
                "SELECT locality_id, period, probability FROM risk_scores ORDER BY period", con
            )
    except Exception:  # no risk_scores table (models layer absent)
        return {}
    frame = frame[frame["locality_id"].isin(ids)]
    return {
        str(lid): group["probability"].tail(HISTORY_POINTS).round(4).tolist()
        for lid, group in frame.groupby("locality_id")
    }


def _popup_html(props: dict, history: list[float]) -> str:
    esc = html.escape
    risk = props.get("risk")
    lines = [f"<b>{esc(str(props['name']))}</b> <small>{esc(props['locality_id'])}</small>"]
    if risk is None:
        lines.append("No risk score yet")
    else:
        change = props.get("change")
        change_text = "" if change is None else f" ({change:+.1%} since last period)"
        lines.append(f"Risk {risk:.1%}, rank {props.get('rank')}{esc(change_text)}")
        lines.append(f"Period {esc(str(props.get('period') or ''))[:10]}")
    drivers = props.get("drivers") or []
    if drivers:
        items = "".join(
            f"<li>{esc(str(d.get('feature')))}: {d.get('contribution', 0):+.3f}</li>" for d in drivers
        )
        lines.append(f"Top drivers<ul style='margin:0;padding-left:1.2em'>{items}</ul>")
    spark = sparkline(history)
    if spark:
        lines.append(f"Risk history (last {len(history)} periods)<br>{spark}")
    lines.append(f"Alerts: {props.get('alerts_30d', 0)} in 30 days, {props.get('alerts_total', 0)} in all")
    return "<br>".join(lines)


def _locality_layer_data(source: DataSource, level: str) -> dict:
    import shapely

    localities = source.localities()
    units = localities[localities["level"] == level]
    scores = _scores_by_id(source)
    counts = alert_counts_by_locality(source, level)
    ids = units["locality_id"].astype(str).tolist()
    histories = _histories(source, ids)
    geoms = shapely.set_precision(
        shapely.simplify(units.geometry.values, 0.005, preserve_topology=True), 1e-5
    )
    features = []
    for row, geom in zip(units.to_dict("records"), geoms, strict=True):
        lid = str(row["locality_id"])
        score = scores.get(lid, {})
        recent, total = counts.get(lid, (0, 0))
        props = {
            "locality_id": lid,
            "name": row["name"],
            "risk": score.get("risk"),
            "rank": score.get("rank"),
            "change": score.get("change"),
            "period": score.get("period"),
            "drivers": _drivers(score.get("drivers"), n=3),
            "alerts_30d": recent,
            "alerts_total": total,
        }
        props["colour"] = risk_colour(props["risk"])
        props["popup"] = _popup_html(props, histories.get(lid, []))
        props["label"] = html.escape(str(row["name"])) + (
            "" if props["risk"] is None else f" – {props['risk']:.1%}"
        )
        features.append(
            {
                "type": "Feature",
                "id": lid,
                "geometry": json.loads(shapely.to_geojson(geom)),
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _outline(source: DataSource, level: str) -> dict | None:
    import shapely

    localities = source.localities()
    units = localities[localities["level"] == level]
    if units.empty:
        return None
    geoms = shapely.set_precision(shapely.simplify(units.geometry.values, 0.01, preserve_topology=True), 1e-4)
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": json.loads(shapely.to_geojson(g)), "properties": {"name": str(n)}}
            for g, n in zip(geoms, units["name"], strict=True)
        ],
    }


def _incidents_data(source: DataSource) -> dict:
    incidents = source.incidents()
    located = incidents.dropna(subset=["longitude", "latitude"])
    located = located[located["location_precision"].isin(["point", "locality"])]
    if located.empty:
        return {"type": "FeatureCollection", "features": []}
    cutoff = located["occurred_on"].max() - timedelta(days=RECENT_INCIDENT_DAYS)
    recent = located[located["occurred_on"] >= cutoff]
    features = []
    for row in recent[["event_id", "occurred_on", "category", "fatalities", "longitude", "latitude"]].to_dict(
        "records"
    ):
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(row["longitude"], 4), round(row["latitude"], 4)],
                },
                "properties": {
                    "date": row["occurred_on"].strftime("%Y-%m-%d"),
                    "category": str(row["category"]),
                    "fatalities": int(row["fatalities"] or 0),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _alerts_data(source: DataSource, principal: Principal) -> tuple[dict, list[str]]:
    """Analysts: one point per alert at its locality's representative point; planners: counts."""
    alerts = source.alerts().dropna(subset=["locality_id"])
    localities = source.localities()
    points = redaction.generalised_points(alerts, localities)
    names = dict(zip(localities["locality_id"], localities["name"], strict=True))
    features, shown = [], []
    if redaction.may_see_alert_details(principal):
        recent = alerts.sort_values("received_at").tail(500)
        for detail in redaction.alert_details(recent):
            if detail["locality_id"] not in points:
                continue
            lon, lat = points[detail["locality_id"]]
            text = html.escape(str(detail.get("text") or ""))[:300]
            esc = html.escape
            place = esc(str(names.get(detail["locality_id"])))
            detail["popup"] = (
                f"<b>{esc(str(detail['category']))}</b> ({esc(str(detail['verification']))})<br>"
                f"{esc(str(detail['received_at']))[:16]} · {place}<br>{text}"
            )
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {"popup": detail["popup"], "count": 1},
                }
            )
            shown.append(detail["alert_id"])
    else:
        for lid, group in alerts.groupby("locality_id"):
            if lid not in points:
                continue
            counts = redaction.alert_counts(group)
            lon, lat = points[lid]
            popup = (
                f"<b>{html.escape(str(names.get(lid)))}</b><br>{counts['count']} alerts "
                f"({counts['by_verification']['verified']} verified, "
                f"{counts['by_verification']['false_alarm']} false alarms)"
            )
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {"popup": popup, "count": counts["count"]},
                }
            )
    return {"type": "FeatureCollection", "features": features}, shown


def _patrol_data(source: DataSource) -> dict | None:
    try:
        from sauti.models.patrol import plan_from_workspace

        return plan_from_workspace(source.workspace).to_geojson()
    except (ImportError, SautiError, ValueError):
        return None


def _legend_html() -> str:
    rows = []
    bounds = [*RISK_BREAKS[1:], None]
    for low, high, colour in zip(RISK_BREAKS, bounds, RISK_COLOURS, strict=True):
        label = f"{low:.0%} – {high:.0%}" if high is not None else f"≥ {low:.0%}"
        rows.append(f'<div><i style="background:{colour}"></i>{label}</div>')
    rows.append(f'<div><i style="background:{NO_SCORE_COLOUR}"></i>not scored</div>')
    return (
        '<div class="sauti-legend"><b>Risk of intercommunal violence</b><br>'
        "<small>next period, per locality</small>" + "".join(rows) + "</div>"
    )


def fit_bounds_now(bounds: list[list[float]]):
    """``map.fitBounds(bounds, {animate: false})`` as a folium element.

    folium's ``fit_bounds`` animates the zoom, and Leaflet cancels the tile requests it started
    during the animation: the browser reports them as failed requests.
    """
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._name = "FitBoundsNow"
    element._template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this._parent.get_name() }}.fitBounds(" + json.dumps(bounds) + ", {animate: false});"
        "{% endmacro %}"
    )
    return element


def build_map(
    source: DataSource, principal: Principal, basemap: tuple[int, int] | None = None
) -> tuple[str, list[str]]:
    """The map page (HTML) for ``principal`` and the ids of alerts it shows in detail.

    Parameters
    ----------
    source : DataSource
    principal : Principal
        Decides whether alerts are individual generalised points (analysts) or counts per locality.
    basemap : (min_zoom, max_zoom), optional
        Add the local MBTiles/PMTiles basemap layer served at ``/basemap/{z}/{x}/{y}.png`` (the
        file's zoom range).
    """
    import folium
    from branca.element import Element
    from folium.features import GeoJsonPopup, GeoJsonTooltip

    level = served_level(source)
    localities = source.localities()
    units = localities[localities["level"] == level]
    minx, miny, maxx, maxy = units.total_bounds
    fmap = folium.Map(
        zoom_snap=0.25,
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=6,
        tiles=None,
        control_scale=True,
        prefer_canvas=True,
    )
    fmap.default_js = list(LOCAL_JS)
    fmap.default_css = list(LOCAL_CSS)
    fmap.get_root().header.add_child(
        Element(
            '<title>Sauti – risk map</title>\n<link rel="icon" type="image/png" href="/static/favicon.png">'
        ),
        name="title",
    )
    fit_bounds_now([[miny, minx], [maxy, maxx]]).add_to(fmap)

    if basemap:
        low, high = basemap
        folium.TileLayer(
            tiles="/basemap/{z}/{x}/{y}.png",
            attr="local basemap",
            name="Basemap (local)",
            overlay=False,
            control=True,
            min_native_zoom=low,
            max_native_zoom=high,  # deeper zooms enlarge the finest tiles: no requests for missing ones
        ).add_to(fmap)

    outline_level = "admin1" if "admin1" in set(localities["level"]) else level
    outline = _outline(source, outline_level)
    if outline is not None:
        folium.GeoJson(
            outline,
            name=f"Boundaries ({outline_level})",
            control=True,
            style_function=lambda f: {"color": "#555", "weight": 1.2, "fill": False},
            interactive=False,
        ).add_to(fmap)

    data = _locality_layer_data(source, level)
    folium.GeoJson(
        data,
        name=f"Risk by locality ({level})",
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": "#666",
            "weight": 0.6,
            "fillOpacity": 0.5,
        },
        highlight_function=lambda f: {"weight": 2.5, "color": "#222"},
        tooltip=GeoJsonTooltip(fields=["label"], labels=False),
        popup=GeoJsonPopup(fields=["popup"], labels=False, max_width=320),
    ).add_to(fmap)

    if source.risk_surface_path.exists():
        folium.TileLayer(
            tiles="/tiles/{z}/{x}/{y}.png",
            attr="Sauti risk surface",
            name="Risk heatmap",
            overlay=True,
            control=True,
            opacity=0.75,
            max_zoom=14,
            show=True,
        ).add_to(fmap)

    incidents = _incidents_data(source)
    if incidents["features"]:
        folium.GeoJson(
            incidents,
            name=f"Incidents (last {RECENT_INCIDENT_DAYS} days of data)",
            marker=folium.CircleMarker(
                radius=4, weight=1, color="#08306b", fill=True, fill_color="#4292c6", fill_opacity=0.8
            ),
            popup=GeoJsonPopup(fields=["date", "category", "fatalities"]),
        ).add_to(fmap)

    alerts, shown = _alerts_data(source, principal)
    if alerts["features"]:
        detail = redaction.may_see_alert_details(principal)
        folium.GeoJson(
            alerts,
            name="Alerts (at locality point)" if detail else "Alerts (counts per locality)",
            show=False,
            marker=folium.CircleMarker(
                radius=6, weight=1, color="#54278f", fill=True, fill_color="#9e9ac8", fill_opacity=0.8
            ),
            popup=GeoJsonPopup(fields=["popup"], labels=False, max_width=320),
        ).add_to(fmap)

    plan = _patrol_data(source)
    if plan and plan.get("features"):
        folium.GeoJson(
            plan,
            name="Patrol plan",
            marker=folium.CircleMarker(
                radius=7, weight=2, color="#00441b", fill=True, fill_color="#41ab5d", fill_opacity=0.9
            ),
            style_function=lambda f: {
                "color": "#00441b",
                "weight": 2,
                "dashArray": "6 4" if f["geometry"]["type"] != "Point" else None,
            },
            tooltip=GeoJsonTooltip(fields=[k for k in ("name", "base", "rank") if k in _keys(plan)])
            if _keys(plan)
            else None,
        ).add_to(fmap)

    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(Element(_legend_html()))
    return fmap.get_root().render(), shown


def _keys(geojson: dict) -> set[str]:
    keys: set[str] = set()
    for feature in geojson.get("features", []):
        keys &= set(feature.get("properties") or {}) if keys else set(feature.get("properties") or {})
    return keys


def map_ready(source: DataSource) -> None:
    """Raise ``NotReadyError`` when there is nothing to draw."""
    source.require_store()
    if source.localities().empty:
        raise NotReadyError("the workspace holds no localities: ingest boundaries first")
