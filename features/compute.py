"""Build the cube from a workspace's store and save it there; load the stored one (or build it).

Every input is a parameter (:class:`~sauti.features.provenance.CubeInputs`, resolved from
settings at the CLI/app/pipeline edges); nothing is remembered between runs. A big cube is built
and written block by block (:mod:`sauti.features.blocks`) on the current Dask scheduler (local
threads, or the cluster of ``SAUTI_DASK_SCHEDULER``) and returned backed by its Zarr store.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import shapely
import xarray as xr

from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD_DIM
from sauti.errors import NotReadyError
from sauti.features.assign import CONTAINED_IN
from sauti.features.blocks import block_progress, block_size
from sauti.features.counts import verification_as_of_receipt
from sauti.features.cube import Progress, build_cube
from sauti.features.exposure import find_capital
from sauti.features.params import FeatureParams
from sauti.features.periods import check_freq, period_end, period_range
from sauti.features.provenance import CubeInputs, stamp_inputs, stamp_runs
from sauti.features.storage import cube_path, load_cube, read_cube, save_cube
from sauti.features.units import country_outline, parse_unit, stored_level, unit_localities
from sauti.ingest.currency import data_through
from sauti.progress import peak_memory_gb

if TYPE_CHECKING:  # pragma: no cover
    from sauti.features.periods import DateLike
    from sauti.store import Workspace

log = logging.getLogger(__name__)

#: cubes up to this many cells (localities × periods) are returned in memory; bigger ones lazily
IN_MEMORY_CELLS = 2_000_000


def _population(population: str | Path | None) -> Path | None:
    """The raster as an absolute path (``None`` stays ``None``); a missing file is an error."""
    if population is None:
        return None
    path = Path(population).absolute()
    if not path.exists():
        raise ValueError(f"population raster {path} not found; pass an existing --population file")
    return path


def cube_end(workspace: Workspace, freq: str, until: str | None = None) -> str | None:
    """Last day (ISO) the cube covers: ``until``, else the end of the period containing the date
    the incident sources are complete through; ``None`` for a store without incidents.

    Alerts newer than that are kept in the store and shown, but do not move the forecast period.
    """
    if until is not None:
        return str(pd.Timestamp(until).date())
    through = data_through(workspace)["incidents"]
    if through is None:
        return None
    last = period_end(pd.DatetimeIndex([pd.Timestamp(through)]), freq)[0]
    return str(last.date())


def _capital(stored: gpd.GeoDataFrame, params: FeatureParams) -> tuple[float, float] | None:
    """``params.capital``, else the locality named ``params.capital_name``, coarsest level first
    (``stored``: every stored locality)."""
    if params.capital is not None:
        return tuple(params.capital)
    levels = set(stored["level"])
    for level in ("admin1", "admin2", "admin3"):
        if level in levels:
            found = find_capital(stored_level(None, level, stored), params.capital_name)
            if found is not None:
                return found
    return None


def _alerts_on_units(
    localities: gpd.GeoDataFrame, alerts: pd.DataFrame, units: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Alerts whose stored locality is of another level, placed on this unit set (``localities``:
    every stored locality).

    An alert whose stored ``locality_id`` is not a unit (the gazetteer resolved it to a commune
    while the cube is by sous-préfecture, or the cube is a grid) goes by its own point when it has
    one, else to the unit containing a representative point of its stored locality.
    """
    if alerts.empty or LOCALITY_ID not in alerts:
        return alerts
    known = set(units[LOCALITY_ID])
    stored = alerts[LOCALITY_ID]
    foreign = stored.notna() & ~stored.isin(known)
    if not foreign.any():
        return alerts
    out = alerts.copy()
    # an alert with its own point goes by that point (finer than its stored locality)
    has_point = pd.Series(False, index=alerts.index)
    if "longitude" in alerts and "latitude" in alerts:
        has_point = alerts["longitude"].notna() & alerts["latitude"].notna()
    out.loc[foreign & has_point, LOCALITY_ID] = None
    foreign = foreign & ~has_point
    if not foreign.any():
        return out
    every = localities[localities[LOCALITY_ID].isin(set(stored[foreign]))]
    points = shapely.point_on_surface(every.geometry.to_numpy())
    tree = shapely.STRtree(units.geometry.to_numpy())
    hits = tree.query(points, predicate="intersects")
    target: dict[str, str] = {}
    for point_i, unit_i in zip(hits[0], hits[1], strict=True):
        target.setdefault(every[LOCALITY_ID].iloc[point_i], units[LOCALITY_ID].iloc[unit_i])
    out.loc[foreign, LOCALITY_ID] = stored[foreign].map(target)
    return out


def compute_features(
    workspace: Workspace,
    *,
    freq: str = "M",
    unit: str = "admin2",
    until: str | None = None,
    inputs: CubeInputs | None = None,
    params: FeatureParams | None = None,
    population: str | Path | None = None,
    timezone: str | None = None,
    progress: Progress | None = None,
    save: bool = True,
    block: int | None = None,
    incidents: pd.DataFrame | None = None,
) -> xr.Dataset:
    """Build the cube from the workspace's store, save it in the workspace, return it.

    Every input is explicit: nothing is read from settings or remembered between runs (a
    rebuild passes :func:`~sauti.features.provenance.cube_inputs` of the cube it replaces).

    Parameters
    ----------
    workspace : sauti.store.Workspace
    freq : {"M", "W"}
    unit : str
        ``admin1``/``admin2``/``admin3`` or ``grid:<N>km``.
    until : str, optional
        ISO date: only incidents and alerts dated on or before it are used, and the last period
        is the one containing it (a backtest snapshot). Default: the end of the period containing
        the date the incident sources are complete through (:func:`cube_end`); alerts received
        after it are not in the cube.
    inputs : CubeInputs, optional
        Feature parameters, population raster, time zone (default ``CubeInputs()``: default
        parameters, no raster, UTC). ``params``, ``population`` and ``timezone`` replace single
        inputs.
    progress : callable, optional
        ``advance(n)`` called after each of :data:`sauti.features.cube.BUILD_STEPS` steps.
    save : bool
        Save the cube (:func:`cube_path`); a nowcast saves it itself after scoring.
    block : int, optional
        Localities per block (default: about :data:`sauti.features.blocks.CELLS_PER_BLOCK` cells).
    incidents : DataFrame, optional
        Every stored incident (``workspace.incidents()``), when the caller has read them already.

    Returns
    -------
    xarray.Dataset
        The cube, with ``attrs["provenance"]`` (JSON) and ``attrs["snapshot"]``: in memory up to
        :data:`IN_MEMORY_CELLS` cells, else backed by the saved Zarr store (read when used).

    Raises
    ------
    sauti.errors.NotReadyError
        When the workspace has no localities of ``unit`` or no incidents.
    """
    freq = check_freq(freq)
    inputs = (inputs or CubeInputs()).with_(params=params, population=population, timezone=timezone)
    stored = workspace.localities()  # every level, read and WKB-decoded once per build
    units = unit_localities(workspace, unit, stored=stored)
    end = cube_end(workspace, freq, until)
    incidents, alerts, decisions = _events(workspace, end, freq, inputs.timezone, incidents)
    _require_events(workspace, incidents, alerts, until)
    incidents = located_in_store(workspace, incidents, unit)
    raster = _population(inputs.population)
    alerts_used = _alerts_on_units(stored, alerts, units)
    n_periods = _period_count(incidents, alerts, end, freq)
    cells = len(units) * n_periods
    block = block or block_size(len(units), n_periods)
    cube = build_cube(
        incidents,
        alerts_used if not alerts_used.empty else None,
        units,
        freq=freq,
        params=inputs.params,
        population=raster,
        capital=_capital(stored, inputs.params),
        end=end,
        progress=progress,
        outline=country_outline(workspace, stored)[0],
        unit=unit,
        timezone=inputs.timezone,
        block=block,
        lazy=save and cells > IN_MEMORY_CELLS,
    )
    stamp_inputs(cube, workspace, until=until, end=end, raster=raster)
    stamp_runs(cube, workspace, incidents, alerts, decisions, unit)
    # the store's rows (1M incidents: about 1 GB of strings) are not needed to write the cube's slabs
    n_blocks = -(-len(units) // block)
    del incidents, alerts, decisions, alerts_used, stored, units
    gc.collect()
    if save:
        with block_progress(n_blocks):
            path = save_cube(cube, cube_path(workspace, freq=freq, unit=unit))
        if cells > IN_MEMORY_CELLS:
            cube = read_cube(path, lazy=True)
    size = (cube.sizes[LOCALITY_DIM], cube.sizes[PERIOD_DIM])
    log.info(
        "cube %s×%s built: %d localities × %d periods in %d block(s) of %d; peak memory %.2f GB",
        unit,
        freq,
        *size,
        -(-size[0] // block),
        block,
        peak_memory_gb(),
    )
    return cube


def _period_count(incidents: pd.DataFrame, alerts: pd.DataFrame, end: str | None, freq: str) -> int:
    """Periods the cube will have (to size its blocks before building it)."""
    days = [pd.to_datetime(incidents["occurred_on"]).min()] if len(incidents) else []
    if len(alerts):
        days.append(pd.to_datetime(alerts["received_at"], utc=True).min().tz_localize(None))
    first = min(days)
    last = pd.Timestamp(end) if end is not None else first
    return max(len(period_range(first, max(first, last), freq)), 1)


def load_or_build_cube(
    workspace: Workspace,
    *,
    freq: str,
    unit: str,
    inputs: CubeInputs | None = None,
    variables: list[str] | None = None,
    last_periods: int | None = None,
    lazy: bool = False,
) -> xr.Dataset:
    """The stored cube for ``freq``/``unit``; built from the store first (with ``inputs``) if there is none.

    ``variables``/``last_periods`` keep only those variables and the latest periods (read without
    the rest). Without ``inputs`` a missing cube is not built with defaults (no population, UTC)
    but refused with what to run.
    """
    try:
        return load_cube(
            workspace, freq=freq, unit=unit, variables=variables, last_periods=last_periods, lazy=lazy
        )
    except NotReadyError:
        if inputs is None:
            raise
        log.info("no stored cube for %s/%s: building it", freq, unit)
    cube = compute_features(workspace, freq=freq, unit=unit, inputs=inputs)
    if variables is not None:
        cube = cube[[v for v in variables if v in cube]]
    if last_periods is not None:
        cube = cube.isel({PERIOD_DIM: slice(-int(last_periods), None)})
    return cube.load() if not lazy else cube


def _require_events(workspace, incidents: pd.DataFrame, alerts: pd.DataFrame, until: str | None) -> None:
    """Refuse a build with nothing to count, saying what to ingest."""
    if incidents.empty and alerts.empty:
        raise NotReadyError(
            f"the workspace {workspace.root} holds no incidents or alerts"
            + (f" up to {until}" if until else "")
            + "; run `sauti ingest incidents FILE` first"
        )


def incidents_until(
    workspace: Workspace, until: DateLike | None, incidents: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The stored incidents that occurred on or before the day ``until`` (all without one).

    ``incidents`` is every stored incident already read (a refresh reads them once for the cube
    and the surface); default: read from the store.
    """
    bound = None if until is None else f"{pd.Timestamp(until).date()}T23:59:59"
    if incidents is None:
        return workspace.incidents(until=bound)
    if bound is None:
        return incidents
    return incidents[incidents["occurred_on"] <= pd.Timestamp(bound)].reset_index(drop=True)


def located_in_store(workspace: Workspace, incidents: pd.DataFrame, unit: str) -> pd.DataFrame:
    """On PostgreSQL, ``incidents`` with :data:`~sauti.features.assign.CONTAINED_IN`: the locality of
    the ``unit`` level holding each point, found in the database (PostGIS, GiST index) rather than
    in memory; the same frame on SQLite and for grid units (not stored: located with shapely).
    Shared borders resolve as in memory: the smallest ``locality_id``."""
    kind, _size = parse_unit(unit)
    if workspace.backend != "postgresql" or kind == "grid" or "event_id" not in incidents:
        return incidents
    located = workspace.locate_incidents(kind)
    holder = pd.Series(located["locality_id"].to_numpy(dtype=object), index=located["event_id"].to_numpy())
    return incidents.assign(**{CONTAINED_IN: incidents["event_id"].map(holder).astype("object")})


def _events(workspace, end: str | None, freq: str, timezone: str, incidents: pd.DataFrame | None = None):
    """Incidents, alerts and verification decisions dated on or before ``end`` (all without one).

    Each alert carries the verification state known at the end of its period, not today's (no
    look-ahead in backtests). ``incidents``: every stored incident, already read.
    """
    incidents = incidents_until(workspace, end, incidents)
    alerts = workspace.alerts()
    decisions = workspace.alert_verifications()
    if end is not None:
        cutoff = pd.Timestamp(end).tz_localize(timezone) + pd.Timedelta(days=1)
        alerts = alerts[alerts["received_at"] < cutoff]
        decisions = decisions[decisions["decided_at"] < cutoff]
    alerts = alerts.assign(verification=verification_as_of_receipt(alerts, decisions, freq, timezone))
    return incidents, alerts, decisions
