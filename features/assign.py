"""Spatial assignment of incidents and alerts to the localities of a unit set.

The rule, by ``location_precision`` (docs/features.md has the full table):

* ``point``: the locality whose polygon contains the point (``contains``); a point outside every
  locality but within ``tolerance_km`` of one (measured in :func:`sauti.geo.local_crs`) goes to the
  nearest (``snapped``); farther ones are ``outside``.
* ``locality``: the locality containing the point (``contains``), else the locality whose name
  matches the event's ``admin2`` (then ``admin1``) name (``named``), else the nearest within the
  tolerance (``snapped``), else ``outside``.
* ``region``: never a locality (``region``); only its admin1 region is kept, in ``region_id``, found
  from the locality containing the point or else from the ``admin1`` name.
* ``country``: nothing (``country``).

Points on a shared border go to the first locality in the frame's order that touches them, so
the rule is deterministic. Names are compared accent- and case-insensitively without the
``province``/``region``/``prefecture`` suffixes the sources add, exactly first, then fuzzily
(rapidfuzz ratio at least ``name_score``).
"""

from __future__ import annotations

import re
import unicodedata

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from sauti.constants import LOCALITY_ID
from sauti.geo import local_crs

ASSIGNMENTS = ("contains", "snapped", "named", "region", "country", "outside")
CONTAINED_IN = "contained_in"
"""Optional events column: the ``locality_id`` of the unit whose polygon holds the point, found by
the store (PostGIS, :meth:`sauti.store.Workspace.locate_incidents`), missing where none does; the
point-in-polygon step then is not repeated here (points without one are still tested and snapped)."""
IN_SCOPE = ("contains", "snapped", "named")

_SUFFIXES = re.compile(
    r"\b(province|prefecture|sous prefecture|sub prefecture|region|district|county|commune|"
    r"state|department|departement)\b"
)


def normalise_name(name: object) -> str:
    """Accent-, case-, punctuation- and suffix-insensitive key of a place name."""
    if not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = _SUFFIXES.sub(" ", text)
    return re.sub(r"\s+", "", text)


def match_names(names: pd.Series, candidates: pd.Series, *, score: float = 85.0) -> pd.Series:
    """Map each of ``names`` to the index label of the best-matching ``candidates`` entry (or NA).

    Exact match on :func:`normalise_name` first; otherwise the best rapidfuzz ratio at least
    ``score``. A candidate name shared by several labels is ambiguous and never matches.
    """
    from rapidfuzz import fuzz, process

    keys = candidates.map(normalise_name)
    keys = keys[keys != ""]
    counts = keys.value_counts()
    unique = keys[keys.map(counts) == 1]
    lookup = dict(zip(unique.to_numpy(), unique.index, strict=True))
    choices = list(lookup)
    out: dict[object, object] = {}
    for raw in pd.unique(names.dropna()):
        key = normalise_name(raw)
        if not key:
            continue
        if key in lookup:
            out[raw] = lookup[key]
            continue
        best = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=score) if choices else None
        if best is not None:
            out[raw] = lookup[best[0]]
    return names.map(out).astype("object").where(names.map(out).notna(), None)


def _coordinates(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    if "longitude" in events and "latitude" in events:
        lon = pd.to_numeric(events["longitude"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(events["latitude"], errors="coerce").to_numpy(dtype=float)
        return lon, lat
    if isinstance(events, gpd.GeoDataFrame):
        geoms = events.geometry
        if events.crs is not None and not events.crs.equals("EPSG:4326"):
            geoms = geoms.to_crs("EPSG:4326")
        values = geoms.to_numpy()
        ok = ~(shapely.is_missing(values) | shapely.is_empty(values))
        lon = np.full(len(values), np.nan)
        lat = np.full(len(values), np.nan)
        lon[ok] = shapely.get_x(values[ok])
        lat[ok] = shapely.get_y(values[ok])
        return lon, lat
    raise ValueError("events need longitude and latitude columns (or a point geometry)")


def locate_points(
    lon: np.ndarray, lat: np.ndarray, localities: gpd.GeoDataFrame, *, tolerance_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """Position of the locality containing each point, or the nearest within ``tolerance_km``.

    Returns ``(position, snapped)``: ``position`` is ``-1`` where no locality qualifies;
    ``snapped`` is true where the point was outside every polygon but near enough.
    """
    n = len(lon)
    position = np.full(n, -1, dtype=np.int64)
    snapped = np.zeros(n, dtype=bool)
    valid = np.isfinite(lon) & np.isfinite(lat)
    if not valid.any() or len(localities) == 0:
        return position, snapped
    polygons = localities.geometry.to_numpy()
    tree = shapely.STRtree(polygons)
    where = np.flatnonzero(valid)
    points = shapely.points(lon[where], lat[where])
    hits = tree.query(points, predicate="intersects")
    if hits.shape[1]:
        # several hits (shared border): keep the smallest locality position for determinism
        order = np.lexsort((hits[1], hits[0]))
        point_i, poly_i = hits[0][order], hits[1][order]
        first = np.r_[True, point_i[1:] != point_i[:-1]]
        position[where[point_i[first]]] = poly_i[first]
    missing = where[position[where] < 0]
    if len(missing) and tolerance_km > 0:
        crs = local_crs(tuple(localities.total_bounds))
        projected = gpd.GeoSeries(polygons, crs=localities.crs).to_crs(crs).to_numpy()
        far = (
            gpd.GeoSeries(shapely.points(lon[missing], lat[missing]), crs="EPSG:4326").to_crs(crs).to_numpy()
        )
        near_tree = shapely.STRtree(projected)
        pairs, _dist = near_tree.query_nearest(
            far, max_distance=tolerance_km * 1000.0, return_distance=True, all_matches=True
        )
        if pairs.shape[1]:
            order = np.lexsort((pairs[1], pairs[0]))
            pi, li = pairs[0][order], pairs[1][order]
            first = np.r_[True, pi[1:] != pi[:-1]]
            position[missing[pi[first]]] = li[first]
            snapped[missing[pi[first]]] = True
    return position, snapped


def assign_to_localities(
    events: pd.DataFrame,
    localities: gpd.GeoDataFrame,
    *,
    tolerance_km: float,
    name_score: float = 85.0,
) -> pd.DataFrame:
    """Assign events to localities by location precision (the rule in the module docstring).

    Parameters
    ----------
    events : DataFrame
        Incidents with ``longitude``/``latitude`` (or a point geometry), ``location_precision``
        (missing means ``point``) and optionally ``admin1``/``admin2`` names.
    localities : GeoDataFrame
        The unit set, with ``locality_id`` and optionally ``name``, ``admin1_id``, ``admin1_name``.
    tolerance_km : float
        Snapping distance for points just outside every locality.
    name_score : float
        Least fuzzy-match score (0-100) for a name to identify a locality or region.

    Returns
    -------
    DataFrame
        A copy of ``events`` with ``locality_id`` (None where not locality-assignable),
        ``assignment`` (one of ``contains``, ``snapped``, ``named``, ``region``, ``country``,
        ``outside``) and ``region_id`` (the admin1 id the event counts towards, or None).

    Examples
    --------
    >>> out = assign_to_localities(incidents, units, tolerance_km=5)  # doctest: +SKIP
    >>> out["assignment"].value_counts()  # doctest: +SKIP
    """
    localities = _check_localities(localities, tolerance_km)
    out = events.copy()
    precision = _precision(out)
    lon, lat = _coordinates(out)
    contained = None
    if CONTAINED_IN in out:  # found by the store: positions in ``localities`` (-1: none, or not a unit)
        units = pd.Index(localities[LOCALITY_ID].astype("object").to_numpy())
        contained = units.get_indexer(out.pop(CONTAINED_IN).astype("object"))
    position, snapped = _locate(lon, lat, precision, localities, tolerance_km, contained)
    assignment, final = _locality_assignment(out, precision, position, snapped, lon, localities, name_score)
    ids = localities[LOCALITY_ID].astype("object").to_numpy()
    regions = (
        localities["admin1_id"].astype("object").to_numpy()
        if "admin1_id" in localities
        else np.full(len(ids), None)
    )
    locality = np.full(len(out), None, dtype=object)
    locality[final >= 0] = ids[final[final >= 0]]
    region = np.full(len(out), None, dtype=object)
    region[final >= 0] = regions[final[final >= 0]]
    is_region = precision == "region"
    assignment[is_region] = "region"
    assignment[precision == "country"] = "country"
    region_pos = is_region & (position >= 0)
    region[region_pos] = regions[position[region_pos]]
    need_region_name = is_region & (position < 0)
    if need_region_name.any() and "admin1" in out and "admin1_name" in localities:
        region[need_region_name] = _named_regions(out.loc[need_region_name, "admin1"], localities, name_score)
    out[LOCALITY_ID] = pd.Series(locality, index=out.index, dtype="object")
    out["assignment"] = pd.Series(assignment, index=out.index, dtype="object")
    out["region_id"] = pd.Series(region, index=out.index, dtype="object")
    return out


def _check_localities(localities: gpd.GeoDataFrame, tolerance_km: float) -> gpd.GeoDataFrame:
    """The localities in lon/lat, after checking they have ids and the tolerance is not negative."""
    if LOCALITY_ID not in localities:
        raise ValueError("localities need a locality_id column")
    if tolerance_km < 0:
        raise ValueError(f"tolerance_km must be >= 0, got {tolerance_km}")
    if localities.crs is not None and not localities.crs.equals("EPSG:4326"):
        localities = localities.to_crs("EPSG:4326")
    return localities


def _precision(events: pd.DataFrame) -> np.ndarray:
    """Each event's location precision (missing means ``point``), checked against the known values."""
    precision = (
        events["location_precision"].astype("object").fillna("point").to_numpy()
        if "location_precision" in events
        else np.full(len(events), "point", dtype=object)
    )
    unknown = sorted(set(precision) - {"point", "locality", "region", "country"})
    if unknown:
        raise ValueError(
            f"location_precision has unknown value(s) {unknown}; expected point/locality/region/country"
        )
    return precision


def _locate(
    lon, lat, precision: np.ndarray, localities, tolerance_km: float, contained: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Containing (or snapped) locality position of every event that is not country-wide.

    Region events only look for the containing polygon (their point is the region's centroid).
    ``contained``: containing positions found already (by the store), ``-1`` where none was.
    """
    position = np.full(len(precision), -1, dtype=np.int64)
    snapped = np.zeros(len(precision), dtype=bool)
    todo = precision != "country"
    if contained is not None:
        found = todo & (contained >= 0)
        position[found] = contained[found]
        todo &= ~found
    todo = np.flatnonzero(todo)
    if len(todo):
        tol = np.where(precision[todo] == "region", 0.0, tolerance_km)
        for tol_value in np.unique(tol):
            sel = todo[tol == tol_value]
            pos, snap = locate_points(lon[sel], lat[sel], localities, tolerance_km=float(tol_value))
            position[sel], snapped[sel] = pos, snap
    return position, snapped


def _locality_assignment(events, precision, position, snapped, lon, localities, name_score: float):
    """``contains``/``snapped``/``named``/``outside`` per event and the chosen locality position (-1).

    Locality-precise events outside every polygon (or without a point): the named locality beats
    a snap.
    """
    n = len(precision)
    local = ~np.isin(precision, ["region", "country"])
    found = local & (position >= 0)
    by_name = local & (precision == "locality") & ((position < 0) | snapped) | (local & ~np.isfinite(lon))
    named = np.full(n, -1, dtype=np.int64)
    if by_name.any():
        named[by_name] = _named_positions(events.loc[by_name], localities, name_score)
    use_name = by_name & (named >= 0)
    assignment = np.full(n, "outside", dtype=object)
    assignment[found & ~snapped] = "contains"
    assignment[found & snapped] = "snapped"
    assignment[use_name] = "named"
    return assignment, np.where(use_name, named, np.where(found, position, -1))


def _named_regions(admin1: pd.Series, localities: gpd.GeoDataFrame, score: float) -> np.ndarray:
    """The admin1 id matching each ``admin1`` name (or None)."""
    names = localities[["admin1_id", "admin1_name"]].dropna().drop_duplicates("admin1_id")
    return match_names(admin1, names.set_index("admin1_id")["admin1_name"], score=score).to_numpy()


def _named_positions(events: pd.DataFrame, localities: gpd.GeoDataFrame, score: float) -> np.ndarray:
    """Position of the locality named by each event's admin2 (else admin1) name, or -1."""
    result = np.full(len(events), -1, dtype=np.int64)
    if "name" not in localities:
        return result
    candidates = pd.Series(localities["name"].to_numpy(), index=np.arange(len(localities)))
    for column in ("admin2", "admin1"):
        if column not in events:
            continue
        todo = result < 0
        if not todo.any():
            break
        matched = match_names(events[column].iloc[np.flatnonzero(todo)], candidates, score=score)
        values = matched.to_numpy()
        ok = pd.notna(values)
        idx = np.flatnonzero(todo)[ok]
        result[idx] = values[ok].astype(np.int64)
    return result


def assign_alerts(alerts: pd.DataFrame, localities: gpd.GeoDataFrame, *, tolerance_km: float) -> pd.DataFrame:
    """Assign alerts: their stored ``locality_id`` when it is one of ``localities``, else by point.

    Alerts whose locality could not be resolved and who carry no usable point feed nothing
    (``assignment`` ``outside``, ``locality_id`` None).
    """
    out = alerts.copy()
    known = set(localities[LOCALITY_ID].astype("object"))
    stored = (
        out[LOCALITY_ID].astype("object").where(out[LOCALITY_ID].notna(), None)
        if LOCALITY_ID in out
        else pd.Series(None, index=out.index, dtype="object")
    )
    direct = stored.map(lambda v: v in known).to_numpy(dtype=bool)
    by_point = (
        out.loc[~direct].drop(columns=[LOCALITY_ID], errors="ignore").assign(location_precision="point")
    )
    located = assign_to_localities(by_point, localities, tolerance_km=tolerance_km)
    locality = stored.where(direct, None).to_numpy(dtype=object, copy=True)
    assignment = np.where(direct, "stored", "outside").astype(object)
    locality[~direct] = located[LOCALITY_ID].to_numpy(dtype=object)
    assignment[~direct] = located["assignment"].to_numpy(dtype=object)
    region_of = (
        dict(zip(localities[LOCALITY_ID], localities["admin1_id"], strict=True))
        if "admin1_id" in localities
        else {}
    )
    out[LOCALITY_ID] = pd.Series(locality, index=out.index, dtype="object")
    out["assignment"] = pd.Series(assignment, index=out.index, dtype="object")
    out["region_id"] = out[LOCALITY_ID].map(region_of).astype("object")
    return out
