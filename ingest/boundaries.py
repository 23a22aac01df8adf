"""Administrative boundaries (anything pyogrio reads) → canonical localities.

Geometry is stored in EPSG:4326; a file with no CRS is read as WGS84 with a warning; invalid
geometries are repaired with ``make_valid``; empty or non-polygonal ones are rejected. Parent
levels that the file names but the store lacks (admin1 from an admin2 file) are derived by
dissolving on the parent code. Names and alternative names feed the gazetteer.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from sauti.constants import LEVELS, LOCALITY_COLUMNS, LOCALITY_ID, STORAGE_CRS
from sauti.errors import reader_problem
from sauti.geo import EQUAL_AREA_CRS, parent_positions
from sauti.ingest.bookkeeping import IngestReport, raw_json
from sauti.ingest.boundary_schemas import (
    SchemaChoice,
    has_id_column,
    recognise_schema,
    schema_titles,
)
from sauti.ingest.errors import IngestError
from sauti.ingest.runs import ProgressCallback, ingest_run
from sauti.ingest.tabular import require_regular_file
from sauti.ingest.validate import RowChecker, blank
from sauti.privacy import shown
from sauti.store import Workspace, stored_keys

log = logging.getLogger(__name__)


def level_number(level: str) -> int:
    match = re.fullmatch(r"admin(\d)", level)
    if not match:
        raise ValueError(f"boundary level must be one of admin0…admin4, not {level!r}")
    return int(match.group(1))


def choose_columns(
    frame: pd.DataFrame,
    level: str,
    id_field: str | None = None,
    name_field: str | None = None,
    path: str | Path | None = None,
) -> SchemaChoice:
    """The schema of a boundary file and the columns to read at ``level`` (see boundary_schemas.yaml)."""
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    columns = [c for c in frame.columns if c != geometry]
    for given in (id_field, name_field):
        if given is not None and given not in columns:
            raise IngestError(
                path or "boundaries", f"has no column {given!r}; it has {', '.join(map(shown, columns))}"
            )
    choice = recognise_schema(columns, level_number(level), id_field, name_field)
    if choice is None:
        missing = "name" if id_field or has_id_column(columns, level_number(level)) else "id"
        raise IngestError(
            path or "boundaries",
            f"no {level} {missing} column found among {', '.join(map(shown, columns))} "
            f"(known schemas: {'; '.join(schema_titles())}); pass --id-field/--name-field",
        )
    return choice


def _alt_names(frame: pd.DataFrame, choice: SchemaChoice, names: pd.Series) -> list[str]:
    """Each row's alternative names (JSON list), split on the schema's separator, without the name."""
    cols = list(choice.alt_fields)
    rows = frame[cols].itertuples(index=False, name=None) if cols else [()] * len(frame)
    out = []
    for row, name in zip(rows, names, strict=True):
        values = {v for v in row if isinstance(v, str)}
        if choice.alt_separator:
            values = {part for v in values for part in v.split(choice.alt_separator)}
        out.append(json.dumps(sorted({v.strip() for v in values if v.strip()} - {name}), ensure_ascii=False))
    return out


#: What a vector dataset inside a zip archive is called (a shapefile is its ``.shp``).
_VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".fgb", ".json", ".topojson", ".kml", ".gml", ".sqlite")


def read_boundary_file(
    path: Path,
    layer: str | None = None,
    crs: str | None = None,
    *,
    level: str | None = None,
    id_field: str | None = None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read any vector file pyogrio can open, in EPSG:4326; return it and warnings.

    A zip archive is opened whatever folder its dataset sits in. When the source holds several
    layers (a GADM GeoPackage with ``ADM_ADM_0`` … ``ADM_ADM_3``, a COD-AB zip of one shapefile per
    level) and no ``layer`` is named, the layer of ``level`` is the one whose columns a known schema
    reads at that level and not at a finer one (with ``id_field``: the one holding that column).
    ``crs`` is the CRS of the coordinates when the file does not say (a shapefile without its
    ``.prj``); a file without one whose coordinates cannot be degrees is refused.
    """
    require_regular_file(path, folder_ok=True)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source, layer, chosen = _choose_layer(path, layer, level, id_field)
            frame = pyogrio.read_dataframe(source, layer=layer)
    except IngestError:
        raise
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, …
        raise IngestError(path, f"cannot read as a vector file ({reader_problem(exc)})") from exc
    if chosen:
        notes.append(chosen)
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        raise IngestError(path, "has no geometry column")
    if crs is not None:
        frame = _declare_crs(frame, crs, path)
    if frame.crs is None:
        _refuse_projected(frame, path)
        notes.append("file has no CRS; read as WGS84 (EPSG:4326)")
        log.warning("%s: file has no CRS; read as WGS84 (EPSG:4326)", path)
        frame = frame.set_crs(STORAGE_CRS)
    elif not frame.crs.equals(STORAGE_CRS):
        frame = frame.to_crs(STORAGE_CRS)
    return frame, notes


def _datasets(path: Path) -> list[tuple[str, str]]:
    """``(source, label)`` of each vector dataset of ``path``: itself, or each one inside a zip."""
    import zipfile

    if path.suffix.lower() != ".zip" or not zipfile.is_zipfile(path):
        return [(str(path), path.name)]
    with zipfile.ZipFile(path) as archive:
        members = [
            m
            for m in archive.namelist()
            if m.lower().endswith(_VECTOR_SUFFIXES)
            and not any(part.startswith((".", "__MACOSX")) for part in m.split("/"))
        ]
    if not members:  # let GDAL try the archive itself (and say what it finds)
        return [(str(path), path.name)]
    return [(f"/vsizip/{path.resolve()}/{m}", m) for m in sorted(members)]


def _choose_layer(
    path: Path, layer: str | None, level: str | None, id_field: str | None
) -> tuple[str, str | None, str | None]:
    """``(source, layer, note)`` to read: see :func:`read_boundary_file`."""
    candidates = []
    datasets = _datasets(path)
    for source, label in datasets:
        try:
            names = pyogrio.list_layers(source)[:, 0]
        except Exception:  # a zip's metadata JSON, a preview image…: not a vector dataset
            if len(datasets) == 1:
                raise
            continue
        candidates.extend((source, str(name), label) for name in names)
    if layer is not None:
        named = [c for c in candidates if layer in (c[1], Path(c[2]).stem, c[2])]
        if not named:
            raise IngestError(
                path, f"has no layer {layer!r}; its layers: {', '.join(shown(c[1]) for c in candidates)}"
            )
        return named[0][0], named[0][1], None
    if len(candidates) <= 1 or level is None:
        first = candidates[0] if candidates else (str(path), None, path.name)
        return first[0], first[1], None
    n = level_number(level)
    fields = {c: tuple(pyogrio.read_info(c[0], layer=c[1])["fields"]) for c in candidates}

    def fits(candidate) -> bool:
        columns = list(fields[candidate])
        if id_field is not None:
            return id_field in columns
        own, finer = recognise_schema(columns, n), recognise_schema(columns, n + 1)
        # level-free columns (geoBoundaries' shapeID) read the same at every level
        return own is not None and (finer is None or finer.id_field == own.id_field)

    fitting = [c for c in candidates if fits(c)]
    if len(fitting) > 1 and len({fields[c] for c in fitting}) == 1:
        # one level in several formats (a geoBoundaries zip: GeoJSON, shapefile, TopoJSON, and
        # simplified copies): the full-detail one, in the richest format
        fitting = [min(fitting, key=_format_rank)]
    if len(fitting) != 1:
        names = ", ".join(shown(c[1]) for c in candidates)
        found = "none has" if not fitting else f"{len(fitting)} have"
        raise IngestError(
            path,
            f"holds {len(candidates)} layers ({names}) and {found} {level} columns of a known schema: "
            "pass --layer NAME",
        )
    source, name, label = fitting[0]
    where = name if label in (path.name, f"{name}{Path(label).suffix}") else f"{label} ({name})"
    return source, name, f"read layer {where}, the {level} layer of {len(candidates)}"


def _format_rank(candidate: tuple[str, str, str]) -> tuple[bool, int, str]:
    label = candidate[2].lower()
    suffix = Path(label).suffix
    order = _VECTOR_SUFFIXES.index(suffix) if suffix in _VECTOR_SUFFIXES else len(_VECTOR_SUFFIXES)
    return "simplif" in label, order, label


def _declare_crs(frame: gpd.GeoDataFrame, crs: str, path: Path) -> gpd.GeoDataFrame:
    try:
        return frame.set_crs(crs, allow_override=True)
    except Exception as exc:  # pyproj's CRSError and the like
        raise IngestError(path, f"--crs {crs!r} is not a CRS pyproj knows ({exc})") from None


def _refuse_projected(frame: gpd.GeoDataFrame, path: Path) -> None:
    """A file without a CRS is read as degrees; refuse it when its coordinates cannot be degrees."""
    bounds = shapely.bounds(frame.geometry.to_numpy())
    bounds = bounds[np.isfinite(bounds).all(axis=1)]
    if not len(bounds):
        return
    x = np.abs(bounds[:, [0, 2]]).max()
    y = np.abs(bounds[:, [1, 3]]).max()
    if x > 360 or y > 180:  # far outside any degree range: metres or feet of a projection
        raise IngestError(
            path,
            f"file has no CRS and its coordinates (|x| up to {x:,.0f}, |y| up to {y:,.0f}) are not "
            "longitude/latitude: pass --crs with the CRS they are in (e.g. --crs EPSG:32634 for UTM "
            "zone 34N), or add the file's .prj",
        )


def _coordinate_problems(values: np.ndarray, missing: np.ndarray) -> pd.Series:
    """Why a geometry's coordinates cannot be stored: not finite, or outside the degree ranges."""
    reason = np.full(len(values), None, dtype=object)
    present = ~missing
    bounds = np.full((len(values), 4), np.nan)
    bounds[present] = shapely.bounds(values[present])
    coords, owner = shapely.get_coordinates(values[present], return_index=True)
    not_finite = np.bincount(owner[~np.isfinite(coords).all(axis=1)], minlength=int(present.sum()))
    coords_finite = np.ones(len(values), dtype=bool)
    coords_finite[present] = not_finite == 0
    reason[present & ~coords_finite] = "coordinates are not finite numbers (NaN or Infinity)"
    outside = (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1) | (np.abs(bounds[:, [1, 3]]) > 90).any(axis=1)
    reason[present & coords_finite & outside] = (
        "coordinates outside longitude [-180, 180] / latitude [-90, 90] (wrong CRS? see --crs)"
    )
    return reason


def _repair(geoms: gpd.GeoSeries) -> tuple[gpd.GeoSeries, pd.Series]:
    """Make geometries valid and polygonal; return them and a reason where that was impossible."""
    reason = pd.Series(None, index=geoms.index, dtype="object")
    missing = geoms.isna() | geoms.is_empty
    reason[missing] = "empty geometry"
    values = geoms.to_numpy()
    bad = _coordinate_problems(values, missing.to_numpy())
    reason[bad != None] = bad[bad != None]  # noqa: E711 (element-wise)
    missing = missing | reason.notna()
    values = np.where(missing.to_numpy(), None, values)
    fixed = values.copy()
    invalid = ~missing.to_numpy() & ~shapely.is_valid(values)
    fixed[invalid] = shapely.make_valid(values[invalid])
    polygonal = []
    for geom in fixed:
        if geom is None or geom.is_empty:
            polygonal.append(None)
            continue
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            polygonal.append(geom)
            continue
        parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
        polygonal.append(shapely.union_all(parts) if parts else None)
    out = gpd.GeoSeries(polygonal, index=geoms.index, crs=geoms.crs)
    reason[~missing & (out.isna() | out.is_empty)] = "geometry is not a polygon"
    return out, reason


def localities_frame(frame: gpd.GeoDataFrame, choice: SchemaChoice, level: str) -> pd.DataFrame:
    """Canonical locality columns from a boundary file's attributes (geometry untouched)."""
    n = level_number(level)

    def column(name: str | None):
        if name is None:
            return None
        return frame[name].astype("object").where(~blank(frame[name]), None)

    out = pd.DataFrame(index=frame.index)
    out[LOCALITY_ID] = column(choice.id_field)
    out["name"] = column(choice.name_field)
    out["level"] = level
    for k in range(0, 4):
        kid, kname = (choice.id_field, choice.name_field) if k == n else choice.parents.get(k, (None, None))
        out[f"admin{k}_id"] = column(kid) if k <= n else None
        out[f"admin{k}_name"] = column(kname) if k <= n else None
    out["parent_id"] = out[f"admin{n - 1}_id"] if n > 0 else None
    out["parent_name"] = out[f"admin{n - 1}_name"] if n > 0 else None
    out["alt_names"] = _alt_names(frame, choice, out["name"])
    return out


def _level_note(frame: pd.DataFrame, choice: SchemaChoice, level: str) -> list[str]:
    """A warning when the file says its features are of another level than the one asked for."""
    if choice.level_column is None:
        return []
    said = {str(v).strip().upper() for v in frame[choice.level_column].dropna().unique()}
    expected = f"ADM{choice.level}"
    if said and said != {expected}:
        return [
            f"the file's {choice.level_column} says {', '.join(sorted(said))}; stored as {level} as asked"
        ]
    return []


def _with_geometry(attrs: pd.DataFrame, geoms: gpd.GeoSeries) -> pd.DataFrame:
    out = attrs.copy()
    out["area_km2"] = geoms.to_crs(EQUAL_AREA_CRS).area.to_numpy() / 1e6
    bounds = geoms.bounds
    for c in ("minx", "miny", "maxx", "maxy"):
        out[c] = bounds[c].to_numpy()
    out["geometry"] = shapely.to_wkb(geoms.to_numpy())
    return out[list(LOCALITY_COLUMNS) + ["minx", "miny", "maxx", "maxy"]]


def derive_parent_levels(attrs: pd.DataFrame, geoms: gpd.GeoSeries, level: str) -> list[pd.DataFrame]:
    """Localities of each parent level named in the file, by dissolving on the parent code."""
    n = level_number(level)
    derived = []
    for k in range(n - 1, -1, -1):
        ids = attrs[f"admin{k}_id"]
        if ids.isna().all():
            continue
        frame = gpd.GeoDataFrame(
            attrs.filter(regex=r"^admin\d_(id|name)$"), geometry=geoms.to_numpy(), crs=geoms.crs
        )
        frame = frame[ids.notna()]
        dissolved = frame.dissolve(by=f"admin{k}_id", as_index=False, aggfunc="first")
        parent = pd.DataFrame(
            {
                LOCALITY_ID: dissolved[f"admin{k}_id"],
                "name": dissolved[f"admin{k}_name"].fillna(dissolved[f"admin{k}_id"]),
                "level": f"admin{k}",
            }
        )
        for j in range(4):
            parent[f"admin{j}_id"] = dissolved[f"admin{j}_id"] if j <= k else None
            parent[f"admin{j}_name"] = dissolved[f"admin{j}_name"] if j <= k else None
        parent["parent_id"] = parent[f"admin{k - 1}_id"] if k > 0 else None
        parent["parent_name"] = parent[f"admin{k - 1}_name"] if k > 0 else None
        parent["alt_names"] = "[]"
        derived.append(_with_geometry(parent, gpd.GeoSeries(dissolved.geometry, crs=geoms.crs)))
    return derived


def ingest_boundaries(
    workspace: Workspace,
    path: str | Path,
    level: str,
    *,
    id_field: str | None = None,
    name_field: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Store the localities of one boundary file (and the parent levels it implies).

    ``crs`` names the CRS of a file that does not declare one (see :func:`read_boundary_file`).
    """
    path = Path(path)
    if level not in LEVELS or level == "grid":
        raise IngestError(path, f"--level must be one of admin0…admin4, not {level!r}")
    frame, notes = read_boundary_file(path, layer, crs, level=level, id_field=id_field)
    choice = choose_columns(frame, level, id_field, name_field, path)
    attrs = localities_frame(frame, choice, level)
    notes.extend(_level_note(frame, choice, level))
    raw = frame.drop(columns=frame.geometry.name).astype("object")
    raw["geometry"] = frame.geometry.to_wkt().to_numpy()
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    raw.insert(0, "_row", raw.index.to_numpy())
    attrs.index = raw.index
    geoms, reasons = _repair(gpd.GeoSeries(frame.geometry.to_numpy(), index=raw.index, crs=STORAGE_CRS))
    checker = RowChecker(path.name, raw)
    # fields named as the file spells them (ADM2_PCODE, not locality_id)
    checker.fail(attrs[LOCALITY_ID].isna(), choice.id_field, "required value is missing")
    checker.fail(attrs["name"].isna(), choice.name_field, "required value is missing")
    checker.fail(reasons.notna(), "geometry", reasons.fillna(""))
    clash, reason = _id_clashes(attrs, checker.good)
    checker.fail(clash, choice.id_field, reason)
    good = checker.good
    parts, merged, merge_notes = _merge_parts(attrs[good], geoms[good])
    notes.extend(merge_notes)
    kept, located = _parents_by_location(workspace, parts, merged, level)
    notes.extend(located)
    params = {
        "level": level,
        "schema": choice.schema,
        "id_field": choice.id_field,
        "name_field": choice.name_field,
    }
    with ingest_run(workspace, "boundaries", path, fmt=level, params=params) as run:
        run.report.schema = choice.summary()
        run.report.warnings.extend(notes)
        run.count_read(len(raw))
        run.reject(checker.rejects())
        rows = _with_geometry(kept, merged)
        extra = attrs[good][LOCALITY_ID].value_counts() - 1  # parts beyond each locality's first row
        extra = extra[extra > 0]
        known = stored_keys(run.con, "localities", LOCALITY_ID, extra.index.tolist())
        run.store("localities", rows)
        # a part shares its locality's fate: stored with it, or a duplicate of it
        run.report.accepted += int(extra[~extra.index.isin(known)].sum())
        run.report.duplicates += int(extra[extra.index.isin(known)].sum())
        for parent in derive_parent_levels(kept, merged, level):
            new = _store_derived(run, parent)
            run.report.warnings.append(f"derived {new} new {parent['level'].iloc[0]} localities by dissolve")
        _store_place_names(run, rows)
        if progress:
            progress(len(raw))
    return run.report


def _id_clashes(attrs: pd.DataFrame, good: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Rows whose id an earlier row of the file gives to another name: ``(mask, reasons)``."""
    ids, names = attrs[LOCALITY_ID], attrs["name"]
    usable = good.to_numpy() & ids.notna().to_numpy() & names.notna().to_numpy()
    first = names[usable].groupby(ids[usable]).transform("first").reindex(attrs.index)
    clash = usable & (names.astype(str).str.casefold() != first.astype(str).str.casefold()).to_numpy()
    reasons = pd.Series(
        [
            f"id {i!r} is {f!r} earlier in this file, not {n!r}"
            for i, f, n in zip(ids, first, names, strict=True)
        ],
        index=attrs.index,
        dtype=object,
    )
    return clash, reasons


def _merge_parts(attrs: pd.DataFrame, geoms: gpd.GeoSeries) -> tuple[pd.DataFrame, gpd.GeoSeries, list[str]]:
    """Rows sharing an id (and name) are parts of one locality (a multi-part unit written one part
    per feature): one row each, the union of their geometries. Nothing of a part is dropped."""
    repeated = attrs[LOCALITY_ID].duplicated(keep=False).to_numpy()
    if not repeated.any():
        return attrs, geoms, []
    keep = ~attrs[LOCALITY_ID].duplicated(keep="first").to_numpy()
    unions = (
        geoms[repeated]
        .groupby(attrs[LOCALITY_ID][repeated].to_numpy())
        .agg(lambda parts: shapely.union_all(parts.to_numpy()))
    )
    merged = geoms[keep].copy()
    first = attrs[keep]
    joined = first[LOCALITY_ID].isin(unions.index).to_numpy()
    merged[joined] = unions.loc[first[LOCALITY_ID][joined]].to_numpy()
    units = len(unions)
    example = ", ".join(map(str, unions.index[:3])) + (", …" if units > 3 else "")
    ids = f"the id {example}" if units == 1 else f"{units} ids ({example})"
    note = f"{int(repeated.sum())} features share {ids}: each id stored as one locality of several parts"
    return first, merged, [note]


def _parents_by_location(
    workspace: Workspace, attrs: pd.DataFrame, geoms: gpd.GeoSeries, level: str
) -> tuple[pd.DataFrame, list[str]]:
    """Parents for a file that names none (geoBoundaries): the stored coarser level, by location.

    Each unit goes to the stored parent holding its representative point (else the nearest), and
    inherits that parent's own ancestors. Files that carry parent codes are left as they are.
    """
    n = level_number(level)
    parent_level = f"admin{n - 1}"
    if n == 0 or attrs.empty or attrs[f"{parent_level}_id"].notna().any():
        return attrs, []
    if parent_level not in workspace.levels():
        return attrs, [f"the file names no {parent_level}: ingest that level first to link each unit to it"]
    parents = workspace.localities(parent_level)
    picked = parents.iloc[parent_positions(geoms.to_numpy(), parents.geometry.to_numpy())]
    out = attrs.copy()
    for k in range(n):
        own = k == n - 1
        out[f"admin{k}_id"] = picked[LOCALITY_ID if own else f"admin{k}_id"].to_numpy()
        out[f"admin{k}_name"] = picked["name" if own else f"admin{k}_name"].to_numpy()
    out["parent_id"], out["parent_name"] = out[f"{parent_level}_id"], out[f"{parent_level}_name"]
    note = f"{parent_level} parents found by location among the {len(parents)} stored {parent_level} units"
    return out, [note]


def _store_derived(run, parent: pd.DataFrame) -> int:
    """Derived parents are not input rows: stored, but not counted in the run's read/accepted."""
    from sauti.store import insert_ignore

    return insert_ignore(run.con, "localities", parent.assign(run_id=run.run_id))


def _store_place_names(run, rows: pd.DataFrame) -> None:
    from sauti.store import insert_ignore

    names = [(r.name, r.locality_id, "admin") for r in rows.itertuples()]
    for r in rows.itertuples():
        names.extend((alt, r.locality_id, "alt") for alt in json.loads(r.alt_names))
    frame = pd.DataFrame(names, columns=["name", LOCALITY_ID, "kind"])
    insert_ignore(run.con, "place_names", frame.assign(run_id=run.run_id))


def boundary_run_ids(workspace: Workspace, levels: tuple[str, ...]) -> set[int]:
    """The ingest runs that stored the localities of ``levels``."""
    marks = ", ".join("?" for _ in levels)
    with workspace.session() as con:
        rows = con.execute(f"SELECT DISTINCT run_id FROM localities WHERE level IN ({marks})", tuple(levels))
        return {int(r[0]) for r in rows if r[0] is not None}


__all__ = ["boundary_run_ids", "ingest_boundaries", "read_boundary_file", "raw_json"]
