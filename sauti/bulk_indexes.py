"""Secondary indexes away during a bulk load: dropped, recorded in the store, put back.

A large first load into a table builds its secondary indexes once, sorted, at its end instead of
inserting into them row by row (:meth:`sauti.ingest.runs.RunContext._defer_indexes` decides when).
A batched load commits while an index is away, so each drop is recorded in ``deferred_indexes``
(migration 0015) in the same transaction, with the loading process's id: a load killed part-way
cannot lose an index, since the next opening of the store re-creates it.
"""

from __future__ import annotations

import os
from typing import Any

from sauti import db
from sauti.tempfiles import process_running


def defer_secondary_indexes(con: Any, table: str, run_id: int | None = None) -> dict[str, str]:
    """Drop ``table``'s secondary indexes for a bulk load; return ``{name: CREATE statement}``.

    Inside the caller's transaction, each drop is recorded in ``deferred_indexes`` with this
    process's id, so that an index whose load was killed after a COMMIT is not lost: the next
    opening of the store re-creates it (:func:`restore_abandoned_indexes`). The load itself puts
    them back with :func:`restore_deferred_indexes`. Primary-key and unique indexes stay (they
    enforce ``ON CONFLICT DO NOTHING``).
    """
    dropped: dict[str, str] = {}
    for name, sql in db.secondary_indexes(con, table):
        con.execute(f'DROP INDEX "{name}"')
        con.execute(
            "INSERT INTO deferred_indexes (name, table_name, create_sql, pid, run_id) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET table_name = excluded.table_name,"
            " create_sql = excluded.create_sql, pid = excluded.pid, run_id = excluded.run_id",
            (name, table, sql, os.getpid(), run_id),
        )
        dropped[name] = sql
    return dropped


def restore_deferred_indexes(con: Any, names: list[str] | None = None) -> list[str]:
    """Create again the recorded indexes ``names`` (default: every one recorded) that are still
    recorded, and forget them; inside the caller's transaction. Returns the names created."""
    rows = con.execute("SELECT name, create_sql FROM deferred_indexes ORDER BY name").fetchall()
    done = []
    for name, sql in rows:
        if names is not None and name not in names:
            continue
        if not _index_exists(con, name):
            con.execute(sql)
        con.execute("DELETE FROM deferred_indexes WHERE name = ?", (name,))
        done.append(name)
    return done


def restore_abandoned_indexes(con: Any) -> list[str]:
    """Re-create the indexes a bulk load dropped and could not put back (its process was killed).

    Called each time the SQLite store is opened: one look-up in an empty table, unless a load
    was killed; an index whose load is still running (its process alive) is left to that load.
    PostgreSQL drops indexes only inside a load's single transaction: nothing to do there.
    """
    if db.is_postgres(con):
        return []
    pids = {pid for (pid,) in con.execute("SELECT DISTINCT pid FROM deferred_indexes")}
    if not pids or all(process_running(pid) for pid in pids):
        return []
    con.execute("BEGIN IMMEDIATE")  # re-read under the write lock: another opener may have done it
    try:
        rows = con.execute("SELECT name, pid FROM deferred_indexes").fetchall()
        abandoned = [name for name, pid in rows if not process_running(pid)]
        done = restore_deferred_indexes(con, abandoned) if abandoned else []
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return done


def _index_exists(con: Any, name: str) -> bool:
    if db.is_postgres(con):
        return con.execute("SELECT to_regclass(?)", (name,)).fetchone()[0] is not None
    found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
    return found.fetchone() is not None
