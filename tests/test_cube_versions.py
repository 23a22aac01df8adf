"""A cube swapped out stays readable until the next swap; older versions go then, and the clean-up
of crashed writers' temporaries never takes the kept one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import xarray as xr

import sauti.features.storage as storage
from sauti.features.storage import cube_versions, read_cube, save_cube
from sauti.tempfiles import STALE_AFTER_S, remove_stale_temps


def _cube(value: float) -> xr.Dataset:
    return xr.Dataset(
        {"count": (("locality", "period"), np.full((3, 4), value, dtype="float32"))},
        coords={"locality": ["A", "B", "C"], "period": np.arange(4)},
    )


def test_the_previous_version_is_kept_until_the_next_swap(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(storage, "_FRESH_VERSION_S", 0.0)  # no writer is staging one here
    path = tmp_path / "cubes" / "cube_admin2_M.zarr"
    save_cube(_cube(1.0), path)
    first = path.resolve()
    reader = read_cube(path, lazy=True)  # a block-wise reader opened version 1, reads later

    save_cube(_cube(2.0), path)
    second = path.resolve()
    assert cube_versions(path) == sorted([first, second])
    np.testing.assert_array_equal(reader["count"].to_numpy(), 1.0)  # still readable after the swap
    np.testing.assert_array_equal(read_cube(path)["count"].to_numpy(), 2.0)
    # the clean-up of crashed writers (even a day later) never takes a kept version
    assert remove_stale_temps(path.parent, now=time.time() + STALE_AFTER_S + 60) == []
    assert first.is_dir()

    save_cube(_cube(3.0), path)
    assert cube_versions(path) == sorted([second, path.resolve()])  # version 1 is gone now
    assert not first.exists()
    np.testing.assert_array_equal(read_cube(path)["count"].to_numpy(), 3.0)


def test_a_version_being_staged_by_another_writer_is_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "cubes" / "cube_admin2_M.zarr"
    save_cube(_cube(1.0), path)
    save_cube(_cube(2.0), path)
    staged = path.parent / ".cube_admin2_M.0123456789ab.zarr"  # renamed into place a moment ago
    shutil.copytree(path.resolve(), staged)
    save_cube(_cube(3.0), path)
    assert staged.is_dir()  # younger than storage._FRESH_VERSION_S: maybe about to be swapped in
    assert len(cube_versions(path)) == 4


def test_a_cube_stored_as_a_plain_folder_is_kept_as_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "cubes" / "cube_admin2_M.zarr"
    save_cube(_cube(1.0), path)
    real = path.resolve()
    path.unlink()
    os.rename(real, path)  # a copied workspace: the cube is a folder, not a link
    save_cube(_cube(2.0), path)
    assert path.is_symlink()
    kept = [v for v in cube_versions(path) if v != path.resolve()]
    assert len(kept) == 1
    np.testing.assert_array_equal(read_cube(kept[0])["count"].to_numpy(), 1.0)
