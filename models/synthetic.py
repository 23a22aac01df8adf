"""A seeded synthetic feature cube with the same contract as :func:`sauti.features.compute_features`.

Used by the model tests and by ``bench/bench_backtest.py`` (10,000 localities) so the model layer can
be exercised without a store. Localities sit on a square lattice (rook neighbours); intercommunal
events follow a self-exciting process that spreads to neighbours, so history carries real signal.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from sauti.constants import INCIDENT_CATEGORIES, LOCALITY_DIM, PERIOD_DIM, VIOLENT_CATEGORIES
from sauti.features.params import FeatureParams
from sauti.features.temporal import decayed_sum, periods_since, rolling_sum, trend

HALF_LIVES = (1, 3, 6, 12)
WINDOWS = (3, 12)
DECAY_SOURCES = ("count_intercommunal", "count_violent", "fatalities", "alerts_total")


def _lattice_lag(values: np.ndarray, side: int) -> np.ndarray:
    """Row-standardised rook-neighbour mean on a ``side``-wide lattice (first axis = locality)."""
    n = values.shape[0]
    total = np.zeros_like(values, dtype=float)
    count = np.zeros(n)
    idx = np.arange(n)
    row, col = idx // side, idx % side
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r2, c2 = row + dr, col + dc
        ok = (r2 >= 0) & (c2 >= 0) & (c2 < side) & (r2 * side + c2 < n)
        j = r2 * side + c2
        total[idx[ok]] += values[j[ok]]
        count[idx[ok]] += 1
    return total / np.maximum(count, 1)[:, None]


def synthetic_cube(
    n_localities: int = 64,
    n_periods: int = 96,
    *,
    start: str = "2012-01-01",
    freq: str = "M",
    seed: int = 0,
    alerts: bool = False,
) -> xr.Dataset:
    """A feature cube with the contract's variables, from a seeded self-exciting event process.

    Parameters
    ----------
    n_localities, n_periods : int
        Size of the panel.
    start : str
        First period start.
    freq : {"M", "W"}
        Period length.
    seed : int
        Seed of the generator: the same seed gives the same cube.
    alerts : bool
        Whether to simulate alerts that precede intercommunal events (otherwise all zero).

    Returns
    -------
    xarray.Dataset
        Dims ``(locality, period)``; ``locality`` ids ``L00000``…, ``period`` datetime64 starts.
    """
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_localities)))
    pandas_freq = "MS" if freq == "M" else "W-MON"
    periods = pd.date_range(start, periods=n_periods, freq=pandas_freq)
    ids = [f"L{i:05d}" for i in range(n_localities)]
    # the draws happen in this order (counts, fatalities, alerts, statics): the seed fixes the cube
    counts = _simulate_counts(rng, n_localities, n_periods, side)
    data = _event_variables(rng, counts, alerts)
    data.update(_history_variables(data, counts, side))
    data.update(_static_variables(rng, n_localities, side))
    data.update(_season_variables(periods))
    provenance = {"generator": "sauti.models.synthetic.synthetic_cube", "seed": seed, "alerts": alerts}
    return xr.Dataset(
        {name: (dims, np.asarray(values, dtype=float)) for name, (dims, values) in data.items()},
        coords={LOCALITY_DIM: ids, PERIOD_DIM: periods.to_numpy()},
        attrs={
            "freq": freq,
            "unit": "synthetic",
            "provenance": json.dumps(provenance, sort_keys=True),
            "created_at": "1970-01-01T00:00:00Z",
        },
    )


def _simulate_counts(rng, n_localities: int, n_periods: int, side: int) -> dict[str, np.ndarray]:
    """Incident counts per category: intercommunal events excite themselves and their neighbours."""
    base = rng.gamma(0.6, 0.02, size=n_localities)
    hot = rng.random(n_localities) < 0.15
    base[hot] *= 6
    inter = np.zeros((n_localities, n_periods))
    other_cats = {c: np.zeros((n_localities, n_periods)) for c in INCIDENT_CATEGORIES if c != "intercommunal"}
    excite = np.zeros(n_localities)
    for t in range(n_periods):
        rate = base + 0.25 * excite + 0.1 * _lattice_lag(excite[:, None], side)[:, 0]
        inter[:, t] = rng.poisson(np.minimum(rate, 5.0))
        excite = 0.5 * excite + inter[:, t]
        for k, cat in enumerate(other_cats):
            other_cats[cat][:, t] = rng.poisson(base * (1.0 + 0.5 * k) + 0.2 * inter[:, t])
    return {"intercommunal": inter, **other_cats}


def _event_variables(rng, counts: dict[str, np.ndarray], alerts: bool) -> dict[str, tuple]:
    """Counts, violent total, fatalities and alerts (preceding intercommunal events when asked)."""
    dims = (LOCALITY_DIM, PERIOD_DIM)
    data: dict[str, tuple] = {f"count_{cat}": (dims, counts[cat]) for cat in INCIDENT_CATEGORIES}
    violent = sum(counts[c] for c in VIOLENT_CATEGORIES)
    data["count_violent"] = (dims, violent)
    data["fatalities"] = (dims, rng.poisson(2.0 * violent).astype(float))
    inter = counts["intercommunal"]
    if alerts:
        future = np.zeros_like(inter)
        future[:, :-1] = inter[:, 1:]
        alert_total = rng.poisson(0.05 + 0.8 * future)
    else:
        alert_total = np.zeros_like(inter)
    data["alerts_total"] = (dims, alert_total.astype(float))
    data["alerts_verified"] = (dims, np.floor(alert_total / 2.0))
    data["alerts_intercommunal_tension"] = (dims, alert_total.astype(float))
    return data


def _history_variables(data: dict[str, tuple], counts: dict[str, np.ndarray], side: int) -> dict[str, tuple]:
    """Decays, windows, trends, periods since, lattice spatial lags and region counts."""
    dims = (LOCALITY_DIM, PERIOD_DIM)
    out: dict[str, tuple] = {}
    lagged: list[str] = []
    for var in DECAY_SOURCES:
        values = np.asarray(data[var][1], dtype=float)
        for h in HALF_LIVES:
            out[f"decay_{var}_hl{h}"] = (dims, decayed_sum(values, h, np.float64))
            lagged.append(f"decay_{var}_hl{h}")
        for w in WINDOWS:
            out[f"roll{w}_{var}"] = (dims, rolling_sum(values, w, np.float64))
            lagged.append(f"roll{w}_{var}")
        out[f"trend_{var}"] = (dims, trend(values, 3, 12, np.float64))
    for cat in INCIDENT_CATEGORIES:
        out[f"since_{cat}"] = (dims, periods_since(counts[cat], FeatureParams().since_cap).astype(float))
    for name in lagged:
        lag1 = _lattice_lag(out[name][1], side)
        out[f"splag1_{name}"] = (dims, lag1)
        out[f"splag2_{name}"] = (dims, _lattice_lag(lag1, side))
    out["region_count_violent"] = ((PERIOD_DIM,), data["count_violent"][1].sum(axis=0) * 0.05)
    out["region_count_intercommunal"] = ((PERIOD_DIM,), counts["intercommunal"].sum(axis=0) * 0.05)
    return out


def _static_variables(rng, n_localities: int, side: int) -> dict[str, tuple]:
    """Area, population and density drawn at random; centroids and distances on the lattice."""
    idx = np.arange(n_localities)
    area = rng.uniform(500.0, 5000.0, n_localities)
    population = rng.lognormal(10.0, 1.0, n_localities)
    return {
        "area_km2": ((LOCALITY_DIM,), area),
        "population": ((LOCALITY_DIM,), population),
        "pop_density": ((LOCALITY_DIM,), population / area),
        "centroid_lon": ((LOCALITY_DIM,), 15.0 + 0.5 * (idx % side)),
        "centroid_lat": ((LOCALITY_DIM,), 3.0 + 0.5 * (idx // side)),
        "dist_capital_km": ((LOCALITY_DIM,), 55.0 * np.hypot(idx % side, idx // side)),
        "dist_border_km": ((LOCALITY_DIM,), 55.0 * np.minimum(idx % side, side - 1 - idx % side)),
    }


def _season_variables(periods: pd.DatetimeIndex) -> dict[str, tuple]:
    month = periods.month.to_numpy()
    return {
        "season_sin": ((PERIOD_DIM,), np.sin(2 * np.pi * (month - 1) / 12)),
        "season_cos": ((PERIOD_DIM,), np.cos(2 * np.pi * (month - 1) / 12)),
        "rainy_season": ((PERIOD_DIM,), ((month >= 5) & (month <= 10)).astype(float)),
    }


def panel_cube(
    variables: dict[str, np.ndarray],
    *,
    start: str = "2020-01-01",
    localities: list[str] | None = None,
    freq: str = "M",
    static: dict[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """A small hand-made cube from ``(locality, period)`` arrays (for tests and worked examples).

    Parameters
    ----------
    variables : dict of name → array of shape (n_localities, n_periods)
    start : str
        First period start.
    localities : list of str, optional
        Locality ids (default ``A``, ``B``, …).
    static : dict of name → array of shape (n_localities,), optional
        Static variables such as ``area_km2``.
    """
    arrays = {name: np.asarray(v, dtype=float) for name, v in variables.items()}
    n_loc, n_per = next(iter(arrays.values())).shape
    ids = localities or [chr(ord("A") + i) for i in range(n_loc)]
    periods = pd.date_range(start, periods=n_per, freq="MS" if freq == "M" else "W-MON")
    data = {name: ((LOCALITY_DIM, PERIOD_DIM), v) for name, v in arrays.items()}
    for name, v in (static or {}).items():
        data[name] = ((LOCALITY_DIM,), np.asarray(v, dtype=float))
    return xr.Dataset(
        data,
        coords={LOCALITY_DIM: ids, PERIOD_DIM: periods.to_numpy()},
        attrs={"freq": freq, "unit": "hand-made", "provenance": json.dumps({"hand_made": True})},
    )
