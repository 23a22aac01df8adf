"""The baselines the Sauti model must beat: simple rules analysts already use, in a registry by name.

Each baseline is a raw score computed from the cube with data up to the end of each period
(``(locality, period)`` array). In a backtest the raw score is turned into a probability by a
monotone logistic map fitted on the training window only (:class:`PlattScoreClassifier`), so Brier
comparisons are fair while average precision, ROC AUC and hit rates rank by the rule itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from sauti.constants import LOCALITY_DIM, PERIOD_DIM, TARGET_CATEGORY
from sauti.features.temporal import rolling_sum

#: half-life (periods) of the decayed-count baselines
BASELINE_HALF_LIFE = 6


@dataclass(frozen=True)
class BaselineSpec:
    """A baseline: its name, a one-line description and the raw score function."""

    name: str
    description: str
    raw_score: Callable[[xr.Dataset], np.ndarray]
    #: cube variables whose sum at period t is the raw score (None: the rule needs earlier periods
    #: too). A rule with columns can be served as a model and be a member of the Sauti ensemble.
    columns: tuple[str, ...] | None = None


def _var(cube: xr.Dataset, name: str) -> np.ndarray:
    if name not in cube:
        raise ValueError(
            f"the feature cube has no {name!r} variable, which this baseline needs: "
            "rebuild it with `sauti features` (default half-lives include "
            f"{BASELINE_HALF_LIFE})"
        )
    return np.nan_to_num(cube[name].transpose(LOCALITY_DIM, PERIOD_DIM).to_numpy().astype(float))


def _occurred(cube: xr.Dataset) -> np.ndarray:
    return (_var(cube, f"count_{TARGET_CATEGORY}") > 0).astype(float)


def climatology(cube: xr.Dataset) -> np.ndarray:
    """A constant: after calibration, the training window's positive rate everywhere."""
    return np.zeros((cube.sizes[LOCALITY_DIM], cube.sizes[PERIOD_DIM]))


def last_value(cube: xr.Dataset) -> np.ndarray:
    """Intercommunal incidents in the locality in period t (no-change forecast)."""
    return _var(cube, f"count_{TARGET_CATEGORY}")


def historical_average(window: int) -> Callable[[xr.Dataset], np.ndarray]:
    """Share of the last ``window`` periods (t-window+1 … t) with an intercommunal incident."""

    def score(cube: xr.Dataset) -> np.ndarray:
        occurred = _occurred(cube)
        seen = np.minimum(np.arange(1, occurred.shape[1] + 1), window)
        return rolling_sum(occurred, window, np.float64) / seen[None, :]

    score.__doc__ = historical_average.__doc__.replace("``window``", str(window))
    return score


def decayed(variable: str) -> Callable[[xr.Dataset], np.ndarray]:
    """Exponentially decayed count of ``variable`` (half-life :data:`BASELINE_HALF_LIFE`)."""

    def score(cube: xr.Dataset) -> np.ndarray:
        return _var(cube, f"decay_{variable}_hl{BASELINE_HALF_LIFE}")

    return score


def neighbourhood(cube: xr.Dataset) -> np.ndarray:
    """Own decayed intercommunal count plus the mean over contiguous neighbours (spatial lag)."""
    name = f"decay_count_{TARGET_CATEGORY}_hl{BASELINE_HALF_LIFE}"
    return _var(cube, name) + _var(cube, f"splag1_{name}")


_DECAY_I = f"decay_count_{TARGET_CATEGORY}_hl{BASELINE_HALF_LIFE}"
_DECAY_V = f"decay_count_violent_hl{BASELINE_HALF_LIFE}"

BASELINES: dict[str, BaselineSpec] = {
    spec.name: spec
    for spec in (
        BaselineSpec("climatology", "training-window positive rate, the same everywhere", climatology, ()),
        BaselineSpec(
            "last_value",
            "intercommunal incidents in the locality last period",
            last_value,
            (f"count_{TARGET_CATEGORY}",),
        ),
        BaselineSpec(
            "historical_average_12", "share of the last 12 periods with an incident", historical_average(12)
        ),
        BaselineSpec(
            "historical_average_36", "share of the last 36 periods with an incident", historical_average(36)
        ),
        BaselineSpec(
            "decayed_intercommunal",
            f"intercommunal count decayed with a {BASELINE_HALF_LIFE}-period half-life",
            decayed(f"count_{TARGET_CATEGORY}"),
            (_DECAY_I,),
        ),
        BaselineSpec(
            "decayed_violent",
            f"all violent incidents decayed with a {BASELINE_HALF_LIFE}-period half-life",
            decayed("count_violent"),
            (_DECAY_V,),
        ),
        BaselineSpec(
            "neighbourhood",
            "own plus neighbours' mean decayed intercommunal count",
            neighbourhood,
            (_DECAY_I, f"splag1_{_DECAY_I}"),
        ),
    )
}


def baseline_scores(cube: xr.Dataset, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Raw ``(locality, period)`` scores of the named baselines (default: all)."""
    names = list(BASELINES) if names is None else names
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; known: {', '.join(BASELINES)}")
    return {name: np.asarray(BASELINES[name].raw_score(cube), dtype=float) for name in names}
