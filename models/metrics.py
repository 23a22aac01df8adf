"""Forecast metrics by name (a registry, like views-evaluation's ``METRIC_CATALOG``) and the
reliability curve and block bootstrap used to put confidence intervals on them.

Every metric is computed on *pooled* forecasts (all origins together): late origins in the CAR
data have no positives at all, where per-origin average precision is undefined. A metric that
needs both classes returns NaN when the pool has only one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: share of localities (hit rate) and of area (PAI) the top-ranked set covers
TOP_SHARE = 0.10


@dataclass(frozen=True)
class Forecasts:
    """Pooled forecasts of one model: outcome, probability, origin group, locality area."""

    observed: np.ndarray
    probability: np.ndarray
    group: np.ndarray
    area: np.ndarray
    reference: np.ndarray | None = None  # climatology probabilities for skill scores

    @cached_property
    def score_rank(self) -> np.ndarray:
        """Index of each row's distinct score, highest first (sorted once; bootstrap replicates reuse it)."""
        return np.unique(-self.probability, return_inverse=True)[1]

    @cached_property
    def row_group(self) -> np.ndarray:
        """Index of each row's origin group among the sorted unique groups."""
        return np.unique(self.group, return_inverse=True)[1]


@dataclass(frozen=True)
class MetricSpec:
    """A metric: name, description, whether higher is better, and how to compute it.

    ``func(forecasts, weights)`` gives the value (``weights`` are row weights, used by the
    bootstrap); ``per_group``, when set, gives per-origin numerator and denominator so a
    bootstrap replicate is ``scale * sum(w * num) / sum(w * den)`` without recomputation.
    """

    name: str
    description: str
    higher_is_better: bool
    func: Callable[[Forecasts, np.ndarray | None], float]
    per_group: Callable[[Forecasts], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
    scale: float = 1.0


def _two_classes(y: np.ndarray, w: np.ndarray | None) -> bool:
    mask = np.ones(len(y), bool) if w is None else w > 0
    return np.unique(y[mask]).size == 2


def _score_groups(f: Forecasts, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per distinct score, highest score first."""
    weight = np.ones(len(f.observed)) if w is None else np.asarray(w, dtype=float)
    inverse = f.score_rank
    pos = np.bincount(inverse, weights=weight * f.observed)
    neg = np.bincount(inverse, weights=weight * (1.0 - f.observed))
    return pos, neg


def average_precision(f: Forecasts, w: np.ndarray | None = None) -> float:
    """Step-wise area under the precision-recall curve (scikit-learn's definition, ties grouped)."""
    if not _two_classes(f.observed, w):
        return float("nan")
    pos, neg = _score_groups(f, w)
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    precision = tp / np.maximum(tp + fp, 1e-300)
    return float(np.sum(pos / tp[-1] * precision))


def roc_auc(f: Forecasts, w: np.ndarray | None = None) -> float:
    """Probability that a positive outranks a negative (ties count one half)."""
    if not _two_classes(f.observed, w):
        return float("nan")
    pos, neg = _score_groups(f, w)
    neg_below = neg.sum() - np.cumsum(neg)  # negatives with a strictly lower score
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (pos.sum() * neg.sum()))


def brier(f: Forecasts, w: np.ndarray | None = None) -> float:
    if len(f.observed) == 0:
        return float("nan")
    return float(np.average((f.probability - f.observed) ** 2, weights=w))


def brier_skill(f: Forecasts, w: np.ndarray | None = None) -> float:
    """``1 - Brier / Brier(climatology)``: above 0 beats the training positive rate."""
    if f.reference is None:
        return float("nan")
    ref = float(np.average((f.reference - f.observed) ** 2, weights=w)) if len(f.observed) else np.nan
    if not ref > 0:
        return float("nan")
    return 1.0 - brier(f, w) / ref


def log_loss(f: Forecasts, w: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of the outcomes (ignorance score, nats); lower is better."""
    if len(f.observed) == 0:
        return float("nan")
    p = np.clip(f.probability, 1e-15, 1 - 1e-15)
    loss = -(f.observed * np.log(p) + (1 - f.observed) * np.log1p(-p))
    return float(np.average(loss, weights=w))


def captured_share(score: np.ndarray, positives: np.ndarray, weight: np.ndarray, share: float) -> float:
    """Positives captured by the highest-scored units whose weight adds up to ``share`` of the total.

    Ties are split fairly: a group of equal scores straddling the budget contributes the fraction
    of its weight that fits (the expected capture under random tie-breaking). The unit at the edge
    is likewise counted in part, so the budget is met exactly.
    """
    if len(score) == 0:
        return 0.0
    budget = share * float(np.sum(weight))
    values, inverse = np.unique(-score, return_inverse=True)  # ascending -score = descending score
    group_weight = np.bincount(inverse, weights=weight, minlength=values.size)
    group_pos = np.bincount(inverse, weights=positives, minlength=values.size)
    before = np.concatenate([[0.0], np.cumsum(group_weight)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(group_weight > 0, np.clip((budget - before) / group_weight, 0.0, 1.0), 0.0)
    return float(np.sum(fraction * group_pos))


def _per_group_capture(f: Forecasts, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    groups, inverse = np.unique(f.group, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(groups.size + 1))
    captured = np.zeros(groups.size)
    positives = np.zeros(groups.size)
    for g in range(groups.size):
        idx = order[bounds[g] : bounds[g + 1]]
        captured[g] = captured_share(f.probability[idx], f.observed[idx], weight[idx], TOP_SHARE)
        positives[g] = f.observed[idx].sum()
    return groups, captured, positives


def _hit_groups(f: Forecasts):
    return _per_group_capture(f, np.ones(len(f.observed)))


def _pai_groups(f: Forecasts):
    return _per_group_capture(f, np.nan_to_num(f.area, nan=0.0))


def _from_groups(per_group, scale: float):
    def metric(f: Forecasts, w: np.ndarray | None = None) -> float:
        groups, num, den = per_group(f)
        if w is not None:
            # row weights are constant within an origin in the bootstrap: take each group's weight
            gw = np.zeros(groups.size)
            idx = np.searchsorted(groups, f.group)
            np.maximum.at(gw, idx, w)
            num, den = num * gw, den * gw
        total = den.sum()
        return float(scale * num.sum() / total) if total > 0 else float("nan")

    return metric


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "average_precision", "area under the precision-recall curve (pooled)", True, average_precision
        ),
        MetricSpec("roc_auc", "area under the ROC curve (pooled)", True, roc_auc),
        MetricSpec("brier", "mean squared error of the probability", False, brier),
        MetricSpec("log_loss", "mean negative log-likelihood (ignorance score, nats)", False, log_loss),
        MetricSpec("brier_skill", "1 - Brier / Brier of climatology", True, brier_skill),
        MetricSpec(
            "hit_rate_top10",
            "share of positives in the 10% highest-ranked localities of their origin",
            True,
            _from_groups(_hit_groups, 1.0),
            per_group=_hit_groups,
        ),
        MetricSpec(
            "pai_top10",
            "predictive accuracy index: share of positives in the top-ranked 10% of area / 0.10",
            True,
            _from_groups(_pai_groups, 1.0 / TOP_SHARE),
            per_group=_pai_groups,
            scale=1.0 / TOP_SHARE,
        ),
    )
}


def compute_metrics(f: Forecasts, names: list[str] | None = None) -> dict[str, float]:
    """The named metrics (default: all registered) of pooled forecasts."""
    names = list(METRICS) if names is None else names
    return {name: METRICS[name].func(f, None) for name in names}


def reliability_curve(observed: np.ndarray, probability: np.ndarray, n_bins: int = 10) -> list[dict]:
    """Observed frequency against mean forecast probability in bins of equal count.

    Returns a list of ``{"mean_probability", "observed_rate", "count"}`` (bins with ties merged).
    """
    if len(observed) == 0:
        return []
    edges = np.unique(np.quantile(probability, np.linspace(0, 1, n_bins + 1)))
    if edges.size < 2:
        edges = np.array([probability.min(), probability.max() + 1e-12])
    which = np.clip(np.searchsorted(edges, probability, side="right") - 1, 0, edges.size - 2)
    out = []
    for b in range(edges.size - 1):
        mask = which == b
        if mask.any():
            out.append(
                {
                    "mean_probability": float(probability[mask].mean()),
                    "observed_rate": float(observed[mask].mean()),
                    "count": int(mask.sum()),
                }
            )
    return out


def block_bootstrap_weights(n_groups: int, n_boot: int, block_length: int, seed: int) -> np.ndarray:
    """Moving-block bootstrap over consecutive origins: ``(n_boot, n_groups)`` multiplicities.

    Each replicate strings together random blocks of ``block_length`` consecutive origins until it
    has ``n_groups`` origins, which keeps the dependence between neighbouring origins.
    """
    rng = np.random.default_rng(seed)
    block_length = max(1, min(block_length, n_groups))
    n_blocks = int(np.ceil(n_groups / block_length))
    starts = rng.integers(0, n_groups - block_length + 1, size=(n_boot, n_blocks))
    picks = (starts[:, :, None] + np.arange(block_length)[None, None, :]).reshape(n_boot, -1)[:, :n_groups]
    weights = np.zeros((n_boot, n_groups))
    for b in range(n_boot):
        weights[b] = np.bincount(picks[b], minlength=n_groups)
    return weights


def bootstrap_values(forecasts: Forecasts, group_weights: np.ndarray, name: str) -> np.ndarray:
    """One value of metric ``name`` per bootstrap replicate (NaN where undefined).

    ``group_weights`` come from :func:`block_bootstrap_weights` over the sorted unique groups; two
    models' values for the same weights are paired (same resampled origins).
    """
    spec = METRICS[name]
    row_group = forecasts.row_group
    if spec.per_group is not None:
        _, num, den = spec.per_group(forecasts)
        totals = group_weights @ den
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, spec.scale * (group_weights @ num) / totals, np.nan)
    return np.array(
        [spec.func(forecasts, group_weights[b][row_group]) for b in range(group_weights.shape[0])]
    )


def percentile_interval(values: np.ndarray, level: float = 0.90) -> dict[str, float]:
    """``{"low", "high", "n"}``: the central ``level`` interval of the finite values."""
    alpha = (1.0 - level) / 2.0
    finite = values[np.isfinite(values)]
    return {
        "low": float(np.quantile(finite, alpha)) if finite.size else float("nan"),
        "high": float(np.quantile(finite, 1 - alpha)) if finite.size else float("nan"),
        "n": int(finite.size),
    }


def bootstrap_intervals(
    forecasts: Forecasts,
    group_weights: np.ndarray,
    names: list[str] | None = None,
    level: float = 0.90,
) -> dict[str, dict[str, float]]:
    """Percentile confidence intervals of each metric over bootstrap replicates of origins.

    Returns ``{metric: {"low": .., "high": .., "n": replicates with a value}}``.
    """
    names = list(METRICS) if names is None else names
    return {
        name: percentile_interval(bootstrap_values(forecasts, group_weights, name), level) for name in names
    }
