"""Ingest bookkeeping: the per-file report, the rejects file, and the run record in the store.

Invariant: ``read == accepted + rejected + duplicates`` for every run.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sauti.constants import ALERT_SENSITIVE_COLUMNS

REJECT_COLUMNS = ("source_file", "row", "field", "reason", "raw")


@dataclass
class IngestReport:
    """What happened to one input file."""

    kind: str
    path: str
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    rejects_file: str | None = None
    run_id: int | None = None
    format: str | None = None
    warnings: list[str] = field(default_factory=list)
    schema: dict[str, Any] | None = None  # boundaries: the schema recognised and the columns read
    outside: int | None = None  # incidents: valid rows (stored) outside the boundaries' extent

    def summary(self) -> dict[str, Any]:
        """The JSON object the CLI prints with ``--json`` (keys fixed by the CLI contract).

        Boundary ingests add ``schema`` (name, title, id/name/parent columns); incident ingests add
        ``outside``, the valid rows lying outside the stored boundaries' extent (stored and counted
        among ``accepted`` or ``duplicates``, assigned to no locality).
        """
        out: dict[str, Any] = {
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "rejects_file": self.rejects_file,
        }
        if self.schema is not None:
            out["schema"] = self.schema
        if self.outside is not None:
            out["outside"] = self.outside
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check_invariant(self) -> None:
        if self.read != self.accepted + self.rejected + self.duplicates:
            raise AssertionError(
                f"{self.path}: read {self.read} != accepted {self.accepted} + rejected "
                f"{self.rejected} + duplicates {self.duplicates}"
            )


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})


def make_rejects(source_file: str, rows: Any, field_name: str, reason: Any, raw: Any) -> pd.DataFrame:
    """Build reject records (vectorised: ``rows``, ``reason`` and ``raw`` may be sequences)."""
    frame = pd.DataFrame({"row": rows, "reason": reason, "raw": raw})
    frame.insert(0, "source_file", source_file)
    frame.insert(2, "field", field_name)
    return frame[list(REJECT_COLUMNS)]


RAW_VALUE_CHARS = 1_000  # longest value copied whole into the rejects file


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > RAW_VALUE_CHARS:
        return f"{value[:RAW_VALUE_CHARS]}… [{len(value):,} characters in all]"
    return value


def alert_reject_view(rows: pd.DataFrame) -> pd.DataFrame:
    """Alert rows as a rejects file may show them: like every reply that leaves the store, without
    the reporter's pseudonym (``reporter_ref``) and without the exact point — coordinates rounded to
    0.1° (about 11 km: a swapped or out-of-range pair stays visible), one that is not a number withheld."""
    point = ("longitude", "latitude")
    shown = rows.drop(columns=[c for c in ALERT_SENSITIVE_COLUMNS if c not in point and c in rows.columns])
    for col in point:
        if col in shown.columns:
            shown[col] = shown[col].map(_coarse_coordinate)
    return shown


def _coarse_coordinate(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    text = str(value).strip()
    if not text:
        return value
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return "(not a number; not shown)"
    return f"{number:.1f}" if math.isfinite(number) else text


def raw_json(records: pd.DataFrame) -> pd.Series:
    """Each row of ``records`` as a compact JSON string (for the rejects file).

    Values longer than :data:`RAW_VALUE_CHARS` are cut (their length is noted), so a row rejected
    for a gigantic field does not copy that field into the rejects file.
    """
    if records.empty:  # no rows, or rows without a field worth showing (each is then "{}")
        return pd.Series(["{}"] * len(records), dtype="object", index=records.index)
    cols = list(records.columns)
    values = records.astype("object").where(records.notna(), None).to_numpy()
    return pd.Series(
        [
            json.dumps(
                {c: _shorten(v) for c, v in zip(cols, row, strict=True)}, ensure_ascii=False, default=str
            )
            for row in values
        ],
        index=records.index,
        dtype="object",
    )


class RejectsWriter:
    """Streams reject records to ``<workspace>/rejects/<run>_<kind>_<stem>.csv``.

    The file is written under a temporary name and moved into place by :meth:`close` (flushed and
    fsynced first), which :func:`~sauti.ingest.runs.ingest_run` calls before the run's COMMIT.
    """

    def __init__(self, folder: Path, run_label: str, source: Path) -> None:
        self.path = folder / f"{run_label}_{source.stem}.rejects.csv"
        self._tmp = self.path.with_suffix(".csv.partial")
        self._fh = open(self._tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close/abort)
        self._writer = csv.writer(self._fh)
        self._writer.writerow(REJECT_COLUMNS)
        self.count = 0
        self._renamed = False

    def write(self, rejects: pd.DataFrame) -> None:
        if rejects.empty:
            return
        self._writer.writerows(rejects[list(REJECT_COLUMNS)].itertuples(index=False, name=None))
        self.count += len(rejects)

    def sync(self) -> Path:
        """Flush and fsync what is written and have the file in place (moved there, durably, the
        first time): a run that commits in batches calls this before each batch's COMMIT."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        if not self._renamed:
            os.replace(self._tmp, self.path)
            self._renamed = True
            _fsync_folder(self.path.parent)
        return self.path

    def close(self) -> Path:
        """Flush and fsync the file, move it into place and fsync the folder (durable rename)."""
        if self._fh.closed:
            return self.path
        self.sync()
        self._fh.close()
        return self.path

    def abort(self) -> None:
        """Remove the file: partial, or already in place for a run whose COMMIT failed."""
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)
        if self._renamed:
            self.path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles: the rename is as durable as it gets
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
