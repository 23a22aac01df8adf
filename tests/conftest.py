"""Shared fixtures: the real data, the sample, the sample workspace built once per session, the live
server, small hand-built geometries and fresh workspaces."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from live_server import (
    LiveServer,
    add_users,
    copy_workspace,
    copy_workspace_to_postgres,
    sauti,
    start_server,
)
from shapely.geometry import Point, box

from sauti.ingest.boundaries import ingest_boundaries
from sauti.store import Workspace

pytest_plugins = ["postgres_fixtures"]  # --postgres, and the fixtures that run a test on both back-ends

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``../shared/data``) beside the checkout."""
    if not SHARED.exists():
        pytest.fail(f"real data not found at {SHARED}: the checkout must have ../shared beside it")
    return SHARED


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def car_template(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """A workspace holding the sample's CAR admin2 and admin3 boundaries, built once per session (the
    alert tests copy it: tests/test_alerts.py, tests/test_alert_submit.py)."""
    ws = Workspace(tmp_path_factory.mktemp("car") / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm3.gpkg", "admin3")
    return ws.root


@pytest.fixture
def car_workspace(car_template: Path, tmp_path: Path) -> Workspace:
    """A fresh copy of :func:`car_template`: a workspace holding the CAR admin2 and admin3 boundaries."""
    shutil.copytree(car_template, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


@pytest.fixture(scope="session")
def sample_workspace_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample workspace (``sauti demo --no-serve``: boundaries, incidents, alerts, monthly admin2
    cube, model, scores, heatmap, bases), built once per session. Never change it: take a copy
    (:func:`sample_workspace`, or :func:`live_server.copy_workspace`).

    ``SAUTI_TEST_SAMPLE_WORKSPACE=/path/to/ws`` uses an already built one instead (quick local runs).
    """
    prebuilt = os.environ.get("SAUTI_TEST_SAMPLE_WORKSPACE")
    workspace = tmp_path_factory.mktemp("sample-template") / "ws"
    if prebuilt:
        shutil.copytree(prebuilt, workspace)
        return workspace
    done = sauti("demo", "--no-serve", workspace=workspace)
    if done.returncode != 0:
        pytest.fail(f"`sauti demo --no-serve` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return workspace


@pytest.fixture(scope="module")
def sample_workspace(sample_workspace_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A private copy of the sample workspace for one test module."""
    return Workspace(copy_workspace(sample_workspace_template, tmp_path_factory.mktemp("sample") / "ws"))


@pytest.fixture(scope="session")
def sqlite_server(sample_workspace_template: Path, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """A real uvicorn process on 127.0.0.1 serving a copy of the sample workspace, one user per role."""
    workspace = copy_workspace(sample_workspace_template, tmp_path_factory.mktemp("served") / "ws")
    live = start_server(workspace, add_users(workspace))
    yield live
    live.stop()


@pytest.fixture(scope="session")
def server(sqlite_server: LiveServer) -> LiveServer:
    """The served sample workspace (:func:`sqlite_server`); modules run on both back-ends override
    it with :func:`served`."""
    return sqlite_server


@pytest.fixture(scope="session")
def postgres_served(
    sample_workspace_template: Path, tmp_path_factory: pytest.TempPathFactory, postgres_session_url: str
) -> LiveServer:
    """:func:`sqlite_server` on PostgreSQL: a copy of the sample moved into a database of its own
    (``sauti db copy``'s function), one user per role, served with ``SAUTI_DATABASE_URL``."""
    url = postgres_session_url
    folder = tmp_path_factory.mktemp("served-pg") / "ws"
    root = copy_workspace_to_postgres(sample_workspace_template, folder, url)
    live = start_server(
        root, add_users(root, database_url=url), extra_env={"SAUTI_DATABASE_URL": url}, startup_s=180
    )
    yield live
    live.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest) -> LiveServer:
    """The sample workspace served on each back-end: a module whose tests exercise SQL runs them on
    both by overriding ``server`` with a fixture that returns this one. One server per back-end for
    the session (:func:`sqlite_server`, :func:`postgres_served`), as the SQLite one always was."""
    return request.getfixturevalue("sqlite_server" if request.param == "sqlite" else "postgres_served")


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty workspace in a temporary folder."""
    return Workspace(tmp_path / "ws")


@pytest.fixture
def three_squares() -> gpd.GeoDataFrame:
    """Three 1°×1° squares in a row (A | B | C) as admin2 localities in two admin1 regions."""
    return gpd.GeoDataFrame(
        {
            "locality_id": ["A", "B", "C"],
            "name": ["Alpha", "Bêta", "Gamma"],
            "level": "admin2",
            "admin1_id": ["R1", "R1", "R2"],
            "admin1_name": ["Region One", "Region One", "Region Two"],
        },
        geometry=[box(20, 5, 21, 6), box(21, 5, 22, 6), box(22, 5, 23, 6)],
        crs="EPSG:4326",
    )


@pytest.fixture
def three_points() -> gpd.GeoDataFrame:
    """One point inside each square of :func:`three_squares`."""
    return gpd.GeoDataFrame(
        {"event_id": ["e1", "e2", "e3"]},
        geometry=[Point(20.5, 5.5), Point(21.5, 5.5), Point(22.5, 5.5)],
        crs="EPSG:4326",
    )
