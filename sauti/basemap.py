"""The optional local raster basemap: an MBTiles or PMTiles file named by ``SAUTI_BASEMAP``.

Mission networks are closed, so the map never asks a tile server for a basemap: this serves the
tiles of a file copied onto the server (``/basemap/{z}/{x}/{y}.png``). Raster tiles only (PNG,
JPEG, WebP): Leaflet draws them as they are; vector tiles would need a renderer in the page.
PMTiles v3 is read with the ``pmtiles`` package (protomaps); MBTiles is SQLite (TMS rows).
"""

from __future__ import annotations

import gzip
import logging
import mmap
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sauti.cache import Memo
from sauti.errors import SautiError

log = logging.getLogger("sauti.basemap")

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
KINDS = (".mbtiles", ".pmtiles")


class BasemapError(SautiError):
    """The configured basemap file cannot be served (named file, reason)."""


@dataclass
class Basemap:
    """An open basemap file: what it holds and how to read one tile."""

    path: Path
    kind: str  # "mbtiles" | "pmtiles"
    format: str  # png | jpg | webp
    min_zoom: int
    max_zoom: int
    _reader: Any = field(default=None, repr=False)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ ``z/x/y``, or None where the file has none."""
        if not (self.min_zoom <= z <= self.max_zoom and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        if self.kind == "pmtiles":
            data = self._reader.get(z, x, y)
            if data is None:
                return None
            data = bytes(data)
            return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
        finally:
            con.close()
        return None if row is None else bytes(row[0])

    def describe(self) -> dict[str, Any]:
        """What the health endpoint shows (the file name, not its folder)."""
        return {
            "file": self.path.name,
            "kind": self.kind,
            "format": self.format,
            "min_zoom": self.min_zoom,
            "max_zoom": self.max_zoom,
        }


def _format(value: Any, path: Path) -> str:
    name = str(value or "").strip().lower()
    if name in MEDIA_TYPES:
        return "jpg" if name == "jpeg" else name
    if name in ("pbf", "mvt"):
        raise BasemapError(
            f"{path.name}: holds vector tiles ({name}); the offline map draws raster basemaps only "
            "(PNG, JPEG or WebP tiles)"
        )
    raise BasemapError(f"{path.name}: tile format {name or 'unknown'!r} is not PNG, JPEG or WebP")


def _open_mbtiles(path: Path) -> Basemap:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
            low, high = con.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
            head = con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BasemapError(f"{path.name}: not an MBTiles file ({exc})") from exc
    if low is None:
        raise BasemapError(f"{path.name}: holds no tiles")
    fmt = meta.get("format") or _sniff(bytes(head[0]) if head else b"")
    return Basemap(path, "mbtiles", _format(fmt, path), int(low), int(high))


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return ""


def _open_pmtiles(path: Path) -> Basemap:
    from pmtiles.reader import Reader
    from pmtiles.tile import TileType

    handle = open(path, "rb")  # noqa: SIM115 - kept open with its memory map for the process
    try:
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except ValueError as exc:  # an empty file
        handle.close()
        raise BasemapError(f"{path.name}: empty file") from exc
    if mapping[:7] != b"PMTiles" or mapping[7] != 3:
        handle.close()
        raise BasemapError(f"{path.name}: not a PMTiles version 3 file")
    reader = Reader(lambda offset, length: mapping[offset : offset + length])
    try:
        header = reader.header()
    except Exception as exc:  # a truncated or damaged file
        handle.close()
        raise BasemapError(f"{path.name}: unreadable PMTiles header ({exc})") from exc
    names = {TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp", TileType.MVT: "mvt"}
    fmt = _format(names.get(header["tile_type"], str(header["tile_type"])), path)
    return Basemap(path, "pmtiles", fmt, int(header["min_zoom"]), int(header["max_zoom"]), _reader=reader)


_OPEN = Memo(1)  # one configured basemap: a newer version of the file replaces the older
_OPEN_LOCK = threading.Lock()  # opened by one thread, not by every request that sees it first


def open_basemap(path: Path | None) -> Basemap | None:
    """The basemap at ``path`` (None when no basemap is configured).

    Raises :class:`BasemapError` when the file is missing, of another kind, or not raster tiles.
    Opened once per file version (path, size, mtime) and shared by all requests.
    """
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in KINDS:
        raise BasemapError(f"{path.name}: a basemap must be an .mbtiles or .pmtiles file")
    try:
        stat = path.stat()
    except OSError as exc:
        raise BasemapError(f"{path.name}: cannot read the basemap ({exc.strerror})") from exc
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _OPEN_LOCK:
        return _OPEN.get(key, lambda: _open(path))


def _open(path: Path) -> Basemap:
    opened = _open_pmtiles(path) if path.suffix.lower() == ".pmtiles" else _open_mbtiles(path)
    log.info("basemap %s: %s tiles, zoom %d-%d", path.name, opened.format, opened.min_zoom, opened.max_zoom)
    return opened
