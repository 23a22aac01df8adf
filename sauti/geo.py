"""CRS helpers: where areas and distances are measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyproj import CRS

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from numpy.typing import ArrayLike

# Equal-area CRS valid worldwide (WGS 84 / NSIDC EASE-Grid 2.0 Global) for areas in km².
EQUAL_AREA_CRS = "EPSG:6933"


def local_crs(bounds: tuple[float, float, float, float]) -> CRS:
    """A Lambert azimuthal equal-area CRS centred on ``bounds`` (lon/lat).

    Areas are exact and distances are good to well under 1% within ~1,000 km of the centre, which
    covers any one mission area; used for grids, buffers and distances (risk surfaces use
    :func:`utm_crs`, an EPSG code GIS tools name).
    """
    minx, miny, maxx, maxy = bounds
    lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
    return CRS.from_proj4(f"+proj=laea +lat_0={lat0:.4f} +lon_0={lon0:.4f} +datum=WGS84 +units=m +no_defs")


def utm_crs(bounds: tuple[float, float, float, float]) -> CRS:
    """The WGS 84 / UTM zone of the centre of ``bounds`` (lon/lat): EPSG:326zz north, 327zz south.

    An EPSG-identified metric CRS for files people open in GIS tools (QGIS shows the code, not
    "unknown"). Across a mission area up to ~20° of longitude wide the scale error stays under 2%.
    """
    minx, miny, maxx, maxy = bounds
    lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
    zone = int((lon0 + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat0 >= 0 else 32700) + zone)


def parent_positions(children: ArrayLike, parents: ArrayLike) -> np.ndarray:
    """Index of the parent polygon holding each child's representative point, else of the nearest.

    ``children`` and ``parents`` are arrays of shapely geometries in one CRS; returns an int array
    (one position in ``parents`` per child). Used where a unit's parent is known only by location
    (grid cells, boundary files without parent codes).
    """
    import numpy as np
    import shapely

    points = shapely.point_on_surface(np.asarray(children))
    tree = shapely.STRtree(np.asarray(parents))
    where = np.full(len(points), -1, dtype=np.int64)
    hits = tree.query(points, predicate="intersects")
    if hits.shape[1]:
        order = np.lexsort((hits[1], hits[0]))
        pi, qi = hits[0][order], hits[1][order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        where[pi[first]] = qi[first]
    missing = np.flatnonzero(where < 0)
    if len(missing):
        nearest = tree.query_nearest(points[missing], all_matches=False)
        where[missing[nearest[0]]] = nearest[1]
    return where
