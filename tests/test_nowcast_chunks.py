"""The nowcast after an alert rewrites only the chunks of the stored cube the alert touches.

A cube read lazily from its Zarr store (as the service keeps a big one) is updated by staging a
new version that shares every other chunk file with the current one, and the values equal a full
rebuild.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from test_ingest_incidents import write_acled

from sauti.constants import LOCALITY_DIM, PERIOD_DIM
from sauti.features import compute_features, cube_path, load_cube
from sauti.features.storage import cube_versions
from sauti.ingest.alerts import ingest_alerts
from sauti.ingest.boundaries import ingest_boundaries
from sauti.ingest.incidents import ingest_incidents
from sauti.models.refresh import refresh_risk
from sauti.store import Workspace

ZONE = "Africa/Bangui"
BLOCK = 10  # localities per stored chunk: the 72 sous-préfectures are 8 chunks


@pytest.fixture
def chunked(tmp_path: Path, sample_dir: Path, monkeypatch) -> Workspace:
    """admin2 boundaries, a year of incidents, and the cube stored in chunks of 10 localities."""
    import sauti.features.compute as compute

    ws = Workspace(tmp_path / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    dates = [f"06 {month} 2022" for month in ("January", "April", "July", "October", "December")]
    ingest_incidents(ws, write_acled(tmp_path / "log.csv", [{"event_date": d} for d in dates]))
    monkeypatch.setattr(compute, "IN_MEMORY_CELLS", 0)  # every cube counts as big: built into the store
    compute_features(ws, timezone=ZONE, block=BLOCK)
    return ws


def _alert_in_bambari(tmp_path: Path) -> Path:
    path = tmp_path / "alert.csv"
    path.write_text(
        "date_reception,message,categorie,latitude,longitude\n"
        "20/12/2022 10:00,Tension entre éleveurs et agriculteurs,tension intercommunautaire,5.7630,20.6700\n",
        encoding="utf-8",
    )
    return path


def _files(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file of a Zarr version: its inode and content hash."""
    return {
        str(f.relative_to(folder)): (f.stat().st_ino, hashlib.sha256(f.read_bytes()).hexdigest())
        for f in folder.rglob("*")
        if f.is_file()
    }


def test_an_alert_rewrites_only_its_blocks_chunks_and_equals_a_full_rebuild(chunked, tmp_path):
    path = cube_path(chunked, freq="M", unit="admin2")
    previous = load_cube(chunked, lazy=True)  # what the service keeps: nothing read yet
    before_folder = path.resolve()
    before = _files(before_folder)
    ingest_alerts(chunked, _alert_in_bambari(tmp_path))

    done = refresh_risk(chunked, freq="M", unit="admin2", previous=previous, timezone=ZONE)

    after_folder = path.resolve()
    assert after_folder != before_folder  # a new version swapped in …
    assert before_folder in cube_versions(path)  # … and the one a lazy reader may hold is kept
    after = _files(after_folder)
    assert set(before) <= set(after)  # (a chunk of fill values only is not stored: it may appear)
    rewritten = {name for name in after if after[name] != before.get(name)}
    data = {name for name in rewritten if not Path(name).name.startswith(".z")}
    # only alert variables, only the chunk column of the last period, only blocks with a moved unit
    n_per_chunks = len(previous["alerts_total"].chunks[1])
    ids = previous[LOCALITY_DIM].to_numpy().astype(str)
    moved_blocks = {int(np.flatnonzero(ids == i)[0]) // BLOCK for i in _moved(done["cube"], previous)}
    assert moved_blocks
    assert len(moved_blocks) < -(-len(ids) // BLOCK)  # not every block
    expected = {
        f"{name}/{block}.{n_per_chunks - 1}"
        for name in previous.data_vars
        if "alerts_" in str(name)
        for block in moved_blocks
    }
    assert data, "the alert's chunks were rewritten"
    assert data <= expected, sorted(data - expected)
    assert {int(name.split("/")[1].split(".")[0]) for name in data} == moved_blocks
    for name in set(after) - rewritten:  # every other chunk file is the same file (hard link)
        assert after[name][0] == before[name][0], name
    assert not {n for n in rewritten - data if not Path(n).name.startswith(".z")}
    # the nowcast's cube equals a full rebuild, every variable, every locality
    full = compute_features(chunked, timezone=ZONE, save=False)
    stored = load_cube(chunked)
    assert stored.attrs["snapshot"] == full.attrs["snapshot"] != previous.attrs["snapshot"]
    for name in full.data_vars:
        np.testing.assert_allclose(stored[name].to_numpy(), full[name].to_numpy(), rtol=1e-5, atol=1e-6)
    bambari = str(full["name"].to_series().loc[lambda s: s == "Bambari"].index[0])
    assert stored["alerts_total"].sel(locality=bambari).to_numpy()[-1] > 0


def _moved(new, previous) -> list[str]:
    """Localities whose last-period values differ between two cubes."""
    moved = np.zeros(new.sizes[LOCALITY_DIM], dtype=bool)
    for name in new.data_vars:
        if PERIOD_DIM not in new[name].dims:
            continue
        a = new[name].isel({PERIOD_DIM: -1}).to_numpy()
        b = previous[name].isel({PERIOD_DIM: -1}).to_numpy()
        moved |= ~np.isclose(a, b, equal_nan=True)
    return new[LOCALITY_DIM].to_numpy().astype(str)[moved].tolist()


def test_the_service_keeps_a_big_cube_lazily_and_a_small_one_in_memory(chunked, monkeypatch):
    import sauti.features.compute as compute
    from sauti.features import CubeInputs
    from sauti.models.refresh import nowcast_base

    inputs = CubeInputs(timezone=ZONE)
    big = nowcast_base(chunked, freq="M", unit="admin2", inputs=inputs)  # IN_MEMORY_CELLS = 0 here
    assert big["count_violent"].chunks is not None  # nothing of it is held: read when used
    assert big.encoding["version"] == str(cube_path(chunked, freq="M", unit="admin2").resolve())
    monkeypatch.setattr(compute, "IN_MEMORY_CELLS", 2_000_000)
    small = nowcast_base(chunked, freq="M", unit="admin2", inputs=inputs)
    assert small["count_violent"].chunks is None
    np.testing.assert_allclose(small["count_violent"].to_numpy(), big["count_violent"].to_numpy())


def test_a_lazy_cube_whose_files_are_gone_is_rebuilt_not_an_error(chunked, tmp_path, monkeypatch):
    import sauti.features.storage as storage
    from sauti.features import save_cube

    monkeypatch.setattr(storage, "_FRESH_VERSION_S", 0.0)
    path = cube_path(chunked, freq="M", unit="admin2")
    previous = load_cube(chunked, lazy=True)
    for _ in range(2):  # two swaps by another writer: the version the service held is removed
        save_cube(load_cube(chunked), path)
    assert not Path(previous.encoding["version"]).exists()
    ingest_alerts(chunked, _alert_in_bambari(tmp_path))
    done = refresh_risk(chunked, freq="M", unit="admin2", previous=previous, timezone=ZONE)
    full = compute_features(chunked, timezone=ZONE, save=False)
    assert done["cube"].attrs["snapshot"] == full.attrs["snapshot"]
    np.testing.assert_allclose(load_cube(chunked)["alerts_total"].to_numpy(), full["alerts_total"].to_numpy())
