"""The store's schema history: the numbered SQL files in ``sauti/migrations``, applied in order on
either back-end and recorded in ``schema_migrations`` (number, name, time).

``NNNN_name.sql`` runs on both back-ends (written in SQLite's words; :func:`sauti.db.migration_statement`
words them for PostgreSQL), ``NNNN_name.postgresql.sql`` on PostgreSQL only. A store records the set
of numbers applied, so a lower number merged later is still applied.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from sauti import db

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


MIGRATION_LOCK = 0x5A071  # PostgreSQL advisory lock held while migrating


def applied_numbers(con: sqlite3.Connection) -> set[int] | None:
    """Numbers of the migrations already applied to this store; None without a record of them
    (a new store, or one from before migrations were tracked)."""
    if db.is_postgres(con) and con.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return None
    try:
        return {row[0] for row in con.execute("SELECT number FROM schema_migrations")}
    except sqlite3.OperationalError:
        return None


def adopt_legacy_version(con: sqlite3.Connection) -> None:
    """Record, in ``schema_migrations``, the migrations a store made before that table existed.

    Such a store tracked only ``PRAGMA user_version`` (every migration up to it applied): without
    this its first migration would be run again ("table ingest_runs already exists"). Called when
    :func:`applied_numbers` found no record; a new store (version 0) is left to the migrations.
    """
    con.execute("BEGIN IMMEDIATE")
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > 0 and applied_numbers(con) is None:  # re-checked under the write lock
            con.execute(MIGRATIONS_TABLE)
            con.executemany(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                [
                    (number, name, "before-tracking")
                    for number, name, _sql in migrations()
                    if number <= version
                ],
            )
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@lru_cache(maxsize=2)
def migrations(backend: str = db.SQLITE) -> tuple[tuple[int, str, str], ...]:
    """The numbered migrations for ``backend``: ``NNNN_name.sql`` for both, ``NNNN_name.postgresql.sql``
    only for PostgreSQL (PostGIS geometry, triggers, views for GIS tools)."""
    folder = resources.files("sauti").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if not (name.endswith(".sql") and name[:4].isdigit()):
            continue
        only = name[:-4].rsplit(".", 1)[1] if name[:-4].count(".") else None
        if only is None or only == backend:
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return tuple(sorted(found))


def pending_migrations(workspace: Workspace) -> list[str]:
    """Names of the migrations not yet applied to ``workspace``'s store (without applying them)."""
    if workspace.backend == db.SQLITE:
        if not workspace.db_path.exists():
            return [name for _, name, _ in migrations(db.SQLITE)]
        con = sqlite3.connect(workspace.db_path)
    else:
        con = db.connect_postgres(workspace.database_url)
    try:
        applied = applied_numbers(con) or set()
    finally:
        con.close()
    return [name for number, name, _ in migrations(workspace.backend) if number not in applied]


def migrate(con: sqlite3.Connection, backend: str) -> None:
    """Apply every migration not yet recorded in ``schema_migrations`` (by number, in order).

    Tracking the set of applied numbers, not only the highest, means a migration merged later
    with a lower number is still applied to a store that already has higher ones.
    """
    from sauti.store import utc_now

    postgres = db.is_postgres(con)
    applied = applied_numbers(con)
    if applied is None and not postgres:
        adopt_legacy_version(con)
        applied = applied_numbers(con) or set()
    pending = [m for m in migrations(backend) if m[0] not in (applied or set())]
    for number, name, sql in pending:
        con.execute("BEGIN IMMEDIATE")
        try:
            if postgres:  # the write lock SQLite's BEGIN IMMEDIATE takes, for migrations
                con.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            con.execute(MIGRATIONS_TABLE)
            # re-check under the write lock: another process may have migrated meanwhile
            if number in (applied_numbers(con) or set()):
                con.execute("ROLLBACK")
                continue
            for statement in split_sql(sql):
                con.execute(db.migration_statement(statement, backend))
            con.execute(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                (number, name, utc_now()),
            )
            if not postgres:  # kept for tools that read it; schema_migrations is the record
                version = max(number, con.execute("PRAGMA user_version").fetchone()[0])
                con.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


def split_sql(sql: str) -> list[str]:
    """Split a migration file into statements at semicolons outside quotes and ``$$ … $$`` bodies."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    statements, current = [], []
    for token in _SQL_TOKENS.findall("\n".join(lines)):
        if token == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(token)
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


_SQL_TOKENS = re.compile(r"\$\$.*?\$\$|'(?:[^']|'')*'|;|[^;'$]+|[$']", re.DOTALL)
