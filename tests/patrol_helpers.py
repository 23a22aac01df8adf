"""Small hand-built patrol instances shared by the patrol tests (positions in km along the equator)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

KM_PER_DEGREE = 111.32  # at the equator, close enough to the local equal-area CRS used for distances
LON0 = 20.0


def lon(x_km: float) -> float:
    return LON0 + x_km / KM_PER_DEGREE


def line_localities(xs_km: list[float], *, squares: bool = False, prefix: str = "L") -> gpd.GeoDataFrame:
    """Localities along the equator at ``xs_km`` (points, or 2 km squares centred on them)."""
    half = 1.0 / KM_PER_DEGREE
    geoms = [box(lon(x) - half, -half, lon(x) + half, half) if squares else Point(lon(x), 0.0) for x in xs_km]
    ids = [f"{prefix}{i}" for i in range(len(xs_km))]
    return gpd.GeoDataFrame(
        {"locality_id": ids, "name": [f"Place {i}" for i in range(len(xs_km))]},
        geometry=geoms,
        crs="EPSG:4326",
    )


def bases_at(spec: list[tuple[str, float, int, float]]) -> gpd.GeoDataFrame:
    """Bases from ``(name, x_km, patrols, range_km)``."""
    return gpd.GeoDataFrame(
        {
            "name": [s[0] for s in spec],
            "patrols": pd.array([s[2] for s in spec], dtype="Int64"),
            "range_km": [float(s[3]) for s in spec],
        },
        geometry=[Point(lon(s[1]), 0.0) for s in spec],
        crs="EPSG:4326",
    )


def risk_of(localities: gpd.GeoDataFrame, probabilities: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"locality_id": localities["locality_id"], "probability": probabilities})


def greedy_trap() -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame]:
    """2 bases, 5 localities on a line, where greedy is suboptimal.

    Localities at 0, 10, 20, 30, 40 km worth 0.1, 0.8, 0.9, 0.3, 0.2. Base A at 18 km (1 patrol,
    12 km) reaches L1 (8 km) and L2 (2 km); base B at 31 km (1 patrol, 12 km) reaches L2 (11 km),
    L3 (1 km) and L4 (9 km). Greedy sends A to L2 (the best locality, A is nearer) and B to L3:
    0.9 + 0.3 = 1.2. The optimum is A → L1, B → L2: 0.8 + 0.9 = 1.7.
    """
    localities = line_localities([0, 10, 20, 30, 40])
    risk = risk_of(localities, [0.1, 0.8, 0.9, 0.3, 0.2])
    bases = bases_at([("A", 18, 1, 12), ("B", 31, 1, 12)])
    return localities, risk, bases
