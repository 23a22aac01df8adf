"""Patrol bases: read them from GeoJSON/CSV files, bytes, mappings or frames (name, location, patrols
per period, range in km) and keep them in the workspace table ``patrol_bases`` so the API and the
CLI plan from the same set.

Every problem is reported with the source, the row (1-based data row) and the field.
"""

from __future__ import annotations

import io
import json
import math
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from sauti.constants import STORAGE_CRS
from sauti.db import read_frame
from sauti.errors import InvalidInputError, NotReadyError, SautiError, reader_problem
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
    """Bases that cannot be used as they are (the message names the source, row and field)."""

    def __init__(self, path: str | PathLike[str], message: str) -> None:
        super().__init__(f"{path}: {message}")


BasesSource = str | PathLike[str] | bytes | pd.DataFrame | dict


def _pick(columns: list[str], field: str) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    for alias in _ALIASES[field]:
        if alias in lower:
            return lower[alias]
    return None


def _read_source(source: BasesSource, label: str | None) -> tuple[str, gpd.GeoDataFrame]:
    """What to call the source in messages, and its rows as a GeoDataFrame in EPSG:4326."""
    if isinstance(source, gpd.GeoDataFrame):
        return label or "bases", _to_storage_crs(source.copy())
    if isinstance(source, pd.DataFrame):
        where = label or "bases"
        return where, _points_from_columns(where, source.astype(object))
    if isinstance(source, dict):
        source = json.dumps(source).encode("utf-8")
    if isinstance(source, (bytes, bytearray)):
        return label or "posted bases", _read_bytes(label or "posted bases", bytes(source))
    path = Path(source)
    if not path.exists():
        raise BasesError(path, "file not found")
    if path.suffix.lower() in (".csv", ".txt"):
        return str(path), _read_csv(path, path)
    if path.suffix.lower() not in _VECTOR_SUFFIXES:
        raise BasesError(path, "unsupported bases file: use GeoJSON (.geojson) or CSV (.csv)")
    return str(path), _read_vector(path, path)


def _read_bytes(where: str, data: bytes) -> gpd.GeoDataFrame:
    """GeoJSON or GeoPackage bytes through GDAL; anything else is read as CSV text."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:16]
    if head.startswith((b"{", b"SQLite format 3")):
        return _read_vector(where, io.BytesIO(data))
    return _read_csv(where, io.BytesIO(data))


def _read_csv(where: str | Path, handle: Path | io.BytesIO) -> gpd.GeoDataFrame:
    try:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BasesError(where, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except pd.errors.EmptyDataError as exc:
        raise BasesError(where, "the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise BasesError(where, f"not a CSV table ({exc})") from exc
    return _points_from_columns(where, frame)


def _points_from_columns(where: str | Path, frame: pd.DataFrame) -> gpd.GeoDataFrame:
    columns = [str(c) for c in frame.columns]
    lon, lat = _pick(columns, "longitude"), _pick(columns, "latitude")
    if lon is None or lat is None:
        raise BasesError(
            where, f"a CSV of bases needs longitude and latitude columns; found {', '.join(columns)}"
        )
    xs = [_number(where, row, lon, v) for row, v in enumerate(frame[lon], start=1)]
    ys = [_number(where, row, lat, v) for row, v in enumerate(frame[lat], start=1)]
    frame = frame.drop(columns=[lon, lat])
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(xs, ys), crs=STORAGE_CRS)


def _read_vector(where: str | Path, source: Path | io.BytesIO) -> gpd.GeoDataFrame:
    import pyogrio

    try:
        frame = pyogrio.read_dataframe(source)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise BasesError(where, f"cannot read as a vector file ({reader_problem(exc)})") from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry is None:
        raise BasesError(where, "no geometry: give Point features or a CSV with longitude/latitude")
    return _to_storage_crs(frame)


def _to_storage_crs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None:
        frame = frame.set_crs(STORAGE_CRS)
    return frame.to_crs(STORAGE_CRS)


def _number(where: str | Path, row: int, field: str, value: object) -> float:
    text = "" if value is None else str(value).strip()
    if text == "" or text.lower() in ("nan", "<na>", "none"):
        raise BasesError(where, f"row {row}: field {field!r} is empty")
    try:
        number = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError as exc:
        raise BasesError(where, f"row {row}: field {field!r} is not a number ({text!r})") from exc
    if not math.isfinite(number):
        raise BasesError(where, f"row {row}: field {field!r} is not a finite number ({text!r})")
    return number


def _optional_number(where: str | Path, row: int, field: str, value: object) -> float | None:
    if value is None or pd.isna(value) or str(value).strip() == "":
        return None
    return _number(where, row, field, value)


def read_bases(source: BasesSource, *, label: str | None = None) -> gpd.GeoDataFrame:
    """Read patrol bases from a file, its bytes, a GeoJSON mapping or a (Geo)DataFrame.

    Parameters
    ----------
    source : path, bytes, dict or DataFrame
        A GeoJSON/GeoPackage with Point features or a CSV with ``longitude``/``latitude`` columns
        (as a path or as the file's bytes, e.g. an upload); a GeoJSON FeatureCollection as a
        mapping (a posted body); or a GeoDataFrame of points / a DataFrame with longitude and
        latitude. Fields: ``name`` (unique), ``patrols`` (patrols per period, integer ≥ 0) and
        ``range_km`` (> 0). ``patrols`` and ``range_km`` may be left out when the caller gives them
        for every base (``plan_patrols(..., patrols=, range_km=)``); they are then missing.
    label : str, optional
        What to call a source without a path in messages (default "posted bases" / "bases").

    Returns
    -------
    GeoDataFrame
        Columns ``name``, ``patrols`` (Int64), ``range_km`` (float), ``geometry`` (Point, EPSG:4326),
        in source order.

    Raises
    ------
    BasesError
        Naming the source, the row and the field: missing file, no rows, no name column, a duplicate
        or empty name, a non-point geometry, coordinates out of range, a negative or fractional
        patrol count, a non-positive range.

    Examples
    --------
    >>> bases = read_bases("data/sample/bases.geojson")  # doctest: +SKIP
    >>> bases = read_bases(b"name,lon,lat,patrols,range_km\\nAlpha,18.5,4.4,2,80\\n")  # doctest: +SKIP
    """
    where, frame = _read_source(source, label)
    if frame.empty:
        raise BasesError(where, "no bases in the file")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    name_col = _pick([str(c) for c in columns], "name")
    if name_col is None:
        raise BasesError(where, f"no 'name' column; found {', '.join(map(str, columns)) or 'none'}")
    fields = (name_col, _pick(columns, "patrols"), _pick(columns, "range_km"))
    rows: list[tuple[str, int | None, float | None]] = []
    for row, (idx, record) in enumerate(frame.iterrows(), start=1):
        rows.append(_base_row(where, row, record, frame.geometry.loc[idx], fields, {r[0] for r in rows}))
    return gpd.GeoDataFrame(
        {
            "name": pd.Series([r[0] for r in rows], dtype="str"),
            "patrols": pd.array([r[1] for r in rows], dtype="Int64"),
            "range_km": pd.array([r[2] for r in rows], dtype="Float64").astype("float64"),
        },
        geometry=list(frame.geometry),
        crs=STORAGE_CRS,
    )


def _base_row(
    where: str, row: int, record: pd.Series, geom, fields: tuple, seen: set[str]
) -> tuple[str, int | None, float | None]:
    """One base checked: (name, patrols or None, range_km or None); raises naming row and field."""
    name_col, patrols_col, range_col = fields
    raw_name = record[name_col]
    name = "" if raw_name is None or pd.isna(raw_name) else str(raw_name).strip()
    if not name:
        raise BasesError(where, f"row {row}: field {name_col!r} is empty")
    if name in seen:
        raise BasesError(where, f"row {row}: base name {name!r} appears twice; names must be unique")
    if geom is None or geom.is_empty:
        raise BasesError(where, f"row {row} ({name}): no location")
    if geom.geom_type != "Point":
        raise BasesError(where, f"row {row} ({name}): geometry is a {geom.geom_type}; a base is a Point")
    if not (-180 <= geom.x <= 180 and -90 <= geom.y <= 90):
        raise BasesError(
            where, f"row {row} ({name}): longitude/latitude ({geom.x:g}, {geom.y:g}) out of range"
        )
    count = _optional_number(where, row, patrols_col, record[patrols_col]) if patrols_col else None
    if count is not None and (count < 0 or count != int(count)):
        raise BasesError(
            where, f"row {row} ({name}): field {patrols_col!r} must be a whole number ≥ 0, not {count:g}"
        )
    reach = _optional_number(where, row, range_col, record[range_col]) if range_col else None
    if reach is not None and reach <= 0:
        raise BasesError(where, f"row {row} ({name}): field {range_col!r} must be > 0 km, not {reach:g}")
    return name, None if count is None else int(count), reach


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
        frame = read_frame(
            con, "SELECT name, longitude, latitude, patrols, range_km FROM patrol_bases ORDER BY rowid"
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
    """Raise ``InvalidInputError`` if ``bases`` lacks the columns or point geometry a plan needs."""
    if not isinstance(bases, gpd.GeoDataFrame):
        raise InvalidInputError("bases must be a GeoDataFrame (see read_bases)")
    missing = [c for c in ("name",) if c not in bases.columns]
    if missing:
        raise InvalidInputError(f"bases is missing required column(s): {', '.join(missing)}")
    if bases.crs is None:
        raise InvalidInputError("bases has no CRS; read it with read_bases or set EPSG:4326")
    types = set(bases.geometry.geom_type.dropna())
    if types - {"Point"} or bases.geometry.isna().any():
        raise InvalidInputError("every base must have a Point geometry")
    if bases["name"].duplicated().any():
        dup = bases.loc[bases["name"].duplicated(), "name"].iloc[0]
        raise InvalidInputError(f"base name {dup!r} appears twice; names must be unique")


def resolve_bases(bases: gpd.GeoDataFrame, patrols: int | None, range_km: float | None) -> gpd.GeoDataFrame:
    """The bases a plan uses: ``name``, ``patrols`` (int) and ``range_km`` (float) for every base,
    ``patrols``/``range_km`` overriding the bases' own values when given; Point geometry in
    EPSG:4326. Raises ``InvalidInputError`` naming the base and the field that is missing."""
    check_bases(bases)
    if patrols is not None and (isinstance(patrols, bool) or int(patrols) != patrols or patrols < 0):
        raise InvalidInputError(f"patrols must be a whole number ≥ 0, not {patrols!r}")
    if range_km is not None and not (range_km > 0 and math.isfinite(range_km)):
        raise InvalidInputError(f"range_km must be a positive number of km, not {range_km!r}")
    out = bases[["name"]].copy()
    out["name"] = out["name"].astype(str)
    for column, override, what, flag in (
        ("patrols", patrols, "patrols per period", "patrols=/--patrols"),
        ("range_km", range_km, "range_km", "range_km=/--range-km"),
    ):
        if override is not None:
            out[column] = override
            continue
        missing = bases[column].isna().to_numpy() if column in bases.columns else None
        if missing is None:
            raise InvalidInputError(
                f"bases have no {column!r} column: give {what} in the bases file or as {flag}"
            )
        if missing.any():
            name = out["name"].iloc[int(np.argmax(missing))]
            raise InvalidInputError(f"base {name!r} has no {what}: give it in the bases file or as {flag}")
        out[column] = bases[column].to_numpy(dtype="float64")
    out["patrols"] = out["patrols"].astype("int64")
    out["range_km"] = out["range_km"].astype("float64")
    if (out["patrols"] < 0).any() or (out["range_km"] <= 0).any():
        raise InvalidInputError("every base needs patrols ≥ 0 and range_km > 0")
    return gpd.GeoDataFrame(out, geometry=bases.to_crs(STORAGE_CRS).geometry.to_numpy(), crs=STORAGE_CRS)
