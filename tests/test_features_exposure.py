"""Static covariates (area, population by fractional coverage, distances, centroids) and season."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from numpy.testing import assert_allclose, assert_array_equal
from rasterio.transform import from_origin
from shapely.geometry import box

from sauti.features.exposure import find_capital, season, static_covariates, zonal_population
from sauti.features.periods import period_range


@pytest.fixture
def density_raster(tmp_path: Path) -> Path:
    """0.5° cells over 19-24°E, 4-7°N: 10 persons/km² west of 21.5°E, 30 east, nodata north of 6.5°N."""
    path = tmp_path / "density.tif"
    data = np.where(np.arange(10)[None, :] < 5, 10.0, 30.0).repeat(6, axis=0).astype("float32")
    data[0, :] = -3.4e38  # first row (6.5-7°N) is nodata, like WorldPop's water cells
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=10,
        height=6,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(19, 7, 0.5, 0.5),
        nodata=-3.4e38,
    ) as dst:
        dst.write(data, 1)
    return path


def _area_km2(frame: gpd.GeoDataFrame) -> np.ndarray:
    return static_covariates(frame)["area_km2"]


def test_population_is_density_times_area(three_squares, density_raster):
    persons = zonal_population(three_squares, density_raster)
    area = _area_km2(three_squares)
    # A (20-21°E) is all 10/km²; B (21-22°E) is half 10 and half 30; C all 30
    assert_allclose(persons / area, [10, 20, 30], rtol=2e-3)


def test_polygon_smaller_than_a_cell_gets_its_share(density_raster):
    tiny = gpd.GeoDataFrame({"locality_id": ["t"]}, geometry=[box(20.1, 5.1, 20.2, 5.2)], crs="EPSG:4326")
    persons = zonal_population(tiny, density_raster)
    assert_allclose(persons, 10 * _area_km2(tiny), rtol=1e-3)
    straddling = gpd.GeoDataFrame(
        {"locality_id": ["s"]}, geometry=[box(21.4, 5.1, 21.6, 5.2)], crs="EPSG:4326"
    )
    assert_allclose(zonal_population(straddling, density_raster), 20 * _area_km2(straddling), rtol=1e-3)


def test_nodata_cells_are_unpopulated(density_raster):
    north = gpd.GeoDataFrame({"locality_id": ["n"]}, geometry=[box(20, 6.5, 21, 7)], crs="EPSG:4326")
    assert_allclose(zonal_population(north, density_raster), [0.0])


def test_population_is_conserved_when_units_are_split(three_squares, density_raster):
    halves = []
    for geom in three_squares.geometry:
        x0, y0, x1, y1 = geom.bounds
        halves += [box(x0, y0, (x0 + x1) / 2 + 0.13, y1), box((x0 + x1) / 2 + 0.13, y0, x1, y1)]
    split = gpd.GeoDataFrame({"locality_id": range(6)}, geometry=halves, crs="EPSG:4326")
    assert_allclose(
        zonal_population(split, density_raster).sum(),
        zonal_population(three_squares, density_raster).sum(),
        rtol=1e-6,
    )


def test_count_rasters_are_read_per_cell(three_squares, tmp_path):
    path = tmp_path / "count.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=3,
        height=1,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(20, 6, 1, 1),
    ) as dst:
        dst.write(np.array([[100, 200, 300]], dtype="float32"), 1)
    assert_allclose(zonal_population(three_squares, path, is_density=False), [100, 200, 300], rtol=1e-4)


def test_distances_and_centroids(three_squares):
    out = static_covariates(three_squares, capital=(20.5, 5.5))
    assert_allclose(out["centroid_lon"], [20.5, 21.5, 22.5], atol=1e-4)
    assert_allclose(out["centroid_lat"], [5.5, 5.5, 5.5], atol=2e-3)
    # 1° of longitude at 5.5°N ≈ 110.8 km
    assert_allclose(out["dist_capital_km"], [0, 110.8, 221.6], atol=1.0)
    # the border is the outline of A|B|C: each centroid is half a degree (~55 km) from it
    assert_allclose(out["dist_border_km"], [55.3, 55.3, 55.3], atol=1.0)
    assert_allclose(out["area_km2"], [12_240, 12_240, 12_240], rtol=0.01)
    assert np.isnan(out["population"]).all()


def test_border_of_an_explicit_outline(three_squares):
    outline = box(15, 0, 30, 10)
    near = static_covariates(three_squares, outline=outline)["dist_border_km"]
    assert (near > 400).all()


def test_find_capital_by_name(three_squares):
    assert_allclose(find_capital(three_squares, "beta"), (21.5, 5.5), atol=2e-3)
    assert find_capital(three_squares, "Bangui") is None


@pytest.mark.parametrize(
    ("freq", "first", "rainy"),
    [("M", "2020-01-01", [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]), ("W", "2020-05-04", [1] * 12)],
    ids=["monthly", "weekly"],
)
def test_season(freq, first, rainy):
    periods = period_range(
        first, pd.Timestamp(first) + pd.Timedelta(days=7 * 11 if freq == "W" else 335), freq
    )
    out = season(periods, freq, (5, 6, 7, 8, 9, 10))
    assert_array_equal(out["rainy_season"], rainy)
    assert_allclose(out["season_sin"] ** 2 + out["season_cos"] ** 2, 1.0)
    if freq == "M":
        # mid-January near angle 0, mid-July near pi
        assert out["season_cos"][0] > 0.95
        assert out["season_cos"][6] < -0.95


def _supersampled_population(polygon, raster: Path, k: int = 200) -> float:
    """Independent zonal sum: each raster cell split into k × k sub-cells whose centres are tested
    against the polygon, each weighted by its geodesic (WGS84 ellipsoid) area."""
    from pyproj import Geod
    from shapely import contains_xy

    geod = Geod(ellps="WGS84")
    with rasterio.open(raster) as src:
        data = src.read(1, masked=True).astype("float64").filled(np.nan)
        transform = src.transform
    minx, miny, maxx, maxy = polygon.bounds
    col0, row0 = (int(np.floor(v)) for v in ~transform * (minx, maxy))
    col1, row1 = (int(np.ceil(v)) for v in ~transform * (maxx, miny))
    total = 0.0
    for row in range(row0, row1):
        for col in range(col0, col1):
            density = data[row, col]
            if not np.isfinite(density) or density <= 0:
                continue
            x0, y0 = transform * (col, row)
            x1, y1 = transform * (col + 1, row + 1)
            width = (x1 - x0) / k
            xs = x0 + (np.arange(k) + 0.5) * width
            edges = np.linspace(y0, y1, k + 1)
            ys = (edges[:-1] + edges[1:]) / 2
            inside = contains_xy(polygon, *np.meshgrid(xs, ys))
            rows_km2 = [
                abs(geod.polygon_area_perimeter([0, width, width, 0], [a, a, b, b])[0]) / 1e6
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ]
            total += density * float((inside * np.asarray(rows_km2)[:, None]).sum())
    return total


def test_bangui_and_bimbo_population_match_the_raster(sample_dir: Path) -> None:
    """Issue #11: notebook 04 gave Bangui 72,533 people and Bimbo 825,065. Checked against the
    raster by an independent computation, both are what the sample's WorldPop raster holds: its
    cells are ~20 km (340 km²) means of density, Bangui (66 km²) is a fifth of one cell, so it gets
    its area's share of the cell mean and the rest of the city's people fall to Bimbo around it.
    """
    raster = sample_dir / "population" / "worldpop2020_density_caf.tif"
    adm2 = gpd.read_file(sample_dir / "boundaries" / "caf_adm2.gpkg")
    towns = adm2[adm2["admin2Name"].isin(["Bangui", "Bimbo"])].set_index("admin2Name")
    ours = dict(zip(towns.index, zonal_population(towns, raster), strict=True))
    independent = {name: _supersampled_population(towns.geometry[name], raster) for name in towns.index}
    assert_allclose([ours["Bangui"], ours["Bimbo"]], [independent["Bangui"], independent["Bimbo"]], rtol=2e-3)
    assert_allclose([ours["Bangui"], ours["Bimbo"]], [72_533, 825_065], rtol=1e-4)
    # together they hold what the raster holds around the capital: about 0.9 million people
    assert 880_000 < ours["Bangui"] + ours["Bimbo"] < 910_000
