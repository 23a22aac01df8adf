"""Bases and targets against the workspace's boundaries: a base that lies outside every locality, or
a patrol that goes from one country into another, is said in words instead of planned silently.

A base outside the boundaries is usually a typo in its coordinates or a base across the border (a
base in Cameroon serving western CAR): its patrols then cross an international border. Countries
come from the localities' ``admin0_name`` (or ``admin0_id``) column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID, STORAGE_CRS
from sauti.geo import local_crs

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

_COUNTRY_COLUMNS = ("admin0_name", "admin0_id")


def _countries(localities: gpd.GeoDataFrame) -> np.ndarray:
    """Each locality's country name ('' where unknown)."""
    for column in _COUNTRY_COLUMNS:
        if column in localities.columns:
            values = localities[column].astype("string").fillna("").str.strip()
            if (values != "").any():
                return values.to_numpy(dtype=object)
    return np.full(len(localities), "", dtype=object)


def _distance_km(point, polygon) -> float:
    """Straight-line distance from a base to a polygon, in a local equal-area CRS around both."""
    import geopandas as gpd

    pair = gpd.GeoSeries([point, polygon], crs=STORAGE_CRS)
    projected = pair.to_crs(local_crs(tuple(pair.total_bounds)))
    return float(projected.iloc[0].distance(projected.iloc[1]) / 1000.0)


def locate_bases(localities: gpd.GeoDataFrame, bases: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per base (in order): ``inside`` the boundaries, its ``country`` ('' when outside or unknown)
    and ``outside_km`` (distance to the nearest locality; 0 inside).

    Point localities (no polygons) cannot say where the boundaries are: every base counts as inside.
    """
    import shapely

    polygons = localities.geometry.to_crs(STORAGE_CRS).to_numpy()
    polygonal = np.isin(shapely.get_type_id(polygons), (3, 6))
    out = pd.DataFrame({"inside": True, "country": "", "outside_km": 0.0}, index=range(len(bases)))
    if not polygonal.any() or not len(bases):
        return out
    candidates = np.flatnonzero(polygonal)
    tree = shapely.STRtree(polygons[candidates])
    points = bases.geometry.to_crs(STORAGE_CRS).to_numpy()
    base_idx, hit = tree.query(points, predicate="intersects")
    countries = _countries(localities)
    out["inside"] = np.isin(np.arange(len(bases)), base_idx)
    first = pd.Series(candidates[hit], index=base_idx).groupby(level=0).first()
    out.loc[first.index, "country"] = countries[first.to_numpy()]
    for b in np.flatnonzero(~out["inside"].to_numpy()):
        nearest = candidates[int(tree.nearest(points[b]))]
        out.loc[b, "outside_km"] = _distance_km(points[b], polygons[nearest])
    return out


def border_warnings(
    localities: gpd.GeoDataFrame, bases: gpd.GeoDataFrame, assignments: pd.DataFrame, where: pd.DataFrame
) -> list[str]:
    """Sentences for bases outside the boundaries and patrols that cross into another country.

    ``where`` is :func:`locate_bases`' answer for ``bases``; ``assignments`` the plan's rows
    (``base``, ``locality_id``, ``name``).
    """
    countries = pd.Series(_countries(localities), index=localities[LOCALITY_ID].astype(str).to_numpy())
    warnings = []
    for b, name in enumerate(bases["name"].astype(str)):
        rows = assignments[assignments["base"] == name]
        targets = rows["name"].astype(str).tolist()
        into = sorted({c for c in countries.reindex(rows[LOCALITY_ID].astype(str)).fillna("") if c})
        if not where["inside"].iloc[b]:
            where_to = f" into {', '.join(into)}" if into else ""
            reached = ", ".join(targets)
            consequence = (
                f"its {_patrols(len(targets))} would cross the border{where_to} to reach {reached}."
                if targets
                else "none of its patrols was placed."
            )
            warnings.append(
                f"Base {name} lies outside the workspace's boundaries ({where['outside_km'].iloc[b]:.0f} km "
                f"from the nearest locality): check its location; {consequence}"
            )
            continue
        home = where["country"].iloc[b]
        abroad = rows[
            [c not in ("", home) for c in countries.reindex(rows[LOCALITY_ID].astype(str)).fillna("")]
        ]
        if home and len(abroad):
            crossed = sorted(set(countries.reindex(abroad[LOCALITY_ID].astype(str))))
            warnings.append(
                f"Base {name} ({home}) sends {_patrols(len(abroad))} across the border into "
                f"{', '.join(crossed)}: {', '.join(abroad['name'].astype(str))}."
            )
    return warnings


def _patrols(n: int) -> str:
    return f"{n} patrol{'s' if n != 1 else ''}"
