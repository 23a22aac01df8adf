"""Reading delimited text and JSON records safely: encoding, delimiter, size and row numbers.

Every record keeps its *row number* as a spreadsheet shows it (the header is row 1, the first
record row 2; for JSON, the first record is row 1) so a rejects file points at the exact row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sauti.ingest.errors import IngestError

MAX_FIELD_CHARS = 100_000
DELIMITERS = ",;\t|"
REPLACEMENT_CHAR = "\ufffd"


@dataclass(frozen=True)
class TextSource:
    """How to decode a text file."""

    encoding: str
    errors: str
    delimiter: str
    warning: str | None = None


def inspect_text(path: Path, sample_bytes: int = 1 << 16) -> TextSource:
    """Choose encoding and delimiter for ``path``; raise :class:`IngestError` if it is empty.

    UTF-8 (with or without BOM) is expected. A file with no valid multi-byte UTF-8 sequence at all
    but some invalid bytes is a legacy export and is read as Windows-1252 (with a warning); a
    file mixing valid UTF-8 with invalid bytes is read as UTF-8 and the rows holding the invalid
    bytes are rejected.
    """
    if not path.exists():
        raise IngestError(path, "file not found")
    if path.is_dir():
        raise IngestError(path, "is a folder, not a file")
    data = path.read_bytes() if path.stat().st_size < (64 << 20) else _head(path, 64 << 20)
    if not data.strip():
        raise IngestError(path, "file is empty")
    encoding, errors, warning = "utf-8-sig", "strict", None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        if _has_valid_utf8_multibyte(data):
            errors = "replace"
            warning = "file has bytes that are not valid UTF-8; rows holding them are rejected"
        else:
            encoding = "cp1252"
            warning = "file is not UTF-8; read as Windows-1252"
    sample = data[:sample_bytes].decode(encoding, errors="replace")
    return TextSource(encoding, errors, _sniff_delimiter(sample), warning)


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _has_valid_utf8_multibyte(data: bytes) -> bool:
    text = data.decode("utf-8", errors="replace")
    return any(ord(ch) > 127 and ch != REPLACEMENT_CHAR for ch in text)


def _sniff_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0]
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_header(path: Path, source: TextSource | None = None) -> list[str]:
    """Column names of a delimited file (stripped)."""
    source = source or inspect_text(path)
    with open(path, encoding=source.encoding, errors="replace", newline="") as fh:
        first = next(csv.reader(fh, delimiter=source.delimiter), [])
    return [c.strip() for c in first]


def read_delimited(
    path: Path, chunksize: int = 200_000, source: TextSource | None = None
) -> Iterator[pd.DataFrame]:
    """Yield chunks of a delimited file as all-string frames with a ``_row`` column.

    Every value is kept as written (no NA guessing); empty cells are ``""``.
    """
    source = source or inspect_text(path)
    offset = 2  # spreadsheet row of the first record
    try:
        reader = pd.read_csv(
            path,
            sep=source.delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=source.encoding,
            encoding_errors=source.errors,
            chunksize=chunksize,
            engine="c",
            skipinitialspace=False,
        )
        for chunk in reader:
            chunk.columns = [str(c).strip() for c in chunk.columns]
            chunk.index = pd.RangeIndex(offset, offset + len(chunk))
            chunk.insert(0, "_row", chunk.index.to_numpy())
            offset += len(chunk)
            yield chunk
    except pd.errors.EmptyDataError as exc:
        raise IngestError(path, "file has no header row") from exc
    except pd.errors.ParserError as exc:
        raise IngestError(path, f"cannot parse as delimited text ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"cannot decode text at byte {exc.start} ({exc.reason})") from exc


def read_json_records(path: Path, list_keys: tuple[str, ...] = ("records", "alerts", "data")) -> pd.DataFrame:
    """Records from a JSON array, an object holding one (``{"alerts": [...]}``), a single object or
    JSON Lines, as an all-object frame with a ``_row`` column (1-based record number)."""
    source = inspect_text(path)
    text = path.read_bytes().decode(source.encoding, errors=source.errors)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = []
        for number, line in enumerate(io.StringIO(text), start=1):
            if not line.strip():
                continue
            try:
                payload.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise IngestError(path, f"line {number} is not valid JSON ({exc.msg})") from exc
    if isinstance(payload, dict):
        for key in list_keys:
            if isinstance(payload.get(key), list):
                payload = payload[key]
                break
        else:
            payload = [payload]
    if not isinstance(payload, list):
        raise IngestError(path, "JSON must be an object, a list of objects or JSON Lines")
    rows = []
    for item in payload:
        if not isinstance(item, dict):
            item = {"_value": item}
        rows.append({str(k).strip(): v for k, v in item.items()})
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    frame = frame.astype("object")
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.insert(0, "_row", frame.index.to_numpy())
    return frame


def oversized_or_garbled(raw: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Rows with a field longer than :data:`MAX_FIELD_CHARS` or holding undecodable bytes.

    Returns ``(mask, field, reason)`` aligned on ``raw``'s index (first offending field per row).
    """
    mask = pd.Series(False, index=raw.index)
    fields = pd.Series("", index=raw.index, dtype="object")
    reasons = pd.Series("", index=raw.index, dtype="object")
    for column in raw.columns:
        if column == "_row" or raw[column].dtype != object:
            continue
        values = raw[column].astype(str)
        too_long = values.str.len() > MAX_FIELD_CHARS
        garbled = values.str.contains(REPLACEMENT_CHAR, regex=False)
        for bad, reason in (
            (too_long, f"longer than {MAX_FIELD_CHARS} characters"),
            (garbled, "holds bytes that are not valid UTF-8"),
        ):
            new = bad & ~mask
            if new.any():
                fields[new] = column
                reasons[new] = reason
                mask |= new
    return mask, fields, reasons
