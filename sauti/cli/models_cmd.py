"""``sauti backtest``, ``sauti train`` and ``sauti score``: the risk model from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sauti.cli.features_cmd import SCHEDULER_OPTION, on_scheduler
from sauti.constants import LOCALITY_ID

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sauti.store import Workspace


ROW_BUDGET_OPTION = typer.Option(
    None,
    "--row-budget",
    min=1,
    show_default=False,
    help="Labelled rows a training panel holds in memory at most (default 1,000,000: "
    "sauti.models.panel.ROW_BUDGET); over it every positive and a weighted sample of the negatives "
    "are kept (the rate chosen on validation, lowered if the budget needs it; the model card says so).",
)


def _budget(row_budget: int | None) -> dict:
    """``{"row_budget": N}`` when ``--row-budget`` is given, else nothing (the default budget)."""
    return {} if row_budget is None else {"row_budget": row_budget}


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command(
        "backtest",
        help=(
            "Rolling-origin backtest of the Sauti model against the baselines; writes DIR/metrics.json, "
            "metrics_detail.json, predictions.csv and report.html.\n\n"
            f"Baselines — {_baseline_help()}.\n\nMetrics — {_metric_help()}."
        ),
    )(on_scheduler(backtest))
    app.command("train")(on_scheduler(train_cmd))
    app.command("score")(on_scheduler(score_cmd))


def _baseline_help() -> str:
    from sauti.models.baselines import BASELINES

    return "; ".join(f"{name}: {spec.description}" for name, spec in BASELINES.items())


def _metric_help() -> str:
    from sauti.models.metrics import METRICS

    return "; ".join(f"{name}: {spec.description}" for name, spec in METRICS.items())


def _origin(value: str, freq: str, option: str) -> str:
    """A backtest origin in the form of its frequency, as the backtest reads it (``YYYY-MM`` for
    months, the week's Monday ``YYYY-MM-DD`` for weeks); the error names the form expected."""
    from sauti.features.periods import parse_period

    try:
        period = parse_period(value, freq)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
    return f"{period:%Y-%m}" if freq == "M" else f"{period:%Y-%m-%d}"


def _freq(value: str) -> str:
    from sauti.features.periods import check_freq

    try:
        return check_freq(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--freq") from None


def pd_periods(start: str, end: str, freq: str) -> pd.DatetimeIndex:
    """The periods from ``start`` to ``end`` (for the progress bar's total; empty when reversed)."""
    import pandas as pd

    from sauti.features.periods import period_range

    try:
        return period_range(start, end, freq)
    except ValueError:
        return pd.DatetimeIndex([])  # the backtest names the problem


def backtest(
    start: str = typer.Option(
        ..., "--start", help="First origin: YYYY-MM (monthly); YYYY-MM-DD or ISO week YYYY-Www (weekly)."
    ),
    end: str = typer.Option(..., "--end", help="Last origin, in the same form as --start."),
    freq: str = typer.Option("M", "--freq", help="Period: M (month) or W (week)."),
    horizon: int = typer.Option(
        1, "--horizon", min=1, help="Target window: incident within the next N periods."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    unit: str = typer.Option("admin2", "--unit", help="Unit set of the cube: admin2, admin3, grid:10km…"),
    models: str = typer.Option(
        None, "--models", help="Comma-separated subset: sauti and baseline names (default: all)."
    ),
    no_alerts: bool = typer.Option(False, "--no-alerts", help="Leave alert-derived features out."),
    include_synthetic_alerts: bool = typer.Option(
        False,
        "--include-synthetic-alerts",
        help="Also learn from alerts of files marked synthetic (left out by default: they inflate skill).",
    ),
    bases: Path = typer.Option(None, "--bases", help="Bases file (GeoJSON/CSV) to evaluate patrol plans."),
    patrols: int = typer.Option(
        None, "--patrols", min=0, help="Patrols per base per period (default: the bases file's)."
    ),
    range_km: float = typer.Option(
        None, "--range-km", min=0.0, help="Patrol range in km (default: the bases file's)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (model and bootstrap)."),
    row_budget: int | None = ROW_BUDGET_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json on stdout."),
    scheduler: str = SCHEDULER_OPTION,
) -> None:
    from sauti.cli import current_workspace
    from sauti.cli.features_cmd import resolve_cube_inputs
    from sauti.progress import progress_bar

    freq = _freq(freq)
    first, last = _origin(start, freq, "--start"), _origin(end, freq, "--end")
    n = len(pd_periods(first, last, freq)) or None
    options = {
        "start": first,
        "end": last,
        "freq": freq,
        "horizon": horizon,
        "unit": unit,
        "models": [m.strip() for m in models.split(",") if m.strip()] if models else None,
        "random_state": seed,
        "use_alerts": not no_alerts,
        "include_synthetic_alerts": include_synthetic_alerts,
        **_budget(row_budget),
    }
    workspace = current_workspace()
    options["inputs"] = resolve_cube_inputs(workspace)
    _warn_if_empty(workspace, options)
    with progress_bar(f"backtest h={horizon}", n) as advance:
        if bases is not None:
            from sauti.cli.pipeline import backtest_with_patrols

            metrics = backtest_with_patrols(
                workspace,
                out=out,
                bases=bases,
                patrols=patrols,
                range_km=range_km,
                progress=advance,
                **options,
            )
        else:
            from sauti.models.backtest import run_backtest

            metrics = run_backtest(workspace, out=out, progress=advance, **options)
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    _print_metrics(metrics, out)


def _warn_if_empty(workspace: Workspace, options: dict) -> None:
    """Say at the start when the backtest's window holds no observed incident (metrics undefined)."""
    from sauti.features import load_or_build_cube
    from sauti.models.backtest import window_positives

    key = {k: options[k] for k in ("freq", "unit", "inputs")}
    cube = load_or_build_cube(workspace, **key, variables=["count_intercommunal"])
    try:
        positives = window_positives(cube, options["start"], options["end"], options["horizon"])
    except ValueError:
        return  # the backtest itself names the problem
    if positives == 0:
        typer.echo(
            f"note: no locality has an intercommunal incident in any target window from {options['start']} "
            f"to {options['end']}; every ranking and skill metric will be undefined",
            err=True,
        )


def _print_metrics(metrics: dict, out: Path) -> None:
    from sauti.models.result import format_value

    typer.echo(
        f"{metrics['n_forecasts']} forecasts, positive rate {format_value(metrics['positive_rate'], 4)}; "
        f"results in {out}/metrics.json and {out}/report.html"
    )
    keys = ("average_precision", "roc_auc", "brier", "brier_skill", "hit_rate_top10", "pai_top10", "log_loss")
    typer.echo(
        f"{'model':<24}"
        + "".join(f"{h:>10}" for h in ("AP", "AUC", "Brier", "BSS", "hit10", "PAI10", "logloss"))
    )
    for name, v in metrics["models"].items():
        typer.echo(f"{name:<24}" + "".join(f"{format_value(v.get(k)):>10}" for k in keys))


def train_cmd(
    model: str = typer.Option(
        "sauti",
        "--model",
        metavar="NAME",
        help="sauti (default), a baseline rule by name (e.g. neighbourhood), or package.module:factory "
        "returning a scikit-learn classifier.",
    ),
    trust: list[str] = typer.Option(
        None,
        "--trust",
        metavar="TYPE",
        help="A type the artifact of a module:factory model may hold (repeatable), e.g. "
        "sklearn.ensemble._forest.RandomForestClassifier. Nothing else is ever loaded.",
    ),
    freq: str = typer.Option("M", "--freq", help="Period: M or W."),
    unit: str = typer.Option("admin2", "--unit", help="Unit set of the cube."),
    horizon: int = typer.Option(1, "--horizon", min=1, help="Target window in periods."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    no_alerts: bool = typer.Option(False, "--no-alerts", help="Leave alert-derived features out."),
    include_synthetic_alerts: bool = typer.Option(
        False, "--include-synthetic-alerts", help="Also learn from alerts of files marked synthetic."
    ),
    row_budget: int | None = ROW_BUDGET_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the model record as JSON."),
    scheduler: str = SCHEDULER_OPTION,
) -> None:
    """Fit a model on all labelled data and save it (skops) as the current model."""
    from sauti.cli import current_workspace
    from sauti.cli.features_cmd import resolve_cube_inputs
    from sauti.models import train
    from sauti.models.stored_scores import model_summary
    from sauti.progress import progress_bar

    workspace = current_workspace()
    with progress_bar("train", 3) as advance:
        record = train(
            workspace,
            inputs=resolve_cube_inputs(workspace),
            freq=freq.upper(),
            unit=unit,
            horizon=horizon,
            random_state=seed,
            progress=advance,
            use_alerts=not no_alerts,
            include_synthetic_alerts=include_synthetic_alerts,
            model=model,
            trusted_types=tuple(trust or ()),
            **_budget(row_budget),
        )
    summary = model_summary(record)
    _echo_sampling(summary["training"].get("negative_sampling") or {})  # on stderr: --json stays JSON
    if as_json:
        typer.echo(json.dumps(summary, default=str))
        return
    from sauti.models.catalog import model_label

    t = summary["training"]
    typer.echo(
        f"model {summary['version']} ({model_label(summary['estimator'])}), data {summary['data_snapshot']}: "
        f"{t['rows']} rows, {t['positives']} positives, {t['first_period']} to {t['last_period']}; "
        f"alerts: {t.get('alerts', {}).get('reason', 'n/a')}"
    )


def _echo_sampling(sampling: dict) -> None:
    """Say when the row budget forced fewer negatives than the rate chosen on validation."""
    if sampling.get("below_validated_rate"):
        typer.echo(
            f"note: {sampling['rows_labelled']:,} labelled rows over the row budget of "
            f"{sampling['row_budget']:,}: kept {sampling['rate']:.4f} of the negatives, below the "
            f"validated rate {sampling['validated_rate']:g} (a larger --row-budget keeps more)",
            err=True,
        )


def score_cmd(
    freq: str = typer.Option(None, "--freq", help="Period of the model to use (default: the latest model)."),
    unit: str = typer.Option(None, "--unit", help="Unit set of the model to use."),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Rebuild the feature cube from the store first (as the service does)."
    ),
    top: int = typer.Option(10, "--top", min=1, help="Rows to print."),
    as_json: bool = typer.Option(False, "--json", help="Print all scores as JSON."),
    scheduler: str = SCHEDULER_OPTION,
) -> None:
    """Score the latest period with the current model and store risk, rank, change and drivers.

    Then redraws the stored heatmap with the new scores (one refresh, as after new alerts).
    """
    from sauti.cli import current_workspace, warn_if_stale
    from sauti.cli.features_cmd import resolve_cube_inputs
    from sauti.features import load_or_build_cube
    from sauti.models import current_model, latest_scores
    from sauti.models.refresh import refresh_risk
    from sauti.settings import get_settings

    ws = current_workspace()
    record = current_model(ws, freq.upper() if freq else None, unit)
    if record is None:
        from sauti.errors import NotReadyError

        raise NotReadyError("no trained model for this workspace: run `sauti train` first")
    key = {"freq": record["freq"], "unit": record["unit"]}
    # lazily: scoring reads only the variables the model uses and the periods it scores
    cube = None if rebuild else load_or_build_cube(ws, **key, inputs=resolve_cube_inputs(ws), lazy=True)
    refresh_risk(ws, **key, cube=cube, timezone=get_settings().timezone if rebuild else None)
    frame = latest_scores(ws, **key, limit=None if as_json else top)  # a continent: parse only those shown
    warn_if_stale(ws)
    if as_json:
        out = frame.assign(period=frame["period"].dt.strftime("%Y-%m-%d"))
        typer.echo(out.to_json(orient="records", force_ascii=False))
        return
    _echo_scores(ws, frame, record, top)


def _echo_scores(ws: Workspace, frame, record: dict, top: int) -> None:
    """The scores for a person: names, risk in %, change in percentage points, drivers in words."""
    from sauti.features.glossary import percent, points

    if frame.empty:
        typer.echo("no localities scored")
        return
    names = locality_names(ws, record["unit"])
    first = frame.iloc[0]
    from sauti.models.catalog import model_label

    typer.echo(
        f"risk of at least one intercommunal incident in the period after {first['period']:%B %Y}; "
        f"served model: {model_label(record['estimator'])}, version {first['model_version']}"
    )
    typer.echo(f"{'rank':>4}  {'locality':<24}{'risk':>7}{'change':>11}  main driver")
    for row in frame.head(top).itertuples():
        driver = (row.drivers[0].get("text") or row.drivers[0]["label"]) if row.drivers else "–"
        name = names.get(row.locality_id, row.locality_id)[:23]
        risk, change = percent(row.probability), points(row.change)
        typer.echo(f"{row.rank:>4}  {name:<24}{risk:>7}{change:>11}  {driver}")


def locality_names(ws: Workspace, unit: str) -> dict[str, str]:
    """``locality_id -> name`` of the unit set (tables show names, not codes)."""
    from sauti.features.units import unit_localities

    units = unit_localities(ws, unit)
    return dict(zip(units[LOCALITY_ID].astype(str), units["name"].astype(str), strict=True))
