"""CSV files that spreadsheets open as data, never as formulas (CSV/formula injection).

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and
some also after a leading tab or carriage return) as a formula: a locality or base named
``=HYPERLINK("http://…")`` would become a live link in a planner's spreadsheet. Every CSV a person
may open goes through :func:`write_csv`, which prefixes such text cells with an apostrophe (OWASP's
advice: the spreadsheet shows the text as typed). Numbers stay numbers: ``-3.5`` in a numeric
column is not text and is written as is.

Examples
--------
>>> escape_formula("=1+1")
"'=1+1"
>>> escape_formula("Bangui"), escape_formula(-2.5)
('Bangui', -2.5)
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

# ASCII triggers and their full-width forms (spreadsheets in East Asian locales treat them alike)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
ESCAPE = "'"


def escape_formula(value: Any) -> Any:
    """``value`` with an apostrophe in front when it is text a spreadsheet would run as a formula.

    Anything that is not a ``str`` (numbers, None, NaN, dates) is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return ESCAPE + value
    return value


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are escaped with :func:`escape_formula`."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            out[column] = series.map(escape_formula, na_action="ignore")
    out.columns = [escape_formula(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | PathLike[str], **to_csv: Any) -> Path:
    """Write ``frame`` as UTF-8 CSV (RFC 4180) without its index, formula-like text escaped; return the path.

    Keyword arguments go to :meth:`pandas.DataFrame.to_csv` (e.g. ``float_format="%.6g"``).
    """
    path = Path(path)
    # CRLF as RFC 4180 says; it also makes the csv module quote a cell holding a bare CR or LF
    options = {"index": False, "encoding": "utf-8", "lineterminator": "\r\n", **to_csv}
    escape_frame(frame).to_csv(path, **options)
    return path
