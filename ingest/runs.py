"""One ingest run, all or nothing: open the run record, stream rows, write rejects, close it.

Every ``ingest_*`` function drives its rows through :func:`ingest_run`, so the run record, the
rejects file, the transaction and the ``read = accepted + rejected + duplicates`` invariant are
implemented once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sauti.ingest.report import IngestReport, RejectsWriter, sha256_file

from sauti.store import Workspace, insert_ignore, utc_now

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What a running ingest can use: the connection, its run id, and where to put rows."""

    con: sqlite3.Connection
    run_id: int
    report: IngestReport
    rejects: RejectsWriter

    def reject(self, rejects: pd.DataFrame) -> None:
        self.rejects.write(rejects)
        self.report.rejected += len(rejects)

    def store(self, table: str, rows: pd.DataFrame, read: int | None = None) -> int:
        """Insert ``rows`` (new ones kept, known keys counted as duplicates)."""
        rows = rows.assign(run_id=self.run_id)
        new = insert_ignore(self.con, table, rows)
        self.report.accepted += new
        self.report.duplicates += len(rows) - new
        return new

    def count_read(self, n: int) -> None:
        self.report.read += n


@contextmanager
def ingest_run(
    workspace: Workspace,
    kind: str,
    path: Path,
    *,
    fmt: str | None = None,
    params: dict[str, Any] | None = None,
) -> Iterator[RunContext]:
    """Run one file's ingest inside a single transaction.

    On success the run is recorded with its counts and the rejects file is moved into place; on
    any exception nothing of the file is stored, a ``failed`` run is recorded with the message,
    and the exception propagates.
    """
    sha = sha256_file(path)
    report = IngestReport(kind=kind, path=str(path), format=fmt)
    started = utc_now()
    with workspace.session() as con:
        writer: RejectsWriter | None = None
        try:
            with Workspace.transaction(con):
                run_id = con.execute(
                    "INSERT INTO ingest_runs (kind, path, sha256, format, params, started_at, status)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'running')",
                    (kind, str(path.resolve()), sha, fmt, json.dumps(params or {}, default=str), started),
                ).lastrowid
                report.run_id = run_id
                writer = RejectsWriter(workspace.folder("rejects"), f"{run_id:05d}_{kind}", path)
                ctx = RunContext(con, run_id, report, writer)
                yield ctx
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
            _record_failure(con, kind, path, sha, fmt, started, exc)
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
    path: Path,
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
                (kind, str(path.resolve()), sha, fmt, started, utc_now(), str(exc)[:500]),
            )
    except sqlite3.Error:  # the store itself is broken: the original error is the one to show
        log.exception("could not record the failed run")


ProgressCallback = Callable[[int], None]
