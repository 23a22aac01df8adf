"""Bulk writes into the PostgreSQL store by ``COPY``: a batch formatted column by column in COPY's
text format, copied straight into its table when its keys are new, else through a staging table and
``INSERT … SELECT … ON CONFLICT DO NOTHING`` (a duplicate is only a true key match).
:func:`sauti.store.insert_new` sends batches of :data:`COPY_MIN_ROWS` rows or more here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sauti.db import PgConnection, _translate_error

COPY_MIN_ROWS = 1000  # a batch this large goes into PostgreSQL by COPY


def copy_insert(
    con: PgConnection,
    table: str,
    columns: list[str],
    rows: Callable[[], Iterable[tuple]],
    *,
    lines: Callable[[], list[str] | None] | None = None,
    keys: Sequence[Any] | None = None,
) -> int | None:
    """Insert a large batch by ``COPY``; returns how many rows were new, or ``None`` (nothing
    stored) when a row breaks a constraint other than a repeated key, so the caller can find it
    row by row.

    The rows are given as ``lines()`` — each row pre-formatted in ``COPY``'s text format
    (:func:`copy_lines`), written in one piece — or, when that gives ``None`` (a value it cannot
    format), as ``rows()`` tuples written one at a time. ``keys``, the batch's values of the
    table's one-column key (:func:`unique_key`) in row order, let the rows whose key is neither
    stored nor repeated in the batch be copied straight into ``table``; the others (and all rows,
    without ``keys``, or if another writer stores one of those keys meanwhile) go into a temporary
    table and then ``INSERT … SELECT … ON CONFLICT DO NOTHING``. Either way a duplicate is only a
    true key match, as row by row.
    """
    import psycopg

    names = ", ".join(columns)
    items: list[Any] | None = lines() if lines is not None else None
    text = items is not None
    if items is None:
        items = list(rows())
    direct = _new_keys(con, table, columns, keys) if keys is not None else None

    def write(copy: Any, select: Any = None) -> None:
        chosen = items if select is None else [items[i] for i in select]
        if text:
            copy.write("\n".join(chosen) + "\n")
            return
        for row in chosen:
            copy.write_row(row)

    con.execute("SAVEPOINT copy_batch")
    try:
        raw = con.raw.cursor()  # psycopg's own (C) dumpers: the rows hold no NaN and no bool
        new, rest = 0, None
        if direct is not None and direct.any():
            import numpy as np

            raw.execute("SAVEPOINT copy_direct")
            try:
                with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    write(copy, None if direct.all() else np.flatnonzero(direct))
                new = int(direct.sum())
                rest = np.flatnonzero(~direct)
                raw.execute("RELEASE copy_direct")
            # another writer stored one of the keys meanwhile, or is storing them in another order
            except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
                raw.execute("ROLLBACK TO copy_direct")
                raw.execute("RELEASE copy_direct")
        if rest is None or len(rest):
            staging = f"sauti_load_{table}_{abs(hash(names)) % 10**8}"  # one per column set
            # the columns' types, no constraints: a refused row fails the INSERT, not the COPY
            raw.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS SELECT {names} FROM {table} WITH NO DATA"
            )
            raw.execute(f"TRUNCATE {staging}")
            with raw.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
                write(copy, rest)
            raw.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ON CONFLICT DO NOTHING")
            new += max(raw.rowcount, 0)
            raw.execute(f"TRUNCATE {staging}")
    except psycopg.IntegrityError:
        con.execute("ROLLBACK TO copy_batch")
        con.execute("RELEASE copy_batch")
        return None
    except psycopg.Error as exc:
        con.execute("ROLLBACK TO copy_batch")
        con.execute("RELEASE copy_batch")
        raise _translate_error(exc) from exc
    except BaseException:
        con.execute("ROLLBACK TO copy_batch")
        con.execute("RELEASE copy_batch")
        raise
    con.execute("RELEASE copy_batch")
    con.total_changes += new
    return new


def _new_keys(con: PgConnection, table: str, columns: list[str], keys: Sequence[Any]) -> Any:
    """True for each row whose key is not stored yet and occurs once in ``keys`` (a boolean array),
    or ``None`` when ``table`` has no single one-column key among ``columns``."""
    import pandas as pd

    key = unique_key(con, table)
    if key is None or key not in columns:
        return None
    values = pd.Series(list(keys), dtype=object)
    listed = values.dropna().tolist()
    # one probe of the key's index per key (a sub-plan with LIMIT 1: never pulled up into a join).
    # `key = ANY(array)` let the planner pick a (parallel) scan of the whole table for a table of
    # up to ~700,000 rows: a bulk load's look-ups grew with the table, batch after batch.
    probe = f"WHERE (SELECT true FROM {table} WHERE {key} = k LIMIT 1)"
    try:  # one text parameter split by the server: binding a 20,000-element array costs more
        joined = "\x1f".join(listed)
    except TypeError:  # keys that are not text
        joined = None
    if joined is not None and joined.count("\x1f") == len(listed) - 1:
        query = f"SELECT k FROM unnest(string_to_array(?, chr(31))) AS k {probe}"
        stored = con.execute(query, (joined,)).fetchall()
    else:
        stored = con.execute(f"SELECT k FROM unnest(?) AS k {probe}", (listed,)).fetchall()
    fresh = ~values.duplicated(keep=False) & values.notna()
    if stored:
        fresh &= ~values.isin([r[0] for r in stored])
    return fresh.to_numpy()


_UNIQUE_KEYS: dict[str, str | None] = {}


def unique_key(con: Any, table: str) -> str | None:
    """The column of ``table``'s only unique constraint when it has one, on one column (its primary
    key, say); ``None`` when it has none, several, or one over several columns. PostgreSQL only;
    the migrations define it, so it is looked up once per process."""
    if table not in _UNIQUE_KEYS:
        rows = con.execute(
            "SELECT (SELECT array_agg(a.attname) FROM pg_attribute a WHERE a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey)) FROM pg_index i"
            " WHERE i.indrelid = to_regclass(?) AND i.indisunique",
            (table,),
        ).fetchall()
        only = rows[0][0] if len(rows) == 1 else None
        _UNIQUE_KEYS[table] = only[0] if only is not None and len(only) == 1 else None
    return _UNIQUE_KEYS[table]


_COPY_SPECIAL = ("\\", "\t", "\n", "\r")
COPY_NULL = "\\N"


def copy_lines(columns: Sequence[Sequence[Any]]) -> list[str] | None:
    """Rows given column by column (missing values as ``None``) as lines of ``COPY``'s text format
    (no line ends), or ``None`` when a value is not text, a number or ``None`` (bytes, say: the
    caller writes such rows one by one).

    Whole columns are formatted at once (``map`` of C functions, no per-row Python): a text
    column is escaped only if its values, joined, hold a backslash, tab or line break. A float
    ``NaN`` is written as NULL (as a bound parameter stores it).
    """
    formatted = []
    for values in columns:
        column = _copy_column(values)
        if column is None:
            return None
        formatted.append(column)
    if not formatted:
        return None
    return list(map("\t".join, zip(*formatted, strict=True)))


def _copy_column(values: Sequence[Any]) -> list[str] | None:
    values = list(values)
    kinds = set(map(type, values))
    if kinds <= {str, type(None)}:
        present = [v for v in values if v is not None] if type(None) in kinds else values
        joined = "".join(present)
        if any(c in joined for c in _COPY_SPECIAL):
            values = [v if v is None else _copy_escape(v) for v in values]
        return [COPY_NULL if v is None else v for v in values] if type(None) in kinds else values
    if kinds <= {int, type(None)}:
        return [COPY_NULL if v is None else str(v) for v in values]
    if kinds <= {float, int, type(None)}:
        return [COPY_NULL if v is None or v != v else repr(v) for v in values]
    return None


def _copy_escape(value: str) -> str:
    if not any(c in value for c in _COPY_SPECIAL):
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
