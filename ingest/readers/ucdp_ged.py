"""UCDP Georeferenced Event Dataset (GED) as CSV or GeoJSON → canonical incidents.

Intercommunal violence is recognised by the rules in ``ucdp_rules.yaml`` (or a file given with
``--rules``): an identity-group side (UCDP actor list ``Org`` = 3) or a non-state dyad of armed
groups recruited along communal lines. Events with an empty ``adm_2`` are never more precise than
``region``: UCDP located them only to a province or the country.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sauti.ingest.errors import IngestError
from sauti.ingest.readers.columns import feature_row, is_json
from sauti.ingest.readers.registry import Chunk, IncidentReader, ReaderOptions, register
from sauti.ingest.tabular import iter_json_records, read_delimited
from sauti.ingest.validate import (
    RowChecker,
    blank,
    check_required_columns,
    fail_unparsed,
    parse_dates,
    parse_numbers,
)

REQUIRED = ("id", "type_of_violence", "date_start", "where_prec")
SIGNATURE = {"type_of_violence", "where_prec", "date_start", "side_a"}
SOURCE = "ucdp-ged"


def detect(columns: list[str]) -> bool:
    return set(columns) >= SIGNATURE


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> dict[str, Any]:
    """The category rules (the packaged default, or a user's YAML file)."""
    if path is None:
        text = resources.files("sauti.ingest").joinpath("ucdp_rules.yaml").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@lru_cache(maxsize=1)
def identity_actor_ids(org_codes: tuple[int, ...] = (3,)) -> frozenset[int]:
    """UCDP ``ActorId``s whose ``Org`` is one of ``org_codes`` (from the shipped actor list)."""
    ref = resources.files("sauti.ingest").joinpath("reference/ucdp_actor_list_v22_1.csv")
    with ref.open("rb") as fh:
        actors = pd.read_csv(fh, encoding="utf-8-sig", usecols=["ActorId", "Org"])
    return frozenset(actors.loc[actors["Org"].isin(org_codes), "ActorId"].astype(int))


def classify(raw: pd.DataFrame, rules: dict[str, Any]) -> pd.Series:
    """Canonical category for each GED row (``type_of_violence``, sides, actor ids)."""
    tov = pd.to_numeric(raw["type_of_violence"], errors="coerce")
    by_type = {int(k): v for k, v in rules["category_by_type_of_violence"].items()}
    category = tov.map(by_type).astype("object")
    ic = rules.get("intercommunal", {})
    identity = identity_actor_ids(tuple(ic.get("identity_org_codes", [3])))
    sides = pd.DataFrame(
        {
            c: pd.to_numeric(raw[c], errors="coerce") if c in raw else np.nan
            for c in ("side_a_new_id", "side_b_new_id")
        }
    )
    has_identity = sides.isin(identity).any(axis=1)
    rule1 = has_identity & tov.isin(ic.get("identity_violence_types", [2, 3]))
    groups = ic.get("communal_armed_groups", [])
    rule2 = pd.Series(False, index=raw.index)
    if groups:
        pattern = r"(?<![\w-])(?:" + "|".join(re.escape(g) for g in groups) + r")(?![\w-])"
        names = raw.get("side_a", "").astype(str) + " | " + raw.get("side_b", "").astype(str)
        rule2 = names.str.contains(pattern, case=False, regex=True) & tov.isin(
            ic.get("communal_armed_group_violence_types", [2])
        )
    category[rule1 | rule2] = "intercommunal"
    return category


def _read_raw(path: Path, options: ReaderOptions) -> Iterator[pd.DataFrame]:
    """Rows of a CSV, or the features of a GeoJSON read as a stream (bounded memory, whatever its
    size; a feature nested too deep or not valid JSON is a rejected row, not a crash)."""
    if not is_json(path):
        yield from read_delimited(path, options.chunksize)
        return
    found = False
    for frame in iter_json_records(path, ("features",), options.chunksize, record=feature_row):
        found = True
        yield frame
    if not found:
        raise IngestError(path, "GeoJSON has no features (a 'features' list of Point features)")


def read(path: Path, options: ReaderOptions) -> Iterator[Chunk]:
    rules = load_rules(str(options.rules) if options.rules else None)
    where = {int(k): v for k, v in rules["location_precision_by_where_prec"].items()}
    when = {int(k): v for k, v in rules["date_precision_by_date_prec"].items()}
    for raw in _read_raw(path, options):
        missing = check_required_columns(list(raw.columns), REQUIRED)
        if missing:
            raise IngestError(path, f"missing required column(s) for UCDP GED: {', '.join(missing)}")
        checker = RowChecker(path.name, raw)
        frame = pd.DataFrame(index=raw.index)
        ids = raw["id"].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
        checker.fail(blank(raw["id"]), "id", "required value is missing")
        frame["event_id"] = "ucdp:" + ids
        frame["source"] = SOURCE
        frame["occurred_on"] = parse_dates(
            raw["date_start"], ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
        )
        checker.fail(frame["occurred_on"].isna(), "date_start", "unparseable date")
        date_prec = pd.to_numeric(raw.get("date_prec", pd.Series(1, index=raw.index)), errors="coerce")
        frame["date_precision"] = date_prec.map(when)
        checker.fail(frame["date_precision"].isna(), "date_prec", "not a UCDP date_prec code (1-5)")
        prec = pd.to_numeric(raw["where_prec"], errors="coerce")
        location = prec.map(where).astype("object")
        checker.fail(location.isna(), "where_prec", "not a UCDP where_prec code (1-7)")
        if "adm_2" in raw:  # no second-order unit: UCDP itself knows only the region
            location[blank(raw["adm_2"]) & location.isin(["point", "locality"])] = "region"
        frame["location_precision"] = location
        frame["longitude"] = parse_numbers(raw["longitude"]) if "longitude" in raw else np.nan
        frame["latitude"] = parse_numbers(raw["latitude"]) if "latitude" in raw else np.nan
        for axis in ("longitude", "latitude"):
            if axis in raw:  # given but not a number (text, true/false)
                fail_unparsed(checker, frame[axis], raw[axis], axis, "not a number")
        frame["category"] = classify(raw, rules)
        checker.fail(frame["category"].isna(), "type_of_violence", "not a UCDP violence type (1-3)")
        best = parse_numbers(raw["best"]) if "best" in raw else pd.Series(0.0, index=raw.index)
        frame["fatalities"] = best
        checker.fail("best" in raw and (best.isna() & ~blank(raw["best"])), "best", "not a number")
        frame["actor1"] = raw.get("side_a")
        frame["actor2"] = raw.get("side_b")
        frame["admin1"] = raw.get("adm_1")
        frame["admin2"] = raw.get("adm_2")
        frame["place_name"] = raw.get("where_coordinates")
        frame["source_category"] = "type_of_violence=" + raw["type_of_violence"].astype(str)
        frame["text"] = raw.get("where_description")
        for column in ("actor1", "actor2", "admin1", "admin2", "place_name", "text"):
            frame[column] = frame[column].where(~blank(frame[column].astype("object")), None)
        yield Chunk(frame, checker)


register(
    IncidentReader(
        name=SOURCE,
        description="UCDP GED (CSV or GeoJSON); intercommunal by actor list Org=3 and configurable rules",
        detect=detect,
        read=read,
    )
)
