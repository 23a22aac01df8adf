"""The cube built on an existing Dask cluster: a real ``dask scheduler`` and ``dask worker`` on
127.0.0.1, started here and torn down at the end. The cluster does the work (its task counter
moves) and the scores equal those of a run on this machine."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sauti.constants import LOCALITY_ID
from sauti.errors import SautiError
from sauti.features import CubeInputs, compute_features
from sauti.models import latest_scores, score, train
from sauti.scheduler import dask_scheduler
from sauti.store import Workspace

DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with one worker (one thread), both real processes."""
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    started = []
    try:
        started.append(
            subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                stdout=(logs / "scheduler.log").open("w"),
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
        args = ["--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"]
        started.append(
            subprocess.Popen(
                [DASK, "worker", address, *args, "--memory-limit", "2GiB", "--local-directory", str(logs)],
                stdout=(logs / "worker.log").open("w"),
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(1, timeout=60)
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _task_count(address: str) -> int:
    from distributed import Client

    with Client(address, timeout="10s") as client:
        return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter))


def _scores(workspace: Workspace, inputs: CubeInputs) -> np.ndarray:
    cube = compute_features(workspace, unit="admin2", inputs=inputs, block=9)  # 8 blocks of localities
    train(workspace, freq="M", unit="admin2", cube=cube)
    score(workspace, freq="M", unit="admin2", cube=cube)
    frame = latest_scores(workspace, freq="M", unit="admin2").sort_values(LOCALITY_ID)
    return frame[[LOCALITY_ID, "probability"]].to_numpy()


def test_the_cluster_builds_the_cube_and_scores_equal_the_local_run(
    cluster, sample_workspace, sample_dir, tmp_path
):
    inputs = CubeInputs(
        population=sample_dir / "population" / "worldpop2020_density_caf.tif", timezone="Africa/Bangui"
    )
    remote_ws = Workspace(tmp_path / "remote")
    shutil.copytree(sample_workspace.root, remote_ws.root)
    before = _task_count(cluster)
    with dask_scheduler(cluster) as client:
        assert client is not None
        remote = _scores(remote_ws, inputs)
    moved = _task_count(cluster) - before
    assert moved > 8 * 2  # at least the blocks' count and lag tasks ran there
    with dask_scheduler(None) as client:
        assert client is None
        local = _scores(sample_workspace, inputs)
    assert len(local) == 72
    assert (remote[:, 0] == local[:, 0]).all()
    np.testing.assert_allclose(remote[:, 1].astype(float), local[:, 1].astype(float), rtol=0, atol=1e-6)


def test_training_reads_its_rows_on_the_cluster_and_fits_the_same_model(cluster, sample_workspace, tmp_path):
    """Training reads the cube's blocks of localities as Dask work: on the cluster when one is set
    (its task counter moves), with the same fitted model as on this machine."""
    from sauti.features import load_cube

    records = {}
    for where in ("cluster", "local"):
        ws = Workspace(tmp_path / where)
        shutil.copytree(sample_workspace.root, ws.root)
        cube = load_cube(ws, freq="M", unit="admin2", lazy=True)
        before = _task_count(cluster)
        with dask_scheduler(cluster if where == "cluster" else None):
            records[where] = train(ws, freq="M", unit="admin2", cube=cube, row_budget=10_000)
        moved = _task_count(cluster) - before
        assert (moved > 0) == (where == "cluster")
    remote, local = records["cluster"]["training"], records["local"]["training"]
    assert remote["negative_sampling"] == local["negative_sampling"]  # the same sampled rows
    assert remote["negative_sampling"]["rate"] < 1
    for key in ("in_sample_average_precision", "in_sample_brier"):
        assert remote[key] == pytest.approx(local[key], abs=1e-9)
    assert remote["weights"] == pytest.approx(local["weights"], abs=1e-9)


def test_an_unreachable_scheduler_is_one_clear_error():
    with (
        pytest.raises(SautiError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:\d+"),
        dask_scheduler(f"tcp://127.0.0.1:{_free_port()}", timeout_s=2),
    ):
        pass
    with (
        pytest.raises(SautiError, match="expected an address like tcp://HOST:PORT"),
        dask_scheduler("127.0.0.1:1"),
    ):
        pass
