"""One ingest run, all or nothing: open the run record, stream rows, write rejects, close it.

Every ``ingest_*`` function drives its rows through :func:`ingest_run`, so the run record, the
rejects file, the transaction and the ``read = accepted + rejected + duplicates`` invariant are
implemented once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sauti.bulk_indexes import (
    advisory_unlock,
    defer_secondary_indexes,
    release_deferral_lock,
    restore_abandoned_indexes,
    restore_deferred_indexes,
    run_lock,
    try_advisory_lock,
)
from sauti.checksum import sha256_file
from sauti.db import approximate_rows, is_postgres
from sauti.ingest.bookkeeping import IngestReport, RejectsWriter, alert_reject_view, make_rejects, raw_json
from sauti.store import Workspace, insert_new, utc_now
from sauti.tempfiles import process_running

log = logging.getLogger(__name__)

INGEST_CACHE_KIB = 256 * 1024  # SQLite page cache for an ingest connection
BULK_INDEX_ROWS = 50_000  # a first batch this large into a smaller table defers its secondary indexes
BATCH_ROWS = 20_000
"""Rows a batched run inserts per COMMIT: the store's write lock is held for one batch's inserts
(a fraction of a second), so alert posts and other writers never wait for a whole file."""
RUNNING = "running in process {pid}"  # an unfinished run's message: whose it is


@dataclass(frozen=True)
class RunRecord:
    """What the ``ingest_runs`` row of a run says about its source (written when the run opens)."""

    kind: str
    label: str  # the file's absolute path, or ``api:<source>``
    sha256: str
    fmt: str | None
    params: str  # JSON
    started: str
    rejects_folder: Path
    rejects_source: Path  # names the rejects file


@dataclass
class RunContext:
    """What a running ingest can use: the connection, its run id, and where to put rows.

    A run opened ``lazily`` writes no run record and no rejects file until its first rejected
    row (API requests: thousands of small accepted submissions leave no trace but their rows).
    """

    con: sqlite3.Connection
    record: RunRecord
    report: IngestReport
    source_name: str = ""  # the rejects file's ``source_file`` for rows the store refuses
    run_id: int | None = None
    rejects: RejectsWriter | None = None
    # secondary indexes dropped for a bulk insert, rebuilt by :meth:`rebuild_indexes` (name → SQL)
    deferred_indexes: dict[str, str] = field(default_factory=dict)
    # PostgreSQL: tables whose deferral lock this run's session holds (:meth:`release_locks`)
    deferral_locks: list[str] = field(default_factory=list)
    # PostgreSQL, batched: this run's session holds its :func:`~sauti.bulk_indexes.run_lock`
    run_locked: bool = False
    _bulk_checked: set[str] = field(default_factory=set)
    refused: list[Any] = field(default_factory=list)  # index labels of rows the store refused
    # batched: rows are committed BATCH_ROWS at a time (see :func:`ingest_run`)
    batched: bool = False
    in_transaction: bool = True
    committed_batches: int = 0

    def open(self) -> int:
        """Insert the run record (status ``running``) and start its rejects file, once.

        A batched run on PostgreSQL also takes its session-level :func:`~sauti.bulk_indexes.run_lock`
        (inside the transaction that creates the record, so no other session sees the record
        ``running`` without it), held until :meth:`release_locks`: while it is held the run is alive,
        on whatever host (:func:`close_interrupted_runs`)."""
        if self.run_id is None:
            r = self.record
            self.begin()
            self.run_id = self.con.execute(
                "INSERT INTO ingest_runs (kind, path, sha256, format, params, started_at, status, message)"
                " VALUES (?, ?, ?, ?, ?, ?, 'running', ?) RETURNING run_id",
                (r.kind, r.label, r.sha256, r.fmt, r.params, r.started, RUNNING.format(pid=os.getpid())),
            ).fetchone()[0]
            self.report.run_id = self.run_id
            if self.batched and is_postgres(self.con):  # before the record's COMMIT: never seen unheld
                self.run_locked = try_advisory_lock(self.con, run_lock(self.run_id))
            self.rejects = RejectsWriter(r.rejects_folder, f"{self.run_id:05d}_{r.kind}", r.rejects_source)
        return self.run_id

    def reject(self, rejects: pd.DataFrame) -> None:
        if rejects.empty:
            return
        self.open()
        self.rejects.write(rejects)
        self.report.rejected += len(rejects)

    def begin(self) -> None:
        """Open the next batch's transaction (``BEGIN IMMEDIATE``) if none is open."""
        if not self.in_transaction:
            self.con.execute("BEGIN IMMEDIATE")
            self.in_transaction = True

    def commit_batch(self) -> None:
        """A batched run: record the counts so far, have the rejects file synced and in place, then
        COMMIT — the rows stored so far are kept even if the run is stopped later (a re-run of the
        file stores the rest: rows are keyed, so it is idempotent). No-op for a one-transaction run."""
        if not self.batched or not self.in_transaction:
            return
        if self.run_id is not None:
            r = self.report
            self.con.execute(
                "UPDATE ingest_runs SET rows_read=?, accepted=?, rejected=?, duplicates=? WHERE run_id=?",
                (r.read, r.accepted, r.rejected, r.duplicates, self.run_id),
            )
            self.rejects.sync()
        self.con.execute("COMMIT")
        self.in_transaction = False
        self.committed_batches += 1

    def store(self, table: str, rows: pd.DataFrame, read: int | None = None) -> int:
        """Insert ``rows``: new keys stored, known keys counted as duplicates, and a row the store
        refuses (a NOT NULL or CHECK constraint) rejected with the column and SQLite's reason.

        A batched run inserts and commits :data:`BATCH_ROWS` rows at a time."""
        if table not in self._bulk_checked:  # the first chunk decides: is this a bulk load?
            self._bulk_checked.add(table)
            self.begin()
            self._defer_indexes(table, len(rows))
        if not self.batched or len(rows) <= BATCH_ROWS:
            return self._store(table, rows)
        return sum(self._store(table, rows.iloc[i : i + BATCH_ROWS]) for i in range(0, len(rows), BATCH_ROWS))

    def _store(self, table: str, rows: pd.DataFrame) -> int:
        self.begin()
        rows = rows.assign(run_id=self.run_id)
        new, failed = insert_new(self.con, table, rows)
        if failed:
            self.reject(_constraint_rejects(self.source_name, rows, failed, table))
            self.refused.extend(label for label, _ in failed)
        self.report.accepted += new
        self.report.duplicates += len(rows) - new - len(failed)
        self.commit_batch()
        return new

    def finish(self) -> None:
        """Close the run inside its transaction: indexes rebuilt, counts checked and recorded, and
        the rejects file flushed, fsynced and renamed into place — all BEFORE the COMMIT, so a run
        recorded ``ok`` always has its rejects file (a crash before the COMMIT leaves at most a
        rejects file of a run that never happened, replaced by the next run of that id)."""
        self.begin()
        self.rebuild_indexes()
        self.report.check_invariant()
        if self.run_id is None:
            return
        self.report.rejects_file = str(self.rejects.path)
        r = self.report
        self.con.execute(
            "UPDATE ingest_runs SET finished_at=?, status='ok', rows_read=?, accepted=?,"
            " rejected=?, duplicates=?, rejects_file=?, message=NULL WHERE run_id=?",
            (utc_now(), r.read, r.accepted, r.rejected, r.duplicates, r.rejects_file, self.run_id),
        )
        self.rejects.close()

    def discard(self) -> None:
        """After a failure: no rejects file, partial or in place, for a run rolled back; a batched
        run that committed rows keeps it (it accounts for rows of the committed batches)."""
        if self.rejects is None:
            return
        if self.committed_batches and self.run_id is not None:
            self.rejects.close()
            return
        self.rejects.abort()

    def count_read(self, n: int) -> None:
        self.report.read += n

    def _defer_indexes(self, table: str, first_batch: int) -> None:
        """Drop ``table``'s secondary indexes for a bulk load into an empty (or nearly) table.

        Inserting a million rows in random key order into a B-tree index costs about twice as
        much as building the index once, sorted, afterwards, and a batched run pays it again at
        every COMMIT (each batch rewrites most of the index's pages). This pays off only when the
        rows being added outnumber those already stored, so it is done when the first chunk is
        large (≥ :data:`BULK_INDEX_ROWS`) and at least as large as the table.

        * One transaction: the drop happens inside it; a failed run rolls it back with everything
          else, and readers (WAL) keep seeing the indexed table until the commit, by which time the
          indexes are rebuilt.
        * Batched: only into a table holding at most :data:`BULK_INDEX_ROWS` rows (SQLite: an
          empty one, or a sample; PostgreSQL: an empty one): readers see the batches without the
          index until the run rebuilds it before its last COMMIT. The drop is recorded in the
          store, with this process on SQLite and, on PostgreSQL, an advisory lock this run's
          session holds until its end (:mod:`sauti.bulk_indexes`): a run that fails puts the
          indexes back, and one killed part-way has them re-created by the next opening of the
          store (or the next batched ingest).

        Primary-key and unique indexes stay: they enforce ``ON CONFLICT DO NOTHING``.
        """
        if first_batch < BULK_INDEX_ROWS:
            return
        stored = approximate_rows(self.con, table)
        if stored is None or stored > first_batch:
            return
        if self.batched and stored > BULK_INDEX_ROWS:
            return
        if stored and is_postgres(self.con):  # DROP INDEX locks out PostgreSQL's readers till the
            return  # commit: only for a first load into an empty table, which nobody reads yet
        locking = self.batched and is_postgres(self.con)
        if locking:  # listed first: a drop that fails leaves the lock to release after the ROLLBACK
            self.deferral_locks.append(table)
        dropped = defer_secondary_indexes(self.con, table, self.run_id, committed=self.batched)
        if locking and not dropped:  # not taken, or already released: nothing held
            self.deferral_locks.remove(table)
        self.deferred_indexes.update(dropped)

    def rebuild_indexes(self) -> None:
        """Re-create the indexes dropped for a bulk load (in the current transaction)."""
        if self.deferred_indexes:
            restore_deferred_indexes(self.con, list(self.deferred_indexes))
        self.deferred_indexes.clear()

    def release_locks(self) -> None:
        """PostgreSQL: release the deferral locks this run's session took, once its indexes are
        back and committed, or their drop rolled back, then its run lock, after the run's last
        COMMIT or its failure record (a session-level lock would otherwise stay with the pooled
        connection). Never raises: a lock left behind only makes a later store opening leave
        recorded indexes to this process's session, and keeps the run ``running`` (never wrongly
        ``interrupted``)."""
        while self.deferral_locks:
            table = self.deferral_locks.pop()
            try:
                release_deferral_lock(self.con, table)
            except sqlite3.Error:
                log.exception("could not release the lock of the load into %s", table)
        if self.run_locked:
            self.run_locked = False
            try:
                advisory_unlock(self.con, run_lock(self.run_id))
            except sqlite3.Error:
                log.exception("could not release the lock of ingest run %s", self.run_id)


@contextmanager
def _page_cache(con: sqlite3.Connection, kib: int) -> Iterator[None]:
    """A large page cache for one ingest, then the connection's own again (the service reuses
    connections per thread). It keeps the primary-key and date indexes in memory while a big file
    is inserted: the default 2,000 pages make random-order inserts about twice as slow.
    PostgreSQL's buffers are the server's: nothing to set."""
    if is_postgres(con):
        yield
        return
    previous = con.execute("PRAGMA cache_size").fetchone()[0]
    con.execute(f"PRAGMA cache_size = -{kib}")
    try:
        yield
    finally:
        con.execute(f"PRAGMA cache_size = {int(previous)}")


@contextmanager
def ingest_run(
    workspace: Workspace,
    kind: str,
    path: Path,
    *,
    fmt: str | None = None,
    params: dict[str, Any] | None = None,
    payload: bytes | None = None,
    lazy: bool = False,
    batched: bool = False,
) -> Iterator[RunContext]:
    """Run one file's ingest inside a single transaction (or, ``batched``, in batches).

    On success the run is recorded with its counts and its rejects file is in place before the
    COMMIT; on any exception nothing of the file is stored, no rejects file is left, a ``failed``
    run is recorded with the message, and the exception propagates.

    For a source that is not a file (records posted to the API), pass ``payload``: its sha256 is
    recorded instead of the file's, and ``path`` is only a label (``api:<source>``) stored as is.
    With ``lazy=True`` the run is recorded only if a row is rejected (:class:`RunContext`).

    With ``batched=True`` (large files) rows are committed :data:`BATCH_ROWS` at a time, the
    rejects file synced and in place before each COMMIT, so that the store's write lock is never
    held for a whole file: the live service's alert posts and reads wait a fraction of a second,
    not the length of the ingest. A run stopped part-way keeps the rows it committed (its record
    says ``failed``, or ``interrupted`` once the next batched run finds its loader gone:
    :func:`close_interrupted_runs`); ingesting
    the file again stores the rest and gives the same store as one uninterrupted run (rows are
    keyed: ``ON CONFLICT DO NOTHING``). A bulk load into an empty table builds its secondary indexes
    once at its end (:meth:`RunContext._defer_indexes`).
    """
    record = _run_record(workspace, kind, path, fmt, params, payload)
    report = IngestReport(kind=kind, path=str(path), format=fmt)
    with workspace.session() as con, _page_cache(con, INGEST_CACHE_KIB):
        if batched:
            close_interrupted_runs(con)
            if is_postgres(con):  # (SQLite: done by every opening of the store)
                restore_abandoned_indexes(con)
        ctx = RunContext(con, record, report, source_name=path.name, batched=batched, in_transaction=False)
        try:
            ctx.begin()
            try:
                if not lazy:
                    ctx.open()
                ctx.commit_batch()  # batched: the run record is visible ("running in process …")
                yield ctx
                ctx.finish()
            except BaseException:
                if ctx.in_transaction:
                    con.execute("ROLLBACK")
                    ctx.in_transaction = False
                raise
            con.execute("COMMIT")
            ctx.in_transaction = False
        except BaseException as exc:
            ctx.discard()
            _put_back_indexes(con, ctx)
            kept = ctx.run_id if ctx.committed_batches else None
            rows_kept = ctx.committed_batches > 1  # (the first commit holds only the run record)
            _record_failure(con, record, exc, kept, ctx.rejects.path if ctx.rejects else None, rows_kept)
            raise
        finally:
            ctx.release_locks()
    if ctx.run_id is not None:
        log.info(
            "ingested %s %s: read=%d accepted=%d rejected=%d duplicates=%d",
            kind,
            path.name,
            report.read,
            report.accepted,
            report.rejected,
            report.duplicates,
        )


def _put_back_indexes(con: sqlite3.Connection, ctx: RunContext) -> None:
    """After a failed batched run: the indexes it dropped in a batch it committed, re-created
    (a drop not yet committed was rolled back with its batch)."""
    if not ctx.deferred_indexes or not ctx.committed_batches:
        return
    try:
        with Workspace.transaction(con):
            restore_deferred_indexes(con, list(ctx.deferred_indexes))
    except sqlite3.Error:  # left recorded: the next opening of the store re-creates them
        log.exception("could not re-create the indexes dropped for the load")
    ctx.deferred_indexes.clear()


def _run_record(
    workspace: Workspace,
    kind: str,
    path: Path,
    fmt: str | None,
    params: dict[str, Any] | None,
    payload: bytes | None,
) -> RunRecord:
    if payload is not None:
        sha, label = hashlib.sha256(payload).hexdigest(), str(path)
        rejects_source = Path(re.sub(r"[^\w.-]+", "_", label))
    else:
        sha, label, rejects_source = sha256_file(path), str(path.resolve()), path
    return RunRecord(
        kind=kind,
        label=label,
        sha256=sha,
        fmt=fmt,
        params=json.dumps(params or {}, default=str),
        started=utc_now(),
        rejects_folder=workspace.folder("rejects"),
        rejects_source=rejects_source,
    )


def close_interrupted_runs(con: sqlite3.Connection) -> list[int]:
    """Mark ``interrupted`` the runs left ``running`` by a loader that is gone (killed part-way
    through a batched ingest); their committed rows stay. Returns their ids.

    * SQLite (one file, one host): the process named by the run's message
      (``running in process N``) is no longer running.
    * PostgreSQL (loaders on any host or container: a process id means nothing here): no session
      holds the run's :func:`~sauti.bulk_indexes.run_lock` — ``pg_try_advisory_lock`` succeeds
      from this session (it is released at once, after the mark); the pid is not consulted. A run
      recorded before that lock existed holds none, so the first batched ingest after the upgrade
      marks it ``interrupted`` even if an old loader were still writing it — that loader's own
      last update (``ok`` or ``failed``) sets its status again, and its rows are kept either way:
      preferred to the pid rule, which was wrong for every loader on another host.
    """
    postgres = is_postgres(con)
    closed = []
    for run_id, message in con.execute(
        "SELECT run_id, message FROM ingest_runs WHERE status = 'running'"
    ).fetchall():
        if postgres:
            if not try_advisory_lock(con, run_lock(run_id)):
                continue  # its session is alive, on this host or another
            try:  # (it may have finished since it was read: then nothing is marked)
                marked = _mark_interrupted(con, run_id)
            finally:
                advisory_unlock(con, run_lock(run_id))
        else:
            match = re.fullmatch(RUNNING.format(pid=r"(\d+)"), message or "")
            if match is None or process_running(int(match.group(1))):
                continue
            marked = _mark_interrupted(con, run_id)
        if marked:
            closed.append(run_id)
    return closed


def _mark_interrupted(con: sqlite3.Connection, run_id: int) -> bool:
    """Mark run ``run_id`` ``interrupted`` if it is still ``running``; whether it was."""
    marked = con.execute(
        "UPDATE ingest_runs SET status = 'interrupted', finished_at = ?, message = ?"
        " WHERE run_id = ? AND status = 'running' RETURNING run_id",
        (utc_now(), INTERRUPTED, run_id),
    )
    return bool(marked.fetchall())  # (read to the end: the statement is done, its lock released)


INTERRUPTED = (
    "stopped before it finished; the rows it committed are kept: ingest the file again to complete it"
)


def _record_failure(
    con: sqlite3.Connection,
    record: RunRecord,
    exc: BaseException,
    run_id: int | None = None,
    rejects_file: Path | None = None,
    rows_kept: bool = False,
) -> None:
    """Record a failed run: a new ``failed`` record, or (``run_id``: a batched run that committed
    rows) its own record marked ``failed`` with the counts it reached."""
    message = str(exc)[:500]
    try:
        if run_id is not None:
            with Workspace.transaction(con):
                con.execute(
                    "UPDATE ingest_runs SET status='failed', finished_at=?, message=?, rejects_file=?"
                    " WHERE run_id=?",
                    (
                        utc_now(),
                        f"{message} (rows committed before are kept)" if rows_kept else message,
                        str(rejects_file) if rejects_file else None,
                        run_id,
                    ),
                )
            return
        with Workspace.transaction(con):
            con.execute(
                "INSERT INTO ingest_runs (kind, path, sha256, format, started_at, finished_at, status,"
                " message) VALUES (?, ?, ?, ?, ?, ?, 'failed', ?)",
                (record.kind, record.label, record.sha256, record.fmt, record.started, utc_now(), message),
            )
    except sqlite3.Error:  # the store itself is broken: the original error is the one to show
        log.exception("could not record the failed run")


_CONSTRAINT_RE = re.compile(r"(NOT NULL|CHECK|FOREIGN KEY) constraint failed: (?:\w+\.)?(\w+)")


def _constraint_rejects(
    source_name: str, rows: pd.DataFrame, failed: list[tuple[Any, str]], table: str
) -> pd.DataFrame:
    """Reject records for rows the store refused: the column and a reason a person can act on
    (alerts shown as :func:`~sauti.ingest.bookkeeping.alert_reject_view` shows them)."""
    labels = [label for label, _ in failed]
    fields, reasons = [], []
    for _, message in failed:
        match = _CONSTRAINT_RE.search(message)
        kind, column = (match.group(1), match.group(2)) if match else ("", "(row)")
        fields.append(column)
        reasons.append("required value is missing or not a number" if kind == "NOT NULL" else message)
    shown = rows.loc[labels].drop(columns=["run_id"])
    if table == "alerts":
        shown = alert_reject_view(shown)
    shown = shown[[c for c in shown.columns if shown[c].map(lambda v: not isinstance(v, bytes)).all()]]
    frame = make_rejects(source_name, labels, "", reasons, raw_json(shown).to_numpy())
    frame["field"] = fields
    return frame


ProgressCallback = Callable[[int], None]


@contextmanager
def ingest_run_within(
    con: sqlite3.Connection,
    workspace: Workspace,
    kind: str,
    path: Path,
    *,
    fmt: str | None = None,
    params: dict[str, Any] | None = None,
    payload: bytes | None = None,
) -> Iterator[RunContext]:
    """:func:`ingest_run` for a caller that owns the transaction (the service, which writes its own
    rows — an Idempotency-Key reply, an audit entry — beside the ingested ones and commits them all).

    ``con`` must be inside a transaction; nothing here begins, commits or rolls back. The run is
    lazy (recorded only when a row is rejected, as a ``payload`` run of :func:`ingest_run`); on an
    exception its rejects file is discarded and the exception propagates: the caller's rollback
    undoes the rest.
    """
    record = _run_record(workspace, kind, path, fmt, params, payload)
    report = IngestReport(kind=kind, path=str(path), format=fmt)
    ctx = RunContext(con, record, report, source_name=path.name, in_transaction=True)
    try:
        yield ctx
        ctx.finish()
    except BaseException:
        ctx.discard()
        raise


def run_records(workspace: Workspace, run_ids: set[int] | list[int]) -> list[dict[str, Any]]:
    """The ingest runs ``run_ids`` — ``run_id``, ``kind``, ``path``, ``sha256``, ``format``,
    ``finished_at`` — in run order (the provenance a cube or report cites)."""
    ids = sorted({int(r) for r in run_ids})
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    with workspace.session() as con:
        rows = con.execute(
            f"SELECT run_id, kind, path, sha256, format, finished_at FROM ingest_runs "
            f"WHERE run_id IN ({marks}) ORDER BY run_id",
            tuple(ids),
        ).fetchall()
    return [dict(r) for r in rows]


def stored_runs(workspace: Workspace, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """``(path, params)`` of every finished run of ``kind`` that stored rows; unreadable params
    count as none."""
    with workspace.session() as con:
        rows = con.execute(
            "SELECT path, params FROM ingest_runs WHERE kind = ? AND status = 'ok' AND accepted > 0", (kind,)
        ).fetchall()
    out = []
    for path, params in rows:
        try:
            parsed = json.loads(params or "{}")
        except ValueError:
            parsed = {}
        out.append((str(path), parsed if isinstance(parsed, dict) else {}))
    return out
