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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from sauti.models.baselines import BASELINES, baseline_scores
from sauti.models.estimators import PlattScoreClassifier, SautiClassifier, single_thread
from sauti.models.metrics import (
    METRICS,
    Forecasts,
    block_bootstrap_weights,
    bootstrap_intervals,
    compute_metrics,
    reliability_curve,
)
from sauti.models.panel import model_features, panel_frame, variable_matrix
from sauti.models.target import lead_occurrence, make_target
from sklearn.base import clone

from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD, PERIOD_DIM, TARGET_CATEGORY

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

log = logging.getLogger(__name__)

PRIMARY = "sauti"
REFERENCE = "climatology"
#: the exact keys of each model in metrics.json (the CLI contract)
CONTRACT_METRICS = ("average_precision", "roc_auc", "brier", "brier_skill", "hit_rate_top10", "pai_top10")


@dataclass
class BacktestResult:
    """What a backtest produced: the metrics.json dict, details, and every forecast."""

    metrics: dict[str, Any]
    detail: dict[str, Any]
    predictions: pd.DataFrame
    areas: pd.Series = field(repr=False)


def _period_bound(value: str | pd.Timestamp, *, end: bool) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(str(value))
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"backtest {'end' if end else 'start'} {value!r} is not a date like 2017-01"
        ) from exc
    if end and len(str(value)) <= 7:  # YYYY-MM means the whole month
        ts = ts + pd.offsets.MonthEnd(0)
    return ts


def origin_indices(cube: xr.Dataset, start, end) -> np.ndarray:
    """Positions (in the cube's period axis) of the origins from ``start`` to ``end`` inclusive."""
    periods = pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())
    lo, hi = _period_bound(start, end=False), _period_bound(end, end=True)
    if lo > hi:
        raise ValueError(f"backtest start {start} is after its end {end}")
    idx = np.flatnonzero((periods >= lo) & (periods <= hi))
    idx = idx[idx >= 1]  # an origin needs one period of features before it
    if idx.size == 0:
        raise ValueError(
            f"no period of the feature cube ({periods.min():%Y-%m} to {periods.max():%Y-%m}) "
            f"falls between --start {start} and --end {end}"
        )
    return idx


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


def backtest_cube(
    cube: xr.Dataset,
    *,
    start,
    end,
    horizon: int = 1,
    models=None,
    use_alerts: bool = True,
    random_state: int = 0,
    retune_every: int = 12,
    n_boot: int = 200,
    block_length: int = 6,
    progress: Callable[[int], None] | None = None,
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
        the same features. Default: the Sauti model and every baseline.
    use_alerts : bool
        Give alert-derived features to the Sauti model (False: incident data only).
    random_state : int
        Seed for the model and the bootstrap.
    retune_every : int
        Re-run the nested model selection every this many origins (refit at every origin).
    n_boot, block_length : int
        Bootstrap replicates and block length (in origins) for confidence intervals.
    progress : callable, optional
        ``advance(n)`` called once per origin.
    """
    target = make_target(cube, horizon)
    origins = origin_indices(cube, start, end)
    specs = _resolve_models(models)
    features = model_features(cube, use_alerts=use_alerts)
    baseline_names = [s for s in specs.values() if isinstance(s, str) and s in BASELINES]
    raw = baseline_scores(cube, sorted(set(baseline_names)))
    n_loc, n_per = cube.sizes[LOCALITY_DIM], cube.sizes[PERIOD_DIM]
    frame = panel_frame(cube, features)
    X = frame[features].to_numpy(dtype=float)
    y = target.to_numpy().T.ravel()
    raw_rows = {name: values.T.ravel()[:, None] for name, values in raw.items()}
    periods = pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())
    localities = cube[LOCALITY_DIM].to_numpy().astype(str)
    area = variable_matrix(cube, "area_km2")[:, 0] if "area_km2" in cube else np.ones(n_loc)

    records: list[pd.DataFrame] = []
    choices: list[dict[str, Any]] = []
    best: str | None = None
    for k, origin in enumerate(origins):
        issue = origin - 1
        train_stop = (origin - horizon) * n_loc  # rows t <= origin - 1 - horizon
        train = np.arange(max(train_stop, 0))
        train = train[np.isfinite(y[train])]
        test = np.arange(issue * n_loc, (issue + 1) * n_loc)
        observed = y[test]
        keep = np.isfinite(observed)
        if not keep.any():
            if progress:
                progress(1)
            continue
        if train.size == 0 or np.unique(y[train]).size < 2:
            raise ValueError(
                f"origin {periods[origin]:%Y-%m}: no training window with both outcomes before it; "
                "start the backtest later or load more history"
            )
        test = test[keep]
        out: dict[str, np.ndarray] = {}
        with single_thread():
            for name, spec in specs.items():
                if spec == PRIMARY:
                    retune = best is None or k % max(retune_every, 1) == 0
                    model = SautiClassifier(
                        candidates=None if retune else (best,), horizon=horizon, random_state=random_state
                    )
                    model.fit(X[train], y[train], periods=frame["period_index"].to_numpy()[train])
                    if retune:
                        best = model.best_candidate_
                        choices.append(
                            {
                                "origin": f"{periods[origin]:%Y-%m-%d}",
                                "chosen": best,
                                "cv_ap": model.cv_scores_,
                            }
                        )
                    out[name] = model.predict_proba(X[test])[:, 1]
                elif isinstance(spec, str):
                    model = PlattScoreClassifier().fit(raw_rows[spec][train], y[train])
                    out[name] = model.predict_proba(raw_rows[spec][test])[:, 1]
                else:
                    model = clone(spec)
                    model.fit(frame.loc[train, features], y[train])
                    out[name] = np.asarray(model.predict_proba(frame.loc[test, features]))[:, 1]
        last = min(origin + horizon - 1, n_per - 1)
        block = pd.DataFrame(
            {
                "origin": periods[origin],
                "period": periods[last],
                LOCALITY_ID: localities[test - issue * n_loc],
                "observed": observed[keep].astype(int),
                "_row": test,
            }
        )
        for name, p in out.items():
            records.append(block.assign(model=name, probability=p))
        if progress:
            progress(1)
    if not records:
        raise ValueError(f"no origin between {start} and {end} has an observed target window (h={horizon})")
    predictions = pd.concat(records, ignore_index=True)
    predictions["origin_index"] = predictions["origin"].map({p: i for i, p in enumerate(periods)})
    area_by_loc = pd.Series(area, index=localities, name="area_km2")
    metrics, detail = _evaluate(
        predictions,
        cube,
        horizon,
        area_by_loc,
        random_state=random_state,
        n_boot=n_boot,
        block_length=block_length,
    )
    detail["model_selection"] = choices
    detail["features"] = features
    detail["use_alerts"] = use_alerts
    metrics.update({"start": f"{pd.Timestamp(start):%Y-%m}", "end": f"{pd.Timestamp(end):%Y-%m}"})
    metrics = _ordered(metrics, cube.attrs.get("freq", "M"), horizon, specs)
    columns = ["origin", "period", LOCALITY_ID, "model", "probability", "observed"]
    return BacktestResult(metrics, detail, predictions[columns + ["_row"]], area_by_loc)


def _forecasts(pred: pd.DataFrame, area: pd.Series, reference: np.ndarray | None) -> Forecasts:
    return Forecasts(
        observed=pred["observed"].to_numpy(dtype=float),
        probability=pred["probability"].to_numpy(dtype=float),
        group=pred["origin_index"].to_numpy(),
        area=area.reindex(pred[LOCALITY_ID]).to_numpy(dtype=float),
        reference=reference,
    )


def _evaluate(predictions, cube, horizon, area, *, random_state, n_boot, block_length):
    by_model = {name: g.reset_index(drop=True) for name, g in predictions.groupby("model", sort=False)}
    reference = by_model[REFERENCE]["probability"].to_numpy(dtype=float)
    origins = np.unique(predictions["origin_index"].to_numpy())
    weights = block_bootstrap_weights(origins.size, n_boot, block_length, seed=random_state)
    first = next(iter(by_model.values()))
    metrics_models, intervals, reliability, by_lead = {}, {}, {}, {}
    leads = {k: lead_occurrence(cube, k) for k in range(1, horizon + 1)}
    n_loc = cube.sizes[LOCALITY_DIM]
    for name, pred in by_model.items():
        f = _forecasts(pred, area, reference)
        metrics_models[name] = {k: _clean(v) for k, v in compute_metrics(f, list(CONTRACT_METRICS)).items()}
        intervals[name] = {
            k: {kk: _clean(vv) for kk, vv in v.items()}
            for k, v in bootstrap_intervals(f, weights, list(CONTRACT_METRICS)).items()
        }
        reliability[name] = reliability_curve(f.observed, f.probability)
        by_lead[name] = {}
        rows = pred["_row"].to_numpy()
        for lead, occ in leads.items():
            obs = occ.T.ravel()[rows]
            ok = np.isfinite(obs)
            lf = Forecasts(obs[ok], f.probability[ok], f.group[ok], f.area[ok], reference[ok])
            by_lead[name][str(lead)] = {
                k: _clean(v) for k, v in compute_metrics(lf, list(CONTRACT_METRICS)).items()
            }
    per_origin = (
        first.groupby("origin")["observed"]
        .agg(["sum", "size"])
        .rename(columns={"sum": "positives", "size": "n"})
    )
    metrics = {
        "n_forecasts": len(first),
        "positive_rate": _clean(float(first["observed"].mean())),
        "models": metrics_models,
    }
    detail = {
        "horizon": horizon,
        "n_localities": n_loc,
        "n_origins": int(origins.size),
        "origins_with_positives": int((per_origin["positives"] > 0).sum()),
        "bootstrap": {
            "replicates": n_boot,
            "block_length": block_length,
            "level": 0.90,
            "seed": random_state,
        },
        "intervals": intervals,
        "reliability": reliability,
        "by_lead": by_lead,
        "per_origin": [
            {"origin": f"{o:%Y-%m-%d}", "positives": int(r.positives), "n": int(r.n)}
            for o, r in per_origin.iterrows()
        ],
        "metric_descriptions": {k: METRICS[k].description for k in CONTRACT_METRICS},
    }
    return metrics, detail


def _clean(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _ordered(metrics: dict, freq: str, horizon: int, specs: dict) -> dict:
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
        "models": {n: {k: models[n][k] for k in CONTRACT_METRICS} for n in order if n in models},
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


def load_or_build_cube(workspace: Workspace, *, freq: str, unit: str) -> xr.Dataset:
    """The stored cube for ``freq``/``unit``, built from the store first if there is none."""
    from sauti.features import compute_features, load_cube

    try:
        return load_cube(workspace, freq=freq, unit=unit)
    except (FileNotFoundError, OSError, KeyError, LookupError) as exc:
        log.info("no stored cube for %s/%s (%s): building it", freq, unit, exc)
    except Exception as exc:  # NotReadyError / NotFoundError from the features layer
        from sauti.errors import SautiError

        if not isinstance(exc, SautiError):
            raise
        log.info("no stored cube for %s/%s (%s): building it", freq, unit, exc)
    return compute_features(workspace, freq=freq, unit=unit)


def run_backtest(
    workspace: Workspace,
    *,
    start,
    end,
    freq: str = "M",
    horizon: int = 1,
    unit: str = "admin2",
    out: str | Path | None = None,
    models=None,
    random_state: int = 0,
    progress: Callable[[int], None] | None = None,
    use_alerts: bool = True,
    bases: str | Path | None = None,
    patrols: int | None = None,
    range_km: float | None = None,
) -> dict:
    """Backtest on the workspace's cube; write the results to ``out`` when given.

    Returns the ``metrics.json`` dict (see docs/models.md). With ``out``, also writes
    ``metrics_detail.json``, ``predictions.csv``, ``report.html`` and, when ``bases`` is given and
    the patrol evaluator exists, ``patrol.json`` (``patrols``/``range_km`` override the bases file's
    own values; ``None`` keeps them).
    """
    cube = load_or_build_cube(workspace, freq=freq, unit=unit)
    result = backtest_cube(
        cube,
        start=start,
        end=end,
        horizon=horizon,
        models=models,
        use_alerts=use_alerts,
        random_state=random_state,
        progress=progress,
    )
    if out is not None:
        write_backtest(result, out)
        localities = _localities_for_map(workspace, unit)
        patrol = None
        if bases is not None:
            patrol = _evaluate_patrols(cube, result, localities, bases, patrols, range_km)
            if patrol is not None:
                (Path(out) / "patrol.json").write_text(
                    json.dumps(patrol, indent=2, default=str), encoding="utf-8"
                )
        from sauti.models.report import write_report

        write_report(result, Path(out) / "report.html", localities=localities, patrol=patrol)
    return result.metrics


def _localities_for_map(workspace: Workspace, unit: str):
    try:
        frame = workspace.localities(level=unit)
    except Exception as exc:  # the map is optional; never fail a backtest on it
        log.warning("no locality geometry for the report map: %s", exc)
        return None
    return frame if len(frame) else None


def _evaluate_patrols(cube, result: BacktestResult, localities, bases, patrols, range_km):
    """Patrol hit rate of the plans (the patrol engineer's evaluator), or None when unavailable."""
    try:
        from sauti.models.patrol.bases import read_bases
        from sauti.models.patrol.evaluate import evaluate_patrol_plans
    except ImportError:
        log.warning("patrol evaluation is not available (sauti.models.patrol.evaluate missing): skipped")
        return None
    from sauti.errors import SautiError

    if localities is None:
        raise SautiError("--bases needs locality geometry for the backtest's unit set; none is stored")
    path = Path(bases)
    if not path.exists():
        raise SautiError(f"--bases {path}: file not found")
    counts = cube[f"count_{TARGET_CATEGORY}"].transpose(LOCALITY_DIM, PERIOD_DIM)
    observed = pd.DataFrame(
        {
            PERIOD: np.tile(pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy()), cube.sizes[LOCALITY_DIM]),
            LOCALITY_ID: np.repeat(cube[LOCALITY_DIM].to_numpy().astype(str), cube.sizes[PERIOD_DIM]),
            "count": counts.to_numpy().ravel(),
        }
    )
    preds = result.predictions.drop(columns="_row")
    return evaluate_patrol_plans(
        preds,
        localities,
        read_bases(path),
        patrols=patrols,
        range_km=range_km,
        incidents_observed=observed[observed["count"] > 0].reset_index(drop=True),
        model=result.metrics["primary"],
        freq=result.metrics["freq"],
        random_state=result.detail["bootstrap"]["seed"],
    )
