"""Patrol hit rate: the optimised plan against closest-to-base and last-incidents plans, on a tiny line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from patrol_helpers import bases_at, line_localities

from sauti.models.patrol.evaluate import evaluate_patrol_plans, hit_rate_figure

# L0..L3 at 0, 10, 20, 30 km; one base at 0 km with 1 patrol and a 40 km range.
LOCALITIES = line_localities([0, 10, 20, 30])
BASES = bases_at([("Camp", 0, 1, 40)])


def _predictions(as_strings: bool) -> pd.DataFrame:
    rows = []
    # sauti puts L3 first at origin 2020-01 and L2 first at 2020-02; "history" ranks L0, L1 first
    history = {"L0": 0.3, "L1": 0.25, "L2": 0.1, "L3": 0.1}
    for origin, top in (("2020-01", "L3"), ("2020-02", "L2")):
        for loc in LOCALITIES["locality_id"]:
            for model, p in (("sauti", 0.9 if loc == top else 0.1), ("history", history[loc])):
                rows.append(
                    {"origin": origin, "period": origin, "locality_id": loc, "model": model, "probability": p}
                )
    frame = pd.DataFrame(rows)
    frame["observed"] = 0
    if not as_strings:
        frame["period"] = pd.to_datetime(frame["period"])
    return frame


def _incidents(as_strings: bool) -> pd.DataFrame:
    # 2019-12: L1 (only drives the last-incidents plan of the first origin)
    # 2020-01: L3 (3 incidents); 2020-02: L0 (1 incident)
    frame = pd.DataFrame(
        {"period": ["2019-12", "2020-01", "2020-02"], "locality_id": ["L1", "L3", "L0"], "count": [1, 3, 1]}
    )
    if not as_strings:
        frame["period"] = pd.to_datetime(frame["period"])
    return frame


@pytest.mark.parametrize("as_strings", [True, False], ids=["string-periods", "timestamp-periods"])
def test_hit_rates_of_the_three_plans_on_a_known_instance(as_strings: bool) -> None:
    result = evaluate_patrol_plans(
        _predictions(as_strings),
        LOCALITIES,
        BASES,
        patrols=1,
        range_km=40,
        incidents_observed=_incidents(as_strings),
        n_boot=500,
    )
    # origin 1: optimised → L3 (3 hits), closest → L0 (0), last incidents (2019-12: L1) → L1 (0)
    # origin 2: optimised → L2 (0), closest → L0 (1), last incidents (2020-01: L3) → L3 (0)
    assert result["n_incidents"] == 4
    assert result["n_origins"] == 2
    np.testing.assert_allclose(result["optimised"]["patrol_hit_rate"], 3 / 4)
    np.testing.assert_allclose(result["closest_to_base"]["patrol_hit_rate"], 1 / 4)
    np.testing.assert_allclose(result["last_incidents"]["patrol_hit_rate"], 0.0)
    np.testing.assert_allclose(result["oracle"]["patrol_hit_rate"], 1.0)
    assert result["labels"]["closest_to_base"] == "Closest to base"
    assert all("_" not in label for label in result["labels"].values())
    np.testing.assert_allclose(result["differences"]["optimised_minus_closest_to_base"]["estimate"], 0.5)
    for plan in ("optimised", "closest_to_base", "last_incidents", "oracle"):
        lo, hi = result[plan]["ci"]
        assert lo <= result[plan]["patrol_hit_rate"] + 1e-12
        assert hi >= result[plan]["patrol_hit_rate"] - 1e-12
        assert result[plan]["localities_per_plan"] == 1.0
    assert [o["optimised"] for o in result["per_origin"]] == [3.0, 0.0]
    assert result["reachable_share"] == 1.0


def test_another_model_and_more_patrols_change_the_answer() -> None:
    result = evaluate_patrol_plans(
        _predictions(True),
        LOCALITIES,
        BASES,
        patrols=2,
        range_km=40,
        incidents_observed=_incidents(True),
        model="history",
    )
    # "history" sends the two patrols to L0 and L1: only origin 2's incident at L0 is covered
    np.testing.assert_allclose(result["optimised"]["patrol_hit_rate"], 1 / 4)
    # last incidents with 2 patrols: the incident locality, then the nearest other one (L0)
    np.testing.assert_allclose(result["last_incidents"]["patrol_hit_rate"], 1 / 4)
    assert result["model"] == "history"


def test_range_limits_every_plan_including_hindsight() -> None:
    result = evaluate_patrol_plans(
        _predictions(True),
        LOCALITIES,
        BASES,
        patrols=4,
        range_km=15,
        incidents_observed=_incidents(True),
    )
    # only L0 and L1 are within 15 km; the 3 incidents at L3 are out of reach for everyone
    assert result["reachable_share"] == pytest.approx(1 / 4)
    np.testing.assert_allclose(result["oracle"]["patrol_hit_rate"], 1 / 4)
    assert result["optimised"]["localities_per_plan"] <= 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("model", "predictions hold no model 'gbm'"),
        ("columns", "predictions is missing required column"),
        ("counts", "incidents_observed needs period, locality_id and one count column"),
    ],
    ids=["unknown-model", "missing-column", "ambiguous-counts"],
)
def test_bad_inputs_are_named(change: str, message: str) -> None:
    predictions, incidents = _predictions(True), _incidents(True)
    kwargs = {}
    if change == "model":
        kwargs["model"] = "gbm"
    elif change == "columns":
        predictions = predictions.drop(columns="origin")
    else:
        incidents = incidents.rename(columns={"count": "a"}).assign(b=1)
    with pytest.raises(ValueError, match=message):
        evaluate_patrol_plans(
            predictions, LOCALITIES, BASES, patrols=1, range_km=40, incidents_observed=incidents, **kwargs
        )


def test_hit_rate_figure_draws_one_bar_per_plan() -> None:
    result = evaluate_patrol_plans(
        _predictions(True), LOCALITIES, BASES, patrols=1, range_km=40, incidents_observed=_incidents(True)
    )
    figure = hit_rate_figure(result)
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    np.testing.assert_allclose(heights, [0.75, 0.25, 0.0, 1.0])


def test_last_incidents_plan_only_sees_the_period_before_the_origin() -> None:
    # h = 3 as run_backtest writes it: origin 2020-01 (first period forecast), period 2020-03 (window end)
    predictions = pd.DataFrame(
        {
            "origin": "2020-01",
            "period": "2020-03",
            "locality_id": LOCALITIES["locality_id"],
            "model": "sauti",
            "probability": [0.1, 0.1, 0.1, 0.9],
        }
    )
    incidents = pd.DataFrame(
        {
            # 2019-12 is known at the origin; 2020-02 lies inside the forecast window
            "period": ["2019-12", "2020-02", "2020-03", "2020-03"],
            "locality_id": ["L1", "L3", "L3", "L3"],  # the 2020-03 row is repeated, as across origins
            "observed": [1, 1, 2, 2],
        }
    )
    result = evaluate_patrol_plans(
        predictions, LOCALITIES, BASES, patrols=1, range_km=40, incidents_observed=incidents
    )
    assert result["n_incidents"] == 2  # the repeated row counts once
    np.testing.assert_allclose(result["last_incidents"]["patrol_hit_rate"], 0.0)  # went to L1
    np.testing.assert_allclose(result["optimised"]["patrol_hit_rate"], 1.0)


def test_each_base_keeps_its_own_capacity_and_range_when_not_overridden() -> None:
    common = {"incidents_observed": _incidents(True), "n_boot": 200}
    own = evaluate_patrol_plans(_predictions(True), LOCALITIES, BASES, patrols=None, range_km=None, **common)
    same = evaluate_patrol_plans(_predictions(True), LOCALITIES, BASES, patrols=1, range_km=40, **common)
    for plan in ("optimised", "closest_to_base", "last_incidents", "oracle"):
        assert own[plan] == same[plan]
    assert own["patrols"] == [1]
    assert own["range_km"] == [40.0]
