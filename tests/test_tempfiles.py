"""Temporaries a crashed writer left (``cubes/*.tmp``) are removed by the next write; a live
writer's never are."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from sauti.features.storage import save_cube
from sauti.tempfiles import STALE_AFTER_S, remove_stale_temps, temp_path


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def _temp_of(folder: Path, name: str, pid: int, *, folder_like: bool = False) -> Path:
    path = folder / f".{name}.{pid}.140000000000.tmp"
    if folder_like:  # a Zarr store is a folder
        (path / "var").mkdir(parents=True)
        (path / "var" / "0.0").write_bytes(b"x" * 100)
    else:
        path.write_bytes(b"half a cube")
    return path


def test_only_temporaries_of_writers_that_are_gone_are_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    crashed = _temp_of(tmp_path, "cube_admin2_M.nc", dead)
    crashed_zarr = _temp_of(tmp_path, "cube_admin2_M.zarr", dead, folder_like=True)
    live = _temp_of(tmp_path, "cube_admin2_W.nc", os.getppid())  # the test runner's parent: running
    mine = temp_path(tmp_path / "cube_admin1_M.nc")
    mine.write_bytes(b"being written")
    other = tmp_path / "notes.tmp"  # not a name temp_path makes
    other.write_text("keep")
    removed = remove_stale_temps(tmp_path)
    assert sorted(removed) == sorted([crashed, crashed_zarr])
    assert [p.exists() for p in (crashed, crashed_zarr, live, mine, other)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    # a day later even a running process id no longer protects it (ids are reused)
    later = time.time() + STALE_AFTER_S + 60
    assert sorted(remove_stale_temps(tmp_path, now=later)) == sorted([live, mine])
    assert other.exists()


def test_the_next_cube_save_removes_what_a_crashed_save_left(tmp_path: Path) -> None:
    cubes = tmp_path / "cubes"
    cubes.mkdir()
    crashed = _temp_of(cubes, "cube_admin2_M.zarr", _dead_pid(), folder_like=True)
    cube = xr.Dataset(
        {"count": (("locality", "period"), np.arange(6, dtype="float32").reshape(2, 3))},
        coords={"locality": ["A", "B"], "period": np.array(["2020-01", "2020-02", "2020-03"], dtype=object)},
    )
    save_cube(cube, cubes / "cube_admin2_M.zarr")
    assert not crashed.exists()
    link = cubes / "cube_admin2_M.zarr"  # the cube, and the folder its link points at: nothing else
    assert sorted(p.name for p in cubes.iterdir()) == sorted([link.name, link.readlink().name])
