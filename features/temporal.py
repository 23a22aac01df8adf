"""Temporal summaries along the period axis: decayed sums, rolling sums, time since, trend.

Each works on a whole ``(locality, period)`` array at once and is causal: the value at period
``t`` depends only on periods ``<= t`` (periods before the first one count as zero).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.signal import lfilter

from sauti.constants import INCIDENT_CATEGORIES

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import DTypeLike

    from sauti.features.params import FeatureParams


def decayed_sum(values: np.ndarray, half_life: float, dtype: DTypeLike = np.float32) -> np.ndarray:
    """``D[t] = x[t] + a * D[t-1]`` with ``a = 0.5 ** (1 / half_life)`` (a recursive filter).

    An event ``half_life`` periods ago weighs half an event now.
    """
    a = 0.5 ** (1.0 / float(half_life))
    return lfilter([1.0], [1.0, -a], np.asarray(values, dtype=np.float64), axis=1).astype(dtype, copy=False)


def rolling_sum(values: np.ndarray, window: int, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Sum over the last ``window`` periods, ``t`` included."""
    window = int(window)
    csum = np.cumsum(np.asarray(values, dtype=np.float64), axis=1)
    out = csum.copy()
    if window < csum.shape[1]:
        out[:, window:] -= csum[:, :-window]
    return out.astype(dtype, copy=False)


def periods_since(values: np.ndarray, cap: int) -> np.ndarray:
    """Periods since the last period with ``values > 0`` (0 when it is ``t``), at most ``cap``."""
    n_loc, n_per = values.shape
    steps = np.arange(n_per, dtype=np.int32)
    last = np.where(values > 0, steps[None, :], np.int32(-1))
    np.maximum.accumulate(last, axis=1, out=last)
    since = np.where(last >= 0, steps[None, :] - last, cap)
    return np.minimum(since, cap).astype(np.int32, copy=False)


def trend(values: np.ndarray, short: int, long: int, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Mean over the last ``short`` periods minus the mean over the last ``long`` periods."""
    return (
        rolling_sum(values, short, np.float64) / short - rolling_sum(values, long, np.float64) / long
    ).astype(dtype, copy=False)


def temporal_summaries(counts: dict[str, np.ndarray], params: FeatureParams) -> dict[str, np.ndarray]:
    """Decayed sums and trailing windows (the history the spatial lags average), then periods since
    the last incident of each category and trends, of the counts of ``FeatureParams`` ``params``."""
    dtype = np.dtype(params.dtype)
    out: dict[str, np.ndarray] = {}
    for var in params.history_variables:
        for h in params.half_lives:
            out[f"decay_{var}_hl{h:g}"] = decayed_sum(counts[var], h, dtype)
    for w in params.windows:
        for var in params.history_variables:
            out[f"roll{int(w)}_{var}"] = rolling_sum(counts[var], w, dtype)
    for cat in INCIDENT_CATEGORIES:
        out[f"since_{cat}"] = periods_since(counts[f"count_{cat}"], params.since_cap)
    for var in params.history_variables:
        out[f"trend_{var}"] = trend(counts[var], *params.trend, dtype=dtype)
    return out


def history_names(params: FeatureParams) -> list[str]:
    """The summaries of :func:`temporal_summaries` that get spatial lags (decays, windows), in order."""
    names = [f"decay_{var}_hl{h:g}" for var in params.history_variables for h in params.half_lives]
    return names + [f"roll{int(w)}_{var}" for w in params.windows for var in params.history_variables]
