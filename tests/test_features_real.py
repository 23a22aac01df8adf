"""The cube on the real UCDP GED CAR events and OCHA boundaries: conservation, leakage, storage, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal

from sauti.constants import INCIDENT_CATEGORIES, LOCALITY_DIM, PERIOD_DIM, VIOLENT_CATEGORIES
from sauti.errors import NotReadyError
from sauti.features import (
    FeatureParams,
    assign_to_localities,
    compute_features,
    cube_inputs,
    cube_path,
    load_cube,
    unit_localities,
)
from sauti.features.assign import IN_SCOPE
from sauti.features.periods import period_start
from sauti.store import Workspace


@pytest.fixture(scope="module")
def ged_workspace(tmp_path_factory, sample_dir: Path, shared_data: Path) -> Workspace:
    """admin2 + admin3 boundaries and the real UCDP GED CAR events (no alerts)."""
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.ingest.incidents import ingest_incidents

    ws = Workspace(tmp_path_factory.mktemp("ged") / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm3.gpkg", "admin3")
    ingest_incidents(ws, shared_data / "events" / "ucdp_ged_v23_1_CAF.geojson")
    return ws


@pytest.fixture(scope="module")
def population(sample_dir: Path) -> Path:
    return sample_dir / "population" / "worldpop2020_density_caf.tif"


@pytest.fixture(scope="module")
def admin2_cube(ged_workspace, population) -> xr.Dataset:
    return compute_features(ged_workspace, freq="M", unit="admin2", population=population)


def _expected_counts(incidents: pd.DataFrame, units: gpd.GeoDataFrame, freq: str) -> pd.DataFrame:
    """In-scope events per (category, period), by an independent pandas group-by."""
    assigned = assign_to_localities(incidents, units, tolerance_km=FeatureParams().snap_tolerance_km)
    scoped = assigned[assigned["assignment"].isin(IN_SCOPE)].copy()
    scoped["period"] = period_start(scoped["occurred_on"].to_numpy().astype("datetime64[D]"), freq)
    return scoped.groupby(["category", "period"]).size()


def _cube_counts(cube: xr.Dataset) -> pd.Series:
    frames = []
    for cat in INCIDENT_CATEGORIES:
        total = cube[f"count_{cat}"].sum(LOCALITY_DIM).to_series()
        total = total[total > 0]
        frames.append(
            pd.DataFrame({"category": cat, "period": total.index.to_numpy(), "n": total.to_numpy()})
        )
    frame = pd.concat(frames)
    frame["period"] = frame["period"].to_numpy().astype("datetime64[D]")
    return frame.set_index(["category", "period"])["n"]


def test_ged_events_split_by_precision(ged_workspace, admin2_cube):
    incidents = ged_workspace.incidents()
    placed = json.loads(admin2_cube.attrs["provenance"])["incident_assignment"]
    precision = incidents["location_precision"].value_counts()
    # every point/locality-precise GED event falls in a CAR sous-préfecture (or snaps to one)
    assert sum(placed.get(k, 0) for k in IN_SCOPE) == precision["point"] + precision["locality"]
    assert placed["region"] == precision["region"] == 85
    assert placed["country"] == precision["country"] == 29
    assert sum(placed.values()) == len(incidents) == 1848


@pytest.mark.parametrize(
    ("unit", "freq"),
    [("admin2", "M"), ("admin2", "W"), ("admin3", "M"), ("grid:50km", "M")],
    ids=["admin2-month", "admin2-week", "admin3-month", "grid50-month"],
)
def test_conservation_per_category_and_period(ged_workspace, population, unit, freq):
    """Per-locality counts add up to the in-scope events of each category in each period."""
    cube = compute_features(ged_workspace, freq=freq, unit=unit, population=population)
    incidents = ged_workspace.incidents()
    units = unit_localities(ged_workspace, unit)
    expected = _expected_counts(incidents, units, freq)
    got = _cube_counts(cube)
    pd.testing.assert_series_equal(
        got.sort_index().astype("int64"), expected.sort_index().astype("int64"), check_names=False
    )
    # region- and country-precise events are not in any locality count…
    scoped = incidents["location_precision"].isin(["point", "locality"])
    assert int(sum(cube[f"count_{c}"].sum() for c in INCIDENT_CATEGORIES)) == int(scoped.sum())
    assert int(cube["fatalities"].sum()) == int(incidents.loc[scoped, "fatalities"].sum())


def test_per_locality_counts_match_a_spatial_join(ged_workspace, admin2_cube):
    incidents = ged_workspace.incidents()
    units = unit_localities(ged_workspace, "admin2")
    points = gpd.GeoDataFrame(
        incidents[incidents["location_precision"].isin(["point", "locality"])],
        geometry=gpd.points_from_xy(incidents["longitude"], incidents["latitude"])[
            incidents["location_precision"].isin(["point", "locality"]).to_numpy()
        ],
        crs="EPSG:4326",
    )
    joined = gpd.sjoin(points, units[["locality_id", "geometry"]], predicate="within")
    assert len(joined) == len(points)  # no GED point sits exactly on a border
    joined["period"] = joined["occurred_on"].dt.to_period("M").dt.start_time
    expected = (
        joined[joined["category"] == "intercommunal"].groupby(["locality_id", "period"]).size().rename("n")
    )
    got = admin2_cube["count_intercommunal"].to_series()
    got = got[got > 0]
    got.index = got.index.set_names(["locality_id", "period"])
    pd.testing.assert_series_equal(
        got.astype("int64").sort_index(), expected.sort_index(), check_names=False, check_index_type=False
    )


def test_region_precise_events_feed_only_region_features(ged_workspace, admin2_cube):
    incidents = ged_workspace.incidents()
    units = unit_localities(ged_workspace, "admin2")
    assigned = assign_to_localities(incidents, units, tolerance_km=5)
    region_events = assigned[assigned["assignment"] == "region"]
    assert region_events["locality_id"].isna().all()
    with_region = region_events[region_events["region_id"].notna()]
    assert len(with_region) >= 80  # the admin1 is known for nearly all of them
    # a region's total = its localities' counts + its region-precise events
    first_of_region = admin2_cube["admin1_id"].to_series().drop_duplicates()
    region_total = int(
        admin2_cube["region_count_violent"].sel(locality=first_of_region.index.to_numpy()).sum()
    )
    located_violent = int(admin2_cube["count_violent"].sum())
    region_violent = int(with_region["category"].isin(VIOLENT_CATEGORIES).sum())
    assert region_total == located_violent + region_violent
    assert region_violent > 0


def test_no_leakage_on_real_data(ged_workspace, population, admin2_cube):
    """A cube built from data up to t equals the full cube truncated at t, for every variable."""
    cut = "2016-06-30"
    early = compute_features(ged_workspace, freq="M", unit="admin2", until=cut, population=population)
    assert pd.Timestamp(early[PERIOD_DIM].to_numpy()[-1]) == pd.Timestamp("2016-06-01")
    full = admin2_cube.sel({PERIOD_DIM: slice(None, pd.Timestamp(cut))})
    for name in full.data_vars:
        xr.testing.assert_equal(early[name], full[name])
    # and the store's later data really differ
    later = admin2_cube["count_violent"].sel({PERIOD_DIM: slice(pd.Timestamp("2016-07-01"), None)})
    assert int(later.sum()) > 0


def test_saved_cube_round_trips_with_provenance(ged_workspace, population):
    cube = compute_features(ged_workspace, freq="M", unit="admin2", population=population)
    loaded = load_cube(ged_workspace, freq="M", unit="admin2")
    xr.testing.assert_identical(cube, loaded)
    info = json.loads(loaded.attrs["provenance"])
    runs = ged_workspace.runs()
    used = {r["run_id"]: r["sha256"] for r in info["ingest_runs"]}
    stored = dict(zip(runs["run_id"], runs["sha256"], strict=True))
    assert {stored[k] for k in used} == set(used.values())
    assert {r["kind"] for r in info["ingest_runs"]} == {"boundaries", "incidents"}
    assert info["params"] == FeatureParams().to_dict()
    assert info["population"]["sha256"]
    assert info["code_version"]
    assert loaded.attrs["created_at"]
    # same inputs, same snapshot; other parameters, another one
    again = compute_features(ged_workspace, freq="M", unit="admin2", population=population)
    assert again.attrs["snapshot"] == cube.attrs["snapshot"]
    knn = compute_features(ged_workspace, params=FeatureParams(graph="knn"), population=population)
    assert knn.attrs["snapshot"] != cube.attrs["snapshot"]
    # a nowcast rebuilds with the inputs recorded in the cube it replaces
    nowcast = compute_features(ged_workspace, inputs=cube_inputs(knn))
    assert nowcast.attrs["snapshot"] == knn.attrs["snapshot"]
    assert json.loads(nowcast.attrs["provenance"])["params"]["graph"] == "knn"
    # the time zone changes which period an alert falls in: it is part of the snapshot
    other_zone = compute_features(ged_workspace, population=population, timezone="Asia/Tokyo")
    assert other_zone.attrs["snapshot"] != cube.attrs["snapshot"]
    compute_features(ged_workspace, params=FeatureParams(), population=population)  # back to the default


def test_inputs_are_explicit_and_a_rebuild_takes_them_from_the_cube(ged_workspace, population):
    built = compute_features(ged_workspace, population=population, timezone="Africa/Bangui")
    bare = compute_features(ged_workspace)  # nothing remembered: no raster given, none used
    assert np.isnan(bare["population"]).all()
    assert json.loads(bare.attrs["provenance"])["timezone"] == "UTC"
    assert not (ged_workspace.root / "cubes" / "inputs.json").exists()
    inputs = cube_inputs(built)
    assert inputs.population == population.absolute()
    assert inputs.timezone == "Africa/Bangui"
    rebuilt = compute_features(ged_workspace, inputs=inputs)
    assert np.isfinite(rebuilt["population"]).all()
    assert rebuilt.attrs["snapshot"] == built.attrs["snapshot"]


def test_missing_cube_is_not_ready(ged_workspace):
    with pytest.raises(NotReadyError, match="sauti features --unit admin3 --freq W"):
        load_cube(ged_workspace, freq="W", unit="admin3")


def test_static_covariates_of_car(admin2_cube, ged_workspace, population):
    bangui = admin2_cube.sel(locality=admin2_cube["name"].to_series().eq("Bangui").to_numpy())
    assert float(bangui["dist_capital_km"].item()) < 5
    assert float(bangui["pop_density"].item()) > 1000  # the capital is by far the densest
    # WorldPop 2020 puts CAR at about 4.6-4.9 million people
    assert 4.3e6 < float(admin2_cube["population"].sum()) < 5.2e6
    assert_allclose(float(admin2_cube["area_km2"].sum()), 620_300, rtol=0.01)
    assert (admin2_cube["dist_border_km"] >= 0).all()


@pytest.mark.parametrize("unit", ["admin3", "grid:50km"])
def test_population_is_the_same_whatever_the_units(ged_workspace, population, admin2_cube, unit):
    other = compute_features(ged_workspace, unit=unit, population=population)
    assert_allclose(float(other["population"].sum()), float(admin2_cube["population"].sum()), rtol=1e-4)


def test_grid_units(ged_workspace):
    grid = unit_localities(ged_workspace, "grid:50km")
    assert grid["locality_id"].str.fullmatch(r"g50_\d+_\d+").all()
    assert grid.crs.to_epsg() == 4326
    assert (grid["level"] == "grid").all()
    assert grid["admin1_id"].notna().all()
    # cells are 50 km squares in the equal-area CRS, except where the border clips them
    assert_allclose(grid["area_km2"].max(), 2500, rtol=1e-6)
    outline = ged_workspace.localities("admin0").to_crs("EPSG:6933").area.sum() / 1e6
    assert_allclose(grid["area_km2"].sum(), outline, rtol=2e-3)


@pytest.mark.slow
def test_cli_features_and_heatmap(ged_workspace, population, tmp_path, capsys):
    from sauti.cli import main

    ws = str(ged_workspace.root)
    code = main(
        ["-w", ws, "features", "--unit", "admin3", "--freq", "M", "--population", str(population), "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["localities"] == 175
    assert out["incident_assignment"]["region"] == 85
    assert Path(out["cube"]) == cube_path(ged_workspace, freq="M", unit="admin3")
    assert Path(out["report"]).read_text(encoding="utf-8").count("data:image/png;base64,") == 1

    # the same run for a person: placements in words, not the assignment codes
    args = ["-w", ws, "features", "--unit", "admin3", "--freq", "M", "--population", str(population)]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    incidents = next(line for line in lines if line.strip().startswith("incidents:"))
    assert "85 region only (not in locality counts)" in incidents
    assert "inside a locality" in incidents
    assert "contains" not in incidents  # the code names of features.assign stay inside
    assert "region 85" not in incidents

    target = tmp_path / "heat.tif"
    code = main(["-w", ws, "heatmap", "--out", str(target), "--resolution-km", "5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert target.exists()
    assert Path(out["preview"]).exists()
    assert Path(out["served"]) == ged_workspace.root / "rasters" / "risk_surface.tif"
    assert out["crs"].startswith("EPSG:32634")  # CAR's centre is in UTM zone 34 N
    assert "not a probability" in out["units"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["features", "--unit", "admin9"], "unit must be"),
        (["features", "--freq", "Q"], "freq must be M"),
        (["features", "--unit", "admin1", "--population", "/nonexistent.tif"], "not found"),
    ],
    ids=["bad-unit", "bad-freq", "missing-raster"],
)
def test_cli_errors_are_one_line(ged_workspace, capsys, args, message):
    from sauti.cli import main

    code = main(["-w", str(ged_workspace.root), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_weekly_real_cube_periods_are_contiguous_mondays(ged_workspace, population):
    cube = compute_features(ged_workspace, freq="W", population=population)
    periods = pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())
    assert (periods.day_of_week == 0).all()
    assert_array_equal(np.diff(periods.asi8), 7 * 86400 * 10**9)
