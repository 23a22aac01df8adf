"""Reading delimited text and JSON records safely: encoding, delimiter, size and row numbers.

Every record keeps its *row number* as a spreadsheet shows it (the header is row 1, the first
record row 2; for JSON, the first record is row 1) so a rejects file points at the exact row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from sauti.ingest.errors import IngestError
from sauti.privacy import shown

MAX_FIELD_CHARS = 100_000
MAX_COLUMNS = 10_000
"""Most columns a delimited file or a JSON record may have."""
DELIMITERS = ",;\t|"
REPLACEMENT_CHAR = "\ufffd"
# surplus values of a row with more fields than the header (see :func:`read_delimited`)
EXTRA_FIELDS = "_extra_fields"
# surplus fields a row may have and still be read by pandas' C parser (more: the csv module)
SURPLUS_SLOTS = 2
# the rejects file's ``field`` for a problem of the whole row
WHOLE_ROW = "(row)"
RAGGED_REASON = "more fields than the header (quote a value that holds the delimiter)"


@dataclass(frozen=True)
class TextSource:
    """How to decode a text file."""

    encoding: str
    errors: str
    delimiter: str
    warning: str | None = None
    # a bound on the length of every line when the file holds no quote character (so that no
    # record spans lines and no field can be longer); ``None`` when unknown
    longest_line: int | None = None
    # whether the file holds a NUL byte (dropped from the values read; ``None``: not known)
    has_nul: bool | None = None


def inspect_text(path: Path | bytes, sample_bytes: int = 1 << 16, name: str = "upload") -> TextSource:
    """Choose encoding and delimiter for a file (cached while it is unchanged) or for ``bytes``
    (an upload, named ``name`` in messages)."""
    if isinstance(path, bytes):
        try:
            return _inspect_data(path, len(path), None, sample_bytes)
        except IngestError as exc:
            raise IngestError(name, exc.problem) from None
    require_regular_file(path)
    stat = path.stat()
    try:
        return _inspect_text(path.resolve(), stat.st_size, stat.st_mtime_ns, sample_bytes)
    except IngestError as exc:  # name the file as the user did
        raise IngestError(path, exc.problem) from None


def require_regular_file(path: Path, folder_ok: bool = False) -> None:
    """Refuse a path that is missing, a folder (unless ``folder_ok``: a File Geodatabase), or not a
    regular file (a device such as ``/dev/zero`` or a pipe never ends and cannot be read twice:
    save its data to a file first)."""
    if not path.exists():
        raise IngestError(path, "file not found")
    if path.is_dir():
        if folder_ok:
            return
        raise IngestError(path, "is a folder, not a file")
    if not path.is_file():
        raise IngestError(
            path, "is not a regular file (a device or a pipe); save its data to a file and ingest that"
        )


@lru_cache(maxsize=16)
def _inspect_text(path: Path, size: int, mtime_ns: int, sample_bytes: int) -> TextSource:
    """Choose encoding and delimiter for ``path``; raise :class:`IngestError` if it is empty.

    UTF-8 (with or without BOM) is expected. A file with no valid multi-byte UTF-8 sequence at all
    but some invalid bytes is a legacy export and is read as Windows-1252 (with a warning); a
    file mixing valid UTF-8 with invalid bytes is read as UTF-8 and the rows holding the invalid
    bytes are rejected.
    """
    data = path.read_bytes() if size < (64 << 20) else _head(path, 64 << 20)
    return _inspect_data(data, size, path, sample_bytes)


def _inspect_data(data: bytes, size: int, path: Path | None, sample_bytes: int) -> TextSource:
    """:func:`_inspect_text` of the first bytes of a file (all of them when ``path`` is None)."""
    if not data.strip():
        raise IngestError(path or "upload", "file is empty")
    packed = _packed_kind(data)
    if packed is not None:
        raise IngestError(path or "upload", packed)
    wide = _wide_encoding(data)
    if wide is not None:  # Excel's "Unicode text", some SMS gateways: UTF-16 (or UTF-32)
        sample = data[:sample_bytes].decode(wide, errors="replace").lstrip("\ufeff")
        return TextSource(wide, "replace", _sniff_delimiter(sample), f"file is {wide.upper()}; read as such")
    first_line = data[: (data.find(b"\n") + 1) or len(data)]
    if b"\x00" in first_line:
        raise IngestError(path or "upload", "its first line holds NUL bytes: binary data, not delimited text")
    encoding, errors, warning = "utf-8-sig", "strict", None
    lines = _LineBound(MAX_FIELD_CHARS)
    valid = _valid_utf8(path, data, size, lines=lines)
    if not valid:
        if _has_valid_utf8_multibyte(data):
            errors = "replace"
            warning = "file has bytes that are not valid UTF-8; rows holding them are rejected"
        else:
            encoding = "cp1252"
            warning = "file is not UTF-8; read as Windows-1252"
    sample = data[:sample_bytes].decode(encoding, errors="replace")
    has_nul = lines.nul if valid else None  # (an invalid file was not read to its end)
    return TextSource(encoding, errors, _sniff_delimiter(sample), warning, lines.result(), has_nul)


class _LineBound:
    """Whether every line of a file fed block by block is at most ``limit`` bytes long and no
    quote character occurs in it.

    A field is never longer (in characters) than the line holding it, and without quote
    characters no field spans lines: then :func:`oversized_or_garbled` can skip measuring every
    value. The test jumps from newline to newline ``limit`` bytes at a time (``rfind``), so it
    costs next to nothing.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tail = b""  # bytes since the last newline (fewer than ``limit``)
        self.ok = True
        self.nul = False  # whether any block held a NUL byte

    def feed(self, block: bytes) -> None:
        self.nul = self.nul or b"\x00" in block
        if not self.ok:
            return
        if b'"' in block:
            self.ok = False
            return
        data = self.tail + block if self.tail else block
        start, limit = 0, self.limit
        while len(data) - start > limit:
            newline = data.rfind(b"\n", start, start + limit + 1)
            if newline < 0:  # a line longer than the limit
                self.ok = False
                return
            start = newline + 1
        self.tail = data[start:]

    def result(self) -> int | None:
        """``limit`` if no line is longer (a bound on every field's length), else ``None``."""
        return self.limit if self.ok else None


def _valid_utf8(
    path: Path | None, head: bytes, size: int, block: int = 16 << 20, lines: _LineBound | None = None
) -> bool:
    """Whether the whole file decodes as UTF-8 (streamed: files larger than memory are fine).

    ``lines``, if given, is fed every byte of the file on the way (its result is only complete
    when the file is valid UTF-8).
    """
    if len(head) >= size:
        if lines is not None:
            lines.feed(head)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        try:
            while piece := fh.read(block):
                decoder.decode(piece)
                if lines is not None:
                    lines.feed(piece)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _packed_kind(data: bytes) -> str | None:
    """Why a file that is not text cannot be read as a table (a workbook, an archive), or ``None``."""
    head = data[:4096]
    if head.startswith(b"\xd0\xcf\x11\xe0") or (
        head.startswith(b"PK\x03\x04")
        and any(mark in head for mark in (b"[Content_Types].xml", b"xl/", b"opendocument.spreadsheet"))
    ):
        return (
            "is a spreadsheet workbook (Excel or LibreOffice), not delimited text: save the sheet as "
            '"CSV UTF-8" and ingest that file'
        )
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf")):
        return (
            "is a compressed archive (zip, gzip or 7z), not delimited text: extract its file and ingest that"
        )
    return None


def _wide_encoding(data: bytes) -> str | None:
    """``utf-16``/``utf-32`` (byte order from the BOM) or ``utf-16-le``/``-be`` (no BOM, told by where
    the NUL bytes of ASCII text fall), or ``None`` for a byte-oriented file (UTF-8, Windows-1252).

    Rows holding bytes that do not decode are rejected like those of a UTF-8 file.
    """
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = data[:4096]
    if len(head) < 8 or b"\x00" not in head:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


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


def open_text(path: Path | bytes, encoding: str, errors: str = "strict") -> io.TextIOBase:
    """A text stream over a file or over ``bytes`` (newlines kept as written, for ``csv``)."""
    if isinstance(path, bytes):
        return io.TextIOWrapper(io.BytesIO(path), encoding=encoding, errors=errors, newline="")
    return open(path, encoding=encoding, errors=errors, newline="")


def read_header(path: Path, source: TextSource | None = None) -> list[str]:
    """Column names of a delimited file (stripped)."""
    return _head_records(path, source or inspect_text(path))[0]


def _head_records(path: Path | bytes, source: TextSource) -> tuple[list[str], int]:
    """The header (stripped) and how many fields the first record has (0 without one)."""
    with open_text(path, source.encoding, errors="replace") as fh:
        reader = csv.reader(fh, delimiter=source.delimiter)
        try:
            header = next(reader, [])
        except csv.Error as exc:  # a header cell over the csv module's limit (128 KiB)
            raise IngestError(
                path if not isinstance(path, bytes) else "upload",
                f"its header (line 1) cannot be read: {_csv_problem(exc)}",
            ) from None
        try:
            first = next((record for record in reader if record), [])
        except csv.Error:  # the C parser reads such a record; the row checks name its problem
            first = []
    return [c.strip() for c in header], len(first)


def _csv_problem(exc: csv.Error) -> str:
    """The csv module's complaint in plain words (it never quotes the data)."""
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a column name is longer than {csv.field_size_limit():,} characters"
    return "not delimited text"


def check_header(path: object, header: list[str]) -> None:
    """Refuse a header with more than :data:`MAX_COLUMNS` columns or a name given twice.

    A repeated name would leave which column holds the value to chance (pandas renames the second
    ``a.1``, and readers take the first): the file must say which one it means.
    """
    if len(header) > MAX_COLUMNS:
        raise IngestError(path, f"has {len(header):,} columns; at most {MAX_COLUMNS:,} are read")
    seen: dict[str, list[int]] = {}
    for position, name in enumerate(header, start=1):
        if name:
            seen.setdefault(name.strip().lower(), []).append(position)
    repeated = [positions for positions in seen.values() if len(positions) > 1]
    if repeated:  # by position, and the name only in a safe form (a header cell may hold anything)
        listed = "; ".join(
            f"columns {', '.join(map(str, positions))} ({shown(header[positions[0] - 1])})"
            for positions in repeated[:10]
        )
        raise IngestError(path, f"column names given more than once: {listed} (rename or remove the copies)")


def _column_names(header: list[str]) -> list[str]:
    """Names as pandas makes them: a blank is ``Unnamed: i``, repeats are ``a.1``, ``a.2``…"""
    seen: dict[str, int] = {}
    names = []
    for i, name in enumerate(header):
        name = name or f"Unnamed: {i}"
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}.{count}")
    return names


def read_delimited(
    path: Path | bytes | BinaryIO,
    chunksize: int = 200_000,
    source: TextSource | None = None,
    columns: Collection[str] | None = None,
    name: str | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield chunks of a delimited file as all-string frames with a ``_row`` column.

    ``path`` may also be the file's ``bytes`` or a binary file object (an upload: no temporary
    file), named ``name`` in messages.

    Every value is kept as written (no NA guessing); empty cells are ``""``. ``columns`` (compared
    stripped and case-insensitively) limits the frames to the columns a reader uses: the others are
    not shown in the rejects file.

    Values stay under the header that names them. A row with fewer fields is padded with ``""``.
    A row with more fields than the header is not cut or shifted: its surplus values, joined by the
    delimiter, are in :data:`EXTRA_FIELDS` (present in a frame when some row of it has any), which
    the row checks reject; trailing empty fields (``1,2,3,`` under a three-column header) are no
    surplus. Up to :data:`SURPLUS_SLOTS` surplus fields are read by pandas' C parser; from the
    first row with more, the file is read by the standard library's (slower) ``csv`` reader.
    """
    wanted = {c.strip().lower() for c in columns} if columns is not None else None
    if hasattr(path, "read"):
        path = path.read()
    label = name or ("upload" if isinstance(path, bytes) else path)
    source = source or inspect_text(path, name=str(label))
    header, first_width = _head_records(path, source)
    if not any(header):
        raise IngestError(label, "file has no header row")
    check_header(label, header)
    names = _column_names(header)
    keep = [n for n in names if wanted is None or n.lower() in wanted]
    slots = [f"{EXTRA_FIELDS}{i}" for i in range(SURPLUS_SLOTS)]
    offset = 2  # spreadsheet row of the first record
    # the C parser reads the header as data (skiprows=1) under our names plus SURPLUS_SLOTS more,
    # so a row with up to that many surplus fields is parsed, not cut; one with more stops it
    # (ParserError, or a mere warning when it is the first record) and the csv module takes over
    ragged = first_width > len(names) + len(slots) or any("\n" in h or "\r" in h for h in header)
    if not ragged:
        try:
            reader = pd.read_csv(
                io.BytesIO(path) if isinstance(path, bytes) else path,
                sep=source.delimiter,
                header=None,
                skiprows=1,
                names=names + slots,
                index_col=False,
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
                surplus = _surplus(chunk[slots], source.delimiter)
                chunk = chunk[keep]
                if surplus is not None:
                    chunk = chunk.assign(**{EXTRA_FIELDS: surplus})
                chunk.index = pd.RangeIndex(offset, offset + len(chunk))
                chunk.insert(0, "_row", chunk.index.to_numpy())
                chunk.attrs["undecodable"] = source.errors != "strict"
                chunk.attrs["longest_field_bound"] = source.longest_line
                chunk.attrs["nul"] = source.has_nul is not False
                offset += len(chunk)
                yield chunk
        except pd.errors.EmptyDataError as exc:
            raise IngestError(label, "file has no header row") from exc
        except pd.errors.ParserError as exc:
            if not _TOO_MANY_FIELDS.search(str(exc)):
                raise IngestError(label, f"cannot parse as delimited text ({exc})") from exc
            ragged = True  # the C parser stopped at a row with more surplus fields than slots
        except UnicodeDecodeError as exc:
            raise IngestError(label, f"cannot decode text at byte {exc.start} ({exc.reason})") from exc
    if ragged:
        yield from _read_ragged(path, source, names, keep, chunksize, first_row=offset, label=label)


def _surplus(extra: pd.DataFrame, delimiter: str) -> pd.Series | None:
    """The surplus values of each row joined by the delimiter (``""`` if none); None when no row has any."""
    filled = (extra != "").to_numpy()
    if not filled.any():
        return None
    out = pd.Series("", index=extra.index, dtype=object)
    rows = filled.any(axis=1)
    out[rows] = [delimiter.join(values).rstrip(delimiter) for values in extra[rows].to_numpy(dtype=object)]
    return out


_TOO_MANY_FIELDS = re.compile(r"Expected \d+ fields in line \d+, saw \d+")


def _read_ragged(
    path: Path | bytes,
    source: TextSource,
    names: list[str],
    keep: list[str],
    chunksize: int,
    first_row: int,
    label: object = None,
) -> Iterator[pd.DataFrame]:
    """Spreadsheet rows ``first_row``… of a file with rows longer than its header (see above)."""
    delimiter, width = source.delimiter, len(names)
    positions = [names.index(n) for n in keep]

    def frame(rows: list[int], records: list[list[str]], surplus: list[str]) -> pd.DataFrame:
        chunk = pd.DataFrame(records, columns=keep, index=pd.Index(rows), dtype=str)  # as the C parser gives
        chunk.insert(0, "_row", rows)
        chunk[EXTRA_FIELDS] = surplus
        chunk.attrs["undecodable"] = source.errors != "strict"
        chunk.attrs["longest_field_bound"] = source.longest_line
        chunk.attrs["nul"] = source.has_nul is not False
        return chunk

    with open_text(path, source.encoding, source.errors) as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        row, rows, records, surplus = 1, [], [], []
        try:
            next(reader, None)  # the header
            for record in reader:
                if not record:  # blank lines are skipped and not counted, as by the C parser
                    continue
                row += 1
                if row < first_row:  # yielded by the C parser already
                    continue
                if len(record) < width:
                    record = record + [""] * (width - len(record))
                rows.append(row)
                records.append([record[i] for i in positions])
                surplus.append(delimiter.join(record[width:]).rstrip(delimiter))
                if len(records) >= chunksize:
                    yield frame(rows, records, surplus)
                    rows, records, surplus = [], [], []
        except csv.Error as exc:
            problem = f"cannot parse line {reader.line_num} as delimited text ({exc})"
            raise IngestError(label or path, problem) from exc
    if records:
        yield frame(rows, records, surplus)


RECORD_PROBLEM = "_record_problem"
"""Column of a record that could not be read (its reason); the row checks reject it."""


def read_json_records(path: Path, list_keys: tuple[str, ...] = ("records", "alerts", "data")) -> pd.DataFrame:
    """Records from a JSON array, an object holding one (``{"alerts": [...]}``), a single object or
    JSON Lines, as an all-object frame with a ``_row`` column (1-based record number)."""
    frames = list(iter_json_records(path, list_keys))
    if not frames:
        return _json_frame([], 1)
    return pd.concat(frames) if len(frames) > 1 else frames[0]


def iter_json_records(
    path: Path | bytes | BinaryIO,
    list_keys: tuple[str, ...] = ("records", "alerts", "data"),
    chunksize: int = 50_000,
    name: str | None = None,
    record: Callable[[dict], dict] | None = None,
) -> Iterator[pd.DataFrame]:
    """:func:`read_json_records` in chunks of ``chunksize`` records, read as a stream (bounded memory).

    ``path`` may also be ``bytes`` or a binary file object (named ``name`` in messages). A record
    that cannot be read (too long, nested too deep, not valid JSON) is a row holding only
    :data:`RECORD_PROBLEM`; a broken file structure raises :class:`IngestError` naming the line.
    ``record`` turns each object read into the row kept (a GeoJSON feature into its properties).
    """
    from sauti.ingest.json_stream import JsonSyntaxError, RecordProblem, iter_json_values

    if hasattr(path, "read"):
        path = path.read()
    label = name or ("upload" if isinstance(path, bytes) else path)
    if not isinstance(path, bytes):
        require_regular_file(path)
    records, first_row = [], 1
    head = path[:4096] if isinstance(path, bytes) else _head(path, 4096)
    with open_text(path, _wide_encoding(head) or "utf-8-sig", errors="replace") as fh:
        try:
            for item in iter_json_values(fh, list_keys):
                if isinstance(item, RecordProblem):
                    item = {RECORD_PROBLEM: item.reason}
                elif not isinstance(item, dict):
                    item = {"_value": item}
                else:
                    item = record(item) if record is not None else item
                    if len(item) > MAX_COLUMNS:
                        item = {RECORD_PROBLEM: f"has {len(item):,} fields; at most {MAX_COLUMNS:,} are read"}
                records.append({str(k).strip(): v for k, v in item.items()})
                if len(records) >= chunksize:
                    yield _json_frame(records, first_row)
                    first_row += len(records)
                    records = []
        except JsonSyntaxError as exc:
            raise IngestError(label, str(exc)) from None
    if records:
        yield _json_frame(records, first_row)


def _json_frame(records: list[dict], first_row: int) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame = frame.astype("object")
    frame.index = pd.RangeIndex(first_row, first_row + len(frame))
    frame.insert(0, "_row", frame.index.to_numpy())
    return frame


def ragged_rows(raw: pd.DataFrame) -> pd.Series:
    """True for rows that had more fields than the header (aligned on ``raw``'s index)."""
    if EXTRA_FIELDS not in raw.columns:
        return pd.Series(False, index=raw.index)
    surplus = raw[EXTRA_FIELDS]
    return surplus.notna() & (surplus.astype(str).str.strip() != "")


def oversized_or_garbled(raw: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Rows with a field longer than :data:`MAX_FIELD_CHARS` or holding undecodable bytes.

    Returns ``(mask, field, reason)`` aligned on ``raw``'s index (first offending field per row).
    Frames from :func:`read_delimited` say in ``attrs["undecodable"]`` whether decoding replaced
    any bytes; when it did not, no value can hold a replacement character from decoding and that
    scan is skipped. Likewise ``attrs["longest_field_bound"]`` (the longest line of a file with
    no quote character) skips measuring values when no line is longer than the limit.
    """
    mask = pd.Series(False, index=raw.index)
    fields = pd.Series("", index=raw.index, dtype="object")
    reasons = pd.Series("", index=raw.index, dtype="object")
    scan_garbled = raw.attrs.get("undecodable", True)
    # no line of the file is longer than the limit (and none holds a quote): nothing to measure
    bound = raw.attrs.get("longest_field_bound")
    scan_length = bound is None or bound > MAX_FIELD_CHARS
    for column in raw.columns:
        values = raw[column]
        if column in ("_row", EXTRA_FIELDS) or not (
            values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
        ):
            continue
        array = values.to_numpy(dtype=object)
        longest, lengths = 0, None
        if scan_length:
            try:
                # the longest value first (no array of lengths): almost always short enough
                longest = max(map(len, array), default=0)
            except TypeError:  # missing or non-text values
                longest, lengths = None, values.astype(str).str.len().to_numpy()
        if longest is not None and longest > MAX_FIELD_CHARS:
            lengths = np.fromiter(map(len, array), dtype=np.int64, count=len(array))
        checks = []
        if lengths is not None:
            checks.append((lengths > MAX_FIELD_CHARS, f"longer than {MAX_FIELD_CHARS} characters"))
        if scan_garbled:
            garbled = values.astype(str).str.contains(REPLACEMENT_CHAR, regex=False).to_numpy(dtype=bool)
            checks.append((garbled, "holds bytes that are not valid UTF-8"))
        for bad, reason in checks:
            new = bad & ~mask.to_numpy()
            if new.any():
                fields[new] = column
                reasons[new] = reason
                mask |= new
    return mask, fields, reasons
