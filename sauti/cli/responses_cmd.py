"""``sauti responses report``: the early-response report (alerts answered, how fast, where, and after)."""

from __future__ import annotations

from pathlib import Path

import typer

responses_app = typer.Typer(
    help="What the mission did about alerts: the early-response report.", no_args_is_help=True
)


def report(
    out: Path = typer.Option(..., "--out", help="HTML file to write (self-contained, opens offline)."),
    start: str = typer.Option(
        None, "--start", metavar="YYYY-MM-DD", help="First day (default: first response)."
    ),
    end: str = typer.Option(None, "--end", metavar="YYYY-MM-DD", help="Last day (default: last response)."),
    plan: Path = typer.Option(
        None,
        "--plan",
        help="Patrol plan GeoJSON (`sauti patrol --out`) to check adherence against "
        "(default: the plan of the stored bases and latest scores).",
    ),
) -> None:
    """Write the early-response report: alerts answered, times to dispatch and arrival, a map of
    responses over risk, top-risk coverage, plan adherence, incidents after responses."""
    from sauti.cli import current_workspace
    from sauti.models.responses import response_report, workspace_plan, write_response_report

    workspace = current_workspace()
    for name, value in (("--start", start), ("--end", end)):
        if value is not None:
            try:
                __import__("datetime").date.fromisoformat(value)
            except ValueError:
                raise typer.BadParameter("not a date: use YYYY-MM-DD", param_hint=name) from None
    numbers = response_report(workspace, start=start, end=end, plan=workspace_plan(workspace, plan))
    path = write_response_report(numbers, out)
    s = numbers["summary"]
    typer.echo(
        f"{path}: {s['alerts']} alerts from {numbers['start']} to {numbers['end']}, "
        f"{s['alerts_with_response']} with a response"
    )


def skill(
    start: str = typer.Option(..., "--start", metavar="YYYY-MM", help="First backtest origin."),
    end: str = typer.Option(..., "--end", metavar="YYYY-MM", help="Last backtest origin."),
    horizon: int = typer.Option(1, "--horizon", min=1, help="Forecast horizon in periods."),
    include_synthetic: bool = typer.Option(
        False, "--include-synthetic", help="Let made-up (sample) responses in: to try the machinery only."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Backtest skill of the Sauti model without and with the recorded responses as features."""
    import json

    from sauti.cli import current_workspace
    from sauti.models.responses import response_skill

    result = response_skill(
        current_workspace(), start=start, end=end, horizon=horizon, include_synthetic=include_synthetic
    )
    if as_json:
        typer.echo(json.dumps(result, default=str))
        return
    typer.echo(
        f"responses used: {result['responses_used']}" + (" (synthetic included)" if include_synthetic else "")
    )
    for key in ("without", "with"):
        m = result[key]
        typer.echo(
            f"{key:>7} responses: average precision {m.get('average_precision')}, "
            f"Brier skill {m.get('brier_skill')}, hit rate top 10% {m.get('hit_rate_top10')}"
        )


def register(app: typer.Typer) -> None:
    """Add ``sauti responses`` to the root app."""
    responses_app.command("report")(report)
    responses_app.command("skill")(skill)
    app.add_typer(responses_app, name="responses")
