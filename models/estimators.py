"""The small scikit-learn estimators the backtest and the Sauti ensemble are built from.

* :class:`PlattScoreClassifier` — turns a raw score (a baseline's rule, one column or the sum of
  several) into a calibrated probability with a monotone logistic map fitted on the training window.
* :class:`ColumnSubset` — keeps some columns, so a learned member sees only its features.
* :class:`PeriodSplit` — a cross-validation splitter over whole periods that keeps a gap of
  ``horizon - 1`` periods, so no validation label is known to the training fold.
* :class:`TemporalCalibratedClassifier` — calibrates any classifier on out-of-fold scores of the
  latest periods of its own window, then refits it on the whole window.

The Sauti model itself (:class:`sauti.models.ensemble.SautiClassifier`) pools these.
All follow the scikit-learn API (``__init__`` only stores, ``fit`` returns ``self``, learned
attributes end in ``_``, ``random_state`` goes through ``check_random_state``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from typing import Self

    from numpy.typing import ArrayLike

_EPS = 1e-6


_CONTROLLER = None


def single_thread() -> AbstractContextManager[object]:
    """Limit OpenMP/BLAS to one thread: on a shared 2-core machine the tree models' default
    threading oversubscribes and runs 10-100x slower than one thread."""
    global _CONTROLLER
    if _CONTROLLER is None:  # scanning the loaded libraries is the slow part: do it once
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: compresses heavy-tailed counts, keeps zero at zero and the sign."""
    values = np.asarray(values, dtype=float)
    return np.sign(values) * np.log1p(np.abs(values))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _fit_platt(
    score: np.ndarray, y: np.ndarray, c: float = 1e4, sample_weight: np.ndarray | None = None
) -> tuple[float, float]:
    """Monotone (non-decreasing) logistic map ``p = sigmoid(a * score + b)`` with ``a >= 0``.

    The maximum-likelihood fit of scikit-learn's ``LogisticRegression(C=c)`` (L2 penalty
    ``a**2 / (2c)`` on the slope only), solved by Newton's method on the distinct scores (a rule's
    score has few distinct values, so this costs one sort instead of an iterative solver over
    every row). ``sample_weight`` (sampled negatives, :mod:`sauti.models.panel`) weighs the rows.
    """
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    prior = float(np.clip(np.mean(y) if w is None else np.average(y, weights=w), _EPS, 1 - _EPS))
    if np.unique(y).size < 2 or np.ptp(score) == 0:
        return 0.0, float(_logit(np.array(prior))[()])
    y = np.asarray(y, dtype=float)
    zero = score == 0  # most rows of a count rule are zero: group them without sorting
    values, inverse = np.unique(score[~zero], return_inverse=True)
    if w is None:
        n = np.append(np.bincount(inverse, minlength=values.size).astype(float), zero.sum())
        pos = np.append(np.bincount(inverse, weights=y[~zero], minlength=values.size), y[zero].sum())
    else:
        n = np.append(np.bincount(inverse, weights=w[~zero], minlength=values.size), w[zero].sum())
        yw = y * w
        pos = np.append(np.bincount(inverse, weights=yw[~zero], minlength=values.size), yw[zero].sum())
    values = np.append(values, 0.0)
    slope, intercept = _newton_logistic(values, n, pos, 1.0 / c)
    if not slope > 0:  # the score does not rise with risk: fall back to the prior, never invert a rule
        return 0.0, float(_logit(np.array(prior))[()])
    return slope, intercept


def _newton_logistic(x: np.ndarray, n: np.ndarray, pos: np.ndarray, penalty: float) -> tuple[float, float]:
    """Penalised logistic fit of grouped data (``n`` rows, ``pos`` positives at each ``x``)."""

    def loss(a: float, b: float) -> float:
        z = a * x + b
        return float(np.sum(n * np.logaddexp(0.0, z) - pos * z) + 0.5 * penalty * a * a)

    a, b = 0.0, float(_logit(np.array(pos.sum() / n.sum()))[()])
    current = loss(a, b)
    for _ in range(100):
        p = _sigmoid(a * x + b)
        r = n * p - pos
        h = n * p * (1.0 - p)
        grad = np.array([np.sum(r * x) + penalty * a, np.sum(r)])
        hess = np.array([[np.sum(h * x * x) + penalty, np.sum(h * x)], [np.sum(h * x), np.sum(h) + 1e-12]])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-8:
            trial = loss(a - t * step[0], b - t * step[1])
            if trial <= current:
                break
            t /= 2.0
        a, b = a - t * step[0], b - t * step[1]
        if current - trial < 1e-10 * max(1.0, abs(current)):
            current = trial
            break
        current = trial
    return float(a), float(b)


def _binary_classes(estimator: BaseEstimator, y: np.ndarray) -> np.ndarray:
    check_classification_targets(y)
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type not in ("binary", "unknown") and np.unique(y).size > 2:
        raise ValueError(
            f"Only binary classification is supported. The type of the target is {y_type}"
            f" ({type(estimator).__name__} forecasts whether an incident happens or not)."
        )
    return np.unique(y)


class _BinaryMixin:
    """Tags and label handling shared by the binary classifiers here."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        return tags

    def _positive(self, y: np.ndarray) -> np.ndarray:
        return (y == self.classes_[-1]).astype(float) if self.classes_.size == 2 else np.zeros(len(y))

    def _proba_matrix(self, p: np.ndarray) -> np.ndarray:
        if self.classes_.size == 1:
            return np.ones((len(p), 1))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_proba(self, X) -> np.ndarray:
        """``(n, 2)`` probabilities of no incident / an incident (``(n, 1)`` if fitted on one class)."""
        check_is_fitted(self, "classes_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        if getattr(self, "constant_", None) is not None:
            return self._proba_matrix(np.full(X.shape[0], self.constant_))
        return self._proba_matrix(self._probability(X))


class PlattScoreClassifier(_BinaryMixin, ClassifierMixin, BaseEstimator):
    """Calibrate one raw score (a baseline's rule) into a probability.

    The raw score ``x`` (for instance last period's intercommunal count) is compressed with
    :func:`signed_log1p` and mapped by ``sigmoid(a * x + b)`` with ``a >= 0``, fitted on the
    training rows only. The map is strictly increasing when ``a > 0``, so the ranking of the rule is
    kept (average precision, ROC AUC and hit rates are those of the rule itself); when the score
    does not rise with risk in training, ``a = 0`` and every row gets the training positive rate.

    Parameters
    ----------
    column : int, str or tuple of them
        The raw score column of ``X``, or several whose sum is the score (names need ``X`` as a
        DataFrame; an empty tuple is a constant score: the training positive rate).
    """

    def __init__(self, column: int | str | tuple = 0) -> None:
        self.column = column

    def _columns(self, n_features: int) -> list[int]:
        wanted = self.column if isinstance(self.column, tuple | list) else (self.column,)
        names = list(getattr(self, "feature_names_in_", []))
        out = []
        for c in wanted:
            if isinstance(c, str):
                if c not in names:
                    raise ValueError(f"column {c!r} is not among X's columns (pass X as a DataFrame)")
                out.append(names.index(c))
            elif not 0 <= int(c) < n_features:
                raise ValueError(f"column={c} is out of range for X with {n_features} column(s)")
            else:
                out.append(int(c))
        return out

    def _score(self, X: np.ndarray) -> np.ndarray:
        columns = self._columns(X.shape[1])
        return np.nan_to_num(signed_log1p(X[:, columns].sum(axis=1))) if columns else np.zeros(len(X))

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        self.classes_ = _binary_classes(self, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        self.slope_, self.intercept_ = _fit_platt(
            self._score(X), self._positive(y), sample_weight=sample_weight
        )
        return self

    def _fit_validated(
        self, X: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> PlattScoreClassifier:
        """Fit on an already validated float matrix and a 0/1 target holding both classes.

        The Sauti ensemble fits its rule members hundreds of times per backtest on data it has
        validated once; this skips scikit-learn's per-call checks (same result as :meth:`fit`).
        """
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0.0, 1.0])
        self.slope_, self.intercept_ = _fit_platt(self._score(X), target, sample_weight=sample_weight)
        return self

    def _probability(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(self.slope_ * self._score(X) + self.intercept_)


class ColumnSubset(TransformerMixin, BaseEstimator):
    """Keep the given columns of ``X`` (positions), so a member model sees only its features."""

    def __init__(self, columns: tuple[int, ...] = ()) -> None:
        self.columns = columns

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return X[:, list(self.columns)] if self.columns else X


class PeriodSplit:
    """Rolling-origin splits over whole periods, with a gap so no validation label leaks.

    With ``test_size`` set, the last ``n_splits * test_size`` periods form ``n_splits`` validation
    blocks of ``test_size`` periods (the most recent years of a long window); otherwise the unique
    periods are cut into ``n_splits + 1`` equal consecutive blocks and the last ``n_splits``
    validate. Each split trains on every earlier period except the last ``gap`` before its block (a
    row at period ``t`` has a label over ``t+1 … t+h``, so ``gap = h - 1`` keeps those labels out).

    Parameters
    ----------
    n_splits : int
        Number of train/validation splits.
    gap : int
        Periods dropped between the training and the validation block.
    test_size : int, optional
        Periods per validation block (falls back to equal blocks when the window is too short).
    """

    def __init__(self, n_splits: int = 3, gap: int = 0, test_size: int | None = None) -> None:
        self.n_splits = n_splits
        self.gap = gap
        self.test_size = test_size

    def get_n_splits(
        self, X: np.ndarray | None = None, y: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> int:
        return self.n_splits

    def split(
        self, X: np.ndarray, y: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, validation_index)``; ``groups`` are the rows' periods."""
        n = len(X)
        groups = np.arange(n) if groups is None else np.asarray(groups)
        unique = np.unique(groups)
        if unique.size < self.n_splits + 1:
            raise ValueError(
                f"PeriodSplit needs at least n_splits + 1 = {self.n_splits + 1} periods, got {unique.size}"
            )
        if self.test_size and unique.size > self.n_splits * self.test_size + self.gap:
            tail = unique[unique.size - self.n_splits * self.test_size :]
            blocks = [unique[: unique.size - tail.size], *np.array_split(tail, self.n_splits)]
        else:
            blocks = np.array_split(unique, self.n_splits + 1)
        position = np.searchsorted(unique, groups)
        for i in range(1, self.n_splits + 1):
            start = np.searchsorted(unique, blocks[i][0])
            stop = start + blocks[i].size
            train = np.flatnonzero(position < start - self.gap)
            valid = np.flatnonzero((position >= start) & (position < stop))
            if train.size and valid.size:
                yield train, valid


def fit_weighted(estimator: BaseEstimator, X, y, sample_weight: np.ndarray | None = None, **params):
    """``estimator.fit(X, y, **params)`` with ``sample_weight`` routed to the final step of (nested)
    pipelines; an estimator that cannot weigh rows is an error, never silently unweighted."""
    if sample_weight is None:
        return estimator.fit(X, y, **params)
    steps, final = [], estimator
    while isinstance(final, Pipeline):
        name, final = final.steps[-1]
        steps.append(name)
    route = "__".join([*steps, "sample_weight"])
    from sklearn.utils.validation import has_fit_parameter

    if not has_fit_parameter(final, "sample_weight"):
        raise ValueError(
            f"{type(final).__name__} cannot weigh training rows (no sample_weight in fit): it cannot be "
            "trained on a panel with sampled negatives"
        )
    return estimator.fit(X, y, **{route: sample_weight}, **params)


def _pipeline(classifier: BaseEstimator) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)),
            ("compress", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
            ("model", classifier),
        ]
    )


def _time_folds(
    X: np.ndarray, target: np.ndarray, periods: np.ndarray, n_splits: int, gap: int, test_size: int | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Period folds usable for scoring: both classes in training, a positive in validation."""
    if np.unique(periods).size <= n_splits:
        return []
    splitter = PeriodSplit(n_splits, gap=gap, test_size=test_size)
    return [
        (tr, va)
        for tr, va in splitter.split(X, target, groups=periods)
        if np.unique(target[tr]).size == 2 and target[va].sum() > 0
    ]


def _out_of_fold(build: Callable[[], BaseEstimator], X, target, folds) -> tuple[np.ndarray, np.ndarray]:
    """Logit scores of each validation block from a model fitted on the periods before it."""
    scores, labels = [], []
    for tr, va in folds:
        model = build().fit(X[tr], target[tr])
        scores.append(_logit(model.predict_proba(X[va])[:, 1]))
        labels.append(target[va])
    if not scores:
        return np.array([]), np.array([])
    return np.concatenate(scores), np.concatenate(labels)


class _Calibration:
    """Fit a monotone map from logit scores to probabilities (Platt or isotonic)."""

    @staticmethod
    def fit(
        owner, method: str, scores: np.ndarray, labels: np.ndarray, fallback_scores, fallback_labels
    ) -> None:
        owner.slope_, owner.intercept_, owner.isotonic_ = 1.0, 0.0, None
        owner.calibration_ = "none"
        for source, sc, lab in (
            ("out-of-fold", scores, labels),
            ("in-sample", fallback_scores, fallback_labels),
        ):
            if sc.size == 0 or np.unique(lab).size < 2:
                continue
            if method == "isotonic":
                owner.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(sc, lab)
                owner.calibration_ = source
                return
            slope, intercept = _fit_platt(sc, lab)
            if slope > 0:
                owner.slope_, owner.intercept_ = slope, intercept
                owner.calibration_ = source
                return

    @staticmethod
    def apply(owner, raw: np.ndarray) -> np.ndarray:
        score = _logit(raw)
        if owner.isotonic_ is not None:
            return owner.isotonic_.predict(score)
        return _sigmoid(owner.slope_ * score + owner.intercept_)


class TemporalCalibratedClassifier(_BinaryMixin, ClassifierMixin, BaseEstimator):
    """Calibrate a classifier on out-of-fold scores of the latest periods of its own window.

    The estimator is fitted ``n_splits`` times, each time on the periods before one of the last
    ``n_splits`` validation blocks (minus a gap of ``horizon - 1`` periods), and scores its block;
    the pooled out-of-fold scores fit the calibration map (``"sigmoid"``: Platt on the logit, which
    keeps the ranking; ``"isotonic"``). The estimator is then refitted on the whole window and the
    map applied to its scores — the recipe of ``CalibratedClassifierCV(ensemble=False)`` with a
    time-respecting split. When the folds hold no positive, the map is fitted in-sample.

    Parameters
    ----------
    estimator : classifier
        Any binary classifier with ``predict_proba``.
    n_splits : int
        Validation blocks.
    validation_periods : int or None
        Periods per block (``None``: equal blocks over the window).
    method : {"sigmoid", "isotonic"}
        Calibration map.
    horizon : int
        Target window length; ``horizon - 1`` periods separate training and validation.
    """

    def __init__(
        self,
        estimator=None,
        n_splits: int = 3,
        validation_periods: int | None = 12,
        method: str = "sigmoid",
        horizon: int = 1,
    ):
        self.estimator = estimator
        self.n_splits = n_splits
        self.validation_periods = validation_periods
        self.method = method
        self.horizon = horizon

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            tags.input_tags.allow_nan = get_tags(self.estimator).input_tags.allow_nan
        else:
            tags.input_tags.allow_nan = False
        return tags

    def fit(self, X: ArrayLike, y: ArrayLike, periods: ArrayLike | None = None) -> Self:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        self.classes_ = _binary_classes(self, y)
        if self.method not in ("sigmoid", "isotonic"):
            raise ValueError(f"method must be 'sigmoid' or 'isotonic', got {self.method!r}")
        base = self.estimator if self.estimator is not None else LogisticRegression()
        target = self._positive(y)
        periods = np.arange(len(y)) if periods is None else np.asarray(periods)
        folds = _time_folds(X, target, periods, self.n_splits, self.horizon - 1, self.validation_periods)
        scores, labels = _out_of_fold(lambda: clone(base), X, target, folds)
        self.constant_ = None
        if np.unique(target).size == 2:
            self.estimator_ = clone(base).fit(X, target)
            fitted = _logit(self.estimator_.predict_proba(X)[:, 1])
        else:
            self.estimator_ = None
            self.constant_ = float(target.mean()) if target.size else 0.0
            fitted = np.array([])
        _Calibration.fit(self, self.method, scores, labels, fitted, target if fitted.size else np.array([]))
        return self

    def _probability(self, X: np.ndarray) -> np.ndarray:
        return _Calibration.apply(self, self.estimator_.predict_proba(X)[:, 1])
