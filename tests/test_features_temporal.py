"""Decayed sums, rolling sums, time since and trend along the period axis (features/temporal.py)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sauti.features.temporal import decayed_sum, periods_since, rolling_sum, trend

SERIES = np.array([[0, 2, 0, 0, 1, 0, 0, 0, 3, 0], [0] * 10, [1] * 10], dtype=float)


def _naive_decay(x, h):
    a = 0.5 ** (1 / h)
    return np.array(
        [[sum(row[s] * a ** (t - s) for s in range(t + 1)) for t in range(len(row))] for row in x]
    )


@pytest.mark.parametrize("half_life", [1, 3, 6, 12], ids=lambda h: f"hl{h}")
def test_decayed_sum_matches_the_definition(half_life):
    assert_allclose(decayed_sum(SERIES, half_life, np.float64), _naive_decay(SERIES, half_life), rtol=1e-12)


def test_one_event_halves_after_one_half_life():
    x = np.zeros((1, 8))
    x[0, 0] = 1
    out = decayed_sum(x, 3, np.float64)[0]
    assert_allclose(out[[0, 3, 6]], [1.0, 0.5, 0.25])


@pytest.mark.parametrize("window", [1, 3, 12], ids=lambda w: f"w{w}")
def test_rolling_sum_is_the_trailing_window(window):
    expected = np.array(
        [[row[max(0, t - window + 1) : t + 1].sum() for t in range(len(row))] for row in SERIES]
    )
    assert_allclose(rolling_sum(SERIES, window, np.float64), expected)


def test_periods_since_counts_from_the_last_event_and_caps_never():
    out = periods_since(SERIES, cap=7)
    assert_array_equal(out[0], [7, 0, 1, 2, 0, 1, 2, 3, 0, 1])
    assert_array_equal(out[1], [7] * 10)
    assert_array_equal(out[2], [0] * 10)


def test_periods_since_caps_long_gaps():
    x = np.zeros((1, 12))
    x[0, 0] = 1
    assert periods_since(x, cap=5)[0, -1] == 5


def test_trend_is_short_mean_minus_long_mean():
    out = trend(SERIES, 3, 6, np.float64)
    t = 8
    assert_allclose(out[0, t], SERIES[0, 6:9].mean() - SERIES[0, 3:9].mean())
    assert_allclose(out[2, -1], 0.0)  # a flat series has no trend once both windows are full


@pytest.mark.parametrize(
    "function",
    [
        lambda x: decayed_sum(x, 3),
        lambda x: rolling_sum(x, 3),
        lambda x: periods_since(x, 50),
        lambda x: trend(x, 3, 12),
    ],
    ids=["decay", "rolling", "since", "trend"],
)
def test_causal_future_changes_do_not_reach_the_past(function):
    rng = np.random.default_rng(1)
    x = rng.poisson(0.5, (20, 40)).astype(float)
    y = x.copy()
    y[:, 25:] = rng.poisson(3, (20, 15))
    assert_array_equal(function(x)[:, :25], function(y)[:, :25])
    assert not np.array_equal(function(x)[:, 25:], function(y)[:, 25:])
