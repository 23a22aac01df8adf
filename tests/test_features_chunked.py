"""The cube built block by block (Dask) and stored chunked (Zarr): same values as one block; old
NetCDF cubes converted; a missing cube never built silently with default inputs."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from numpy.testing import assert_allclose

from sauti.constants import LOCALITY_DIM, PERIOD_DIM
from sauti.errors import NotReadyError
from sauti.features import CubeInputs, compute_features, cube_path, load_cube, load_or_build_cube
from sauti.features.storage import legacy_cube_path, stored_provenance, write_legacy_cube


@pytest.fixture(scope="module")
def inputs(sample_dir: Path) -> CubeInputs:
    return CubeInputs(
        population=sample_dir / "population" / "worldpop2020_density_caf.tif", timezone="Africa/Bangui"
    )


def _assert_same_cube(chunked: xr.Dataset, whole: xr.Dataset) -> None:
    assert list(chunked.data_vars) == list(whole.data_vars)
    assert np.array_equal(chunked[LOCALITY_DIM].to_numpy(), whole[LOCALITY_DIM].to_numpy())
    assert np.array_equal(chunked[PERIOD_DIM].to_numpy(), whole[PERIOD_DIM].to_numpy())
    for name in whole.data_vars:
        assert chunked[name].dtype == whole[name].dtype, name
        assert_allclose(chunked[name].to_numpy(), whole[name].to_numpy(), rtol=1e-6, atol=1e-9, err_msg=name)
    assert chunked.attrs["snapshot"] == whole.attrs["snapshot"]


@pytest.mark.parametrize(
    ("unit", "freq", "block"),
    [("admin2", "M", 7), ("admin3", "W", 25), ("grid:50km", "M", 13)],
    ids=["admin2-monthly-7", "admin3-weekly-25", "grid50-monthly-13"],
)
def test_chunked_cube_equals_one_block(sample_workspace, inputs, unit, freq, block):
    whole = compute_features(sample_workspace, unit=unit, freq=freq, inputs=inputs, save=False)
    chunked = compute_features(sample_workspace, unit=unit, freq=freq, inputs=inputs, save=False, block=block)
    assert whole.sizes[LOCALITY_DIM] > 2 * block  # several blocks, the last one short
    assert int(whole["count_intercommunal"].sum()) > 0
    assert float(whole["splag2_decay_count_violent_hl3"].max()) > 0
    _assert_same_cube(chunked, whole)


def test_a_big_cube_is_written_by_blocks_and_read_back_lazily(sample_workspace, inputs, monkeypatch, caplog):
    import sauti.features.compute as compute
    import sauti.features.storage as storage

    whole = compute_features(sample_workspace, unit="admin3", inputs=inputs, save=False)
    monkeypatch.setattr(compute, "IN_MEMORY_CELLS", 0)  # every cube counts as big
    # written in slabs of 2 blocks, each its own graph (the first and last blocks' halos cross slabs)
    monkeypatch.setattr(storage, "SLAB_CELLS", 2 * 40 * whole.sizes[PERIOD_DIM])
    blocks = -(-whole.sizes[LOCALITY_DIM] // 40)
    slabs = -(-blocks // 2)
    assert slabs >= 3
    with caplog.at_level(logging.INFO, logger="sauti.features"):
        lazy = compute_features(sample_workspace, unit="admin3", inputs=inputs, block=40)
    assert f"cube block {blocks}/{blocks} done; peak memory" in caplog.text  # progress per block
    assert f"cube block {blocks + 1}/{blocks}" not in caplog.text  # no block computed twice
    assert f"cube slab {slabs}/{slabs} written" in caplog.text
    assert f"in {blocks} block(s) of 40; peak memory" in caplog.text
    assert lazy["count_intercommunal"].chunks is not None  # backed by the Zarr store, not in memory
    path = cube_path(sample_workspace, freq="M", unit="admin3")
    assert path.suffix == ".zarr"
    assert path.is_dir()
    stored = xr.open_zarr(path)
    assert stored["decay_count_violent_hl3"].encoding["chunks"][0] == 40  # chunks of 40 localities
    _assert_same_cube(lazy, whole)
    assert stored_provenance(sample_workspace, freq="M", unit="admin3")["timezone"] == "Africa/Bangui"
    # only the latest periods and one variable are read for scoring
    recent = load_cube(sample_workspace, unit="admin3", variables=["count_violent"], last_periods=3)
    assert list(recent.data_vars) == ["count_violent"]
    assert recent.sizes[PERIOD_DIM] == 3
    assert_allclose(recent["count_violent"].to_numpy(), whole["count_violent"].to_numpy()[:, -3:])


def test_a_netcdf_cube_of_earlier_versions_is_converted_on_first_read(sample_workspace, inputs, caplog):
    cube = compute_features(sample_workspace, unit="admin2", inputs=inputs)
    path = cube_path(sample_workspace, freq="M", unit="admin2")
    shutil.rmtree(path.parent / path.readlink())
    path.unlink()
    write_legacy_cube(cube, legacy_cube_path(path))
    with caplog.at_level(logging.WARNING, logger="sauti.features.storage"):
        info = stored_provenance(sample_workspace, freq="M", unit="admin2")
    assert info["snapshot"] == cube.attrs["snapshot"]
    assert "converted the feature cube cube_admin2_M.nc" in caplog.text
    assert path.is_dir()
    assert not legacy_cube_path(path).exists()
    xr.testing.assert_identical(load_cube(sample_workspace, unit="admin2"), cube)


def test_a_damaged_netcdf_cube_says_how_to_rebuild_it(sample_workspace, inputs):
    compute_features(sample_workspace, unit="admin2", freq="W", inputs=inputs)
    path = cube_path(sample_workspace, freq="W", unit="admin2")
    path.unlink()  # the link; its folder is left behind as a crash would
    legacy_cube_path(path).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(
        NotReadyError, match=r"cube_admin2_W\.nc .*run `sauti features --unit admin2 --freq W`"
    ):
        load_cube(sample_workspace, unit="admin2", freq="W")
    assert legacy_cube_path(path).exists()  # kept for the user to look at


def test_a_missing_cube_is_built_only_with_inputs(sample_workspace, inputs):
    path = cube_path(sample_workspace, freq="W", unit="admin3")
    if path.exists():
        path.unlink()
    legacy_cube_path(path).unlink(missing_ok=True)
    with pytest.raises(NotReadyError, match="run `sauti features --unit admin3 --freq W` first"):
        load_or_build_cube(sample_workspace, freq="W", unit="admin3")
    assert not path.exists()
    built = load_or_build_cube(sample_workspace, freq="W", unit="admin3", inputs=inputs)
    info = json.loads(built.attrs["provenance"])
    assert info["timezone"] == "Africa/Bangui"
    assert Path(info["population"]["path"]) == inputs.population
    assert np.isfinite(built["population"]).all()
