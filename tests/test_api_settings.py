"""Settings that change the served behaviour, on a second live server: a local MBTiles basemap,
CORS opened to one origin, a smaller body limit."""

from __future__ import annotations

import io
import sqlite3

import httpx
import pytest
from live_server import start_server
from PIL import Image

pytestmark = [pytest.mark.server, pytest.mark.slow]
ORIGIN = "http://joc.intranet.example"


def _mbtiles(path) -> bytes:
    """A one-tile MBTiles raster (zoom 6, the tile over CAR) in TMS row order."""
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (120, 160, 90)).save(buffer, format="PNG")
    png = buffer.getvalue()
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.execute("CREATE TABLE tiles (zoom_level INT, tile_column INT, tile_row INT, tile_data BLOB)")
        con.execute("INSERT INTO tiles VALUES (6, 35, ?, ?)", ((1 << 6) - 1 - 30, png))
    return png


@pytest.fixture(scope="module")
def tuned(server, tmp_path_factory):
    basemap = tmp_path_factory.mktemp("basemap") / "car.mbtiles"
    png = _mbtiles(basemap)
    env = {
        "SAUTI_BASEMAP": str(basemap),
        "SAUTI_CORS_ORIGINS": f'["{ORIGIN}"]',
        "SAUTI_MAX_BODY_BYTES": "2000",
    }
    live = start_server(server.workspace, server.keys, env)
    yield live, png
    live.stop()


def test_local_mbtiles_basemap_is_served_and_on_the_map(tuned):
    live, png = tuned
    tile = live.get("/basemap/6/35/30.png", "planner")
    assert tile.status_code == 200
    assert tile.content == png
    assert live.get("/basemap/6/0/0.png", "planner").status_code == 404
    assert live.get("/basemap/6/35/30.png", "reporter").status_code == 403
    page = live.get("/map", "planner").text
    assert '"/basemap/{z}/{x}/{y}.png"' in page


def test_local_pmtiles_basemap_is_served_and_on_the_map(server, tmp_path_factory):
    from test_basemap import pyramid, write_pmtiles

    tiles = pyramid("WEBP")
    path = tmp_path_factory.mktemp("pmtiles") / "car.pmtiles"
    from pmtiles.tile import TileType

    write_pmtiles(path, tiles, TileType.WEBP)
    live = start_server(server.workspace, server.keys, {"SAUTI_BASEMAP": str(path)})
    try:
        for z, x, y in [(0, 0, 0), (2, 1, 3), (2, 3, 1)]:
            tile = live.get(f"/basemap/{z}/{x}/{y}.png", "planner")
            assert tile.status_code == 200
            assert tile.content == tiles[(z, x, y)]
            assert tile.headers["content-type"] == "image/webp"
        assert live.get("/basemap/5/1/1.png", "planner").status_code == 404
        page = live.get("/map", "planner").text
        assert '"/basemap/{z}/{x}/{y}.png"' in page
        assert '"maxNativeZoom": 2' in page
    finally:
        live.stop()


def test_an_unusable_basemap_leaves_the_map_working(server, tmp_path):
    path = tmp_path / "vector.pmtiles"
    from pmtiles.tile import TileType
    from test_basemap import write_pmtiles

    write_pmtiles(path, {(0, 0, 0): b"\x1a\x00"}, TileType.MVT)
    live = start_server(server.workspace, server.keys, {"SAUTI_BASEMAP": str(path)})
    try:
        tile = live.get("/basemap/0/0/0.png", "planner")
        assert tile.status_code == 404
        assert "vector tiles" in tile.json()["detail"]
        page = live.get("/map", "planner")
        assert page.status_code == 200
        assert "/basemap/" not in page.text
        assert "basemap not used: vector.pmtiles: holds vector tiles" in live.log.read_text()
    finally:
        live.stop()


def test_no_basemap_configured_is_404_and_absent_from_the_map(server):
    assert server.get("/basemap/6/35/30.png", "planner").status_code == 404
    assert "/basemap/" not in server.get("/map", "planner").text


def test_cors_opens_only_to_the_listed_origin(tuned):
    live, _ = tuned
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"}  # fmt: skip
    ok = httpx.options(live.url + "/api/v1/localities", headers=preflight)
    assert ok.headers.get("access-control-allow-origin") == ORIGIN
    other = httpx.options(
        live.url + "/api/v1/localities", headers={**preflight, "Origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_body_limit_follows_the_setting(tuned):
    live, _ = tuned
    with live.client("reporter") as client:
        small = client.post("/api/v1/alerts", json={"text": "Calme à Bria", "category": "other"})
        big = client.post("/api/v1/alerts", json={"text": "x" * 3000, "place_name": "Bria"})
    assert small.status_code in (200, 201)
    assert big.status_code == 413
    assert "SAUTI_MAX_BODY_BYTES" in big.json()["detail"]  # what the operator sets, not a code name
