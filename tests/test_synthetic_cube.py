"""The synthetic cube's history variables mean what the real cube's mean (checked by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sauti.features.params import FeatureParams
from sauti.models.synthetic import synthetic_cube


@pytest.fixture(scope="module")
def cube():
    return synthetic_cube(n_localities=16, n_periods=140, seed=3)  # > since_cap periods


def _decayed_by_hand(x: np.ndarray, half_life: int) -> np.ndarray:
    a = 0.5 ** (1 / half_life)
    out = np.zeros_like(x, dtype=float)
    for t in range(x.shape[1]):
        out[:, t] = x[:, t] + (a * out[:, t - 1] if t else 0.0)
    return out


def _since_by_hand(x: np.ndarray, cap: int) -> np.ndarray:
    out = np.full(x.shape, float(cap))
    for i in range(x.shape[0]):
        last = None
        for t in range(x.shape[1]):
            if x[i, t] > 0:
                last = t
            if last is not None:
                out[i, t] = min(t - last, cap)
    return out


@pytest.mark.parametrize("half_life", [1, 3, 12], ids=lambda h: f"hl{h}")
def test_decayed_counts_are_the_recursive_sum(cube, half_life):
    counts = cube["count_violent"].values
    got = cube[f"decay_count_violent_hl{half_life}"].values
    assert got.dtype == np.float64
    assert_allclose(got, _decayed_by_hand(counts, half_life), rtol=1e-12)


def test_rolling_sums_and_trend_cover_the_last_periods_only(cube):
    counts = cube["count_intercommunal"].values
    csum = np.cumsum(counts, axis=1)
    roll3 = csum - np.pad(csum, ((0, 0), (3, 0)))[:, :-3]
    roll12 = csum - np.pad(csum, ((0, 0), (12, 0)))[:, :-12]
    assert_allclose(cube["roll3_count_intercommunal"].values, roll3)
    assert_allclose(cube["roll12_count_intercommunal"].values, roll12)
    assert_allclose(cube["trend_count_intercommunal"].values, roll3 / 3 - roll12 / 12)


def test_periods_since_counts_from_the_last_event_and_caps_like_the_real_cube(cube):
    counts = cube["count_intercommunal"].values
    cap = FeatureParams().since_cap
    got = cube["since_intercommunal"].values
    assert_allclose(got, _since_by_hand(counts, cap))
    assert got.max() == cap  # localities with no event for longer than the cap are capped
