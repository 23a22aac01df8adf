"""Counts of assigned events per (locality, period): categories, fatalities, alerts, regions.

Every count is one ``np.bincount`` over the flat index ``locality * n_periods + period``, so a
million events over 10,000 localities × 520 weeks cost a few hundred milliseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sauti.constants import ALERT_CATEGORIES, ALERT_VERIFICATION, INCIDENT_CATEGORIES, VIOLENT_CATEGORIES
from sauti.features.periods import period_start, to_days

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import DTypeLike


def count_grid(
    locality_index: np.ndarray,
    period_index: np.ndarray,
    shape: tuple[int, int],
    weights: np.ndarray | None = None,
    dtype: DTypeLike = np.int32,
) -> np.ndarray:
    """Sum of ``weights`` (or 1) per (locality, period); rows with a negative index are skipped."""
    n_loc, n_per = shape
    ok = (locality_index >= 0) & (period_index >= 0)
    flat = locality_index[ok].astype(np.int64) * n_per + period_index[ok].astype(np.int64)
    w = None if weights is None else np.asarray(weights, dtype=float)[ok]
    counts = np.bincount(flat, weights=w, minlength=n_loc * n_per)
    return counts.reshape(n_loc, n_per).astype(dtype, copy=False)


def incident_counts(
    categories: np.ndarray,
    fatalities: np.ndarray,
    locality_index: np.ndarray,
    period_index: np.ndarray,
    shape: tuple[int, int],
) -> dict[str, np.ndarray]:
    """``count_<cat>`` for every canonical category, ``count_violent`` and ``fatalities``."""
    out: dict[str, np.ndarray] = {}
    cats = pd.Categorical(categories, categories=list(INCIDENT_CATEGORIES))
    code = np.asarray(cats.codes, dtype=np.int64)
    for i, cat in enumerate(INCIDENT_CATEGORIES):
        out[f"count_{cat}"] = count_grid(np.where(code == i, locality_index, -1), period_index, shape)
    out["count_violent"] = sum(out[f"count_{c}"] for c in VIOLENT_CATEGORIES).astype(np.int32)
    deaths = np.nan_to_num(np.asarray(fatalities, dtype=float), nan=0.0)
    out["fatalities"] = count_grid(locality_index, period_index, shape, weights=deaths)
    return out


def alert_counts(
    categories: np.ndarray,
    verification: np.ndarray,
    locality_index: np.ndarray,
    period_index: np.ndarray,
    shape: tuple[int, int],
) -> dict[str, np.ndarray]:
    """``alerts_<cat>``, ``alerts_total`` and ``alerts_<verification state>`` (all alerts received;
    ``verification`` as known at the end of each alert's period: :func:`verification_as_of_receipt`)."""
    out: dict[str, np.ndarray] = {}
    cats = np.asarray(pd.Categorical(categories, categories=list(ALERT_CATEGORIES)).codes, dtype=np.int64)
    for i, cat in enumerate(ALERT_CATEGORIES):
        out[f"alerts_{cat}"] = count_grid(np.where(cats == i, locality_index, -1), period_index, shape)
    out["alerts_total"] = count_grid(locality_index, period_index, shape)
    states = np.asarray(
        pd.Categorical(verification, categories=list(ALERT_VERIFICATION)).codes, dtype=np.int64
    )
    for i, state in enumerate(ALERT_VERIFICATION):
        out[f"alerts_{state}"] = count_grid(np.where(states == i, locality_index, -1), period_index, shape)
    return out


def verification_as_of_receipt(
    alerts: pd.DataFrame, decisions: pd.DataFrame | None, freq: str, timezone: str | None = None
) -> np.ndarray:
    """Each alert's verification state as known at the end of the period it was received in.

    ``alerts`` needs ``alert_id`` and ``received_at``; ``decisions`` (the store's
    ``alert_verifications``) ``alert_id``, ``verification`` and ``decided_at``, in the order they
    were made. The last decision dated in or before the alert's period wins; an alert verified in
    a later period is ``unverified`` here, so ``alerts_verified`` at period t never counts a
    decision taken after t (a backtest would otherwise learn from it). Periods are calendar
    periods in ``timezone`` (UTC when None), as for the counts.
    """
    out = np.full(len(alerts), ALERT_VERIFICATION[0], dtype=object)
    if not len(alerts) or decisions is None or not len(decisions):
        return out
    received = pd.DataFrame(
        {
            "alert_id": alerts["alert_id"].to_numpy(dtype=object),
            "position": np.arange(len(alerts)),
            "period": period_start(to_days(alerts["received_at"], timezone), freq),
        }
    )
    made = pd.DataFrame(
        {
            "alert_id": decisions["alert_id"].to_numpy(dtype=object),
            "verification": decisions["verification"].to_numpy(dtype=object),
            "order": np.arange(len(decisions)),
            "decided": period_start(to_days(decisions["decided_at"], timezone), freq),
        }
    )
    known = received.merge(made, on="alert_id")
    known = known[known["decided"] <= known["period"]].sort_values("order", kind="stable")
    last = known.drop_duplicates("position", keep="last")
    out[last["position"].to_numpy()] = last["verification"].to_numpy()
    return out


def region_counts(
    categories: np.ndarray,
    region_index: np.ndarray,
    period_index: np.ndarray,
    locality_region: np.ndarray,
    n_regions: int,
    n_periods: int,
) -> dict[str, np.ndarray]:
    """``region_count_violent`` and ``region_count_intercommunal`` per (locality, period).

    Every event with a region (locality-assigned ones through their locality's region, and
    region-precise ones) counts once in its region; each locality then reads its region's row.
    A locality with no region (``locality_region`` = -1) reads zeros.
    """
    per_region = per_region_counts(categories, region_index, period_index, n_regions, n_periods)
    return region_rows(per_region, locality_region)


def per_region_counts(
    categories: np.ndarray, region_index: np.ndarray, period_index: np.ndarray, n_regions: int, n_periods: int
) -> dict[str, np.ndarray]:
    """``region_count_violent`` and ``region_count_intercommunal`` per (region, period)."""
    cats = np.asarray(categories, dtype=object)
    violent = np.isin(cats, list(VIOLENT_CATEGORIES))
    inter = cats == "intercommunal"
    return {
        name: count_grid(np.where(mask, region_index, -1), period_index, (max(n_regions, 1), n_periods))
        for name, mask in (("region_count_violent", violent), ("region_count_intercommunal", inter))
    }


def region_rows(per_region: dict[str, np.ndarray], locality_region: np.ndarray) -> dict[str, np.ndarray]:
    """Each locality's row of the per-region counts (zeros for a locality without a region: -1)."""
    out = {}
    for name, counts in per_region.items():
        padded = np.vstack([counts, np.zeros((1, counts.shape[1]), dtype=counts.dtype)])
        out[name] = padded[np.where(locality_region >= 0, locality_region, len(padded) - 1)]
    return out
