"""The locality × period feature cube (``xarray.Dataset``) from incidents, alerts and a unit set.

:func:`build_cube` is pure: frames in, dataset out. Every dynamic variable at period ``t`` is a
causal function of events dated up to the end of ``t`` (counts of ``t``, recursive decays, trailing
windows, time since, and spatial lags of those at ``t``), so perturbing anything after ``t`` leaves
every value up to ``t`` unchanged. Static covariates and season do not depend on events at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

import sauti
from sauti.cache import memo
from sauti.constants import INCIDENT_CATEGORIES, LOCALITY_DIM, LOCALITY_ID, PERIOD_DIM, check_columns
from sauti.features.assign import CONTAINED_IN, assign_alerts, assign_to_localities
from sauti.features.blocks import EventIndex, dynamic_arrays
from sauti.features.counts import per_region_counts
from sauti.features.exposure import find_capital, season, static_covariates
from sauti.features.graph import build_graph, lag_sparse
from sauti.features.params import FeatureParams
from sauti.features.periods import check_freq, period_index, period_range, to_days
from sauti.features.spatial_lag import check_graph_order

# identifiers and bookkeeping that are not predictors
IDENTIFIERS = (LOCALITY_DIM, PERIOD_DIM, "name", "admin1_id", "level")
STATIC_VARIABLES = (
    "area_km2",
    "population",
    "pop_density",
    "dist_capital_km",
    "dist_border_km",
    "centroid_lon",
    "centroid_lat",
)
SEASON_VARIABLES = ("season_sin", "season_cos", "rainy_season")
# steps reported to ``progress``
BUILD_STEPS = 7

Progress = Callable[[int], None]

_INCIDENT_NEEDS = ("occurred_on", "category")
_ALERT_NEEDS = ("received_at", "category", "verification")


def _noop(_: int) -> None:
    return None


def _slim_incidents(incidents: pd.DataFrame) -> pd.DataFrame:
    check_columns(incidents.columns, _INCIDENT_NEEDS, "incidents")
    keep = [
        c
        for c in (
            "occurred_on",
            "category",
            "fatalities",
            "location_precision",
            "longitude",
            "latitude",
            "admin1",
            "admin2",
            CONTAINED_IN,
        )
        if c in incidents
    ]
    frame = pd.DataFrame(incidents[keep]) if not isinstance(incidents, gpd.GeoDataFrame) else incidents
    if "longitude" not in frame and isinstance(incidents, gpd.GeoDataFrame):
        frame = frame.assign(longitude=incidents.geometry.x, latitude=incidents.geometry.y)
    unknown = sorted(set(frame["category"].dropna().astype(str)) - set(INCIDENT_CATEGORIES))
    if unknown:
        raise ValueError(
            f"incidents have unknown category value(s) {unknown[:5]}; "
            f"expected {', '.join(INCIDENT_CATEGORIES)}"
        )
    return frame


def _localities(localities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if not isinstance(localities, gpd.GeoDataFrame):
        raise ValueError("localities must be a GeoDataFrame with polygons")
    check_columns(localities.columns, (LOCALITY_ID,), "localities")
    if localities.empty:
        raise ValueError("the unit set has no localities")
    if localities.crs is None:
        raise ValueError("localities have no CRS; set one (the store uses EPSG:4326)")
    out = localities.to_crs("EPSG:4326").reset_index(drop=True)
    out[LOCALITY_ID] = out[LOCALITY_ID].astype(str)
    if out[LOCALITY_ID].duplicated().any():
        raise ValueError(
            f"locality_id {out[LOCALITY_ID][out[LOCALITY_ID].duplicated()].iloc[0]!r} is repeated"
        )
    return out


def _strings(localities: gpd.GeoDataFrame, column: str, default) -> np.ndarray:
    if column not in localities:
        return np.full(len(localities), default, dtype=object)
    values = localities[column].astype("object").where(localities[column].notna(), default)
    return values.astype(str).to_numpy(dtype=object)


def build_cube(
    incidents: pd.DataFrame,
    alerts: pd.DataFrame | None,
    localities: gpd.GeoDataFrame,
    *,
    freq: str = "M",
    params: FeatureParams | None = None,
    population: str | Path | None = None,
    capital: tuple[float, float] | None = None,
    start=None,
    end=None,
    graph=None,
    progress: Progress | None = None,
    outline=None,
    unit: str | None = None,
    timezone: str | None = None,
    block: int | None = None,
    lazy: bool = False,
) -> xr.Dataset:
    """Build the feature cube of ``localities`` × calendar periods.

    Parameters
    ----------
    incidents : DataFrame
        Canonical incidents (``occurred_on``, ``category``, ``location_precision``, ``longitude``,
        ``latitude``, ``fatalities``, ``admin1``, ``admin2``).
    alerts : DataFrame or None
        Alerts with ``received_at``, ``category``, ``verification`` and ``locality_id`` and/or a
        point; None or empty gives all-zero alert variables.
    localities : GeoDataFrame
        The unit set (``locality_id``, optionally ``name``, ``admin1_id``, ``level``).
    freq : {"M", "W"}
        Months or ISO weeks.
    params : FeatureParams
        Windows, half-lives, graph kind, tolerances.
    population : path, optional
        Population raster for ``population``/``pop_density`` (NaN without one).
    capital : (lon, lat), optional
        Default ``params.capital``, else the locality named ``params.capital_name``.
    start, end : date-like, optional
        First and last period (default: the first and last event or alert); events outside are ignored.
    graph : libpysal.graph.Graph, optional
        First-order graph with the localities' ids in order (default :func:`build_graph`).
    progress : callable, optional
        Called with ``1`` after each of :data:`BUILD_STEPS` steps.
    outline : shapely geometry, optional
        Country outline (lon/lat) for ``dist_border_km``; default the union of the localities.
    unit, timezone : str, optional
        Label stored in ``attrs["unit"]`` (default the localities' level); zone whose calendar
        dates place time-stamped alerts in periods (default UTC).
    block : int, optional
        Localities per block of the Dask computation (default: all in one block); the values do
        not depend on it (:mod:`sauti.features.blocks`).
    lazy : bool
        Return the cube Dask-backed, computed only when read or saved (default: computed, in
        memory, on the current Dask scheduler).

    Returns
    -------
    xarray.Dataset
        Dims ``(locality, period)``; variables as documented in docs/features.md.
    """
    started = time.perf_counter()
    advance = progress or _noop
    params = params or FeatureParams()
    freq = check_freq(freq)
    units, events = _localities(localities), _slim_incidents(incidents)
    alerts = _checked_alerts(alerts)
    timeline = _timeline(events, alerts, freq=freq, start=start, end=end, timezone=timezone)
    advance(1)
    dynamic, assignments, graph = _dynamic_variables(
        events, alerts, units, timeline, params, graph, advance, block or len(units)
    )
    capital = capital or params.capital or find_capital(units, params.capital_name)
    static = _static(units, params, population=population, capital=capital, outline=outline)
    seasonal = season(timeline.periods, freq, params.rainy_months)
    advance(1)
    level = unit or _level(units)
    cube = _assemble(units, timeline.periods, level, dynamic, static, seasonal)
    inputs = {
        "population": str(population) if population is not None else None,
        "capital": list(capital) if capital is not None else None,
        "timezone": timezone or "UTC",
        **assignments,
        "graph": {"kind": params.graph, "edges": int(graph.n_edges)},
    }
    cube.attrs = _attrs(params, level, timeline, inputs, started)
    if not lazy:
        cube = cube.load()
    advance(1)
    return cube


def _dynamic_variables(events, alerts, units, timeline, params: FeatureParams, graph, advance, block: int):
    """Every ``(locality, period)`` variable (lazy, by blocks of localities), how events were
    placed, and the graph used."""
    placed = _place_incidents(events, units, timeline.event_period, params)
    advance(1)
    incidents, alerts, alert_assignment = _event_indices(events, alerts, units, placed, timeline, params)
    regions = per_region_counts(
        events["category"].astype("object").to_numpy(),
        placed.region_position,
        timeline.event_period,
        placed.n_regions,
        len(timeline.periods),
    )
    advance(1)
    weights, graph = _lag_weights(units, params, graph)
    advance(1)
    arrays = dynamic_arrays(
        incidents, alerts, regions, placed.locality_region, weights, len(timeline.periods), params, block
    )
    advance(1)
    assignments = {"incident_assignment": placed.assignment_counts, "alert_assignment": alert_assignment}
    return [arrays], assignments, graph


def _level(units: gpd.GeoDataFrame) -> str:
    """The localities' level when they share one, else ``custom``."""
    if "level" in units and units["level"].nunique() == 1:
        return str(units["level"].iloc[0])
    return "custom"


def _attrs(params: FeatureParams, level: str, timeline, inputs: dict, started: float) -> dict:
    """The cube's attributes: frequency, unit, creation time and the provenance as JSON."""
    created_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    provenance = {
        "params": params.to_dict(),
        "code_version": sauti.__version__,
        "created_at": created_at,
        "freq": timeline.freq,
        "unit": level,
        "start": str(timeline.periods[0].date()),
        "end": str(timeline.periods[-1].date()),
        **inputs,
    }
    return {
        "freq": timeline.freq,
        "unit": level,
        "created_at": created_at,
        "provenance": json.dumps(provenance, sort_keys=True),
        "build_seconds": round(time.perf_counter() - started, 3),
    }


def _checked_alerts(alerts: pd.DataFrame | None) -> pd.DataFrame | None:
    """The alerts, or None when there are none (all-zero alert variables)."""
    if alerts is None or len(alerts) == 0:
        return None
    check_columns(alerts.columns, _ALERT_NEEDS, "alerts")
    return alerts


@dataclass(frozen=True)
class _Timeline:
    """The cube's periods and the day and period position of every incident and alert."""

    freq: str
    periods: pd.DatetimeIndex
    event_period: np.ndarray
    alert_days: np.ndarray


def _timeline(events, alerts, *, freq: str, start, end, timezone: str | None) -> _Timeline:
    """Periods from ``start``/``end`` (default the first and last event or alert), events placed in them."""
    event_days = to_days(events["occurred_on"])
    alert_days = (
        to_days(alerts["received_at"], timezone)
        if alerts is not None
        else np.array([], dtype="datetime64[D]")
    )
    all_days = np.concatenate([event_days, alert_days])
    if start is None and not len(all_days):
        raise ValueError(
            "no incidents or alerts to build a cube from; pass start and end to build an empty one"
        )
    first = pd.Timestamp(start) if start is not None else pd.Timestamp(all_days.min())
    last = pd.Timestamp(end) if end is not None else pd.Timestamp(all_days.max() if len(all_days) else first)
    periods = period_range(first, last, freq)
    return _Timeline(freq, periods, period_index(event_days, periods, freq), alert_days)


@dataclass(frozen=True)
class _Placed:
    """Where each incident counts: locality position, region position, and the regions."""

    position: np.ndarray
    region_position: np.ndarray
    locality_region: np.ndarray
    n_regions: int
    assignment_counts: dict[str, int]


def _place_incidents(events, units, event_period: np.ndarray, params: FeatureParams) -> _Placed:
    """Assign incidents to localities (and regions) by location precision."""
    assigned = assign_to_localities(
        events, units, tolerance_km=params.snap_tolerance_km, name_score=params.name_score
    )
    ids = pd.Index(units[LOCALITY_ID].to_numpy(dtype=object))
    regions = pd.Index(pd.unique(_strings(units, "admin1_id", "")))
    regions = regions[regions != ""]
    counts = assigned.loc[event_period >= 0, "assignment"].value_counts().to_dict()
    return _Placed(
        position=ids.get_indexer(assigned[LOCALITY_ID].astype("object")),
        region_position=regions.get_indexer(assigned["region_id"].astype("object").fillna("")),
        locality_region=regions.get_indexer(_strings(units, "admin1_id", "")),
        n_regions=len(regions),
        assignment_counts={k: int(v) for k, v in counts.items()},
    )


def _event_indices(events, alerts, units, placed: _Placed, timeline: _Timeline, params: FeatureParams):
    """Incidents and alerts as (locality, period, what) index arrays; how the alerts were placed."""
    deaths = events["fatalities"].to_numpy() if "fatalities" in events else np.zeros(len(events))
    incidents = EventIndex(
        placed.position,
        timeline.event_period,
        {"category": events["category"].astype("object").to_numpy(), "fatalities": deaths},
    )
    if alerts is None:
        none = np.array([], dtype=np.int64)
        empty = {"category": np.array([], dtype=object), "verification": np.array([], dtype=object)}
        return incidents, EventIndex(none, none, empty), {}
    located = assign_alerts(alerts, units, tolerance_km=params.snap_tolerance_km)
    ids = pd.Index(units[LOCALITY_ID].to_numpy(dtype=object))
    alert_period = period_index(timeline.alert_days, timeline.periods, timeline.freq)
    placed_alerts = EventIndex(
        ids.get_indexer(located[LOCALITY_ID].astype("object")),
        alert_period,
        {
            "category": located["category"].astype("object").to_numpy(),
            "verification": located["verification"].astype("object").to_numpy(),
        },
    )
    assignment = located.loc[alert_period >= 0, "assignment"].value_counts().to_dict()
    return incidents, placed_alerts, {k: int(v) for k, v in assignment.items()}


def _lag_weights(units, params: FeatureParams, graph):
    """Row-standardised first- and second-order sparse matrices (the graph built once and cached)."""
    if graph is None:
        key = ("graph", _geometry_key(units), params.graph, params.knn_k, params.distance_km)
        graph = _cached(key, build_graph, units, params)
    check_graph_order(graph, units[LOCALITY_ID].to_numpy(dtype=object))
    return lag_sparse(graph), graph


def _static(units, params: FeatureParams, *, population, capital, outline) -> dict[str, np.ndarray]:
    """Area, population, density, distances and centroids (cached: they do not depend on events)."""
    outline_key = None if outline is None else hashlib.sha1(shapely.to_wkb(outline)).hexdigest()
    key = (
        "static",
        _geometry_key(units),
        _file_key(population),
        capital,
        outline_key,
        params.population_is_density,
    )
    static = _cached(
        key,
        lambda: static_covariates(
            units,
            population=population,
            capital=capital,
            outline=outline,
            is_density=params.population_is_density,
        ),
    )
    return {k: np.array(v, copy=True) for k, v in static.items()}


def _assemble(units, periods, level: str, groups, static, seasonal) -> xr.Dataset:
    """The dataset: dynamic groups on ``(locality, period)``, static on locality, season on period."""
    ids = units[LOCALITY_ID].to_numpy(dtype=object)
    dims = (LOCALITY_DIM, PERIOD_DIM)
    data: dict[str, tuple] = {}
    for group in groups:
        for name, values in group.items():
            data[name] = (dims, values)
    for name in STATIC_VARIABLES:
        data[name] = ((LOCALITY_DIM,), np.asarray(static[name], dtype=np.float64))
    for name in SEASON_VARIABLES:
        data[name] = ((PERIOD_DIM,), seasonal[name])
    coords = {
        LOCALITY_DIM: ids.astype(str),
        PERIOD_DIM: periods.to_numpy().astype("datetime64[ns]"),
        "name": ((LOCALITY_DIM,), _strings(units, "name", "").astype(str)),
        "admin1_id": ((LOCALITY_DIM,), _strings(units, "admin1_id", "").astype(str)),
        "level": ((LOCALITY_DIM,), _strings(units, "level", level).astype(str)),
    }
    return xr.Dataset(data_vars=data, coords=coords)


def _cached(key, function, *args):
    """Memoise the event-independent parts (graph, static covariates) of the last unit sets.

    The service rebuilds the cube after every new alert; the unit set, raster and parameters
    rarely change, so this saves most of a nowcast. The cache is its owner's (the service's,
    :func:`sauti.cache.memo`); keys hold the geometry's hash, so they never go stale.
    """
    return memo("features.cube", 8).get(key, lambda: function(*args))


def _geometry_key(units: gpd.GeoDataFrame) -> str:
    digest = hashlib.sha1()
    digest.update("\x1f".join(units[LOCALITY_ID]).encode())
    for wkb in shapely.to_wkb(units.geometry.to_numpy()):
        digest.update(wkb)
    return digest.hexdigest()


def _file_key(path) -> tuple | None:
    if path is None:
        return None
    stat = Path(path).stat()
    return (str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)


def feature_names(cube: xr.Dataset) -> list[str]:
    """The variables a model may use as predictors: every data variable (identifiers are coords).

    Dynamic ``(locality, period)`` variables first, in cube order, then the static and season
    ones; a model broadcasts the 1-D ones along the missing dimension.
    """
    names = [str(n) for n in cube.data_vars if str(n) not in IDENTIFIERS]
    both = [n for n in names if cube[n].dims == (LOCALITY_DIM, PERIOD_DIM)]
    rest = [n for n in names if n not in both]
    return both + rest
