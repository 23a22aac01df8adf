"""Known "not ready" states answer 503 saying what to run, never a 500 with a traceback (#20 item 6).

A workspace is built step by step (ingest → features → train → score → heatmap → bases); each
step a client reaches before it has run is a 503 whose ``detail`` names the command to run, and the
server log holds no error id (those are kept for real failures). A request the workspace can never
answer (a zero-area box for an image) is the caller's 422, not a ZeroDivisionError.
"""

from __future__ import annotations

import re

import pytest
from live_server import add_users, copy_workspace, drop_patrol_bases, sauti, start_server

pytestmark = [pytest.mark.server, pytest.mark.slow]
ERROR_ID = re.compile(r"error [0-9a-f]{12} on ")


def _assert_not_ready(response, command: str, live) -> None:
    assert response.status_code == 503, (response.status_code, response.text, live.log_tail())
    body = response.json()
    assert body["type"] == "NotReadyError"
    assert command in body["detail"]
    assert str(live.workspace) not in body["detail"]  # no server path
    assert "Traceback" not in body["detail"]


@pytest.fixture(scope="module")
def boundaries_only(sample_dir, tmp_path_factory):
    """A workspace that holds boundaries and nothing else (no incidents, cube, model or heatmap)."""
    workspace = tmp_path_factory.mktemp("not-ready") / "ws"
    done = sauti(
        "ingest", "boundaries", str(sample_dir / "boundaries" / "caf_adm2.gpkg"), "--level", "admin2",
        workspace=workspace,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    live = start_server(workspace, add_users(workspace))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """A store with users and nothing else (the service started before any ingest)."""
    workspace = tmp_path_factory.mktemp("empty") / "ws"
    live = start_server(workspace, add_users(workspace))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def no_bases(server, tmp_path_factory):
    """The demo workspace without saved patrol bases."""
    workspace = drop_patrol_bases(copy_workspace(server.workspace, tmp_path_factory.mktemp("nb") / "ws"))
    live = start_server(workspace, server.keys)
    yield live
    live.stop()


@pytest.mark.parametrize(
    ("path", "command"),
    [
        ("/api/v1/localities/rising", "sauti train"),
        ("/api/v1/periods", "sauti train"),
        ("/api/v1/patrols/priorities", "sauti patrol"),
        ("/heatmap.png", "sauti heatmap"),
        ("/heatmap.tif", "sauti heatmap"),
        ("/tiles/5/17/15.png", "sauti heatmap"),
    ],
    ids=["rising", "periods", "patrols", "heatmap-png", "heatmap-tif", "tile"],
)
def test_steps_not_yet_run_are_503_with_the_command(boundaries_only, path, command):
    _assert_not_ready(boundaries_only.get(path, "admin"), command, boundaries_only)
    assert boundaries_only.get("/api/v1/localities", "admin").status_code == 200  # what is there is served
    assert ERROR_ID.search(boundaries_only.log.read_text()) is None, boundaries_only.log_tail()


@pytest.mark.parametrize(
    "path",
    ["/api/v1/localities", "/ogc/collections", "/ogc/collections/localities/items", "/map"],
    ids=["localities", "ogc-collections", "ogc-items", "map"],
)
def test_a_store_without_boundaries_says_to_ingest_them(empty_store, path):
    _assert_not_ready(empty_store.get(path, "admin"), "boundaries", empty_store)
    assert ERROR_ID.search(empty_store.log.read_text()) is None, empty_store.log_tail()


def test_patrol_priorities_without_saved_bases_is_503(no_bases):
    response = no_bases.get("/api/v1/patrols/priorities", "planner")
    _assert_not_ready(response, "sauti patrol --bases FILE --save-bases", no_bases)
    assert ERROR_ID.search(no_bases.log.read_text()) is None, no_bases.log_tail()


@pytest.mark.parametrize("path", ["/heatmap.png", "/heatmap.tif"], ids=["png", "tif"])
@pytest.mark.parametrize("bbox", ["20,5,20,5", "20,5,21,5", "20,5,20,6"], ids=["point", "flat", "thin"])
def test_an_image_of_a_box_without_area_is_422(server, path, bbox):
    response = server.get(path, "planner", params={"bbox": bbox})
    assert response.status_code == 422, (response.status_code, response.text)
    body = response.json()
    assert body["errors"] == [{"field": "bbox", "reason": "zero width or height"}]
    assert "width and height" in body["detail"]
