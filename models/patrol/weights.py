"""Locality weights for patrol planning: population from the feature cube the scores were built on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID
from sauti.errors import NotReadyError
from sauti.features import load_cube

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import xarray as xr

    from sauti.store import Workspace


def _unit_of(localities: gpd.GeoDataFrame) -> str:
    levels = sorted(set(localities["level"].astype(str))) if "level" in localities.columns else []
    if len(levels) != 1:
        raise NotReadyError(
            f"cannot tell which unit the localities are (levels: {', '.join(levels) or 'none'})"
        )
    level = levels[0]
    if level != "grid":
        return level
    first = str(localities[LOCALITY_ID].iloc[0])  # grid ids are g<N>_<row>_<col>
    size = first[1:].split("_", 1)[0]
    return f"grid:{size}km"


def population_weight(workspace: Workspace, localities: gpd.GeoDataFrame) -> pd.Series:
    """Population per locality (persons) from the workspace's feature cube of the localities' unit.

    The cube's static ``population`` variable comes from zonal statistics of the population raster
    (``sauti features --population FILE``). Monthly cubes are tried before weekly ones.

    The Series' ``attrs["caveat"]`` holds :func:`coarse_population_note` (or None).

    Raises
    ------
    NotReadyError
        When no cube of that unit holds a population (features not computed, or without a raster).
    """
    unit = _unit_of(localities)
    problems = []
    for freq in ("M", "W"):
        try:
            cube = load_cube(workspace, freq=freq, unit=unit)
        except NotReadyError as exc:
            problems.append(str(exc))
            continue
        if "population" not in cube:
            problems.append(f"the {unit}/{freq} cube has no population variable")
            continue
        population = cube["population"]
        if population.ndim != 1:
            population = population.isel({d: 0 for d in population.dims if d != population.dims[0]})
        values = pd.Series(
            np.asarray(population.to_numpy(), dtype=float),
            index=pd.Index(cube[population.dims[0]].to_numpy().astype(str), name=LOCALITY_ID),
            name="population",
        )
        if not np.isfinite(values.to_numpy()).any():
            problems.append(f"the {unit}/{freq} cube was built without a population raster")
            continue
        values = values.fillna(0.0)
        values.attrs["caveat"] = coarse_population_note(cube, values)
        return values
    raise NotReadyError(
        "population weights need a feature cube with population: run `sauti features --population FILE` "
        f"for unit {unit} ({'; '.join(problems)})"
    )


def raster_cell_km2(path: str | Path, latitude: float) -> float:
    """Area of one cell of a raster (km²), at ``latitude`` for a raster in degrees."""
    import rasterio
    from pyproj import Geod

    with rasterio.open(path) as src:
        width, height = abs(src.res[0]), abs(src.res[1])
        geographic = src.crs is None or src.crs.is_geographic
    if not geographic:
        return width * height / 1e6
    south, north = latitude - height / 2, latitude + height / 2
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter([0, width, width, 0], [south, south, north, north])
    return abs(area) / 1e6


def coarse_population_note(cube: xr.Dataset, population: pd.Series) -> str | None:
    """A caveat when localities are smaller than the population raster's cells, else None.

    Zonal statistics give such a locality its area's share of the cell's *average* density, so a
    town much denser than its surroundings is undercounted: on the sample's ~20 km WorldPop cells,
    Bangui (66 km², about a fifth of one cell) gets about 72,500 people, the rest of its cell going
    to Bimbo around it.
    """
    try:
        path = json.loads(cube.attrs.get("provenance", "{}")).get("population")
    except (TypeError, ValueError):
        return None
    if isinstance(path, dict):  # {"path", "sha256"} in newer cubes
        path = path.get("path")
    if not path or not Path(path).exists() or "area_km2" not in cube:
        return None
    latitude = float(np.nanmean(cube["centroid_lat"].to_numpy())) if "centroid_lat" in cube else 0.0
    cell = raster_cell_km2(path, latitude)
    area = pd.Series(np.asarray(cube["area_km2"].to_numpy(), dtype=float), index=population.index)
    small = area[area < cell]
    if small.empty:
        return None
    smallest = small.idxmin()
    names = cube["name"].to_numpy().astype(str) if "name" in cube else population.index.to_numpy()
    name = dict(zip(population.index, names, strict=True)).get(smallest, smallest)
    return (
        f"Population weights come from a raster with cells of about {cell:,.0f} km²; {len(small)} of "
        f"{len(area)} localities {'is' if len(small) == 1 else 'are'} smaller than one cell "
        f"(smallest: {name}, {small[smallest]:,.0f} km², "
        f"{population[smallest]:,.0f} people), so each gets its area's share of the cell's average "
        "density and a town denser than its surroundings is undercounted."
    )
