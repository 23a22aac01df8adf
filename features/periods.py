"""Calendar periods of the cube: months (``M``, starting on the 1st) or ISO weeks (``W``, Mondays).

A date belongs to the period that contains it; the period coordinate is the period's first day.
Everything here is vectorised on ``datetime64[D]`` arrays so a million dates take milliseconds.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from datetime import date

    from numpy.typing import ArrayLike

    #: what the period functions take as a date: text, a date or datetime (Timestamp too), a numpy date
    DateLike = str | date | np.datetime64

FREQS = {"M": "month (starting on the 1st)", "W": "ISO week (starting on Monday)"}


def check_freq(freq: str) -> str:
    """Return ``freq`` normalised to ``M`` or ``W``; raise ``ValueError`` otherwise."""
    norm = str(freq).upper()
    norm = {"MS": "M", "ME": "M", "W-MON": "W"}.get(norm, norm)
    if norm not in FREQS:
        raise ValueError(f"freq must be M (monthly) or W (weekly), not {freq!r}")
    return norm


def to_days(dates: ArrayLike, timezone: str | None = None) -> np.ndarray:
    """Calendar dates (``datetime64[D]``) of date-likes; naive values are taken as they are.

    Time-zone-aware values (alert reception times) are first converted to ``timezone`` (the
    mission's local time; UTC when None), so an alert received at 23:30 UTC on 31 January in
    Bangui (UTC+1) belongs to February.
    """
    if not len(dates):
        return np.array([], dtype="datetime64[D]")
    values = pd.to_datetime(pd.Series(dates), errors="raise")
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(timezone or "UTC").dt.tz_localize(None)
    return values.to_numpy().astype("datetime64[D]")


def period_start(days: np.ndarray, freq: str) -> np.ndarray:
    """First day of the period containing each day (``datetime64[D]``)."""
    freq = check_freq(freq)
    days = np.asarray(days, dtype="datetime64[D]")
    if freq == "M":
        return days.astype("datetime64[M]").astype("datetime64[D]")
    # 1970-01-01 was a Thursday: weekday (Monday = 0) is (days since epoch + 3) mod 7
    ordinal = days.astype(np.int64)
    return (ordinal - (ordinal + 3) % 7).astype("datetime64[D]")


def period_range(first: DateLike, last: DateLike, freq: str) -> pd.DatetimeIndex:
    """Every period start from the period of ``first`` to that of ``last``, without gaps."""
    freq = check_freq(freq)
    start = period_start(to_days([first]), freq)[0]
    stop = period_start(to_days([last]), freq)[0]
    if stop < start:
        raise ValueError(f"period range is empty: end {last} is before start {first}")
    alias = "MS" if freq == "M" else "W-MON"
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(stop), freq=alias)


def period_index(days: np.ndarray, periods: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Position of each day's period in ``periods``; ``-1`` for days outside the range."""
    freq = check_freq(freq)
    days = np.asarray(days, dtype="datetime64[D]")
    if len(periods) == 0:
        return np.full(days.shape, -1, dtype=np.int64)
    first = np.datetime64(periods[0].date(), "D")
    if freq == "M":
        months = days.astype("datetime64[M]").astype(np.int64)
        index = months - first.astype("datetime64[M]").astype(np.int64)
    else:
        index = (period_start(days, "W") - first).astype(np.int64) // 7
    index = np.where((index >= 0) & (index < len(periods)), index, -1)
    return index.astype(np.int64)


def period_end(periods: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """Last day of each period (inclusive)."""
    freq = check_freq(freq)
    if freq == "M":
        return periods + pd.offsets.MonthEnd(0)
    return periods + pd.Timedelta(days=6)


def period_midpoint(periods: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """Middle of each period, used for the season features."""
    ends = period_end(periods, freq)
    return periods + (ends - periods + pd.Timedelta(days=1)) / 2


def forecast_window(period: DateLike, freq: str, horizon: int = 1) -> dict[str, str]:
    """The periods a score made at ``period`` forecasts (``t+1 … t+horizon``), in words and dates.

    Scores are stored under the last period of data they saw; planners need the period they are
    about. Returns ``{"label", "start", "end"}`` with ISO dates (``end`` inclusive).

    Examples
    --------
    >>> forecast_window("2022-12-01", "M")["label"]
    'January 2023'
    >>> forecast_window("2022-12-01", "M", 3)["label"]
    'January – March 2023'
    >>> forecast_window("2022-12-26", "W")["label"]
    'the week of 2 January 2023'
    """
    freq = check_freq(freq)
    horizon = max(int(horizon), 1)
    origin = pd.Timestamp(period)
    step = pd.DateOffset(months=1) if freq == "M" else pd.Timedelta(days=7)
    first, last = origin + step, origin + step * horizon
    end = period_end(pd.DatetimeIndex([last]), freq)[0]
    if freq == "M":
        same_year = first.year == last.year
        label = (
            f"{first:%B %Y}"
            if horizon == 1
            else f"{first:%B}{'' if same_year else f' {first.year}'} – {last:%B %Y}"
        )
    else:
        label = f"the week of {first.day} {first:%B %Y}"
        if horizon > 1:
            label = f"the {horizon} weeks from {first.day} {first:%B %Y}"
    return {"label": label, "start": str(first.date()), "end": str(end.date())}


#: how a period is written on the command line, per frequency (named in every parse error)
PERIOD_FORMS = {
    "M": "a month like 2017-01",
    "W": "a date like 2019-01-07 or an ISO week like 2019-W02",
}
_MONTH_TEXT = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEK_TEXT = re.compile(r"\d{4}-W\d{2}(-[1-7])?")


def parse_period(value: str | date | pd.Timestamp, freq: str) -> pd.Timestamp:
    """The first day of the period of ``freq`` that ``value`` names (a backtest origin, say).

    Monthly: ``YYYY-MM`` (a ``YYYY-MM-DD`` date names its month). Weekly: an ISO date (its week)
    or an ISO week ``YYYY-Www`` (``YYYY-Www-D`` too). Dates and timestamps name the period that
    contains them. Raises ``ValueError`` naming the form expected for ``freq``.

    Examples
    --------
    >>> parse_period("2017-01", "M"), parse_period("2019-01-09", "W"), parse_period("2019-W02", "W")
    (Timestamp('2017-01-01 00:00:00'), Timestamp('2019-01-07 00:00:00'), Timestamp('2019-01-07 00:00:00'))
    """
    freq = check_freq(freq)
    if isinstance(value, str):
        text = value.strip()
        if freq == "M" and _MONTH_TEXT.fullmatch(text):
            text += "-01"
        forms = (_DATE_TEXT,) if freq == "M" else (_DATE_TEXT, _WEEK_TEXT)
        try:
            if not any(form.fullmatch(text) for form in forms):
                raise ValueError(text)
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not {PERIOD_FORMS[freq]} ({'monthly' if freq == 'M' else 'weekly'} periods)"
            ) from None
    else:
        day = pd.Timestamp(value)
    return pd.Timestamp(period_start(to_days([day]), freq)[0])
