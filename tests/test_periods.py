"""The forecast window of a score: the periods after the one it was made from, in words and dates."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from sauti.features.periods import forecast_window, parse_period


@pytest.mark.parametrize(
    ("period", "freq", "horizon", "expected"),
    [
        ("2022-12-01", "M", 1, {"label": "January 2023", "start": "2023-01-01", "end": "2023-01-31"}),
        (
            "2022-11-01",
            "M",
            3,
            {"label": "December 2022 – February 2023", "start": "2022-12-01", "end": "2023-02-28"},
        ),
        (
            "2023-01-01",
            "M",
            3,
            {"label": "February – April 2023", "start": "2023-02-01", "end": "2023-04-30"},
        ),
        (
            "2022-12-26",
            "W",
            1,
            {"label": "the week of 2 January 2023", "start": "2023-01-02", "end": "2023-01-08"},
        ),
        (
            "2022-12-26",
            "W",
            2,
            {"label": "the 2 weeks from 2 January 2023", "start": "2023-01-02", "end": "2023-01-15"},
        ),
    ],
    ids=["month", "quarter-across-years", "quarter", "week", "two-weeks"],
)
def test_forecast_window(period: str, freq: str, horizon: int, expected: dict) -> None:
    assert forecast_window(period, freq, horizon) == expected


@pytest.mark.parametrize(
    ("text", "freq", "expected"),
    [
        ("2017-01", "M", "2017-01-01"),
        ("2017-01-15", "M", "2017-01-01"),  # a date names its month
        ("2019-01-07", "W", "2019-01-07"),
        ("2019-01-10", "W", "2019-01-07"),  # a Thursday names its ISO week
        ("2019-W02", "W", "2019-01-07"),
        ("2019-W02-4", "W", "2019-01-07"),
        ("2019-W01", "W", "2018-12-31"),  # ISO week 1 of 2019 starts in 2018
        ("2020-W53", "W", "2020-12-28"),
    ],
    ids=["month", "date-in-month", "monday", "thursday", "iso-week", "iso-week-day", "week-1", "week-53"],
)
def test_parse_period(text: str, freq: str, expected: str) -> None:
    assert parse_period(text, freq) == pd.Timestamp(expected)


@pytest.mark.parametrize(
    ("text", "freq", "named"),
    [
        ("2019-W02", "M", "a month like 2017-01"),
        ("2019-13", "M", "a month like 2017-01"),
        ("2019-01", "W", "a date like 2019-01-07 or an ISO week like 2019-W02"),
        ("2019-W53", "W", "an ISO week like 2019-W02"),  # 2019 has 52 ISO weeks
        ("2019-02-30", "W", "a date like 2019-01-07"),
        ("Jan 2019", "W", "a date like 2019-01-07"),
    ],
    ids=["week-for-month", "month-13", "month-for-week", "no-week-53", "no-such-day", "words"],
)
def test_parse_period_names_the_form_its_frequency_takes(text: str, freq: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        parse_period(text, freq)
