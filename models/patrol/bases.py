"""Patrol bases: read them from GeoJSON/CSV (name, location, patrols per period, range in km) and
keep them in the workspace table ``patrol_bases`` so the API and the CLI plan from the same set.

Every problem is reported with the file, the row (1-based data row) and the field.
"""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path

import geopandas as gpd
import pandas as pd

from sauti.constants import STORAGE_CRS
from sauti.errors import NotReadyError, SautiError
from sauti.store import Workspace, utc_now

BASE_COLUMNS = ("name", "patrols", "range_km", "geometry")

_ALIASES = {
    "name": ("name", "base", "base_name", "nom"),
    "patrols": ("patrols", "patrols_per_period", "capacity", "patrouilles"),
    "range_km": ("range_km", "range", "radius_km", "rayon_km"),
    "longitude": ("longitude", "lon", "lng", "long", "x"),
    "latitude": ("latitude", "lat", "y"),
}
_VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".kml", ".gml")


class BasesError(SautiError):
    """A bases file that cannot be used as it is."""

    def __init__(self, path: str | PathLike[str], message: str) -> None:
        super().__init__(f"{path}: {message}")


def _pick(columns: list[str], field: str) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    for alias in _ALIASES[field]:
        if alias in lower:
            return lower[alias]
    return None


def _read_table(path: Path) -> gpd.GeoDataFrame:
    if path.suffix.lower() in (".csv", ".txt"):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BasesError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except pd.errors.EmptyDataError as exc:
            raise BasesError(path, "the file is empty") from exc
        columns = list(frame.columns)
        lon, lat = _pick(columns, "longitude"), _pick(columns, "latitude")
        if lon is None or lat is None:
            raise BasesError(
                path, f"a CSV of bases needs longitude and latitude columns; found {', '.join(columns)}"
            )
        xs = [_number(path, row, lon, v) for row, v in enumerate(frame[lon], start=1)]
        ys = [_number(path, row, lat, v) for row, v in enumerate(frame[lat], start=1)]
        frame = frame.drop(columns=[lon, lat])
        return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(xs, ys), crs=STORAGE_CRS)
    import pyogrio

    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise BasesError(path, f"cannot read as a vector file ({exc})") from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry is None:
        raise BasesError(path, "no geometry: give Point features or a CSV with longitude/latitude")
    if frame.crs is None:
        frame = frame.set_crs(STORAGE_CRS)
    return frame.to_crs(STORAGE_CRS)


def _number(path: Path, row: int, field: str, value: object) -> float:
    text = "" if value is None else str(value).strip()
    if text == "" or text.lower() == "nan":
        raise BasesError(path, f"row {row}: field {field!r} is empty")
    try:
        number = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError as exc:
        raise BasesError(path, f"row {row}: field {field!r} is not a number ({text!r})") from exc
    if not math.isfinite(number):
        raise BasesError(path, f"row {row}: field {field!r} is not a finite number ({text!r})")
    return number


def _optional_number(path: Path, row: int, field: str, value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return None
    return _number(path, row, field, value)


def read_bases(path: str | PathLike[str]) -> gpd.GeoDataFrame:
    """Read patrol bases from a GeoJSON (or any vector file) or a CSV.

    Parameters
    ----------
    path : path
        GeoJSON/GeoPackage with Point features, or CSV with ``longitude``/``latitude`` columns.
        Fields: ``name`` (unique), ``patrols`` (patrols per period, integer ≥ 0) and ``range_km``
        (> 0). ``patrols`` and ``range_km`` may be left out when the caller gives them for every
        base (``plan_patrols(..., patrols=, range_km=)``); they are then missing (``<NA>``/NaN).

    Returns
    -------
    GeoDataFrame
        Columns ``name``, ``patrols`` (Int64), ``range_km`` (float), ``geometry`` (Point, EPSG:4326),
        in file order.

    Raises
    ------
    BasesError
        Naming the file, the row and the field: missing file, no rows, no name column, a duplicate
        or empty name, a non-point geometry, coordinates out of range, a negative or fractional
        patrol count, a non-positive range.

    Examples
    --------
    >>> bases = read_bases("data/sample/bases.geojson")  # doctest: +SKIP
    >>> bases[["name", "patrols", "range_km"]].head(2)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise BasesError(path, "file not found")
    if path.suffix.lower() not in (".csv", ".txt", *_VECTOR_SUFFIXES):
        raise BasesError(path, "unsupported bases file: use GeoJSON (.geojson) or CSV (.csv)")
    frame = _read_table(path)
    if frame.empty:
        raise BasesError(path, "no bases in the file")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    name_col = _pick(columns, "name")
    if name_col is None:
        raise BasesError(path, f"no 'name' column; found {', '.join(columns) or 'none'}")
    patrols_col, range_col = _pick(columns, "patrols"), _pick(columns, "range_km")

    names: list[str] = []
    patrols: list[int | None] = []
    ranges: list[float | None] = []
    for row, (idx, record) in enumerate(frame.iterrows(), start=1):
        raw_name = record[name_col]
        name = "" if raw_name is None or pd.isna(raw_name) else str(raw_name).strip()
        if not name:
            raise BasesError(path, f"row {row}: field {name_col!r} is empty")
        if name in names:
            raise BasesError(path, f"row {row}: base name {name!r} appears twice; names must be unique")
        geom = frame.geometry.loc[idx]
        if geom is None or geom.is_empty:
            raise BasesError(path, f"row {row} ({name}): no location")
        if geom.geom_type != "Point":
            raise BasesError(path, f"row {row} ({name}): geometry is a {geom.geom_type}; a base is a Point")
        if not (-180 <= geom.x <= 180 and -90 <= geom.y <= 90):
            raise BasesError(
                path, f"row {row} ({name}): longitude/latitude ({geom.x:g}, {geom.y:g}) out of range"
            )
        count = _optional_number(path, row, patrols_col, record[patrols_col]) if patrols_col else None
        if count is not None and (count < 0 or count != int(count)):
            raise BasesError(
                path, f"row {row} ({name}): field {patrols_col!r} must be a whole number ≥ 0, not {count:g}"
            )
        reach = _optional_number(path, row, range_col, record[range_col]) if range_col else None
        if reach is not None and reach <= 0:
            raise BasesError(path, f"row {row} ({name}): field {range_col!r} must be > 0 km, not {reach:g}")
        names.append(name)
        patrols.append(None if count is None else int(count))
        ranges.append(reach)
    return gpd.GeoDataFrame(
        {
            "name": pd.Series(names, dtype="str"),
            "patrols": pd.array(patrols, dtype="Int64"),
            "range_km": pd.array(ranges, dtype="Float64").astype("float64"),
        },
        geometry=list(frame.geometry),
        crs=STORAGE_CRS,
    )


def save_bases(workspace: Workspace, bases: gpd.GeoDataFrame, source: str | None = None) -> int:
    """Replace the workspace's patrol bases with ``bases`` (as from :func:`read_bases`); return count."""
    check_bases(bases)
    points = bases.to_crs(STORAGE_CRS).geometry
    rows = [
        (
            str(name),
            float(point.x),
            float(point.y),
            None if pd.isna(patrols) else int(patrols),
            None if pd.isna(reach) else float(reach),
            source,
            utc_now(),
        )
        for name, patrols, reach, point in zip(
            bases["name"], bases["patrols"], bases["range_km"], points, strict=True
        )
    ]
    with workspace.session() as con, Workspace.transaction(con):
        con.execute("DELETE FROM patrol_bases")
        con.executemany(
            "INSERT INTO patrol_bases (name, longitude, latitude, patrols, range_km, source, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def workspace_bases(workspace: Workspace) -> gpd.GeoDataFrame:
    """The patrol bases stored in the workspace; raises ``NotReadyError`` when there are none."""
    with workspace.session() as con:
        frame = pd.read_sql_query(
            "SELECT name, longitude, latitude, patrols, range_km FROM patrol_bases ORDER BY rowid", con
        )
    if frame.empty:
        raise NotReadyError(
            "no patrol bases in the workspace: run `sauti patrol --bases FILE --save-bases` "
            "or pass a bases file"
        )
    return gpd.GeoDataFrame(
        {
            "name": frame["name"].astype("str"),
            "patrols": frame["patrols"].astype("Int64"),
            "range_km": frame["range_km"].astype("float64"),
        },
        geometry=gpd.points_from_xy(frame["longitude"], frame["latitude"]),
        crs=STORAGE_CRS,
    )


def check_bases(bases: gpd.GeoDataFrame) -> None:
    """Raise ``ValueError`` if ``bases`` lacks the columns or point geometry a plan needs."""
    if not isinstance(bases, gpd.GeoDataFrame):
        raise ValueError("bases must be a GeoDataFrame (see read_bases)")
    missing = [c for c in ("name",) if c not in bases.columns]
    if missing:
        raise ValueError(f"bases is missing required column(s): {', '.join(missing)}")
    if bases.crs is None:
        raise ValueError("bases has no CRS; read it with read_bases or set EPSG:4326")
    types = set(bases.geometry.geom_type.dropna())
    if types - {"Point"} or bases.geometry.isna().any():
        raise ValueError("every base must have a Point geometry")
    if bases["name"].duplicated().any():
        dup = bases.loc[bases["name"].duplicated(), "name"].iloc[0]
        raise ValueError(f"base name {dup!r} appears twice; names must be unique")
