"""The ``sauti`` command: one CLI that drives every step (ingest, features, models, service).

Each area registers its commands from its own module; domain errors become one line on stderr
and a non-zero exit, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sauti.errors import SautiError

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

app = typer.Typer(
    name="sauti",
    help="Sauti: early-warning analytics for intercommunal violence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: typer's rich panels print a "<bool>" placeholder beside every flag
    rich_markup_mode=None,
)

_state: dict[str, object] = {"workspace": None, "database": None, "debug": False}


@app.callback()
def _root(
    workspace: Path = typer.Option(
        None,
        "--workspace",
        "-w",
        envvar="SAUTI_WORKSPACE",
        help="Workspace folder (default: ./workspace, or $SAUTI_WORKSPACE).",
    ),
    database: str = typer.Option(
        None,
        "--database",
        envvar="SAUTI_DATABASE_URL",
        help="The store: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/NAME "
        "(default: sauti.sqlite in the workspace, or $SAUTI_DATABASE_URL).",
        show_default=False,
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """Sauti: early-warning analytics for intercommunal violence."""
    from sauti.settings import get_settings

    _state["workspace"] = workspace or get_settings().workspace
    _state["database"] = database or get_settings().database_url
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def current_workspace() -> Workspace:
    """The workspace chosen by ``--workspace``/``SAUTI_WORKSPACE`` with the store chosen by
    ``--database``/``SAUTI_DATABASE_URL``."""
    from sauti.store import Workspace

    return Workspace(_state["workspace"] or "workspace", _state["database"])


def warn_if_stale(workspace: Workspace) -> None:
    """The data-currency warnings of ``sauti status``, /health and the map, on stderr (for commands
    that print a forecast: ``score``, ``patrol``): old incident data, a silent forecast target."""
    from sauti.ingest.currency import currency_warning, data_through, target_silence
    from sauti.settings import get_settings

    through = data_through(workspace)
    silence = target_silence(workspace, through)
    warnings = (
        currency_warning(through, stale_after_days=get_settings().stale_after_days),
        silence["warning"] if silence else None,
    )
    for warning in filter(None, warnings):
        typer.echo(f"warning: {warning}", err=True)


def _register() -> None:
    from sauti.cli import (
        db_cmd,
        export_cmd,
        features_cmd,
        ingest_cmd,
        models_cmd,
        patrol_cmd,
        responses_cmd,
        serve_cmd,
        status_cmd,
    )

    modules = (
        ingest_cmd,
        status_cmd,
        features_cmd,
        models_cmd,
        patrol_cmd,
        serve_cmd,
        export_cmd,
        responses_cmd,
        db_cmd,
    )
    for module in modules:
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning domain errors into one line and exit code 2."""
    try:
        app(args=argv, prog_name="sauti")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (SautiError, ValueError, FileNotFoundError) as exc:
        if _state.get("debug"):
            raise
        typer.echo(f"error: {exc}", err=True)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
