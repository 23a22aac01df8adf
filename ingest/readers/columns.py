"""Column names of a file without reading it all (delimited text, JSON or GeoJSON)."""

from __future__ import annotations

from pathlib import Path

from sauti.ingest.errors import IngestError
from sauti.ingest.tabular import inspect_text, read_header

JSON_SUFFIXES = {".json", ".geojson", ".jsonl", ".ndjson"}


def is_json(path: Path) -> bool:
    return path.suffix.lower() in JSON_SUFFIXES


def source_columns(path: Path) -> list[str]:
    """Names of the columns (or GeoJSON properties) of ``path``: the header, or the first record of
    a JSON file read as a stream (a GeoJSON of a million features is not loaded to name them)."""
    if not is_json(path):
        return read_header(path, inspect_text(path))
    inspect_text(path)  # empty / missing file errors
    from sauti.ingest.tabular import RECORD_PROBLEM, iter_json_records

    keys = ("features", "records", "alerts", "data")
    for frame in iter_json_records(path, keys, chunksize=1, record=json_row):
        if RECORD_PROBLEM in frame.columns:
            raise IngestError(path, f"first record: {frame[RECORD_PROBLEM].iloc[0]}")
        return [c for c in frame.columns if c != "_row"]
    return []


def json_row(item: dict) -> dict:
    """A JSON record as a row: a GeoJSON feature's properties and point, any other object as it is."""
    return feature_row(item) if item.get("type") == "Feature" else item


def feature_row(feature: dict) -> dict:
    """A GeoJSON feature as a row: its properties, and ``longitude``/``latitude`` of a Point."""
    props = dict(feature.get("properties") or {})
    geom = feature.get("geometry") or {}
    coords = geom.get("coordinates") if isinstance(geom, dict) and geom.get("type") == "Point" else None
    point = isinstance(coords, list) and len(coords) >= 2
    props.setdefault("longitude", coords[0] if point else None)
    props.setdefault("latitude", coords[1] if point else None)
    return props
