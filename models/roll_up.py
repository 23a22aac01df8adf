"""Risk of a region from its localities' risks: the probability of at least one incident in it.

With locality probabilities ``p_i`` (taken as independent), the region's risk is
``1 − Π(1 − p_i)``. ``GET /localities?level=admin1`` and the map show it for first-level units.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def region_risk(probabilities: Mapping[str, float], regions: Mapping[str, str | None]) -> dict[str, float]:
    """``region -> 1 − Π(1 − p_i)`` over the localities of each region.

    >>> region_risk({"a": 0.5, "b": 0.5, "c": 0.1}, {"a": "R1", "b": "R1", "c": "R2"})
    {'R1': 0.75, 'R2': 0.1}
    """
    frame = pd.DataFrame({"p": pd.Series(probabilities, dtype=float)})
    frame["region"] = pd.Series(regions).reindex(frame.index)
    frame = frame.dropna()
    if frame.empty:
        return {}
    # sum of log(1 - p) is exact for tiny p, where a product of many (1 - p) would lose precision
    none = frame.assign(log_none=np.log1p(-frame["p"].clip(upper=1.0))).groupby("region")["log_none"].sum()
    return {str(k): round(float(-np.expm1(v)), 12) for k, v in none.items()}
