"""Each baseline on a tiny hand-made panel with known answers, and calibrated on the window only."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sauti.models.backtest import backtest_cube
from sauti.models.baselines import BASELINES, baseline_scores
from sauti.models.synthetic import panel_cube

# locality A: incidents in periods 0 and 3; B: none; C: one in period 5
INTER = np.array(
    [
        [1, 0, 0, 2, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 1],
    ]
)
DECAY_I = np.arange(18, dtype=float).reshape(3, 6) / 10
DECAY_V = np.arange(18, dtype=float).reshape(3, 6)[::-1] / 5
LAG = np.full((3, 6), 0.25)


@pytest.fixture
def panel():
    return panel_cube(
        {
            "count_intercommunal": INTER,
            "decay_count_intercommunal_hl6": DECAY_I,
            "decay_count_violent_hl6": DECAY_V,
            "splag1_decay_count_intercommunal_hl6": LAG,
        }
    )


def _share_of_last(window: int) -> np.ndarray:
    occurred = (INTER > 0).astype(float)
    out = np.zeros_like(occurred)
    for t in range(occurred.shape[1]):
        lo = max(0, t - window + 1)
        out[:, t] = occurred[:, lo : t + 1].mean(axis=1)
    return out


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("climatology", np.zeros((3, 6))),
        ("last_value", INTER.astype(float)),
        ("historical_average_12", _share_of_last(12)),
        ("historical_average_36", _share_of_last(36)),
        ("decayed_intercommunal", DECAY_I),
        ("decayed_violent", DECAY_V),
        ("neighbourhood", DECAY_I + LAG),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_baseline_raw_score(panel, name, expected):
    assert_allclose(baseline_scores(panel, [name])[name], expected)


def test_historical_average_by_hand():
    # share of the last 3 periods with an incident, fewer at the start
    from sauti.models.baselines import historical_average

    cube = panel_cube({"count_intercommunal": np.array([[1, 0, 0, 2, 2, 0]])})
    assert_allclose(historical_average(3)(cube)[0], [1, 1 / 2, 1 / 3, 1 / 3, 2 / 3, 2 / 3])


def test_baselines_use_no_future_data(panel):
    perturbed = panel.copy(deep=True)
    for name in perturbed.data_vars:
        perturbed[name][:, 3:] = 9.0
    before, after = baseline_scores(panel), baseline_scores(perturbed)
    for name in BASELINES:
        assert_allclose(after[name][:, :3], before[name][:, :3], err_msg=name)


def test_registry_has_descriptions_and_the_issue_baselines():
    assert set(BASELINES) == {
        "climatology",
        "last_value",
        "historical_average_12",
        "historical_average_36",
        "decayed_intercommunal",
        "decayed_violent",
        "neighbourhood",
    }
    assert all(spec.description for spec in BASELINES.values())


def test_missing_variable_is_named(panel):
    with pytest.raises(ValueError, match="decay_count_violent_hl6"):
        baseline_scores(panel.drop_vars("decay_count_violent_hl6"), ["decayed_violent"])


def test_unknown_baseline_lists_known(panel):
    with pytest.raises(ValueError, match="known: climatology"):
        baseline_scores(panel, ["persistence"])


def test_calibration_is_fitted_on_the_training_window_only():
    # 4 localities x 12 periods; incidents only in the first half, none after
    inter = np.zeros((4, 12))
    inter[0, [1, 3, 5]] = 1
    inter[1, [2, 4]] = 1
    cube = panel_cube(
        {
            "count_intercommunal": inter,
            "decay_count_intercommunal_hl6": inter,
            "decay_count_violent_hl6": inter,
            "splag1_decay_count_intercommunal_hl6": np.zeros_like(inter),
        },
        static={"area_km2": np.ones(4)},
    )
    result = backtest_cube(cube, start="2020-08", end="2020-08", horizon=1, models=["climatology"], n_boot=5)
    pred = result.predictions
    # origin 2020-08 (index 7): training rows t <= 5 with labels over t+1: periods 0..5
    y = (inter[:, 1:7] > 0).astype(float)
    assert_allclose(pred["probability"].to_numpy(), np.full(4, y.mean()), rtol=1e-6)
    assert_allclose(pred["observed"].to_numpy(), (inter[:, 7] > 0).astype(int))
