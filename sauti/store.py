"""The workspace: the store (an embedded SQLite file with WAL, or a PostgreSQL + PostGIS database
given by ``SAUTI_DATABASE_URL``) plus folders for rejects, cubes, models, rasters.

Schema changes are numbered SQL files in ``sauti/migrations`` applied in order on either back-end
(:mod:`sauti.db` words them for PostgreSQL) and recorded in ``schema_migrations``. Every layer
reads and writes through :class:`Workspace`; tests swap it for one in a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sauti import db, pg_copy
from sauti.bulk_indexes import restore_abandoned_indexes
from sauti.constants import ALERT_COLUMNS, INCIDENT_COLUMNS, LOCALITY_COLUMNS, STORAGE_CRS
from sauti.db import read_frame
from sauti.errors import SautiError
from sauti.schema import migrate

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd

DB_NAME = "sauti.sqlite"
SECRET_NAME = "secret.key"
SECRET_BYTES = 32


def utc_now(timespec: str = "seconds") -> str:
    """Current time as an ISO 8601 UTC string (``2026-11-24T10:28:38Z``).

    ``timespec="milliseconds"`` (``…T10:28:38.123Z``) for stamps that must tell apart two writes
    within one second, such as risk scores refreshed by the nowcaster right after one another.
    """
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


# Rows are never deleted from these tables and a REPLACE re-inserts, so the highest rowid moves with
# every insert; updates move the (indexed) write times. Every part is a B-tree look-up, not a count.
_FINGERPRINT_SQL = (
    "SELECT (SELECT MAX(rowid) FROM localities), (SELECT MAX(rowid) FROM incidents), "
    "(SELECT MAX(rowid) FROM alerts), (SELECT MAX(updated_at) FROM alerts), "
    "(SELECT MAX(rowid) FROM risk_scores), (SELECT MAX(scored_at) FROM risk_scores), "
    "(SELECT MAX(run_id) FROM ingest_runs)"  # a declared --complete-through adds only a run
)


class Workspace:
    """A workspace folder holding the store and everything derived from it.

    Parameters
    ----------
    root : path
        The folder; created if it does not exist.
    database_url : str, optional
        The store: ``sqlite:///PATH`` or ``postgresql://USER:PASSWORD@HOST:PORT/NAME``. Default
        ``sqlite:///<root>/sauti.sqlite``. On PostgreSQL no SQLite file is written.
    """

    def __init__(self, root: str | os.PathLike[str], database_url: str | None = None) -> None:
        self.root = Path(root).absolute()
        self.database_url = database_url or db.default_url(self.root)
        self.backend = db.backend_of(self.database_url)
        self._kept: threading.local | None = None  # per-thread connections, see keep_connections
        self._migrated = False  # PostgreSQL: migrations checked by this object already

    def keep_connections(self) -> None:
        """Reuse one open connection per thread for :meth:`session` (a long-running service).

        Opening a connection, and above all closing the last one (SQLite then checkpoints the
        WAL), costs milliseconds a request waiting for an answer should not pay. A nested
        session in the same thread still gets a connection of its own.
        """
        if self._kept is None:
            self._kept = threading.local()

    # --- layout ------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        """The SQLite file (on PostgreSQL: where it would be; it is never written)."""
        if self.backend == db.SQLITE:
            return db.sqlite_path(self.database_url)
        return self.root / DB_NAME

    def folder(self, name: str) -> Path:
        """A sub-folder of the workspace (``rejects``, ``cubes``, ``models``, ``rasters``…)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def exists(self) -> bool:
        """Whether the store has been created (on PostgreSQL: migrated at least once)."""
        if self.backend == db.SQLITE:
            return self.db_path.exists()
        con = db.connect_postgres(self.database_url)
        try:
            return con.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is not None
        finally:
            con.close()

    # --- connection --------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """Open the store (creating and migrating it if needed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.backend == db.POSTGRESQL:
            con = db.connect_postgres(self.database_url)
            if self._migrated:  # once per process and store: a session is then one pool checkout
                return con
            try:
                self._migrate(con)
                # a bulk load killed with its indexes away (kept from here on: restored once per
                # process and store; a batched ingest looks again before it starts)
                restore_abandoned_indexes(con)
            except BaseException:
                con.close()
                raise
            self._migrated = True
            return con
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA busy_timeout=30000")
        self._migrate(con)
        restore_abandoned_indexes(con)
        return con

    @contextmanager
    def session(self) -> Iterator[sqlite3.Connection]:
        """A connection that is closed afterwards (or kept for the thread: :meth:`keep_connections`)."""
        kept = self._kept
        if kept is not None and not getattr(kept, "busy", False) and self._keepable():
            if getattr(kept, "con", None) is None:
                kept.con = self.connect()
            kept.busy = True
            try:
                yield kept.con
            finally:
                kept.busy = False
            return
        con = self.connect()
        try:
            yield con
        finally:
            con.close()

    def _keepable(self) -> bool:
        # PostgreSQL: the engine's pool is the reuse; a connection kept by each of the service's
        # threads would hold the pool's every connection and starve the rest
        return self.backend == db.SQLITE and self.db_path.exists()

    @staticmethod
    @contextmanager
    def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """All or nothing: commit on success, roll back on any exception (:func:`sauti.db.transaction`)."""
        with db.transaction(con):
            yield con

    def _migrate(self, con: sqlite3.Connection) -> None:
        """Apply every migration not yet recorded in ``schema_migrations`` (:func:`sauti.schema.migrate`)."""
        migrate(con, self.backend)

    def schema_version(self) -> int:
        """The highest migration applied to the store."""
        with self.session() as con:
            return con.execute("SELECT MAX(number) FROM schema_migrations").fetchone()[0] or 0

    # --- secret for reporter pseudonyms --------------------------------------------------------
    def secret(self) -> bytes:
        """The per-workspace HMAC key (created on first use, readable only by its owner).

        Pseudonyms and session tokens are keyed by it, so it must be the same 32 bytes for every
        caller: it is written whole to a private temporary file and hard-linked into place, and a
        thread or process that loses the race reads the winner's file, never a half-written one.
        Raises :class:`~sauti.errors.SautiError` when the file exists but is not 32 bytes.
        """
        path = self.root / SECRET_NAME
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = _create_secret(path)
        if len(key) != SECRET_BYTES:
            raise SautiError(
                f"{path}: the workspace secret is damaged ({len(key)} bytes, expected {SECRET_BYTES}); "
                "restore it from a backup (a new one would change every reporter pseudonym)"
            )
        return key

    # --- ingest runs ---------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:

        with self.session() as con:
            return read_frame(con, "SELECT * FROM ingest_runs ORDER BY run_id")

    # --- readers used by the higher layers -----------------------------------------------------
    def localities(self, level: str | None = None) -> gpd.GeoDataFrame:
        """Stored localities (all levels, or one) as a GeoDataFrame in EPSG:4326."""
        import geopandas as gpd
        import shapely

        query = f"SELECT {', '.join(LOCALITY_COLUMNS)} FROM localities"
        params: tuple[Any, ...] = ()
        if level is not None:
            query += " WHERE level = ?"
            params = (level,)
        query += " ORDER BY locality_id"
        with self.session() as con:
            frame = read_frame(con, query, params)
        geometry = shapely.from_wkb(frame.pop("geometry").to_numpy())
        frame["alt_names"] = frame["alt_names"].map(json.loads)
        return gpd.GeoDataFrame(frame, geometry=geometry, crs=STORAGE_CRS)

    def locate_incidents(self, level: str) -> pd.DataFrame:
        """Point-in-polygon in the database (PostgreSQL + PostGIS): ``event_id`` and the
        ``locality_id`` of the ``level`` locality containing each located incident (a point on an
        edge counts as inside, as shapely's ``intersects``), through the GiST index. On a shared
        border the smallest ``locality_id`` in code-point order (``COLLATE "C"``, as Python and
        SQLite sort) wins, as in :func:`sauti.features.assign.locate_points` over localities sorted
        by id. Incidents in no locality are left out. The features layer uses it on PostgreSQL
        (:func:`sauti.features.compute.located_in_store`).

        Raises :class:`~sauti.errors.SautiError` on SQLite (no spatial index there: the features
        layer locates points in memory with shapely).
        """
        if self.backend != db.POSTGRESQL:
            raise SautiError("locating incidents in the database needs the PostgreSQL + PostGIS store")
        with self.session() as con:
            return read_frame(
                con,
                "SELECT DISTINCT ON (i.event_id) i.event_id, l.locality_id FROM incidents i "
                "JOIN localities l ON l.level = ? AND ST_Intersects(l.geom, i.geom) "
                'WHERE i.geom IS NOT NULL ORDER BY i.event_id, l.locality_id COLLATE "C"',
                (level,),
            )

    def levels(self) -> dict[str, int]:
        """Number of stored localities per level."""
        with self.session() as con:
            rows = con.execute("SELECT level, COUNT(*) FROM localities GROUP BY level ORDER BY level")
            return {r[0]: r[1] for r in rows}

    def incidents(self, until: str | None = None) -> pd.DataFrame:
        """Stored incidents, optionally only those that occurred on or before ``until`` (ISO)."""
        import pandas as pd

        query = f"SELECT {', '.join(INCIDENT_COLUMNS)}, run_id FROM incidents"
        params: tuple[Any, ...] = ()
        if until is not None:
            query += " WHERE occurred_on <= ?"
            params = (until,)
        query += " ORDER BY occurred_on, event_id"
        with self.session() as con:
            frame = read_frame(con, query, params)
        frame["occurred_on"] = pd.to_datetime(frame["occurred_on"])
        return frame

    def alerts(self) -> pd.DataFrame:
        """Stored alerts, sensitive columns included: for internal use, never for a response."""
        import pandas as pd

        query = f"SELECT {', '.join(ALERT_COLUMNS)}, run_id, created_at, updated_at FROM alerts"
        with self.session() as con:
            frame = read_frame(con, query + " ORDER BY received_at, alert_id")
        frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
        return frame

    def alert_verifications(self) -> pd.DataFrame:
        """Every verification decision (``alert_id``, ``verification``, ``decided_at`` as UTC
        datetimes, ``source``), in the order made."""
        import pandas as pd

        query = (
            "SELECT alert_id, verification, decided_at, source FROM alert_verifications "
            "ORDER BY decided_at, rowid"
        )
        with self.session() as con:
            frame = read_frame(con, query)
        frame["decided_at"] = pd.to_datetime(frame["decided_at"], utc=True)
        return frame

    def fingerprint(self) -> tuple:
        """A cheap stamp of the stored data: row counts and latest write times of localities,
        incidents, alerts (incl. verifications) and risk scores. It changes whenever any of them does.

        On PostgreSQL, :func:`sauti.db.data_stamp` (a sequence drawn by every writing statement and
        the transactions writing now: O(1), where ``MAX(ctid)`` scanned each table)."""
        with self.session() as con:
            if db.is_postgres(con):
                return db.data_stamp(con)
            return tuple(con.execute(_FINGERPRINT_SQL).fetchone())

    def status(self) -> dict[str, Any]:
        """What the workspace holds, as plain data."""
        with self.session() as con:
            counts = {
                table: con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("localities", "incidents", "alerts", "place_names", "ingest_runs")
            }
            span = con.execute("SELECT MIN(occurred_on), MAX(occurred_on) FROM incidents").fetchone()
            alert_span = con.execute("SELECT MIN(received_at), MAX(received_at) FROM alerts").fetchone()
            sources = dict(con.execute("SELECT source, COUNT(*) FROM incidents GROUP BY source").fetchall())
            categories = dict(
                con.execute("SELECT category, COUNT(*) FROM incidents GROUP BY category").fetchall()
            )
            version = con.execute("SELECT MAX(number) FROM schema_migrations").fetchone()[0] or 0
        return {
            "workspace": str(self.root.resolve()),
            "store": db.redact(self.database_url),
            "schema_version": version,
            "localities": self.levels(),
            "incidents": counts["incidents"],
            "incidents_by_source": sources,
            "incidents_by_category": categories,
            "incident_dates": list(span),
            "alerts": counts["alerts"],
            "alert_dates": list(alert_span),
            "place_names": counts["place_names"],
            "ingest_runs": counts["ingest_runs"],
        }


def stored_keys(con: sqlite3.Connection, table: str, column: str, values: list) -> set:
    """Which of ``values`` the ``column`` of ``table`` already holds (looked up 500 at a time).

    ``table`` and ``column`` are the store's own names, never the caller's input.
    """
    found: set = set()
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        sql = f"SELECT {column} FROM {table} WHERE {column} IN ({', '.join('?' for _ in part)})"
        found.update(r[0] for r in con.execute(sql, part))
    return found


def insert_ignore(con: sqlite3.Connection, table: str, frame: pd.DataFrame) -> int:
    """Insert the rows of ``frame`` whose key is new; return how many were new.

    Like :func:`insert_new`, for rows that were checked already (derived localities, place
    names): a row that breaks a NOT NULL or CHECK constraint raises :class:`sqlite3.IntegrityError`
    instead of being skipped as if it were a duplicate.
    """
    new, failed = insert_new(con, table, frame)
    if failed:
        raise sqlite3.IntegrityError(f"{table}: {failed[0][1]} (and {len(failed) - 1} more rows)")
    return new


def insert_new(con: sqlite3.Connection, table: str, frame: pd.DataFrame) -> tuple[int, list[tuple[Any, str]]]:
    """Insert the rows of ``frame`` whose key is new; return ``(new, failed)``.

    Rows whose primary key is already stored (or repeated earlier in ``frame``) are skipped
    (``ON CONFLICT DO NOTHING``: a duplicate is only a key match), which is what makes ingest
    idempotent. A row that breaks any other constraint (NOT NULL, CHECK) is not stored and comes
    back in ``failed`` as ``(index label, SQLite's message)``: the batch is inserted again in
    halves until each failing row is found, so one bad row costs a few extra batches, not a row
    at a time. Missing values (``None``, ``NaN``, ``NaT``, ``pd.NA``) are stored as NULL. Rows
    are bound column-wise (one ``tolist`` per column, no per-row pandas work): this is the hot
    loop of a million-row ingest. Text columns are first bound as they are (``None`` and float
    ``NaN`` both bind as NULL); only if one holds a value SQLite cannot bind (``pd.NA``, ``NaT``)
    is the batch rolled back and bound again with every missing value turned into ``None``,
    which spares a scan for missing values per column.
    """
    if frame.empty:
        return 0, []
    columns = list(frame.columns)
    # a column holding one value in every row (the run id, the source) is written into the
    # statement as a literal rather than bound a million times
    constants = {c: literal for c in columns if (literal := _constant_literal(frame[c])) is not None}
    bound = [c for c in columns if c not in constants]
    names = ", ".join([*bound, *constants])
    slots = ", ".join(["?"] * len(bound) + list(constants.values()))
    sql = f"INSERT INTO {table} ({names}) VALUES ({slots}) ON CONFLICT DO NOTHING"
    if db.is_postgres(con) and len(frame) >= pg_copy.COPY_MIN_ROWS:
        new = pg_copy.copy_insert(
            con,
            table,
            columns,
            lambda: _copy_rows(frame, columns),
            lines=lambda: pg_copy.copy_lines(_copy_columns(frame, columns)),
            keys=_key_values(con, table, frame),
        )
        if new is not None:  # None: a row broke a constraint; the rows go again below to find it
            return new, []
    failed: list[tuple[int, str]] = []
    con.execute("SAVEPOINT insert_batch")
    try:
        try:  # text columns bound as they are first (see _bindable); NA values refused: again
            rows = _rows(frame, bound, scan_text=False)
            new = _insert_bisecting(con, sql, rows, 0, failed, lambda: list(_rows(frame, bound, False)))
        except sqlite3.ProgrammingError:  # e.g. "type 'NAType' is not supported"
            con.execute("ROLLBACK TO insert_batch")
            failed.clear()
            new = _insert_bisecting(con, sql, list(_rows(frame, bound, scan_text=True)), 0, failed)
    except BaseException:
        con.execute("ROLLBACK TO insert_batch")
        con.execute("RELEASE insert_batch")
        raise
    con.execute("RELEASE insert_batch")
    labels = frame.index
    return new, [(labels[pos], message) for pos, message in failed]


def _rows(frame: pd.DataFrame, bound: list[str], scan_text: bool) -> Iterator[tuple] | list[tuple]:
    """The rows to bind, lazily (``executemany`` makes each tuple as it goes: no list of a million)."""
    if not bound:  # every column constant: one empty tuple per row
        return [()] * len(frame)
    return zip(*[_bindable(frame[c], scan_text=scan_text) for c in bound], strict=True)


def _copy_rows(frame: pd.DataFrame, bound: list[str]) -> Iterator[tuple]:
    """The rows for ``COPY``, one tuple each: as :func:`_rows`, with a float column's ``NaN`` as
    ``None`` (COPY would store NaN, where binding stores NULL). Only for a batch
    :func:`sauti.pg_copy.copy_lines` cannot format (a value that is not text or a number)."""
    columns = []
    for c in bound:
        series = frame[c]
        if series.dtype.kind == "f":
            columns.append(series.astype(object).where(series.notna(), None).tolist())
        else:
            columns.append(_bindable(series, scan_text=True))
    return zip(*columns, strict=True)


def _copy_columns(frame: pd.DataFrame, bound: list[str]) -> list[list[Any]]:
    """The columns of ``frame`` as Python values for :func:`sauti.pg_copy.copy_lines` (missing → ``None``;
    a float column's ``NaN`` is left for ``copy_lines`` to write as NULL)."""
    return [_bindable(frame[c], scan_text=True) for c in bound]


def _key_values(con: Any, table: str, frame: pd.DataFrame) -> list[Any] | None:
    """The batch's values of ``table``'s one-column key (:func:`sauti.pg_copy.unique_key`), or ``None``."""
    key = pg_copy.unique_key(con, table)
    return _bindable(frame[key], scan_text=True) if key is not None and key in frame.columns else None


def _insert_bisecting(
    con: sqlite3.Connection,
    sql: str,
    rows: Iterator[tuple] | list[tuple],
    offset: int,
    failed: list[tuple[int, str]],
    again: Callable[[], list[tuple]] | None = None,
) -> int:
    """``executemany`` under a savepoint; on a constraint failure, the two halves on their own.

    ``rows`` may be a one-pass iterator when ``again`` can make them anew (as a list) for the
    halves. Returns how many rows were inserted (``total_changes`` also counts rows rolled back).
    """
    con.execute("SAVEPOINT insert_part")
    before = con.total_changes
    try:
        con.executemany(sql, rows)
    except sqlite3.IntegrityError as exc:
        con.execute("ROLLBACK TO insert_part")
        con.execute("RELEASE insert_part")
        if not isinstance(rows, list):
            rows = again() if again is not None else []
        if len(rows) == 1:
            failed.append((offset, str(exc)))
            return 0
        half = len(rows) // 2
        first = _insert_bisecting(con, sql, rows[:half], offset, failed)
        return first + _insert_bisecting(con, sql, rows[half:], offset + half, failed)
    except BaseException:
        con.execute("ROLLBACK TO insert_part")
        con.execute("RELEASE insert_part")
        raise
    new = con.total_changes - before
    con.execute("RELEASE insert_part")
    return new


def _constant_literal(series: pd.Series) -> str | None:
    """SQL literal of the value a column holds in every row, if it is a plain int or str."""
    import numpy as np

    if len(series) < 2 or not isinstance(series.dtype, np.dtype) and series.dtype != "str":
        return None
    values = series.to_numpy(dtype=object) if series.dtype == "str" else series.to_numpy()
    first = values[0]
    if type(first) is not str and series.dtype.kind not in "iu":  # exactly str: bound as TEXT
        return None
    try:
        if not (values[:: max(len(values) // 64, 1)] == first).all():  # a sample first: cheap "no"
            return None
        if not (values == first).all():
            return None
    except (TypeError, ValueError):  # pd.NA and other values that do not compare
        return None
    if type(first) is str:
        return None if "\x00" in first else "'" + first.replace("'", "''") + "'"
    return str(int(first))


def _bindable(series: pd.Series, scan_text: bool = True) -> list[Any]:
    """A column as Python values SQLite can bind: every missing value (``NaN``, ``None``,
    ``NaT``, ``pd.NA`` — nullable ``Int64``/``boolean``/``string`` columns hold the latter) → ``None``.

    With ``scan_text=False`` a plain object column, or a ``str`` column (whose gaps are ``NaN``), is
    returned as is: ``None`` and ``NaN`` bind as NULL, and anything else unbindable raises
    :class:`sqlite3.ProgrammingError` in ``executemany``.
    """
    import numpy as np
    import pandas as pd

    kind = series.dtype.kind
    if isinstance(series.dtype, np.dtype):
        if kind in "iuf":
            return series.tolist()  # float NaN binds as NULL
        if kind == "b":
            return series.astype("int64").tolist()
        if kind == "M":
            text = series.dt.strftime("%Y-%m-%dT%H:%M:%S").astype("object")
            return text.where(series.notna(), None).tolist()
        if kind == "O" and not scan_text:
            return series.tolist()
    if kind == "M":  # tz-aware datetimes
        return series.dt.strftime("%Y-%m-%dT%H:%M:%S").astype("object").where(series.notna(), None).tolist()
    if (
        not scan_text
        and isinstance(series.dtype, pd.StringDtype)
        and series.dtype.storage == "python"
        and series.dtype.na_value is np.nan
    ):
        return series.to_numpy(dtype=object).tolist()  # gaps are NaN: bound as NULL
    values = series.to_numpy(dtype=object)  # extension arrays: Python scalars, pd.NA for gaps
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = None
    if kind in "iub":  # nullable Int64/boolean: numpy scalars to Python ints
        return [None if v is None else int(v) for v in values]
    return values.tolist()


def _create_secret(path: Path) -> bytes:
    """Create ``path`` holding a fresh key, atomically; return what ``path`` holds afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(SECRET_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another caller linked first: theirs is kept
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()
