"""Looking after the store as a whole: its migrations, a copy to another back-end, backup and
restore, and the read-only login role for GIS desktop tools (``sauti db …``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sauti import db
from sauti.errors import InvalidInputError, SautiError
from sauti.schema import pending_migrations
from sauti.store import SECRET_NAME, Workspace

COPY_BATCH = 5000
# tables a GIS desktop role may read: the risk layer, the boundaries, incidents (public event
# records) and alert counts per locality — never alerts, reporters, users, the audit log
GIS_READABLE = ("sauti_risk_latest", "sauti_alert_counts", "localities", "incidents", "spatial_ref_sys")
# bookkeeping of each store, never copied (each has its own migrations and indexes; views are derived)
_NOT_COPIED = {"schema_migrations", "spatial_ref_sys", "deferred_indexes"}
_DERIVED_COLUMNS = {"geom"}  # PostGIS columns filled by the destination's triggers


def store_status(workspace: Workspace) -> dict[str, Any]:
    """Back-end, applied revision and pending migrations of ``workspace``'s store (nothing created)."""
    pending = pending_migrations(workspace)
    revision = None
    if workspace.backend == db.POSTGRESQL or workspace.db_path.exists():
        with _raw(workspace) as con:
            try:
                row = con.execute("SELECT MAX(number), MAX(name) FROM schema_migrations").fetchone()
                revision = None if row[0] is None else row[0]
            except sqlite3.Error:
                revision = None
    return {
        "backend": workspace.backend,
        "url": db.redact(workspace.database_url),
        "revision": revision,
        "pending": pending,
    }


def upgrade(workspace: Workspace) -> list[str]:
    """Apply the pending migrations; returns their names."""
    pending = pending_migrations(workspace)
    with workspace.session():
        pass
    return pending


def table_counts(workspace: Workspace, tables: list[str] | None = None) -> dict[str, int]:
    """Rows per table of the store (every copied table unless ``tables``)."""
    with workspace.session() as con:
        names = tables or _tables(workspace)
        return {name: con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] for name in names}


def copy_store(source: Workspace, target: Workspace, *, secret_to: Path | None = None) -> dict[str, tuple]:
    """Copy every table of ``source``'s store into ``target``'s (which must hold no data).

    Both stores are migrated first; rows go in foreign-key order in one transaction (all or
    nothing), and identity counters are moved past the copied ids. The workspace secret (which
    keys reporter pseudonyms) is copied to ``secret_to`` when given and not the same file.
    Returns ``{table: (rows in source, rows in target)}``.
    """
    if source.database_url == target.database_url:
        raise InvalidInputError("--from and --to are the same store")
    for store in (source, target):  # both created and migrated before their tables are read
        with store.session():
            pass
    tables = _tables(source)
    target_tables = set(_tables(target))
    with target.session() as tcon:
        filled = [
            t for t in tables if t in target_tables and tcon.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()
        ]
    if filled:
        raise InvalidInputError(
            f"the target store already holds data ({', '.join(filled[:5])}): copy into an empty store"
        )
    with source.session() as scon, target.session() as tcon, Workspace.transaction(tcon):
        for table in tables:
            if table not in target_tables:
                continue
            columns = [c for c in _columns(source, table) if c in set(_columns(target, table))]
            columns = [c for c in columns if c not in _DERIVED_COLUMNS]
            names = ", ".join(columns)
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in columns)})"
            cursor = scon.execute(f"SELECT {names} FROM {table}")
            while rows := cursor.fetchmany(COPY_BATCH):
                tcon.executemany(insert, [tuple(r) for r in rows])
            if db.is_postgres(tcon):
                db.reset_identities(tcon, table)
    if secret_to is not None:
        _copy_secret(source.root / SECRET_NAME, secret_to / SECRET_NAME)
    before, after = (
        table_counts(source, tables),
        table_counts(target, [t for t in tables if t in target_tables]),
    )
    return {t: (before[t], after.get(t, 0)) for t in tables}


def backup(workspace: Workspace, path: Path) -> Path:
    """Write a backup of the store to ``path``: SQLite's online backup (a consistent copy while others
    write), or ``pg_dump`` custom format. The workspace secret is NOT in it: keep ``secret.key``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if workspace.backend == db.SQLITE:
        with workspace.session() as con:
            target = sqlite3.connect(path)
            try:
                con.backup(target)
            finally:
                target.close()
        return path
    _run_tool(["pg_dump", "--format=custom", "--no-owner", f"--file={path}", _libpq_url(workspace)])
    return path


def restore(workspace: Workspace, path: Path) -> None:
    """Replace the store's content with the backup at ``path`` (made by :func:`backup`)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such backup file")
    if workspace.backend == db.SQLITE:
        try:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            source.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InvalidInputError(f"{path}: not a Sauti SQLite backup ({exc})") from None
        try:
            workspace.root.mkdir(parents=True, exist_ok=True)
            target = sqlite3.connect(workspace.db_path)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
        return
    _run_tool(
        ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
         f"--dbname={_libpq_url(workspace)}", str(path)]
    )  # fmt: skip


def create_gis_role(workspace: Workspace, name: str, password: str | None = None) -> str:
    """Create (or re-grant) a login role for GIS desktop users; returns its password.

    The role reads :data:`GIS_READABLE` and nothing else: no alert text, reporter pseudonyms,
    alert coordinates, API users or audit log (those tables are never granted; the alert counts
    come through a view that holds none of them).
    """
    if workspace.backend != db.POSTGRESQL:
        raise InvalidInputError("a GIS role needs the PostgreSQL store (--database postgresql://…)")
    if not name.replace("_", "").isalnum() or not name[0].isalpha() or len(name) > 63:
        raise InvalidInputError("a role name is letters, digits and _ (starting with a letter, ≤ 63)")
    password = password or secrets.token_urlsafe(18)
    with workspace.session() as con, Workspace.transaction(con):
        raw = con.raw
        from psycopg import sql

        role = sql.Identifier(name)
        exists = raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        raw.execute(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                role, sql.Literal(password)
            )
        )
        database = raw.execute("SELECT current_database()").fetchone()[0]
        raw.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role))
        raw.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        raw.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role))
        for table in GIS_READABLE:
            raw.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), role))
    return password


# --- helpers -----------------------------------------------------------------------------------
def _tables(workspace: Workspace) -> list[str]:
    """The store's tables in foreign-key order (parents first), bookkeeping left out."""
    from sqlalchemy import MetaData

    if workspace.backend == db.POSTGRESQL:
        import geoalchemy2  # noqa: F401  (registers PostGIS column types for reflection)
    meta = MetaData()
    meta.reflect(db.engine(workspace.database_url))
    for child, parent in _CHECKED_REFERENCES:  # references checked by triggers, not a foreign key
        if child in meta.tables and parent in meta.tables:
            meta.tables[child].add_is_dependent_on(meta.tables[parent])
    return [t.name for t in meta.sorted_tables if t.name not in _NOT_COPIED]


# On PostgreSQL incidents.run_id → ingest_runs is checked per statement by triggers (migration
# 0013_store_speed.postgresql.sql), which reflection does not see: the order must still put runs first.
_CHECKED_REFERENCES = (("incidents", "ingest_runs"),)


def _columns(workspace: Workspace, table: str) -> list[str]:
    from sqlalchemy import inspect

    return [c["name"] for c in inspect(db.engine(workspace.database_url)).get_columns(table)]


class _raw:
    """A connection that does not migrate (for reading the status of an old store)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def __enter__(self):
        if self.workspace.backend == db.SQLITE:
            self.con = sqlite3.connect(self.workspace.db_path)
        else:
            self.con = db.connect_postgres(self.workspace.database_url)
        return self.con

    def __exit__(self, *exc) -> None:
        self.con.close()


def _libpq_url(workspace: Workspace) -> str:
    return db.libpq_url(workspace.database_url)


def _run_tool(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise SautiError(f"{command[0]} is not installed (Debian: apt-get install postgresql-client-15)")
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PGCONNECT_TIMEOUT": "10"}
    )
    if done.returncode != 0:
        message = db.redact(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
        raise SautiError(f"{command[0]}: {message}")


def _copy_secret(source: Path, target: Path) -> None:
    if not source.exists() or (target.exists() and target.resolve() == source.resolve()):
        return
    if target.exists() and target.read_bytes() != source.read_bytes():
        raise InvalidInputError(
            f"{target} already holds another workspace secret: pseudonyms would not match; move it away first"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(source.read_bytes())
