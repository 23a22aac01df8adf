"""Rolling-origin backtest of the Sauti model against the baselines, on any feature cube.

At each origin ``o`` (a period), the forecast is issued at the end of period ``o - 1`` from the
features of that period, for the target window ``o … o + h - 1``. Models are fitted on rows
``t`` whose whole target window ends before the origin (``t + h <= o - 1``); the test period's
labels and features after ``o - 1`` are never passed to ``fit``. Metrics are computed on forecasts
pooled over origins, with confidence intervals from a moving-block bootstrap over origins.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import clone

from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD_DIM
from sauti.features.periods import parse_period
from sauti.jsonable import json_scalar
from sauti.models.backtest_panel import BacktestPanel, backtest_panel, predict_in_blocks
from sauti.models.backtest_report import write_report
from sauti.models.baselines import BASELINES
from sauti.models.catalog import PRIMARY, sauti_design
from sauti.models.ensemble import SautiClassifier
from sauti.models.estimators import PlattScoreClassifier, fit_weighted, single_thread
from sauti.models.metrics import (
    METRICS,
    Forecasts,
    block_bootstrap_weights,
    bootstrap_values,
    compute_metrics,
    percentile_interval,
    reliability_curve,
)
from sauti.models.panel import ROW_BUDGET
from sauti.models.result import CONTRACT_METRICS, REPORTED_METRICS, BacktestResult
from sauti.models.target import lead_occurrence, make_target

if TYPE_CHECKING:  # pragma: no cover
    from sauti.features import CubeInputs
    from sauti.store import Workspace

log = logging.getLogger(__name__)

REFERENCE = "climatology"
__all__ = ["CONTRACT_METRICS", "BacktestResult", "backtest_cube", "run_backtest", "write_backtest"]


def origin_indices(cube: xr.Dataset, start, end) -> np.ndarray:
    """Positions (in the cube's period axis) of the origins from ``start`` to ``end`` inclusive.

    ``start`` and ``end`` name periods of the cube's frequency
    (:func:`~sauti.features.periods.parse_period`: ``YYYY-MM`` for months; an ISO date or ISO week
    ``YYYY-Www`` for weeks); a date names the period that contains it.
    """
    freq = cube.attrs.get("freq", "M")
    periods = pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())
    lo, hi = _origin(start, freq, "start"), _origin(end, freq, "end")
    if lo > hi:
        raise ValueError(f"backtest start {start} is after its end {end}")
    idx = np.flatnonzero((periods >= lo) & (periods <= hi))
    idx = idx[idx >= 1]  # an origin needs one period of features before it
    if idx.size == 0:
        raise ValueError(
            f"no period of the feature cube ({_period_text(periods.min(), freq)} to "
            f"{_period_text(periods.max(), freq)}) falls between --start {start} and --end {end}"
        )
    return idx


def _origin(value, freq: str, which: str) -> pd.Timestamp:
    try:
        return parse_period(value, freq)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"backtest {which}: {exc}") from None


def _period_text(period: pd.Timestamp, freq: str) -> str:
    """A period as people write it on the command line: ``2017-01`` (months), ``2019-01-07`` (weeks)."""
    return f"{period:%Y-%m}" if freq == "M" else f"{period:%Y-%m-%d}"


def _resolve_models(models) -> dict[str, Any]:
    """Name → model: ``"sauti"``, a baseline name, or a user estimator (dict value)."""
    if models is None:
        names: dict[str, Any] = {PRIMARY: PRIMARY, **{n: n for n in BASELINES}}
    elif isinstance(models, dict):
        names = dict(models)
    else:
        names = {n: n for n in models}
    for name, spec in names.items():
        if isinstance(spec, str) and spec != PRIMARY and spec not in BASELINES:
            raise ValueError(
                f"unknown model {name!r}; known: {PRIMARY}, {', '.join(BASELINES)} "
                "(or pass an estimator in a dict)"
            )
    if REFERENCE not in names:  # Brier skill needs the climatology forecasts
        names[REFERENCE] = REFERENCE
    return names


def window_positives(cube: xr.Dataset, start, end, horizon: int = 1) -> int:
    """Observed positives over the backtest's forecasts (0: every metric will be undefined)."""
    target = make_target(cube, horizon).to_numpy()
    issues = origin_indices(cube, start, end) - 1
    return int(np.nansum(target[:, issues]))


class _Stacking:
    """The Sauti ensemble's weights, learned every ``every`` origins inside that origin's window."""

    def __init__(self, every: int, params: dict) -> None:
        self.every, self.params = max(int(every), 1), params
        self.weights: dict[str, float] | None = None
        self.history: list[dict[str, Any]] = []

    def fit(
        self, k: int, origin: pd.Timestamp, X, y, periods, *, horizon, random_state, sample_weight=None
    ) -> SautiClassifier:
        restack = self.weights is None or k % self.every == 0
        model = SautiClassifier(
            horizon=horizon,
            random_state=random_state,
            weights=None if restack else self.weights,
            **self.params,
        )
        weighted = {} if sample_weight is None else {"sample_weight": sample_weight}
        model.fit(X, y, periods=periods, **weighted)
        if restack:
            self.weights = model.weights_
            self.history.append(
                {"origin": f"{origin:%Y-%m-%d}", "weights": model.weights_, "validation": model.validation_}
            )
        return model


def _forecast_origin(k, origin, panel: BacktestPanel, specs, stacking: _Stacking, horizon, random_state):
    """Every model's probabilities for one origin (None when its target window is unobserved)."""
    n_loc, y = panel.n_loc, panel.y
    issue = origin - 1
    train = np.flatnonzero((panel.period_index <= origin - 1 - horizon) & np.isfinite(y))
    test = np.flatnonzero(panel.period_index == issue)
    keep = np.isfinite(y[test])
    if not keep.any():
        return None
    if train.size == 0 or np.unique(y[train]).size < 2:
        raise ValueError(
            f"origin {panel.periods[origin]:%Y-%m}: no training window with both outcomes before it; "
            "start the backtest later or load more history"
        )
    test = test[keep]
    weight = None if panel.weight is None else panel.weight[train]
    out: dict[str, np.ndarray] = {}
    with single_thread():
        for name, spec in specs.items():
            if spec == PRIMARY:
                model = stacking.fit(
                    k,
                    panel.periods[origin],
                    panel.table.iloc[train],
                    y[train],
                    panel.period_index[train],
                    horizon=horizon,
                    random_state=random_state,
                    sample_weight=weight,
                )
            elif isinstance(spec, str):
                rule = PlattScoreClassifier()._fit_validated(panel.raw_rows[spec][train], y[train], weight)
                out[name] = predict_in_blocks(
                    lambda rows, r=rule, s=spec: r._probability(panel.raw_rows[s][rows]), test
                )
                continue
            else:
                model = fit_weighted(clone(spec), panel.table.iloc[train], y[train], weight)
            out[name] = predict_in_blocks(
                lambda rows, m=model: np.asarray(m.predict_proba(panel.table.iloc[rows]))[:, 1], test
            )
    last = min(origin + horizon - 1, panel.periods.size - 1)
    block = pd.DataFrame(
        {
            "origin": panel.periods[origin],
            "period": panel.periods[last],
            LOCALITY_ID: panel.localities[panel.locality_index[test]],
            "observed": y[test].astype(int),
            "_row": issue * n_loc + panel.locality_index[test],
        }
    )
    return [block.assign(model=name, probability=p) for name, p in out.items()]


def backtest_cube(
    cube: xr.Dataset,
    *,
    start,
    end,
    horizon: int = 1,
    models=None,
    use_alerts: bool = True,
    random_state: int = 0,
    restack_every: int = 1,
    n_boot: int = 200,
    block_length: int = 6,
    progress: Callable[[int], None] | None = None,
    sauti_params: dict | None = None,
    row_budget: int = ROW_BUDGET,
    negative_rate: float | None = None,
) -> BacktestResult:
    """Run the rolling-origin backtest on a feature cube (the pure core of :func:`run_backtest`).

    Parameters
    ----------
    cube : xarray.Dataset
        Feature cube (contiguous periods).
    start, end : str
        First and last origin (``YYYY-MM`` or a date).
    horizon : int
        Target window length in periods.
    models : list of str or dict, optional
        Names (``"sauti"`` and baseline names) or ``{name: estimator}`` for a user model fitted on
        the same features (a DataFrame). Default: the Sauti model and every baseline.
    use_alerts : bool
        Give alert-derived features to the models (False: incident data only).
    random_state : int
        Seed for the model and the bootstrap.
    restack_every : int
        Learn the Sauti ensemble's weights (inner temporal validation inside the training window)
        every this many origins; in between its members are refitted with the last weights.
    n_boot, block_length : int
        Bootstrap replicates and block length (in origins) for confidence intervals.
    progress : callable, optional
        ``advance(n)`` called once per origin.
    sauti_params : dict, optional
        Parameters of :class:`~sauti.models.ensemble.SautiClassifier` overriding the design
        (:func:`~sauti.models.catalog.sauti_design`), for design experiments on validation origins.
    row_budget, negative_rate : int, float, optional
        Over ``row_budget`` labelled rows, the training rows keep every positive and a share
        ``negative_rate`` (default :data:`~sauti.models.panel.NEGATIVE_RATE`) of the negatives,
        weighted (:func:`~sauti.models.panel.labelled_panel`); the periods forecast are read in full.
        The rate and rows kept are in ``detail["negative_sampling"]``.
    """
    origins = origin_indices(cube, start, end)
    specs = _resolve_models(models)
    panel = backtest_panel(
        cube,
        horizon,
        specs,
        use_alerts,
        origins - 1,
        random_state=random_state,
        row_budget=row_budget,
        negative_rate=negative_rate,
    )
    positives = window_positives(cube, start, end, horizon)
    if positives == 0:
        log.warning(
            "no forecast between %s and %s has an observed incident: metrics are undefined", start, end
        )
    stacking = _Stacking(restack_every, {**sauti_design(horizon), **(sauti_params or {})})
    records: list[pd.DataFrame] = []
    for k, origin in enumerate(origins):
        blocks = _forecast_origin(k, origin, panel, specs, stacking, horizon, random_state)
        records.extend(blocks or [])
        if progress:
            progress(1)
    boot = (n_boot, block_length)
    if not records:
        raise ValueError(f"no origin between {start} and {end} has an observed target window (h={horizon})")
    result = _result(pd.concat(records, ignore_index=True), cube, panel, specs, horizon, random_state, boot)
    result.detail.update(
        {
            "ensemble": stacking.history,
            "empty_window": positives == 0,
            "negative_sampling": panel.sampling.as_dict(),
        }
    )
    freq = cube.attrs.get("freq", "M")
    first, last = _origin(start, freq, "start"), _origin(end, freq, "end")
    result.metrics.update({"start": _period_text(first, freq), "end": _period_text(last, freq)})
    result.metrics = _ordered(result.metrics, cube.attrs.get("freq", "M"), horizon, specs)
    replicates = result.detail.pop("_replicates")
    result.detail["versus_best_baseline"] = versus_best_baseline(result.metrics, replicates)
    result.predictions = result.predictions[PREDICTION_COLUMNS + ["_row"]]
    return result


PREDICTION_COLUMNS = ["origin", "period", LOCALITY_ID, "model", "probability", "observed"]


def _result(predictions, cube, panel: BacktestPanel, specs, horizon, random_state, boot) -> BacktestResult:
    """Metrics and details of the pooled forecasts (origins indexed for the bootstrap)."""
    predictions["origin_index"] = predictions["origin"].map({p: i for i, p in enumerate(panel.periods)})
    area_by_loc = pd.Series(panel.area, index=panel.localities, name="area_km2")
    metrics, detail = _evaluate(
        predictions,
        cube,
        horizon,
        area_by_loc,
        random_state=random_state,
        n_boot=boot[0],
        block_length=boot[1],
    )
    detail.update({"features": panel.features, "use_alerts": bool(panel.use_alerts)})
    return BacktestResult(metrics, detail, predictions, area_by_loc)


def _forecasts(pred: pd.DataFrame, area: pd.Series, reference: np.ndarray | None) -> Forecasts:
    return Forecasts(
        observed=pred["observed"].to_numpy(dtype=float),
        probability=pred["probability"].to_numpy(dtype=float),
        group=pred["origin_index"].to_numpy(),
        area=area.reindex(pred[LOCALITY_ID]).to_numpy(dtype=float),
        reference=reference,
    )


def _model_scores(
    pred, f: Forecasts, leads: dict, weights: np.ndarray
) -> tuple[dict, dict, list, dict, dict]:
    """One model's metrics, bootstrap intervals, reliability curve, metrics by lead, replicate values."""
    names = list(REPORTED_METRICS)
    values = {k: json_scalar(v) for k, v in compute_metrics(f, names).items()}
    replicates = {k: bootstrap_values(f, weights, k) for k in names}
    intervals = {
        k: {kk: json_scalar(vv) for kk, vv in percentile_interval(replicates[k]).items()} for k in names
    }
    by_lead = {}
    rows = pred["_row"].to_numpy()
    for lead, occ in leads.items():
        if len(leads) == 1:  # h = 1: the only lead is the target itself
            by_lead[str(lead)] = dict(values)
            continue
        obs = occ.T.ravel()[rows]
        ok = np.isfinite(obs)
        reference = f.reference[ok] if f.reference is not None else None
        lf = Forecasts(obs[ok], f.probability[ok], f.group[ok], f.area[ok], reference)
        by_lead[str(lead)] = {k: json_scalar(v) for k, v in compute_metrics(lf, names).items()}
    return values, intervals, reliability_curve(f.observed, f.probability), by_lead, replicates


def _evaluate(predictions, cube, horizon, area, *, random_state, n_boot, block_length):
    by_model = {name: g.reset_index(drop=True) for name, g in predictions.groupby("model", sort=False)}
    reference = by_model[REFERENCE]["probability"].to_numpy(dtype=float)
    origins = np.unique(predictions["origin_index"].to_numpy())
    weights = block_bootstrap_weights(origins.size, n_boot, block_length, seed=random_state)
    leads = {k: lead_occurrence(cube, k) for k in range(1, horizon + 1)}
    scored = {
        name: _model_scores(pred, _forecasts(pred, area, reference), leads, weights)
        for name, pred in by_model.items()
    }
    first = next(iter(by_model.values()))
    per_origin = (
        first.groupby("origin")["observed"]
        .agg(["sum", "size"])
        .rename(columns={"sum": "positives", "size": "n"})
    )
    metrics = {
        "n_forecasts": len(first),
        "positive_rate": json_scalar(float(first["observed"].mean())),
        "models": {name: v[0] for name, v in scored.items()},
    }
    detail = {
        "_replicates": {name: v[4] for name, v in scored.items()},  # for the paired comparison; not written
        "horizon": horizon,
        "n_localities": cube.sizes[LOCALITY_DIM],
        "n_origins": int(origins.size),
        "origins_with_positives": int((per_origin["positives"] > 0).sum()),
        "bootstrap": {
            "replicates": n_boot,
            "block_length": block_length,
            "level": 0.90,
            "seed": random_state,
        },
        "intervals": {name: v[1] for name, v in scored.items()},
        "reliability": {name: v[2] for name, v in scored.items()},
        "by_lead": {name: v[3] for name, v in scored.items()},
        "per_origin": [
            {"origin": f"{o:%Y-%m-%d}", "positives": int(r.positives), "n": int(r.n)}
            for o, r in per_origin.iterrows()
        ],
        "metric_descriptions": {k: METRICS[k].description for k in REPORTED_METRICS},
    }
    return metrics, detail


def versus_best_baseline(
    metrics: dict, replicates: dict[str, dict[str, np.ndarray]], level: float = 0.90
) -> dict:
    """For each metric, the primary model minus the best baseline, with a paired block-bootstrap interval.

    The best baseline is the one with the best pooled value of that metric (climatology is left out
    of Brier skill, 0 by definition); ``replicates`` are each model's metric values over the same
    bootstrap replicates of origins, so the difference is paired. ``better`` says whether the
    primary model's value is the better one (higher, or lower for Brier and log loss).
    """
    primary = metrics["primary"]
    baselines = [m for m in metrics["models"] if m in BASELINES and m != primary]
    if primary in BASELINES or not baselines:
        return {}
    out = {}
    for metric in REPORTED_METRICS:
        values = {b: metrics["models"][b].get(metric) for b in baselines}
        values = {
            b: v
            for b, v in values.items()
            if v is not None and not (metric == "brier_skill" and b == REFERENCE)
        }
        mine = metrics["models"][primary].get(metric)
        if not values or mine is None:
            out[metric] = {"baseline": None, "difference": None, "low": None, "high": None, "better": None}
            continue
        higher = METRICS[metric].higher_is_better
        best = (max if higher else min)(values, key=values.get)
        interval = percentile_interval(replicates[primary][metric] - replicates[best][metric], level)
        difference = mine - values[best]
        out[metric] = {
            "baseline": best,
            "value": mine,
            "baseline_value": values[best],
            "difference": json_scalar(float(difference)),
            "low": json_scalar(interval["low"]),
            "high": json_scalar(interval["high"]),
            "better": bool(difference > 0 if higher else difference < 0),
        }
    return out


def _ordered(metrics: dict, freq: str, horizon: int, specs: dict) -> dict:
    """metrics.json in its contract order; each model's contract keys first, then the added ones."""
    primary = PRIMARY if PRIMARY in specs else next(iter(specs))
    models = metrics["models"]
    order = [primary] + [n for n in specs if n != primary]
    return {
        "freq": freq,
        "horizon": horizon,
        "start": metrics["start"],
        "end": metrics["end"],
        "n_forecasts": metrics["n_forecasts"],
        "positive_rate": metrics["positive_rate"],
        "primary": primary,
        "models": {n: {k: models[n][k] for k in REPORTED_METRICS} for n in order if n in models},
    }


def write_backtest(result: BacktestResult, out: str | Path) -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics_detail.json`` and ``predictions.csv`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / "metrics.json",
        "detail": out / "metrics_detail.json",
        "predictions": out / "predictions.csv",
    }
    paths["metrics"].write_text(json.dumps(result.metrics, indent=2) + "\n", encoding="utf-8")
    paths["detail"].write_text(json.dumps(result.detail, indent=2, default=str) + "\n", encoding="utf-8")
    pred = result.predictions.drop(columns="_row").copy()
    pred["origin"] = pred["origin"].dt.strftime("%Y-%m-%d")
    pred["period"] = pred["period"].dt.strftime("%Y-%m-%d")
    pred.to_csv(paths["predictions"], index=False, float_format="%.6g")
    return paths


def run_backtest(workspace: Workspace, *, out: str | Path | None = None, **options) -> dict:
    """Backtest on the workspace's cube; write the results to ``out`` when given.

    ``options`` are those of :func:`backtest_workspace` (``start``, ``end``, ``freq``, ``horizon``,
    ``unit``, ``models``, ``random_state``, ``progress``, ``use_alerts``,
    ``include_synthetic_alerts``, ``inputs``). Returns the ``metrics.json`` dict (see docs/models.md). With
    ``out``, also writes ``metrics_detail.json``, ``predictions.csv`` and ``report.html``. Alerts
    from files marked synthetic are left out unless ``include_synthetic_alerts``
    (:mod:`sauti.models.alert_use`). Patrol plans are evaluated on top by
    :func:`sauti.cli.pipeline.backtest_with_patrols`.
    """
    _cube, result = backtest_workspace(workspace, **options)
    if out is not None:
        write_outputs(result, out, localities=localities_for_map(workspace, options.get("unit", "admin2")))
    return result.metrics


def backtest_workspace(
    workspace: Workspace,
    *,
    start,
    end,
    freq: str = "M",
    horizon: int = 1,
    unit: str = "admin2",
    models=None,
    random_state: int = 0,
    progress: Callable[[int], None] | None = None,
    use_alerts: bool = True,
    include_synthetic_alerts: bool = False,
    use_responses: bool = False,
    include_synthetic_responses: bool = False,
    inputs: CubeInputs | None = None,
    row_budget: int = ROW_BUDGET,
) -> tuple[xr.Dataset, BacktestResult]:
    """The workspace's cube and the backtest on it, with the alerts decision recorded in the detail.

    ``use_responses`` adds the recorded responses as features (real ones only unless
    ``include_synthetic_responses``) and gives them to the Sauti model's learned member: the
    with-responses skill of :func:`sauti.models.responses.response_skill` (docs/models.md).
    ``inputs`` build the cube when the workspace has none (default: refuse, naming the command).
    ``row_budget``: labelled rows a training panel holds at most (:func:`backtest_cube`).
    """
    from sauti.features import load_or_build_cube
    from sauti.models.alert_use import decide_alert_use

    alerts = decide_alert_use(workspace, use_alerts=use_alerts, include_synthetic=include_synthetic_alerts)
    cube = load_or_build_cube(workspace, freq=freq, unit=unit, inputs=inputs, lazy=True)
    sauti_params = None
    if use_responses:  # issue 19: responses as exposure/selection controls, on request only
        from sauti.models.responses import with_response_features

        cube, sauti_params = with_response_features(workspace, cube, horizon, include_synthetic_responses)
    result = backtest_cube(
        cube,
        start=start,
        end=end,
        horizon=horizon,
        models=models,
        use_alerts=alerts.use_alerts,
        random_state=random_state,
        progress=progress,
        sauti_params=sauti_params,
        row_budget=row_budget,
    )
    result.detail["alerts"] = alerts.as_dict()
    result.detail["use_responses"] = bool(use_responses)
    return cube, result


def write_outputs(
    result: BacktestResult, out: str | Path, *, localities=None, patrol: dict | None = None
) -> None:
    """metrics.json, metrics_detail.json, predictions.csv, report.html (and patrol.json when given)."""
    write_backtest(result, out)
    if patrol is not None:
        (Path(out) / "patrol.json").write_text(json.dumps(patrol, indent=2, default=str), encoding="utf-8")
    write_report(result, Path(out) / "report.html", localities=localities, patrol=patrol)


def localities_for_map(workspace: Workspace, unit: str):
    """Locality polygons for the report's map, or None (the map is optional; never fail on it)."""
    try:
        frame = workspace.localities(level=unit)
    except Exception as exc:
        log.warning("no locality geometry for the report map: %s", exc)
        return None
    return frame if len(frame) else None
