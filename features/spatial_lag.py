"""Spatial lags of whole ``(locality, period)`` arrays through a row-standardised libpysal graph.

``splag1_x`` is the mean of ``x`` over first-order neighbours, ``splag2_x`` over second-order
neighbours (neighbours of neighbours, excluding first-order ones and the unit itself); a unit with
no second-order neighbour gets 0. One sparse product per variable covers every period.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from libpysal.graph import Graph
    from numpy.typing import DTypeLike


def check_graph_order(graph: Graph, ids: np.ndarray) -> None:
    """Raise ``ValueError`` unless the graph's ids are exactly ``ids`` in the same order."""
    graph_ids = np.asarray(graph.unique_ids).astype(str)
    if len(graph_ids) != len(ids) or not np.array_equal(graph_ids, np.asarray(ids).astype(str)):
        raise ValueError(
            "the graph's ids do not match the localities (same ids, same order); "
            "build it with build_graph(localities, params)"
        )


def spatial_lag(weights: Graph, values: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """``weights.lag(values)`` for a ``(locality, period)`` array (``weights`` row-standardised)."""
    return np.asarray(weights.lag(np.asarray(values, dtype=np.float64)), dtype=dtype)


def spatial_lags(
    first: Graph, second: Graph, variables: dict[str, np.ndarray], dtype: DTypeLike = np.float32
) -> dict[str, np.ndarray]:
    """``splag1_<name>`` and ``splag2_<name>`` for every array in ``variables``."""
    out: dict[str, np.ndarray] = {}
    for name, values in variables.items():
        out[f"splag1_{name}"] = spatial_lag(first, values, dtype)
    for name, values in variables.items():
        out[f"splag2_{name}"] = spatial_lag(second, values, dtype)
    return out
