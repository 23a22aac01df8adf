"""Risk surfaces: kernel density, recency weights, blending, COG round trip (features/surface.py)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from numpy.testing import assert_allclose
from pyproj import CRS, Geod
from shapely.geometry import box

from sauti.features import DEFAULT_SURFACE, read_surface, risk_surface, write_cog, write_default_surface


def _incidents(rows) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "occurred_on": pd.to_datetime([r[0] for r in rows]),
            "longitude": [r[1] for r in rows],
            "latitude": [r[2] for r in rows],
            "location_precision": [r[3] if len(r) > 3 else "point" for r in rows],
        }
    )


def _value_at(surface, lon, lat):
    import geopandas as gpd
    from shapely.geometry import Point

    pt = gpd.GeoSeries([Point(lon, lat)], crs="EPSG:4326").to_crs(CRS.from_wkt(surface.attrs["crs"])).iloc[0]
    return float(surface.sel(x=pt.x, y=pt.y, method="nearest"))


def test_density_peaks_where_the_events_are(three_squares):
    events = _incidents([("2020-06-01", 20.5, 5.5)] * 3 + [("2020-06-01", 22.5, 5.5)])
    s = risk_surface(events, three_squares, resolution_km=5, bandwidth_km=15)
    assert s.dims == ("y", "x")
    assert_allclose(np.nanmax(s), 1.0)
    assert _value_at(s, 20.5, 5.5) > 0.95
    assert_allclose(_value_at(s, 22.5, 5.5), 1 / 3, atol=0.03)  # one event against three
    assert _value_at(s, 21.5, 5.5) < 0.01  # ~110 km from both, 7 bandwidths away


def test_recent_events_weigh_more(three_squares):
    events = _incidents([("2020-06-01", 20.5, 5.5), ("2020-03-03", 22.5, 5.5)])  # 90 days older
    s = risk_surface(events, three_squares, resolution_km=5, until="2020-06-01", half_life_days=90)
    assert_allclose(_value_at(s, 22.5, 5.5) / _value_at(s, 20.5, 5.5), 0.5, rtol=0.02)


def test_events_after_until_and_imprecise_ones_are_ignored(three_squares):
    base = _incidents([("2020-06-01", 20.5, 5.5)])
    noisy = _incidents(
        [
            ("2020-06-01", 20.5, 5.5),
            ("2020-07-01", 22.5, 5.5),  # after until
            ("2020-05-01", 22.5, 5.5, "region"),
            ("2020-05-01", 21.5, 5.5, "country"),
        ]
    )
    a = risk_surface(base, three_squares, resolution_km=5, until="2020-06-15")
    b = risk_surface(noisy, three_squares, resolution_km=5, until="2020-06-15")
    assert_allclose(a.values, b.values)


def test_scores_are_blended_in(three_squares):
    events = _incidents([("2020-06-01", 20.5, 5.5)])
    scores = pd.DataFrame({"locality_id": ["A", "B", "C"], "probability": [0.0, 0.02, 0.08]})
    s = risk_surface(events, three_squares, scores, resolution_km=5, bandwidth_km=10, blend=0.25)
    # far from the event the surface is (1 - blend) × the locality's probability relative to the highest
    assert_allclose(_value_at(s, 22.7, 5.3), 0.75 * 1.0, atol=1e-6)
    assert_allclose(_value_at(s, 21.7, 5.3), 0.75 * 0.25, atol=1e-6)
    assert_allclose(_value_at(s, 20.5, 5.5), 0.25 * 1.0 + 0.75 * 0.0, atol=0.02)
    assert_allclose(s.attrs["score_peak"], 0.08)
    absolute = risk_surface(events, three_squares, scores, resolution_km=5, blend=0.0, relative_scores=False)
    assert_allclose(np.nanmax(absolute), 0.08, atol=1e-6)


def test_outside_the_localities_is_nodata(three_squares):
    s = risk_surface(_incidents([("2020-06-01", 20.5, 5.5)]), three_squares, resolution_km=2)
    assert np.isnan(s.values).any()
    assert not np.isnan(s.values).all()
    assert np.isnan(s.values[0, 0])
    assert np.isnan(s.values[-1, -1])
    inside = ~np.isnan(s.values)
    # three 1°×1° squares ≈ 36,700 km² ≈ 9,180 pixels of 4 km²
    assert_allclose(inside.sum() * 4, 3 * 12_240, rtol=0.02)


def test_resolution_sets_the_pixel_size(three_squares):
    events = _incidents([("2020-06-01", 20.5, 5.5)])
    coarse = risk_surface(events, three_squares, resolution_km=10)
    fine = risk_surface(events, three_squares, resolution_km=2)
    assert coarse.attrs["transform"][0] == 10_000
    assert fine.attrs["transform"][0] == 2_000
    # each grid covers the squares' extent, snapped outwards to whole pixels (at most one more per side)
    width_m = np.ptp(three_squares.to_crs(CRS.from_wkt(fine.attrs["crs"])).total_bounds[[0, 2]])
    for surface, pixel_m in ((coarse, 10_000), (fine, 2_000)):
        assert width_m <= surface.sizes["x"] * pixel_m < width_m + 2 * pixel_m


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"resolution_km": 0}, "positive"), ({"blend": 1.5}, "blend"), ({"resolution_km": 0.01}, "coarser")],
    ids=["zero-resolution", "blend-range", "too-many-pixels"],
)
def test_bad_parameters(three_squares, kwargs, message):
    with pytest.raises(ValueError, match=message):
        risk_surface(_incidents([("2020-06-01", 20.5, 5.5)]), three_squares, **kwargs)


def test_cog_round_trip_keeps_crs_transform_and_nodata(three_squares, tmp_path):
    s = risk_surface(_incidents([("2020-06-01", 20.5, 5.5)]), three_squares, resolution_km=1)
    path = write_cog(s, tmp_path / "risk.tif")
    back = read_surface(path)
    assert CRS.from_wkt(back.attrs["crs"]).equals(CRS.from_wkt(s.attrs["crs"]))
    assert back.attrs["transform"] == s.attrs["transform"]
    assert back.attrs["nodata"] == s.attrs["nodata"] == -9999.0
    assert_allclose(back.values, s.values)  # NaN in the same places
    assert_allclose(back["x"], s["x"]) and assert_allclose(back["y"], s["y"])
    assert back.attrs["half_life_days"] == 90


def test_cog_layout(three_squares, tmp_path):
    s = risk_surface(_incidents([("2020-06-01", 20.5, 5.5)]), three_squares, resolution_km=0.5)
    path = write_cog(s, tmp_path / "risk.tif")
    with rasterio.open(path) as src:
        assert src.profile["tiled"]
        assert src.profile["blockxsize"] == 256
        assert src.compression is not None
        assert src.compression.value.upper() == "DEFLATE"
        assert src.overviews(1)  # at least one overview level
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_cog_names_an_epsg_crs_and_what_its_values_are(three_squares, tmp_path):
    events = _incidents([("2020-06-01", 20.5, 5.5)])
    scores = pd.DataFrame({"locality_id": ["A", "B", "C"], "probability": [0.0, 0.002, 0.011]})
    path = write_cog(risk_surface(events, three_squares, scores, resolution_km=5), tmp_path / "risk.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32634  # WGS 84 / UTM 34N: the zone of 21.5° E
        tags = src.tags()
        assert tags["quantity"] == "relative_risk_index"
        assert "not a probability" in tags["units"]
        assert "highest locality probability 1.10%" in tags["description"]
        assert src.descriptions == ("relative risk index (not a probability)",)
        assert "not a probability" in src.units[0]


@pytest.mark.parametrize(
    ("kwargs", "quantity", "units"),
    [
        ({"blend": 0.0, "relative_scores": False}, "probability", "probability (0-1)"),
        ({"blend": 0.5}, "relative_risk_index", "relative index"),
        ({"scores": None}, "relative_incident_density", "relative index"),
    ],
    ids=["probability", "blended-index", "density-only"],
)
def test_the_values_are_named_for_how_the_surface_was_made(three_squares, kwargs, quantity, units):
    events = _incidents([("2020-06-01", 20.5, 5.5)])
    scores = pd.DataFrame({"locality_id": ["A", "B", "C"], "probability": [0.0, 0.002, 0.011]})
    kwargs = {"scores": scores, **kwargs}
    s = risk_surface(events, three_squares, kwargs.pop("scores"), resolution_km=5, **kwargs)
    assert s.attrs["quantity"] == quantity
    assert s.attrs["units"].startswith(units)
    if quantity == "probability":  # then the values are the probabilities themselves
        assert_allclose(np.nanmax(s), 0.011, atol=1e-6)


def test_read_missing_surface_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="sauti heatmap"):
        read_surface(tmp_path / "nope.tif")


def test_default_surface_is_written_in_the_workspace(workspace, sample_dir):
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.ingest.incidents import ingest_incidents

    ingest_boundaries(workspace, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_incidents(workspace, sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson")
    path = write_default_surface(workspace, resolution_km=10, until="2019-12-31")
    assert path == workspace.root / DEFAULT_SURFACE
    s = read_surface(path)
    assert s.attrs["until"] == "2019-12-31"
    assert np.nanmax(s.values) == pytest.approx(1.0)


def test_refreshing_the_stored_surface_changes_the_scores_and_nothing_else(workspace, sample_dir):
    """What the nowcast does after new alerts: same grid, date and kernel; the new scores blended in."""
    from sauti.features import refresh_default_surface, unit_localities
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.ingest.incidents import ingest_incidents

    assert refresh_default_surface(workspace, None) is None  # no surface yet: nothing written
    assert not (workspace.root / DEFAULT_SURFACE).exists()
    ingest_boundaries(workspace, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_incidents(workspace, sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson")
    ids = unit_localities(workspace, "admin2")["locality_id"].tolist()
    flat = pd.DataFrame({"locality_id": ids, "probability": 0.02})
    write_default_surface(
        workspace, flat, resolution_km=10, until="2019-12-31", half_life_days=60, bandwidth_km=40, blend=0.3
    )
    before = read_surface(workspace.root / DEFAULT_SURFACE)
    hot = flat.assign(probability=np.where(flat["locality_id"] == "CF431", 0.2, 0.02))  # Bambari
    refresh_default_surface(workspace, hot, unit="admin2")
    after = read_surface(workspace.root / DEFAULT_SURFACE)
    for key in ("resolution_km", "until", "half_life_days", "bandwidth_km", "blend", "transform", "crs"):
        assert after.attrs[key] == before.attrs[key], key
    assert after.shape == before.shape
    assert after.attrs["score_peak"] == pytest.approx(0.2)
    # scores are relative to the peak: Bambari (20.7 E, 5.76 N) keeps the top score, Bangui (18.56 E,
    # 4.36 N) falls from 1 to 0.1 of it, i.e. by (1 - blend) * 0.9 = 0.63; the density part is unchanged
    assert _value_at(after, 20.67, 5.76) == pytest.approx(_value_at(before, 20.67, 5.76), abs=1e-6)
    assert _value_at(before, 18.56, 4.36) - _value_at(after, 18.56, 4.36) == pytest.approx(0.63, abs=1e-4)


def _squares(*lons: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"locality_id": [f"L{i}" for i in range(len(lons))]},
        geometry=[shapely.segmentize(box(lon, 0, lon + 1, 1), 0.01) for lon in lons],  # along parallels
        crs="EPSG:4326",
    )


def test_a_region_wider_than_three_utm_zones_is_drawn_equal_area_centred_on_it():
    # 0°–40° E: 19.5° from the meridian of the centre's UTM zone (21° E), where transverse Mercator
    # inflates areas by ≈ 11 %: the pixels of an equal-area surface add up to the true area (UTM: 1.11×)
    squares = _squares(0, 39)
    events = _incidents([("2020-06-01", 0.5, 0.5), ("2020-06-01", 39.5, 0.5)])
    s = risk_surface(events, squares, resolution_km=2, bandwidth_km=10)
    crs = CRS.from_wkt(s.attrs["crs"])
    assert crs.to_epsg(min_confidence=100) is None
    method = crs.coordinate_operation
    assert method.method_name == "Lambert Azimuthal Equal Area"
    params = {p.name: p.value for p in method.params}
    assert_allclose(params["Longitude of natural origin"], 20.0)
    assert_allclose(params["Latitude of natural origin"], 0.5)
    assert crs.name == "WGS 84 / Lambert azimuthal equal-area centred on 0.5000N 20.0000E"
    true_km2 = sum(abs(Geod(ellps="WGS84").geometry_area_perimeter(g)[0]) for g in squares.geometry) / 1e6
    assert_allclose(np.isfinite(s.values).sum() * 4.0, true_km2, rtol=0.01)  # 2 km pixels


@pytest.mark.parametrize(
    ("lons", "epsg"),
    [((20, 21, 22), 32634), ((14.4, 26.5), 32634), ((0, 9), 32631)],
    ids=["three-squares", "car-wide", "two-zones"],
)
def test_a_country_keeps_the_utm_zone_of_its_centre(lons, epsg):
    squares = _squares(*lons)
    s = risk_surface(_incidents([("2020-06-01", lons[0] + 0.5, 0.5)]), squares, resolution_km=5)
    assert CRS.from_wkt(s.attrs["crs"]).to_epsg() == epsg


def test_the_density_does_not_depend_on_how_many_incidents_are_placed_at_a_time(three_squares, monkeypatch):
    import sauti.features.surface as surface

    rng = np.random.default_rng(3)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 400, 500), unit="D")
    rows = list(zip(days.astype(str), rng.uniform(20, 23, 500), rng.uniform(5, 6, 500), strict=True))
    events = _incidents(rows)
    whole = risk_surface(events, three_squares, resolution_km=5)
    monkeypatch.setattr(surface, "DENSITY_ROWS", 37)
    sliced = risk_surface(events, three_squares, resolution_km=5)
    np.testing.assert_array_equal(sliced.values, whole.values)
