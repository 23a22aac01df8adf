"""Alert fields: the column names and vocabularies of ``vocabulary.yaml``, and alert times.

Column names and vocabulary words are compared folded (no accents, case or punctuation), so
``Date de réception`` is ``received_at`` and ``Mouvement de groupes armés`` is
``armed_group_movement``.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sauti.constants import ALERT_CATEGORIES, ALERT_CHANNELS, ALERT_VERIFICATION
from sauti.ingest.validate import parse_dates
from sauti.privacy import fold

VOCABULARY_FILE = "vocabulary.yaml"
NAIVE_FORMATS = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)
FUTURE_TOLERANCE = timedelta(minutes=10)
"""A phone clock may run a little ahead: later than now + this is "in the future"."""
EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
_AWARE_RE = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})$"


def field_key(value: Any) -> str:
    """Folded, punctuation-free form of a header or a vocabulary value."""
    return re.sub(r"[^a-z0-9]+", "_", fold(str(value)).strip()).strip("_")


@cache
def vocabulary() -> dict[str, dict[str, tuple[str, ...]]]:
    """The packaged vocabularies: ``field_aliases``, ``categories``, ``channels``, ``verification``."""
    text = resources.files("sauti.ingest.alerts").joinpath(VOCABULARY_FILE).read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    tables = {name: {k: tuple(v) for k, v in table.items()} for name, table in doc.items()}
    for name, allowed in (
        ("categories", ALERT_CATEGORIES),
        ("channels", ALERT_CHANNELS),
        ("verification", ALERT_VERIFICATION),
    ):
        unknown = set(tables[name]) - set(allowed)
        if unknown:
            raise ValueError(f"{VOCABULARY_FILE}: {name} {sorted(unknown)} are not canonical values")
    return tables


@cache
def lookup(table: str) -> dict[str, str]:
    """Folded word → canonical value for one vocabulary (the canonical values map to themselves)."""
    out = {}
    for canonical, words in vocabulary()[table].items():
        out[field_key(canonical)] = canonical
        for word in words:
            out[field_key(word)] = canonical
    return out


FIELD_ALIASES: dict[str, tuple[str, ...]] = vocabulary()["field_aliases"]
"""Canonical alert field → the column names that mean it."""


def normalize_category(value: Any) -> str:
    """Canonical alert category; anything unknown or blank is ``other`` (never rejected)."""
    return lookup("categories").get(field_key(value or ""), "other")


def normalize_verification(value: Any) -> str:
    """Canonical verification state; blank is ``unverified``; unknown raises ``ValueError``."""
    key = field_key(value if value is not None else "")
    if not key:
        return "unverified"
    if key not in lookup("verification"):  # the value is not repeated (it may hold anything)
        raise ValueError(f"verification must be one of {', '.join(ALERT_VERIFICATION)}")
    return lookup("verification")[key]


def canonical_columns(columns: list[str]) -> dict[str, str]:
    """Map each recognised source column → its canonical field (several may alias one field)."""
    aliases = lookup("field_aliases")
    return {c: aliases[field_key(c)] for c in columns if c != "_row" and field_key(c) in aliases}


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v).replace("\x00", "")  # a NUL would cut the text short in C readers: dropped


def as_text(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Every canonical field as a string ('' when missing; nested JSON values as JSON text).

    When several source columns alias one field (``from`` and ``reporter_phone``), each row takes
    the first non-blank one, in column order. Also returns which rows are in the SMS-gateway
    shape (a non-blank ``from``). Unrecognised columns are dropped here: never stored.
    """
    n = len(frame)
    values: dict[str, list[str]] = {name: [""] * n for name in FIELD_ALIASES}
    gateway = np.zeros(n, dtype=bool)
    for pos, (column, canonical) in enumerate((c, canonical_columns([c]).get(c)) for c in frame.columns):
        if canonical is None:
            continue
        cells = [_cell(v) for v in frame.iloc[:, pos]]
        if field_key(column) == "from":
            gateway |= np.array([bool(c.strip()) for c in cells], dtype=bool)
        values[canonical] = [
            old if old.strip() else new for old, new in zip(values[canonical], cells, strict=True)
        ]
    out = pd.DataFrame(values, index=frame.index, dtype=object)
    return out, pd.Series(gateway, index=frame.index)


def parse_received_at(values: pd.Series, timezone: str) -> pd.Series:
    """Parse alert times to UTC.

    ISO 8601 with ``Z`` or an offset is taken as written; Unix seconds as UTC; naive ISO or
    day-first (``dd/mm/yyyy HH:MM``, the French spreadsheet habit) times are local times in
    ``timezone``. Unparseable → NaT.
    """
    text = values.astype(str).str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    epoch = text.str.fullmatch(r"\d{9,10}(?:\.\d+)?")
    if epoch.any():
        out[epoch] = pd.to_datetime(text[epoch].astype(float), unit="s", utc=True)
    aware = text.str.contains(_AWARE_RE, regex=True) & ~epoch
    if aware.any():
        written = text[aware].str.replace(" ", "T", n=1, regex=False)
        out[aware] = pd.to_datetime(written, format="ISO8601", utc=True, errors="coerce")
        for idx in written.index[out[aware].isna().to_numpy()]:  # other layouts, one by one
            try:
                out[idx] = pd.Timestamp(written[idx]).tz_convert("UTC")
            except (ValueError, TypeError, OverflowError):
                continue
    naive = ~aware & ~epoch & (text != "")
    if naive.any():
        sub = text[naive]
        parsed = pd.to_datetime(sub, format="ISO8601", errors="coerce")
        todo = parsed.isna()
        if todo.any():
            parsed[todo] = parse_dates(sub[todo], NAIVE_FORMATS)
        local = pd.DatetimeIndex(parsed).tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        out[naive] = pd.Series(local.tz_convert("UTC"), index=sub.index)
    return out


def iso_utc(times: pd.Series) -> pd.Series:
    """``YYYY-MM-DDTHH:MM:SSZ`` text of UTC times (missing stays missing)."""
    return times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
