"""Static exposure covariates of each locality and the season of each period.

Areas, centroids and distances are measured in :func:`sauti.geo.local_crs` (Lambert azimuthal
equal-area centred on the unit set). Population is the zonal sum of a population raster with
**fractional coverage**: each raster cell contributes ``density × area(cell ∩ locality)``, so a
locality smaller than a raster cell (a 10 km grid cell against WorldPop's ~20 km cells) gets its
share of the cell rather than all or nothing. Nodata cells count as unpopulated.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from sauti.features.periods import period_midpoint
from sauti.geo import local_crs

if TYPE_CHECKING:  # pragma: no cover
    from pyproj import CRS

log = logging.getLogger(__name__)


SEGMENT_DEGREES = 0.05


def projected(localities: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, CRS]:
    """``(geometries in the local equal-area CRS, that CRS)``.

    Edges are first densified to ``SEGMENT_DEGREES`` in lon/lat, so a long straight edge of a
    stored polygon follows its true course in the projection (areas of a unit and of its parts
    then add up).
    """
    lonlat = localities.geometry.to_crs("EPSG:4326")
    crs = local_crs(tuple(lonlat.total_bounds))
    dense = gpd.GeoSeries(shapely.segmentize(lonlat.to_numpy(), SEGMENT_DEGREES), crs="EPSG:4326")
    return dense.to_crs(crs), crs


def zonal_population(
    localities: gpd.GeoDataFrame, raster: str | Path, *, is_density: bool = True
) -> np.ndarray:
    """Population of each locality from a raster, by fractional cell coverage.

    Parameters
    ----------
    localities : GeoDataFrame
        Polygons in any CRS.
    raster : path
        Single-band raster (any CRS); persons per km² when ``is_density`` (WorldPop density),
        else persons per cell.
    is_density : bool
        How to read cell values.

    Returns
    -------
    numpy.ndarray
        Persons per locality (float64); 0 where the raster has no data.
    """
    import rasterio
    from rasterio.windows import Window, from_bounds

    path = Path(raster)
    if not path.exists():
        raise ValueError(f"population raster {path} not found; pass another --population file")
    geoms, crs = projected(localities)
    result = np.zeros(len(localities), dtype=float)
    with rasterio.open(path) as src:
        bounds = localities.to_crs(src.crs).total_bounds
        exact = from_bounds(*bounds, transform=src.transform)
        col0, row0 = math.floor(exact.col_off), math.floor(exact.row_off)
        col1 = math.ceil(exact.col_off + exact.width)
        row1 = math.ceil(exact.row_off + exact.height)
        col0, row0 = max(col0, 0), max(row0, 0)
        col1, row1 = min(col1, src.width), min(row1, src.height)
        if col1 <= col0 or row1 <= row0:
            log.warning("population raster %s does not cover the localities; population is 0", path)
            return result
        window = Window(col0, row0, col1 - col0, row1 - row0)
        data = src.read(1, window=window, masked=True).astype("float64")
        transform = src.window_transform(window)
        raster_crs = src.crs
    values = data.filled(np.nan)
    rows, cols = np.nonzero(np.isfinite(values) & (values > 0))
    if len(rows) == 0:
        return result
    x0, y0 = transform @ (cols, rows)
    x1, y1 = transform @ (cols + 1, rows + 1)
    cells = gpd.GeoSeries(shapely.box(x0, y1, x1, y0), crs=raster_crs)
    cells = gpd.GeoSeries(shapely.segmentize(cells.to_numpy(), _segment(transform)), crs=raster_crs).to_crs(
        crs
    )
    cell_geoms = cells.to_numpy()
    cell_area = shapely.area(cell_geoms)
    cell_values = values[rows, cols]
    per_m2 = cell_values / 1e6 if is_density else cell_values / cell_area
    polygons = geoms.to_numpy()
    tree = shapely.STRtree(cell_geoms)
    # cells wholly inside a locality need no intersection
    inner = tree.query(polygons, predicate="contains_properly")
    np.add.at(result, inner[0], per_m2[inner[1]] * cell_area[inner[1]])
    touching = tree.query(polygons, predicate="intersects")
    if touching.shape[1]:
        n_cells = len(cell_geoms)
        edge = ~np.isin(touching[0] * n_cells + touching[1], inner[0] * n_cells + inner[1])
        li, ci = touching[0][edge], touching[1][edge]
        if len(li):
            overlap = shapely.area(shapely.intersection(polygons[li], cell_geoms[ci]))
            np.add.at(result, li, per_m2[ci] * overlap)
    return result


def _segment(transform) -> float:
    return max(abs(transform.a), abs(transform.e)) / 4.0


def static_covariates(
    localities: gpd.GeoDataFrame,
    *,
    population: str | Path | None = None,
    capital: tuple[float, float] | None = None,
    outline: shapely.Geometry | None = None,
    is_density: bool = True,
) -> dict[str, np.ndarray]:
    """``area_km2``, ``population``, ``pop_density``, ``dist_capital_km``, ``dist_border_km``,
    ``centroid_lon``, ``centroid_lat`` per locality.

    ``outline`` (lon/lat) is the country whose boundary is the border; default the union of the
    localities. Without a raster, population and density are NaN; without a capital,
    ``dist_capital_km`` is NaN.
    """
    geoms, crs = projected(localities)
    values = geoms.to_numpy()
    area = shapely.area(values) / 1e6
    centroids = shapely.centroid(values)
    lonlat = gpd.GeoSeries(centroids, crs=crs).to_crs("EPSG:4326")
    out: dict[str, np.ndarray] = {
        "area_km2": area,
        "centroid_lon": lonlat.x.to_numpy(),
        "centroid_lat": lonlat.y.to_numpy(),
    }
    if population is not None:
        persons = zonal_population(localities, population, is_density=is_density)
        out["population"] = persons
        out["pop_density"] = np.divide(persons, area, out=np.zeros_like(persons), where=area > 0)
    else:
        out["population"] = np.full(len(values), np.nan)
        out["pop_density"] = np.full(len(values), np.nan)
    if capital is not None:
        point = gpd.GeoSeries(shapely.points([capital]), crs="EPSG:4326").to_crs(crs).iloc[0]
        out["dist_capital_km"] = shapely.distance(centroids, point) / 1000.0
    else:
        out["dist_capital_km"] = np.full(len(values), np.nan)
    if outline is None:
        shape = shapely.union_all(values)
    else:
        shape = gpd.GeoSeries([outline], crs="EPSG:4326").to_crs(crs).iloc[0]
    border = shapely.boundary(shape)
    out["dist_border_km"] = shapely.distance(centroids, border) / 1000.0
    return out


def find_capital(localities: gpd.GeoDataFrame, name: str) -> tuple[float, float] | None:
    """``(lon, lat)`` of the centroid of the locality called ``name``, or None."""
    from sauti.features.assign import normalise_name

    if "name" not in localities or not name:
        return None
    key = normalise_name(name)
    hits = localities[localities["name"].map(normalise_name) == key]
    if hits.empty:
        return None
    geoms, crs = projected(hits)
    centre = shapely.centroid(shapely.union_all(geoms.to_numpy()))
    lonlat = gpd.GeoSeries([centre], crs=crs).to_crs("EPSG:4326").iloc[0]
    return float(lonlat.x), float(lonlat.y)


def season(periods: pd.DatetimeIndex, freq: str, rainy_months: tuple[int, ...]) -> dict[str, np.ndarray]:
    """``season_sin``, ``season_cos`` (day of year of the period's midpoint) and ``rainy_season``."""
    mid = period_midpoint(periods, freq)
    angle = 2 * np.pi * (mid.day_of_year.to_numpy() - 1) / 365.25
    return {
        "season_sin": np.sin(angle),
        "season_cos": np.cos(angle),
        "rainy_season": np.isin(mid.month.to_numpy(), list(rainy_months)).astype(np.int8),
    }
