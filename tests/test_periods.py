"""The forecast window of a score: the periods after the one it was made from, in words and dates."""

from __future__ import annotations

import pytest
from sauti.features.periods import forecast_window


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
