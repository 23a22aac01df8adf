"""Column names of a file without reading it all (delimited text, JSON or GeoJSON)."""

from __future__ import annotations

import json
from pathlib import Path

from sauti.ingest.errors import IngestError
from sauti.ingest.tabular import inspect_text, read_header

JSON_SUFFIXES = {".json", ".geojson", ".jsonl", ".ndjson"}


def is_json(path: Path) -> bool:
    return path.suffix.lower() in JSON_SUFFIXES


def source_columns(path: Path) -> list[str]:
    """Names of the columns (or GeoJSON properties) of ``path``."""
    if not is_json(path):
        return read_header(path, inspect_text(path))
    inspect_text(path)  # empty / missing file errors
    try:
        payload = json.loads(path.read_text(encoding="utf-8-sig", errors="replace"))
    except json.JSONDecodeError:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            first = next((line for line in fh if line.strip()), "{}")
        try:
            payload = json.loads(first)
        except json.JSONDecodeError as exc:
            raise IngestError(path, f"not valid JSON ({exc.msg})") from exc
    if isinstance(payload, dict) and payload.get("type") == "FeatureCollection":
        features = payload.get("features") or []
        return list((features[0].get("properties") or {}).keys()) if features else []
    if isinstance(payload, dict):
        for key in ("records", "alerts", "data"):
            if isinstance(payload.get(key), list):
                payload = payload[key]
                break
        else:
            return list(payload.keys())
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        return list(payload[0].keys())
    return []
