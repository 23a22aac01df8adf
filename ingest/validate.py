"""Canonical-schema checks at the boundary of ``ingest``: vectorised, one reason per rejected row.

Readers turn a source's columns into canonical ones and record parse failures in a
:class:`RowChecker`; :func:`validate_incidents` then applies the checks every source shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely

from sauti.constants import (
    DATE_PRECISIONS,
    INCIDENT_CATEGORIES,
    INCIDENT_COLUMNS,
    INCIDENT_REQUIRED,
    LOCATION_PRECISIONS,
)
from sauti.ingest.bookkeeping import empty_rejects, raw_json
from sauti.ingest.tabular import (
    EXTRA_FIELDS,
    RAGGED_REASON,
    RECORD_PROBLEM,
    WHOLE_ROW,
    oversized_or_garbled,
    ragged_rows,
)

# A point this far outside the workspace's extent (degrees) whose swap falls inside is a suspected
# swap: a warning with a count, never a reject (a file may hold another country's events).
EXTENT_MARGIN_DEG = 1.0
Extent = tuple[float, float, float, float]  # minx, miny, maxx, maxy (degrees)
NOT_FINITE = "not a finite number (NaN or Infinity)"


class RowChecker:
    """Collects per-row failures over one chunk; the first failure of a row is the one reported.

    Parameters
    ----------
    source_file : str
        Name written in the rejects file.
    raw : DataFrame
        The rows as read (with ``_row``); what the rejects file shows. For alerts it must already
        be pseudonymised.
    source_fields : dict, optional
        Canonical column → the source's field name, so that the rejects file names the field as
        the user's file spells it (``EVENT_DATE`` rather than ``occurred_on``).
    """

    def __init__(
        self, source_file: str, raw: pd.DataFrame, source_fields: dict[str, str] | None = None
    ) -> None:
        self.source_file = source_file
        self.raw = raw
        self.source_fields = dict(source_fields or {})
        self._bad = np.zeros(len(raw), dtype=bool)
        # (row positions, field, reason or per-row reasons) per failure; the rejects frame (with
        # each row's raw JSON) is built once in :meth:`rejects`, not once per check.
        self._failures: list[tuple[np.ndarray, str, Any]] = []
        # a row longer than the header first: its values may sit under the wrong columns
        self.fail(ragged_rows(raw), WHOLE_ROW, f"{RAGGED_REASON}; surplus values in {EXTRA_FIELDS}")
        if RECORD_PROBLEM in raw.columns:  # a JSON record that could not be read
            problems = raw[RECORD_PROBLEM]
            self.fail(problems.notna().to_numpy(), WHOLE_ROW, problems.fillna(""))

    @property
    def bad(self) -> pd.Series:
        """True for rows rejected so far (aligned on ``raw``'s index)."""
        return pd.Series(self._bad, index=self.raw.index)

    def fail(self, mask: pd.Series | np.ndarray, field: str, reason: str | pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        new = mask & ~self._bad
        if not new.any():
            return
        if isinstance(reason, pd.Series):
            reason = reason[pd.Series(new, index=self.raw.index)].to_numpy()
        self._failures.append((np.flatnonzero(new), field, reason))
        self._bad |= new

    def field_name(self, canonical: str) -> str:
        """The source's name for a canonical column (the canonical name if it has none)."""
        return self.source_fields.get(canonical, canonical)

    def fail_each(self, mask: pd.Series, fields: pd.Series, reasons: pd.Series) -> None:
        """Like :meth:`fail` with a field name per row."""
        for field in pd.unique(fields[mask]):
            self.fail(mask & (fields == field), str(field), reasons)

    def check_raw(self) -> None:
        """Reject rows with an oversized field or undecodable bytes."""
        mask, fields, reasons = oversized_or_garbled(self.raw)
        if mask.any():
            self.fail_each(mask, fields, reasons)

    @property
    def good(self) -> pd.Series:
        return pd.Series(~self._bad, index=self.raw.index)

    def rejects(self) -> pd.DataFrame:
        """One record per rejected row, in row order."""
        if not self._failures:
            return empty_rejects()
        positions = np.concatenate([pos for pos, _, _ in self._failures])
        fields = np.concatenate([np.full(len(pos), field, dtype=object) for pos, field, _ in self._failures])
        reasons = np.concatenate(
            [
                np.asarray(reason, dtype=object)
                if isinstance(reason, np.ndarray)
                else np.full(len(pos), reason, dtype=object)
                for pos, _, reason in self._failures
            ]
        )
        order = np.argsort(positions, kind="stable")
        positions, fields, reasons = positions[order], fields[order], reasons[order]
        rows = self.raw.iloc[positions]
        raw = raw_json(rows.drop(columns="_row"))
        frame = pd.DataFrame(
            {
                "source_file": self.source_file,
                "row": rows["_row"].to_numpy(),
                "field": fields,
                "reason": reasons,
                "raw": raw.to_numpy(),
            }
        )
        return frame.sort_values("row", kind="stable", ignore_index=True)


# --- parsing helpers shared by readers -----------------------------------------------------------
# These run on every row of files with millions of rows: they avoid per-value Python where pandas
# has a vectorised path, and work on the distinct values of a column (``pd.factorize``) where a
# column repeats itself (dates, codes, event types).
_BLANK_WORDS = ("", "nan", "NaN", "None", "NULL")
_BLANK_SET = frozenset(_BLANK_WORDS)


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def _all_str(series: pd.Series) -> bool:
    """True for pandas' ``str`` dtype (every value a ``str`` or missing)."""
    return series.dtype != object and pd.api.types.is_string_dtype(series.dtype)


def _blank_values(values: np.ndarray) -> np.ndarray:
    """:func:`blank` for an object array of ``str`` (per value in C: ``map`` of str methods).

    Raises ``TypeError`` if a value is not a ``str``.
    """
    n = len(values)
    out = np.fromiter(map(str.isspace, values), dtype=bool, count=n)
    out |= np.fromiter(map(_BLANK_SET.__contains__, values), dtype=bool, count=n)
    return out


def _blank_mask(series: pd.Series) -> np.ndarray | None:
    """:func:`blank` as an array for a text column whose present values are all ``str``, else ``None``."""
    values = series.to_numpy(dtype=object)
    try:  # all text (the usual case): no separate scan for missing values
        return _blank_values(values)
    except TypeError:
        pass
    missing = pd.isna(values)
    try:
        present = _blank_values(values[~missing])
    except TypeError:  # numbers, lists… in an object column: the general path
        return None
    missing[~missing] = present
    return missing


def blank(series: pd.Series) -> pd.Series:
    """True where a value is missing, empty or only white space, or a spelt-out null (nan, None, NULL)."""
    if not _is_text(series):
        return series.isna()
    mask = _blank_mask(series)
    if mask is not None:
        return pd.Series(mask, index=series.index)
    text = series if _all_str(series) else series.astype(str).where(series.notna(), "")
    out = series.isna() | text.isin(_BLANK_WORDS) | text.str.isspace().fillna(False).astype(bool)
    return out.astype(bool)


def strip_text(values: pd.Series | np.ndarray | pd.Index) -> np.ndarray:
    """``str(value).strip()`` of each value, as an object array (per value in C when all are text)."""
    array = np.asarray(values, dtype=object)
    try:
        return np.fromiter(map(str.strip, array), dtype=object, count=len(array))
    except TypeError:  # numbers or missing values among them
        return pd.Series(array, dtype="object").astype(str).str.strip().to_numpy(dtype=object)


def on_distinct(series: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``func`` applied to each distinct value of ``series`` once, spread back to every row.

    For columns that repeat a few values (codes, types, dates) over millions of rows.
    Missing values stay missing.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    result = func(pd.Series(uniques, dtype="object"))
    values = result.to_numpy(dtype=object)[codes] if len(result) else np.full(len(codes), None, dtype=object)
    values[codes < 0] = None
    return pd.Series(values, index=series.index, dtype="object")


def on_distinct_pairs(
    first: pd.Series, second: pd.Series, func: Callable[[pd.Series, pd.Series], pd.Series]
) -> pd.Series:
    """Like :func:`on_distinct` for a function of two columns: one call per distinct pair."""
    c1, u1 = pd.factorize(first, use_na_sentinel=False)
    c2, u2 = pd.factorize(second, use_na_sentinel=False)
    width = max(len(u2), 1)
    codes, pairs = pd.factorize(c1.astype(np.int64) * width + c2)
    a = pd.Series(np.asarray(u1, dtype=object)[pairs // width], dtype="object")
    b = pd.Series(np.asarray(u2, dtype=object)[pairs % width], dtype="object")
    result = func(a, b).to_numpy(dtype=object)
    return pd.Series(result[codes], index=first.index, dtype="object")


def none_if_blank(series: pd.Series) -> pd.Series:
    """Values as written (object dtype), with blanks as ``None``: ready for the store."""
    mask = _blank_mask(series) if _is_text(series) else None
    if mask is None:
        return series.astype("object").where(~blank(series), None)
    values = series.to_numpy(dtype=object, copy=True)
    values[mask] = None
    return pd.Series(values, index=series.index, dtype="object")


def prefixed_ids(values: pd.Series, prefix: str) -> pd.Series:
    """``"<prefix>:" + value`` stripped, or missing where the value is blank (object dtype)."""
    array = values.to_numpy(dtype=object) if _is_text(values) else None
    try:
        ids = np.fromiter(map(str.strip, array), dtype=object, count=len(array))
    except TypeError:  # missing or non-text values: the general path
        ids = values.astype(str).str.strip().astype("object")
        return (f"{prefix}:" + ids).where(~blank(ids))
    out = np.add(f"{prefix}:", ids)
    missing = np.fromiter(map(_BLANK_SET.__contains__, ids), dtype=bool, count=len(ids))  # stripped
    if missing.any():
        out[missing] = np.nan
    return pd.Series(out, index=values.index, dtype="object")


def fail_unparsed(
    checker: RowChecker, parsed: pd.Series, given: pd.Series, canonical: str, reason: str
) -> None:
    """Reject rows where a value was given but did not parse (``parsed`` is missing)."""
    missing = parsed.isna()
    if missing.any():
        given_there = ~blank(given[missing]).reindex(given.index, fill_value=True)
        checker.fail(missing & given_there, checker.field_name(canonical), reason)


def parse_dates(
    values: pd.Series, formats: tuple[str, ...], known: dict[str, np.datetime64] | None = None
) -> pd.Series:
    """Parse with the first matching format of ``formats`` (per value); unparseable → NaT.

    Each distinct value is parsed once, so a million events over a few thousand days cost a few
    thousand parses. ``known`` (text → parsed date), if given, is consulted and filled in: a
    reader passes the same dict for every chunk of a file, so a date seen in an earlier chunk
    is not parsed again.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(strip_text(uniques), dtype="object")
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if known:
        parsed[:] = text.map(known).to_numpy(dtype="datetime64[ns]")
    for fmt in formats:
        todo = parsed.isna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    if known is not None:
        ok = parsed.notna().to_numpy()
        known.update(zip(text.to_numpy(dtype=object)[ok], parsed.to_numpy()[ok], strict=True))
    if not len(parsed):  # nothing but missing values
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    out = parsed.to_numpy()[codes]
    out[codes < 0] = np.datetime64("NaT")
    return pd.Series(out, index=values.index, dtype="datetime64[ns]")


def parse_numbers(values: pd.Series) -> pd.Series:
    """Numbers written with a dot or a decimal comma (surrounding spaces allowed); unparseable → NaN.

    ``true``/``false`` (JSON booleans) are not numbers: NaN (``latitude: false`` is not 0.0).
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(np.nan, index=values.index)
    if not (_is_text(values) or pd.api.types.is_numeric_dtype(values.dtype)):
        values = values.astype("object")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        booleans = np.fromiter((type(v) is bool for v in values.to_numpy()), dtype=bool, count=len(values))
        if booleans.any():  # JSON true/false among numbers
            values = values.where(~booleans, None)
    try:
        out = pd.to_numeric(values, errors="coerce").astype("float64")
    except (TypeError, ValueError):  # values that are neither text nor numbers (lists, dicts)
        out = pd.Series(np.nan, index=values.index)
    todo = out.isna() & values.notna()
    if todo.any():
        text = values[todo].astype(str).str.strip().str.replace(",", ".", regex=False)
        out[todo] = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    return out


def iso_dates(values: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` text of a datetime column (formatted once per distinct day; NaT → NaN)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = np.asarray(uniques.strftime("%Y-%m-%d"), dtype=object)
    out = text[codes] if len(text) else np.full(len(codes), np.nan, dtype=object)
    out[codes < 0] = np.nan
    return pd.Series(out, index=values.index, dtype="object")


def check_required_columns(columns: list[str], required: tuple[str, ...]) -> list[str]:
    """Required source columns absent from ``columns``."""
    have = set(columns)
    return [c for c in required if c not in have]


def without_nul(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with NUL characters dropped from its text values (as alerts drop them: a NUL cuts
    text short in C readers and shows as nothing). Frames from
    :func:`~sauti.ingest.tabular.read_delimited` say in ``attrs["nul"]`` whether the file held any;
    when it did not, nothing is scanned."""
    if not frame.attrs.get("nul", True):
        return frame
    out = frame
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
            continue
        holds = values.str.contains("\x00", regex=False, na=False).to_numpy(dtype=bool)
        if holds.any():
            if out is frame:
                out = frame.copy()
            out.loc[holds, column] = values[holds].str.replace("\x00", "", regex=False)
    return out


# --- the shared incident checks -------------------------------------------------------------------
def validate_incidents(
    frame: pd.DataFrame,
    checker: RowChecker,
    *,
    today: date | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the canonical incident checks; return ``(accepted rows, rejects)``.

    ``frame`` holds the canonical columns (``occurred_on`` as datetime, coordinates as float).
    Nothing is rejected on a guess: a point outside the workspace's boundaries, even one whose
    swapped pair lies inside them, is stored (:func:`suspected_swaps`, :func:`coordinate_warnings`).
    """
    today = today or date.today()
    checker.check_raw()
    name = checker.field_name
    vocabularies = {
        "category": INCIDENT_CATEGORIES,
        "date_precision": DATE_PRECISIONS,
        "location_precision": LOCATION_PRECISIONS,
    }
    outside = {column: ~frame[column].isin(allowed) for column, allowed in vocabularies.items()}
    for column in INCIDENT_REQUIRED:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            missing = values.isna()
        elif column in outside:  # a blank is never in the vocabulary: look only outside it
            missing = outside[column] & blank(values[outside[column]]).reindex(values.index, fill_value=False)
        else:
            missing = blank(values)
        checker.fail(missing, name(column), "required value is missing")
    checker.fail(
        frame["occurred_on"] > pd.Timestamp(today + timedelta(days=1)),
        name("occurred_on"),
        "date is in the future",
    )
    too_old = frame["occurred_on"] < pd.Timestamp("1900-01-01")
    checker.fail(too_old, name("occurred_on"), "date is before 1900")
    for column, allowed in vocabularies.items():
        checker.fail(outside[column], name(column), "not one of " + ", ".join(allowed))
    _check_coordinates(frame, checker)
    checker.fail(frame["fatalities"] < 0, name("fatalities"), "negative count")
    good = frame.loc[checker.good, list(INCIDENT_COLUMNS)]
    good.attrs["nul"] = checker.raw.attrs.get("nul", True)
    good = without_nul(good)
    good["occurred_on"] = iso_dates(good["occurred_on"])
    good["fatalities"] = good["fatalities"].fillna(0).astype("int64")
    return good, checker.rejects()


def impossible_swaps(lon: pd.Series, lat: pd.Series) -> pd.Series:
    """A "latitude" beyond ±90 that is a valid longitude while the "longitude" is a valid latitude."""
    return lat.notna() & (lat.abs() > 90) & (lat.abs() <= 180) & (lon.abs() <= 90)


def outside_extent(lon: pd.Series, lat: pd.Series, extent: Extent | None, margin: float = 0.0) -> pd.Series:
    """True for points given and lying outside ``extent`` (grown by ``margin`` degrees)."""
    if extent is None:
        return pd.Series(False, index=lon.index)
    minx, miny, maxx, maxy = extent
    inside = lon.between(minx - margin, maxx + margin) & lat.between(miny - margin, maxy + margin)
    return lon.notna() & lat.notna() & ~inside


@dataclass(frozen=True)
class Footprint:
    """Where the workspace's boundaries lie: their bounding box and the union of their polygons."""

    extent: Extent
    shape: Any = None  # a prepared shapely geometry; ``None``: the bounding box only

    def outside(self, lon: pd.Series, lat: pd.Series) -> pd.Series:
        """True for points given and lying outside the boundaries (on an edge counts as inside)."""
        out = outside_extent(lon, lat, self.extent)
        check = (lon.notna() & lat.notna() & ~out).to_numpy()
        if self.shape is not None and check.any():
            x, y = lon.to_numpy(dtype=float)[check], lat.to_numpy(dtype=float)[check]
            out[check] = ~shapely.intersects_xy(self.shape, x, y)
        return out


def suspected_swaps(lon: pd.Series, lat: pd.Series, extent: Extent | None) -> pd.Series:
    """Points more than :data:`EXTENT_MARGIN_DEG` outside ``extent`` whose swapped pair lies inside
    it: worth a warning, but a guess (a file may hold a neighbouring country's events)."""
    m = EXTENT_MARGIN_DEG
    return outside_extent(lon, lat, extent, m) & ~outside_extent(lat, lon, extent, m)


def coordinate_warnings(outside: int, swaps: int, noun: str = "row") -> list[str]:
    """Plain-words warnings for points outside the boundaries (stored) and suspected swaps."""

    def count(n: int) -> str:
        return f"{n:,} {noun}{'' if n == 1 else 's'} {'lies' if n == 1 else 'lie'}"

    notes = []
    if outside:
        notes.append(
            f"{count(outside)} outside the stored boundaries: stored, but counted towards no locality"
        )
    if swaps:
        notes.append(
            f"{count(swaps)} outside the boundaries but would lie inside if latitude and longitude were"
            " swapped: stored as written; check the file's coordinate columns"
        )
    return notes


def _check_coordinates(frame: pd.DataFrame, checker: RowChecker) -> None:
    lon, lat = frame["longitude"], frame["latitude"]
    has_lon, has_lat = lon.notna(), lat.notna()
    lon_name, lat_name = checker.field_name("longitude"), checker.field_name("latitude")
    # NaN is refused like Infinity (a blank cell says "no coordinates"): as the API refuses it
    for column, given in (("latitude", has_lat), ("longitude", has_lon)):
        source = checker.field_name(column)
        if source in checker.raw.columns and not given.all():
            raw = checker.raw[source][~given]
            nan = strip_text(raw.where(raw.notna(), "")) if len(raw) else np.array([], dtype=object)
            spelt = pd.Series([str(v).lower() == "nan" for v in nan], index=raw.index, dtype=bool)
            checker.fail(spelt.reindex(frame.index, fill_value=False), source, NOT_FINITE)
    checker.fail(has_lat & ~np.isfinite(lat.fillna(0)), lat_name, NOT_FINITE)
    checker.fail(has_lon & ~np.isfinite(lon.fillna(0)), lon_name, NOT_FINITE)
    checker.fail(has_lon & ~has_lat, lat_name, "only one of longitude/latitude is given")
    checker.fail(has_lat & ~has_lon, lon_name, "only one of longitude/latitude is given")
    # a "latitude" beyond ±90 is impossible: the row is rejected, and the reason says why it failed
    checker.fail(impossible_swaps(lon, lat), lat_name, "latitude and longitude look swapped")
    checker.fail(has_lat & ~lat.between(-90, 90), lat_name, "out of range [-90, 90]")
    checker.fail(has_lon & ~lon.between(-180, 180), lon_name, "out of range [-180, 180]")
    point = frame["location_precision"] == "point"
    checker.fail(point & ~has_lat, lat_name, "point-precise event without coordinates")
    zero = has_lat & (lat == 0) & (lon == 0)
    checker.fail(zero, lat_name, "coordinates are 0,0 (missing value written as zero)")
