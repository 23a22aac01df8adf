"""Shared fixtures: the real data, the sample, small hand-built geometries, fresh workspaces."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from sauti.store import Workspace

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``../shared/data``) beside the checkout."""
    if not SHARED.exists():
        pytest.fail(f"real data not found at {SHARED}: the checkout must have ../shared beside it")
    return SHARED


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty workspace in a temporary folder."""
    return Workspace(tmp_path / "ws")


@pytest.fixture
def three_squares() -> gpd.GeoDataFrame:
    """Three 1°×1° squares in a row (A | B | C) as admin2 localities in two admin1 regions."""
    return gpd.GeoDataFrame(
        {
            "locality_id": ["A", "B", "C"],
            "name": ["Alpha", "Bêta", "Gamma"],
            "level": "admin2",
            "admin1_id": ["R1", "R1", "R2"],
            "admin1_name": ["Region One", "Region One", "Region Two"],
        },
        geometry=[box(20, 5, 21, 6), box(21, 5, 22, 6), box(22, 5, 23, 6)],
        crs="EPSG:4326",
    )


@pytest.fixture
def three_points() -> gpd.GeoDataFrame:
    """One point inside each square of :func:`three_squares`."""
    return gpd.GeoDataFrame(
        {"event_id": ["e1", "e2", "e3"]},
        geometry=[Point(20.5, 5.5), Point(21.5, 5.5), Point(22.5, 5.5)],
        crs="EPSG:4326",
    )
