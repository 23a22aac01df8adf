"""Locality weights for patrol planning: population from the feature cube the scores were built on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID
from sauti.errors import NotReadyError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

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

    Raises
    ------
    NotReadyError
        When no cube of that unit holds a population (features not computed, or without a raster).
    """
    from sauti.features import load_cube

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
        return values.fillna(0.0)
    raise NotReadyError(
        "population weights need a feature cube with population: run `sauti features --population FILE` "
        f"for unit {unit} ({'; '.join(problems)})"
    )
