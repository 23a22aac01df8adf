"""What a backtest produced (:class:`BacktestResult`) and the metric keys of the ``metrics.json`` contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: the exact keys of each model in metrics.json (the CLI contract), in order; more may follow
CONTRACT_METRICS = ("average_precision", "roc_auc", "brier", "brier_skill", "hit_rate_top10", "pai_top10")
#: every metric reported per model: the contract's, then the added ones
REPORTED_METRICS = (*CONTRACT_METRICS, "log_loss")


@dataclass
class BacktestResult:
    """What a backtest produced: the metrics.json dict, details, and every forecast."""

    metrics: dict[str, Any]
    detail: dict[str, Any]
    predictions: pd.DataFrame
    areas: pd.Series = field(repr=False)


def format_value(value: Any, digits: int = 3) -> str:
    """A metric for people: ``–`` when undefined, 3 decimals, or 2 significant digits below 0.01
    (a Brier score of 4e-5 must not print like one of 4e-4)."""
    import math

    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2e}"
    return f"{value:.{digits}f}"
