"""``sauti status``: what the workspace holds, the model and period it serves, how current its data is."""

from __future__ import annotations

import json

import typer

from sauti.constants import TARGET_CATEGORY


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What the workspace holds (localities, incidents, alerts, runs), its model, scored period and heatmap.

    Warns (on stderr) when the incident data is older than ``SAUTI_STALE_AFTER_DAYS`` (default 45),
    and when the forecast target has been silent longer than 95 in 100 of its past gaps.
    """
    from sauti.cli import current_workspace
    from sauti.models.status import risk_status
    from sauti.settings import get_settings

    ws = current_workspace()
    info = ws.status()
    info["risk"] = risk_status(ws, stale_after_days=get_settings().stale_after_days)
    if as_json:
        typer.echo(json.dumps(info, default=str))
        return
    typer.echo(f"workspace      {info['workspace']} (schema v{info['schema_version']})")
    typer.echo(f"store          {info['store']}")
    levels = ", ".join(f"{k}: {v}" for k, v in info["localities"].items()) or "none"
    typer.echo(f"localities     {levels}")
    dates = " to ".join(str(d) for d in info["incident_dates"] if d) or "-"
    typer.echo(f"incidents      {info['incidents']} ({dates})")
    for cat, n in sorted(info["incidents_by_category"].items()):
        typer.echo(f"  {cat.replace('_', ' '):<26} {n}")
    typer.echo(f"alerts         {info['alerts']}")
    typer.echo(f"place names    {info['place_names']}")
    typer.echo(f"ingest runs    {info['ingest_runs']}")
    _echo_risk(info["risk"])
    for extra in info.get("derived", []):
        typer.echo(extra)


def _echo_risk(risk: dict) -> None:
    model = risk["model"]
    if model is None:
        typer.echo("model          none (run `sauti train`)")
    else:
        where = f"{model['unit']}, {'monthly' if model['freq'] == 'M' else 'weekly'}"
        typer.echo(f"model          {model['label']}, version {model['version']} ({where})")
    scored = risk["scored_period"]
    if scored is None:
        typer.echo("scored period  none (run `sauti score`)")
    else:
        typer.echo(f"scored period  {scored} (data to its end; forecast for {risk['forecast']['label']})")
    heatmap = risk["heatmap"]
    typer.echo(f"heatmap        {heatmap['path'] if heatmap else 'none (run `sauti heatmap`)'}")
    through = risk["data_through"]
    typer.echo(
        f"data through   incidents {through['incidents'] or 'none'}, alerts {through['alerts'] or 'none'}"
    )
    for k, (category, day) in enumerate(risk["last_events"].items()):  # the forecast target first
        target = " (the forecast target)" if category == TARGET_CATEGORY else ""
        typer.echo(f"{'' if k else 'latest event':<15}{category.replace('_', ' ')} {day}{target}")
    for warning in risk["warnings"]:
        typer.echo(f"warning: {warning}", err=True)


def register(app: typer.Typer) -> None:
    """Wire ``sauti status``."""
    app.command("status")(status)
