"""Heatmap rendering of the risk surface COG with rio-tiler: XYZ tiles, a PNG preview, GeoTIFF parts.

The dataset is opened once per thread (rasterio handles are not thread-safe) and reopened only when
the file changes; the colour stretch (0 → 99th percentile) is computed once per file version and
rendered tiles are kept in a small LRU cache keyed by the file version. Cells without data are
fully transparent, and the lowest risks fade to transparent so the choropleth stays readable.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

from sauti.api.errors import InvalidInput
from sauti.cache import Memo
from sauti.errors import InvalidInputError, NotReadyError

TILE_SIZE = 256
TILE_CACHE = 4096
PART_CACHE = 8  # GeoTIFF parts (bbox × resolution) kept for range requests
MAX_PIXELS = 4096 * 4096
MAX_ZOOM = 16


def risk_colormap() -> dict[int, tuple[int, int, int, int]]:
    """YlOrRd with an alpha ramp: 0 transparent, opaque from a quarter of the stretch upwards."""
    from matplotlib import colormaps

    ramp = colormaps["YlOrRd"]
    out = {}
    for i in range(256):
        r, g, b, _ = ramp(i / 255)
        alpha = 0 if i == 0 else int(min(1.0, 0.25 + 3 * i / 255) * 230)
        out[i] = (int(r * 255), int(g * 255), int(b * 255), alpha)
    return out


def _empty_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (TILE_SIZE, TILE_SIZE), (0, 0, 0, 0)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _require_area(bbox: tuple[float, float, float, float] | None, what: str) -> None:
    """An image needs a box with width and height (a point or a line has no pixels to draw)."""
    if bbox is not None and (bbox[2] <= bbox[0] or bbox[3] <= bbox[1]):
        raise InvalidInput(
            f"{what} needs a bbox with width and height: minx must be below maxx and miny below maxy",
            [{"field": "bbox", "reason": "zero width or height"}],
        )


class HeatmapRenderer:
    """Renders one risk-surface file; safe to share between request threads.

    Parameters
    ----------
    path : Path
        The risk surface GeoTIFF (a COG in a UTM CRS, written by ``features.write_cog``).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._tiles = Memo(TILE_CACHE)  # rendered PNGs by (file version, z, x, y)
        self._parts = Memo(PART_CACHE)  # GeoTIFF parts by (file version, bbox, resolution)
        self._stretch = Memo(4)  # colour stretch by file version
        self.colormap = risk_colormap()
        self.empty_tile = _empty_png()

    # --- dataset --------------------------------------------------------------------------------
    def version(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            raise NotReadyError(
                "no risk surface in the workspace yet: run `sauti heatmap` (or `sauti demo --no-serve`) first"
            ) from None

    def reader(self):
        """This thread's open rio-tiler Reader for the current file version."""
        from rio_tiler.io import Reader

        version = self.version()
        held = getattr(self._local, "held", None)
        if held is None or held[0] != version:
            if held is not None:
                held[1].close()
            self._local.held = (version, Reader(str(self.path)))
        return self._local.held[1]

    def stretch(self) -> tuple[float, float]:
        """``(0, p99)`` of the surface's valid cells: the range mapped onto the colour ramp."""
        return self._stretch.get(self.version(), self._compute_stretch)

    def _compute_stretch(self) -> tuple[float, float]:
        dataset = self.reader().dataset
        scale = max(1, max(dataset.width, dataset.height) // 1024)
        data = dataset.read(
            1, out_shape=(max(1, dataset.height // scale), max(1, dataset.width // scale)), masked=True
        )
        valid = np.asarray(data.compressed(), dtype=float)
        valid = valid[np.isfinite(valid)]
        top = float(np.percentile(valid, 99)) if valid.size else 1.0
        return (0.0, top if top > 0 else 1.0)

    def _render(self, image, fmt: str = "PNG") -> bytes:
        lo, hi = self.stretch()
        image.array = np.ma.masked_invalid(image.array)
        image.rescale(in_range=((lo, hi),))
        return image.render(img_format=fmt, colormap=self.colormap)

    # --- products -------------------------------------------------------------------------------
    def tile(self, z: int, x: int, y: int) -> bytes:
        """The PNG XYZ tile (Web Mercator); a transparent tile outside the surface."""
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            raise InvalidInputError(
                f"tile {z}/{x}/{y} does not exist: need 0 ≤ z ≤ {MAX_ZOOM}, 0 ≤ x, y < 2^z"
            )
        return self._tiles.get((self.version(), z, x, y), lambda: self._render_tile(z, x, y))

    def _render_tile(self, z: int, x: int, y: int) -> bytes:
        from rio_tiler.errors import TileOutsideBounds

        reader = self.reader()
        if not reader.tile_exists(x, y, z):
            return self.empty_tile
        try:
            return self._render(reader.tile(x, y, z, tilesize=TILE_SIZE))
        except TileOutsideBounds:
            return self.empty_tile

    def png(self, bbox: tuple[float, float, float, float] | None, width: int | None) -> bytes:
        """A coloured PNG of the surface (EPSG:4326) for ``bbox`` (default: all of it)."""
        _require_area(bbox, "heatmap.png")
        reader = self.reader()
        bbox = bbox or tuple(reader.get_geographic_bounds("EPSG:4326"))
        minx, miny, maxx, maxy = bbox
        width = width or 1024
        height = max(16, int(round(width * (maxy - miny) / max(maxx - minx, 1e-9))))
        if width * height > MAX_PIXELS:
            raise InvalidInputError(
                f"heatmap.png of {width}×{height} pixels is too large: narrow bbox or lower width"
            )
        image = reader.part(bbox, dst_crs="EPSG:4326", bounds_crs="EPSG:4326", width=width, height=height)
        return self._render(image)

    def geotiff(self, bbox: tuple[float, float, float, float] | None, resolution_km: float | None) -> bytes:
        """A Cloud-Optimized GeoTIFF of the risk values for ``bbox`` (lon/lat) at ``resolution_km``.

        Native CRS (an EPSG code), deflate-compressed, with the surface's tags (``quantity``,
        ``units``, ``description``, …); the last few parts are kept so the byte-range requests of
        one client (GDAL's ``/vsicurl/``) do not render it again.
        """
        _require_area(bbox, "heatmap.tif")
        key = (self.version(), bbox, resolution_km)
        return self._parts.get(key, lambda: self._render_part(bbox, resolution_km))

    def _render_part(self, bbox, resolution_km) -> bytes:
        import xarray as xr
        from rasterio.warp import transform_bounds

        from sauti.features.surface import cog_bytes

        dataset = self.reader().dataset
        if bbox is None:
            bounds = tuple(dataset.bounds)
        else:
            bounds = transform_bounds("EPSG:4326", dataset.crs, *bbox, densify_pts=21)
        res_m = resolution_km * 1000 if resolution_km else abs(dataset.transform.a)
        width = max(1, math.ceil((bounds[2] - bounds[0]) / res_m))
        height = max(1, math.ceil((bounds[3] - bounds[1]) / res_m))
        if width * height > MAX_PIXELS:
            raise InvalidInputError(
                f"heatmap.tif of {width}×{height} pixels is too large: narrow bbox or raise resolution_km"
            )
        # grow the box to whole pixels from its top-left corner so the pixel size is exactly res_m
        bounds = (bounds[0], bounds[3] - height * res_m, bounds[0] + width * res_m, bounds[3])
        image = self.reader().part(
            bounds, dst_crs=dataset.crs, bounds_crs=dataset.crs, width=width, height=height
        )
        values = np.ma.masked_invalid(image.array[0].astype("float32")).filled(np.nan)
        tags = {k: v for k, v in dataset.tags().items() if k != "AREA_OR_POINT"}
        attrs = {
            **tags,
            "crs": dataset.crs.to_wkt(),
            "transform": tuple(image.transform)[:6],
            "nodata": -9999.0,
            "resolution_km": res_m / 1000,
        }
        return cog_bytes(xr.DataArray(values, dims=("y", "x"), attrs=attrs))
