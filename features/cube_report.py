"""Pictures of the cube and of a risk surface (matplotlib, embedded in a self-contained HTML page
rendered from the jinja2 template ``templates/cube_report.html.j2``).

Nothing here is needed to build features; the CLI draws these so a person can check a run at a
glance: counts over time, the latest decayed violence by locality, and the surface itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import xarray as xr

from sauti.constants import INCIDENT_CATEGORIES, LOCALITY_DIM, LOCALITY_ID, PERIOD_DIM
from sauti.figures import page_template, png_base64

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def cube_figure(cube: xr.Dataset, localities: gpd.GeoDataFrame) -> Figure:
    """Counts per category over time (all localities) and the latest decayed violence map."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.8))
    ax_t, ax_m = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    periods = cube[PERIOD_DIM].to_numpy()
    for cat in INCIDENT_CATEGORIES:
        series = cube[f"count_{cat}"].sum(LOCALITY_DIM).to_numpy()
        if series.any():
            ax_t.plot(periods, series, label=cat, linewidth=1)
    ax_t.set_title(f"Located incidents per period ({cube.attrs.get('freq')}), all localities")
    ax_t.set_ylabel("incidents")
    ax_t.legend(fontsize=8)
    names = [n for n in cube.data_vars if str(n).startswith("decay_count_violent_hl")]
    var = str(names[len(names) // 2]) if names else "count_violent"
    last = cube[var].isel({PERIOD_DIM: -1}).to_series()
    frame = localities[[LOCALITY_ID, "geometry"]].merge(
        last.rename("value").rename_axis(LOCALITY_ID).reset_index(), on=LOCALITY_ID, how="left"
    )
    frame.plot(column="value", ax=ax_m, cmap="OrRd", legend=True, edgecolor="#777", linewidth=0.2)
    ax_m.set_title(f"{var} at {np.datetime_as_string(periods[-1], unit='D')}")
    ax_m.set_axis_off()
    fig.tight_layout()
    return fig


def write_cube_report(cube: xr.Dataset, localities: gpd.GeoDataFrame, path: str | Path) -> Path:
    """A self-contained HTML page: the figure above plus the cube's provenance."""
    image = png_base64(cube_figure(cube, localities))
    provenance = json.loads(cube.attrs.get("provenance", "{}"))
    page = page_template("sauti.features", "cube_report.html.j2").render(
        title=f"Sauti feature cube — {cube.attrs.get('unit')} × {cube.attrs.get('freq')}",
        n_localities=cube.sizes[LOCALITY_DIM],
        n_periods=cube.sizes[PERIOD_DIM],
        n_variables=len(cube.data_vars),
        snapshot=str(cube.attrs.get("snapshot", "")),
        image=image,
        provenance=json.dumps(provenance, indent=2, sort_keys=True),
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _crs_label(wkt: str | None) -> str:
    from pyproj import CRS

    return CRS.from_wkt(wkt).name if wkt else "projected"


def write_surface_preview(surface: xr.DataArray, path: str | Path) -> Path:
    """A PNG of the surface (its own CRS, km axes)."""
    from matplotlib.figure import Figure

    x = surface["x"].to_numpy() / 1000.0
    y = surface["y"].to_numpy() / 1000.0
    fig = Figure(figsize=(9, 6))
    ax = fig.subplots()
    image = ax.imshow(
        np.ma.masked_invalid(surface.to_numpy()),
        extent=(x[0], x[-1], y[-1], y[0]),
        cmap="inferno",
        vmin=0,
        vmax=1 if surface.attrs.get("quantity") != "probability" else float(np.nanmax(surface)) or 1,
    )
    fig.colorbar(image, ax=ax, label=str(surface.attrs.get("units", "relative index (0-1)")))
    a = surface.attrs
    ax.set_title(
        f"Risk surface until {a.get('until')} — {a.get('resolution_km'):g} km, "
        f"half-life {a.get('half_life_days'):g} d, bandwidth {a.get('bandwidth_km'):g} km"
    )
    ax.set_xlabel(f"km ({_crs_label(surface.attrs.get('crs'))})")
    ax.set_ylabel("km")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
