"""Heatmap tiles, PNG and GeoTIFF from the live server, checked as images and rasters."""

from __future__ import annotations

import io
import json
import os
import subprocess

import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image

pytestmark = [pytest.mark.server, pytest.mark.slow]
TMS = morecantile.tms.get("WebMercatorQuad")
CAR_CENTRE = (20.9, 6.6)


def _rgba(content: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGBA"))


def test_tile_over_the_country_is_coloured_and_transparent_outside_data(server):
    tile = TMS.tile(*CAR_CENTRE, 6)
    response = server.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", "planner")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    rgba = _rgba(response.content)
    assert rgba.shape == (256, 256, 4)
    opaque = rgba[..., 3] > 0
    assert opaque.mean() > 0.3, "the tile over CAR shows the surface"
    assert len(np.unique(rgba[opaque][:, :3], axis=0)) > 20, "a colour ramp, not a flat fill"


def test_tile_far_from_the_country_is_fully_transparent(server):
    tile = TMS.tile(0.0, 0.0, 6)  # Gulf of Guinea
    rgba = _rgba(server.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.png", "planner").content)
    assert rgba.shape == (256, 256, 4)
    assert rgba[..., 3].max() == 0


@pytest.mark.parametrize(
    "path", ["/tiles/3/9/4.png", "/tiles/40/0/0.png"], ids=["x-beyond-zoom", "zoom-too-deep"]
)
def test_impossible_tiles_are_422(server, path):
    assert server.get(path, "planner").status_code == 422


def test_heatmap_geotiff_for_a_bbox_and_resolution(server):
    response = server.get("/heatmap.tif", "planner", params={"bbox": "19,5,22,7", "resolution_km": 10})
    assert response.status_code == 200
    with rasterio.MemoryFile(response.content) as memfile, memfile.open() as dataset:
        assert dataset.crs is not None
        assert dataset.crs.is_projected
        assert abs(dataset.res[0] - 10_000) < 1
        assert abs(dataset.res[1] - 10_000) < 1
        data = dataset.read(1, masked=True)
        assert dataset.nodata == -9999
        # 3° × 2° near the equator is ~330 × 220 km → ~33 × 22 cells
        assert 28 <= dataset.width <= 40
        assert 18 <= dataset.height <= 28
        assert data.count() > 0
        assert float(data.min()) >= 0
        assert float(data.max()) <= 1
    with rasterio.open(server.workspace / "rasters" / "risk_surface.tif") as full:
        assert dataset.crs == full.crs


def test_heatmap_png_is_an_image_of_the_requested_width(server):
    response = server.get("/heatmap.png", "planner", params={"width": 300})
    rgba = _rgba(response.content)
    assert rgba.shape[1] == 300
    assert (rgba[..., 3] > 0).mean() > 0.2


def test_oversized_geotiff_is_refused(server):
    response = server.get("/heatmap.tif", "planner", params={"resolution_km": 0.01})
    assert response.status_code == 422
    assert "too large" in response.json()["detail"]


# --- the GeoTIFF by URL: HEAD, byte ranges, GDAL's /vsicurl/ ---------------------------------------


def test_head_gives_size_and_ranges_without_a_body(server):
    stored = (server.workspace / "rasters" / "risk_surface.tif").read_bytes()
    with server.client("planner") as client:
        response = client.head("/heatmap.tif")
    assert response.status_code == 200
    assert response.headers["accept-ranges"] == "bytes"
    assert int(response.headers["content-length"]) == len(stored)
    assert response.content == b""
    assert server.get("/heatmap.tif").status_code == 401  # no key, no file


@pytest.mark.parametrize("params", [{}, {"bbox": "19,5,22,7", "resolution_km": 10}], ids=["stored", "part"])
def test_byte_ranges_are_206_pieces_of_the_same_file(server, params):
    whole = server.get("/heatmap.tif", "planner", params=params)
    assert whole.status_code == 200
    size = len(whole.content)
    assert int(whole.headers["content-length"]) == size
    with server.client("planner") as client:
        head = client.get("/heatmap.tif", params=params, headers={"Range": "bytes=0-99"})
        middle = client.get("/heatmap.tif", params=params, headers={"Range": f"bytes=100-{size // 2}"})
        tail = client.get("/heatmap.tif", params=params, headers={"Range": "bytes=-50"})
        beyond = client.get("/heatmap.tif", params=params, headers={"Range": f"bytes={size + 10}-"})
    assert (head.status_code, middle.status_code, tail.status_code) == (206, 206, 206)
    assert head.headers["content-range"] == f"bytes 0-99/{size}"
    assert head.content + middle.content == whole.content[: size // 2 + 1]
    assert tail.content == whole.content[-50:]
    assert tail.headers["content-range"] == f"bytes {size - 50}-{size - 1}/{size}"
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    if not params:  # the stored file is Starlette's FileResponse (multipart answers to several ranges)
        return
    with server.client("planner") as client:
        several = client.get("/heatmap.tif", params=params, headers={"Range": "bytes=0-9,20-29"})
        stale = client.get(
            "/heatmap.tif", params=params, headers={"Range": "bytes=0-9", "If-Range": '"another-version"'}
        )
    # a part: several ranges at once, or a range of a version the client no longer has, get it whole
    assert (several.status_code, stale.status_code) == (200, 200)
    assert several.content == stale.content == whole.content


@pytest.mark.parametrize("query", ["", "?bbox=19,5,22,7&resolution_km=10"], ids=["stored", "part"])
def test_gdal_opens_the_heatmap_lazily_by_url(server, query):
    """What QGIS does: GDAL reads the header and tiles by byte ranges, the key in a header."""
    env = {
        **os.environ,
        "GDAL_HTTP_HEADERS": f"Authorization: Bearer {server.keys['planner']}",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_USE_HEAD": "YES",
    }
    logged = len(server.log.read_bytes())
    done = subprocess.run(
        ["gdalinfo", "-json", "-stats", f"/vsicurl/{server.url}/heatmap.tif{query}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert 'ID["EPSG",326' in info["coordinateSystem"]["wkt"]  # a WGS 84 / UTM zone, by its EPSG code
    tags = info["metadata"][""]
    assert tags["quantity"] == "relative_risk_index"
    assert "not a probability" in tags["units"]
    assert info["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"] == "DEFLATE"
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    band = info["bands"][0]
    assert band["description"] == "relative risk index (not a probability)"
    assert 0 <= band["minimum"] < band["maximum"] <= 1
    # GDAL asked for the size, then read pieces: HEAD and 206 answers in the server's access log
    requests = server.log.read_bytes()[logged:].decode().splitlines()
    requests = [line for line in requests if "/heatmap.tif" in line]
    assert any('"HEAD /heatmap.tif' in line and " 200" in line for line in requests), requests
    assert any('"GET /heatmap.tif' in line and " 206" in line for line in requests), requests
