"""Secondary indexes away during a bulk load: dropped, recorded in the store, put back.

A large first load into a table builds its secondary indexes once, sorted, at its end instead of
inserting into them row by row (:meth:`sauti.ingest.runs.RunContext._defer_indexes` decides when).
A batched load commits while an index is away, so each drop is recorded in ``deferred_indexes``
(migration 0015) in the same transaction: a load killed part-way cannot lose an index, since the
next opening of the store re-creates it. Whether the load is still running is told by the loading
process's id on SQLite (the loader is on this machine) and, on PostgreSQL (the loader may be on
another host), by a session-level advisory lock the loading connection holds for as long as the
indexes are away (:func:`deferral_lock`): the server releases it when that session ends, killed or
not, so ``pg_try_advisory_lock`` succeeding in another session means the load is gone. The same
lock helpers (one key scheme) tell a running batched ingest run on PostgreSQL (:func:`run_lock`).
"""

from __future__ import annotations

import os
from typing import Any

from sauti import db
from sauti.tempfiles import process_running


def defer_secondary_indexes(
    con: Any, table: str, run_id: int | None = None, *, committed: bool = True
) -> dict[str, str]:
    """Drop ``table``'s secondary indexes for a bulk load; return ``{name: CREATE statement}``.

    Inside the caller's transaction, each drop is recorded in ``deferred_indexes`` with this
    process's id, so that an index whose load was killed after a COMMIT is not lost: the next
    opening of the store re-creates it (:func:`restore_abandoned_indexes`). The load itself puts
    them back with :func:`restore_deferred_indexes`. Primary-key and unique indexes stay (they
    enforce ``ON CONFLICT DO NOTHING``).

    On PostgreSQL, for a load that commits while the indexes are away (``committed``, a batched
    load), the connection first takes ``table``'s :func:`deferral_lock`: a session-level lock,
    kept past the COMMIT (and a ROLLBACK) until :func:`release_deferral_lock`, which the caller
    must call, when something was dropped, once the indexes are back and committed (or the drop
    rolled back) — before the connection goes back to the pool. If another session holds that
    lock (another load deferring them, or an opening of the store putting them back) nothing is
    dropped and nothing waits (no lock-order deadlock with that session's table locks); with
    nothing to drop the lock is released here. A load in one transaction (``committed=False``)
    takes none: no other session ever sees its records.
    """
    locked = committed and db.is_postgres(con)
    if locked and not try_advisory_lock(con, deferral_lock(table)):
        return {}
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
    if locked and not dropped:
        release_deferral_lock(con, table)
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


def deferral_lock(table: str) -> str:
    """The name of the PostgreSQL advisory lock a load holds while ``table``'s indexes are away
    (taken as ``hashtextextended(name, 0)``, the one-``bigint`` form)."""
    return f"sauti.deferred_indexes:{table}"


def run_lock(run_id: int) -> str:
    """The name of the PostgreSQL advisory lock the session of a batched ingest run holds for the
    whole run (:mod:`sauti.ingest.runs`): free means the run's session is gone."""
    return f"sauti.ingest_runs:{run_id}"


def try_advisory_lock(con: Any, name: str) -> bool:
    """PostgreSQL: take the session-level advisory lock ``name`` (the one-``bigint`` key
    ``hashtextextended(name, 0)``) unless another session holds it; never waits. It is kept past
    COMMIT and ROLLBACK until :func:`advisory_unlock` or the end of the session (the server drops it
    when its client is killed)."""
    query = "SELECT pg_try_advisory_lock(hashtextextended(?, 0))"
    return bool(con.execute(query, (name,)).fetchone()[0])


def advisory_unlock(con: Any, name: str) -> None:
    """PostgreSQL: release the session-level advisory lock ``name`` taken by
    :func:`try_advisory_lock` on ``con`` (outside a failed transaction)."""
    con.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (name,))


def release_deferral_lock(con: Any, table: str) -> None:
    """PostgreSQL: release ``table``'s :func:`deferral_lock` taken by :func:`defer_secondary_indexes`
    on ``con`` (outside a failed transaction). SQLite: nothing to do."""
    if db.is_postgres(con):
        advisory_unlock(con, deferral_lock(table))


def restore_abandoned_indexes(con: Any) -> list[str]:
    """Re-create the indexes a bulk load dropped and could not put back (it was killed).

    Called each time the SQLite store is opened, and on PostgreSQL the first time a process opens
    it and before each batched ingest: one look-up in an empty table, unless a load was killed.
    An index whose load is still running is left to that load: on SQLite its process is alive; on
    PostgreSQL its session holds the table's :func:`deferral_lock`. ``pg_try_advisory_lock``
    succeeding here means no session holds it: the indexes are re-created (and the rows deleted)
    in one transaction while this session holds the lock, then it is released.
    """
    if db.is_postgres(con):
        return _restore_abandoned_postgres(con)
    pids = {pid for (pid,) in con.execute("SELECT DISTINCT pid FROM deferred_indexes")}
    if not pids or all(process_running(pid) for pid in pids):
        return []
    with db.transaction(con):  # re-read under the write lock: another opener may have done it
        rows = con.execute("SELECT name, pid FROM deferred_indexes").fetchall()
        abandoned = [name for name, pid in rows if not process_running(pid)]
        return restore_deferred_indexes(con, abandoned) if abandoned else []


def _restore_abandoned_postgres(con: Any) -> list[str]:
    tables = [t for (t,) in con.execute("SELECT DISTINCT table_name FROM deferred_indexes ORDER BY 1")]
    done: list[str] = []
    for table in tables:
        if not try_advisory_lock(con, deferral_lock(table)):
            continue  # its load is running (in this process or another, on any host)
        try:
            with db.transaction(con):  # re-read under the lock: the load may have finished meanwhile
                query = "SELECT name FROM deferred_indexes WHERE table_name = ?"
                names = [n for (n,) in con.execute(query, (table,))]
                done += restore_deferred_indexes(con, names) if names else []
        finally:
            release_deferral_lock(con, table)
    return done


def _index_exists(con: Any, name: str) -> bool:
    if db.is_postgres(con):
        return con.execute("SELECT to_regclass(?)", (name,)).fetchone()[0] is not None
    found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
    return found.fetchone() is not None
