"""The target: an intercommunal incident within the next h periods; unobserved windows are NaN."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sauti.models.synthetic import panel_cube
from sauti.models.target import lead_occurrence, make_target

COUNTS = np.array(
    [
        [0, 2, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 3],
    ]
)


@pytest.mark.parametrize(
    ("horizon", "expected"),
    [
        (1, [[1, 0, 0, 1, 0, np.nan], [0, 0, 0, 0, 1, np.nan]]),
        (2, [[1, 0, 1, 1, np.nan, np.nan], [0, 0, 0, 1, np.nan, np.nan]]),
        (3, [[1, 1, 1, np.nan, np.nan, np.nan], [0, 0, 1, np.nan, np.nan, np.nan]]),
    ],
    ids=["h1", "h2", "h3"],
)
def test_target_window(horizon, expected):
    cube = panel_cube({"count_intercommunal": COUNTS})
    target = make_target(cube, horizon)
    assert target.dims == ("locality", "period")
    assert_allclose(target.to_numpy(), np.array(expected, dtype=float))


def test_target_ignores_other_categories():
    cube = panel_cube({"count_intercommunal": np.zeros((2, 4)), "count_armed_clash": np.ones((2, 4))})
    assert_allclose(make_target(cube, 1).to_numpy()[:, :3], 0.0)


def test_lead_occurrence_is_the_single_period_ahead():
    cube = panel_cube({"count_intercommunal": COUNTS})
    assert_allclose(lead_occurrence(cube, 2)[0], [0, 0, 1, 0, np.nan, np.nan])


@pytest.mark.parametrize("horizon", [0, -1, 1.5], ids=["zero", "negative", "fraction"])
def test_bad_horizon_is_refused(horizon):
    cube = panel_cube({"count_intercommunal": COUNTS})
    with pytest.raises(ValueError, match="horizon"):
        make_target(cube, horizon)


def test_missing_count_variable_names_the_fix():
    cube = panel_cube({"count_violent": COUNTS})
    with pytest.raises(ValueError, match="count_intercommunal.*sauti features"):
        make_target(cube, 1)
