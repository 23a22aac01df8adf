"""The patrol layer of the JOC map: bases, their ranges and the localities they patrol, drawn so a
planner can act on them.

Bases are labelled squares (an inline-styled ``DivIcon``: no icon font or image, so nothing is
fetched from outside), each with a dashed circle of its range; patrolled localities are outlined
in green with a line from their base. Popups say, in words: for a base its patrols, range and the
localities it covers (risk, distance); for a locality which base covers it, its risk and distance.
The layer's entry in the layer control doubles as its legend.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from sauti.constants import LOCALITY_ID
from sauti.features.glossary import percent

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import pandas as pd
    from branca.element import MacroElement

    from sauti.models.patrol import PatrolPlan

LAYER_NAME = "Patrol plan"
BASE_COLOUR = "#08306b"
TARGET_COLOUR = "#006d2c"
RANGE_COLOUR = "#00441b"
_SQUARE = (
    "display:inline-block;width:10px;height:10px;background:{fill};border:2px solid #ffffff;"
    "outline:1px solid {fill};vertical-align:middle"
)


def add_patrol_layer(fmap: folium.Map, plan: PatrolPlan | None) -> folium.FeatureGroup | None:
    """Draw ``plan`` on ``fmap`` as one overlay (bases, ranges, routes, patrolled localities).

    Returns the layer, or None when there is no plan or it has no base.

    Examples
    --------
    >>> plan = plan_from_workspace(workspace)  # doctest: +SKIP
    >>> add_patrol_layer(fmap, plan)  # doctest: +SKIP
    """
    import folium

    if plan is None or plan.bases is None or not len(plan.bases):
        return None
    group = folium.FeatureGroup(name=legend_label(), overlay=True, show=True)
    period = (plan.forecast_period or {}).get("label")
    for base in plan.bases.itertuples(index=False):
        _add_range(group, base)
    if len(plan.assignments):
        _add_targets(group, plan, period)
    for base in plan.bases.itertuples(index=False):
        rows = plan.assignments[plan.assignments["base"] == base.name]
        _add_base(group, base, rows)
    group.add_to(fmap)
    return group


def legend_label() -> str:
    """The layer control's entry: the layer's name and its two symbols."""
    square = _SQUARE.format(fill=BASE_COLOUR)
    outline = (
        f"display:inline-block;width:12px;height:9px;border:2px solid {TARGET_COLOUR};vertical-align:middle"
    )
    return (
        f'{LAYER_NAME} <span style="white-space:nowrap"><span style="{square}"></span> base, '
        f'<span style="{outline}"></span> patrolled locality, '
        f'<span style="display:inline-block;width:14px;border-top:2px dashed {RANGE_COLOUR};'
        'vertical-align:middle"></span> range</span>'
    )


def _add_range(group, base) -> None:
    import folium

    folium.Circle(
        location=[base.geometry.y, base.geometry.x],
        radius=float(base.range_km) * 1000.0,
        color=RANGE_COLOUR,
        weight=1.5,
        dash_array="6 6",
        fill=False,
        interactive=False,
    ).add_to(group)


def _add_base(group, base, rows: pd.DataFrame) -> None:
    import folium

    name = html.escape(str(base.name))
    square = _SQUARE.format(fill=BASE_COLOUR)
    label = (
        f'<div style="white-space:nowrap;font:bold 12px sans-serif;color:{BASE_COLOUR};'
        f'text-shadow:0 0 3px #fff,0 0 3px #fff"><span style="{square}"></span> {name}</div>'
    )
    folium.Marker(
        location=[base.geometry.y, base.geometry.x],
        icon=folium.DivIcon(html=label, icon_size=(160, 16), icon_anchor=(7, 8), class_name="sauti-base"),
        tooltip=f"Base {name}",
    ).add_child(bound_popup(base_popup(base, rows), max_width=340)).add_to(group)


def _add_targets(group, plan: PatrolPlan, period: str | None) -> None:
    import folium

    shapes = plan.target_geometry
    bases = {str(b.name): b.geometry for b in plan.bases.itertuples(index=False)}
    for row in plan.assignments.itertuples(index=False):
        point = shapes.loc[getattr(row, LOCALITY_ID), "point"]
        start = bases[str(row.base)]
        folium.PolyLine(
            [[start.y, start.x], [point.y, point.x]],
            color=RANGE_COLOUR,
            weight=1.5,
            opacity=0.8,
            interactive=False,
        ).add_to(group)
        popup = target_popup(row, period)
        tooltip = f"{html.escape(str(row.name))}: patrolled from base {html.escape(str(row.base))}"
        shape = shapes.loc[getattr(row, LOCALITY_ID), "geometry"]
        if shape is not None and shape.geom_type in ("Polygon", "MultiPolygon"):
            folium.GeoJson(
                shape.__geo_interface__,
                style_function=lambda _: {
                    "color": TARGET_COLOUR,
                    "weight": 3,
                    "fill": True,
                    "fillOpacity": 0.0,
                },
                highlight_function=lambda _: {"weight": 5},
                tooltip=tooltip,
            ).add_child(bound_popup(popup)).add_to(group)
        else:
            folium.CircleMarker(
                location=[point.y, point.x],
                radius=7,
                color=TARGET_COLOUR,
                weight=3,
                fill=True,
                fill_opacity=0.0,
                tooltip=tooltip,
            ).add_child(bound_popup(popup)).add_to(group)


def bound_popup(content: str, max_width: int = 320) -> MacroElement:
    """A popup bound to its parent layer, its HTML passed as a JSON string.

    folium's ``Popup`` builds its content with jQuery (``$(...)``), which the offline map does not
    load; Leaflet's ``bindPopup`` takes the HTML string itself.
    """
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._name = "BoundPopup"
    element._template = Template(
        "{% macro script(this, kwargs) %}{{ this._parent.get_name() }}.bindPopup("
        + json.dumps(content)
        + ", "
        + json.dumps({"maxWidth": max_width})
        + ");{% endmacro %}"
    )
    return element


def base_popup(base: Any, rows: pd.DataFrame) -> str:
    """A base's popup: patrols placed of available, range, and the localities it covers."""
    name = html.escape(str(base.name))
    lines = [
        f"<b>Base {name}</b>",
        f"{_count(len(rows), 'patrol')} placed of {int(base.patrols)} available; "
        f"range {float(base.range_km):g} km",
    ]
    if not bool(getattr(base, "inside", True)):
        lines.append("<i>Outside the workspace's boundaries: check its location.</i>")
    if len(rows):
        items = "".join(
            f"<li>{html.escape(str(r.name))}: risk {percent(r.risk)}, {r.distance_km:.0f} km</li>"
            for r in rows.sort_values("rank").itertuples(index=False)
        )
        covers = _count(len(rows), "locality", "localities")
        lines.append(f'Covers {covers}:<ol style="margin:2px 0 0 0;padding-left:18px">{items}</ol>')
    else:
        lines.append("Covers no locality in this plan.")
    return "<br>".join(lines)


def target_popup(row: Any, period: str | None) -> str:
    """A patrolled locality's popup: which base covers it, at what distance, and its risk."""
    when = f" in {html.escape(period)}" if period else ""
    return (
        f"<b>{html.escape(str(row.name))}</b><br>"
        f"Patrolled from base {html.escape(str(row.base))} (its priority {int(row.rank)}), "
        f"{row.distance_km:.0f} km away<br>"
        f"Risk of at least one intercommunal incident{when}: {percent(row.risk)}"
    )


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
