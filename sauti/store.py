"""The workspace: an embedded SQLite store (WAL) plus folders for rejects, cubes, models, rasters.

Schema changes are numbered SQL files in ``sauti/migrations`` applied in order and recorded in
``PRAGMA user_version``. Every layer reads and writes through :class:`Workspace`; tests swap it
for one in a temporary folder.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sauti.constants import ALERT_COLUMNS, INCIDENT_COLUMNS, LOCALITY_COLUMNS, STORAGE_CRS

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd

DB_NAME = "sauti.sqlite"
SECRET_NAME = "secret.key"


def utc_now() -> str:
    """Current time as an ISO 8601 UTC string with seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("sauti").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Workspace:
    """A workspace folder holding the store and everything derived from it.

    Parameters
    ----------
    root : path
        The folder; created if it does not exist.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    # --- layout ------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    def folder(self, name: str) -> Path:
        """A sub-folder of the workspace (``rejects``, ``cubes``, ``models``, ``rasters``…)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def exists(self) -> bool:
        return self.db_path.exists()

    # --- connection --------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """Open the store (creating and migrating it if needed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA busy_timeout=30000")
        self._migrate(con)
        return con

    @contextmanager
    def session(self) -> Iterator[sqlite3.Connection]:
        """A connection that is closed afterwards."""
        con = self.connect()
        try:
            yield con
        finally:
            con.close()

    @staticmethod
    @contextmanager
    def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """All or nothing: commit on success, roll back on any exception."""
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def _migrate(self, con: sqlite3.Connection) -> None:
        current = con.execute("PRAGMA user_version").fetchone()[0]
        for number, _name, sql in _migrations():
            if number <= current:
                continue
            con.execute("BEGIN IMMEDIATE")
            try:
                # re-check under the write lock: another process may have migrated meanwhile
                if con.execute("PRAGMA user_version").fetchone()[0] >= number:
                    con.execute("ROLLBACK")
                    continue
                for statement in _split_sql(sql):
                    con.execute(statement)
                con.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def schema_version(self) -> int:
        with self.session() as con:
            return con.execute("PRAGMA user_version").fetchone()[0]

    # --- secret for reporter pseudonyms --------------------------------------------------------
    def secret(self) -> bytes:
        """The per-workspace HMAC key (created on first use, readable only by its owner)."""
        path = self.root / SECRET_NAME
        self.root.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
        return path.read_bytes()

    # --- ingest runs ---------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        import pandas as pd

        with self.session() as con:
            return pd.read_sql_query("SELECT * FROM ingest_runs ORDER BY run_id", con)

    # --- readers used by the higher layers -----------------------------------------------------
    def localities(self, level: str | None = None) -> gpd.GeoDataFrame:
        """Stored localities (all levels, or one) as a GeoDataFrame in EPSG:4326."""
        import geopandas as gpd
        import pandas as pd
        import shapely

        query = f"SELECT {', '.join(LOCALITY_COLUMNS)} FROM localities"
        params: tuple[Any, ...] = ()
        if level is not None:
            query += " WHERE level = ?"
            params = (level,)
        query += " ORDER BY locality_id"
        with self.session() as con:
            frame = pd.read_sql_query(query, con, params=params)
        geometry = shapely.from_wkb(frame.pop("geometry").to_numpy())
        frame["alt_names"] = frame["alt_names"].map(json.loads)
        return gpd.GeoDataFrame(frame, geometry=geometry, crs=STORAGE_CRS)

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
            frame = pd.read_sql_query(query, con, params=params)
        frame["occurred_on"] = pd.to_datetime(frame["occurred_on"])
        return frame

    def alerts(self) -> pd.DataFrame:
        """Stored alerts, sensitive columns included: for internal use, never for a response."""
        import pandas as pd

        query = f"SELECT {', '.join(ALERT_COLUMNS)}, run_id, created_at, updated_at FROM alerts"
        with self.session() as con:
            frame = pd.read_sql_query(query + " ORDER BY received_at, alert_id", con)
        frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
        return frame

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
            version = con.execute("PRAGMA user_version").fetchone()[0]
        return {
            "workspace": str(self.root.resolve()),
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


def _split_sql(sql: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside strings in our migrations)."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def insert_ignore(con: sqlite3.Connection, table: str, frame: pd.DataFrame) -> int:
    """``INSERT OR IGNORE`` the rows of ``frame``; return how many were new.

    Rows whose primary key is already stored (or repeated earlier in ``frame``) are ignored, which
    is what makes ingest idempotent.
    """
    if frame.empty:
        return 0
    columns = list(frame.columns)
    sql = f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    values = frame.astype("object").where(frame.notna(), None)
    before = con.total_changes
    con.executemany(sql, values.itertuples(index=False, name=None))
    return con.total_changes - before
