"""Plain JSON values from pandas/numpy scalars: the one place that turns NaN, NaT, NA and ±inf into
``None`` and numpy scalars into Python ones, for every layer that writes JSON (API replies, reports,
metrics files, patrol plans).

Examples
--------
>>> import numpy as np, pandas as pd
>>> [json_scalar(np.float64("nan")), json_scalar(np.int64(3)), json_scalar(pd.NaT)]
[None, 3, None]
>>> json_value(pd.Timestamp("2022-01-01", tz="UTC"))
'2022-01-01T00:00:00Z'
>>> json_number(0.1234567891)
0.123457
"""

from __future__ import annotations

import math
from typing import Any


def json_scalar(value: Any) -> Any:
    """``None`` for missing values (None, NaN, NA, NaT, ±inf), plain Python scalars otherwise."""
    if value is None:
        return None
    if type(value).__name__ == "datetime64":  # numpy's .item() would give nanoseconds as an int
        import pandas as pd

        value = pd.Timestamp(value)
        return None if value is pd.NaT else value
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            value = value.item()
        except (ValueError, TypeError):  # an array of several values: not a scalar
            return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # list-likes have no single truth value
        pass
    return value


def json_value(value: Any) -> Any:
    """:func:`json_scalar`, with dates and times as ISO 8601 text (UTC written ``Z``)."""
    value = json_scalar(value)
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


def json_number(value: Any, digits: int = 6) -> Any:
    """:func:`json_scalar`, floats rounded to ``digits`` decimals."""
    value = json_scalar(value)
    return round(value, digits) if isinstance(value, float) else value


def json_text(value: Any) -> str | None:
    """:func:`json_value` as text (``None`` stays ``None``)."""
    value = json_value(value)
    return None if value is None else str(value)
