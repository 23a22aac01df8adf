"""A self-exciting (Hawkes-type) locality model: past incidents raise the risk, with a decay and a
neighbours' influence learned from the data (Mohler et al. 2011, 2015; discrete-time form).

Each row is one locality in one period; its columns are exponentially decayed counts of past incidents
— the locality's own and its neighbours' (spatial lags), at several half-lives. The expected number of
incidents over the target window is the intensity

    λ = μ + Σ_k α_k · x_k,  μ > 0, α_k ≥ 0,

so a past incident adds to the risk and never lowers it, the α over one variable's half-lives form
the learned excitation kernel (a non-negative mixture of exponentials: how fast the effect of an
incident fades), and the α of the spatial-lag columns the learned influence of neighbouring
incidents. The forecast probability is ``P(at least one) = 1 - exp(-λ)`` (Poisson). μ and α are
fitted by penalised maximum likelihood under their bounds (L-BFGS-B). Columns are divided by their
training means before fitting (a positive scaling keeps the bounds' meaning); negative or missing
values read as 0 (counts cannot be negative).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from sauti.models.estimators import _binary_classes, _BinaryMixin

if TYPE_CHECKING:  # pragma: no cover
    from typing import Self

    from numpy.typing import ArrayLike

_FLOOR = 1e-8


class SelfExcitingClassifier(_BinaryMixin, ClassifierMixin, BaseEstimator):
    """P(incident) = 1 - exp(-(μ + Σ α_k x_k)) with μ > 0 and α ≥ 0, by penalised maximum likelihood.

    Parameters
    ----------
    alpha : float
        L2 penalty on the excitation weights (of the mean-scaled columns), per row of training data.

    Attributes
    ----------
    background_ : float
        μ, the expected count of a locality with no past incident in any column.
    excitation_ : ndarray
        α of each column, in the column's own units (expected incidents per unit of the column).
    scale_ : ndarray
        Training mean of each column (the columns are divided by it while fitting).
    """

    def __init__(self, alpha: float = 1e-3) -> None:
        self.alpha = alpha

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Fit μ and α; ``sample_weight`` weighs each row's likelihood (sampled negatives)."""
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64)
        self.classes_ = _binary_classes(self, y)
        target = self._positive(y)
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        Z = _counts(X)
        mean = np.average(Z, axis=0, weights=w) if Z.shape[0] else np.ones(Z.shape[1])
        self.scale_ = np.where(mean > 0, mean, 1.0)
        Z = Z / self.scale_
        rate = float(np.clip(np.average(target, weights=w), 1e-6, 1 - 1e-6)) if target.size else 1e-6
        self.constant_ = (
            None if np.unique(target).size == 2 else (float(target.mean()) if target.size else 0.0)
        )
        start = np.r_[-np.log1p(-rate), np.zeros(Z.shape[1])]
        if self.constant_ is not None:
            params = start
        else:
            result = minimize(
                _objective,
                start,
                args=(Z, target, float(self.alpha), w),
                jac=True,
                method="L-BFGS-B",
                bounds=[(_FLOOR, None)] + [(0.0, None)] * Z.shape[1],
            )
            params = result.x
        self.background_ = float(params[0])
        self.excitation_ = params[1:] / self.scale_
        return self

    def intensity(self, X: ArrayLike) -> np.ndarray:
        """λ of each row: the expected number of incidents over the target window."""
        check_is_fitted(self, "excitation_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        return self._intensity(X)

    def _intensity(self, X: np.ndarray) -> np.ndarray:
        return self.background_ + _counts(X) @ self.excitation_

    def _probability(self, X: np.ndarray) -> np.ndarray:
        return -np.expm1(-self._intensity(X))


def _counts(X: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)


def _objective(
    params: np.ndarray, Z: np.ndarray, y: np.ndarray, alpha: float, w: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Mean (weighted by ``w``) Bernoulli negative log-likelihood of ``1 - exp(-λ)`` plus the L2
    penalty, and its gradient."""
    mu, a = params[0], params[1:]
    lam = np.maximum(mu + Z @ a, _FLOOR)
    # y = 0: -log P(0) = λ;  y = 1: -log(1 - e^-λ)
    nll = np.where(y > 0, -np.log(-np.expm1(-lam)), lam)
    dlam = np.where(y > 0, np.exp(-lam) / np.expm1(-lam), 1.0)  # d/dλ -log(1 - e^-λ) = -e^-λ / (1 - e^-λ)
    if w is None:
        n = max(y.size, 1)
    else:
        n = max(float(w.sum()), _FLOOR)
        nll, dlam = nll * w, dlam * w
    loss = float(np.sum(nll)) / n + alpha * float(a @ a)
    dlam = dlam / n
    grad = np.r_[dlam.sum(), Z.T @ dlam + 2 * alpha * a]
    return loss, grad
