"""Local raster basemap files (MBTiles, PMTiles): tiles read back exactly, misfits refused with a reason."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from PIL import Image
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write

from sauti.basemap import BasemapError, open_basemap


def tile_bytes(colour: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def write_pmtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], tile_type=TileType.PNG) -> Path:
    """A PMTiles v3 file with the given XYZ tiles (written by the protomaps writer)."""
    with write(path) as writer:
        for (z, x, y), data in sorted(tiles.items(), key=lambda item: zxy_to_tileid(*item[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), data)
        writer.finalize(
            {"tile_type": tile_type, "tile_compression": Compression.NONE, "min_zoom": 0, "max_zoom": 0},
            {"attribution": "test"},
        )
    return path


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], fmt: str | None) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.execute("CREATE TABLE tiles (zoom_level INT, tile_column INT, tile_row INT, tile_data BLOB)")
        if fmt:
            con.execute("INSERT INTO metadata VALUES ('format', ?)", (fmt,))
        for (z, x, y), data in tiles.items():
            con.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, data))
    return path


def pyramid(fmt: str = "PNG") -> dict[tuple[int, int, int], bytes]:
    """Zooms 0-2, every tile a different colour, so a mix-up of x, y or z shows."""
    return {
        (z, x, y): tile_bytes((40 * z, 60 * x % 256, 60 * y % 256), fmt)
        for z in range(3)
        for x in range(1 << z)
        for y in range(1 << z)
    }


def test_pmtiles_raster_tiles_come_back_byte_for_byte(tmp_path):
    tiles = pyramid()
    basemap = open_basemap(write_pmtiles(tmp_path / "car.pmtiles", tiles))
    assert (basemap.kind, basemap.format, basemap.media_type) == ("pmtiles", "png", "image/png")
    assert (basemap.min_zoom, basemap.max_zoom) == (0, 2)
    for (z, x, y), data in tiles.items():
        assert basemap.tile(z, x, y) == data, (z, x, y)
    assert basemap.tile(3, 0, 0) is None  # deeper than the file
    assert basemap.tile(2, 4, 0) is None  # outside the zoom's grid


def test_mbtiles_rows_are_flipped_and_the_format_read(tmp_path):
    tiles = pyramid("JPEG")
    basemap = open_basemap(write_mbtiles(tmp_path / "car.mbtiles", tiles, "jpg"))
    assert (basemap.kind, basemap.media_type, basemap.max_zoom) == ("mbtiles", "image/jpeg", 2)
    for (z, x, y), data in tiles.items():
        assert basemap.tile(z, x, y) == data, (z, x, y)
    # no format in the metadata: told by the tiles' bytes
    sniffed = open_basemap(
        write_mbtiles(tmp_path / "nofmt.mbtiles", {(0, 0, 0): tile_bytes((1, 2, 3))}, None)
    )
    assert sniffed.media_type == "image/png"


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        (
            "vector.pmtiles",
            lambda p: write_pmtiles(p, {(0, 0, 0): b"\x1a\x00"}, TileType.MVT),
            "vector tiles",
        ),
        ("vector.mbtiles", lambda p: write_mbtiles(p, {(0, 0, 0): b"\x1a\x00"}, "pbf"), "vector tiles"),
        ("empty.mbtiles", lambda p: write_mbtiles(p, {}, "png"), "holds no tiles"),
        ("junk.pmtiles", lambda p: p.write_bytes(b"not a tile archive at all"), "not a PMTiles version 3"),
        ("junk.mbtiles", lambda p: p.write_bytes(b"not sqlite either" * 20), "not an MBTiles file"),
        ("zero.pmtiles", lambda p: p.write_bytes(b""), "empty file"),
        ("map.tif", lambda p: p.write_bytes(b"II*\x00"), "must be an .mbtiles or .pmtiles"),
        ("missing.pmtiles", lambda p: None, "cannot read the basemap"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    with pytest.raises(BasemapError, match=message) as caught:
        open_basemap(path)
    assert name in str(caught.value)
    assert str(tmp_path) not in str(caught.value)  # the server's folders stay out of replies


def test_no_basemap_configured_is_none():
    assert open_basemap(None) is None
