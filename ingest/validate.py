"""Canonical-schema checks at the boundary of ``ingest``: vectorised, one reason per rejected row.

Readers turn a source's columns into canonical ones and record parse failures in a
:class:`RowChecker`; :func:`validate_incidents` then applies the checks every source shares.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from sauti.ingest.report import empty_rejects, make_rejects, raw_json
from sauti.ingest.tabular import oversized_or_garbled

from sauti.constants import (
    DATE_PRECISIONS,
    INCIDENT_CATEGORIES,
    INCIDENT_COLUMNS,
    INCIDENT_REQUIRED,
    LOCATION_PRECISIONS,
)

# A point this far outside the workspace's extent (degrees) whose swap falls inside is "swapped".
EXTENT_MARGIN_DEG = 1.0


class RowChecker:
    """Collects per-row failures over one chunk; the first failure of a row is the one reported.

    Parameters
    ----------
    source_file : str
        Name written in the rejects file.
    raw : DataFrame
        The rows as read (with ``_row``); what the rejects file shows. For alerts it must already
        be pseudonymised.
    """

    def __init__(self, source_file: str, raw: pd.DataFrame) -> None:
        self.source_file = source_file
        self.raw = raw
        self.bad = pd.Series(False, index=raw.index)
        self._parts: list[pd.DataFrame] = []

    def fail(self, mask: pd.Series | np.ndarray, field: str, reason: str | pd.Series) -> None:
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.raw.index)
        new = mask & ~self.bad
        if not new.any():
            return
        if isinstance(reason, pd.Series):
            reason = reason[new].to_numpy()
        raw = raw_json(self.raw.loc[new].drop(columns="_row"))
        self._parts.append(
            make_rejects(
                self.source_file, self.raw.loc[new, "_row"].to_numpy(), field, reason, raw.to_numpy()
            )
        )
        self.bad |= new

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
        return ~self.bad

    def rejects(self) -> pd.DataFrame:
        return pd.concat(self._parts, ignore_index=True) if self._parts else empty_rejects()


# --- parsing helpers shared by readers -----------------------------------------------------------
def blank(series: pd.Series) -> pd.Series:
    """True where a value is missing or only white space."""
    return series.isna() | series.astype(str).str.strip().isin(("", "nan", "NaN", "None", "NULL"))


def parse_dates(values: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    """Parse with the first matching format of ``formats`` (per value); unparseable → NaT."""
    text = values.astype(str).str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = out.isna()
        if not todo.any():
            break
        out[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    return out


def parse_numbers(values: pd.Series) -> pd.Series:
    """Numbers written with a dot or a decimal comma; unparseable → NaN."""
    text = values.astype(str).str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text.where(text != "", None), errors="coerce")


def check_required_columns(columns: list[str], required: tuple[str, ...]) -> list[str]:
    """Required source columns absent from ``columns``."""
    have = set(columns)
    return [c for c in required if c not in have]


# --- the shared incident checks -------------------------------------------------------------------
def validate_incidents(
    frame: pd.DataFrame,
    checker: RowChecker,
    *,
    today: date | None = None,
    extent: tuple[float, float, float, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the canonical incident checks; return ``(accepted rows, rejects)``.

    ``frame`` holds the canonical columns (``occurred_on`` as datetime, coordinates as float).
    ``extent`` is the workspace's bounding box, used to recognise swapped coordinates.
    """
    today = today or date.today()
    checker.check_raw()
    for column in INCIDENT_REQUIRED:
        checker.fail(
            blank(frame[column]) if frame[column].dtype == object else frame[column].isna(),
            column,
            "required value is missing",
        )
    checker.fail(
        frame["occurred_on"] > pd.Timestamp(today + timedelta(days=1)), "occurred_on", "date is in the future"
    )
    checker.fail(frame["occurred_on"] < pd.Timestamp("1900-01-01"), "occurred_on", "date is before 1900")
    for column, allowed in (
        ("category", INCIDENT_CATEGORIES),
        ("date_precision", DATE_PRECISIONS),
        ("location_precision", LOCATION_PRECISIONS),
    ):
        bad = ~frame[column].isin(allowed)
        checker.fail(bad, column, "not one of " + ", ".join(allowed))
    _check_coordinates(frame, checker, extent)
    checker.fail(frame["fatalities"] < 0, "fatalities", "negative count")
    good = frame.loc[checker.good, list(INCIDENT_COLUMNS)].copy()
    good["occurred_on"] = good["occurred_on"].dt.strftime("%Y-%m-%d")
    good["fatalities"] = good["fatalities"].fillna(0).astype("int64")
    return good, checker.rejects()


def _check_coordinates(
    frame: pd.DataFrame, checker: RowChecker, extent: tuple[float, float, float, float] | None
) -> None:
    lon, lat = frame["longitude"], frame["latitude"]
    has_lon, has_lat = lon.notna(), lat.notna()
    checker.fail(
        has_lon ^ has_lat,
        "latitude" if has_lon.any() else "longitude",
        "only one of longitude/latitude is given",
    )
    swapped = has_lat & (lat.abs() > 90) & (lat.abs() <= 180) & (lon.abs() <= 90)
    if extent is not None:
        minx, miny, maxx, maxy = extent
        m = EXTENT_MARGIN_DEG

        def inside(x: pd.Series, y: pd.Series) -> pd.Series:
            return x.between(minx - m, maxx + m) & y.between(miny - m, maxy + m)

        swapped |= has_lat & ~inside(lon, lat) & inside(lat, lon)
    checker.fail(swapped, "latitude", "latitude and longitude look swapped")
    checker.fail(has_lat & ~lat.between(-90, 90), "latitude", "out of range [-90, 90]")
    checker.fail(has_lon & ~lon.between(-180, 180), "longitude", "out of range [-180, 180]")
    point = frame["location_precision"] == "point"
    checker.fail(point & ~has_lat, "latitude", "point-precise event without coordinates")
    zero = has_lat & (lat == 0) & (lon == 0)
    checker.fail(zero, "latitude", "coordinates are 0,0 (missing value written as zero)")
