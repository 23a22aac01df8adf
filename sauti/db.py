"""The store's two back-ends, SQLite (the default, embedded) and PostgreSQL + PostGIS (a mission's
shared store), behind one connection interface: every dialect difference lives in this module.

The code base writes its SQL once, in the DB-API style of :mod:`sqlite3` (``?`` placeholders,
``BEGIN IMMEDIATE`` … ``COMMIT``, rows readable by position and by name). On SQLite the
connection *is* a :class:`sqlite3.Connection`. On PostgreSQL, :class:`PgConnection` takes a
psycopg 3 connection from the SQLAlchemy engine's pool and translates each statement here, once:
placeholders, the ``OR IGNORE`` form of ``INSERT``, ``rowid`` (``ctid``), the SQLite column types
of the migrations (``REAL`` is a double, ``BLOB`` is ``BYTEA``, ``AUTOINCREMENT`` an identity), and
the constraint messages (PostgreSQL's, reworded as SQLite's, so a rejects file reads the same).
Errors are raised as the DB-API classes of :mod:`sqlite3` (subclasses below), so one ``except``
serves both back-ends.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sauti.errors import SautiError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from sqlalchemy.engine import Engine

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class StoreUrlError(SautiError):
    """A database URL Sauti cannot use."""


class IntegrityError(sqlite3.IntegrityError):
    """A constraint refused a row (raised by the PostgreSQL connection)."""


class OperationalError(sqlite3.OperationalError):
    """The database could not run a statement (raised by the PostgreSQL connection)."""


class ProgrammingError(sqlite3.ProgrammingError):
    """A statement or a bound value the database refused (raised by the PostgreSQL connection)."""


def default_url(root: str | os.PathLike[str]) -> str:
    """The default store: ``sqlite:///<root>/sauti.sqlite``."""
    return f"sqlite:///{Path(root).absolute() / 'sauti.sqlite'}"


def backend_of(url: str) -> str:
    """``"sqlite"`` or ``"postgresql"`` for a store URL; :class:`StoreUrlError` for anything else."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == SQLITE:
        return SQLITE
    if scheme in ("postgresql", "postgres"):
        return POSTGRESQL
    raise StoreUrlError(
        f"unsupported database URL {redact(url)!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/NAME"
    )


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL."""
    if not url.startswith("sqlite:///"):
        raise StoreUrlError(f"{url!r}: a SQLite URL is sqlite:///PATH (three slashes, then the file)")
    return Path(url[len("sqlite:///") :])


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def is_postgres(con: Any) -> bool:
    """Whether ``con`` (a store connection) is on PostgreSQL."""
    return isinstance(con, PgConnection)


@lru_cache(maxsize=8)
def _engine(url: str, pid: int) -> Engine:
    from sqlalchemy import create_engine

    if backend_of(url) == POSTGRESQL:
        driver_url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)
        # the service's threads each take a connection per request (and a nested one at times)
        return create_engine(driver_url, pool_pre_ping=True, pool_size=10, max_overflow=40, pool_timeout=60)
    return create_engine(url)


def engine(url: str) -> Engine:
    """The SQLAlchemy engine of ``url``, one per process (a forked worker makes its own pool)."""
    return _engine(url, os.getpid())


def connect_postgres(url: str) -> PgConnection:
    """A pooled PostgreSQL connection in autocommit mode (transactions are explicit, as on SQLite)."""
    from sqlalchemy.exc import OperationalError as SAOperationalError

    try:
        raw = engine(url).raw_connection()
    except SAOperationalError as exc:
        raise StoreUrlError(f"cannot connect to the store at {redact(url)}: {exc.orig}") from None
    return PgConnection(raw)


# --- statements ------------------------------------------------------------------------------
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?|%|\browid\b|\bBEGIN\s+IMMEDIATE\b", re.IGNORECASE)
_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)


@lru_cache(maxsize=512)
def postgres_statement(sql: str) -> str:
    """A statement written for SQLite, as PostgreSQL (psycopg) takes it."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token[0] in "'\"":
            return token.replace("%", "%%")
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token.lower() == "rowid":
            return "ctid"
        return "BEGIN"

    out = _TOKENS.sub(swap, sql)
    if _OR_IGNORE.match(out):
        out = _OR_IGNORE.sub("INSERT INTO", out).rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return out


_DDL_TYPES = (
    (
        re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.I),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
)


def migration_statement(sql: str, backend: str) -> str:
    """A statement of a numbered migration file for ``backend``.

    The files are written in SQLite's words (``TEXT``, ``INTEGER``, ``REAL``; older ones ``BLOB``
    and ``AUTOINCREMENT``); on PostgreSQL ``REAL`` becomes ``DOUBLE PRECISION`` (SQLite's REAL is
    8 bytes: coordinates keep their digits), ``BLOB`` ``BYTEA`` and an ``AUTOINCREMENT`` key an
    identity column.
    """
    if backend != POSTGRESQL:
        return sql
    for pattern, replacement in _DDL_TYPES:
        sql = pattern.sub(replacement, sql)
    return sql


# --- the PostgreSQL connection ----------------------------------------------------------------
class Row(tuple):
    """A result row readable by position and by column name (as :class:`sqlite3.Row`)."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor):
    description = cursor.description or ()
    index = {column.name: i for i, column in enumerate(description)}
    return lambda values: Row(values, index)


_PG_MESSAGES = {
    "23502": "NOT NULL constraint failed: {table}.{column}",
    "23514": "CHECK constraint failed: {constraint}",
    "23503": "FOREIGN KEY constraint failed",
    "23505": "UNIQUE constraint failed: {table} ({constraint})",
}


def _translate_error(exc: Exception) -> Exception:
    import psycopg

    diag = getattr(exc, "diag", None)
    if isinstance(exc, psycopg.IntegrityError):
        template = _PG_MESSAGES.get(getattr(exc, "sqlstate", None) or "")
        if template and diag is not None:
            return IntegrityError(
                template.format(
                    table=diag.table_name, column=diag.column_name, constraint=diag.constraint_name
                )
            )
        return IntegrityError(str(exc).strip())
    if isinstance(exc, psycopg.ProgrammingError | psycopg.DataError):
        return ProgrammingError(str(exc).strip())
    return OperationalError(str(exc).strip())


class PgCursor:
    """The result of a statement on :class:`PgConnection` (a DB-API cursor, as sqlite3's)."""

    lastrowid = None

    def __init__(self, owner: PgConnection) -> None:
        self._owner = owner
        self._cur = owner.raw.cursor(row_factory=_row_factory)
        _register_types(
            self._cur.adapters
        )  # on the cursor: SQLAlchemy's own use of the connection keeps psycopg's

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> PgCursor:
        import psycopg

        try:
            self._cur.execute(postgres_statement(sql), tuple(params or ()))
        except psycopg.Error as exc:
            raise _translate_error(exc) from exc
        if self._cur.rowcount > 0 and self._cur.description is None:
            self._owner.total_changes += self._cur.rowcount
        return self

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        import psycopg

        try:
            self._cur.executemany(postgres_statement(sql), rows)
        except psycopg.Error as exc:
            raise _translate_error(exc) from exc
        if self._cur.rowcount > 0:
            self._owner.total_changes += self._cur.rowcount
        return self

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def description(self):
        return self._cur.description

    def fetchone(self) -> Row | None:
        return self._cur.fetchone() if self._cur.description is not None else None

    def fetchall(self) -> list[Row]:
        return self._cur.fetchall() if self._cur.description is not None else []

    def fetchmany(self, size: int = 1000) -> list[Row]:
        return self._cur.fetchmany(size) if self._cur.description is not None else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())

    def close(self) -> None:
        self._cur.close()


class PgConnection:
    """A PostgreSQL connection that takes the store's statements as a :class:`sqlite3.Connection`
    does (autocommit unless a ``BEGIN`` is executed; ``?`` placeholders; rows by name)."""

    backend = POSTGRESQL

    def __init__(self, pooled: Any) -> None:
        self._pooled = pooled  # SQLAlchemy's pool proxy: close() gives it back to the pool
        self.raw = pooled.driver_connection
        self.raw.autocommit = True
        self.total_changes = 0

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> PgCursor:
        return PgCursor(self).execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        return PgCursor(self).executemany(sql, rows)

    def cursor(self) -> PgCursor:
        return PgCursor(self)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")
        self._pooled.close()


def _register_types(adapters: Any) -> None:
    """Values as SQLite takes and gives them: a float ``NaN`` (pandas' gap) is bound as NULL, a
    Python ``bool`` as 0/1 (the store's flags are INTEGER); a SUM of integers comes back an ``int``
    and an AVG a ``float`` (psycopg would give ``Decimal``)."""
    adapters.register_loader("numeric", _number_loader())
    adapters.register_dumper(bool, _int_dumper())
    for dumper in _nan_dumpers():
        adapters.register_dumper(float, dumper)


@lru_cache(maxsize=1)
def _number_loader():
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data):
            text = bytes(data).decode()
            return float(text) if any(c in text for c in ".eEN") else int(text)

    return NumberLoader


@lru_cache(maxsize=1)
def _nan_dumpers() -> tuple[type, type]:
    from psycopg.types.numeric import FloatBinaryDumper, FloatDumper

    class NanAsNull(FloatDumper):
        def dump(self, obj):
            return None if obj != obj else super().dump(obj)

    class NanAsNullBinary(FloatBinaryDumper):
        def dump(self, obj):
            return None if obj != obj else super().dump(obj)

    return NanAsNull, NanAsNullBinary


@lru_cache(maxsize=1)
def _int_dumper():
    from psycopg.types.numeric import IntDumper

    return IntDumper


# --- reading into frames ---------------------------------------------------------------------
@contextmanager
def transaction(con: Any) -> Iterator[Any]:
    """All or nothing on either back-end: commit on success, roll back on any exception
    (``BEGIN IMMEDIATE``: SQLite's write lock at once; ``BEGIN`` on PostgreSQL)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def read_frame(con: Any, query: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """The result of ``query`` as a DataFrame, on either back-end (``pandas.read_sql_query``)."""
    import pandas as pd

    if not isinstance(con, PgConnection):
        return pd.read_sql_query(query, con, params=tuple(params))
    cur = con.execute(query, params)
    columns = [column.name for column in cur.description]
    return pd.DataFrame.from_records([tuple(r) for r in cur.fetchall()], columns=columns, coerce_float=True)


# --- tools and copies --------------------------------------------------------------------------
def libpq_url(url: str) -> str:
    """The URL as libpq tools (``pg_dump``, ``psql``, ``ogrinfo PG:``) take it (no driver suffix)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def reset_identities(con: PgConnection, table: str) -> None:
    """After rows with explicit ids were copied in: move ``table``'s identity counters past them."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'",
        (table,),
    ).fetchall()
    for (column,) in rows:
        con.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        )


def hold_lock(con: Any, *parts: str) -> None:
    """Hold, until the transaction ends, the lock named by ``parts`` (one Idempotency-Key, say).

    On SQLite the transaction's ``BEGIN IMMEDIATE`` already holds the one write lock; PostgreSQL
    lets writers run side by side, so a check-then-write on one key takes an advisory lock on it:
    a second request with the same key waits for the first to commit, then sees its row.
    """
    if is_postgres(con):
        con.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", ("\x1f".join(parts),))


# the advisory lock (two-int form) every data-writing statement holds in shared mode till its
# transaction ends (migration 0013_store_speed.postgresql.sql)
STAMP_LOCK = (1396790612, 1)


def data_stamp(con: PgConnection) -> tuple[int, str]:
    """PostgreSQL: a stamp of the stored data that changes with every write, by any process, to
    localities, incidents, alerts (and their verifications), risk scores or ingest runs, in O(1).

    ``(the last value of the sauti_data_stamp sequence, the transactions writing now)``: each
    writing statement draws a value and holds a shared advisory lock till its transaction ends
    (triggers of migration 0013), so the stamp changes when a write is made and again when its
    transaction commits or rolls back: a view built before a COMMIT is never kept past it. The
    sequence is read first: a writer whose value came before that read still holds its lock when
    the lock list is read.
    """
    value = con.execute(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sauti_data_stamp"
    ).fetchone()[0]
    writers = con.execute(
        "SELECT string_agg(virtualtransaction, ',' ORDER BY virtualtransaction) FROM pg_locks"
        " WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database()) AND classid = ? AND objid = ? AND objsubid = 2",
        STAMP_LOCK,
    ).fetchone()[0]
    return int(value), writers or ""


def approximate_rows(con: Any, table: str) -> int | None:
    """About how many rows ``table`` holds, cheaply (SQLite: the highest rowid; PostgreSQL: the
    planner's estimate, or a count of a small table); ``None`` when it cannot tell."""
    if is_postgres(con):
        estimate = con.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(?)", (table,)
        ).fetchone()
        if estimate is None:
            return None
        if estimate[0] is None or estimate[0] < 0:  # never analysed: count (only small tables are)
            return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        return int(estimate[0])
    try:
        return con.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.OperationalError:  # a WITHOUT ROWID table
        return None


def secondary_indexes(con: Any, table: str) -> list[tuple[str, str]]:
    """``(name, CREATE statement)`` of ``table``'s indexes that are neither primary keys nor unique
    (those enforce ``ON CONFLICT``): what a bulk load may drop and build again afterwards."""
    if is_postgres(con):
        rows = con.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ? AND indexdef NOT LIKE 'CREATE UNIQUE%'",
            (table,),
        ).fetchall()
    else:
        rows = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL"
            " AND sql NOT LIKE 'CREATE UNIQUE%'",
            (table,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]
