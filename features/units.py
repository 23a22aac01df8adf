"""Unit sets the cube is built on: a stored admin level, or a regular grid of N-km cells.

Grid cells are squares in the country's Lambert azimuthal equal-area CRS
(:func:`sauti.geo.local_crs`), clipped to the country outline, with ids ``g<N>_<row>_<col>``
(row 0 at the north edge) and returned in EPSG:4326 like every stored locality.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from sauti.constants import LOCALITY_COLUMNS, LOCALITY_ID, STORAGE_CRS
from sauti.errors import NotReadyError
from sauti.geo import local_crs, parent_positions

if TYPE_CHECKING:  # pragma: no cover
    from pyproj import CRS

    from sauti.store import Workspace

_GRID = re.compile(r"grid:(\d+(?:\.\d+)?)\s*km")


def parse_unit(unit: str) -> tuple[str, float | None]:
    """``("admin2", None)`` for an admin level, ``("grid", 10.0)`` for ``grid:10km``."""
    text = str(unit).strip().lower()
    match = _GRID.fullmatch(text)
    if match:
        size = float(match.group(1))
        if size <= 0:
            raise ValueError(f"grid cell size must be positive, got {unit!r}")
        return "grid", size
    if re.fullmatch(r"admin[0-4]", text):
        return text, None
    raise ValueError(f"unit must be an admin level (admin1, admin2, admin3, ...) or grid:<N>km, not {unit!r}")


def unit_slug(unit: str) -> str:
    """File-name-safe form of a unit (``grid:10km`` → ``grid10km``)."""
    kind, size = parse_unit(unit)
    if kind == "grid":
        return f"grid{size:g}km".replace(".", "p")
    return kind


def make_grid(outline: shapely.Geometry, cell_km: float, *, crs: CRS | None = None) -> gpd.GeoDataFrame:
    """Square cells of ``cell_km`` covering ``outline`` (EPSG:4326), clipped to it.

    Parameters
    ----------
    outline : shapely geometry
        The area to cover, in lon/lat.
    cell_km : float
        Cell side in km, in ``crs``.
    crs : pyproj CRS, optional
        Equal-area CRS of the cells; default :func:`sauti.geo.local_crs` of the outline.

    Returns
    -------
    GeoDataFrame
        ``locality_id`` (``g<N>_<row>_<col>``), ``row``, ``col``, ``area_km2`` and the clipped
        cell geometry in EPSG:4326; cells that do not touch the outline are dropped.
    """
    if cell_km <= 0:
        raise ValueError(f"cell_km must be positive, got {cell_km}")
    crs = crs or local_crs(shapely.bounds(outline).tolist())
    shape = gpd.GeoSeries([outline], crs=STORAGE_CRS).to_crs(crs).iloc[0]
    minx, miny, maxx, maxy = shape.bounds
    size = cell_km * 1000.0
    # a hair of tolerance: an outline exactly N cells wide must not grow an (N+1)th column
    ncol = max(1, int(np.ceil((maxx - minx) / size - 1e-6)))
    nrow = max(1, int(np.ceil((maxy - miny) / size - 1e-6)))
    if nrow * ncol > 5_000_000:
        raise ValueError(f"grid of {cell_km} km cells would have {nrow * ncol:,} cells; choose larger cells")
    rows, cols = np.divmod(np.arange(nrow * ncol), ncol)
    x0 = minx + cols * size
    y1 = maxy - rows * size
    cells = shapely.box(x0, y1 - size, x0 + size, y1)
    shapely.prepare(shape)
    touching = shapely.intersects(shape, cells)
    rows, cols, cells = rows[touching], cols[touching], cells[touching]
    inside = shapely.contains_properly(shape, cells)
    clipped = cells.copy()
    edge = ~inside
    if edge.any():
        clipped[edge] = shapely.intersection(cells[edge], shape)
        clipped[edge] = _polygonal(clipped[edge])
    # slivers under a millionth of a cell are projection round-off, not land
    keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > size * size * 1e-6)
    rows, cols, clipped = rows[keep], cols[keep], clipped[keep]
    tag = f"g{cell_km:g}".replace(".", "p")
    frame = gpd.GeoDataFrame(
        {
            LOCALITY_ID: [f"{tag}_{r}_{c}" for r, c in zip(rows, cols, strict=True)],
            "row": rows,
            "col": cols,
            "area_km2": shapely.area(clipped) / 1e6,
        },
        geometry=clipped,
        crs=crs,
    )
    return frame.to_crs(STORAGE_CRS)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    out = geoms.copy()
    for i, geom in enumerate(geoms):
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
            out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def stored_level(
    workspace: Workspace, level: str, stored: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """The stored localities of one level: from ``stored`` (every level, already read from the
    store) when given, else read from the workspace. Same rows, order and columns either way."""
    if stored is None:
        return workspace.localities(level)
    frame = stored[stored["level"] == level].reset_index(drop=True)
    for column in frame.columns:  # a column NULL on every row of the level reads as None, as from SQL
        if column != frame.geometry.name and frame[column].dtype != object and frame[column].isna().all():
            frame[column] = pd.Series([None] * len(frame), dtype=object)
    return frame


def country_outline(
    workspace: Workspace, stored: gpd.GeoDataFrame | None = None
) -> tuple[object | None, pd.Series | None]:
    """The country outline (union of the stored admin0 localities) and the first admin0 row.

    ``(None, None)`` when the workspace holds no admin0 level (callers choose their fallback).
    ``stored``: every stored locality, when the caller has read them already.
    """
    if "admin0" not in workspace.levels():
        return None, None
    admin0 = stored_level(workspace, "admin0", stored)
    return shapely.union_all(admin0.geometry.to_numpy()), admin0.iloc[0]


def _grid_outline(workspace: Workspace, stored: gpd.GeoDataFrame | None) -> tuple[object, pd.Series | None]:
    """What a grid covers: the country outline, else the union of the finest admin level stored."""
    levels = workspace.levels()
    if not levels:
        raise NotReadyError(
            f"no boundaries in the workspace {workspace.root}; "
            "run `sauti ingest boundaries FILE --level admin2` first"
        )
    outline, admin0 = country_outline(workspace, stored)
    if outline is not None:
        return outline, admin0
    finest = sorted(level for level in levels if level.startswith("admin"))[-1]
    return shapely.union_all(stored_level(workspace, finest, stored).geometry.to_numpy()), None


def grid_localities(
    workspace: Workspace, cell_km: float, *, stored: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """The ``grid:<cell_km>km`` unit set of a workspace, with admin1 parents from the store
    (``stored``: every stored locality, when the caller has read them already)."""
    outline, admin0 = _grid_outline(workspace, stored)
    grid = make_grid(outline, cell_km)
    out = gpd.GeoDataFrame(index=grid.index, geometry=grid.geometry, crs=STORAGE_CRS)
    for column in LOCALITY_COLUMNS:
        if column != "geometry":
            out[column] = None
    out[LOCALITY_ID] = grid[LOCALITY_ID].to_numpy()
    out["name"] = grid[LOCALITY_ID].to_numpy()
    out["level"] = "grid"
    out["area_km2"] = grid["area_km2"].to_numpy()
    out["alt_names"] = [[] for _ in range(len(out))]
    if admin0 is not None:
        out["admin0_id"], out["admin0_name"] = admin0[LOCALITY_ID], admin0["name"]
    levels = workspace.levels()
    if "admin1" in levels:
        admin1 = stored_level(workspace, "admin1", stored)
        where = parent_positions(grid.geometry.to_numpy(), admin1.geometry.to_numpy())
        ok = where >= 0
        out.loc[ok, "admin1_id"] = admin1[LOCALITY_ID].to_numpy()[where[ok]]
        out.loc[ok, "admin1_name"] = admin1["name"].to_numpy()[where[ok]]
        out["parent_id"], out["parent_name"] = out["admin1_id"], out["admin1_name"]
    out = out[list(LOCALITY_COLUMNS)]
    return out.reset_index(drop=True)


def unit_localities(
    workspace: Workspace, unit: str = "admin2", *, stored: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """The localities of a unit set: a stored admin level, or ``grid:<N>km`` cells.

    Parameters
    ----------
    workspace : sauti.store.Workspace
    unit : str
        ``admin1``, ``admin2``, ``admin3`` … (as stored) or ``grid:<N>km``.
    stored : GeoDataFrame, optional
        Every stored locality (``workspace.localities()``), when the caller has read them
        already: the store is then not read again.

    Returns
    -------
    GeoDataFrame
        Canonical locality columns, geometry in EPSG:4326, sorted by ``locality_id`` (admin) or
        by row and column (grid).

    Raises
    ------
    sauti.errors.NotReadyError
        When the workspace holds no boundaries of that level.
    """
    kind, size = parse_unit(unit)
    if kind == "grid":
        return grid_localities(workspace, size, stored=stored)
    localities = stored_level(workspace, kind, stored)
    if localities.empty:
        have = ", ".join(workspace.levels()) or "none"
        raise NotReadyError(
            f"the workspace {workspace.root} has no {kind} localities (it has: {have}); "
            f"run `sauti ingest boundaries FILE --level {kind}` or choose another --unit"
        )
    return localities.reset_index(drop=True)
