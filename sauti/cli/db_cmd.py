"""``sauti db status|upgrade|copy|backup|restore|gis-role``: the store as a whole."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sauti.errors import SautiError

db_app = typer.Typer(
    help="The store: back-end, migrations, copies, backups, GIS access.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    db_app.command("status")(status)
    db_app.command("upgrade")(upgrade)
    db_app.command("copy")(copy)
    db_app.command("backup")(backup)
    db_app.command("restore")(restore)
    db_app.command("gis-role")(gis_role)
    app.add_typer(db_app, name="db")


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The store's back-end (sqlite or postgresql), its revision and the migrations not yet applied."""
    from sauti.cli import current_workspace
    from sauti.store_admin import store_status

    info = store_status(current_workspace())
    if as_json:
        typer.echo(json.dumps(info))
        return
    typer.echo(f"back-end   {info['backend']}  ({info['url']})")
    typer.echo(f"revision   {info['revision'] if info['revision'] is not None else 'none (empty store)'}")
    typer.echo(f"pending    {', '.join(info['pending']) or 'none'}")


def upgrade() -> None:
    """Apply the migrations the store has not had yet (a store is also upgraded when first opened)."""
    from sauti.cli import current_workspace
    from sauti.store_admin import upgrade as run_upgrade

    applied = run_upgrade(current_workspace())
    typer.echo(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")


def copy(
    source: str = typer.Option(..., "--from", help="Store to copy from (sqlite:///PATH or postgresql://…)."),
    target: str = typer.Option(..., "--to", help="Empty store to copy into."),
    to_workspace: Path = typer.Option(
        None,
        "--to-workspace",
        help="Workspace folder the target store is used with: the secret that keys reporter "
        "pseudonyms is copied there (default: this workspace, which keeps its secret).",
    ),
) -> None:
    """Copy a whole store to another back-end (SQLite → PostgreSQL when a mission grows, back for an
    offline laptop); prints the rows per table in both, which must be equal."""
    from sauti.cli import current_workspace
    from sauti.store import Workspace
    from sauti.store_admin import copy_store

    here = current_workspace()
    counts = copy_store(
        Workspace(here.root, source),
        Workspace(to_workspace or here.root, target),
        secret_to=to_workspace,
    )
    width = max(len(t) for t in counts)
    typer.echo(f"{'table':<{width}}  {'from':>9}  {'to':>9}")
    for table, (before, after) in counts.items():
        typer.echo(f"{table:<{width}}  {before:>9}  {after:>9}")
    unequal = [t for t, (a, b) in counts.items() if a != b]
    if unequal:
        raise SautiError(f"row counts differ after the copy: {', '.join(unequal)}")


def backup(path: Path = typer.Argument(..., help="Backup file to write.")) -> None:
    """Back up the store (SQLite online backup, or pg_dump custom format). Keep secret.key with it."""
    from sauti.cli import current_workspace
    from sauti.store_admin import backup as run_backup

    typer.echo(f"backup written: {run_backup(current_workspace(), path)}")


def restore(path: Path = typer.Argument(..., help="Backup file made by `sauti db backup`.")) -> None:
    """Replace the store's content with a backup made by `sauti db backup`."""
    from sauti.cli import current_workspace
    from sauti.store_admin import restore as run_restore

    run_restore(current_workspace(), path)
    typer.echo(f"store restored from {path}")


def gis_role(
    name: str = typer.Argument(..., help="Login role to create (letters, digits, _)."),
    password: str = typer.Option(
        None, "--password", help="Its password (default: a random one, printed once)."
    ),
) -> None:
    """Create a read-only login role for QGIS/ArcGIS/GDAL users (PostgreSQL store): it reads the risk
    layer sauti_risk_latest, localities, incidents and alert counts per locality, never alert text,
    reporters, alert coordinates, API users or the audit log."""
    from sauti.cli import current_workspace
    from sauti.store_admin import create_gis_role

    secret = create_gis_role(current_workspace(), name, password)
    if password is None:
        typer.echo(secret)
        typer.echo(f"role {name!r} created: the password above is shown once", err=True)
    else:
        typer.echo(f"role {name!r} created")
