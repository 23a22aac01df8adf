"""Patrol hit rate in the backtest: does the optimised plan put patrols where violence then happens?

At each backtest origin three plans with the same bases, capacity and range are drawn up:

* ``optimised`` — :func:`~sauti.models.patrol.solve.solve` on the model's probabilities;
* ``closest_to_base`` — each base patrols its nearest localities (globally nearest pair first,
  no locality twice);
* ``last_incidents`` — localities with intercommunal incidents in the last period known at the
  origin, nearest first within range; spare patrols then go to the nearest other localities;

plus ``oracle`` (the best plan with hindsight: patrols where the incidents turned out to be), the
ceiling any plan can reach under that capacity and range. The **patrol hit rate** of a plan is the
share of the forecast period's intercommunal incidents that fall in localities it covers, pooled
over origins; confidence intervals come from a bootstrap over origins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD, PERIOD_DIM, check_columns
from sauti.models.patrol.bases import resolve_bases
from sauti.models.patrol.reach import compute_reach
from sauti.models.patrol.solve import CoverProblem, solve
from sauti.progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import xarray as xr
    from matplotlib.figure import Figure

PLANS = ("optimised", "closest_to_base", "last_incidents", "oracle")


def plan_labels(model: str = "sauti") -> dict[str, str]:
    """What each plan is called where a person reads it (tables, charts, reports)."""
    risk = "Sauti risk" if model == "sauti" else f"{model} risk"
    return {
        "optimised": f"Optimised ({risk})",
        "closest_to_base": "Closest to base",
        "last_incidents": "Last period's incidents",
        "oracle": "Hindsight (ceiling)",
    }


_COUNT_COLUMNS = ("count", "incidents", "n_incidents", "intercommunal", "n", "observed")


def _count_column(frame: pd.DataFrame) -> str:
    for name in _COUNT_COLUMNS:
        if name in frame.columns:
            return name
    others = [c for c in frame.columns if c not in (PERIOD, LOCALITY_ID)]
    if len(others) == 1:
        return others[0]
    raise ValueError(
        "incidents_observed needs period, locality_id and one count column "
        f"(named one of {', '.join(_COUNT_COLUMNS)}); found {', '.join(map(str, frame.columns))}"
    )


def _as_timestamps(values: pd.Series, what: str) -> pd.Series:
    try:
        return pd.to_datetime(values.astype(str) if values.dtype == object else values)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: period values must be dates or YYYY-MM(-DD) strings ({exc})") from exc


def _step(periods: np.ndarray, freq: str | None):
    """The length of one period: a month, a week, or the smallest spacing seen."""
    if freq is not None:
        code = str(freq).upper()
        if code.startswith("M"):
            return pd.DateOffset(months=1)
        if code.startswith("W"):
            return pd.Timedelta(days=7)
        raise ValueError(f"freq must be M or W, not {freq!r}")
    unique = np.unique(periods)
    if unique.size < 2:
        return pd.DateOffset(months=1)
    days = np.diff(unique).astype("timedelta64[D]").astype(np.int64)
    smallest = int(days[days > 0].min())
    if 28 <= smallest <= 31:
        return pd.DateOffset(months=1)
    return pd.Timedelta(days=smallest)


def _first_forecast_period(origin: Any, first_period: Any) -> pd.Timestamp:
    """The first period an origin forecasts: the origin itself when it is a date, else its first period."""
    first = pd.Timestamp(first_period)
    try:
        start = pd.Timestamp(origin)
    except (ValueError, TypeError):
        return first
    return min(start, first)


def _nearest_first(
    pair_base: np.ndarray,
    pair_loc: np.ndarray,
    pair_dist: np.ndarray,
    capacity: np.ndarray,
    first: np.ndarray | None = None,
) -> np.ndarray:
    """Covered-locality mask of a nearest-first plan (``first`` localities before all others)."""
    n = int(pair_loc.max()) + 1 if pair_loc.size else 0
    covered = np.zeros(n, dtype=bool)
    left = capacity.astype(np.int64).copy()
    priority = np.zeros(pair_loc.size) if first is None else (~first[pair_loc]).astype(float)
    order = np.lexsort((pair_loc, pair_dist, priority))
    for b, i in zip(pair_base[order].tolist(), pair_loc[order].tolist(), strict=True):
        if left[b] > 0 and not covered[i]:
            covered[i] = True
            left[b] -= 1
    return covered


def evaluate_patrol_plans(
    predictions: pd.DataFrame,
    localities: gpd.GeoDataFrame,
    bases: gpd.GeoDataFrame,
    *,
    patrols: int | None,
    range_km: float | None,
    incidents_observed: pd.DataFrame,
    model: str = "sauti",
    freq: str | None = None,
    method: str = "auto",
    time_limit_s: float = 10.0,
    n_boot: int = 2000,
    ci_level: float = 0.95,
    random_state: int = 0,
) -> dict[str, Any]:
    """Patrol hit rate of the optimised plan against the plans planners use today.

    Parameters
    ----------
    predictions : DataFrame
        Rolling-origin backtest output: ``origin``, ``period``, ``locality_id``, ``model``,
        ``probability`` (``observed`` is not used). Only rows of ``model`` are used.
    localities : GeoDataFrame
        The unit set the backtest ran on (``locality_id``, geometry).
    bases : GeoDataFrame
        As from :func:`sauti.models.patrol.read_bases`; ``patrols`` and ``range_km`` override theirs.
    patrols, range_km
        Patrols per base per period and range (km), the same for every plan; ``None`` keeps each
        base's own values from ``bases``.
    incidents_observed : DataFrame
        ``period``, ``locality_id`` and a count of intercommunal incidents, keyed like
        ``predictions.period`` (the incidents a forecast for that row is judged on; with h = 1 the
        count in that period). Rows may be left out where the count is 0; a repeated
        ``(period, locality_id)`` is counted once. The row keyed one period before the origin
        (the origin is the first period forecast, as in ``run_backtest``) drives the
        ``last_incidents`` plan, so that plan never sees the forecast window.
    model : str
        Which model's probabilities the optimised plan uses.
    freq : {"M", "W"}, optional
        Period length; inferred from the periods when omitted.
    n_boot, ci_level, random_state
        Bootstrap over origins for the confidence intervals.

    Returns
    -------
    dict
        ``{"optimised": {"patrol_hit_rate", "ci", "incidents_covered", "localities_per_plan"},
        "closest_to_base": {...}, "last_incidents": {...}, "oracle": {...},
        "differences": {"optimised_minus_closest_to_base": {"estimate", "ci"}, ...},
        "n_incidents", "n_origins", "n_plans", "reachable_share", "patrols", "range_km",
        "model", "labels" (each plan's name in words), "ci_level", "per_origin": [...]}``.
        Hit rates are ``None`` when there is no incident.
    """
    predictions = _model_predictions(predictions, incidents_observed, localities, model, ci_level)
    base_frame = resolve_bases(bases, patrols, range_km)
    network = _open_pairs(localities, base_frame)
    preds = predictions[["origin", PERIOD, LOCALITY_ID, "probability"]].copy()
    preds[PERIOD] = _as_timestamps(preds[PERIOD], "predictions")
    preds[LOCALITY_ID] = preds[LOCALITY_ID].astype(str)
    counts, observed_periods = _observed_vectors(incidents_observed, network.position)
    step = _step(np.concatenate([preds[PERIOD].to_numpy(), observed_periods]), freq)
    tally = _plan_every_origin(preds, counts, network, step, method, time_limit_s)
    result = _hit_rates(tally, n_boot, ci_level, random_state)
    result.update(_setting(tally, counts, preds, network, base_frame, patrols, range_km))
    result.update(
        {
            "model": model,
            "labels": plan_labels(model),
            "ci_level": ci_level,
            "n_boot": int(n_boot),
            "per_origin": tally.per_origin,
        }
    )
    return result


def _setting(tally, counts, preds, network, base_frame, patrols, range_km) -> dict[str, Any]:
    """How many incidents, origins and plans; how many incidents any base could reach; the bases."""
    zeros = np.zeros(network.n)
    all_counts = sum((counts.get(pd.Timestamp(p), zeros) for p in preds[PERIOD].unique()), zeros)
    return {
        "n_incidents": float(np.sum(tally.totals)),
        "n_origins": len(tally.totals),
        "n_plans": len(tally.sizes["optimised"]),
        "reachable_share": float(all_counts[network.reachable].sum() / all_counts.sum())
        if all_counts.sum()
        else None,
        "patrols": int(patrols) if patrols is not None else base_frame["patrols"].tolist(),
        "range_km": float(range_km) if range_km is not None else base_frame["range_km"].tolist(),
        "bases": len(base_frame),
    }


def _model_predictions(
    predictions: pd.DataFrame,
    incidents_observed: pd.DataFrame,
    localities: gpd.GeoDataFrame,
    model: str,
    ci_level: float,
) -> pd.DataFrame:
    """The rows of ``model`` after checking every input's columns and the interval level."""
    check_columns(predictions.columns, ("origin", PERIOD, LOCALITY_ID, "probability"), "predictions")
    check_columns(incidents_observed.columns, (PERIOD, LOCALITY_ID), "incidents_observed")
    check_columns(localities.columns, (LOCALITY_ID,), "localities")
    if "model" in predictions.columns:
        available = sorted(predictions["model"].astype(str).unique())
        if model not in available:
            raise ValueError(f"predictions hold no model {model!r}; available: {', '.join(available)}")
        predictions = predictions[predictions["model"].astype(str) == model]
    if not 0 < ci_level < 1:
        raise ValueError(f"ci_level must be between 0 and 1, not {ci_level!r}")
    return predictions


@dataclass(frozen=True)
class _Network:
    """The (base, locality) pairs open to every plan, and each locality's position."""

    position: pd.Series  # locality_id → row
    pair_base: np.ndarray
    pair_locality: np.ndarray
    pair_distance: np.ndarray
    capacity: np.ndarray
    reachable: np.ndarray  # per locality: some base can reach it

    @property
    def n(self) -> int:
        return len(self.position)


def _open_pairs(localities: gpd.GeoDataFrame, base_frame: gpd.GeoDataFrame) -> _Network:
    localities = localities.reset_index(drop=True)
    ids = localities[LOCALITY_ID].astype(str)
    reach = compute_reach(localities, base_frame)
    open_route = reach.open_route
    pair_locality = reach.pair_locality[open_route]
    reachable = np.zeros(len(ids), dtype=bool)
    reachable[pair_locality] = True
    return _Network(
        position=pd.Series(np.arange(len(ids)), index=ids.to_numpy()),
        pair_base=reach.pair_base[open_route],
        pair_locality=pair_locality,
        pair_distance=reach.pair_distance[open_route],
        capacity=base_frame["patrols"].to_numpy(dtype=np.int64),
        reachable=reachable,
    )


def _observed_vectors(
    incidents_observed: pd.DataFrame, position: pd.Series
) -> tuple[dict[pd.Timestamp, np.ndarray], np.ndarray]:
    """Incident counts per period as vectors in locality order, and the periods seen."""
    count_col = _count_column(incidents_observed)
    observed = incidents_observed[[PERIOD, LOCALITY_ID, count_col]].copy()
    observed[PERIOD] = _as_timestamps(observed[PERIOD], "incidents_observed")
    observed[LOCALITY_ID] = observed[LOCALITY_ID].astype(str)
    observed = observed[observed[LOCALITY_ID].isin(position.index)]
    # backtest output repeats a (period, locality) once per origin that forecast it: count it once
    observed = observed.drop_duplicates([PERIOD, LOCALITY_ID], keep="first")
    counts: dict[pd.Timestamp, np.ndarray] = {}
    for period, group in observed.groupby(PERIOD):
        vector = np.zeros(len(position))
        np.add.at(vector, position[group[LOCALITY_ID]].to_numpy(), group[count_col].to_numpy(dtype=float))
        counts[pd.Timestamp(period)] = vector
    return counts, observed[PERIOD].to_numpy()


@dataclass
class _Tally:
    """Incidents covered per origin and plan, plan sizes, incidents per origin."""

    hits: dict[str, list[float]]
    sizes: dict[str, list[int]]
    totals: list[float]
    per_origin: list[dict[str, Any]]


def _plan_every_origin(
    preds: pd.DataFrame, counts: dict, network: _Network, step, method: str, time_limit_s: float
) -> _Tally:
    """Draw the four plans for every period of every origin and count the incidents they cover."""
    tally = _Tally({p: [] for p in PLANS}, {p: [] for p in PLANS}, [], [])
    zeros = np.zeros(network.n)
    groups = list(preds.groupby("origin", sort=True))
    with progress_bar("patrol plans per origin", total=len(groups)) as advance:
        for origin, group in groups:
            last = _first_forecast_period(origin, group[PERIOD].min()) - step
            first = counts.get(last, zeros) > 0
            origin_hits = dict.fromkeys(PLANS, 0.0)
            origin_total = 0.0
            for period, rows in group.groupby(PERIOD, sort=True):
                obs = counts.get(pd.Timestamp(period), zeros)
                covered = _plans_for_period(rows, obs, first, network, method, time_limit_s)
                for plan, mask in covered.items():
                    origin_hits[plan] += float(obs[mask].sum())
                    tally.sizes[plan].append(int(mask.sum()))
                origin_total += float(obs.sum())
            for plan in PLANS:
                tally.hits[plan].append(origin_hits[plan])
            tally.totals.append(origin_total)
            tally.per_origin.append({"origin": str(origin), "incidents": origin_total, **origin_hits})
            advance(1)
    return tally


def _plans_for_period(
    rows: pd.DataFrame,
    obs: np.ndarray,
    first: np.ndarray,
    network: _Network,
    method: str,
    time_limit_s: float,
) -> dict[str, np.ndarray]:
    """Covered-locality mask of each plan for one forecast period."""
    n, position = network.n, network.position
    pb, pl, pdist, capacity = (
        network.pair_base,
        network.pair_locality,
        network.pair_distance,
        network.capacity,
    )
    probability = np.zeros(n)
    known = rows[LOCALITY_ID].isin(position.index).to_numpy()
    probability[position[rows.loc[known, LOCALITY_ID]].to_numpy()] = np.nan_to_num(
        rows.loc[known, "probability"].to_numpy(dtype=float)
    )
    return {
        "optimised": _solved(probability, capacity, pb, pl, pdist, n, method, time_limit_s),
        "closest_to_base": _pad(_nearest_first(pb, pl, pdist, capacity), n),
        "last_incidents": _pad(_nearest_first(pb, pl, pdist, capacity, first=first), n),
        "oracle": _solved(obs, capacity, pb, pl, pdist, n, "auto", time_limit_s),
    }


def _hit_rates(tally: _Tally, n_boot: int, ci_level: float, random_state: int) -> dict[str, Any]:
    """Pooled hit rate per plan with bootstrap intervals over origins, and the paired differences."""
    total = np.asarray(tally.totals)
    hit_arrays = {plan: np.asarray(values) for plan, values in tally.hits.items()}
    rng = np.random.default_rng(random_state)
    draws = rng.integers(0, total.size, size=(n_boot, total.size)) if total.size else np.zeros((0, 0), int)
    alpha = (1 - ci_level) / 2
    boot_total = total[draws].sum(axis=1) if total.size else np.zeros(0)

    def rate(values: np.ndarray) -> float | None:
        return float(values.sum() / total.sum()) if total.sum() > 0 else None

    def interval(boot: np.ndarray) -> list[float] | None:
        boot = boot[np.isfinite(boot)]
        if not boot.size:
            return None
        return [float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))]

    boot_rates = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for plan in PLANS:
            boot_rates[plan] = hit_arrays[plan][draws].sum(axis=1) / boot_total if total.size else np.zeros(0)
    result: dict[str, Any] = {}
    for plan in PLANS:
        result[plan] = {
            "patrol_hit_rate": rate(hit_arrays[plan]),
            "ci": interval(boot_rates[plan]),
            "incidents_covered": float(hit_arrays[plan].sum()),
            "localities_per_plan": float(np.mean(tally.sizes[plan])) if tally.sizes[plan] else 0.0,
        }
    result["differences"] = {
        f"optimised_minus_{other}": {
            "estimate": rate(hit_arrays["optimised"] - hit_arrays[other]),
            "ci": interval(boot_rates["optimised"] - boot_rates[other]),
        }
        for other in ("closest_to_base", "last_incidents")
    }
    return result


def _pad(mask: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[: mask.size] = mask
    return out


def _solved(value, capacity, pb, pl, pdist, n, method, time_limit_s) -> np.ndarray:
    keep = value[pl] > 0
    problem = CoverProblem(value, capacity, pb[keep], pl[keep], pdist[keep])
    solution = solve(problem, method=method, time_limit_s=time_limit_s)
    mask = np.zeros(n, dtype=bool)
    mask[problem.pair_locality[solution.chosen]] = True
    return mask


def hit_rate_figure(result: dict[str, Any], title: str | None = None) -> Figure:
    """Bar chart of the patrol hit rate per plan with its confidence interval."""
    import textwrap

    from matplotlib.figure import Figure

    names = result.get("labels") or plan_labels(result.get("model", "sauti"))
    labels = {plan: textwrap.fill(names[plan], 14) for plan in PLANS}
    figure = Figure(figsize=(6.4, 3.6), dpi=110)
    ax = figure.subplots()
    for x, plan in enumerate(PLANS):
        entry = result[plan]
        value = entry["patrol_hit_rate"] or 0.0
        lo, hi = entry["ci"] or (value, value)
        color = "#c0392b" if plan == "optimised" else ("#bbbbbb" if plan == "oracle" else "#5d6d7e")
        ax.bar(x, value, color=color, width=0.6)
        ax.errorbar(x, value, yerr=[[value - lo], [hi - value]], color="black", capsize=4)
        ax.text(x, hi + 0.01, f"{value:.0%}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(PLANS)), [labels[p] for p in PLANS], fontsize=8)
    ax.set_ylabel("share of next-period incidents covered")
    ax.set_ylim(0, 1.05)
    ax.set_title(
        title
        or f"Patrol hit rate ({result['bases']} bases, {_describe(result['patrols'], 'patrols')}, "
        f"{_describe(result['range_km'], 'km')}; {result['n_incidents']:.0f} incidents, "
        f"{result['n_origins']} origins)",
        fontsize=9,
    )
    figure.tight_layout()
    return figure


def observed_counts(cube: xr.Dataset, category: str = "intercommunal") -> pd.DataFrame:
    """Incidents of ``category`` per (period, locality) from the feature cube, non-zero rows only.

    The ``incidents_observed`` argument of :func:`evaluate_patrol_plans` for a one-period horizon:
    ``period`` (Timestamp), ``locality_id``, ``count``.
    """
    name = f"count_{category}"
    if name not in cube:
        raise ValueError(f"the feature cube has no {name!r} variable")
    counts = cube[name].transpose(LOCALITY_DIM, PERIOD_DIM).to_numpy()
    loc, per = np.nonzero(np.nan_to_num(counts) > 0)
    return pd.DataFrame(
        {
            PERIOD: pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())[per],
            LOCALITY_ID: cube[LOCALITY_DIM].to_numpy().astype(str)[loc],
            "count": counts[loc, per].astype(float),
        }
    )


def _describe(value: Any, unit: str) -> str:
    """``3 patrols`` for one value, ``2-6 patrols`` for per-base values."""
    if isinstance(value, list):
        lo, hi = min(value), max(value)
        return f"{lo:g} {unit}" if lo == hi else f"{lo:g}-{hi:g} {unit}"
    return f"{value:g} {unit}"
