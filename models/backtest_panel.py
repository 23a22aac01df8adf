"""The rows a rolling-origin backtest reads from the cube, once for every origin (models/backtest.py).

Every labelled row, or over the row budget every positive and weighted sampled negatives, plus every
row of the periods forecast; read block by block of localities (:func:`sauti.models.panel.labelled_panel`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sauti.constants import LOCALITY_DIM, PERIOD_DIM
from sauti.models.baselines import BASELINES, baseline_scores
from sauti.models.panel import (
    BLOCK_CELLS,
    LOCALITY_INDEX,
    ROW_BUDGET,
    TARGET_COLUMN,
    WEIGHT_COLUMN,
    NegativeSampling,
    labelled_panel,
    model_features,
    plan_sampling,
)


@dataclass
class BacktestPanel:
    """What does not change between origins: the rows read from the cube (every labelled row, or
    every positive and sampled negatives over the row budget, plus every row of the periods
    forecast), their targets, weights and rule scores, and the localities' areas."""

    table: pd.DataFrame
    period_index: np.ndarray
    locality_index: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None
    raw_rows: dict[str, np.ndarray]
    periods: pd.DatetimeIndex
    localities: np.ndarray
    area: np.ndarray
    n_loc: int
    features: list[str]
    use_alerts: bool
    sampling: NegativeSampling


def backtest_panel(
    cube: xr.Dataset,
    horizon: int,
    specs: dict,
    use_alerts: bool,
    issues: np.ndarray,
    *,
    random_state: int = 0,
    row_budget: int = ROW_BUDGET,
    negative_rate: float | None = None,
) -> BacktestPanel:
    """The backtest's rows, read block by block of localities (:func:`~sauti.models.panel.labelled_panel`)."""
    features = model_features(cube, use_alerts=use_alerts)
    baseline_names = sorted({s for s in specs.values() if isinstance(s, str) and s in BASELINES})
    n_loc = cube.sizes[LOCALITY_DIM]
    sampling = plan_sampling(cube, horizon, budget=row_budget, rate=negative_rate, seed=random_state)
    frame, sampling = labelled_panel(
        cube,
        features,
        horizon,
        sampling,
        keep_periods=issues,
        extra=lambda block: {f"_raw_{n}": v for n, v in baseline_scores(block, baseline_names).items()},
    )
    area = np.ones(n_loc)
    if "area_km2" in cube:  # a static variable; its first period if it has periods
        area = cube["area_km2"].transpose(LOCALITY_DIM, ...).to_numpy().astype(float)
        area = area[:, 0] if area.ndim == 2 else area
    return BacktestPanel(
        table=frame[features],
        period_index=frame["period_index"].to_numpy(),
        locality_index=frame[LOCALITY_INDEX].to_numpy(),
        y=frame[TARGET_COLUMN].to_numpy(),
        weight=frame[WEIGHT_COLUMN].to_numpy() if sampling.sampled else None,
        raw_rows={name: frame[f"_raw_{name}"].to_numpy()[:, None] for name in baseline_names},
        periods=pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy()),
        localities=cube[LOCALITY_DIM].to_numpy().astype(str),
        area=area,
        n_loc=n_loc,
        features=features,
        use_alerts=use_alerts,
        sampling=sampling,
    )


def predict_in_blocks(predict, rows: np.ndarray) -> np.ndarray:
    """``predict(rows)`` over blocks of rows (a continental origin is scored block by block)."""
    size = max(BLOCK_CELLS // 4, 1)
    parts = [predict(rows[lo : lo + size]) for lo in range(0, rows.size, size)]
    return np.concatenate(parts) if parts else np.zeros(0)
