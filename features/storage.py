"""Build the cube from a workspace's store, save it there as NetCDF with provenance, load it back.

Cubes live in ``<workspace>/cubes/cube_<unit>_<freq>.nc`` (h5netcdf). A save goes to a temporary
file first and is renamed into place, so a reader (the API, during a nowcast) never sees half a
file. ``attrs["provenance"]`` says which ingest runs (ids, files, sha256) and which parameters made
the cube; ``attrs["snapshot"]`` is a short hash of those inputs, equal for equal inputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from sauti.features.counts import verification_as_of_receipt
from sauti.features.cube import Progress, build_cube
from sauti.features.exposure import find_capital
from sauti.features.params import FeatureParams
from sauti.features.periods import check_freq
from sauti.features.units import country_outline, parse_unit, unit_localities, unit_slug

import sauti
from sauti.checksum import sha256_file
from sauti.constants import LOCALITY_ID, PERIOD_DIM
from sauti.errors import NotReadyError

log = logging.getLogger(__name__)

CUBE_FOLDER = "cubes"
PACK_BELOW_BYTES = 200_000_000
INPUTS_FILE = "inputs.json"  # remembers the raster and parameters between runs (nowcasts pass none)


def cube_path(workspace, *, freq: str = "M", unit: str = "admin2") -> Path:
    """Where the cube of ``unit`` × ``freq`` lives in the workspace."""
    return workspace.root / CUBE_FOLDER / f"cube_{unit_slug(unit)}_{check_freq(freq)}.nc"


def pack(cube: xr.Dataset) -> xr.Dataset:
    """Stack the variables that share dims and dtype into one array each, for fast NetCDF I/O.

    HDF5 pays a fixed cost per variable; a cube has ~110 of them, so the file holds a handful of
    stacked arrays ``pack<i>`` (dims ``pack<i>_variable`` + the original dims) instead.
    :func:`unpack` restores the cube exactly, variable order included.
    """
    groups: dict[tuple, list[str]] = {}
    for name, var in cube.data_vars.items():
        groups.setdefault((var.dims, var.dtype.str), []).append(str(name))
    data_vars = {}
    coords = {k: v for k, v in cube.coords.items()}
    for i, ((dims, _dtype), names) in enumerate(groups.items()):
        stacked = np.stack([cube[n].to_numpy() for n in names])
        data_vars[f"pack{i}"] = ((f"pack{i}_variable", *dims), stacked)
        coords[f"pack{i}_variable"] = np.array(names, dtype=str)
    attrs = dict(cube.attrs)
    attrs["variable_order"] = json.dumps([str(n) for n in cube.data_vars])
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def unpack(stored: xr.Dataset) -> xr.Dataset:
    """Inverse of :func:`pack`."""
    if "variable_order" not in stored.attrs:
        return stored
    attrs = dict(stored.attrs)
    order = json.loads(attrs.pop("variable_order"))
    pieces = {}
    packs = [str(n) for n in stored.data_vars if str(n).startswith("pack")]
    for name in packs:
        var = stored[name]
        inner = var.dims[1:]
        values = var.to_numpy()
        for j, label in enumerate(stored[f"{name}_variable"].to_numpy().astype(str)):
            pieces[label] = (inner, values[j])
    coords = {k: v for k, v in stored.coords.items() if not str(k).endswith("_variable")}
    return xr.Dataset({n: pieces[n] for n in order if n in pieces}, coords=coords, attrs=attrs)


def save_cube(cube: xr.Dataset, path: str | Path) -> Path:
    """Write ``cube`` to ``path`` (NetCDF via h5netcdf, packed and compressed), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    packed = pack(cube)
    encoding = {
        name: {"compression": "gzip", "compression_opts": 1}
        for name, var in packed.data_vars.items()
        if var.ndim == 3
    }
    try:
        packed.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_cube(
    path: str | Path, *, variables: list[str] | None = None, last_periods: int | None = None
) -> xr.Dataset:
    """Load a saved cube into memory (the file is closed afterwards).

    ``variables`` and ``last_periods`` read only those variables and the latest periods (the file is
    chunked, so scoring 10,000 localities reads a fraction of it); default: everything.
    """
    with xr.open_dataset(path, engine="h5netcdf") as opened:
        if last_periods is not None and PERIOD_DIM in opened.dims:
            opened = opened.isel({PERIOD_DIM: slice(-int(last_periods), None)})
        if variables is not None:
            opened = _only_variables(opened, set(variables))
        cube = unpack(opened.load())
    for name in ("name", "admin1_id", "level", "locality"):
        if name in cube.coords:
            cube[name] = cube[name].astype(str)
    return cube


def _only_variables(stored: xr.Dataset, wanted: set[str]) -> xr.Dataset:
    """The packed file's variables restricted to ``wanted`` (labels along each pack's variable axis)."""
    for name in [str(n) for n in stored.data_vars if str(n).startswith("pack")]:
        labels = stored[f"{name}_variable"].to_numpy().astype(str)
        keep = np.flatnonzero(np.isin(labels, sorted(wanted)))
        stored = stored.isel({f"{name}_variable": keep})
    return stored


def load_cube(
    workspace,
    *,
    freq: str = "M",
    unit: str = "admin2",
    variables: list[str] | None = None,
    last_periods: int | None = None,
) -> xr.Dataset:
    """The saved cube of ``unit`` × ``freq`` (optionally only some variables and the latest periods).

    Raises
    ------
    sauti.errors.NotReadyError
        When no cube has been computed for that unit and frequency.
    """
    path = cube_path(workspace, freq=freq, unit=unit)
    if not path.exists():
        raise NotReadyError(
            f"no feature cube for unit={unit} freq={check_freq(freq)} in {workspace.root}; "
            f"run `sauti features --unit {unit} --freq {check_freq(freq)}` first"
        )
    return read_cube(path, variables=variables, last_periods=last_periods)


def _inputs(workspace) -> dict:
    path = workspace.root / CUBE_FOLDER / INPUTS_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remember(workspace, **values) -> None:
    path = workspace.root / CUBE_FOLDER / INPUTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    current = _inputs(workspace)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            current[key] = {**current[key], **value}
        else:
            current[key] = value
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(current, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _population(workspace, population: str | Path | None) -> Path | None:
    """The raster to use: the argument, else the setting, else the one the last run used."""
    if population is None:
        from sauti.settings import get_settings

        population = getattr(get_settings(), "population", None)
    if population is None:
        remembered = _inputs(workspace).get("population")
        if remembered and Path(remembered).exists():
            population = remembered
    if population is None:
        return None
    path = Path(population).absolute()
    if not path.exists():
        raise ValueError(f"population raster {path} not found; pass an existing --population file")
    _remember(workspace, population=str(path))
    return path


def _params(workspace, params: FeatureParams | None, unit: str, freq: str) -> FeatureParams:
    """The parameters to use: the argument, else those the last run of this unit × freq used."""
    key = f"{unit_slug(unit)}_{freq}"
    if params is None:
        remembered = _inputs(workspace).get("params", {}).get(key)
        try:
            params = FeatureParams.from_dict(remembered) if remembered else FeatureParams()
        except (TypeError, ValueError):
            params = FeatureParams()
    _remember(workspace, params={key: params.to_dict()})
    return params


def _timezone() -> str:
    """The mission's time zone from the settings (``SAUTI_TIMEZONE``), else UTC."""
    from sauti.settings import get_settings

    return getattr(get_settings(), "timezone", None) or "UTC"


def _capital(workspace, params: FeatureParams) -> tuple[float, float] | None:
    if params.capital is not None:
        return tuple(params.capital)
    levels = workspace.levels()
    for level in ("admin1", "admin2", "admin3"):
        if level in levels:
            found = find_capital(workspace.localities(level), params.capital_name)
            if found is not None:
                return found
    return None


def _alerts_on_units(workspace, alerts: pd.DataFrame, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Alerts whose stored locality is of another level, placed on this unit set.

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
    every = workspace.localities()
    every = every[every[LOCALITY_ID].isin(set(stored[foreign]))]
    points = shapely.point_on_surface(every.geometry.to_numpy())
    tree = shapely.STRtree(units.geometry.to_numpy())
    hits = tree.query(points, predicate="intersects")
    target: dict[str, str] = {}
    for point_i, unit_i in zip(hits[0], hits[1], strict=True):
        target.setdefault(every[LOCALITY_ID].iloc[point_i], units[LOCALITY_ID].iloc[unit_i])
    out.loc[foreign, LOCALITY_ID] = stored[foreign].map(target)
    return out


def _runs(workspace, incidents: pd.DataFrame, alerts: pd.DataFrame, unit: str) -> list[dict]:
    kind, _ = parse_unit(unit)
    ids: set[int] = set(int(r) for r in pd.unique(incidents.get("run_id", pd.Series(dtype=float)).dropna()))
    ids |= {int(r) for r in pd.unique(alerts.get("run_id", pd.Series(dtype=float)).dropna())}
    with workspace.session() as con:
        if kind == "grid":
            rows = con.execute("SELECT DISTINCT run_id FROM localities WHERE level IN ('admin0', 'admin1')")
        else:
            rows = con.execute("SELECT DISTINCT run_id FROM localities WHERE level = ?", (kind,))
        ids |= {int(r[0]) for r in rows}
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = con.execute(
            f"SELECT run_id, kind, path, sha256, format, finished_at FROM ingest_runs "
            f"WHERE run_id IN ({marks}) ORDER BY run_id",
            tuple(sorted(ids)),
        ).fetchall()
    return [
        {
            "run_id": r["run_id"],
            "kind": r["kind"],
            "file": Path(r["path"]).name,
            "sha256": r["sha256"],
            "format": r["format"],
            "finished_at": r["finished_at"],
        }
        for r in rows
    ]


def compute_features(
    workspace,
    *,
    freq: str = "M",
    unit: str = "admin2",
    until: str | None = None,
    params: FeatureParams | None = None,
    population: str | Path | None = None,
    progress: Progress | None = None,
) -> xr.Dataset:
    """Build the cube from the workspace's store, save it in the workspace, return it.

    Parameters
    ----------
    workspace : sauti.store.Workspace
    freq : {"M", "W"}
    unit : str
        ``admin1``/``admin2``/``admin3`` or ``grid:<N>km``.
    until : str, optional
        ISO date: only incidents and alerts dated on or before it are used, and the last period
        is the one containing it (a backtest snapshot, or the nowcast's "today").
    params : FeatureParams, optional
        Default: the parameters the last run of this unit × freq used (so a nowcast keeps the
        cube's definition), else ``FeatureParams()``.
    population : path, optional
        Population raster; default the ``SAUTI_POPULATION`` setting, else the raster the last
        run in this workspace used, else none (population features NaN).
    progress : callable, optional
        ``advance(n)`` called after each of :data:`sauti.features.cube.BUILD_STEPS` steps.

    Returns
    -------
    xarray.Dataset
        The cube, with ``attrs["provenance"]`` (JSON) and ``attrs["snapshot"]``.

    Raises
    ------
    sauti.errors.NotReadyError
        When the workspace has no localities of ``unit`` or no incidents.
    """
    freq = check_freq(freq)
    units = unit_localities(workspace, unit)
    params = _params(workspace, params, unit, freq)
    if until is not None:
        until = str(pd.Timestamp(until).date())  # a date: everything dated that day is included
    incidents = workspace.incidents(until=None if until is None else f"{until}T23:59:59")
    alerts = workspace.alerts()
    decisions = workspace.alert_verifications()
    timezone = _timezone()
    if until is not None:
        cutoff = pd.Timestamp(until).tz_localize(timezone) + pd.Timedelta(days=1)
        alerts = alerts[alerts["received_at"] < cutoff]
        decisions = decisions[decisions["decided_at"] < cutoff]
    # the state known when each alert's period ended, not today's (no look-ahead in backtests)
    alerts = alerts.assign(verification=verification_as_of_receipt(alerts, decisions, freq, timezone))
    if incidents.empty and alerts.empty:
        raise NotReadyError(
            f"the workspace {workspace.root} holds no incidents or alerts"
            + (f" up to {until}" if until else "")
            + "; run `sauti ingest incidents FILE` first"
        )
    raster = _population(workspace, population)
    alerts_used = _alerts_on_units(workspace, alerts, units)
    cube = build_cube(
        incidents,
        alerts_used if not alerts_used.empty else None,
        units,
        freq=freq,
        params=params,
        population=raster,
        capital=_capital(workspace, params),
        end=until,
        progress=progress,
        outline=country_outline(workspace)[0],
        unit=unit,
        timezone=timezone,
    )
    provenance = json.loads(cube.attrs["provenance"])
    provenance.update(
        {
            "workspace": str(workspace.root),
            "until": until,
            "ingest_runs": _runs(workspace, incidents, alerts, unit),
            "incidents": int(len(incidents)),
            "alerts": {
                "count": int(len(alerts)),
                "last_updated": str(alerts["updated_at"].max()) if len(alerts) else None,
                "verification_decisions": int(len(decisions)),
            },
            "population": {"path": str(raster), "sha256": sha256_file(raster)} if raster else None,
        }
    )
    snapshot_inputs = {
        k: provenance[k] for k in ("ingest_runs", "alerts", "params", "freq", "unit", "until", "code_version")
    }
    snapshot_inputs["population"] = provenance["population"]["sha256"] if raster else None
    snapshot = hashlib.sha256(json.dumps(snapshot_inputs, sort_keys=True).encode()).hexdigest()[:16]
    provenance["snapshot"] = snapshot
    cube.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
    cube.attrs["snapshot"] = snapshot
    cube.attrs["code_version"] = sauti.__version__
    save_cube(cube, cube_path(workspace, freq=freq, unit=unit))
    log.info(
        "cube %s×%s saved (%d localities × %d periods)",
        unit,
        freq,
        cube.sizes["locality"],
        cube.sizes["period"],
    )
    return cube


def provenance(cube: xr.Dataset) -> dict:
    """The cube's provenance as a dict."""
    return json.loads(cube.attrs.get("provenance", "{}"))
