"""The custom estimators follow the scikit-learn API and behave as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from sauti.models.ensemble import LEARNED_FEATURES, SautiClassifier, stack_weights, top_members
from sauti.models.estimators import (
    ColumnSubset,
    PeriodSplit,
    PlattScoreClassifier,
    TemporalCalibratedClassifier,
    _fit_platt,
    signed_log1p,
)
from sauti.models.hawkes import SelfExcitingClassifier


@parametrize_with_checks(
    [
        PlattScoreClassifier(),
        TemporalCalibratedClassifier(LogisticRegression()),
        SautiClassifier(n_splits=2, random_state=0),
        SautiClassifier(learners=("logistic", "boosting"), n_splits=2, random_state=0),
        SautiClassifier(combiner="logit", top_k=2, n_splits=2, random_state=0),
        SautiClassifier(learners=("logistic", "hawkes"), n_splits=2, random_state=0),
        SelfExcitingClassifier(),
        ColumnSubset(),
    ],
    expected_failed_checks=lambda est: (
        {
            "check_classifiers_train": "a one-column score rule: by design it ignores every other column",
        }
        if isinstance(est, PlattScoreClassifier)
        else {
            "check_classifiers_train": "past incidents only raise the intensity (non-negative excitation): "
            "blobs whose class falls as a column rises cannot be separated",
        }
        if isinstance(est, SelfExcitingClassifier)
        else {
            "check_sample_weight_equivalence_on_dense_data": "without periods its inner validation folds "
            "are cut by row position: repeating rows moves the folds (weights are not repeats of periods)",
        }
        if isinstance(est, SautiClassifier)
        else {}
    ),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_signed_log1p_keeps_sign_and_zero():
    assert_allclose(signed_log1p(np.array([-3.0, 0.0, np.e - 1])), [-np.log(4.0), 0.0, 1.0])


def test_platt_keeps_the_ranking_and_calibrates():
    rng = np.random.default_rng(0)
    score = rng.poisson(1.0, 4000).astype(float)
    y = (rng.random(4000) < 0.05 + 0.1 * score).astype(int)
    model = PlattScoreClassifier().fit(score[:, None], y)
    p = model.predict_proba(np.arange(6.0)[:, None])[:, 1]
    assert np.all(np.diff(p) > 0)
    # the mean predicted probability matches the training positive rate (logistic calibration)
    assert_allclose(model.predict_proba(score[:, None])[:, 1].mean(), y.mean(), rtol=1e-3)


def test_platt_never_inverts_a_rule():
    score = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3], dtype=float)
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])  # risk falls with the score
    p = PlattScoreClassifier().fit(score[:, None], y).predict_proba(score[:, None])[:, 1]
    assert_allclose(p, np.full(10, 0.3))


@pytest.mark.parametrize(("gap", "expected_last_train"), [(0, 5), (2, 3)], ids=["h1-no-gap", "h3-gap2"])
def test_period_split_keeps_gap(gap, expected_last_train):
    periods = np.repeat(np.arange(12), 3)
    splits = list(PeriodSplit(n_splits=3, gap=gap).split(periods, groups=periods))
    assert len(splits) == 3
    train, valid = splits[1]
    assert periods[valid].min() == 6
    assert periods[train].max() == expected_last_train
    for train, valid in splits:
        assert periods[train].max() < periods[valid].min() - gap


def _panel(seed=3, n_periods=60, n_loc=30, late_only=False):
    """A (period, locality) panel with the cube's column names: risk follows a decayed count."""
    rng = np.random.default_rng(seed)
    n = n_periods * n_loc
    periods = np.repeat(np.arange(n_periods), n_loc)
    decay = rng.gamma(0.4, 1.0, n)
    frame = pd.DataFrame({name: rng.gamma(0.3, 1.0, n) for name in LEARNED_FEATURES})
    frame["decay_count_violent_hl6"] = decay
    frame["decay_count_intercommunal_hl6"] = rng.gamma(0.3, 1.0, n)
    frame["splag1_decay_count_intercommunal_hl6"] = rng.gamma(0.3, 1.0, n)
    frame["count_intercommunal"] = rng.poisson(0.1, n)
    frame["area_km2"] = rng.uniform(100, 900, n)
    y = (rng.random(n) < 0.02 + 0.2 * np.tanh(decay)).astype(int)
    if late_only:
        y[periods < n_periods * 2 // 3] = 0
    return frame, y, periods


def test_sauti_ensemble_is_seeded_reproducible_and_weights_its_members():
    X, y, periods = _panel()
    a = SautiClassifier(learners=("logistic", "boosting"), random_state=7).fit(X, y, periods=periods)
    b = SautiClassifier(learners=("logistic", "boosting"), random_state=7).fit(X, y, periods=periods)
    assert_allclose(a.predict_proba(X), b.predict_proba(X))
    names = {"climatology", "last_value", "decayed_intercommunal", "decayed_violent", "neighbourhood"}
    assert set(a.weights_) == names | {"logistic", "boosting"}
    assert_allclose(sum(a.weights_.values()), 1.0)
    assert min(a.weights_.values()) >= 0
    # the rule carrying the signal earns more weight than the rule without it
    assert a.weights_["decayed_violent"] > a.weights_["decayed_intercommunal"]
    # the pool is exactly the weighted mean of its members
    used = X.to_numpy()[:, a.used_features_]
    pooled = sum(a.weights_[n] * m.predict_proba(used)[:, 1] for n, m in a.members_)
    assert_allclose(a.predict_proba(X)[:, 1], pooled)
    assert_allclose(a.predict_proba_columns(used), a.predict_proba(X))  # scoring's fast path
    # only the rules' columns and the learned features are read; area is not
    assert "area_km2" not in {X.columns[j] for j in a.used_features_}
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, a.predict_proba(X)[:, 1]) > 0.7


def test_stacking_prefers_the_better_member_and_shrinks_to_equal_weights():
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.05).astype(float)
    good = np.where(y == 1, 0.3, 0.03)
    bad = np.full(4000, 0.05)
    P = np.column_stack([good, bad])
    free = stack_weights(P, y, shrinkage=0.0)
    assert free[0] > 0.95
    held = stack_weights(P, y, shrinkage=1e6)
    assert_allclose(held, [0.5, 0.5], atol=1e-3)
    assert_allclose(stack_weights(P, np.zeros(4000), 0.0), [0.5, 0.5])  # no positive: equal weights


def test_ensemble_weights_are_learned_inside_the_training_window_only():
    X, y, periods = _panel(seed=5)
    model = SautiClassifier(random_state=0).fit(X, y, periods=periods)
    assert model.validation_["folds"] == 3
    # the validation blocks are the latest 36 periods of the window the model was given
    n_val = (periods >= periods.max() - 35).sum()
    assert model.validation_["rows"] == n_val
    # a window cap drops the early periods: fitting on the whole panel equals fitting on its tail
    capped = SautiClassifier(window=24, random_state=0).fit(X, y, periods=periods)
    tail = periods > periods.max() - 24
    same = SautiClassifier(window=24, random_state=0).fit(X[tail], y[tail], periods=periods[tail])
    assert_allclose(capped.predict_proba(X), same.predict_proba(X))
    # fixed weights skip the inner validation and are kept as given
    fixed = SautiClassifier(weights={"neighbourhood": 1.0}, random_state=0).fit(X, y, periods=periods)
    assert fixed.weights_["neighbourhood"] == 1.0
    assert fixed.validation_["folds"] == 0


def test_platt_fit_matches_scikit_learn():
    rng = np.random.default_rng(1)
    score = signed_log1p(rng.poisson(0.4, 5000) * rng.random(5000) * 3)
    y = (rng.random(5000) < 0.01 + 0.1 * score).astype(int)
    reference = LogisticRegression(C=1e4, max_iter=5000, tol=1e-10).fit(score[:, None], y)
    slope, intercept = _fit_platt(score, y)
    assert_allclose([slope, intercept], [reference.coef_[0, 0], reference.intercept_[0]], rtol=1e-3)


def test_temporal_calibration_is_fitted_out_of_fold():
    rng = np.random.default_rng(1)
    n = 2000
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + rng.normal(size=n) > 1.0).astype(int)
    periods = np.repeat(np.arange(100), 20)
    model = TemporalCalibratedClassifier(LogisticRegression(class_weight="balanced")).fit(
        X, y, periods=periods
    )
    assert model.calibration_ == "out-of-fold"
    # balanced weights inflate raw probabilities; the calibrated mean is back near the base rate
    raw = model.estimator_.predict_proba(X)[:, 1].mean()
    calibrated = model.predict_proba(X)[:, 1].mean()
    assert raw > 0.3
    assert abs(calibrated - y.mean()) < 0.03
    # Platt keeps the ranking of the underlying model
    order = np.argsort(model.estimator_.predict_proba(X)[:, 1])
    assert np.all(np.diff(model.predict_proba(X)[order, 1]) >= 0)


def test_ensemble_survives_a_window_whose_early_part_has_no_positive():
    # positives only in the last third of the window (as in CAR before 2013): the inner blocks sit in
    # the latest periods, so the weights are learned where the positives are
    X, y, periods = _panel(seed=2, n_periods=120, late_only=True)
    model = SautiClassifier(random_state=0).fit(X, y, periods=periods)
    assert model.validation_["positives"] > 0
    late = periods >= 80
    p = model.predict_proba(X[late])[:, 1]
    assert np.unique(p).size > 100  # a ranking, not one constant


def test_period_split_with_test_size_validates_on_the_latest_periods():
    periods = np.repeat(np.arange(100), 2)
    splits = list(PeriodSplit(n_splits=3, gap=1, test_size=12).split(periods, groups=periods))
    assert [(periods[v].min(), periods[v].max()) for _, v in splits] == [(64, 75), (76, 87), (88, 99)]
    assert [periods[t].max() for t, _ in splits] == [62, 74, 86]
    # a window too short for 3 blocks of 12 falls back to equal blocks
    short = np.arange(20)
    assert len(list(PeriodSplit(n_splits=3, test_size=12).split(short, groups=short))) == 3


def test_logit_pool_averages_log_odds_and_is_recalibrated_once():
    X, y, periods = _panel(seed=4)
    model = SautiClassifier(combiner="logit", random_state=0).fit(X, y, periods=periods)
    assert_allclose(sum(model.weights_.values()), 1.0)
    assert min(model.weights_.values()) >= 0
    used = X.to_numpy()[:, model.used_features_]
    logit = {
        n: np.log(m.predict_proba(used)[:, 1]) - np.log(m.predict_proba(used)[:, 0])
        for n, m in model.members_
    }
    pooled = sum(model.weights_[n] * logit[n] for n in logit)
    a, s = model.calibration_
    assert s > 0
    assert_allclose(model.predict_proba(X)[:, 1], 1 / (1 + np.exp(-(a + s * pooled))), rtol=1e-6)
    # the Platt map is fitted on the training window: the mean forecast matches its positive rate
    assert_allclose(model.predict_proba(X)[:, 1].mean(), y.mean(), rtol=1e-2)
    assert_allclose(model.predict_proba_columns(used), model.predict_proba(X))


def test_stacking_on_log_odds_prefers_the_better_member():
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.05).astype(float)
    good = np.where(y == 1, 0.3, 0.03) * rng.uniform(0.8, 1.2, 4000)
    bad = rng.uniform(0.02, 0.08, 4000)
    free = stack_weights(np.column_stack([good, bad]), y, shrinkage=0.0, combiner="logit")
    assert free[0] > 0.9
    assert_allclose(free.sum(), 1.0)


def test_top_members_ranks_by_average_precision_on_the_validation_blocks():
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.05).astype(int)
    noise = rng.random(3000)
    P = np.column_stack([noise, y * 0.5 + noise, y * 0.2 + noise, y * 0.9 + noise])
    assert top_members(P, y, 2).tolist() == [1, 3]
    assert top_members(P, y, None).tolist() == [0, 1, 2, 3]
    assert top_members(P, np.zeros(3000), 1).tolist() == [0, 1, 2, 3]  # nothing to rank on: keep all


def test_top_k_selection_uses_the_training_window_only():
    X, y, periods = _panel(seed=6, n_periods=80)
    model = SautiClassifier(top_k=3, window=48, random_state=0).fit(X, y, periods=periods)
    kept = [n for n, w in model.weights_.items() if w > 0]
    assert 1 <= len(kept) <= 3
    ap = model.validation_["average_precision"]
    best3 = sorted(ap, key=lambda n: -ap[n])[:3]
    assert set(kept) <= set(best3)
    # labels before the window (and after the data passed to fit) cannot change the choice
    y_scrambled = y.copy()
    early = periods <= periods.max() - 48
    y_scrambled[early] = np.random.default_rng(0).permutation(y[early])
    again = SautiClassifier(top_k=3, window=48, random_state=0).fit(X, y_scrambled, periods=periods)
    assert again.weights_ == model.weights_
    assert again.validation_ == model.validation_


@pytest.mark.parametrize(
    ("horizon", "shrinkage", "extra"),
    [(1, 30.0, set()), (3, 100.0, {"splag1_decay_count_violent_hl6", "decay_fatalities_hl12"})],
    ids=["h1-design1", "h3-longer"],
)
def test_the_served_sauti_model_takes_the_design_of_its_horizon(horizon, shrinkage, extra):
    from sauti.models.catalog import resolve_model

    model = resolve_model("sauti", horizon=horizon).estimator
    assert model.horizon == horizon
    assert model.shrinkage == shrinkage
    assert model.window == 180
    features = set(model.features if model.features is not None else LEARNED_FEATURES)
    assert features - set(LEARNED_FEATURES) == extra


def test_self_exciting_model_recovers_background_and_excitation() -> None:
    """Rows drawn from a known intensity λ = 0.01 + 0.2·x0 + 0.05·x2 (x1 has no effect): the fit
    finds μ and α near the truth, and no weight below zero."""
    rng = np.random.default_rng(0)
    X = rng.poisson(0.3, size=(40_000, 3)).astype(float)
    y = rng.random(len(X)) < -np.expm1(-(0.01 + 0.2 * X[:, 0] + 0.05 * X[:, 2]))
    model = SelfExcitingClassifier().fit(X, y)
    assert model.background_ == pytest.approx(0.01, abs=0.004)
    assert_allclose(model.excitation_, [0.2, 0.0, 0.05], atol=0.015)
    assert (model.excitation_ >= 0).all()
    assert_allclose(model.predict_proba(X[:3])[:, 1], -np.expm1(-model.intensity(X[:3])))


def test_self_exciting_excitation_never_turns_negative() -> None:
    """A column whose rise lowers the risk gets weight 0, not a negative one (an incident never
    makes a place safer in this model); missing and negative values read as no incident."""
    rng = np.random.default_rng(1)
    X = rng.poisson(1.0, size=(20_000, 2)).astype(float)
    y = rng.random(len(X)) < np.where(X[:, 1] > 0, 0.02, 0.2)
    model = SelfExcitingClassifier().fit(X, y)
    assert model.excitation_[1] == 0.0
    assert_allclose(model.intensity(np.array([[np.nan, -5.0]])), [model.background_])


def test_hawkes_member_reads_own_and_neighbours_decayed_counts() -> None:
    from sauti.models.ensemble import HAWKES_FEATURES

    rng = np.random.default_rng(2)
    names = [*HAWKES_FEATURES, "area_km2", "decay_count_intercommunal_hl3"]
    names = list(dict.fromkeys(names))
    X = pd.DataFrame(rng.poisson(0.5, size=(600, len(names))).astype(float), columns=names)
    y = (X["decay_count_intercommunal_hl1"] + rng.random(600) > 1.2).astype(int)
    model = SautiClassifier(rules=(), learners=("hawkes",), n_splits=2, validation_periods=2).fit(
        X, y, periods=np.repeat(np.arange(20), 30)
    )
    ((name, member),) = model.members_
    read = [names[model.used_features_[j]] for j in member.named_steps["columns"].columns]
    assert name == "hawkes"
    assert read == list(HAWKES_FEATURES)
    assert "area_km2" not in read


def test_members_without_weight_are_not_fitted_and_unknown_features_are_refused() -> None:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        rng.poisson(0.5, size=(600, len(LEARNED_FEATURES))).astype(float), columns=LEARNED_FEATURES
    )
    y = (X[LEARNED_FEATURES[0]] + rng.random(600) > 1.2).astype(int)
    periods = np.repeat(np.arange(20), 30)
    model = SautiClassifier(rules=(), learners=("logistic", "hawkes"), weights={"logistic": 1.0}).fit(
        X, y, periods=periods
    )
    assert model.weights_ == {"logistic": 1.0, "hawkes": 0.0}
    assert [name for name, _ in model.members_] == ["logistic"]
    renamed = X.set_axis([f"my_{c}" for c in X.columns], axis=1)
    with pytest.raises(ValueError, match="none of the learned members' features is in X"):
        SautiClassifier(rules=()).fit(renamed, y, periods=periods)
