"""The training panel read block by block (issue 17): the same rows as the in-memory panel, every
positive kept and weighted negatives over the row budget, the rate in the model card, no leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.base import BaseEstimator, ClassifierMixin

from sauti.features import cube_path, load_cube, save_cube
from sauti.models import train
from sauti.models.backtest import backtest_cube
from sauti.models.panel import (
    NEGATIVE_RATE,
    TARGET_COLUMN,
    WEIGHT_COLUMN,
    labelled_panel,
    model_features,
    panel_frame,
    plan_sampling,
)
from sauti.models.registry_store import load_model
from sauti.models.synthetic import synthetic_cube
from sauti.models.target import make_target
from sauti.store import Workspace


@pytest.fixture(scope="module")
def sample_cube(sample_workspace):
    """The sample's monthly admin2 cube, opened lazily (Dask-backed), as training opens it."""
    return load_cube(sample_workspace, freq="M", unit="admin2", lazy=True)


def _in_memory_panel(cube, features, horizon=1) -> pd.DataFrame:
    loaded = cube.load()
    frame = panel_frame(loaded, features, extra={TARGET_COLUMN: make_target(loaded, horizon).to_numpy()})
    return frame[np.isfinite(frame[TARGET_COLUMN].to_numpy())].reset_index(drop=True)


def test_the_block_read_panel_equals_the_in_memory_panel_on_the_sample(sample_cube):
    features = model_features(sample_cube)
    expected = _in_memory_panel(sample_cube.copy(), features)
    sampling = plan_sampling(sample_cube, 1)
    assert sampling.rate == 1.0  # 72 localities: far under the row budget, nothing is sampled
    cells = 10 * sample_cube.sizes["period"]  # blocks of 10 localities: 8 blocks
    panel, done = labelled_panel(sample_cube, features, 1, sampling, cells=cells)
    pd.testing.assert_frame_equal(panel[list(expected.columns)], expected, check_dtype=False)
    assert (panel[WEIGHT_COLUMN] == 1.0).all()
    assert done.rows_kept == len(expected) == done.rows_labelled
    # float32 where the cube stores float32 (or small integer counts): exact, half the memory
    stored32 = [f for f in features if sample_cube[f].dtype == np.float32]
    assert stored32
    assert all(panel[f].dtype == np.float32 for f in stored32)
    assert panel["count_intercommunal"].dtype == np.float32


def test_sampling_keeps_every_positive_and_weights_sum_to_the_negatives(sample_cube):
    features = model_features(sample_cube)
    full = _in_memory_panel(sample_cube.copy(), features)
    sampling = plan_sampling(sample_cube, 1, rate=0.2, seed=7)
    panel, done = labelled_panel(sample_cube, features, 1, sampling, cells=4000)
    y = panel[TARGET_COLUMN].to_numpy()
    negatives = int((full[TARGET_COLUMN] == 0).sum())
    key = ["locality_id", "period"]
    kept_positives = panel.loc[y == 1, key].sort_values(key).reset_index(drop=True)
    all_positives = full.loc[full[TARGET_COLUMN] == 1, key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(kept_positives, all_positives)
    assert (panel.loc[y == 1, WEIGHT_COLUMN] == 1.0).all()
    assert panel.loc[y == 0, WEIGHT_COLUMN].sum() == pytest.approx(negatives, rel=1e-9)
    kept = int((y == 0).sum())
    assert abs(kept - 0.2 * negatives) < 4 * np.sqrt(negatives * 0.2 * 0.8)
    assert (done.negatives_kept, done.negatives, done.rate) == (kept, negatives, 0.2)
    # a kept row holds the values of that row of the full panel (same order: period, then locality)
    merged = panel.merge(full, on=key, suffixes=("", "_full"), validate="one_to_one")
    assert len(merged) == len(panel)
    for name in features[:20] + [TARGET_COLUMN]:
        assert_allclose(merged[name].to_numpy(float), merged[f"{name}_full"].to_numpy(float), equal_nan=True)
    assert (np.diff(panel["period_index"].to_numpy()) >= 0).all()
    again, _ = labelled_panel(sample_cube, features, 1, sampling, cells=4000)
    pd.testing.assert_frame_equal(again, panel)  # seeded: the same rows every run


def test_the_rate_is_the_validated_one_unless_the_budget_needs_less(sample_cube):
    under = plan_sampling(sample_cube, 1, budget=20_000)
    assert under.rate == NEGATIVE_RATE
    tight = plan_sampling(sample_cube, 1, budget=3_000)
    assert tight.rate < NEGATIVE_RATE
    assert tight.positives + tight.rate * tight.negatives == pytest.approx(3_000)


@pytest.fixture(scope="module")
def weekly_like(tmp_path_factory):
    """A synthetic workspace (64 localities × 120 periods) and its cube."""
    ws = Workspace(tmp_path_factory.mktemp("sampled") / "ws")
    cube = synthetic_cube(64, 120, start="2010-01-01", seed=9)
    save_cube(cube, cube_path(ws, freq="M", unit="admin2"))
    return ws, cube


def test_the_model_card_names_the_rate_and_sampled_training_stays_calibrated(weekly_like):
    ws, cube = weekly_like
    full = train(ws, freq="M", unit="admin2", random_state=3)
    assert full["training"]["negative_sampling"]["rate"] == 1.0
    record = train(ws, freq="M", unit="admin2", random_state=3, row_budget=5_000)
    card = record["training"]["negative_sampling"]
    assert (card["rate"], card["seed"], card["row_budget"]) == (NEGATIVE_RATE, 3, 5_000)
    assert record["training"]["rows"] == card["rows_kept"] < card["rows_labelled"]
    assert card["positives"] == full["training"]["positives"]
    # weighted negatives keep probabilities calibrated: over every labelled row, the sampled model
    # expects about as many incidents as happened
    features = record["features"]
    labelled = _in_memory_panel(cube, features)
    expected = load_model(ws, record).predict_proba(labelled[features])[:, 1].sum()
    observed = labelled[TARGET_COLUMN].sum()
    assert expected == pytest.approx(observed, rel=0.15)


def test_the_model_card_and_the_cli_say_when_the_row_budget_forces_a_rate_below_the_validated_one(
    weekly_like, monkeypatch
):
    import json

    from typer.testing import CliRunner

    from sauti.cli import app

    ws, _cube = weekly_like
    assert (
        train(ws, freq="M", unit="admin2", row_budget=5_000)["training"]["negative_sampling"][
            "below_validated_rate"
        ]
        is False
    )  # sampled at the validated rate: nothing to say
    monkeypatch.setenv("SAUTI_WORKSPACE", str(ws.root))
    runner = CliRunner()
    done = runner.invoke(app, ["train", "--freq", "M", "--unit", "admin2", "--row-budget", "1500", "--json"])
    assert done.exit_code == 0, done.output
    card = json.loads(done.stdout)["training"]["negative_sampling"]
    assert card["row_budget"] == 1_500
    assert card["rate"] < card["validated_rate"] == NEGATIVE_RATE
    assert card["below_validated_rate"] is True
    assert "below the validated rate 0.25" in done.stderr
    default = runner.invoke(app, ["train", "--freq", "M", "--unit", "admin2", "--json"])
    assert json.loads(default.stdout)["training"]["negative_sampling"]["row_budget"] == 1_000_000


class WeightedCheater(ClassifierMixin, BaseEstimator):
    """Remembers the training labels by (locality, period) key, and the weights it was given."""

    log: list[dict] = []

    def fit(self, X, y, sample_weight=None):
        self.memory_ = dict(zip(zip(X["key_locality"], X["key_period"], strict=True), y, strict=True))
        self.classes_ = np.array([0.0, 1.0])
        weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        self.log.append(
            {
                "fit_max_period": int(X["key_period"].max()),
                "negative_weight": float(weight[np.asarray(y) == 0].sum()),
                "positives": int(np.sum(y)),
            }
        )
        return self

    def predict_proba(self, X):
        keys = list(zip(X["key_locality"], X["key_period"], strict=True))
        self.log[-1]["answers_known"] = sum(k in self.memory_ for k in keys)
        self.log[-1]["test_period"] = int(X["key_period"].min())
        p = np.array([self.memory_.get(k, 0.5) for k in keys], dtype=float)
        return np.column_stack([1 - p, p])


def test_no_model_sees_its_test_period_when_negatives_are_sampled():
    cube = synthetic_cube(16, 48, start="2015-01-01", seed=5)
    cube["key_period"] = ("period", np.arange(48, dtype=float))
    cube["key_locality"] = ("locality", np.arange(16, dtype=float))
    WeightedCheater.log.clear()
    result = backtest_cube(
        cube,
        start="2017-01",
        end="2017-06",
        models={"cheater": WeightedCheater()},
        n_boot=5,
        row_budget=100,
        negative_rate=0.3,
    )
    assert result.detail["negative_sampling"]["rate"] == 0.3
    target = make_target(cube, 1).to_numpy()
    assert len(WeightedCheater.log) == 6
    for entry in WeightedCheater.log:
        assert entry["answers_known"] == 0
        assert entry["fit_max_period"] + 1 <= entry["test_period"]
        # every positive of the training window is there; the negatives' weights stand for all of them
        window = target[:, : entry["test_period"]]
        assert entry["positives"] == int(np.nansum(window))
        assert entry["negative_weight"] == pytest.approx(np.sum(window == 0), rel=0.35)
    # the periods forecast are read in full: every locality of every origin is scored
    cheat = result.predictions[result.predictions["model"] == "cheater"]
    assert cheat.groupby("origin").size().eq(16).all()
