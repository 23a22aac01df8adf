"""Responses as model features (issue 19, item 5): counted where and when they happened, used only by
a backtest that asks for them, and the skill reported with and without them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD_DIM
from sauti.features.responses import RESPONSE_VARIABLES, add_response_features
from sauti.models.panel import model_features


def _cube() -> xr.Dataset:
    periods = pd.date_range("2022-01-01", periods=3, freq="MS")
    counts = np.zeros((2, 3))
    cube = xr.Dataset(
        {"count_violent": ((LOCALITY_DIM, PERIOD_DIM), counts)},
        coords={LOCALITY_DIM: ["A", "B"], PERIOD_DIM: periods},
    )
    cube.attrs.update(unit="admin2", freq="M")
    return cube


def _responses() -> pd.DataFrame:
    t = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    return pd.DataFrame(
        {
            LOCALITY_ID: ["A", "A3", "B", "B"],  # A3: an admin3 place inside A
            "action": ["patrol", "engagement", "none", "patrol"],
            "outcome": ["calm", "violence", "unknown", "violence"],
            "dispatched_at": [t("2022-01-10"), t("2022-02-01T03:00"), pd.NaT, t("2022-03-31T12:00")],
            "decided_at": [pd.NaT, pd.NaT, t("2022-02-02"), pd.NaT],
            "arrived_at": [pd.NaT] * 4,
            "completed_at": [pd.NaT] * 4,
        }
    )


def test_response_features_are_counted_in_their_period_and_unit():
    localities = pd.DataFrame({LOCALITY_ID: ["A", "B", "A3"], "admin2_id": ["A", "B", "A"]})
    cube = add_response_features(_cube(), _responses(), localities)
    np.testing.assert_array_equal(cube["responses_acted"].to_numpy(), [[1, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(cube["responses_violence_reported"].to_numpy(), [[0, 1, 0], [0, 0, 1]])
    assert cube.attrs["with_responses"] == 1


def test_models_see_response_variables_only_in_a_cube_marked_for_them():
    localities = pd.DataFrame({LOCALITY_ID: ["A", "B"], "admin2_id": ["A", "B"]})
    marked = add_response_features(_cube(), _responses(), localities)
    assert set(RESPONSE_VARIABLES) <= set(model_features(marked))
    unmarked = marked.copy()
    unmarked.attrs.pop("with_responses")
    assert not set(RESPONSE_VARIABLES) & set(model_features(unmarked))  # train/score never use them


@pytest.mark.slow
def test_the_backtest_reports_skill_with_and_without_responses(sample_workspace):
    from sauti.models.responses import response_skill

    real_only = response_skill(sample_workspace, start="2019-01", end="2019-06")
    assert real_only["responses_used"] == 0  # the sample's responses are synthetic: left out
    tried = response_skill(sample_workspace, start="2019-01", end="2019-06", include_synthetic=True)
    assert tried["responses_used"] > 100
    for key in ("without", "with"):
        assert tried[key]["average_precision"] is not None
        assert tried[key]["brier_skill"] is not None
    assert tried["without"]["average_precision"] == pytest.approx(real_only["without"]["average_precision"])
