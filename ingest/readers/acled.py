"""ACLED exports → canonical incidents, in both schemas, told apart by their column names.

* current exports: lower-case columns (``event_id_cnty``, ``event_date`` written ``06 December
  2022`` or, in API exports, ``2022-12-06``; ``sub_event_type`` absent before 2019);
* pre-2017 "realtime" files: the same fields in UPPER CASE with ``EVENT_DATE`` as dd/mm/yyyy.

An event with either actor coded as an identity/communal militia (``inter1`` or ``inter2`` = 4,
or the text ``Identity militia`` that ACLED has used since 2023) is ``intercommunal``; otherwise the
event type decides (:data:`CATEGORY_BY_EVENT_TYPE`). ``geo_precision`` 1/2/3 → point/locality/region
and ``time_precision`` 1/2/3 → day/week/month. A ``--rules`` YAML file may override
``intercommunal_inter_codes`` and ``category_by_event_type``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sauti.ingest.errors import IngestError
from sauti.ingest.readers.columns import is_json, json_row
from sauti.ingest.readers.registry import Chunk, IncidentReader, ReaderOptions, register
from sauti.ingest.tabular import RECORD_PROBLEM, iter_json_records, read_delimited
from sauti.ingest.validate import (
    RowChecker,
    blank,
    check_required_columns,
    fail_unparsed,
    none_if_blank,
    on_distinct,
    on_distinct_pairs,
    parse_dates,
    parse_numbers,
    prefixed_ids,
)

SOURCE = "acled"
REQUIRED = ("event_id_cnty", "event_date", "event_type", "geo_precision")
SIGNATURE = {"event_id_cnty", "event_date", "event_type", "latitude", "longitude"}

# Date formats by schema: current exports write "06 December 2022" (API exports ISO dates);
# the pre-2017 realtime files write dd/mm/yyyy.
CURRENT_DATE_FORMATS = ("%d %B %Y", "%Y-%m-%d", "%d-%B-%Y", "%d %b %Y")
REALTIME_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")

LOCATION_PRECISION_BY_GEO_PRECISION = {1: "point", 2: "locality", 3: "region"}
DATE_PRECISION_BY_TIME_PRECISION = {1: "day", 2: "week", 3: "month"}

# Lower-cased ACLED event types (current and realtime vocabularies) → canonical category.
# Anything not listed is "other" (strategic developments, HQ established, transfers of territory).
CATEGORY_BY_EVENT_TYPE: dict[str, str] = {
    "battles": "armed_clash",
    "battle-no change of territory": "armed_clash",
    "battle-government regains territory": "armed_clash",
    "battle-non-state actor overtakes territory": "armed_clash",
    "battle-non-state actor overtakes territorry": "armed_clash",  # as spelt in some 2016 files
    "violence against civilians": "violence_against_civilians",
    "protests": "riot_protest",
    "riots": "riot_protest",
    "riots/protests": "riot_protest",
    "explosions/remote violence": "explosive_remote",
    "remote violence": "explosive_remote",
}
# inter1/inter2 codes that make an event intercommunal: 4 = identity (communal/ethnic) militia.
INTERCOMMUNAL_INTER_CODES: tuple[str, ...] = ("4", "identity militia")

# canonical column → the ACLED field it comes from (upper-cased for realtime files)
_SOURCE_FIELDS = {
    "event_id": "event_id_cnty",
    "occurred_on": "event_date",
    "date_precision": "time_precision",
    "location_precision": "geo_precision",
    "category": "event_type",
    "longitude": "longitude",
    "latitude": "latitude",
    "fatalities": "fatalities",
}
# the columns the reader reads (others in an export are skipped): canonical fields and their sources
USED_COLUMNS = (
    *_SOURCE_FIELDS.values(),
    "sub_event_type",
    "inter1",
    "inter2",
    "actor1",
    "actor2",
    "admin1",
    "admin2",
    "location",
    "notes",
)
_RULE_KEYS = {"intercommunal_inter_codes", "category_by_event_type"}


def detect(columns: list[str]) -> bool:
    """True for either ACLED schema (column names compared case-insensitively)."""
    return {c.strip().lower() for c in columns} >= SIGNATURE


def is_realtime(columns: list[str]) -> bool:
    """The pre-2017 realtime schema writes its column names in upper case."""
    return any(c.strip() == "EVENT_DATE" for c in columns)


def load_rules(path: Path | None) -> tuple[tuple[str, ...], dict[str, str]]:
    """Intercommunal inter codes and the event-type map (defaults, or a ``--rules`` YAML file)."""
    codes, by_type = INTERCOMMUNAL_INTER_CODES, dict(CATEGORY_BY_EVENT_TYPE)
    if path is None:
        return codes, by_type
    try:
        rules: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise IngestError(path, f"cannot read ACLED rules ({exc})") from exc
    if not isinstance(rules, dict) or set(rules) - _RULE_KEYS:
        unknown = sorted(set(rules) - _RULE_KEYS) if isinstance(rules, dict) else ["(not a mapping)"]
        raise IngestError(
            path,
            f"unknown key(s) {', '.join(unknown)} in ACLED rules; known: {', '.join(sorted(_RULE_KEYS))}",
        )
    if "intercommunal_inter_codes" in rules:
        codes = tuple(str(c).strip().lower() for c in rules["intercommunal_inter_codes"])
    if "category_by_event_type" in rules:
        by_type = {str(k).strip().lower(): str(v) for k, v in rules["category_by_event_type"].items()}
    return codes, by_type


def classify(
    event_type: pd.Series,
    inter1: pd.Series | None,
    inter2: pd.Series | None,
    intercommunal_codes: tuple[str, ...] = INTERCOMMUNAL_INTER_CODES,
    by_type: dict[str, str] | None = None,
) -> pd.Series:
    """Canonical category per row: intercommunal by ``inter`` code, else by event type."""
    by_type = CATEGORY_BY_EVENT_TYPE if by_type is None else by_type
    category = on_distinct(event_type, lambda v: v.astype(str).str.strip().str.lower().map(by_type))
    category = category.fillna("other")
    communal = pd.Series(False, index=event_type.index)
    for inter in (inter1, inter2):
        if inter is not None:
            code = on_distinct(
                inter, lambda v: v.astype(str).str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
            )
            communal |= code.isin(intercommunal_codes)
    category[communal] = "intercommunal"
    return category


def _source_category(kind: pd.Series, sub: pd.Series) -> pd.Series:
    kind, sub = kind.astype(str).str.strip(), sub.astype(str).str.strip()
    return kind.where(sub == "", kind + ": " + sub).where(kind != "", None)


def _codes(values: pd.Series, mapping: dict[int, str]) -> pd.Series:
    return on_distinct(values, lambda v: parse_numbers(v).map(mapping))


def _raw_chunks(path: Path, options: ReaderOptions) -> Iterator[pd.DataFrame]:
    """An export as CSV, or as JSON the way ACLED's API answers (``{"data": [...]}``, a list, JSON
    Lines or a GeoJSON of points), read as a stream; values as written (text), unused fields dropped."""
    if not is_json(path):
        yield from read_delimited(path, options.chunksize, columns=USED_COLUMNS)
        return
    wanted = {c.lower() for c in USED_COLUMNS} | {"_row", RECORD_PROBLEM}
    for frame in iter_json_records(path, ("data", "records", "features"), options.chunksize, record=json_row):
        kept = frame[[c for c in frame.columns if str(c).strip().lower() in wanted]]
        yield kept.map(lambda v: "" if v is None else str(v))


def read(path: Path, options: ReaderOptions) -> Iterator[Chunk]:
    """Yield canonical chunks of an ACLED export (either schema)."""
    codes, by_type = load_rules(options.rules)
    known_dates: dict[str, Any] = {}  # date text → parsed, shared by the file's chunks
    for raw in _raw_chunks(path, options):
        realtime = is_realtime(list(raw.columns))
        src = raw.rename(columns=lambda c: c if c == "_row" else c.strip().lower())
        missing = check_required_columns(list(src.columns), REQUIRED)
        if missing:
            names = [m.upper() for m in missing] if realtime else missing
            raise IngestError(path, f"missing required column(s) for ACLED: {', '.join(names)}")
        name = str.upper if realtime else str
        checker = RowChecker(path.name, raw, source_fields={k: name(v) for k, v in _SOURCE_FIELDS.items()})
        frame = _canonical(src, realtime, codes, by_type, known_dates)
        fail_unparsed(
            checker, frame["event_id"], src["event_id_cnty"], "event_id", "required value is missing"
        )
        fail_unparsed(checker, frame["occurred_on"], src["event_date"], "occurred_on", "unparseable date")
        if "time_precision" in src:
            fail_unparsed(
                checker,
                frame["date_precision"],
                src["time_precision"],
                "date_precision",
                "not an ACLED time_precision code (1-3)",
            )
        fail_unparsed(
            checker,
            frame["location_precision"],
            src["geo_precision"],
            "location_precision",
            "not an ACLED geo_precision code (1-3)",
        )
        for column in ("longitude", "latitude", "fatalities"):
            if column in src:
                fail_unparsed(checker, frame[column], src[column], column, "not a number")
        yield Chunk(frame, checker)


def _canonical(
    src: pd.DataFrame,
    realtime: bool,
    codes: tuple[str, ...],
    by_type: dict[str, str],
    known_dates: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Canonical columns; values that do not parse become missing and the shared checks reject them."""
    frame = pd.DataFrame(index=src.index)
    frame["event_id"] = prefixed_ids(src["event_id_cnty"], SOURCE)
    frame["source"] = SOURCE
    formats = REALTIME_DATE_FORMATS if realtime else CURRENT_DATE_FORMATS
    frame["occurred_on"] = parse_dates(src["event_date"], formats, known_dates)
    if "time_precision" in src:
        given = ~blank(src["time_precision"])
        precision = _codes(src["time_precision"], DATE_PRECISION_BY_TIME_PRECISION)
        frame["date_precision"] = precision.where(given, "day")
    else:
        frame["date_precision"] = "day"
    frame["longitude"] = parse_numbers(src["longitude"])
    frame["latitude"] = parse_numbers(src["latitude"])
    frame["location_precision"] = _codes(src["geo_precision"], LOCATION_PRECISION_BY_GEO_PRECISION)
    frame["category"] = classify(src["event_type"], src.get("inter1"), src.get("inter2"), codes, by_type)
    # counts repeat a few values: parsed once per distinct value
    frame["fatalities"] = (
        on_distinct(src["fatalities"], parse_numbers).astype("float64") if "fatalities" in src else 0.0
    )
    # "event type: sub-event type", as ACLED wrote them (few distinct pairs: built once per pair)
    sub = src["sub_event_type"] if "sub_event_type" in src else pd.Series("", index=src.index)
    frame["source_category"] = on_distinct_pairs(src["event_type"], sub, _source_category)
    for canonical, column in (
        ("actor1", "actor1"),
        ("actor2", "actor2"),
        ("admin1", "admin1"),
        ("admin2", "admin2"),
        ("place_name", "location"),
        ("text", "notes"),
    ):
        frame[canonical] = none_if_blank(src[column]) if column in src else None
    return frame


register(
    IncidentReader(
        name=SOURCE,
        description="ACLED export, current lower-case or pre-2017 upper-case realtime schema; "
        "inter1/inter2 = 4 → intercommunal",
        detect=detect,
        read=read,
    )
)
