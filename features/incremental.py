"""A cube brought up to date without rebuilding it: new alerts in the last period added in place.

Also :func:`changed_localities`, the units whose latest values differ between two cubes, so a
nowcast recomputes drivers only where something moved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from sauti.constants import LOCALITY_DIM, PERIOD_DIM
from sauti.features.compute import _alerts_on_units, _capital, _events, _population, cube_end
from sauti.features.cube import build_cube
from sauti.features.periods import check_freq
from sauti.features.provenance import CubeInputs, provenance, stamp_runs
from sauti.features.storage import cube_path, stage_cube_update
from sauti.features.units import country_outline, unit_localities

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace


def update_features(
    workspace: Workspace,
    previous: xr.Dataset,
    *,
    freq: str,
    unit: str,
    inputs: CubeInputs | None = None,
    incidents: pd.DataFrame | None = None,
) -> tuple[xr.Dataset, list[str]] | None:
    """``previous`` with the alerts received since it was built added, without rebuilding the cube.

    Every alert-derived variable is linear in the alert counts and causal, so alerts that fall in
    the cube's last period change only that period's column, by what a one-period cube built from
    those alerts alone holds. Returns ``(cube, changed locality ids)``: ``previous`` updated in
    place (values, provenance and snapshot as a full build gives them; tested equal to
    :func:`compute_features`) — or, when ``previous`` is read lazily from the stored cube, a new
    version of the store staged with only the chunks holding the changed units' last period
    rewritten (:func:`~sauti.features.storage.stage_cube_update`; swapped in by
    :func:`~sauti.features.storage.commit_cube`), read lazily — and the units whose values moved
    (the alerts' units and, through the spatial lags, those around them); or ``None`` when this
    shortcut does not apply (incidents, boundaries or inputs changed, an alert was edited or falls
    in an earlier period, nothing new): then build the cube in full.
    """
    freq = check_freq(freq)
    inputs = inputs or CubeInputs()
    params, timezone = inputs.params, inputs.timezone
    info = provenance(previous)
    end = cube_end(workspace, freq)
    if info.get("until") is not None or info.get("last_day") != end or info.get("timezone") != timezone:
        return None
    if info.get("params") != params.to_dict():
        return None
    incidents, alerts, decisions = _events(workspace, end, freq, timezone, incidents)
    new = _new_alerts(info, incidents, alerts, decisions)
    if new is None or new.empty:
        return None
    last = pd.Timestamp(previous[PERIOD_DIM].to_numpy()[-1])
    days = pd.DatetimeIndex(new["received_at"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize())
    if (days < last).any():
        return None
    stored = workspace.localities()
    units = unit_localities(workspace, unit, stored=stored)
    placed = _alerts_on_units(stored, new, units)
    # the full build's static inputs, so its cached covariates are reused rather than recomputed
    delta = build_cube(
        incidents.iloc[:0],
        placed,
        units,
        freq=freq,
        params=params,
        population=_population(inputs.population),
        capital=_capital(stored, params),
        outline=country_outline(workspace, stored)[0],
        start=last,
        end=end,
        unit=unit,
        timezone=timezone,
    )
    steps = {
        str(name): var.to_numpy()[:, 0]
        for name, var in delta.data_vars.items()
        if "alerts_" in str(name) and var.dims == (LOCALITY_DIM, PERIOD_DIM)
    }
    changed = np.zeros(previous.sizes[LOCALITY_DIM], dtype=bool)
    for step in steps.values():
        changed |= step != 0
    ids = previous[LOCALITY_DIM].to_numpy().astype(str)[changed].tolist()
    if previous.encoding.get("version") is not None:  # read lazily from the store: update the store
        stamped = xr.Dataset(attrs=dict(previous.attrs))
        stamp_runs(stamped, workspace, incidents, alerts, decisions, unit)
        additions = {
            name: (np.flatnonzero(step), step[step != 0]) for name, step in steps.items() if step.any()
        }
        path = cube_path(workspace, freq=freq, unit=unit)
        return stage_cube_update(previous, path, additions, dict(stamped.attrs)), ids
    cube = previous  # updated in place: copying a country-wide grid cube would cost more than the update
    for name, step in steps.items():
        column = cube[name].to_numpy()
        column[:, -1] = column[:, -1] + step.astype(column.dtype)
    stamp_runs(cube, workspace, incidents, alerts, decisions, unit)
    return cube, ids


def _new_alerts(info: dict, incidents, alerts, decisions) -> pd.DataFrame | None:
    """Alerts added since the cube ``info`` describes; ``None`` when anything else changed."""
    known = info.get("alerts") or {}
    if int(len(incidents)) != info.get("incidents"):
        return None
    if known.get("last_updated"):
        since = pd.Timestamp(known["last_updated"])
        changed = alerts[pd.to_datetime(alerts["updated_at"], utc=True) > since]
        created = pd.to_datetime(changed["created_at"], utc=True) > since
    else:  # the cube had no alerts: every alert is new
        changed, created = alerts, pd.Series(True, index=alerts.index)
    if not created.all() or len(alerts) - len(changed) != known.get("count"):
        return None  # an earlier alert was edited (verified, relocated) or removed
    if len(decisions) != known.get("verification_decisions", 0) + int(
        (changed["verification"] != "unverified").sum()
    ):
        return None
    return changed


def changed_localities(previous: xr.Dataset | None, cube: xr.Dataset) -> list[str] | None:
    """Localities whose latest-period values differ between two cubes of the same shape.

    ``None`` when they cannot be compared (no previous cube, other localities or periods): then
    everything may have changed. A new alert changes its unit and, through the spatial lags, the
    units around it; only those need new drivers.
    """
    same = (
        previous is not None
        and previous.sizes == cube.sizes
        and np.array_equal(previous[LOCALITY_DIM].to_numpy(), cube[LOCALITY_DIM].to_numpy())
        and np.array_equal(previous[PERIOD_DIM].to_numpy(), cube[PERIOD_DIM].to_numpy())
        and list(previous.data_vars) == list(cube.data_vars)
    )
    if not same:
        return None
    differs = np.zeros(cube.sizes[LOCALITY_DIM], dtype=bool)
    for name, var in cube.data_vars.items():
        if var.dims != (LOCALITY_DIM, PERIOD_DIM):
            continue  # only the latest period is read (a lazy cube reads no other chunks)
        new = var.isel({PERIOD_DIM: -1}).to_numpy()
        old = previous[name].isel({PERIOD_DIM: -1}).to_numpy()
        differs |= ~((new == old) | (np.isnan(new) & np.isnan(old)))
    return cube[LOCALITY_DIM].to_numpy().astype(str)[differs].tolist()
