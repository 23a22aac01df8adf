"""The forecast target: at least one intercommunal incident in the locality within the next ``h`` periods.

Built from the cube's ``count_intercommunal``; a (locality, period) whose target window runs past the
cube's last period is *unobserved* (NaN) and is never used for training or evaluation.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sauti.constants import LOCALITY_DIM, PERIOD_DIM, TARGET_CATEGORY


def make_target(cube: xr.Dataset, horizon: int = 1, *, category: str = TARGET_CATEGORY) -> xr.DataArray:
    """Whether any ``category`` incident happens in periods ``t+1 … t+horizon``.

    Parameters
    ----------
    cube : xarray.Dataset
        Feature cube with ``count_<category>`` on dims ``(locality, period)``; periods contiguous.
    horizon : int
        Number of periods ahead the target window covers (``>= 1``).
    category : str
        Incident category counted (default ``intercommunal``).

    Returns
    -------
    xarray.DataArray
        Float 1.0/0.0 on ``(locality, period)``; NaN where ``t + horizon`` is past the last period.

    Examples
    --------
    >>> # counts 0, 2, 0, 0 → h=1 target 1, 0, 0, NaN; h=2 target 1, 0, NaN, NaN
    """
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a whole number of periods >= 1, got {horizon!r}")
    horizon = int(horizon)
    name = f"count_{category}"
    if name not in cube:
        raise ValueError(f"the feature cube has no {name!r} variable: rebuild it with `sauti features`")
    counts = cube[name].transpose(LOCALITY_DIM, PERIOD_DIM).to_numpy().astype(float)
    occurred = (np.nan_to_num(counts) > 0).astype(float)
    n_periods = occurred.shape[1]
    target = np.full(occurred.shape, np.nan)
    if n_periods > horizon:
        window = np.zeros((occurred.shape[0], n_periods - horizon))
        for k in range(1, horizon + 1):
            window = np.maximum(window, occurred[:, k : n_periods - horizon + k])
        target[:, : n_periods - horizon] = window
    return xr.DataArray(
        target,
        dims=(LOCALITY_DIM, PERIOD_DIM),
        coords={LOCALITY_DIM: cube[LOCALITY_DIM], PERIOD_DIM: cube[PERIOD_DIM]},
        name=f"target_{category}_h{horizon}",
        attrs={"horizon": horizon, "category": category},
    )


def lead_occurrence(cube: xr.Dataset, lead: int, *, category: str = TARGET_CATEGORY) -> np.ndarray:
    """Whether a ``category`` incident happens in period ``t + lead`` exactly (NaN past the end).

    Used to break an ``h``-period forecast down by lead time (skill by horizon).
    """
    counts = cube[f"count_{category}"].transpose(LOCALITY_DIM, PERIOD_DIM).to_numpy().astype(float)
    occurred = (np.nan_to_num(counts) > 0).astype(float)
    out = np.full(occurred.shape, np.nan)
    if occurred.shape[1] > lead:
        out[:, :-lead] = occurred[:, lead:]
    return out
