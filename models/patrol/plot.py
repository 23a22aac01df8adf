"""A static map of a patrol plan (matplotlib): localities shaded by risk, bases with their range,
routes to the chosen targets. For reports, docs and the CLI's ``--png``; the API draws its own layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sauti.constants import LOCALITY_ID, STORAGE_CRS
from sauti.geo import local_crs

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd
    from matplotlib.figure import Figure

    from sauti.models.patrol.result import PatrolPlan


def plan_figure(
    plan: PatrolPlan,
    localities: gpd.GeoDataFrame | None = None,
    risk: pd.DataFrame | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Draw ``plan`` over ``localities`` (shaded by ``risk.probability`` when given).

    By default the localities and risk the plan was made from (``plan.localities``) are drawn.

    Range circles are drawn in the same local equal-area CRS the distances were measured in, so a
    target drawn inside a circle is within range.
    """
    from matplotlib.figure import Figure

    if localities is None and plan.localities is not None:
        localities = plan.localities
        if risk is None:
            risk = plan.localities[[LOCALITY_ID, "probability"]]
    crs = _drawing_crs(plan, localities)
    figure = Figure(figsize=(8.0, 6.4), dpi=110)
    ax = figure.subplots()
    if localities is not None and len(localities):
        _draw_localities(ax, localities.to_crs(crs), risk)
    bases = plan.bases.to_crs(crs)
    _draw_ranges(ax, bases)
    if len(plan.assignments):
        _draw_routes_and_targets(ax, plan, bases)
    _draw_bases(ax, bases)
    ax.set_title(title or _default_title(plan.summary()), fontsize=9)
    ax.legend(loc="lower left", fontsize=7)
    ax.set_axis_off()
    ax.set_aspect("equal")
    figure.tight_layout()
    return figure


def _drawing_crs(plan: PatrolPlan, localities: gpd.GeoDataFrame | None):
    """The local equal-area CRS around the bases and localities (as distances were measured)."""
    frames = [plan.bases.to_crs(STORAGE_CRS)]
    if localities is not None and len(localities):
        frames.append(localities.to_crs(STORAGE_CRS))
    bounds = np.vstack([f.total_bounds for f in frames])
    return local_crs((bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()))


def _draw_localities(ax, shown: gpd.GeoDataFrame, risk: pd.DataFrame | None) -> None:
    if risk is None or not len(risk):
        shown.plot(ax=ax, color="#f4f4f4", edgecolor="#777777", linewidth=0.4)
        return
    values = risk.set_index(risk[LOCALITY_ID].astype(str))["probability"]
    shown = shown.assign(_risk=shown[LOCALITY_ID].astype(str).map(values).astype(float))
    shown.plot(
        ax=ax,
        column="_risk",
        cmap="OrRd",
        edgecolor="#777777",
        linewidth=0.4,
        legend=True,
        legend_kwds={  # in % as the map and the CLI print risk (features.glossary.percent)
            "label": "risk of at least one intercommunal incident",
            "shrink": 0.6,
            "format": _percent_ticks(),
        },
        missing_kwds={"color": "#eeeeee"},
    )


def _percent_ticks():
    from matplotlib.ticker import FuncFormatter

    from sauti.features.glossary import percent

    return FuncFormatter(lambda value, _position: percent(value))


def _draw_ranges(ax, bases: gpd.GeoDataFrame) -> None:
    import geopandas as gpd

    rings = gpd.GeoSeries(bases.geometry.buffer(bases["range_km"].to_numpy() * 1000.0), crs=bases.crs)
    rings.boundary.plot(ax=ax, color="#1f4e79", linewidth=0.8, linestyle="--")


def _draw_routes_and_targets(ax, plan: PatrolPlan, bases: gpd.GeoDataFrame) -> None:
    import geopandas as gpd

    targets = gpd.GeoSeries(plan.target_geometry["point"], crs=STORAGE_CRS).to_crs(bases.crs)
    points = targets.loc[plan.assignments[LOCALITY_ID].to_numpy()].to_numpy()
    starts = dict(zip(bases["name"], bases.geometry, strict=True))
    for base, point in zip(plan.assignments["base"], points, strict=True):
        start = starts[base]
        ax.plot([start.x, point.x], [start.y, point.y], color="#1f4e79", linewidth=0.9, alpha=0.8)
    ax.scatter(
        [p.x for p in points],
        [p.y for p in points],
        s=28,
        facecolor="white",
        edgecolor="#c0392b",
        linewidth=1.4,
        zorder=4,
        label="patrol target",
    )


def _draw_bases(ax, bases: gpd.GeoDataFrame) -> None:
    ax.scatter(
        bases.geometry.x,
        bases.geometry.y,
        marker="^",
        s=70,
        color="#1f4e79",
        zorder=5,
        label="base (range dashed)",
    )
    for row in bases.itertuples(index=False):
        ax.annotate(
            f"{row.name} ({int(row.used)}/{int(row.patrols)})",
            (row.geometry.x, row.geometry.y),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
        )


def _default_title(summary: dict) -> str:
    gap = "n/a" if summary["gap"] is None else f"{summary['gap']:.1%}"
    return (
        f"Patrol plan: {summary['patrols_used']}/{summary['patrols_available']} patrols, "
        f"{summary['covered_share']:.0%} of risk covered ({summary['status']}, gap {gap})"
    )
