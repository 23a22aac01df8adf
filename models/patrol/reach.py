"""Who can reach whom: distances from each base to each locality's target point, and which
(base, locality) pairs a plan may use (within range, target outside every no-go area, and with
``avoid_crossing`` a straight route that crosses none).

Distance rule: from the base to the locality's **centroid** (its representative point when the
centroid falls outside a concave polygon; the point itself for point localities), measured in
:func:`sauti.geo.local_crs` centred on the localities and bases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sauti.constants import STORAGE_CRS
from sauti.geo import local_crs

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import shapely


def _target_points(localities: gpd.GeoDataFrame, crs) -> tuple[np.ndarray, Any]:
    """Target point of each locality (projected xy and 4326 GeoSeries)."""
    import shapely

    projected = localities.geometry.to_crs(crs)
    centroids = projected.centroid
    polygonal = projected.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    outside = polygonal & ~shapely.contains(projected.to_numpy(), centroids.to_numpy())
    points = centroids.to_numpy().copy()
    if outside.any():
        points[outside] = projected.iloc[np.flatnonzero(outside)].representative_point().to_numpy()
    xy = shapely.get_coordinates(points)
    import geopandas as gpd

    return xy, gpd.GeoSeries(points, crs=crs).to_crs(STORAGE_CRS)


def _blocked(
    base_xy: np.ndarray,
    target_xy: np.ndarray,
    pair_base: np.ndarray,
    pair_loc: np.ndarray,
    no_go: shapely.STRtree,
) -> np.ndarray:
    """Boolean per pair: does the straight base→target line intersect a no-go area (in ``no_go``)?"""
    import shapely

    if pair_base.size == 0 or len(no_go) == 0:
        return np.zeros(pair_base.size, dtype=bool)
    coords = np.stack([base_xy[pair_base], target_xy[pair_loc]], axis=1)  # (k, 2, 2)
    lines = shapely.linestrings(coords)
    hits = no_go.query(lines, predicate="intersects")
    blocked = np.zeros(pair_base.size, dtype=bool)
    blocked[np.unique(hits[0])] = True
    return blocked


@dataclass(frozen=True)
class Reach:
    """The (base, locality) pairs within range, computed once per localities × bases × no-go set.

    ``pair_*`` list every pair within range (base order, then locality order); ``allowed`` marks
    pairs whose target is outside every no-go area and ``open_route`` those whose straight route
    also avoids them. ``nearest_km`` is each base's distance to its nearest target point.
    """

    names: list[str]
    target_points: Any  # GeoSeries (EPSG:4326), one per locality, in locality order
    pair_base: np.ndarray
    pair_locality: np.ndarray
    pair_distance: np.ndarray
    allowed: np.ndarray
    open_route: np.ndarray
    nearest_km: np.ndarray
    base_in_no_go: np.ndarray


def compute_reach(
    localities: gpd.GeoDataFrame,
    bases: gpd.GeoDataFrame,
    *,
    no_go: gpd.GeoDataFrame | None = None,
    avoid_crossing: bool = True,
) -> Reach:
    """Distances from each base to each locality's target point and which pairs may be used.

    ``bases`` needs ``name`` and ``range_km``; distances are straight lines in
    :func:`sauti.geo.local_crs` centred on the localities and bases.
    """
    import shapely

    names = bases["name"].astype(str).tolist()
    ranges = bases["range_km"].to_numpy(dtype=float)
    bounds = np.vstack([localities.to_crs(STORAGE_CRS).total_bounds, bases.to_crs(STORAGE_CRS).total_bounds])
    crs = local_crs((bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()))
    target_xy, target_points = _target_points(localities, crs)
    base_xy = shapely.get_coordinates(bases.geometry.to_crs(crs).to_numpy())

    # base by base, so B × N distances are never held at once for a big N
    pair_base, pair_loc, pair_dist = [], [], []
    nearest = np.full(len(names), np.inf)
    for b in range(len(names)):
        d = np.hypot(target_xy[:, 0] - base_xy[b, 0], target_xy[:, 1] - base_xy[b, 1]) / 1000.0
        nearest[b] = d.min() if d.size else np.inf
        idx = np.flatnonzero(d <= ranges[b])
        pair_base.append(np.full(idx.size, b, dtype=np.int64))
        pair_loc.append(idx.astype(np.int64))
        pair_dist.append(d[idx])
    pair_base_arr = np.concatenate(pair_base) if pair_base else np.zeros(0, dtype=np.int64)
    pair_loc_arr = np.concatenate(pair_loc) if pair_loc else np.zeros(0, dtype=np.int64)
    pair_dist_arr = np.concatenate(pair_dist) if pair_dist else np.zeros(0)

    target_in_no_go = np.zeros(len(localities), dtype=bool)
    base_in_no_go = np.zeros(len(names), dtype=bool)
    blocked = np.zeros(pair_base_arr.size, dtype=bool)
    if no_go is not None and len(no_go):
        if no_go.crs is None:
            raise ValueError("no-go areas have no CRS; set one (e.g. EPSG:4326)")
        geoms = no_go.geometry.to_crs(crs).to_numpy()
        geoms = geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)]
        tree = shapely.STRtree(geoms)
        hits = tree.query(shapely.points(target_xy), predicate="intersects")
        target_in_no_go[np.unique(hits[0])] = True
        base_hits = tree.query(shapely.points(base_xy), predicate="intersects")
        base_in_no_go[np.unique(base_hits[0])] = True
    allowed = ~target_in_no_go[pair_loc_arr]
    if avoid_crossing and no_go is not None and len(no_go):
        blocked[allowed] = _blocked(base_xy, target_xy, pair_base_arr[allowed], pair_loc_arr[allowed], tree)
    return Reach(
        names=names,
        target_points=target_points,
        pair_base=pair_base_arr,
        pair_locality=pair_loc_arr,
        pair_distance=pair_dist_arr,
        allowed=allowed,
        open_route=allowed & ~blocked,
        nearest_km=nearest,
        base_in_no_go=base_in_no_go,
    )
