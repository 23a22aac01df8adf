"""Scores over time as the map reads them: scored periods, one period's scores, histories, rising."""

from __future__ import annotations

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sauti.errors import NotFoundError
from sauti.features import cube_path, save_cube
from sauti.models import (
    latest_scores,
    period_scores,
    rising_localities,
    score,
    score_histories,
    scored_periods,
    train,
)
from sauti.models.synthetic import synthetic_cube
from sauti.store import Workspace


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("scored") / "ws")
    save_cube(synthetic_cube(15, 40, start="2019-01-01", seed=7), cube_path(ws, freq="M", unit="admin2"))
    train(ws, freq="M", unit="admin2", horizon=1, random_state=0)
    score(ws)
    return ws


def test_scores_are_kept_for_24_periods_and_listed_oldest_first(scored):
    periods = scored_periods(scored)
    assert len(periods) == 24
    assert periods == sorted(periods)
    assert periods[-1] == pd.Timestamp("2022-04-01")  # 40 months from 2019-01


def test_period_scores_reads_one_period_and_latest_is_the_last(scored):
    periods = scored_periods(scored)
    latest = latest_scores(scored)
    assert (latest["period"] == periods[-1]).all()
    earlier = period_scores(scored, periods[3])
    assert len(earlier) == 15
    assert (earlier["period"] == periods[3]).all()
    assert earlier["rank"].tolist() == sorted(earlier["rank"])
    assert earlier["drivers"].map(len).eq(0).all()  # fitted history carries no drivers
    with pytest.raises(NotFoundError, match="no scores for the period asked for: scored periods run "):
        period_scores(scored, "2001-01-01")


def test_histories_end_at_the_period_asked_for(scored):
    periods = scored_periods(scored)
    full = score_histories(scored)
    assert full.groupby("locality_id").size().eq(24).all()
    short = score_histories(scored, until=periods[10], n=6)
    assert set(short["period"]) == set(periods[5:11])
    one = period_scores(scored, periods[10]).set_index("locality_id")["probability"]
    at_10 = short[short["period"] == periods[10]].set_index("locality_id")["probability"]
    assert_allclose(at_10.loc[one.index], one)


def test_rising_lists_only_increases_and_newcomers_to_the_top(scored):
    histories = pd.DataFrame(
        {
            "locality_id": ["a", "b", "c", "d"] * 2,
            "period": [pd.Timestamp("2022-01-01")] * 4 + [pd.Timestamp("2022-02-01")] * 4,
            "probability": [0.10, 0.02, 0.05, 0.01, 0.08, 0.12, 0.05, 0.03],
            "rank": [1, 3, 2, 4, 2, 1, 3, 4],
        }
    )
    out = rising_localities(histories, pd.Timestamp("2022-02-01"), n=5, top_share=0.25)
    assert [i["locality_id"] for i in out["increases"]] == ["b", "d"]  # a fell, c unchanged
    assert out["increases"][0]["change"] == pytest.approx(0.10)
    assert out["increases"][0]["previous_rank"] == 3
    assert [i["locality_id"] for i in out["new_in_top"]] == ["b"]  # top 25% of 4 = rank 1
    assert rising_localities(histories, pd.Timestamp("2022-01-01")) == {"increases": [], "new_in_top": []}
