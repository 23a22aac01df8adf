"""``sauti ingest boundaries|incidents|alerts|places``: load files into the workspace."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sauti.progress import progress_bar

ingest_app = typer.Typer(
    help="Load boundaries, incident logs and alert reports into the workspace.", no_args_is_help=True
)


def _emit(report, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.summary()))
        return
    typer.echo(
        f"{report.path}: read {report.read}, accepted {report.accepted}, "
        f"rejected {report.rejected}, duplicates {report.duplicates}"
    )
    if report.schema:
        from sauti.ingest.boundary_schemas import describe_schema

        typer.echo(f"  schema: {describe_schema(report.schema)}")
    for note in report.warnings:
        typer.echo(f"  note: {note}", err=True)
    if report.rejected:
        typer.echo(f"  rejects: {report.rejects_file}")


def _line_count(path: Path) -> int | None:
    """Lines of a regular file (for the progress bar); ``None`` for anything else (a device such as
    ``/dev/zero`` or a pipe never ends: ingest refuses it)."""
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as fh:
            return max(sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) - 1, 0)
    except OSError:
        return None


def boundaries(
    path: Path = typer.Argument(
        ..., help="Shapefile, GeoPackage, GeoJSON, TopoJSON… (anything pyogrio reads)."
    ),
    level: str = typer.Option(..., "--level", help="admin0|admin1|admin2|admin3|admin4"),
    id_field: str = typer.Option(
        None,
        "--id-field",
        help="Column with the locality code (default: recognised from the file's schema: "
        "OCHA COD-AB, GADM, geoBoundaries, …).",
    ),
    name_field: str = typer.Option(
        None, "--name-field", help="Column with the name (default: recognised from the file's schema)."
    ),
    layer: str = typer.Option(None, "--layer", help="Layer to read from a multi-layer file."),
    crs: str = typer.Option(
        None,
        "--crs",
        help="CRS of a file that does not declare one (a .shp without .prj), e.g. EPSG:32634.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
) -> None:
    """Store administrative boundaries as localities (parent levels derived by dissolve)."""
    from sauti.cli import current_workspace
    from sauti.ingest.boundaries import ingest_boundaries

    report = ingest_boundaries(
        current_workspace(), path, level, id_field=id_field, name_field=name_field, layer=layer, crs=crs
    )
    _emit(report, as_json)


def incidents(
    path: Path = typer.Argument(
        ..., help="Incident log: ACLED export, UCDP GED (CSV/GeoJSON) or any CSV with --mapping."
    ),
    fmt: str = typer.Option(
        "auto", "--format", help="auto|acled|ucdp-ged|csv (auto detects from the columns)."
    ),
    mapping: Path = typer.Option(None, "--mapping", help="Column-mapping file (YAML/TOML) for --format csv."),
    rules: Path = typer.Option(
        None, "--rules", help="Category rules for UCDP GED (default: the packaged ones)."
    ),
    complete_through: str = typer.Option(
        None,
        "--complete-through",
        metavar="YYYY-MM-DD",
        help="YYYY-MM-DD the log is complete through (default: its latest event); "
        "declares a quiet log current.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
) -> None:
    """Store an incident log; rejected rows go to a rejects file with the reason.

    The forecast period follows the date the incident logs are complete through.
    """
    from sauti.cli import current_workspace
    from sauti.ingest.incidents import ingest_incidents

    with progress_bar(f"ingest {path.name}", _line_count(path)) as advance:
        report = ingest_incidents(
            current_workspace(),
            path,
            fmt,
            mapping,
            rules=rules,
            progress=advance,
            complete_through=complete_through,
        )
    _emit(report, as_json)


def alerts(
    path: Path = typer.Argument(
        ...,
        help='Alerts: CSV (French or English headers), JSON list, {"alerts": [...]}, JSON Lines, '
        'or SMS-gateway records {"from", "text", "received_at"}.',
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
) -> None:
    """Store community alerts: reporters pseudonymised, text scrubbed, places geocoded."""
    from sauti.cli import current_workspace
    from sauti.ingest.alerts import ingest_alerts
    from sauti.settings import get_settings

    with progress_bar(f"ingest {path.name}", _line_count(path)) as advance:
        report = ingest_alerts(current_workspace(), path, timezone=get_settings().timezone, progress=advance)
    _emit(report, as_json)


def responses(
    path: Path = typer.Argument(
        ...,
        help="Patrol reports / responses: CSV or JSON with action, alert_ids (';'-separated), "
        "locality_id, unit, decided_at, dispatched_at, arrived_at, completed_at, outcome, casualties, notes.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
) -> None:
    """Store what the mission did about alerts: every row stored or rejected with its field and reason."""
    from sauti.cli import current_workspace
    from sauti.ingest.responses import ingest_responses
    from sauti.settings import get_settings

    with progress_bar(f"ingest {path.name}", _line_count(path)) as advance:
        report = ingest_responses(
            current_workspace(), path, timezone=get_settings().timezone, progress=advance
        )
    _emit(report, as_json)


def places(
    path: Path = typer.Argument(
        ..., help="Settlements: CSV/JSON with name, latitude, longitude (alt_names optional) or a point file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
) -> None:
    """Add named settlements (villages) to the gazetteer; each goes to the locality containing it."""
    from sauti.cli import current_workspace
    from sauti.ingest.gazetteer import ingest_places

    with progress_bar(f"ingest {path.name}", _line_count(path)) as advance:
        report = ingest_places(current_workspace(), path, progress=advance)
    _emit(report, as_json)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    ingest_app.command("boundaries")(boundaries)
    ingest_app.command("incidents")(incidents)
    ingest_app.command("alerts")(alerts)
    ingest_app.command("places")(places)
    ingest_app.command("responses")(responses)
    app.add_typer(ingest_app, name="ingest")
