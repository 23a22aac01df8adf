"""Where a workspace's cubes live and their file format: chunked Zarr, written atomically, read lazily.

Cubes live in ``<workspace>/cubes/cube_<unit>_<freq>.zarr``: a link to a folder written in full
first (``.cube_<unit>_<freq>.<id>.zarr``) and swapped in with one rename, so a reader (the API,
during a nowcast) never sees half a cube. The version swapped out is kept until the next swap, so a
lazy reader that opened it (block-wise scoring) can finish; older ones are removed then. A nowcast
stages a new version that shares every unchanged chunk file with the current one (hard links) and
rewrites only the chunks its alerts touch (:func:`stage_cube_update`). Every ``(locality, period)``
variable is stored in chunks of :data:`LOCALITY_CHUNK` localities × :data:`PERIOD_CHUNK` periods
(at most; a Dask-built cube: its blocks of localities), so a block of localities or the latest periods
are read without the rest. A Dask-backed cube is computed and written slab by slab, each slab of blocks
its own small graph (:func:`save_cube`), so a continental cube never exists in memory. A workspace
made before Zarr holds ``cube_<unit>_<freq>.nc`` files (packed NetCDF): they are converted on first
read, with a log line.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from sauti.constants import LOCALITY_DIM, PERIOD_DIM
from sauti.errors import NotReadyError
from sauti.features.periods import check_freq
from sauti.features.units import unit_slug
from sauti.progress import peak_memory_gb
from sauti.tempfiles import remove_stale_temps, temp_path

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

log = logging.getLogger(__name__)

CUBE_FOLDER = "cubes"
#: storage chunk sizes (a build's blocks of localities are split to these)
LOCALITY_CHUNK = 4096
PERIOD_CHUNK = 256
ZARR_FORMAT = 2  # strings and consolidated metadata are specified in Zarr v2
#: cells (localities × periods) per slab of a Dask-backed cube's write: each slab is computed and
#: written as its own graph (16 blocks of :data:`sauti.features.blocks.CELLS_PER_BLOCK`)
SLAB_CELLS = 8_000_000


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
    swapped = False
    try:
        if any(v.chunks is not None for v in stored.data_vars.values()):  # Dask: its blocks of localities
            _write_slabs(stored, tmp, chunks)
        else:
            encoding = {
                str(n): {"chunks": tuple(chunks.get(d, stored.sizes[d]) for d in v.dims)}
                for n, v in stored.data_vars.items()
            }
            stored.to_zarr(tmp, mode="w", consolidated=True, zarr_format=ZARR_FORMAT, encoding=encoding)
        os.rename(tmp, target)
        _swap_in(target, path)
        swapped = True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if not swapped and target.exists():
            shutil.rmtree(target, ignore_errors=True)
    return path


def _write_slabs(stored: xr.Dataset, folder: Path, chunks: dict[str, int]) -> None:
    """Write a Dask-backed cube to ``folder`` one slab of localities at a time.

    The store is laid out first (metadata, coordinates and the small variables, loaded); then each
    slab of whole blocks of localities (about :data:`SLAB_CELLS` cells) is computed and written with
    a Zarr ``region=`` write, its own small graph (the blocks and their halo), so neither the graph
    of the whole cube nor more than a slab's blocks are ever held. The chunks on disk are the
    cube's blocks of localities × :data:`PERIOD_CHUNK` periods, as one write of the whole cube made.
    """
    import zarr

    both = (LOCALITY_DIM, PERIOD_DIM)
    sliced = [str(n) for n, v in stored.data_vars.items() if v.chunks is not None and v.dims == both]
    blocks = stored[sliced[0]].chunks[0] if sliced else ()
    for name in list(stored.variables):
        if str(name) in sliced:
            stored[name] = stored[name].chunk({LOCALITY_DIM: blocks, PERIOD_DIM: chunks[PERIOD_DIM]})
        elif stored[name].chunks is not None:  # small (per locality or per period): loaded
            stored[name] = stored[name].load()
    stored.to_zarr(folder, mode="w", compute=False, consolidated=False, zarr_format=ZARR_FORMAT)
    _release_freed_memory()  # what the build freed (the caller's event tables) before the first slab
    dynamic = stored[sliced].drop_vars(list(stored[sliced].coords))
    edges = np.cumsum((0, *blocks))
    n_per = max(stored.sizes.get(PERIOD_DIM, 1), 1)
    per_slab = max(int(SLAB_CELLS // (max(blocks, default=1) * n_per)), 1)
    n_slabs = -(-len(blocks) // per_slab)
    for i, first in enumerate(range(0, len(blocks), per_slab), start=1):
        region = slice(int(edges[first]), int(edges[min(first + per_slab, len(blocks))]))
        dynamic.isel({LOCALITY_DIM: region}).to_zarr(
            folder, region={LOCALITY_DIM: region}, zarr_format=ZARR_FORMAT, consolidated=False
        )
        _release_freed_memory()
        log.info(
            "cube slab %d/%d written (localities %d-%d); peak memory %.2f GB",
            i,
            n_slabs,
            region.start,
            region.stop - 1,
            peak_memory_gb(),
        )
    zarr.consolidate_metadata(str(folder), zarr_format=ZARR_FORMAT)


def _release_freed_memory() -> None:
    """Give the heap a slab's blocks leave behind back to the system (glibc ``malloc_trim``, as
    dask.distributed's workers do), so the next slab reuses pages instead of growing the process."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, looked up once per process (``find_library`` runs ``ldconfig``), or
    None where there is none (not glibc)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def _version_name(path: Path) -> str:
    return f".{path.stem}.{uuid.uuid4().hex[:12]}.zarr"


def cube_versions(path: str | Path) -> list[Path]:
    """The version folders of the cube at ``path`` in its folder (current, kept and staged ones)."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.stem)}\.[0-9a-f]{{12}}\.zarr$")
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.match(p.name))


#: a version folder made this recently may be another writer's, about to be swapped in: never removed
_FRESH_VERSION_S = 120.0


def _swap_in(target: Path, path: Path) -> None:
    """Point ``path`` at ``target`` in one rename. What it pointed at before is kept (a lazy reader
    may still be reading it); versions older than that are removed."""
    previous = path.parent / os.readlink(path) if path.is_symlink() else None
    if path.exists() and not path.is_symlink():  # a real folder (copied workspace): kept as a version
        previous = path.parent / _version_name(path)
        os.rename(path, previous)
    link = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.link")
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target.name)
    os.replace(link, path)
    keep = {target.name, previous.name if previous is not None else None}
    now = time.time()
    for version in cube_versions(path):
        if version.name in keep:
            continue
        try:
            if now - version.lstat().st_ctime < _FRESH_VERSION_S:
                continue  # staged by a writer that has not swapped it in yet
        except FileNotFoundError:
            continue
        shutil.rmtree(version, ignore_errors=True)


def stage_cube_update(
    cube: xr.Dataset,
    path: str | Path,
    additions: dict[str, tuple[np.ndarray, np.ndarray]],
    attrs: dict[str, str],
) -> xr.Dataset:
    """A new version of the stored ``cube`` (read lazily from a version of ``path``) with values added
    to its last period, staged beside ``path`` but not swapped in (:func:`commit_cube` does).

    ``additions`` maps a variable to ``(rows, amounts)``: the locality positions that change and what
    is added to their last-period values. The version shares every chunk file with the one ``cube``
    was read from (hard links); only the chunks holding those rows' last period are rewritten (Zarr ``region``
    writes, one per block of localities of the store), then ``attrs`` (provenance, snapshot) and the
    consolidated metadata. Returns the new version, read lazily.
    """
    path = Path(path)
    source = Path(cube.encoding["version"])
    staged = temp_path(path)
    target = path.parent / _version_name(path)
    try:
        shutil.copytree(source, staged, copy_function=os.link)  # zarr replaces a file it rewrites
        n_per = cube.sizes[PERIOD_DIM]
        for name, (rows, amounts) in additions.items():
            _add_to_last_period(staged, cube, str(name), np.asarray(rows), np.asarray(amounts), n_per)
        import zarr

        group = zarr.open_group(str(staged), mode="r+", zarr_format=ZARR_FORMAT)
        group.attrs.update(attrs)
        zarr.consolidate_metadata(str(staged), zarr_format=ZARR_FORMAT)
        os.rename(staged, target)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    staged_cube = read_cube(target, lazy=True)
    staged_cube.encoding["staged"] = True
    return staged_cube


def _add_to_last_period(folder: Path, cube: xr.Dataset, name: str, rows, amounts, n_per: int) -> None:
    """Add ``amounts`` to the last period of ``rows`` of one variable: one region write per stored
    chunk of localities holding any of them (only those chunk files are rewritten)."""
    var = cube[name]
    size = var.encoding.get("chunks", var.shape)[0]
    order = np.argsort(rows)
    rows, amounts = rows[order], amounts[order]
    for block in np.unique(rows // size):
        first, stop = int(block * size), int(min((block + 1) * size, var.shape[0]))
        inside = (rows >= first) & (rows < stop)
        column = var.isel({LOCALITY_DIM: slice(first, stop), PERIOD_DIM: slice(n_per - 1, n_per)}).to_numpy()
        column = column.copy()
        column[rows[inside] - first, 0] += amounts[inside].astype(column.dtype)
        region = xr.Dataset({name: (var.dims, column)})
        region.to_zarr(
            folder,
            region={LOCALITY_DIM: slice(first, stop), PERIOD_DIM: slice(n_per - 1, n_per)},
            zarr_format=ZARR_FORMAT,
            consolidated=False,
        )


def commit_cube(cube: xr.Dataset, path: str | Path) -> Path:
    """Make ``cube`` the stored cube at ``path``: a staged version (:func:`stage_cube_update`) is
    swapped in as it is; any other cube is written in full (:func:`save_cube`)."""
    path = Path(path)
    version = cube.encoding.get("version")
    if version is not None and Path(version).parent == path.parent.resolve():
        if not (path.is_symlink() and path.resolve() == Path(version)):
            _swap_in(Path(version), path)
        return path
    return save_cube(cube, path)


def discard_staged(cube: xr.Dataset, path: str | Path) -> None:
    """Remove the version ``cube`` was staged in when it is not the stored cube at ``path``
    (a nowcast that found nothing to serve)."""
    version = cube.encoding.get("version")
    if cube.encoding.get("staged") and Path(path).resolve() != Path(version):
        shutil.rmtree(version, ignore_errors=True)


def _open_version(folder: Path, lazy: bool = True) -> xr.Dataset:
    opened = xr.open_zarr(folder, consolidated=True, chunks={} if lazy else None)
    opened.encoding["version"] = str(folder)
    return opened


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
    version = Path(path).resolve()
    opened = _open_version(version, lazy)
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
    if lazy:
        cube.encoding["version"] = str(version)  # the folder read (staged updates start from it)
    else:
        cube.encoding.pop("version", None)  # in memory: no longer tied to that folder
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
