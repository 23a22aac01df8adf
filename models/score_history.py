"""Stored scores over time, as the map reads them: which periods are scored, every locality's recent
history, and what is rising (largest increases, newly in the top share).

Reads only ``risk_scores`` rows of the current model's frequency and unit, so monthly and weekly
scores of the same workspace never mix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID, PERIOD
from sauti.db import read_frame
from sauti.errors import NotReadyError
from sauti.models.registry_store import current_model

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

#: periods in a locality's risk history chart
HISTORY_LENGTH = 24
#: share of localities counted as "the top" by :func:`rising_localities`
TOP_SHARE = 0.10


def score_key(workspace: Workspace, freq: str | None = None, unit: str | None = None) -> tuple[str, str]:
    """``(freq, unit)`` of the current model (the scores the service serves)."""
    record = current_model(workspace, freq, unit)
    if record is None:
        raise NotReadyError("no trained model for this workspace: run `sauti train` first")
    return record["freq"], record["unit"]


def scored_periods(
    workspace: Workspace, *, freq: str | None = None, unit: str | None = None
) -> list[pd.Timestamp]:
    """Every period with stored scores for the current model's frequency and unit, oldest first."""
    key = score_key(workspace, freq, unit)
    with workspace.session() as con:
        rows = con.execute(
            "SELECT DISTINCT period FROM risk_scores WHERE freq = ? AND unit = ? ORDER BY period", key
        ).fetchall()
    return [pd.Timestamp(r[0]) for r in rows]


def score_histories(
    workspace: Workspace,
    *,
    until: pd.Timestamp | str | None = None,
    n: int = HISTORY_LENGTH,
    freq: str | None = None,
    unit: str | None = None,
) -> pd.DataFrame:
    """Probability and rank of every locality over the last ``n`` scored periods up to ``until``.

    Columns ``locality_id``, ``period`` (Timestamp), ``probability``, ``rank``; sorted by locality
    then period. ``until`` defaults to the latest scored period.
    """
    key = score_key(workspace, freq, unit)
    periods = scored_periods(workspace, freq=key[0], unit=key[1])
    if until is not None:
        periods = [p for p in periods if p <= pd.Timestamp(until)]
    periods = periods[-n:]
    if not periods:
        return pd.DataFrame(columns=[LOCALITY_ID, PERIOD, "probability", "rank"])
    with workspace.session() as con:
        frame = read_frame(
            con,
            f"SELECT {LOCALITY_ID}, {PERIOD}, probability, rank FROM risk_scores "
            "WHERE freq = ? AND unit = ? AND period BETWEEN ? AND ? ORDER BY locality_id, period",
            (*key, f"{periods[0]:%Y-%m-%d}", f"{periods[-1]:%Y-%m-%d}"),
        )
    frame[PERIOD] = pd.to_datetime(frame[PERIOD])
    return frame


def rising_localities(
    histories: pd.DataFrame, period: pd.Timestamp, *, n: int = 5, top_share: float = TOP_SHARE
) -> dict[str, list[dict]]:
    """What rose into ``period`` from the period before it, from :func:`score_histories`' frame.

    Returns ``{"increases": [...], "new_in_top": [...]}``: the ``n`` largest increases in
    probability (only increases), and every locality in the top ``top_share`` by rank now that was
    not in it the period before. Each item is ``{"locality_id", "probability", "previous",
    "change", "rank", "previous_rank"}``, largest change first.
    """
    period = pd.Timestamp(period)
    earlier = sorted(p for p in histories[PERIOD].unique() if p < period)
    now = histories[histories[PERIOD] == period].set_index(LOCALITY_ID)
    if now.empty or not earlier:
        return {"increases": [], "new_in_top": []}
    before = histories[histories[PERIOD] == earlier[-1]].set_index(LOCALITY_ID)
    joined = now.join(before, rsuffix="_previous", how="inner")
    joined["change"] = joined["probability"] - joined["probability_previous"]
    joined = joined.sort_values(["change", "rank"], ascending=[False, True])
    cutoff = max(1, int(np.ceil(top_share * len(now))))
    rising = joined[joined["change"] > 0].head(n)
    newly = joined[(joined["rank"] <= cutoff) & (joined["rank_previous"] > cutoff)]
    return {"increases": _items(rising), "new_in_top": _items(newly)}


def _items(frame: pd.DataFrame) -> list[dict]:
    return [
        {
            LOCALITY_ID: str(lid),
            "probability": float(row["probability"]),
            "previous": float(row["probability_previous"]),
            "change": float(row["change"]),
            "rank": int(row["rank"]),
            "previous_rank": int(row["rank_previous"]),
        }
        for lid, row in frame.iterrows()
    ]
