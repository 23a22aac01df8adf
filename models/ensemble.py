"""The Sauti model: an ensemble of the calibrated baseline rules and compact learned models.

Members are the baseline rules that read one period's features (:data:`sauti.models.baselines.BASELINES`
entries with ``columns``), each calibrated by :class:`PlattScoreClassifier`, and small learned
models on a handful of features (:data:`LEARNED_FEATURES`). Their probabilities are pooled with
non-negative weights summing to one, learned by minimising the log loss of the pool on
**out-of-time** predictions inside the training window (rolling inner folds over its latest periods,
a ``horizon - 1`` gap before each block), shrunk towards equal weights when the folds hold few
positives. Because every single member is a corner of the weight simplex, the inner validation can
only prefer the pool when it forecast better out of time than its best member did.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from sauti.constants import TARGET_CATEGORY
from sauti.models.estimators import (
    _EPS,
    ColumnSubset,
    PlattScoreClassifier,
    _binary_classes,
    _BinaryMixin,
    _fit_platt,
    _logit,
    _pipeline,
    _sigmoid,
    _time_folds,
    fit_weighted,
    single_thread,
)

_T = TARGET_CATEGORY
#: Features of the learned members (cube variable names; those a cube lacks are skipped):
#: decayed intercommunal and violent counts at two half-lives, their first-order spatial lags,
#: periods since the last intercommunal incident, and recent (decayed) fatalities.
LEARNED_FEATURES: tuple[str, ...] = (
    f"decay_count_{_T}_hl3",
    f"decay_count_{_T}_hl12",
    "decay_count_violent_hl3",
    "decay_count_violent_hl12",
    f"splag1_decay_count_{_T}_hl3",
    f"splag1_decay_count_{_T}_hl12",
    "splag1_decay_count_violent_hl3",
    "splag1_decay_count_violent_hl12",
    f"since_{_T}",
    "decay_fatalities_hl3",
)
#: Features of the learned member at horizons beyond one period (design 2, chosen on validation
#: origins at h = 3): :data:`LEARNED_FEATURES` plus the neighbours' violent count at half-life 6 (the
#: `neighbourhood` rule's lag) and fatalities at half-life 12.
LONG_HORIZON_FEATURES: tuple[str, ...] = (
    *LEARNED_FEATURES,
    "splag1_decay_count_violent_hl6",
    "decay_fatalities_hl12",
)
#: Features of the self-exciting member (:class:`~sauti.models.hawkes.SelfExcitingClassifier`): the
#: decayed intercommunal and violent counts at every default half-life, own and neighbours' (first-order
#: spatial lag). Its non-negative weights over the half-lives are the learned decay; over the lags, the
#: learned influence of neighbouring incidents.
HAWKES_FEATURES: tuple[str, ...] = tuple(
    f"{lag}decay_count_{var}_hl{h}"
    for lag in ("", "splag1_")
    for var in (_T, "violent")
    for h in (1, 3, 6, 12)
)
#: Baseline rules pooled by default (names in the baseline registry).
DEFAULT_RULES: tuple[str, ...] = (
    "climatology",
    "last_value",
    "decayed_intercommunal",
    "decayed_violent",
    "neighbourhood",
)
#: Learned member kinds.
LEARNERS = ("logistic", "boosting", "hawkes")
#: How members are pooled: ``"linear"`` averages probabilities; ``"logit"`` averages log-odds and
#: recalibrates the pooled log-odds once (Platt) on the training window.
COMBINERS = ("linear", "logit")


def _rule_columns(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    from sauti.models.baselines import BASELINES

    unknown = [n for n in names if n not in BASELINES or BASELINES[n].columns is None]
    if unknown:
        usable = [n for n, spec in BASELINES.items() if spec.columns is not None]
        raise ValueError(f"rule(s) {unknown} cannot be ensemble members; usable: {', '.join(usable)}")
    return {n: tuple(BASELINES[n].columns) for n in names}


def _direction(name: str) -> int:
    """Monotone constraint of a feature: risk rises with recent counts, falls with time since."""
    if name.startswith("since_"):
        return -1
    return 1 if any(part in name for part in ("count_", "fatalities")) else 0


def _learner(kind: str, columns: list[int], names: list[str], c: float, seed: int) -> Pipeline:
    subset = ColumnSubset(tuple(columns))
    if kind == "logistic":
        return Pipeline([("columns", subset), ("model", _pipeline(LogisticRegression(C=c, max_iter=2000)))])
    if kind == "boosting":  # risk never falls as recent counts rise, nor rises with time since the last
        monotone = [_direction(name) for name in names]
        model = HistGradientBoostingClassifier(
            max_depth=3,
            learning_rate=0.05,
            max_iter=80,
            min_samples_leaf=40,
            l2_regularization=1.0,
            monotonic_cst=monotone,
            early_stopping=False,
            random_state=seed,
        )
        return Pipeline([("columns", subset), ("model", model)])
    if kind == "hawkes":
        from sauti.models.hawkes import SelfExcitingClassifier

        return Pipeline([("columns", subset), ("model", SelfExcitingClassifier())])
    raise ValueError(f"unknown learner {kind!r}; known: {', '.join(LEARNERS)}")


def _fit_member(
    member: BaseEstimator, X: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None
) -> BaseEstimator:
    """Fit a member on the ensemble's validated matrix (rules without re-validating each time)."""
    if isinstance(member, PlattScoreClassifier):
        return member._fit_validated(X, target, sample_weight)
    return fit_weighted(member, X, target, sample_weight)


def _member_probability(member: BaseEstimator, X: np.ndarray) -> np.ndarray:
    if isinstance(member, PlattScoreClassifier):
        return member._probability(X)
    return member.predict_proba(X)[:, 1]


def stack_weights(
    probabilities: np.ndarray,
    labels: np.ndarray,
    shrinkage: float,
    combiner: str = "linear",
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Non-negative weights summing to one that minimise the pool's log loss, shrunk to equal weights.

    Minimises ``sum_i logloss(y_i, pool_i(w)) + shrinkage * ||w - 1/K||^2`` (``shrinkage`` in nats
    of total log loss): with few positives in the validation folds the weights stay near equal, with
    many the data decide. ``combiner="linear"`` pools probabilities (``P . w``); ``"logit"`` pools
    log-odds and judges them after a Platt map fitted jointly (``sigmoid(a + s * logit(P) . w)``),
    so the weights are chosen for ranking and the map takes care of calibration. ``sample_weight``
    weighs each row's log loss (sampled negatives).
    """
    n, k = probabilities.shape
    uniform = np.full(k, 1.0 / k)
    if k == 1 or n == 0 or np.unique(labels).size < 2:
        return uniform
    P = np.clip(probabilities, _EPS, 1 - _EPS)
    y = labels.astype(float)
    if combiner == "logit":
        objective, start, bounds = _logit_objective(_logit(P), y, uniform, shrinkage, sample_weight)
    else:
        objective, start, bounds = _linear_objective(P, y, uniform, shrinkage, sample_weight)
    result = minimize(
        objective,
        start,
        jac=True,
        method="SLSQP",
        bounds=bounds,
        constraints=(
            {
                "type": "eq",
                "fun": lambda v: v[:k].sum() - 1.0,
                "jac": lambda v: np.r_[np.ones(k), np.zeros(v.size - k)],
            },
        ),
    )
    w = np.clip(result.x[:k] if result.success else uniform, 0.0, None)
    return w / w.sum()


def _linear_objective(P, y, uniform, shrinkage, sample_weight=None):
    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.clip(P @ w, _EPS, 1 - _EPS)
        if sample_weight is None:
            loss = -np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))
            grad = -P.T @ (y / p - (1 - y) / (1 - p))
        else:
            loss = -np.sum(sample_weight * (y * np.log(p) + (1 - y) * np.log1p(-p)))
            grad = -P.T @ (sample_weight * (y / p - (1 - y) / (1 - p)))
        diff = w - uniform
        return loss + shrinkage * float(diff @ diff), grad + 2 * shrinkage * diff

    return objective, uniform, [(0.0, 1.0)] * uniform.size


def _logit_objective(L, y, uniform, shrinkage, sample_weight=None):
    k = uniform.size

    def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
        w, a, s = v[:k], v[k], v[k + 1]
        pooled = L @ w
        z = a + s * pooled
        if sample_weight is None:
            loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
            r = _sigmoid(z) - y
        else:
            loss = float(np.sum(sample_weight * (np.logaddexp(0.0, z) - y * z)))
            r = sample_weight * (_sigmoid(z) - y)
        diff = w - uniform
        grad = np.r_[s * (L.T @ r) + 2 * shrinkage * diff, r.sum(), r @ pooled]
        return loss + shrinkage * float(diff @ diff), grad

    start = np.r_[uniform, 0.0, 1.0]
    return objective, start, [(0.0, 1.0)] * k + [(None, None), (1e-3, None)]


def top_members(
    probabilities: np.ndarray, labels: np.ndarray, k: int | None, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Indices of the ``k`` members with the highest average precision on the inner validation blocks.

    ``None`` (or too few validation rows to rank) keeps every member.
    """
    m = probabilities.shape[1]
    if k is None or k >= m or labels.size == 0 or np.unique(labels).size < 2:
        return np.arange(m)
    ap = np.array(
        [average_precision_score(labels, probabilities[:, j], sample_weight=sample_weight) for j in range(m)]
    )
    return np.sort(np.argsort(-ap, kind="stable")[: max(int(k), 1)])


class SautiClassifier(_BinaryMixin, ClassifierMixin, BaseEstimator):
    """The Sauti risk model: a stacked pool of calibrated rules and compact learned models.

    ``fit`` builds the members (the ``rules`` whose columns ``X`` holds, and one ``learners`` model
    of each kind on the :data:`LEARNED_FEATURES` it holds; without column names, one learned model
    on every column), keeps the latest ``window`` periods of the training rows, predicts each inner
    validation block with members fitted on the periods before it (a ``horizon - 1`` gap), learns
    the pool's weights on those out-of-time predictions (:func:`stack_weights`) and refits every
    member on the whole window. Nothing outside the rows passed to ``fit`` is ever seen.

    Parameters
    ----------
    rules : tuple of str, optional
        Baseline names (default :data:`DEFAULT_RULES`); those whose columns ``X`` lacks are skipped.
    learners : tuple of str
        Learned member kinds: ``"logistic"`` (L2, on signed-log, standardised features),
        ``"boosting"`` (monotone-constrained gradient-boosted trees) and/or ``"hawkes"`` (the
        self-exciting model of :mod:`sauti.models.hawkes`, on :data:`HAWKES_FEATURES`).
    features : tuple of str, optional
        Features of the logistic and boosting members (default :data:`LEARNED_FEATURES`).
    window : int, optional
        Train on the latest ``window`` periods only (``None``: every period given).
    n_splits, validation_periods : int
        Inner validation blocks and their length in periods (the latest ``n_splits *
        validation_periods`` periods of the window validate).
    horizon : int
        Target window; the inner folds keep a ``horizon - 1`` gap.
    C : float
        Inverse L2 strength of the logistic member.
    shrinkage : float
        Pull of the weights towards equal weights (nats of total validation log loss).
    combiner : {"linear", "logit"}
        Pool probabilities (``"linear"``) or log-odds (``"logit"``: the pooled log-odds are mapped to
        a probability by a Platt map fitted once on the training window; ranking follows the
        log-odds, so a member's strong evidence is not averaged away by near-zero probabilities).
    top_k : int, optional
        Pool only the ``top_k`` members with the highest average precision on the inner validation
        blocks (the others get weight 0); ``None`` pools every member.
    weights : dict, optional
        Fixed member weights (name → weight): no inner validation, members are only refitted.
        The backtest passes the weights learned at an earlier origin (inside that origin's window).
    random_state : int, RandomState or None
        Seed for the tree member.

    Attributes
    ----------
    members_ : list of (str, estimator)
        Fitted members with a weight above 0, in pool order; each reads ``X[:, used_features_]``.
    weights_ : dict
        Member name → weight.
    used_features_ : ndarray of int
        Columns of ``X`` any member reads (the others never change a forecast).
    feature_medians_ : ndarray
        Training medians of every column (reference for per-prediction contributions).
    validation_ : dict
        Inner validation: folds, rows, positives, each member's and the pool's log loss and each
        member's average precision.
    calibration_ : tuple of float or None
        Intercept and slope of the Platt map of the ``"logit"`` pool (``None`` for ``"linear"``).
    """

    def __init__(
        self,
        rules: tuple[str, ...] | None = None,
        learners: tuple[str, ...] = ("logistic",),
        features: tuple[str, ...] | None = None,
        window: int | None = None,
        n_splits: int = 3,
        validation_periods: int | None = 12,
        horizon: int = 1,
        C: float = 0.1,
        shrinkage: float = 3.0,
        combiner: str = "linear",
        top_k: int | None = None,
        weights: dict[str, float] | None = None,
        random_state=None,
    ) -> None:
        self.rules = rules
        self.learners = learners
        self.features = features
        self.window = window
        self.n_splits = n_splits
        self.validation_periods = validation_periods
        self.horizon = horizon
        self.C = C
        self.shrinkage = shrinkage
        self.combiner = combiner
        self.top_k = top_k
        self.weights = weights
        self.random_state = random_state

    def fit(self, X, y, periods=None, sample_weight=None):
        """Fit on rows ``X`` with labels ``y`` at ``periods`` (row order when None); ``sample_weight``
        weighs rows (a panel with sampled negatives: :func:`sauti.models.panel.labelled_panel`) in
        every member's fit, the inner validation and the stacking."""
        with single_thread():
            return self._fit(X, y, periods, sample_weight)

    def _fit(self, X, y, periods, sample_weight=None):
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64)
        self.classes_ = _binary_classes(self, y)
        names = [str(n) for n in getattr(self, "feature_names_in_", [f"x{j}" for j in range(X.shape[1])])]
        builders = self._members(names)
        target = self._positive(y)
        periods = np.arange(len(y)) if periods is None else np.asarray(periods)
        rows = self._window_rows(periods)
        Xu, target, periods = X[np.ix_(rows, self.used_features_)], target[rows], periods[rows]
        del X  # the columns the members read are all that is needed from here (memory)
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, np.empty((len(y), 0)), ensure_non_negative=True)[rows]
        both = np.unique(target).size == 2
        self.constant_ = None if both else (float(target.mean()) if target.size else 0.0)
        if self.weights is not None:
            folds, oof, labels, oof_weight = [], np.zeros((0, len(builders))), np.zeros(0), None
            weights = np.array([float(self.weights.get(name, 0.0)) for name, _ in builders])
            weights = (
                weights / weights.sum() if weights.sum() > 0 else np.full(weights.size, 1 / weights.size)
            )
        else:
            folds = _time_folds(Xu, target, periods, self.n_splits, self.horizon - 1, self.validation_periods)
            oof, labels, oof_weight = self._out_of_time(builders, Xu, target, folds, sw)
            weights = self._learn_weights(oof, labels, oof_weight)
        self.weights_ = {name: float(w) for (name, _), w in zip(builders, weights, strict=True)}
        # a member the pool gives no weight never changes a forecast: it is not fitted (nor kept)
        self.members_ = (
            [
                (name, _fit_member(build(), Xu, target, sw))
                for name, build in builders
                if self.weights_[name] > 0
            ]
            if both
            else []
        )
        self.calibration_ = None
        if self.combiner == "logit" and both:  # one Platt map of the pooled log-odds, on the window
            slope, intercept = _fit_platt(self._pooled_logit(Xu), target, sample_weight=sw)
            self.calibration_ = (intercept, slope)
        self.validation_ = self._validation_summary(oof, labels, weights, folds, builders, oof_weight)
        medians = np.zeros(self.n_features_in_)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column has no median
            medians[self.used_features_] = np.nan_to_num(np.nanmedian(Xu, axis=0))
        self.feature_medians_ = medians
        return self

    def _learn_weights(self, oof: np.ndarray, labels: np.ndarray, sample_weight=None) -> np.ndarray:
        """Weights from the inner validation blocks: the ``top_k`` members by AP, stacked on log loss."""
        if self.combiner not in COMBINERS:
            raise ValueError(f"unknown combiner {self.combiner!r}; known: {', '.join(COMBINERS)}")
        chosen = top_members(oof, labels, self.top_k, sample_weight)
        weights = np.zeros(oof.shape[1])
        weights[chosen] = stack_weights(oof[:, chosen], labels, self.shrinkage, self.combiner, sample_weight)
        return weights

    def _members(self, names: list[str]) -> list[tuple[str, Callable[[], BaseEstimator]]]:
        """Member builders; sets ``used_features_`` (the columns any member reads)."""
        rules = _rule_columns(tuple(self.rules) if self.rules is not None else DEFAULT_RULES)
        unknown = [k for k in self.learners if k not in LEARNERS]
        if unknown:
            raise ValueError(f"unknown learner(s) {unknown}; known: {', '.join(LEARNERS)}")
        present = {n: j for j, n in enumerate(names)}
        usable_rules = {r: cols for r, cols in rules.items() if all(c in present for c in cols)}
        wanted = self.features if self.features is not None else LEARNED_FEATURES
        default = [present[f] for f in wanted if f in present]
        if not default:  # plain arrays (no column names): one learned model on every column
            if hasattr(self, "feature_names_in_"):
                raise ValueError(
                    "none of the learned members' features is in X: expected some of "
                    f"{', '.join(wanted)} (build the cube with the default half-lives, or pass features=)"
                )
            default = list(range(len(names)))
        learned = {
            kind: ([present[f] for f in HAWKES_FEATURES if f in present] or default)
            if kind == "hawkes"
            else default
            for kind in self.learners
        }
        used = sorted(
            {present[c] for cols in usable_rules.values() for c in cols}
            | {j for c in learned.values() for j in c}
        )
        self.used_features_ = np.asarray(used, dtype=int)
        position = {j: i for i, j in enumerate(used)}
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        builders: list[tuple[str, Callable[[], BaseEstimator]]] = []
        for rule, cols in usable_rules.items():
            column = tuple(position[present[c]] for c in cols)
            builders.append((rule, lambda column=column: PlattScoreClassifier(column=column)))
        for kind in self.learners:
            columns = [position[j] for j in learned[kind]]
            learned_names = [names[j] for j in learned[kind]]
            builders.append(
                (kind, lambda kind=kind, c=columns, n=learned_names: _learner(kind, c, n, self.C, seed))
            )
        return builders

    def _window_rows(self, periods: np.ndarray) -> np.ndarray:
        if self.window is None or periods.size == 0:
            return np.arange(periods.size)
        return np.flatnonzero(periods > periods.max() - int(self.window))

    @staticmethod
    def _out_of_time(builders, X, target, folds, sample_weight=None):
        """Each member's probabilities on every inner validation block, fitted on the periods before
        it; the blocks' labels and row weights (None without weights)."""
        if not folds:
            return np.zeros((0, len(builders))), np.zeros(0), None
        blocks = []
        for tr, va in folds:
            sw = None if sample_weight is None else sample_weight[tr]
            fitted = [_fit_member(build(), X[tr], target[tr], sw) for _, build in builders]
            blocks.append(np.column_stack([_member_probability(m, X[va]) for m in fitted]))
        weights = None if sample_weight is None else np.concatenate([sample_weight[va] for _, va in folds])
        return np.vstack(blocks), np.concatenate([target[va] for _, va in folds]), weights

    def _validation_summary(self, oof, labels, weights, folds, builders, sample_weight=None) -> dict:
        def logloss(p):
            p = np.clip(p, _EPS, 1 - _EPS)
            loss = -(labels * np.log(p) + (1 - labels) * np.log1p(-p))
            return float(np.average(loss, weights=sample_weight)) if labels.size else None

        ranked = labels.size > 0 and np.unique(labels).size == 2
        pool = None
        if labels.size:
            pool = oof @ weights
            if self.combiner == "logit":
                z = _logit(np.clip(oof, _EPS, 1 - _EPS)) @ weights
                slope, intercept = _fit_platt(z, labels, sample_weight=sample_weight)
                pool = _sigmoid(intercept + slope * z)
        return {
            "folds": len(folds),
            "rows": int(labels.size),
            "positives": int(labels.sum()),
            "log_loss": {name: logloss(oof[:, k]) for k, (name, _) in enumerate(builders)}
            | {"pool": logloss(pool) if pool is not None else None},
            "average_precision": {
                name: float(average_precision_score(labels, oof[:, k], sample_weight=sample_weight))
                if ranked
                else None
                for k, (name, _) in enumerate(builders)
            },
        }

    def predict_proba_columns(self, Xu) -> np.ndarray:
        """Like :meth:`predict_proba`, from the columns the model reads only (``X[:, used_features_]``).

        Scoring 10,000 localities with drivers builds and perturbs those few columns, not all of X.
        """
        check_is_fitted(self, "classes_")
        Xu = np.asarray(Xu, dtype=np.float64)
        if self.constant_ is not None:
            return self._proba_matrix(np.full(Xu.shape[0], self.constant_))
        return self._proba_matrix(self._pool(Xu))

    def _probability(self, X: np.ndarray) -> np.ndarray:
        return self._pool(X[:, self.used_features_])

    def _pool(self, Xu: np.ndarray) -> np.ndarray:
        if self.combiner == "logit":
            intercept, slope = self.calibration_
            return _sigmoid(intercept + slope * self._pooled_logit(Xu))
        with single_thread():
            pool = np.zeros(Xu.shape[0])
            for name, member in self.members_:  # only members with a weight are kept
                pool += self.weights_[name] * _member_probability(member, Xu)
        return pool

    def _pooled_logit(self, Xu: np.ndarray) -> np.ndarray:
        """The members' log-odds averaged with the pool's weights (before the Platt map)."""
        with single_thread():
            pooled = np.zeros(Xu.shape[0])
            for name, member in self.members_:
                pooled += self.weights_[name] * _logit(
                    np.clip(_member_probability(member, Xu), _EPS, 1 - _EPS)
                )
        return pooled

    def describe(self) -> str:
        """One line naming the members and their weights, heaviest first."""
        ranked = sorted(self.weights_.items(), key=lambda kv: -kv[1])
        return "ensemble(" + ", ".join(f"{n} {w:.2f}" for n, w in ranked) + ")"
