"""The feature cube on tiny hand-built data (features/cube.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal
from shapely.geometry import box

from sauti.constants import ALERT_CATEGORIES, INCIDENT_CATEGORIES, LOCALITY_DIM, PERIOD_DIM
from sauti.features import FeatureParams, build_cube, build_graph, feature_names, make_grid
from sauti.features.temporal import decayed_sum

HISTORY = ("count_intercommunal", "count_violent", "fatalities", "alerts_total")


def _incidents(rows) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=[
            "occurred_on",
            "longitude",
            "latitude",
            "location_precision",
            "category",
            "fatalities",
            "admin1",
        ],
    )
    frame["occurred_on"] = pd.to_datetime(frame["occurred_on"])
    frame["event_id"] = [f"e{i}" for i in range(len(frame))]
    return frame


@pytest.fixture
def incidents() -> pd.DataFrame:
    return _incidents(
        [
            ("2020-01-05", 20.5, 5.5, "point", "intercommunal", 3, None),  # A, Jan
            ("2020-01-20", 20.6, 5.4, "point", "armed_clash", 1, None),  # A, Jan
            ("2020-02-10", 21.5, 5.5, "point", "intercommunal", 0, None),  # B, Feb
            ("2020-03-31", 22.5, 5.5, "locality", "riot_protest", 0, None),  # C, Mar (not violent)
            ("2020-04-15", 21.2, 5.2, "region", "intercommunal", 5, "Region One"),  # region R1, Apr
            ("2020-04-16", 21.0, 5.0, "country", "armed_clash", 9, None),  # country, Apr
            ("2020-05-01", 40.0, 0.0, "point", "intercommunal", 2, None),  # outside, May
            ("2020-06-30", 22.9, 5.9, "point", "violence_against_civilians", 4, None),  # C, Jun
        ]
    )


@pytest.fixture
def alerts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "alert_id": ["a1", "a2", "a3", "a4", "a5"],
            "received_at": pd.to_datetime(
                [
                    "2020-01-10T08:00Z",
                    "2020-01-31T23:30Z",
                    "2020-02-02T00:10Z",
                    "2020-03-01T10:00Z",
                    "2020-03-02T10:00Z",
                ],
                utc=True,
            ),
            "category": ["intercommunal_tension", "attack", "intercommunal_tension", "displacement", "other"],
            "verification": ["verified", "unverified", "false_alarm", "unverified", "verified"],
            "locality_id": ["A", None, "B", None, None],
            "longitude": [np.nan, 20.5, np.nan, 22.5, np.nan],
            "latitude": [np.nan, 5.5, np.nan, 5.5, np.nan],
        }
    )


@pytest.fixture
def cube(incidents, alerts, three_squares) -> xr.Dataset:
    return build_cube(incidents, alerts, three_squares, freq="M", capital=(20.5, 5.5))


def _at(cube, var, locality, period):
    return cube[var].sel({LOCALITY_DIM: locality, PERIOD_DIM: pd.Timestamp(period)}).item()


def test_layout_and_coordinates(cube):
    assert cube[LOCALITY_DIM].to_numpy().tolist() == ["A", "B", "C"]
    assert list(pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())) == list(
        pd.date_range("2020-01-01", "2020-06-01", freq="MS")
    )
    assert cube["name"].to_numpy().tolist() == ["Alpha", "Bêta", "Gamma"]
    assert cube["admin1_id"].to_numpy().tolist() == ["R1", "R1", "R2"]
    assert cube.attrs["freq"] == "M"
    assert cube.attrs["unit"] == "admin2"
    assert cube["count_violent"].dims == (LOCALITY_DIM, PERIOD_DIM)
    assert cube["population"].dims == (LOCALITY_DIM,)
    assert cube["season_sin"].dims == (PERIOD_DIM,)


def test_every_contract_variable_is_there(cube):
    p = FeatureParams()
    expected = {f"count_{c}" for c in INCIDENT_CATEGORIES} | {"count_violent", "fatalities"}
    expected |= {f"alerts_{c}" for c in ALERT_CATEGORIES}
    expected |= {"alerts_total", "alerts_verified", "alerts_unverified", "alerts_false_alarm"}
    history = {f"decay_{v}_hl{h}" for v in HISTORY for h in p.half_lives} | {
        f"roll{w}_{v}" for v in HISTORY for w in p.windows
    }
    expected |= history
    expected |= {f"since_{c}" for c in INCIDENT_CATEGORIES} | {f"trend_{v}" for v in HISTORY}
    expected |= {f"splag1_{x}" for x in history} | {f"splag2_{x}" for x in history}
    expected |= {"region_count_violent", "region_count_intercommunal"}
    expected |= {"area_km2", "population", "pop_density", "dist_capital_km", "dist_border_km"}
    expected |= {"centroid_lon", "centroid_lat", "season_sin", "season_cos", "rainy_season"}
    assert set(cube.data_vars) == expected
    assert set(feature_names(cube)) == expected
    assert not {"locality", "period", "name", "admin1_id", "level"} & set(feature_names(cube))


def test_counts_follow_the_assignment_rule(cube):
    assert _at(cube, "count_intercommunal", "A", "2020-01-01") == 1
    assert _at(cube, "count_armed_clash", "A", "2020-01-01") == 1
    assert _at(cube, "count_violent", "A", "2020-01-01") == 2
    assert _at(cube, "fatalities", "A", "2020-01-01") == 4
    assert _at(cube, "count_riot_protest", "C", "2020-03-01") == 1  # 31 March stays in March
    assert _at(cube, "count_violent", "C", "2020-03-01") == 0  # riots are not violent
    # region-, country-precise and outside events never reach a locality
    assert int(cube["count_intercommunal"].sum()) == 2
    assert int(cube["count_violent"].sum()) == 4
    assert int(cube["fatalities"].sum()) == 3 + 1 + 0 + 0 + 4
    counts = pd.Series(__import__("json").loads(cube.attrs["provenance"])["incident_assignment"])
    assert counts.to_dict() == {"contains": 5, "region": 1, "country": 1, "outside": 1}


def test_region_counts_add_region_precise_events(cube):
    # R1 = A + B: Jan has 2 violent (A), Feb 1 (B), Apr 1 region-precise intercommunal
    for loc in ("A", "B"):
        assert cube["region_count_violent"].sel(locality=loc).to_numpy().tolist() == [2, 1, 0, 1, 0, 0]
        assert cube["region_count_intercommunal"].sel(locality=loc).to_numpy().tolist() == [1, 1, 0, 1, 0, 0]
    assert cube["region_count_violent"].sel(locality="C").to_numpy().tolist() == [0, 0, 0, 0, 0, 1]


def test_alert_counts(cube):
    assert _at(cube, "alerts_intercommunal_tension", "A", "2020-01-01") == 1
    # 23:30 UTC on 31 January is January; the point is in A
    assert _at(cube, "alerts_attack", "A", "2020-01-01") == 1
    assert _at(cube, "alerts_total", "A", "2020-01-01") == 2
    assert _at(cube, "alerts_false_alarm", "B", "2020-02-01") == 1
    assert _at(cube, "alerts_displacement", "C", "2020-03-01") == 1
    # a5 has neither a locality nor a point: it feeds nothing
    assert int(cube["alerts_total"].sum()) == 4
    assert (
        int(
            cube["alerts_verified"].sum() + cube["alerts_unverified"].sum() + cube["alerts_false_alarm"].sum()
        )
        == 4
    )


def test_no_alerts_gives_zero_alert_variables(incidents, three_squares):
    cube = build_cube(incidents, None, three_squares)
    for name in [n for n in cube.data_vars if "alerts" in str(n)]:
        assert float(np.abs(cube[name]).sum()) == 0, name


def test_history_variables_are_built_from_the_counts(cube):
    counts = cube["count_intercommunal"].to_numpy()
    assert_allclose(
        cube["decay_count_intercommunal_hl3"].to_numpy(), decayed_sum(counts, 3, np.float64), rtol=1e-6
    )
    assert cube["roll3_count_violent"].sel(locality="A").to_numpy().tolist() == [2, 2, 2, 0, 0, 0]
    assert cube["since_intercommunal"].sel(locality="A").to_numpy().tolist() == [0, 1, 2, 3, 4, 5]
    assert cube["since_intercommunal"].sel(locality="C").to_numpy().tolist() == [120] * 6
    # trend at Jan for A: mean over 3 (2/3) minus mean over 12 (2/12)
    assert_allclose(_at(cube, "trend_count_violent", "A", "2020-01-01"), 2 / 3 - 2 / 12, rtol=1e-6)


def test_spatial_lags_are_neighbour_means(cube):
    x = cube["decay_count_violent_hl1"].to_numpy().astype(float)
    assert_allclose(cube["splag1_decay_count_violent_hl1"].sel(locality="B"), (x[0] + x[2]) / 2, rtol=1e-6)
    assert_allclose(cube["splag1_decay_count_violent_hl1"].sel(locality="A"), x[1], rtol=1e-6)
    assert_allclose(cube["splag2_decay_count_violent_hl1"].sel(locality="A"), x[2], rtol=1e-6)
    assert_allclose(cube["splag2_decay_count_violent_hl1"].sel(locality="B"), 0)


def test_static_and_season(cube):
    assert_allclose(cube["dist_capital_km"], [0, 110.8, 221.6], atol=1.0)
    assert np.isnan(cube["population"]).all()  # no raster given
    assert cube["rainy_season"].to_numpy().tolist() == [0, 0, 0, 0, 1, 1]


def test_weekly_periods_start_on_monday(incidents, three_squares):
    cube = build_cube(incidents, None, three_squares, freq="W")
    periods = pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())
    assert (periods.day_of_week == 0).all()
    assert (np.diff(periods.asi8) == 7 * 86400 * 10**9).all()
    assert periods[0] == pd.Timestamp("2019-12-30")  # the Monday of the week of 5 January 2020
    assert int(cube["count_violent"].sum()) == 4


def test_start_and_end_bound_the_periods(incidents, three_squares):
    cube = build_cube(incidents, None, three_squares, start="2019-11-15", end="2020-02-29")
    assert pd.Timestamp(cube[PERIOD_DIM].to_numpy()[0]) == pd.Timestamp("2019-11-01")
    assert cube.sizes[PERIOD_DIM] == 4
    assert int(cube["count_violent"].sum()) == 3  # later events are out of range


@pytest.mark.parametrize("freq", ["M", "W"])
@pytest.mark.parametrize("cut", ["2020-02-15", "2020-03-31", "2020-05-20"], ids=["feb", "mar-end", "may"])
def test_no_leakage(incidents, alerts, three_squares, freq, cut):
    """Perturbing everything dated after the period containing ``cut`` leaves earlier values unchanged."""
    base = build_cube(incidents, alerts, three_squares, freq=freq, end="2020-12-31")
    t = pd.Timestamp(base[PERIOD_DIM].sel({PERIOD_DIM: pd.Timestamp(cut)}, method="pad").item())
    end_of_t = (t + (pd.offsets.MonthEnd(0) if freq == "M" else pd.Timedelta(days=6))).normalize()
    late = incidents["occurred_on"] > end_of_t
    rng = np.random.default_rng(0)
    changed = incidents.copy()
    changed.loc[late, "category"] = "intercommunal"
    changed.loc[late, "fatalities"] = 99
    extra = _incidents(
        [
            (end_of_t + pd.Timedelta(days=int(d)), float(x), 5.5, "point", "intercommunal", 7, None)
            for d, x in zip(rng.integers(1, 200, 30), rng.uniform(20, 23, 30), strict=True)
        ]
    )
    changed = pd.concat(
        [changed.loc[~late.to_numpy()], extra, changed.loc[late.to_numpy()]], ignore_index=True
    )
    late_alerts = alerts.copy()
    late_alerts["received_at"] = pd.Timestamp(end_of_t, tz="UTC") + pd.Timedelta(days=3)
    changed_alerts = pd.concat(
        [alerts, late_alerts.assign(alert_id=lambda f: f["alert_id"] + "x")], ignore_index=True
    )
    other = build_cube(changed, changed_alerts, three_squares, freq=freq, end="2020-12-31")
    upto = {PERIOD_DIM: slice(None, t)}
    for name in base.data_vars:
        if PERIOD_DIM in base[name].dims:
            xr.testing.assert_equal(base[name].sel(upto), other[name].sel(upto))
        else:
            xr.testing.assert_equal(base[name], other[name])
    after = {PERIOD_DIM: slice(t + pd.Timedelta(days=1), None)}
    assert not base["count_intercommunal"].sel(after).equals(other["count_intercommunal"].sel(after))


@pytest.mark.parametrize("unit_km", [25, 50], ids=["grid25km", "grid50km"])
def test_grid_units_conserve_counts(incidents, three_squares, unit_km):
    outline = box(20, 5, 23, 6)
    grid = make_grid(outline, unit_km)
    grid["admin1_id"] = np.where(grid.geometry.representative_point().x < 22, "R1", "R2")
    cube = build_cube(incidents, None, grid, freq="M")
    squares = build_cube(incidents, None, three_squares, freq="M")
    assert cube.sizes[LOCALITY_DIM] == len(grid)
    assert_array_equal(cube[LOCALITY_DIM].to_numpy(), grid["locality_id"].to_numpy())
    for cat in INCIDENT_CATEGORIES:
        assert_array_equal(cube[f"count_{cat}"].sum(LOCALITY_DIM), squares[f"count_{cat}"].sum(LOCALITY_DIM))
    assert_allclose(float(cube["area_km2"].sum()), float(squares["area_km2"].sum()), rtol=1e-3)
    assert np.isfinite(cube["splag1_decay_count_violent_hl3"]).all()


def test_a_prebuilt_graph_is_used(incidents, three_squares):
    graph = build_graph(three_squares, FeatureParams(graph="knn", knn_k=2))
    cube = build_cube(incidents, None, three_squares, graph=graph)
    x = cube["roll3_count_violent"].to_numpy()
    assert_allclose(cube["splag1_roll3_count_violent"].sel(locality="A"), (x[1] + x[2]) / 2, rtol=1e-6)


def test_wrong_inputs_are_explained(incidents, three_squares):
    bad = incidents.assign(category="looting")
    with pytest.raises(ValueError, match="unknown category"):
        build_cube(bad, None, three_squares)
    with pytest.raises(ValueError, match="no incidents or alerts"):
        build_cube(incidents.iloc[:0], None, three_squares)
    with pytest.raises(ValueError, match="freq"):
        build_cube(incidents, None, three_squares, freq="Q")
    with pytest.raises(ValueError, match="occurred_on"):
        build_cube(incidents.drop(columns="occurred_on"), None, three_squares)


def test_progress_is_reported(incidents, three_squares):
    from sauti.features import BUILD_STEPS

    steps = []
    build_cube(incidents, None, three_squares, progress=steps.append)
    assert sum(steps) == BUILD_STEPS


def test_alert_dates_follow_the_mission_time_zone(incidents, alerts, three_squares):
    utc = build_cube(incidents, alerts, three_squares)
    local = build_cube(incidents, alerts, three_squares, timezone="Africa/Bangui")  # UTC+1
    # a2 was received at 23:30 UTC on 31 January: 00:30 on 1 February in Bangui
    assert _at(utc, "alerts_attack", "A", "2020-01-01") == 1
    assert _at(local, "alerts_attack", "A", "2020-01-01") == 0
    assert _at(local, "alerts_attack", "A", "2020-02-01") == 1


def test_verification_as_of_receipt_by_hand():
    from sauti.features.counts import verification_as_of_receipt

    alerts = pd.DataFrame(
        {
            "alert_id": ["a", "b", "c", "d"],
            "received_at": pd.to_datetime(
                ["2021-01-05T10:00Z", "2021-01-05T10:00Z", "2021-01-20T10:00Z", "2021-01-31T12:00Z"], utc=True
            ),
        }
    )
    decisions = pd.DataFrame(
        {
            "alert_id": ["a", "a", "b", "c", "d"],
            "verification": ["verified", "false_alarm", "verified", "verified", "false_alarm"],
            "decided_at": pd.to_datetime(
                [
                    "2021-01-06T10:00Z",  # a: verified, then
                    "2021-01-30T10:00Z",  # a: a false alarm, same month: the later one wins
                    "2021-02-01T10:00Z",  # b: decided next month: not known in January
                    "2021-01-31T23:30Z",  # c: 31 Jan UTC but 1 Feb in Bangui (UTC+1)
                    "2021-01-31T22:30Z",  # d: 23:30 in Bangui, still January
                ],
                utc=True,
            ),
        }
    )
    monthly = verification_as_of_receipt(alerts, decisions, "M", "Africa/Bangui")
    assert monthly.tolist() == ["false_alarm", "unverified", "unverified", "false_alarm"]
    assert verification_as_of_receipt(alerts, decisions, "M").tolist()[2] == "verified"  # in UTC
    # weekly (ISO weeks): a's second decision (Sat 30 Jan) is three weeks after its week
    weekly = verification_as_of_receipt(alerts, decisions, "W", "Africa/Bangui")
    assert weekly.tolist() == ["verified", "unverified", "unverified", "false_alarm"]
    assert verification_as_of_receipt(alerts, decisions.iloc[:0], "M").tolist() == ["unverified"] * 4
