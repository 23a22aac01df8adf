"""CRS helpers: where areas and distances are measured."""

from __future__ import annotations

from pyproj import CRS

# Equal-area CRS valid worldwide (WGS 84 / NSIDC EASE-Grid 2.0 Global) for areas in km².
EQUAL_AREA_CRS = "EPSG:6933"


def local_crs(bounds: tuple[float, float, float, float]) -> CRS:
    """A Lambert azimuthal equal-area CRS centred on ``bounds`` (lon/lat).

    Areas are exact and distances are good to well under 1% within ~1,000 km of the centre, which
    covers any one mission area; used for grids, buffers, distances and kernel densities.
    """
    minx, miny, maxx, maxy = bounds
    lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
    return CRS.from_proj4(f"+proj=laea +lat_0={lat0:.4f} +lon_0={lon0:.4f} +datum=WGS84 +units=m +no_defs")
