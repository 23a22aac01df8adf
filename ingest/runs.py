"""One ingest run, all or nothing: open the run record, stream rows, write rejects, close it.

Every ``ingest_*`` function drives its rows through :func:`ingest_run`, so the run record, the
rejects file, the transaction and the ``read = accepted + rejected + duplicates`` invariant are
implemented once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sauti.ingest.report import IngestReport, RejectsWriter

from sauti.checksum import sha256_file
from sauti.store import Workspace, insert_ignore, utc_now

log = logging.getLogger(__name__)

INGEST_CACHE_KIB = 256 * 1024  # SQLite page cache for an ingest connection
BULK_INDEX_ROWS = 50_000  # a first batch this large into a smaller table defers its secondary indexes


@dataclass
class RunContext:
    """What a running ingest can use: the connection, its run id, and where to put rows."""

    con: sqlite3.Connection
    run_id: int
    report: IngestReport
    rejects: RejectsWriter
    # secondary indexes dropped for a bulk insert, rebuilt by :meth:`rebuild_indexes` (name → SQL)
    deferred_indexes: dict[str, str] = field(default_factory=dict)
    _bulk_checked: set[str] = field(default_factory=set)

    def reject(self, rejects: pd.DataFrame) -> None:
        self.rejects.write(rejects)
        self.report.rejected += len(rejects)

    def store(self, table: str, rows: pd.DataFrame, read: int | None = None) -> int:
        """Insert ``rows`` (new ones kept, known keys counted as duplicates)."""
        rows = rows.assign(run_id=self.run_id)
        if table not in self._bulk_checked:
            self._bulk_checked.add(table)
            self._defer_indexes(table, len(rows))
        new = insert_ignore(self.con, table, rows)
        self.report.accepted += new
        self.report.duplicates += len(rows) - new
        return new

    def count_read(self, n: int) -> None:
        self.report.read += n

    def _defer_indexes(self, table: str, first_batch: int) -> None:
        """Drop ``table``'s secondary indexes for a bulk load into a (nearly) empty table.

        Inserting a million rows in random key order into a B-tree index costs about twice as
        much as building the index once, sorted, afterwards. This pays off only when the rows
        being added outnumber those already stored, so it is done when the first batch is large
        (≥ :data:`BULK_INDEX_ROWS`) and at least as large as the table. The drop happens inside
        the run's transaction: a failed run rolls it back with everything else, and readers (WAL)
        keep seeing the indexed table until the commit, by which time the indexes are rebuilt.
        Primary-key and unique indexes stay: they enforce ``INSERT OR IGNORE``.
        """
        if first_batch < BULK_INDEX_ROWS:
            return
        try:
            stored = self.con.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
        except sqlite3.OperationalError:  # a WITHOUT ROWID table: leave its indexes alone
            return
        if stored > first_batch:
            return
        indexes = self.con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL"
            " AND sql NOT LIKE 'CREATE UNIQUE%'",
            (table,),
        ).fetchall()
        for name, sql in indexes:
            self.con.execute(f'DROP INDEX "{name}"')
            self.deferred_indexes[name] = sql

    def rebuild_indexes(self) -> None:
        """Re-create the indexes dropped for a bulk load (in the same transaction)."""
        for sql in self.deferred_indexes.values():
            self.con.execute(sql)
        self.deferred_indexes.clear()


@contextmanager
def ingest_run(
    workspace: Workspace,
    kind: str,
    path: Path,
    *,
    fmt: str | None = None,
    params: dict[str, Any] | None = None,
    payload: bytes | None = None,
) -> Iterator[RunContext]:
    """Run one file's ingest inside a single transaction.

    On success the run is recorded with its counts and the rejects file is moved into place; on
    any exception nothing of the file is stored, a ``failed`` run is recorded with the message,
    and the exception propagates.

    For a source that is not a file (records posted to the API), pass ``payload``: its sha256 is
    recorded instead of the file's, and ``path`` is only a label (``api:<source>``) stored as is.
    """
    if payload is not None:
        sha = hashlib.sha256(payload).hexdigest()
        label = str(path)
        rejects_source = Path(re.sub(r"[^\w.-]+", "_", label))
    else:
        sha = sha256_file(path)
        label = str(path.resolve())
        rejects_source = path
    report = IngestReport(kind=kind, path=str(path), format=fmt)
    started = utc_now()
    with workspace.session() as con:
        # A large page cache keeps the primary-key and date indexes in memory while a big file is
        # inserted (the default 2,000 pages make random-order inserts about twice as slow).
        con.execute(f"PRAGMA cache_size = -{INGEST_CACHE_KIB}")
        writer: RejectsWriter | None = None
        try:
            with Workspace.transaction(con):
                run_id = con.execute(
                    "INSERT INTO ingest_runs (kind, path, sha256, format, params, started_at, status)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'running')",
                    (kind, label, sha, fmt, json.dumps(params or {}, default=str), started),
                ).lastrowid
                report.run_id = run_id
                writer = RejectsWriter(workspace.folder("rejects"), f"{run_id:05d}_{kind}", rejects_source)
                ctx = RunContext(con, run_id, report, writer)
                yield ctx
                ctx.rebuild_indexes()
                report.check_invariant()
                report.rejects_file = str(writer.path)
                con.execute(
                    "UPDATE ingest_runs SET finished_at=?, status='ok', rows_read=?, accepted=?,"
                    " rejected=?, duplicates=?, rejects_file=? WHERE run_id=?",
                    (
                        utc_now(),
                        report.read,
                        report.accepted,
                        report.rejected,
                        report.duplicates,
                        report.rejects_file,
                        run_id,
                    ),
                )
            writer.close()
        except BaseException as exc:
            if writer is not None:
                writer.abort()
            _record_failure(con, kind, label, sha, fmt, started, exc)
            raise
    log.info(
        "ingested %s %s: read=%d accepted=%d rejected=%d duplicates=%d",
        kind,
        path.name,
        report.read,
        report.accepted,
        report.rejected,
        report.duplicates,
    )
    return


def _record_failure(
    con: sqlite3.Connection,
    kind: str,
    label: str,
    sha: str,
    fmt: str | None,
    started: str,
    exc: BaseException,
) -> None:
    try:
        with Workspace.transaction(con):
            con.execute(
                "INSERT INTO ingest_runs (kind, path, sha256, format, started_at, finished_at, status,"
                " message) VALUES (?, ?, ?, ?, ?, ?, 'failed', ?)",
                (kind, label, sha, fmt, started, utc_now(), str(exc)[:500]),
            )
    except sqlite3.Error:  # the store itself is broken: the original error is the one to show
        log.exception("could not record the failed run")


ProgressCallback = Callable[[int], None]
