"""Turn the feature cube into the long (locality, period) table the estimators train on.

Rows are ordered by period, then locality, so "the last rows" of a training table are its latest
periods (the temporal calibration hold-out relies on it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD, PERIOD_DIM

# variables that carry alert information (left out of incident-only runs)
ALERT_MARKER = "alerts_"
# variables derived from recorded responses (patrols…): used only when the cube is marked
# ``with_responses`` (sauti.features.responses.add_response_features), never by train/score
RESPONSE_MARKER = "responses_"


def model_features(cube: xr.Dataset, *, use_alerts: bool = True) -> list[str]:
    """Names of the cube variables the Sauti model uses, in a stable order.

    Every numeric variable on ``(locality, period)``, ``(locality,)`` or ``(period,)`` is a feature
    (the cube only holds values known at the end of each period). With ``use_alerts=False`` every
    variable derived from alerts (name containing ``alerts_``) is left out, which is how headline
    skill is measured on real incident data only.
    """
    from sauti.features import feature_names  # the features layer's own list (a broken import fails)

    names = list(feature_names(cube))
    allowed = {(LOCALITY_DIM, PERIOD_DIM), (PERIOD_DIM, LOCALITY_DIM), (LOCALITY_DIM,), (PERIOD_DIM,)}
    out = []
    for name in names:
        if name not in cube.data_vars:
            continue
        var = cube[name]
        if tuple(var.dims) not in allowed or not np.issubdtype(var.dtype, np.number):
            continue
        if not use_alerts and ALERT_MARKER in name:
            continue
        if RESPONSE_MARKER in name and not cube.attrs.get("with_responses"):
            continue  # responses only in a backtest that asked for them (docs/models.md, issue 19)
        out.append(name)
    if not out:
        raise ValueError("the feature cube has no numeric (locality, period) variables to model with")
    return out


def variable_matrix(cube: xr.Dataset, name: str) -> np.ndarray:
    """A cube variable as a float ``(locality, period)`` array (static / seasonal ones broadcast)."""
    var = cube[name]
    n_loc, n_per = cube.sizes[LOCALITY_DIM], cube.sizes[PERIOD_DIM]
    if var.dims == (PERIOD_DIM, LOCALITY_DIM):
        var = var.transpose(LOCALITY_DIM, PERIOD_DIM)
    values = var.to_numpy().astype(float)
    if var.dims == (LOCALITY_DIM,):
        return np.broadcast_to(values[:, None], (n_loc, n_per))
    if var.dims == (PERIOD_DIM,):
        return np.broadcast_to(values[None, :], (n_loc, n_per))
    return values


def panel_frame(
    cube: xr.Dataset, variables: list[str], extra: dict[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """Long table: ``locality_id``, ``period``, ``period_index`` then one column per variable.

    Parameters
    ----------
    cube : xarray.Dataset
        The feature cube.
    variables : list of str
        Cube variables to include.
    extra : dict, optional
        More ``(locality, period)`` arrays to add as columns (targets, baseline scores).
    """
    n_loc, n_per = cube.sizes[LOCALITY_DIM], cube.sizes[PERIOD_DIM]
    columns: dict[str, np.ndarray] = {
        LOCALITY_ID: np.tile(cube[LOCALITY_DIM].to_numpy().astype(str), n_per),
        PERIOD: np.repeat(pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy()).to_numpy(), n_loc),
        "period_index": np.repeat(np.arange(n_per), n_loc),
    }
    for name in variables:
        columns[name] = variable_matrix(cube, name).T.ravel()
    for name, values in (extra or {}).items():
        columns[name] = np.asarray(values, dtype=float).T.ravel()
    return pd.DataFrame(columns)
