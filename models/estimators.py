"""The Sauti risk model and the small scikit-learn estimators the backtest is built from.

* :class:`PlattScoreClassifier` — turns one raw score column (a baseline's rule) into a calibrated
  probability with a monotone logistic map fitted on the training window only.
* :class:`PeriodSplit` — a cross-validation splitter over whole periods that keeps a gap of
  ``horizon - 1`` periods, so no validation label is known to the training fold.
* :class:`TemporalCalibratedClassifier` — fits a classifier on the head of the training window,
  calibrates it (Platt or isotonic) on the held-out tail, then refits on the whole window.
* :class:`SautiClassifier` — chooses among :data:`CANDIDATES` (regularised logistic regressions
  and gradient-boosted trees) by nested temporal validation inside its training window, then
  calibrates the winner with :class:`TemporalCalibratedClassifier`.

All follow the scikit-learn API (``__init__`` only stores, ``fit`` returns ``self``, learned
attributes end in ``_``, ``random_state`` goes through ``check_random_state``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

_EPS = 1e-6


_CONTROLLER = None


def single_thread():
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


def _fit_platt(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Monotone (non-decreasing) logistic map ``p = sigmoid(a * score + b)`` with ``a >= 0``."""
    prior = float(np.clip(np.mean(y), _EPS, 1 - _EPS))
    if np.unique(y).size < 2 or np.ptp(score) == 0:
        return 0.0, float(_logit(np.array(prior))[()])
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(score.reshape(-1, 1), y)
    slope = float(lr.coef_[0, 0])
    if slope <= 0:  # the score does not rise with risk: fall back to the prior, never invert a rule
        return 0.0, float(_logit(np.array(prior))[()])
    return slope, float(lr.intercept_[0])


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


class PlattScoreClassifier(_BinaryMixin, ClassifierMixin, BaseEstimator):
    """Calibrate one raw score column into a probability (a baseline rule made comparable).

    The raw score ``x`` (for instance last period's intercommunal count) is compressed with
    :func:`signed_log1p` and mapped by ``sigmoid(a * x + b)`` with ``a >= 0``, fitted on the
    training rows only. The map is strictly increasing when ``a > 0``, so the ranking of the rule is
    kept (average precision, ROC AUC and hit rates are those of the rule itself); when the score
    does not rise with risk in training, ``a = 0`` and every row gets the training positive rate.

    Parameters
    ----------
    column : int
        Index of the raw score column in ``X``.
    """

    def __init__(self, column: int = 0) -> None:
        self.column = column

    def fit(self, X, y):
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        self.classes_ = _binary_classes(self, y)
        if not 0 <= self.column < X.shape[1]:
            raise ValueError(f"column={self.column} is out of range for X with {X.shape[1]} column(s)")
        score = np.nan_to_num(signed_log1p(X[:, self.column]))
        self.slope_, self.intercept_ = _fit_platt(score, self._positive(y))
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "slope_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        score = np.nan_to_num(signed_log1p(X[:, self.column]))
        return self._proba_matrix(_sigmoid(self.slope_ * score + self.intercept_))


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

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits

    def split(self, X, y=None, groups=None):
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


def _pipeline(classifier: BaseEstimator) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("compress", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
            ("model", classifier),
        ]
    )


def _logistic(c: float) -> Callable[[int], Pipeline]:
    def build(seed: int) -> Pipeline:
        return _pipeline(LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed))

    return build


def _boosting(depth: int) -> Callable[[int], Pipeline]:
    def build(seed: int) -> Pipeline:
        return _pipeline(
            HistGradientBoostingClassifier(
                max_depth=depth,
                learning_rate=0.05,
                max_iter=150,
                min_samples_leaf=40,
                l2_regularization=1.0,
                early_stopping=False,
                random_state=seed,
            )
        )

    return build


#: The model families the nested validation chooses among (name → builder taking a seed).
CANDIDATES: dict[str, Callable[[int], Pipeline]] = {
    "logistic_C0.01": _logistic(0.01),
    "logistic_C0.1": _logistic(0.1),
    "logistic_C1": _logistic(1.0),
    "boosting_depth2": _boosting(2),
    "boosting_depth3": _boosting(3),
}


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

    def fit(self, X, y, periods=None):
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        self.classes_ = _binary_classes(self, y)
        if self.method not in ("sigmoid", "isotonic"):
            raise ValueError(f"method must be 'sigmoid' or 'isotonic', got {self.method!r}")
        base = self.estimator if self.estimator is not None else LogisticRegression()
        target = self._positive(y)
        periods = np.arange(len(y)) if periods is None else np.asarray(periods)
        folds = _time_folds(X, target, periods, self.n_splits, self.horizon - 1, self.validation_periods)
        scores, labels = _out_of_fold(lambda: clone(base), X, target, folds)
        if np.unique(target).size == 2:
            self.estimator_ = clone(base).fit(X, target)
            fitted = _logit(self.estimator_.predict_proba(X)[:, 1])
        else:
            self.estimator_ = None
            self.constant_ = float(target.mean()) if target.size else 0.0
            fitted = np.array([])
        _Calibration.fit(self, self.method, scores, labels, fitted, target if fitted.size else np.array([]))
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        if self.estimator_ is None:
            return self._proba_matrix(np.full(X.shape[0], self.constant_))
        return self._proba_matrix(_Calibration.apply(self, self.estimator_.predict_proba(X)[:, 1]))


class SautiClassifier(_BinaryMixin, ClassifierMixin, BaseEstimator):
    """The Sauti risk model: nested temporal model selection, then temporal calibration.

    ``fit`` runs every candidate in ``candidates`` over the same :class:`PeriodSplit` folds of its
    own training window (rows' periods given by ``periods``; the folds validate on the latest
    ``n_splits * validation_periods`` periods), keeps the one with the best mean average precision,
    calibrates it on its own out-of-fold scores (Platt on the logit, or isotonic) and refits it on
    the whole window. Nothing outside the rows passed to ``fit`` is ever seen, so inside a backtest
    the test period is never used for tuning or calibration.

    Parameters
    ----------
    candidates : tuple of str, optional
        Names from :data:`CANDIDATES` (default: all). With one name no choice is made, but its
        folds still calibrate it.
    n_splits : int
        Inner validation folds.
    validation_periods : int or None
        Periods per inner validation block (default 12: the last three years of a monthly window
        validate). ``None`` cuts the window into equal blocks.
    horizon : int
        Target window; the inner folds keep a ``horizon - 1`` gap.
    calibration : {"sigmoid", "isotonic"}
        Calibration map (sigmoid keeps the ranking).
    random_state : int, RandomState or None
        Seed for the tree models.

    Attributes
    ----------
    best_candidate_ : str
    cv_scores_ : dict
        Mean inner-validation average precision per candidate (NaN without a usable fold).
    estimator_ : Pipeline
        The chosen candidate refitted on the whole window.
    calibration_ : str
        ``"out-of-fold"``, ``"in-sample"`` (no usable fold) or ``"none"``.
    feature_medians_ : ndarray
        Training medians, the reference for per-prediction contributions.
    """

    def __init__(
        self,
        candidates: tuple[str, ...] | None = None,
        n_splits: int = 3,
        validation_periods: int | None = 12,
        horizon: int = 1,
        calibration: str = "sigmoid",
        random_state=None,
    ) -> None:
        self.candidates = candidates
        self.n_splits = n_splits
        self.validation_periods = validation_periods
        self.horizon = horizon
        self.calibration = calibration
        self.random_state = random_state

    def fit(self, X, y, periods=None):
        with single_thread():
            return self._fit(X, y, periods)

    def _fit(self, X, y, periods):
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        self.classes_ = _binary_classes(self, y)
        names = tuple(self.candidates) if self.candidates else tuple(CANDIDATES)
        unknown = [n for n in names if n not in CANDIDATES]
        if unknown:
            raise ValueError(f"unknown candidate(s) {unknown}; known: {', '.join(CANDIDATES)}")
        if self.calibration not in ("sigmoid", "isotonic"):
            raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', got {self.calibration!r}")
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        target = self._positive(y)
        periods = np.arange(len(y)) if periods is None else np.asarray(periods)
        folds = _time_folds(X, target, periods, self.n_splits, self.horizon - 1, self.validation_periods)
        self.cv_scores_ = {}
        out_of_fold = {}
        for name in names:
            scores, labels = _out_of_fold(lambda name=name: CANDIDATES[name](seed), X, target, folds)
            out_of_fold[name] = (scores, labels)
            per_fold, start = [], 0
            for _, va in folds:
                stop = start + va.size
                per_fold.append(average_precision_score(labels[start:stop], scores[start:stop]))
                start = stop
            self.cv_scores_[name] = float(np.mean(per_fold)) if per_fold else float("nan")
        valid = {k: v for k, v in self.cv_scores_.items() if np.isfinite(v)}
        self.best_candidate_ = max(valid, key=valid.get) if valid else names[0]
        if np.unique(target).size == 2:
            self.estimator_ = CANDIDATES[self.best_candidate_](seed).fit(X, target)
            fitted = _logit(self.estimator_.predict_proba(X)[:, 1])
            fitted_labels = target
        else:
            self.estimator_ = None
            self.constant_ = float(target.mean()) if target.size else 0.0
            fitted, fitted_labels = np.array([]), np.array([])
        _Calibration.fit(self, self.calibration, *out_of_fold[self.best_candidate_], fitted, fitted_labels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column has no median
            medians = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
        self.feature_medians_ = np.nan_to_num(medians)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        if self.estimator_ is None:
            return self._proba_matrix(np.full(X.shape[0], self.constant_))
        with single_thread():
            raw = self.estimator_.predict_proba(X)[:, 1]
        return self._proba_matrix(_Calibration.apply(self, raw))
