"""Seeded synthetic unit sets, incidents and alerts for benchmarks and large-scale tests.

Nothing here is real data: a square "country" of regular grid cells and events scattered over it
with a few hotspots, so the cube can be timed at any size. The same seed gives the same frames.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from sauti.constants import ALERT_CATEGORIES, ALERT_VERIFICATION, INCIDENT_CATEGORIES, LOCALITY_ID
from sauti.features.units import make_grid

CENTRE = (20.9, 6.6)  # near the middle of CAR, for realistic projections


def synthetic_grid(
    side_cells: int = 100, cell_km: float = 10.0, regions_per_side: int = 4
) -> gpd.GeoDataFrame:
    """``side_cells``² square cells of ``cell_km`` in a LAEA square, with admin1-like regions."""
    crs = CRS.from_proj4(f"+proj=laea +lat_0={CENTRE[1]} +lon_0={CENTRE[0]} +datum=WGS84 +units=m +no_defs")
    half = side_cells * cell_km * 1000 / 2
    square = shapely.box(-half, -half, half, half)
    outline = shapely.transform(
        square, Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform, interleaved=False
    )
    grid = make_grid(outline, cell_km, crs=crs)
    band = max(1, side_cells // regions_per_side)
    grid["admin1_id"] = [f"R{r // band}_{c // band}" for r, c in zip(grid["row"], grid["col"], strict=True)]
    grid["admin1_name"] = grid["admin1_id"]
    grid["name"] = grid[LOCALITY_ID]
    grid["level"] = "grid"
    return grid


def synthetic_incidents(
    grid: gpd.GeoDataFrame, n: int, *, start: str = "2015-01-05", weeks: int = 520, seed: int = 0
) -> pd.DataFrame:
    """``n`` incidents over ``grid``: 80% point-, 10% locality-, 7% region-, 3% country-precise."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grid.total_bounds
    hot = rng.uniform((minx, miny), (maxx, maxy), size=(20, 2))
    clustered = rng.random(n) < 0.5
    lon = rng.uniform(minx, maxx, n)
    lat = rng.uniform(miny, maxy, n)
    centre = hot[rng.integers(0, len(hot), n)]
    lon = np.where(clustered, centre[:, 0] + rng.normal(0, 0.3, n), lon)
    lat = np.where(clustered, centre[:, 1] + rng.normal(0, 0.3, n), lat)
    precision = rng.choice(["point", "locality", "region", "country"], size=n, p=[0.8, 0.1, 0.07, 0.03])
    days = rng.integers(0, weeks * 7, n)
    return pd.DataFrame(
        {
            "event_id": np.char.add("syn:", np.arange(n).astype(str)),
            "occurred_on": pd.Timestamp(start) + pd.to_timedelta(days, unit="D"),
            "longitude": lon,
            "latitude": lat,
            "location_precision": precision,
            "category": rng.choice(list(INCIDENT_CATEGORIES), size=n, p=[0.15, 0.3, 0.3, 0.1, 0.05, 0.1]),
            "fatalities": rng.poisson(1.2, n),
            "admin1": None,
            "admin2": None,
        }
    )


def synthetic_alerts(
    grid: gpd.GeoDataFrame, n: int, *, start: str = "2015-01-05", weeks: int = 520, seed: int = 1
) -> pd.DataFrame:
    """``n`` alerts: half resolved to a grid cell id, half with a point only."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grid.total_bounds
    ids = grid[LOCALITY_ID].to_numpy()
    resolved = rng.random(n) < 0.5
    return pd.DataFrame(
        {
            "alert_id": np.arange(n).astype(str),
            "received_at": pd.Timestamp(start, tz="UTC")
            + pd.to_timedelta(rng.integers(0, weeks * 7 * 24, n), unit="h"),
            "category": rng.choice(list(ALERT_CATEGORIES), size=n),
            "verification": rng.choice(list(ALERT_VERIFICATION), size=n, p=[0.6, 0.25, 0.15]),
            LOCALITY_ID: np.where(resolved, ids[rng.integers(0, len(ids), n)], None),
            "longitude": np.where(resolved, np.nan, rng.uniform(minx, maxx, n)),
            "latitude": np.where(resolved, np.nan, rng.uniform(miny, maxy, n)),
        }
    )
