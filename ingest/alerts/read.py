"""Community alerts (CSV, JSON, SMS-gateway posts) → canonical, pseudonymised, geocoded alerts.

Files and API submissions share one implementation (:mod:`sauti.ingest.alerts.prepare`): column
aliases in French or English (``vocabulary.yaml``), the reporter's phone number or name
turned into ``reporter_ref`` (HMAC with the workspace secret) the moment it is read, free text
scrubbed of phone numbers and of the reporter's own name and number (ids are keys and are never
scrubbed), ``received_at`` normalised to UTC, vocabularies normalised, and the locality resolved
through the :class:`~sauti.ingest.gazetteer.Gazetteer`. Nothing raw is stored, logged or written
to a rejects file: rejected rows show their pseudonymised, scrubbed form.

This module reads files (:func:`ingest_alerts`); :mod:`~sauti.ingest.alerts.submit` takes records
posted to the service; :mod:`~sauti.ingest.alerts.store` holds the SQL.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import shapely

from sauti.constants import DEFAULT_TIMEZONE
from sauti.ingest.alerts.fields import (
    FIELD_ALIASES,
    canonical_columns,
)
from sauti.ingest.alerts.prepare import GEOMETRY_PROBLEM, prepare_alerts
from sauti.ingest.alerts.store import alert_context, mark_run_synthetic, store_alerts
from sauti.ingest.bookkeeping import IngestReport
from sauti.ingest.errors import IngestError
from sauti.ingest.runs import ProgressCallback, ingest_run
from sauti.ingest.tabular import RECORD_PROBLEM, iter_json_records, read_delimited, require_regular_file
from sauti.ingest.validate import coordinate_warnings, suspected_swaps
from sauti.store import Workspace

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
JSON_LIST_KEYS = ("alerts", "records", "data", "features")


def _detect_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson", ".geojson"):
        return "json"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if head[:1] in (b"{", b"[") else "csv"


def feature_point(geometry: Any) -> tuple[float | None, float | None, str | None]:
    """``(longitude, latitude, problem)`` of a GeoJSON geometry given with an alert.

    A Point gives its coordinates. A Polygon, LineString or any other valid geometry gives its
    representative point (inside it: shapely's ``point_on_surface``), so an alert drawn as an
    area is located where the area is, never stored without a location. A geometry that cannot
    give a point is a problem (the row is rejected with it).
    """
    if geometry is None:
        return None, None, None
    if not isinstance(geometry, dict) or "type" not in geometry:
        return None, None, "not a GeoJSON geometry"
    coords = geometry.get("coordinates")
    if geometry["type"] == "Point" and isinstance(coords, list) and len(coords) >= 2:
        return coords[0], coords[1], None
    try:
        shape = shapely.geometry.shape(geometry)
        point = shapely.point_on_surface(shape) if not shape.is_empty else None
    except Exception:  # shapely/GEOS refuse malformed coordinates in many ways
        return None, None, f"{geometry['type']} geometry has malformed coordinates"
    if point is None or point.is_empty:
        return None, None, f"{geometry['type']} geometry is empty"
    if not (math.isfinite(point.x) and math.isfinite(point.y)):
        return None, None, f"{geometry['type']} geometry has coordinates that are not finite numbers"
    return point.x, point.y, None


def _flatten_features(frame: pd.DataFrame) -> pd.DataFrame:
    """GeoJSON features → properties plus longitude/latitude of their geometry (see :func:`feature_point`)."""
    if "properties" not in frame.columns:
        return frame
    rows = []
    for props, geom in zip(frame["properties"], frame.get("geometry", [None] * len(frame)), strict=True):
        row = dict(props) if isinstance(props, dict) else {}
        lon, lat, problem = feature_point(geom)
        if lon is not None:
            row.setdefault("longitude", lon)
            row.setdefault("latitude", lat)
        if problem:
            row[GEOMETRY_PROBLEM] = problem
        rows.append(row)
    out = pd.DataFrame.from_records(rows, index=frame.index).astype(object)
    out.insert(0, "_row", frame["_row"].to_numpy())
    return out


def _check_columns(path: Path, columns: list[str]) -> None:
    have = set(canonical_columns(columns).values())
    if "received_at" not in have:
        accepted = "|".join(FIELD_ALIASES["received_at"])
        raise IngestError(path, f"no received_at column (one of {accepted})")
    if "text" not in have and "category" not in have:
        raise IngestError(path, "no text or category column (text|message|… or category|categorie)")


def _chunks(path: Path, kind: str) -> Iterator[pd.DataFrame]:
    """The file's records in chunks of at most :data:`CHUNK_ROWS`, columns checked on the first."""
    if kind == "json":
        chunks = (_flatten_features(c) for c in iter_json_records(path, JSON_LIST_KEYS, CHUNK_ROWS))
    else:
        chunks = read_delimited(path, chunksize=CHUNK_ROWS)
    first = True
    for chunk in chunks:
        columns = [c for c in chunk.columns if c not in (GEOMETRY_PROBLEM, RECORD_PROBLEM, "_row")]
        if first and columns:  # (a chunk of unreadable records only has none to check)
            _check_columns(path, columns)
            first = False
        yield chunk


def ingest_alerts(
    workspace: Workspace,
    path: str | Path,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Read, pseudonymise, scrub, geocode and store every alert of a CSV or JSON file.

    Accepts a spreadsheet export (CSV with French or English headers), a JSON list,
    ``{"alerts": [...]}``, JSON Lines, a GeoJSON FeatureCollection, or SMS-gateway records
    ``{"from": ..., "text": ..., "received_at": ...}``, read in chunks (bounded memory). Naive
    times are local times in ``timezone`` (the mission's, from the settings at the CLI). Rejected
    rows go to the rejects file in their pseudonymised, scrubbed form.

    Examples
    --------
    >>> report = ingest_alerts(Workspace("ws"), "data/sample/alerts/synthetic_alerts.csv")  # doctest: +SKIP
    >>> report.read == report.accepted + report.rejected + report.duplicates  # doctest: +SKIP
    True
    """
    path = Path(path)
    require_regular_file(path)
    kind = _detect_kind(path)
    ctx = alert_context(workspace, timezone=timezone)
    synthetic, swaps = False, 0
    with ingest_run(workspace, "alerts", path, fmt=kind) as run:
        for chunk in _chunks(path, kind):
            run.count_read(len(chunk))
            synthetic = synthetic or _marked_synthetic(chunk)
            prepared = prepare_alerts(chunk, path.name, ctx)
            store_alerts(run, prepared)
            lon, lat = prepared.rows["longitude"].astype(float), prepared.rows["latitude"].astype(float)
            swaps += int(suspected_swaps(lon, lat, ctx.extent).sum())
            log.debug("alerts chunk of %d rows: %d rejected", len(chunk), int(prepared.checker.bad.sum()))
            if progress:
                progress(len(chunk))
        if synthetic:  # models leave such alerts out of skill (issue #10)
            mark_run_synthetic(run)
        for note in coordinate_warnings(0, swaps, noun="alert"):
            log.warning("%s: %s", path, note)
            run.report.warnings.append(note)
    return run.report


def _marked_synthetic(chunk: pd.DataFrame) -> bool:
    """Whether a file marks its rows as made up (a ``synthetic`` column holding true)."""
    column = next((c for c in chunk.columns if str(c).strip().lower() == "synthetic"), None)
    if column is None:
        return False
    values = chunk[column].astype(str).str.strip().str.lower()
    return bool(values.isin(["true", "1", "yes", "oui", "vrai"]).any())
