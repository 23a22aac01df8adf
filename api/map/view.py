"""The offline risk map: a folium page whose every script, stylesheet and image Sauti serves itself.

folium points its default JavaScript and CSS at CDNs; :func:`build_map` replaces them on the ``Map``
instance with the vendored Leaflet under ``/static/vendor`` and uses no plugin that pulls its own
assets (no markers with icon fonts, no branca colormap, which loads d3 from a CDN). There is no
basemap tile server: the boundaries are the basemap, with an optional local MBTiles/PMTiles file served at
``/basemap/{z}/{x}/{y}.png``. What the page says (period, currency, classes, popups, panels, legends)
comes from :mod:`sauti.api.map.content`; this module draws it.
"""

from __future__ import annotations

import html
import json
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sauti.api.map import content
from sauti.api.map.content import MapPeriod
from sauti.api.map.patrol import add_patrol_layer
from sauti.api.map.responses import MapResponses, response_layer
from sauti.api.services import redaction
from sauti.api.services.risk import served_level
from sauti.api.services.source import DataSource
from sauti.constants import LOCALITY_ID
from sauti.errors import NotReadyError, SautiError
from sauti.features.glossary import last_events_text

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd
    from branca.element import MacroElement

    from sauti.api.security import Principal

VENDOR = "/static/vendor/leaflet-1.9.4"
LOCAL_JS = [("leaflet", f"{VENDOR}/leaflet.js"), ("sauti_map_js", "/static/sauti-map.js")]
LOCAL_CSS = [("leaflet_css", f"{VENDOR}/leaflet.css"), ("sauti_map_css", "/static/sauti-map.css")]
RECENT_INCIDENT_DAYS = 365
#: above this many units popups carry no history chart (it would add ~1.5 kB per unit to the page)
MAX_CHARTS = 1000
#: room the title bar (top), layer list and legend (left) and side panel (right) take, in pixels
PADDING_TOP_LEFT = (200, 90)
PADDING_BOTTOM_RIGHT = (300, 10)


def level_words(level: str) -> str:
    """A unit level as people say it: ``admin2`` → "admin level 2", ``grid`` → "grid cells"."""
    if level.startswith("admin") and level[5:].isdigit():
        return f"admin level {level[5:]}"
    return "grid cells" if level.startswith("grid") else level


def _locality_layer_data(
    units: gpd.GeoDataFrame,
    views: list[content.LocalityView],
    shown: MapPeriod | None,
    responses: MapResponses | None = None,
) -> dict:
    """The localities as GeoJSON: colour, tooltip label and popup HTML per feature."""
    import shapely

    geoms = shapely.set_precision(
        shapely.simplify(units.geometry.values, 0.005, preserve_topology=True), 1e-5
    )
    context = _popup_context(views, shown)
    charts = shown is not None and len(views) <= MAX_CHARTS
    features = []
    for view, geom in zip(views, geoms, strict=True):
        chart = content.history_chart(view.history, shown) if charts else ""
        label = view.name + ("" if view.risk is None else f" – {content.percent(view.risk)}")
        props = {
            "colour": view.colour,
            "label": html.escape(label),
            "popup": content.render("locality_popup.html", v=view, chart=chart, **context)
            + (responses.unit_html(view.locality_id) if responses else ""),  # issue 19
        }
        features.append(
            {
                "type": "Feature",
                "id": view.locality_id,
                "geometry": json.loads(shapely.to_geojson(geom)),
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _popup_context(views: list[content.LocalityView], shown: MapPeriod | None) -> dict:
    risks = [v.risk for v in views if v.risk is not None]
    return {
        "n": len(risks),
        "base_rate": sum(risks) / len(risks) if risks else None,
        "forecast": "the next period" if shown is None else shown.forecast,
        "previous": None
        if shown is None or shown.previous is None
        else f"the forecast for {shown.forecast_of(shown.previous)}",
        "latest": shown is None or shown.latest,
    }


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


def _incidents_data(source: DataSource, shown: MapPeriod | None) -> dict:
    """Located incidents of the last year of data up to the end of the period shown."""
    incidents = source.incidents()
    located = incidents.dropna(subset=["longitude", "latitude"])
    located = located[located["location_precision"].isin(["point", "locality"])]
    if shown is not None:
        located = located[located["occurred_on"] <= shown.end.replace(tzinfo=None)]
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
                    "popup": content.render(
                        "incident_popup.html",
                        category=str(row["category"]),
                        date=f"{row['occurred_on']:%d %b %Y}",
                        fatalities=int(row["fatalities"] or 0),
                    )
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _alerts_data(
    source: DataSource, principal: Principal, responses: MapResponses | None = None
) -> tuple[dict, list[str]]:
    """Analysts: one point per alert at its locality's representative point; planners: counts."""
    alerts = source.alerts().dropna(subset=[LOCALITY_ID])
    localities = source.localities()
    points = redaction.generalised_points(alerts, localities)
    names = dict(zip(localities[LOCALITY_ID], localities["name"], strict=True))
    features, shown = [], []
    if redaction.may_see_alert_details(principal):
        from sauti.api.services.risk import data_date, mark_after_forecast_data

        recent = alerts.sort_values("received_at").tail(500)
        through = f"{data_date(source) - timedelta(days=1):%d %b %Y}".lstrip("0")
        for detail in mark_after_forecast_data(source, redaction.alert_details(recent)):
            if detail[LOCALITY_ID] not in points:
                continue
            lon, lat = points[detail[LOCALITY_ID]]
            detail["text"] = str(detail.get("text") or "")[:300]
            detail["received_at"] = str(detail["received_at"])
            place = names.get(detail[LOCALITY_ID])
            popup = content.render("alert_popup.html", a=detail, place=place, through=through)
            if responses:  # issue 19: what was done about it, and the form to record it
                popup += responses.alert_html(detail["alert_id"], detail[LOCALITY_ID])
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {"popup": popup, "count": 1},
                }
            )
            shown.append(detail["alert_id"])
    else:
        for lid, group in alerts.groupby(LOCALITY_ID):
            if lid not in points:
                continue
            counts = redaction.alert_counts(group)
            lon, lat = points[lid]
            popup = (
                f"<b>{html.escape(str(names.get(lid)))}</b><br>{content.plural(counts['count'], 'alert')} "
                f"({counts['by_verification']['verified']} verified, "
                f"{content.plural(counts['by_verification']['false_alarm'], 'false alarm')})"
            ) + (responses.form(locality_id=lid) if responses else "")
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {"popup": popup, "count": counts["count"]},
                }
            )
    return {"type": "FeatureCollection", "features": features}, shown


def _patrol_plan(source: DataSource):
    """The plan from the workspace's stored bases and latest scores, or None when it cannot be made."""
    from sauti.models.patrol import plan_from_workspace

    try:
        return plan_from_workspace(source.workspace)
    except (SautiError, ValueError):
        return None


def map_script(name: str, code: str) -> MacroElement:
    """A folium element that runs ``code`` after the map and the layers added before it exist;
    ``{map}`` in ``code`` stands for the map's JavaScript variable."""
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._name = name
    body = code.replace("{map}", "{{ this._parent.get_name() }}")
    element._template = Template("{% macro script(this, kwargs) %}" + body + "{% endmacro %}")
    return element


def fit_bounds_now(bounds: list[list[float]]) -> MacroElement:
    """``map.fitBounds(bounds, {animate: false})`` as a folium element, leaving room for the panels.

    folium's ``fit_bounds`` animates the zoom, and Leaflet cancels the tile requests it started
    during the animation: the browser reports them as failed requests.
    """
    options = {
        "animate": False,
        "paddingTopLeft": list(PADDING_TOP_LEFT),
        "paddingBottomRight": list(PADDING_BOTTOM_RIGHT),
    }
    return map_script("FitBoundsNow", f"{{map}}.fitBounds({json.dumps(bounds)}, {json.dumps(options)});")


def build_map(
    source: DataSource,
    principal: Principal,
    basemap: tuple[int, int] | None = None,
    period: str | None = None,
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
    period : str, optional
        A scored period (``YYYY-MM-DD`` or ``YYYY-MM``) to show instead of the latest.
    """
    import folium
    from branca.element import Element

    level = served_level(source)
    localities = source.localities()
    units = localities[localities["level"] == level]
    shown = content.map_period(source, period)
    fmap = _base_map(units)
    if basemap:
        _add_basemap(fmap, basemap)
    _add_outline(fmap, source, "admin1" if "admin1" in set(localities["level"]) else level)
    views = content.locality_views(source, units, shown, level)
    responses = response_layer(source, principal, units, level)  # issue 19: response state, form
    layer = _add_localities(fmap, units, views, shown, level, responses)
    heat = _add_heatmap(fmap, source)
    _add_incidents(fmap, source, shown)
    shown_alerts = _add_alerts(fmap, source, principal, responses)
    # the stored plan stands on the latest scores only, and is for roles that may read plans
    if (shown is None or shown.latest) and principal.can("patrols:read"):
        _add_patrol_layer(fmap, source)
    folium.LayerControl(collapsed=False, position="topleft").add_to(fmap)
    panels = _panels_html(source, shown, views)
    fmap.get_root().html.add_child(Element(panels))
    heat_name = "null" if heat is None else heat.get_name()  # heatmap on: localities as outlines only
    map_script("SautiPanels", f"sautiMap.init({{map}}, {layer.get_name()}, {heat_name});").add_to(fmap)
    return fmap.get_root().render(), shown_alerts


def _base_map(units: gpd.GeoDataFrame) -> folium.Map:
    """An empty map on the vendored Leaflet, fitted to ``units`` without animation."""
    import folium
    from branca.element import Element

    minx, miny, maxx, maxy = units.total_bounds
    fmap = folium.Map(
        zoom_snap=0.25,
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=6,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,  # SVG paths: the page (and its tests) can read each locality's colour
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
    return fmap


def _add_basemap(fmap: folium.Map, zooms: tuple[int, int]) -> None:
    import folium

    low, high = zooms
    folium.TileLayer(
        tiles="/basemap/{z}/{x}/{y}.png",
        attr="local basemap",
        name="Basemap (local)",
        overlay=False,
        control=True,
        min_native_zoom=low,
        max_native_zoom=high,  # deeper zooms enlarge the finest tiles: no requests for missing ones
    ).add_to(fmap)


def _add_outline(fmap: folium.Map, source: DataSource, level: str) -> None:
    import folium

    outline = _outline(source, level)
    if outline is None:
        return
    folium.GeoJson(
        outline,
        name=f"Boundaries ({level_words(level)})",
        control=True,
        style_function=lambda f: {"color": "#555", "weight": 1.2, "fill": False},
        interactive=False,
    ).add_to(fmap)


def _add_localities(
    fmap: folium.Map,
    units: gpd.GeoDataFrame,
    views: list[content.LocalityView],
    shown: MapPeriod | None,
    level: str,
    responses: MapResponses | None = None,
) -> folium.GeoJson:
    """The choropleth; popups are bound per feature by ``sauti-map.js`` (so lists can open them)."""
    import folium
    from folium.features import GeoJsonTooltip

    layer = folium.GeoJson(
        _locality_layer_data(units, views, shown, responses),
        name=f"Risk rank by locality ({level_words(level)})",
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": "#555",
            "weight": 0.7,
            "fillOpacity": 0.8,
            "className": "sauti-locality",  # sauti-map.css clears the fill while the heatmap is on
        },
        highlight_function=lambda f: {"weight": 2.5, "color": "#222"},
        tooltip=GeoJsonTooltip(fields=["label"], labels=False),
    )
    layer.add_to(fmap)
    return layer


def _add_heatmap(fmap: folium.Map, source: DataSource) -> folium.TileLayer | None:
    """The risk surface's tiles, off by default; while it is on, ``sauti-map.js`` draws the
    localities as outlines only (their colours would cover it)."""
    import folium

    if not source.risk_surface_path.exists():
        return None
    return folium.TileLayer(
        tiles="/tiles/{z}/{x}/{y}.png",
        attr="Sauti risk surface",
        name="Risk heatmap",
        overlay=True,
        control=True,
        opacity=0.75,
        max_zoom=14,
        show=False,
    ).add_to(fmap)


def _add_incidents(fmap: folium.Map, source: DataSource, shown: MapPeriod | None) -> None:
    import folium
    from folium.features import GeoJsonPopup

    incidents = _incidents_data(source, shown)
    if not incidents["features"]:
        return
    folium.GeoJson(
        incidents,
        name=f"Incidents (last {RECENT_INCIDENT_DAYS} days of data)",
        marker=folium.CircleMarker(
            radius=4, weight=1, color="#08306b", fill=True, fill_color="#4292c6", fill_opacity=0.8
        ),
        popup=GeoJsonPopup(fields=["popup"], labels=False, max_width=280),
    ).add_to(fmap)


def _add_alerts(
    fmap: folium.Map, source: DataSource, principal: Principal, responses: MapResponses | None = None
) -> list[str]:
    """Alerts (details for analysts, counts for planners), off by default; the ids shown in detail."""
    import folium
    from folium.features import GeoJsonPopup

    alerts, shown = _alerts_data(source, principal, responses)
    if not alerts["features"]:
        return shown
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
    return shown


def _add_patrol_layer(fmap: folium.Map, source: DataSource) -> None:
    """PATROL LAYER CALL SITE: the stored patrol plan on the map (drawn by :mod:`sauti.api.map.patrol`)."""
    add_patrol_layer(fmap, _patrol_plan(source))


def _panels_html(source: DataSource, shown: MapPeriod | None, views: list[content.LocalityView]) -> str:
    """Title, period control, warnings, priority list, rising panel and legends."""
    through = source.data_through()
    context = _popup_context(views, shown)
    return content.render(
        "map_panels.html",
        title=_title(shown, through),
        period_options=[]
        if shown is None
        else [(f"{p:%Y-%m-%d}", shown.forecast_of(p)) for p in reversed(shown.periods)],  # as the title
        period_value=None if shown is None else f"{shown.period:%Y-%m-%d}",
        warnings=_warnings(source, through),
        last_events=last_events_text(source.last_events()) if through["incidents"] else None,  # #20 item 11
        model=_served_model(source) if shown is not None else None,  # #20 item 12
        note=None if shown is None or shown.latest else _PAST_NOTE,
        priorities=content.priorities(views),
        rising=content.rising(source, shown),
        forecast=context["forecast"],
        previous=context["previous"],
        n=context["n"],
        classes=[(label, colour) for _, label, colour in content.RANK_CLASSES],
        no_score=content.NO_SCORE_COLOUR,
        heatmap=content.heatmap_legend(source),
    )


def _served_model(source: DataSource) -> str | None:
    """The model behind the scores shown, in plain words (a rule served by name says so)."""
    from sauti.models import current_model
    from sauti.models.catalog import model_label

    record = current_model(source.workspace)
    return None if record is None else model_label(str(record.get("estimator") or "sauti"))


_PAST_NOTE = (
    "An earlier period: scores are the current model's fitted values (these months were in its "
    "training data); pick the latest period for the forecast."
)


def _title(shown: MapPeriod | None, through: dict) -> str:
    if shown is None:
        return "No forecast yet: run `sauti train` and `sauti score`"
    if not shown.latest:
        last = shown.end.date()
    else:
        last = None if through["incidents"] is None else date.fromisoformat(through["incidents"])
    last_text = "no incidents" if last is None else f"{last:%d %B %Y}".lstrip("0")
    return f"Forecast for {shown.forecast} — data through {last_text}"


def _warnings(source: DataSource, through: dict) -> list[str]:
    """The data warnings (one text each with ``/health`` and ``sauti status``), or the lack of incidents."""
    if through["incidents"] is None:
        return ["No incidents in the store: the forecast rests on alerts alone."]
    return source.data_warnings()  # stale incident data; a forecast target silent far longer than usual


def map_ready(source: DataSource) -> None:
    """Raise ``NotReadyError`` when there is nothing to draw."""
    source.require_store()
    if source.localities().empty:
        raise NotReadyError("the workspace holds no localities: ingest boundaries first")
