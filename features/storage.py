"""Where a workspace's cubes live and their file format: chunked Zarr, written atomically, read lazily.

Cubes live in ``<workspace>/cubes/cube_<unit>_<freq>.zarr``: a link to a folder written in full
first (``.cube_<unit>_<freq>.<id>.zarr``) and swapped in with one rename, so a reader (the API,
during a nowcast) never sees half a cube. Every ``(locality, period)`` variable is stored in chunks
of :data:`LOCALITY_CHUNK` localities × :data:`PERIOD_CHUNK` periods (at most), so a block of
localities or the latest periods are read without the rest. A workspace made before Zarr holds
``cube_<unit>_<freq>.nc`` files (packed NetCDF): they are converted on first read, with a log line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from sauti.constants import LOCALITY_DIM, PERIOD_DIM
from sauti.errors import NotReadyError
from sauti.features.periods import check_freq
from sauti.features.units import unit_slug
from sauti.tempfiles import remove_stale_temps, temp_path

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

log = logging.getLogger(__name__)

CUBE_FOLDER = "cubes"
#: storage chunk sizes (a build's blocks of localities are split to these)
LOCALITY_CHUNK = 4096
PERIOD_CHUNK = 256
ZARR_FORMAT = 2  # strings and consolidated metadata are specified in Zarr v2


def cube_path(workspace: Workspace, *, freq: str = "M", unit: str = "admin2") -> Path:
    """Where the cube of ``unit`` × ``freq`` lives in the workspace."""
    return workspace.root / CUBE_FOLDER / f"cube_{unit_slug(unit)}_{check_freq(freq)}.zarr"


def legacy_cube_path(path: Path) -> Path:
    """The NetCDF file a workspace made before Zarr holds for the cube at ``path``."""
    return path.with_suffix(".nc")


def _storage_chunks(cube: xr.Dataset) -> dict[str, int]:
    return {
        LOCALITY_DIM: min(cube.sizes.get(LOCALITY_DIM, 1), LOCALITY_CHUNK) or 1,
        PERIOD_DIM: min(cube.sizes.get(PERIOD_DIM, 1), PERIOD_CHUNK) or 1,
    }


def save_cube(cube: xr.Dataset, path: str | Path) -> Path:
    """Write ``cube`` (in memory or Dask-backed: then computed block by block) to ``path`` as Zarr.

    The cube is written into a new folder beside ``path``, then ``path`` (a link) is pointed at it
    in one rename and the folder it pointed at before is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)  # folders of a crashed write (never a live writer's)
    tmp = temp_path(path)  # written here, then renamed to its own name and linked in
    target = path.parent / f".{path.stem}.{uuid.uuid4().hex[:12]}.zarr"
    chunks = _storage_chunks(cube)
    stored = cube.copy()
    stored.attrs["variable_order"] = json.dumps([str(n) for n in cube.data_vars])  # Zarr sorts them
    for name, var in stored.variables.items():
        var.encoding = {}
        if var.dtype.kind == "U" or var.dtype == object:
            stored[name] = var.astype(str)
    encoding = None
    if any(v.chunks is not None for v in stored.data_vars.values()):  # Dask: its blocks of localities
        stored = stored.chunk({PERIOD_DIM: chunks[PERIOD_DIM]} if PERIOD_DIM in stored.dims else {})
    else:
        encoding = {
            str(n): {"chunks": tuple(chunks.get(d, stored.sizes[d]) for d in v.dims)}
            for n, v in stored.data_vars.items()
        }
    try:
        stored.to_zarr(tmp, mode="w", consolidated=True, zarr_format=ZARR_FORMAT, encoding=encoding)
        os.rename(tmp, target)
        _swap_in(target, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if target.exists() and not (path.is_symlink() and os.readlink(path) == target.name):
            shutil.rmtree(target, ignore_errors=True)
    return path


def _swap_in(target: Path, path: Path) -> None:
    """Point ``path`` at ``target`` in one rename; remove what it pointed at (or held) before."""
    previous = path.parent / os.readlink(path) if path.is_symlink() else None
    if path.exists() and not path.is_symlink():  # a real folder (copied workspace): replaced
        shutil.rmtree(path)
    link = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.link")
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target.name)
    os.replace(link, path)
    if previous is not None and previous != target:
        shutil.rmtree(previous, ignore_errors=True)


def read_cube(
    path: str | Path,
    *,
    variables: list[str] | None = None,
    last_periods: int | None = None,
    lazy: bool = False,
) -> xr.Dataset:
    """A saved cube: only ``variables`` and the latest ``last_periods`` periods when given.

    Only the chunks holding them are read. ``lazy`` returns it Dask-backed (nothing read until
    used: a block of localities of a continental cube); by default it is loaded into memory.
    """
    # the link is resolved once: a cube swapped in while this reads cannot mix two versions
    opened = xr.open_zarr(Path(path).resolve(), consolidated=True, chunks={} if lazy else None)
    order = json.loads(opened.attrs.pop("variable_order", "[]"))
    opened = opened[[n for n in order if n in opened.data_vars]] if order else opened
    if last_periods is not None and PERIOD_DIM in opened.dims:
        opened = opened.isel({PERIOD_DIM: slice(-int(last_periods), None)})
    if variables is not None:
        opened = opened[[v for v in opened.data_vars if str(v) in set(variables)]]
    cube = opened if lazy else opened.load()
    for name in ("name", "admin1_id", "level", "locality"):
        if name in cube.coords:
            cube[name] = cube[name].astype(str)
    return cube


def load_cube(
    workspace: Workspace,
    *,
    freq: str = "M",
    unit: str = "admin2",
    variables: list[str] | None = None,
    last_periods: int | None = None,
    lazy: bool = False,
) -> xr.Dataset:
    """The saved cube of ``unit`` × ``freq`` (optionally only some variables and the latest periods).

    Raises
    ------
    sauti.errors.NotReadyError
        When no cube has been computed for that unit and frequency, or an old NetCDF cube cannot
        be converted (then it says how to rebuild it).
    """
    path = _existing(workspace, freq, unit)
    return read_cube(path, variables=variables, last_periods=last_periods, lazy=lazy)


def _existing(workspace, freq: str, unit: str) -> Path:
    path = cube_path(workspace, freq=freq, unit=unit)
    if not path.exists():
        migrate_legacy_cube(path, unit=unit, freq=freq)
    if not path.exists():
        raise NotReadyError(
            f"no feature cube for unit={unit} freq={check_freq(freq)} in {workspace.root}; "
            f"run `sauti features --unit {unit} --freq {check_freq(freq)}` first"
        )
    return path


def stored_provenance(workspace: Workspace, *, freq: str = "M", unit: str = "admin2") -> dict | None:
    """The provenance of the stored cube of ``unit`` × ``freq`` without reading its arrays; None
    when there is no cube."""
    try:
        path = _existing(workspace, freq, unit)
    except NotReadyError:
        return None
    attrs = json.loads((path / ".zattrs").read_text(encoding="utf-8"))
    text = attrs.get("provenance")  # the root group's attributes (Zarr v2)
    return None if text is None else json.loads(text)


def migrate_legacy_cube(path: Path, *, unit: str, freq: str) -> Path | None:
    """Convert the NetCDF cube a workspace made before Zarr into ``path``; None when there is none.

    The values are copied as they are (same variables, provenance and snapshot); the NetCDF file
    is removed once the Zarr cube is in place. A file that cannot be read is left where it is and
    a :class:`NotReadyError` says how to rebuild the cube.
    """
    legacy = legacy_cube_path(path)
    if not legacy.exists():
        return None
    try:
        cube = _read_legacy(legacy)
    except Exception as exc:  # h5py/h5netcdf raise many kinds on a damaged or foreign file
        raise NotReadyError(
            f"the feature cube {legacy.name} is in the NetCDF format of earlier versions and cannot be "
            f"converted ({type(exc).__name__}: {exc}); run `sauti features --unit {unit} --freq "
            f"{check_freq(freq)}` to rebuild it"
        ) from exc
    save_cube(cube, path)
    legacy.unlink()
    log.warning(
        "converted the feature cube %s (NetCDF, earlier versions) to %s (chunked Zarr); same values",
        legacy.name,
        path.name,
    )
    return path


def _read_legacy(path: Path) -> xr.Dataset:
    """A NetCDF cube of earlier versions (variables stacked in ``pack<i>`` arrays), in memory."""
    with xr.open_dataset(path, engine="h5netcdf") as opened:
        stored = opened.load()
    if "variable_order" not in stored.attrs:
        return stored
    attrs = dict(stored.attrs)
    order = json.loads(attrs.pop("variable_order"))
    pieces = {}
    for name in [str(n) for n in stored.data_vars if str(n).startswith("pack")]:
        var = stored[name]
        values = var.to_numpy()
        for j, label in enumerate(stored[f"{name}_variable"].to_numpy().astype(str)):
            pieces[label] = (var.dims[1:], values[j])
    coords = {k: v for k, v in stored.coords.items() if not str(k).endswith("_variable")}
    cube = xr.Dataset({n: pieces[n] for n in order if n in pieces}, coords=coords, attrs=attrs)
    for name in ("name", "admin1_id", "level", "locality"):
        if name in cube.coords:
            cube[name] = cube[name].astype(str)
    return cube


def write_legacy_cube(cube: xr.Dataset, path: str | Path) -> Path:
    """Write ``cube`` as earlier versions did (packed NetCDF): for the migration's tests only."""
    groups: dict[tuple, list[str]] = {}
    for name, var in cube.data_vars.items():
        groups.setdefault((var.dims, var.dtype.str), []).append(str(name))
    data_vars, coords = {}, dict(cube.coords.items())
    for i, ((dims, _dtype), names) in enumerate(groups.items()):
        data_vars[f"pack{i}"] = ((f"pack{i}_variable", *dims), np.stack([cube[n].to_numpy() for n in names]))
        coords[f"pack{i}_variable"] = np.array(names, dtype=str)
    attrs = {**cube.attrs, "variable_order": json.dumps([str(n) for n in cube.data_vars])}
    xr.Dataset(data_vars, coords=coords, attrs=attrs).to_netcdf(path, engine="h5netcdf")
    return Path(path)
