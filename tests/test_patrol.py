"""Patrol plans on hand-built geometries: optima, range, capacity, no-go areas, explanations, outputs."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from patrol_helpers import bases_at, greedy_trap, line_localities, lon, risk_of
from shapely.geometry import box

from sauti.models.patrol import PatrolPlan, plan_patrols


def _pairs(plan: PatrolPlan) -> set[tuple[str, str]]:
    return set(zip(plan.assignments["base"], plan.assignments["locality_id"], strict=True))


@pytest.mark.parametrize("squares", [False, True], ids=["points", "squares"])
def test_exact_plan_is_the_known_optimum_and_greedy_is_not(squares: bool) -> None:
    localities, risk, bases = greedy_trap()
    if squares:
        localities = line_localities([0, 10, 20, 30, 40], squares=True)
    exact = plan_patrols(localities, risk, bases, method="exact")
    greedy = plan_patrols(localities, risk, bases, method="greedy")
    assert _pairs(exact) == {("A", "L1"), ("B", "L2")}
    assert _pairs(greedy) == {("A", "L2"), ("B", "L3")}
    summary = exact.summary()
    assert summary["status"] == "optimal"
    assert summary["method"] == "exact"
    np.testing.assert_allclose(summary["covered_risk"], 1.7)
    np.testing.assert_allclose(summary["total_risk"], 2.3)
    assert summary["gap"] == pytest.approx(0.0, abs=1e-9)
    assert greedy.summary()["status"] == "greedy"
    np.testing.assert_allclose(greedy.summary()["covered_risk"], 1.2)
    assert greedy.summary()["gap"] > 0.29
    # distances are measured to the centroid: A (18 km) → L1 (10 km) is 8 km
    row = exact.assignments.set_index("locality_id").loc["L1"]
    np.testing.assert_allclose(row["distance_km"], 8.0, rtol=0.01)


def test_auto_picks_the_exact_solution_on_small_instances() -> None:
    plan = plan_patrols(*greedy_trap())
    assert plan.summary()["method"] == "exact"
    assert _pairs(plan) == {("A", "L1"), ("B", "L2")}


def test_assignments_are_ranked_by_value_within_each_base() -> None:
    localities = line_localities([0, 5, 10, 15])
    risk = risk_of(localities, [0.2, 0.9, 0.5, 0.7])
    plan = plan_patrols(localities, risk, bases_at([("Solo", 7, 4, 50)]))
    expected = pd.DataFrame(
        {"base": ["Solo"] * 4, "rank": [1, 2, 3, 4], "locality_id": ["L1", "L3", "L2", "L0"]}
    ).astype({"base": "str", "rank": "int64", "locality_id": "str"})
    pd.testing.assert_frame_equal(plan.assignments[["base", "rank", "locality_id"]], expected)
    np.testing.assert_allclose(plan.assignments["risk"], [0.9, 0.7, 0.5, 0.2])


@pytest.mark.parametrize("seed", range(12), ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_range_and_capacity_are_respected_on_random_instances(seed: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    xs = sorted(rng.uniform(0, 200, 30).round(1))
    localities = line_localities(list(xs))
    risk = risk_of(localities, list(rng.random(30).round(3)))
    spec = [
        (f"B{k}", float(rng.uniform(0, 200)), int(rng.integers(0, 5)), float(rng.uniform(5, 60)))
        for k in range(4)
    ]
    bases = bases_at(spec)
    plan = plan_patrols(localities, risk, bases, method=method)
    limits = {name: (patrols, reach) for name, _x, patrols, reach in spec}
    counts = plan.assignments["base"].value_counts()
    for name, (patrols, reach) in limits.items():
        assert counts.get(name, 0) <= patrols
        base_x = next(x for n, x, _p, _r in spec if n == name)
        mine = plan.assignments[plan.assignments["base"] == name]
        true_km = np.abs(np.array([xs[int(i[1:])] for i in mine["locality_id"]]) - base_x)
        assert np.all(true_km <= reach * 1.005 + 1e-6)
        np.testing.assert_allclose(mine["distance_km"], true_km, rtol=0.005, atol=0.01)
    assert plan.assignments["locality_id"].is_unique
    summary = plan.summary()
    assert summary["covered_risk"] <= summary["upper_bound"] + 1e-9
    assert summary["patrols_used"] == len(plan.assignments)
    np.testing.assert_allclose(summary["covered_risk"], plan.assignments["value"].sum())


def test_overrides_replace_every_base_capacity_and_range() -> None:
    localities = line_localities([0, 10, 20, 30, 40])
    risk = risk_of(localities, [0.5] * 5)
    bases = bases_at([("A", 0, 1, 5)])
    assert len(plan_patrols(localities, risk, bases).assignments) == 1
    plan = plan_patrols(localities, risk, bases, patrols=3, range_km=25)
    assert set(plan.assignments["locality_id"]) == {"L0", "L1", "L2"}
    assert plan.bases["patrols"].tolist() == [3]
    assert plan.bases["range_km"].tolist() == [25.0]


def test_population_weight_changes_the_choice() -> None:
    localities = line_localities([0, 10])
    risk = risk_of(localities, [0.6, 0.3])
    bases = bases_at([("A", 5, 1, 20)])
    assert _pairs(plan_patrols(localities, risk, bases)) == {("A", "L0")}
    weight = pd.Series({"L0": 1000.0, "L1": 5000.0})
    plan = plan_patrols(localities, risk, bases, weight=weight)
    assert _pairs(plan) == {("A", "L1")}
    np.testing.assert_allclose(plan.summary()["covered_risk"], 1500.0)
    np.testing.assert_allclose(plan.assignments["weight"], [5000.0])


def test_no_go_targets_and_crossings_are_excluded() -> None:
    localities = line_localities([0, 10, 20])
    risk = risk_of(localities, [0.9, 0.8, 0.1])
    bases = bases_at([("A", 12, 2, 15)])
    # a no-go box around L0's position (x = 0 km) and one across the line at x = 14-16 km
    zone = gpd.GeoDataFrame(geometry=[box(lon(-1), -0.01, lon(1), 0.01)], crs="EPSG:4326")
    plan = plan_patrols(localities, risk, bases, no_go=zone)
    assert set(plan.assignments["locality_id"]) == {"L1", "L2"}
    wall = gpd.GeoDataFrame(geometry=[box(lon(14), -0.01, lon(16), 0.01)], crs="EPSG:4326")
    plan = plan_patrols(localities, risk, bases, no_go=wall)
    assert set(plan.assignments["locality_id"]) == {"L0", "L1"}  # L2 lies behind the wall
    plan = plan_patrols(localities, risk, bases, no_go=wall, avoid_crossing=False)
    assert set(plan.assignments["locality_id"]) == {"L0", "L1"}  # capacity 2: the two best


@pytest.mark.parametrize(
    ("case", "status", "phrase"),
    [
        ("out-of-range", "empty", "No locality within 25 km of base Obo"),
        ("all-no-go", "empty", "localities within 30 km of base Obo are in no-go areas"),
        ("crossing", "empty", "Every route from base Obo crosses a no-go area"),
        ("zero-patrols", "empty", "patrols = 0"),
        ("zero-risk", "empty", "has a risk score above zero"),
        ("no-scores", "infeasible", "No risk scores: run `sauti score` first"),
        ("unknown-ids", "infeasible", "scores name none of the 3 localities"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_empty_and_infeasible_plans_are_explained(case: str, status: str, phrase: str) -> None:
    localities = line_localities([0, 10, 20])
    risk = risk_of(localities, [0.5, 0.4, 0.3])
    kwargs: dict = {}
    base_x, reach = 100.0, 25.0
    if case == "all-no-go":
        base_x, reach = 35.0, 30.0
        kwargs["no_go"] = gpd.GeoDataFrame(geometry=[box(lon(-5), -0.1, lon(25), 0.1)], crs="EPSG:4326")
    elif case == "crossing":
        base_x, reach = 35.0, 60.0
        kwargs["no_go"] = gpd.GeoDataFrame(geometry=[box(lon(25), -0.1, lon(30), 0.1)], crs="EPSG:4326")
    elif case == "zero-patrols":
        base_x, reach = 10.0, 30.0
        kwargs["patrols"] = 0
    elif case == "zero-risk":
        base_x, reach = 10.0, 30.0
        risk = risk_of(localities, [0.0, 0.0, 0.0])
    elif case == "no-scores":
        risk = risk.iloc[:0]
    elif case == "unknown-ids":
        risk = risk.assign(locality_id=["X1", "X2", "X3"])
    plan = plan_patrols(localities, risk, bases_at([("Obo", base_x, 2, reach)]), **kwargs)
    summary = plan.summary()
    assert summary["status"] == status
    assert phrase in summary["explanation"]
    assert plan.assignments.empty
    assert summary["covered_risk"] == 0.0
    json.dumps(summary)  # an empty plan still serialises


def test_one_starved_base_is_explained_in_a_plan_that_is_not_empty() -> None:
    localities = line_localities([0, 10, 20])
    risk = risk_of(localities, [0.5, 0.4, 0.3])
    plan = plan_patrols(localities, risk, bases_at([("Near", 5, 3, 30), ("Obo", 500, 2, 25)]))
    summary = plan.summary()
    assert summary["status"] == "optimal"
    assert "No locality within 25 km of base Obo (the nearest is 480 km away)" in summary["explanation"]
    assert summary["explanation"].startswith("3 patrols from 1 base cover 3 localities")


def test_unscored_localities_are_never_targets_and_are_counted() -> None:
    localities = line_localities([0, 10, 20])
    risk = risk_of(localities, [0.5, 0.4, 0.3]).iloc[[0, 2]]
    plan = plan_patrols(localities, risk, bases_at([("A", 10, 3, 30)]))
    assert set(plan.assignments["locality_id"]) == {"L0", "L2"}
    assert "1 of 3 localities have no risk score" in plan.summary()["explanation"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patrols": -1}, "patrols must be a whole number"),
        ({"patrols": 1.5}, "patrols must be a whole number"),
        ({"range_km": 0.0}, "range_km must be a positive number"),
        ({"method": "fastest"}, "method must be one of"),
        ({"time_limit_s": 0}, "time_limit_s must be positive"),
    ],
    ids=["negative-patrols", "fractional-patrols", "zero-range", "unknown-method", "zero-time"],
)
def test_bad_parameters_raise_value_errors_naming_them(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_patrols(*greedy_trap(), **kwargs)


def test_missing_capacity_needs_an_override() -> None:
    localities, risk, bases = greedy_trap()
    bases["patrols"] = pd.array([None, 1], dtype="Int64")
    with pytest.raises(ValueError, match="base 'A' has no patrols per period"):
        plan_patrols(localities, risk, bases)
    assert len(plan_patrols(localities, risk, bases, patrols=1).assignments) == 2


def _features(collection: dict, kind: str) -> list[dict]:
    return [f for f in collection["features"] if f["properties"]["kind"] == kind]


def test_geojson_holds_bases_targets_and_routes_from_base_to_target() -> None:
    localities, risk, bases = greedy_trap()
    drivers = [
        {"feature": "decay_count_intercommunal_hl6", "contribution": 0.002},
        {"feature": "splag1_roll3_count_violent", "contribution": -0.0005},
    ]
    risk["drivers"] = [json.dumps(drivers)] * 5
    plan = plan_patrols(localities, risk, bases)
    collection = json.loads(json.dumps(plan.to_geojson()))
    assert len(_features(collection, "base")) == 2
    assert len(_features(collection, "target")) == 2
    assert len(_features(collection, "route")) == 2
    base_xy = {f["properties"]["name"]: f["geometry"]["coordinates"] for f in _features(collection, "base")}
    targets = {f["properties"]["locality_id"]: f for f in _features(collection, "target")}
    for route in _features(collection, "route"):
        start, end = route["geometry"]["coordinates"]
        np.testing.assert_allclose(start, base_xy[route["properties"]["base"]])
        target = targets[route["properties"]["locality_id"]]
        np.testing.assert_allclose(end, target["geometry"]["coordinates"], atol=1e-9)
    assert targets["L1"]["properties"]["drivers"] == [  # plain words, percentage points
        "intercommunal incidents, last 6 months (weighted) (+0.20 pp)",
        "violent incidents in neighbouring localities, last 3 months (-0.050 pp)",
    ]
    assert collection["summary"]["status"] == "optimal"
    as_polygons = plan.to_geojson("polygon")
    assert {f["geometry"]["type"] for f in _features(as_polygons, "target")} == {
        "Point"
    }  # points stay points
    squares = line_localities([0, 10, 20, 30, 40], squares=True)
    square_plan = plan_patrols(squares, risk, bases).to_geojson("polygon")
    assert {f["geometry"]["type"] for f in _features(square_plan, "target")} == {"Polygon"}


def test_drivers_with_plain_words_labels_are_shown_by_label_in_percentage_points() -> None:
    localities, risk, bases = greedy_trap()
    label = "intercommunal incidents in neighbouring localities, last 6 months (weighted)"
    risk["drivers"] = [[{"feature": "splag1_decay_ic_hl6", "label": label, "contribution": 0.0068}]] * 5
    records = plan_patrols(localities, risk, bases).to_records()
    assert records[0]["drivers"] == [f"{label} (+0.68 pp)"]
    assert all("_" not in d for r in records for d in r["drivers"])


def test_csv_and_records_round_trip(tmp_path) -> None:
    localities, risk, bases = greedy_trap()
    risk["drivers"] = [["a", "b", "c", "d"]] * 5
    plan = plan_patrols(localities, risk, bases)
    path = plan.to_csv(tmp_path / "plan.csv")
    back = pd.read_csv(path, dtype={"locality_id": str})
    assert list(back.columns) == list(plan.assignments.columns)
    assert back["drivers"].tolist() == ["a; b; c", "a; b; c"]  # top three drivers only
    np.testing.assert_allclose(back["risk"], plan.assignments["risk"])
    records = plan.to_records()
    assert [r["locality_id"] for r in records] == plan.assignments["locality_id"].tolist()
    assert json.loads(json.dumps(records)) == records


def test_csv_escapes_names_a_spreadsheet_would_run_as_formulas(tmp_path) -> None:
    """Issue #12: base and locality names starting with = + - @ reach the CSV as text."""
    import csv

    localities, risk, bases = greedy_trap()
    localities["name"] = ['=HYPERLINK("http://x.invalid")', "+1", "-1+2", "@SUM(A1)", "Ndélé"]
    bases["name"] = ["=cmd|' /C calc'!A0", "@B"]
    risk["drivers"] = [["-decay"]] * 5
    plan = plan_patrols(localities, risk, bases)
    with plan.to_csv(tmp_path / "plan.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["base"] for row in rows} == {"'=cmd|' /C calc'!A0", "'@B"}
    assert {row["name"] for row in rows} == {"'+1", "'-1+2"}  # the optimum covers L1 and L2
    assert {row["drivers"] for row in rows} == {"'-decay"}
    assert float(rows[0]["risk"]) > 0  # numbers stay numbers


def test_plan_map_draws_one_route_per_patrol_and_labels_each_base() -> None:
    from sauti.models.patrol.plot import plan_figure

    plan = plan_patrols(*greedy_trap())
    ax = plan_figure(plan).axes[0]
    assert len(ax.lines) == 2
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == ["A (1/1)", "B (1/1)"]
    start, end = ax.lines[0].get_xydata()
    assert np.hypot(*(end - start)) / 1000 == pytest.approx(plan.assignments["distance_km"].iloc[0], rel=1e-6)


def test_distances_on_real_communes_match_geodesics(shared_data, sample_dir) -> None:
    from pyproj import Geod

    from sauti.models.patrol import read_bases

    communes = gpd.read_file(
        shared_data / "boundaries" / "CAF" / "caf_admbnda_adm3_200k_sigcaf_reach_itos_v2.shp"
    )
    communes = communes.rename(columns={"admin3Pcod": "locality_id", "admin3Name": "name"})
    rng = np.random.default_rng(7)
    risk = risk_of(communes, list(rng.random(len(communes))))
    plan = plan_patrols(communes, risk, read_bases(sample_dir / "bases.geojson"), patrols=4, range_km=120)
    assert plan.summary()["status"] == "optimal"
    assert len(plan.assignments) > 30
    bases = plan.bases.set_index("name").geometry
    targets = plan.target_geometry["point"]
    geod = Geod(ellps="WGS84")
    for row in plan.assignments.itertuples(index=False):
        start, end = bases[row.base], targets[row.locality_id]
        _, _, metres = geod.inv(start.x, start.y, end.x, end.y)
        assert row.distance_km == pytest.approx(metres / 1000, rel=0.005, abs=0.05)
        # the target point lies inside its commune
        assert communes.set_index("locality_id").geometry[row.locality_id].contains(end)


# --- the plan in a planner's terms: expected localities, period, model, borders (#11) -------------
def test_summary_states_expected_localities_with_an_incident_covered() -> None:
    localities, risk, bases = greedy_trap()  # optimum covers L1 (0.8) and L2 (0.9) of 2.3 in all
    risk["period"] = pd.Timestamp("2022-12-01")
    risk["model_version"] = "m-test-1"
    summary = plan_patrols(localities, risk, bases).summary()
    assert summary["headline"] == "Expected localities with an incident covered: 1.7 of 2.3 (74%)"
    np.testing.assert_allclose(summary["expected_localities_covered"], 1.7)
    np.testing.assert_allclose(summary["expected_localities_total"], 2.3)
    assert summary["period"] == "2022-12-01"
    assert summary["model_version"] == "m-test-1"
    assert summary["warnings"] == []
    assert "Expected localities with an incident covered: 1.7 of 2.3 (74%)" in summary["explanation"]
    assert "total risk" not in summary["explanation"]


def test_expected_localities_ignore_the_weight_and_small_numbers_keep_their_digits() -> None:
    localities, risk, bases = greedy_trap()
    risk["probability"] = risk["probability"] / 100  # 0.001 … 0.009, as on the CAR sample
    weight = pd.Series([1000.0, 10.0, 10.0, 5000.0, 1.0], index=localities["locality_id"])
    summary = plan_patrols(localities, risk, bases, weight=weight).summary()
    covered = localities.set_index("locality_id").loc[
        [r["locality_id"] for r in plan_patrols(localities, risk, bases, weight=weight).to_records()]
    ]
    expected = risk.set_index("locality_id").loc[covered.index, "probability"].sum()
    np.testing.assert_allclose(summary["expected_localities_covered"], expected)
    assert summary["weighted"] is True
    assert summary["headline"].endswith(f"{expected:.3f} of 0.023 ({expected / 0.023:.0%})")
    assert "Weighted risk covered:" in summary["explanation"]


def _two_countries() -> gpd.GeoDataFrame:
    """Five 2 km squares on the equator: L0–L2 in Alpha, L3–L4 in Beta."""
    localities = line_localities([0, 10, 20, 30, 40], squares=True)
    localities["admin0_name"] = ["Alpha", "Alpha", "Alpha", "Beta", "Beta"]
    return localities


def test_a_base_outside_the_boundaries_is_named_with_its_distance_and_targets() -> None:
    localities = _two_countries()
    risk = risk_of(localities, [0.1, 0.8, 0.9, 0.3, 0.2])
    # 'Far' sits 6 km beyond L4 (the square's edge is 1 km from its centre): 5 km outside
    bases = bases_at([("Far", 46, 1, 12), ("Home", 20, 1, 5)])
    plan = plan_patrols(localities, risk, bases)
    warnings = plan.summary()["warnings"]
    assert len(warnings) == 1
    assert warnings[0].startswith("Base Far lies outside the workspace's boundaries (5 km from the nearest")
    assert "its 1 patrol would cross the border into Beta to reach Place 4." in warnings[0]
    by_name = {b["name"]: b for b in plan.summary()["bases"]}
    assert by_name["Far"]["outside_boundaries"] is True
    assert by_name["Home"]["outside_boundaries"] is False
    base_features = [f for f in plan.to_geojson()["features"] if f["properties"]["kind"] == "base"]
    assert {f["properties"]["name"]: f["properties"]["outside_boundaries"] for f in base_features} == {
        "Far": True,
        "Home": False,
    }


def test_a_patrol_into_another_country_is_named() -> None:
    localities = _two_countries()
    risk = risk_of(localities, [0.1, 0.1, 0.1, 0.9, 0.1])
    plan = plan_patrols(localities, risk, bases_at([("Border post", 20, 2, 15)]))  # in Alpha's L2
    assert set(plan.assignments["locality_id"]) == {"L3", "L2"}
    assert plan.summary()["warnings"] == [
        "Base Border post (Alpha) sends 1 patrol across the border into Beta: Place 3."
    ]


def test_point_localities_never_raise_border_warnings() -> None:
    localities, risk, bases = greedy_trap()  # points: no boundary to be outside of
    assert plan_patrols(localities, risk, bases).summary()["warnings"] == []
