"""``sauti serve``, ``sauti users add|list|revoke`` and ``sauti demo`` (sample end to end, then serve)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sauti.cli.pipeline import SAMPLE, build_demo
from sauti.constants import LOCALITY_ID
from sauti.errors import SautiError

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

users_app = typer.Typer(help="API users and their keys (stored hashed).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("serve")(serve)
    app.command("demo")(demo)
    users_app.command("add")(users_add)
    users_app.command("list")(users_list)
    users_app.command("revoke")(users_revoke)
    app.add_typer(users_app, name="users")


def serve(
    host: str = typer.Option(None, "--host", help="Interface to listen on (default: settings, 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default: settings, 8000)."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Worker processes (several need the PostgreSQL store: SQLite has one writer at a time).",
    ),
) -> None:
    """Serve the API, OGC API Features, heatmap tiles and the map for the workspace (uvicorn)."""
    import os

    import uvicorn

    from sauti.api.server import uvicorn_options
    from sauti.cli import current_workspace
    from sauti.settings import get_settings

    settings = get_settings()
    workspace = current_workspace()
    if not workspace.exists:
        raise SautiError(
            f"workspace {workspace.root} has no store: run `sauti demo --no-serve` or ingest first"
        )
    if workers > 1 and workspace.backend != "postgresql":
        raise SautiError(
            "--workers above 1 needs the PostgreSQL store (--database postgresql://…): "
            "a SQLite store has one writer at a time"
        )
    os.environ["SAUTI_WORKSPACE"] = str(workspace.root)
    os.environ["SAUTI_DATABASE_URL"] = workspace.database_url  # the worker processes read it
    get_settings.cache_clear()
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"Sauti on http://{host}:{port}/map?key=<your key>  (API: /api/v1, OGC: /ogc)", err=True)
    uvicorn.run(
        "sauti.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        workers=workers,
        **uvicorn_options(settings, workers),
    )


def users_add(
    name: str = typer.Argument(..., help="User name (unique)."),
    role: str = typer.Option(..., "--role", help="reporter | planner | analyst | admin"),
    as_json: bool = typer.Option(False, "--json", help="Print {name, role, key} as JSON."),
) -> None:
    """Create an API user and print its key ONCE (only its hash is stored)."""
    from sauti.api.services.accounts import add_user
    from sauti.cli import current_workspace

    user, key = add_user(current_workspace(), name, role)
    if as_json:
        typer.echo(json.dumps({"name": user["name"], "role": user["role"], "key": key}))
        return
    typer.echo(key)
    typer.echo(
        f"created {user['role']} {user['name']!r}: the key above is shown once, keep it safe", err=True
    )


def users_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List API users (name, role, key prefix, created, state); never keys."""
    from sauti.api.services.accounts import list_users
    from sauti.cli import current_workspace

    users = list_users(current_workspace())
    if as_json:
        typer.echo(json.dumps(users))
        return
    row = "{:<20} {:<9} {:<10} {:<20}  {}"
    typer.echo(row.format("NAME", "ROLE", "KEY", "CREATED", "STATE"))
    for user in users:
        state = f"revoked {user['disabled_at']}" if user["disabled_at"] else "active"
        typer.echo(
            row.format(user["name"], user["role"], user["key_prefix"] + "…", user["created_at"], state)
        )


def users_revoke(name: str = typer.Argument(..., help="The user whose key is revoked.")) -> None:
    """Revoke a user's key and map sessions (a running service refuses them within ~2 s); audited."""
    import getpass

    from sauti.api.services.accounts import revoke_user
    from sauti.cli import current_workspace

    try:
        operator = getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        operator = "unknown"
    user = revoke_user(
        current_workspace(), name, by=f"cli:{operator}", by_role="admin", resource=f"users/{name}", via="cli"
    )
    typer.echo(
        f"revoked {user['role']} {user['name']!r} (key {user['key_prefix']}…) at {user['disabled_at']}"
    )


def demo(
    no_serve: bool = typer.Option(False, "--no-serve", help="Build the demo workspace, do not serve."),
    sample: Path = typer.Option(SAMPLE, "--sample", help="Sample folder (default: data/sample)."),
    force: bool = typer.Option(False, "--force", help="Redo training, scoring and heatmap even if present."),
    host: str = typer.Option(None, "--host"),
    port: int = typer.Option(None, "--port"),
) -> None:
    """Ingest the sample, build features, train, score, draw the heatmap, plan patrols, then serve.

    Idempotent: ingest adds nothing the second time; training, scoring and the heatmap are skipped
    when the workspace already has them (``--force`` redoes them).
    """
    from sauti.cli import current_workspace

    workspace = current_workspace()
    build_demo(workspace, sample, force=force, echo=lambda m: typer.echo(m, err=True))
    _print_top_localities(workspace)
    if not no_serve:
        serve(host=host, port=port)


def _print_top_localities(workspace: Workspace, n: int = 5) -> None:
    """The few localities an analyst would look at first, and where to go next."""
    from sauti.features.glossary import percent
    from sauti.models import latest_scores

    scores = latest_scores(workspace).nsmallest(n, "rank")
    names = workspace.localities().set_index(LOCALITY_ID)["name"]
    period = f"{scores['period'].iloc[0]:%B %Y}" if len(scores) else "-"
    typer.echo(f"highest risk of intercommunal violence in the period after {period}:")
    for row in scores.itertuples():
        drivers = "; ".join(d["label"] for d in (row.drivers or [])[:2])
        name = names.get(row.locality_id, row.locality_id)
        typer.echo(f"  {row.rank:>2}. {name:<24} {percent(row.probability):>6}  (main drivers: {drivers})")
    typer.echo(f"workspace: {workspace.root}  — next: sauti users add me --role analyst; sauti serve")
