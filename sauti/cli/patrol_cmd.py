"""``sauti patrol``: patrol priorities for force planners, printed as a table and written as GeoJSON/CSV."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sauti.constants import LOCALITY_ID
from sauti.errors import SautiError, reader_problem


def register(app: typer.Typer) -> None:
    """Add ``sauti patrol`` and ``sauti patrol-eval`` to the root app."""
    app.command("patrol")(patrol)
    app.command("patrol-eval")(patrol_eval)


def patrol(
    bases: Path = typer.Option(
        None,
        "--bases",
        help="Bases file (GeoJSON or CSV: name, location, patrols, range_km). Default: the bases stored "
        "in the workspace.",
    ),
    patrols: int = typer.Option(None, "--patrols", min=0, help="Patrols per period for every base."),
    range_km: float = typer.Option(None, "--range-km", help="Range in km for every base."),
    out: Path = typer.Option(None, "--out", help="Write the plan as GeoJSON (bases, targets, routes)."),
    csv: Path = typer.Option(None, "--csv", help="Write the ranked list per base as CSV."),
    method: str = typer.Option(
        "auto", "--method", help="auto | exact (HiGHS MILP) | greedy.", case_sensitive=False
    ),
    time_limit: float = typer.Option(10.0, "--time-limit", help="Time limit for the exact solver (s)."),
    no_go: Path = typer.Option(None, "--no-go", help="Polygons patrols must not target or cross."),
    population_weight: bool = typer.Option(
        False, "--population-weight", help="Weight risk by locality population (from the feature cube)."
    ),
    polygons: bool = typer.Option(False, "--polygons", help="Targets as locality polygons in --out."),
    png: Path = typer.Option(None, "--png", help="Draw the plan as a PNG map (risk, ranges, routes)."),
    save_bases: bool = typer.Option(
        False, "--save-bases", help="Store --bases in the workspace (the API plans from them)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Choose patrol targets that cover the most risk of intercommunal violence."""
    from sauti.cli import current_workspace, warn_if_stale
    from sauti.models.patrol import plan_from_workspace, read_bases
    from sauti.models.patrol import save_bases as store_bases

    workspace = current_workspace()
    base_frame = read_bases(bases) if bases is not None else None
    if save_bases:
        if base_frame is None:
            raise SautiError("--save-bases needs --bases FILE")
        n = store_bases(workspace, base_frame, source=str(bases))
        typer.echo(f"stored {n} bases in {workspace.root}", err=True)
    no_go_frame = _read_no_go(no_go) if no_go is not None else None
    weight = "population" if population_weight else None
    plan = plan_from_workspace(
        workspace,
        patrols=patrols,
        range_km=range_km,
        bases=base_frame,
        method=method.lower(),
        time_limit_s=time_limit,
        weight=weight,
        no_go=no_go_frame,
    )
    if out is not None:
        out.write_text(
            json.dumps(plan.to_geojson("polygon" if polygons else "point"), ensure_ascii=False),
            encoding="utf-8",
        )
    if csv is not None:
        plan.to_csv(csv)
    if png is not None:
        from sauti.models.patrol.plot import plan_figure

        plan_figure(plan).savefig(png)
    summary = plan.summary()
    warn_if_stale(workspace)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _print(plan, summary)
    if out is not None and not as_json:
        typer.echo(f"plan written to {out}")


def _read_no_go(path: Path):
    import pyogrio

    if not path.exists():
        raise SautiError(f"{path}: no-go file not found")
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:
        raise SautiError(f"{path}: cannot read no-go areas ({reader_problem(exc)})") from exc
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    kinds = set(frame.geometry.geom_type.dropna())
    if not kinds or kinds - {"Polygon", "MultiPolygon"}:
        raise SautiError(f"{path}: no-go areas must be polygons (found {', '.join(sorted(kinds)) or 'none'})")
    return frame


def _print(plan, summary: dict) -> None:
    from rich.console import Console

    console = Console()
    console = Console(width=max(console.width, 150))
    if len(plan.assignments):
        console.print(_priority_table(plan, summary))
    console.print(_forecast_line(summary))
    gap = "n/a" if summary["gap"] is None else f"{summary['gap']:.2%}"
    console.print(
        f"{summary['headline']}; {summary['patrols_used']} of {summary['patrols_available']} patrols placed; "
        f"plan {summary['status']} ({summary['method']}), gap {gap}"
    )
    for warning in summary["warnings"]:
        console.print(f"[bold yellow]Warning:[/] {warning}", soft_wrap=True, highlight=False)
    console.print(summary["explanation"], soft_wrap=True, highlight=False)


def _forecast_line(summary: dict) -> str:
    """``Forecast for January 2023 (data through December 2022 period; model m2026…)``."""
    window = summary.get("forecast_period")
    version = summary.get("model_version")
    served = summary.get("model") or "model"
    model = f"{served}, version {version}" if version else "model unknown"
    if window:
        return f"Forecast for {window['label']} ({window['start']} to {window['end']}; {model})"
    scored = summary.get("period")
    return f"Forecast made from the period starting {scored} ({model})" if scored else f"Forecast ({model})"


def _priority_table(plan, summary: dict):
    from rich.table import Table

    from sauti.features.glossary import percent

    table = Table(title="Patrol priorities", show_lines=False)
    columns = [("Base", "left"), ("#", "right"), ("Locality", "left"), ("Risk", "right")]
    if summary["weighted"]:
        columns.append(("Weight", "right"))
    columns += [("km", "right"), ("Top drivers (see --csv for contributions)", "left")]
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for row in plan.assignments.itertuples(index=False):
        cells = [row.base, str(row.rank), row.name, percent(row.risk)]  # as the map prints it
        if summary["weighted"]:
            cells.append(f"{row.weight:,.0f}")
        cells += [f"{row.distance_km:.0f}", ", ".join(d.rsplit(" (", 1)[0] for d in row.drivers)]
        table.add_row(*cells)
    return table


def patrol_eval(
    predictions: Path = typer.Option(..., "--predictions", help="predictions.csv written by the backtest."),
    bases: Path = typer.Option(..., "--bases", help="Bases file (GeoJSON or CSV)."),
    patrols: int = typer.Option(None, "--patrols", min=0, help="Patrols per period for every base."),
    range_km: float = typer.Option(None, "--range-km", help="Range in km for every base."),
    unit: str = typer.Option("admin2", "--unit", help="Unit set the backtest ran on."),
    freq: str = typer.Option("M", "--freq", help="Period length of the backtest (M or W)."),
    model: str = typer.Option("sauti", "--model", help="Model whose probabilities the optimised plan uses."),
    out: Path = typer.Option(None, "--out", help="Write the result as JSON."),
    png: Path = typer.Option(None, "--png", help="Draw the hit rates as a PNG bar chart."),
) -> None:
    """Patrol hit rate of optimised plans against closest-to-base and last-incidents plans."""
    import pandas as pd

    from sauti.cli import current_workspace
    from sauti.features import load_cube, unit_localities
    from sauti.models.patrol import read_bases
    from sauti.models.patrol.evaluate import PLANS, evaluate_patrol_plans, hit_rate_figure, observed_counts

    if not predictions.exists():
        raise SautiError(f"{predictions}: predictions file not found (run `sauti backtest --out DIR` first)")
    workspace = current_workspace()
    frame = pd.read_csv(predictions, dtype={LOCALITY_ID: str})
    result = evaluate_patrol_plans(
        frame,
        unit_localities(workspace, unit),
        read_bases(bases),
        patrols=patrols,
        range_km=range_km,
        incidents_observed=observed_counts(load_cube(workspace, freq=freq, unit=unit)),
        model=model,
        freq=freq,
    )
    if out is not None:
        out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    if png is not None:
        hit_rate_figure(result).savefig(png)
    for plan in PLANS:
        entry = result[plan]
        rate, ci = entry["patrol_hit_rate"], entry["ci"]
        shown = "n/a" if rate is None else f"{rate:.1%}"
        interval = "" if not ci else f"  [{ci[0]:.1%}, {ci[1]:.1%}]"
        label = result["labels"][plan]
        typer.echo(f"{label:26s} {shown:>7s}{interval}  ({entry['incidents_covered']:.0f} incidents covered)")
    typer.echo(f"{result['n_incidents']:.0f} incidents over {result['n_origins']} origins")
