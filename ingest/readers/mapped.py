"""Any incident log → canonical incidents, through a declarative column-mapping file (YAML or TOML).

The mapping names the source, which column holds the id, how to build the date (one column with
strptime formats, or year/month/day columns where an empty day means month precision), the
coordinate columns and their precision (fixed or derived), the category (value map, regex rules,
default), fatalities (a column or a sum of columns) and the optional text fields. The format is
documented in ``docs/ingest.md``; ``ingest/mappings/awsd.yaml`` is a complete example.

>>> mapping = load_mapping("awsd")  # a packaged mapping by name, or a path  # doctest: +SKIP
"""

from __future__ import annotations

import re
import tomllib
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sauti.constants import DATE_PRECISIONS, INCIDENT_CATEGORIES, LOCATION_PRECISIONS
from sauti.ingest.errors import IngestError
from sauti.ingest.readers.registry import Chunk, IncidentReader, ReaderOptions, register
from sauti.ingest.tabular import read_delimited
from sauti.ingest.validate import RowChecker, blank, fail_unparsed, none_if_blank, parse_dates, parse_numbers

FORMAT = "csv"
MAPPING_SUFFIXES = (".yaml", ".yml", ".toml")

Category = Literal[INCIDENT_CATEGORIES]  # type: ignore[valid-type]
LocationPrecision = Literal[LOCATION_PRECISIONS]  # type: ignore[valid-type]
DatePrecision = Literal[DATE_PRECISIONS]  # type: ignore[valid-type]
TextField = Literal["actor1", "actor2", "admin1", "admin2", "place_name", "source_category", "text"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdSpec(_Spec):
    """``event_id`` = ``<prefix>:<value of column>`` (prefix defaults to the source name)."""

    column: str
    prefix: str | None = None


class DateSpec(_Spec):
    """Either ``column`` + ``formats``, or ``year`` + ``month`` (+ ``day``) columns."""

    column: str | None = None
    formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"])
    precision: DatePrecision = "day"
    year: str | None = None
    month: str | None = None
    day: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> DateSpec:
        if (self.column is None) == (self.year is None):
            raise ValueError("give either 'column' (with 'formats') or 'year' (with 'month' and 'day')")
        return self


class PresentRule(_Spec):
    """Precision when ``column`` has a value (the first rule that applies wins)."""

    column: str
    precision: LocationPrecision


class PrecisionSpec(_Spec):
    """Location precision derived per row: a column's value map, or the first non-empty column."""

    column: str | None = None
    map: dict[str, LocationPrecision] = Field(default_factory=dict)
    first_present: list[PresentRule] = Field(default_factory=list)
    default: LocationPrecision = "country"


class LocationSpec(_Spec):
    longitude: str | None = None
    latitude: str | None = None
    # default: point when the mapping names coordinate columns, country when it does not
    precision: LocationPrecision | PrecisionSpec | None = None

    @model_validator(mode="after")
    def _both(self) -> LocationSpec:
        if (self.longitude is None) != (self.latitude is None):
            raise ValueError("give both 'longitude' and 'latitude' columns, or neither")
        return self


class CategoryRule(_Spec):
    """``category`` when ``column`` matches the regular expression ``pattern`` (case-insensitive)."""

    column: str
    pattern: str
    category: Category

    @model_validator(mode="after")
    def _compiles(self) -> CategoryRule:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern {self.pattern!r} is not a regular expression ({exc})") from exc
        return self


class CategorySpec(_Spec):
    """Rules first (in order), then the value map of ``column``, then ``default``."""

    column: str | None = None
    map: dict[str, Category] = Field(default_factory=dict)
    rules: list[CategoryRule] = Field(default_factory=list)
    default: Category = "other"


class FatalitiesSpec(_Spec):
    """One column, or the sum of several; empty cells count as 0."""

    column: str | None = None
    sum: list[str] = Field(default_factory=list)


class Mapping(_Spec):
    """A column-mapping file."""

    source: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    id: IdSpec
    date: DateSpec
    location: LocationSpec = LocationSpec()
    category: CategorySpec = CategorySpec()
    fatalities: FatalitiesSpec = FatalitiesSpec()
    fields: dict[TextField, str] = Field(default_factory=dict)
    description: str | None = None

    def columns(self) -> list[str]:
        """Every source column the mapping names (all must exist in the file)."""
        names = [self.id.column, self.date.column, self.date.year, self.date.month, self.date.day]
        names += [self.location.longitude, self.location.latitude]
        if isinstance(self.location.precision, PrecisionSpec):
            names.append(self.location.precision.column)
            names += [r.column for r in self.location.precision.first_present]
        names.append(self.category.column)
        names += [r.column for r in self.category.rules]
        names += [self.fatalities.column, *self.fatalities.sum]
        names += list(self.fields.values())
        return list(dict.fromkeys(n for n in names if n))


def packaged_mappings() -> list[str]:
    """Names of the mapping files shipped in ``sauti.ingest/mappings``."""
    folder = resources.files("sauti.ingest").joinpath("mappings")
    return sorted(e.name.rsplit(".", 1)[0] for e in folder.iterdir() if e.name.endswith(MAPPING_SUFFIXES))


def resolve_mapping(mapping: str | Path) -> Path:
    """A mapping file path, or the packaged mapping of that name (``awsd``)."""
    path = Path(mapping)
    if path.is_file():
        return path
    if path.suffix == "" and path.name in packaged_mappings():
        for suffix in MAPPING_SUFFIXES:
            entry = resources.files("sauti.ingest").joinpath(f"mappings/{path.name}{suffix}")
            if entry.is_file():
                return Path(str(entry))
    raise IngestError(
        path, f"mapping file not found (packaged mappings: {', '.join(packaged_mappings()) or 'none'})"
    )


def load_mapping(mapping: str | Path) -> Mapping:
    """Read and check a mapping file; any problem is an :class:`IngestError` naming the file and key."""
    path = resolve_mapping(mapping)
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise IngestError(path, f"cannot read the mapping file ({exc})") from exc
    if not isinstance(data, dict):
        raise IngestError(path, "a mapping file must hold a table of keys (source, id, date, …)")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        raise IngestError(path, _explain(exc)) from exc


def _explain(exc: ValidationError) -> str:
    """The first problem of a mapping file as one line naming the key."""
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"] if not str(p).startswith(("function-after", "literal[")))
    if error["type"] == "extra_forbidden":
        section = key.rsplit(".", 1)[0] if "." in key else ""
        return f"unknown key {key!r} in the mapping" + _known_keys(section)
    if error["type"] == "missing":
        return f"required key {key!r} is missing from the mapping"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"key {key!r}: {message}" if key else message


def _known_keys(section: str) -> str:
    model: type[BaseModel] = Mapping
    for part in section.split(".") if section else []:
        annotation = model.model_fields.get(part)
        sub = getattr(annotation, "annotation", None) if annotation else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return ""
        model = sub
    return f" (known keys{' of ' + repr(section) if section else ''}: {', '.join(model.model_fields)})"


# --- the reader -------------------------------------------------------------------------------------
def read(path: Path, options: ReaderOptions) -> Iterator[Chunk]:
    """Yield canonical chunks of ``path`` as ``options.mapping`` says."""
    if options.mapping is None:
        raise IngestError(path, "format 'csv' needs a --mapping file")
    mapping = load_mapping(options.mapping)
    checked = False
    for raw in read_delimited(path, options.chunksize, columns=mapping.columns()):
        if not checked:
            missing = [c for c in mapping.columns() if c not in raw.columns]
            if missing:
                raise IngestError(
                    path,
                    f"missing column(s) named in mapping {Path(options.mapping).name}: {', '.join(missing)}",
                )
            checked = True
        yield _chunk(path, raw, mapping)


def _chunk(path: Path, raw: pd.DataFrame, m: Mapping) -> Chunk:
    date_field = m.date.column or m.date.year
    checker = RowChecker(
        path.name,
        raw,
        source_fields={
            "event_id": m.id.column,
            "occurred_on": date_field,
            "longitude": m.location.longitude or "longitude",
            "latitude": m.location.latitude or "latitude",
            "fatalities": m.fatalities.column or "fatalities",
        },
    )
    frame = pd.DataFrame(index=raw.index)
    ids = raw[m.id.column].str.strip()
    frame["event_id"] = (f"{m.id.prefix or m.source}:" + ids).where(~blank(raw[m.id.column]))
    frame["source"] = m.source
    frame["occurred_on"], frame["date_precision"] = _dates(raw, m.date, checker)
    if m.location.longitude:
        for axis in ("longitude", "latitude"):
            column = getattr(m.location, axis)
            frame[axis] = parse_numbers(raw[column])
            fail_unparsed(checker, frame[axis], raw[column], axis, "not a number")
    else:
        frame["longitude"] = frame["latitude"] = np.nan
    precision = m.location.precision or ("point" if m.location.longitude else "country")
    frame["location_precision"] = _location_precision(raw, precision)
    frame["category"] = _category(raw, m.category)
    frame["fatalities"] = _fatalities(raw, m.fatalities, checker)
    for name in ("actor1", "actor2", "admin1", "admin2", "place_name", "source_category", "text"):
        column = m.fields.get(name)
        frame[name] = none_if_blank(raw[column]) if column else None
    if "source_category" not in m.fields and m.category.column:
        frame["source_category"] = none_if_blank(raw[m.category.column])
    return Chunk(frame, checker)


def _dates(raw: pd.DataFrame, spec: DateSpec, checker: RowChecker) -> tuple[pd.Series, pd.Series]:
    if spec.column:
        dates = parse_dates(raw[spec.column], tuple(spec.formats))
        fail_unparsed(checker, dates, raw[spec.column], "occurred_on", "unparseable date")
        return dates, pd.Series(spec.precision, index=raw.index, dtype="object")
    parts = {}
    for unit in ("year", "month", "day"):
        column = getattr(spec, unit)
        if column is None:
            parts[unit] = pd.Series(np.nan, index=raw.index)
            continue
        parts[unit] = parse_numbers(raw[column])
        bad = parts[unit].notna() & (parts[unit] != parts[unit].round())
        checker.fail(
            (parts[unit].isna() & ~blank(raw[column])) | bad, column, f"{unit} is not a whole number"
        )
    year, month, day = parts["year"], parts["month"], parts["day"]
    precision = pd.Series("day", index=raw.index, dtype="object")
    precision[day.isna()] = "month"
    precision[month.isna()] = "year"
    dates = pd.to_datetime(
        pd.DataFrame({"year": year, "month": month.fillna(1), "day": day.fillna(1)}), errors="coerce"
    )
    checker.fail(year.notna() & dates.isna(), spec.year, "year/month/day is not a date")
    return dates, precision.where(year.notna(), None)


def _location_precision(raw: pd.DataFrame, spec: LocationPrecision | PrecisionSpec) -> pd.Series:
    if isinstance(spec, str):
        return pd.Series(spec, index=raw.index, dtype="object")
    out = pd.Series(None, index=raw.index, dtype="object")
    if spec.column:
        key = raw[spec.column].str.strip().str.lower()
        out = key.map({str(k).strip().lower(): v for k, v in spec.map.items()}).astype("object")
    for rule in spec.first_present:
        todo = out.isna() & ~blank(raw[rule.column])
        out[todo] = rule.precision
    return out.fillna(spec.default)


def _category(raw: pd.DataFrame, spec: CategorySpec) -> pd.Series:
    out = pd.Series(None, index=raw.index, dtype="object")
    for rule in spec.rules:
        todo = out.isna()
        with warnings.catch_warnings():  # groups in a user's pattern are fine: we only test for a match
            warnings.filterwarnings("ignore", "This pattern is interpreted", UserWarning)
            hit = raw[rule.column].str.contains(rule.pattern, case=False, regex=True, na=False)
        out[todo & hit] = rule.category
    if spec.column and spec.map:
        key = raw[spec.column].str.strip().str.lower()
        mapped = key.map({str(k).strip().lower(): v for k, v in spec.map.items()}).astype("object")
        out = out.where(out.notna(), mapped)
    return out.fillna(spec.default)


def _fatalities(raw: pd.DataFrame, spec: FatalitiesSpec, checker: RowChecker) -> pd.Series:
    columns = [spec.column] if spec.column else spec.sum
    total = pd.Series(0.0, index=raw.index)
    for column in columns:
        values = parse_numbers(raw[column])
        checker.fail(values.isna() & ~blank(raw[column]), column, "not a number")
        total = total + values.fillna(0)
    return total


register(
    IncidentReader(
        name=FORMAT,
        description="any delimited incident log, through a column-mapping file (--mapping, YAML/TOML)",
        detect=lambda columns: False,
        read=read,
        needs_mapping=True,
    )
)
