"""The data source behind every endpoint: one workspace plus the caches the service keeps over it.

Routers receive it through ``deps.get_source`` so tests can swap it. It caches what is read on
every request (localities, latest scores, serialised features, API-key lookups). A cached value is
valid while the *data stamp* is unchanged: a generation counter this process moves after each
write (an alert accepted, a nowcast finished), plus a fingerprint of the store (row counts and
latest timestamps of scores, alerts, incidents, localities; the risk surface's mtime) re-read at
most every :data:`STAMP_EVERY_S` seconds, so changes made by another process (``sauti score``)
show up too, and nothing is rebuilt while nothing changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sauti.constants import DEFAULT_SURFACE
from sauti.errors import NotFoundError, NotReadyError
from sauti.settings import Settings
from sauti.store import Workspace

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd
    from sauti.api.security import Principal

log = logging.getLogger("sauti.api")

STAMP_EVERY_S = 1.0
AUTH_TTL_S = 10.0
_FINGERPRINT_SQL = (
    "SELECT (SELECT COUNT(*) FROM localities), (SELECT COUNT(*) FROM incidents), "
    "(SELECT COUNT(*) FROM alerts), (SELECT MAX(updated_at) FROM alerts), "
    "(SELECT MAX(run_id) FROM ingest_runs)"
)


class DataSource:
    """A workspace as the service sees it.

    Parameters
    ----------
    workspace : Workspace
        The store and derived files.
    settings : Settings
        Service settings (body limit, CORS, basemap).
    """

    def __init__(self, workspace: Workspace, settings: Settings) -> None:
        self.workspace = workspace
        self.settings = settings
        self.generation = 0
        self._cache: dict[Any, tuple[Any, Any]] = {}
        self._stamp: tuple[float, Any] = (-1.0, None)
        self._auth: dict[str, tuple[float, Any]] = {}
        self._lock = threading.RLock()
        self.nowcast = None  # set by create_app (services.nowcast.Nowcaster)

    # --- cache --------------------------------------------------------------------------------
    def bump(self) -> None:
        """Drop every cached view of the data (called after a write)."""
        with self._lock:
            self.generation += 1
            self._stamp = (-1.0, None)
            self._cache.clear()

    def _fingerprint(self) -> Any:
        if not self.workspace.exists:
            return None
        with self.workspace.session() as con:
            row = tuple(con.execute(_FINGERPRINT_SQL).fetchone())
            try:
                scores = tuple(con.execute("SELECT COUNT(*), MAX(scored_at) FROM risk_scores").fetchone())
            except Exception:  # no risk_scores table: the models layer has not migrated this store
                scores = None
        try:
            surface = self.risk_surface_path.stat().st_mtime_ns
        except FileNotFoundError:
            surface = None
        return row, scores, surface

    def stamp(self) -> Any:
        """What the data looks like now: cheap, re-read from the store at most once a second."""
        now = time.monotonic()
        with self._lock:
            checked, fingerprint = self._stamp
            if now - checked < STAMP_EVERY_S:
                return self.generation, fingerprint
            self._stamp = (now, fingerprint)  # other requests use the old one meanwhile
        fingerprint = self._fingerprint()
        with self._lock:
            self._stamp = (time.monotonic(), fingerprint)
            return self.generation, fingerprint

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()`` once per data stamp, shared by all requests."""
        stamp = self.stamp()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        value = build()
        with self._lock:
            self._cache[key] = (stamp, value)
        return value

    # --- authentication (cached lookups) --------------------------------------------------------
    def principal_for_key(self, key: str) -> Principal | None:
        from sauti.api.security import authenticate_key, hash_key

        digest = hash_key(key)
        now = time.monotonic()
        hit = self._auth.get(digest)
        if hit is not None and now - hit[0] < AUTH_TTL_S:
            return hit[1]
        principal = authenticate_key(self.workspace, key)
        if principal is not None:
            self._auth[digest] = (now, principal)
        return principal

    def principal_for_session(self, token: str) -> Principal | None:
        from sauti.api.security import authenticate_session

        now = time.monotonic()
        hit = self._auth.get("s:" + token)
        if hit is not None and now - hit[0] < AUTH_TTL_S:
            return hit[1]
        principal = authenticate_session(self.workspace, token)
        if principal is not None:
            self._auth["s:" + token] = (now, principal)
        return principal

    # --- data ---------------------------------------------------------------------------------
    def require_store(self) -> None:
        if not self.workspace.exists:
            raise NotReadyError(
                f"workspace {self.workspace.root} has no store yet: run `sauti demo --no-serve` "
                "or `sauti ingest ...` first"
            )

    def localities(self) -> gpd.GeoDataFrame:
        """All stored localities (every level), EPSG:4326, cached."""
        self.require_store()
        return self.cached("localities", self.workspace.localities)

    def scores(self) -> pd.DataFrame | None:
        """The latest stored risk per locality, or ``None`` when nothing has been scored yet."""

        def build():
            try:
                from sauti.models import latest_scores
            except ImportError:
                return None
            try:
                frame = latest_scores(self.workspace)
            except NotReadyError:
                return None
            return None if frame is None or frame.empty else frame

        self.require_store()
        return self.cached("scores", build)

    def risk_history(self, locality_id: str) -> pd.DataFrame | None:
        """Scores and observed counts of one locality over time; ``None`` when it was not scored."""

        def build():
            try:
                from sauti.models import risk_history
            except ImportError:
                return None
            try:
                return risk_history(self.workspace, locality_id)
            except (NotReadyError, NotFoundError):  # no model yet, or not a unit of the model
                return None

        return self.cached(("risk_history", locality_id), build)

    def incidents(self) -> pd.DataFrame:
        self.require_store()
        return self.cached("incidents", self.workspace.incidents)

    def alerts(self) -> pd.DataFrame:
        """Stored alerts with sensitive columns: only ever passed through ``services.redaction``."""
        self.require_store()
        return self.cached("alerts", self.workspace.alerts)

    def data_through(self) -> dict[str, str | None]:
        """``{"incidents": date, "alerts": date}`` each source covers (cached per data stamp)."""
        from sauti.ingest.currency import data_through

        return self.cached("data_through", lambda: data_through(self.workspace))

    def currency_warning(self) -> str | None:
        """The warning text when incident data is older than the ``stale_after_days`` setting."""
        from sauti.ingest.currency import currency_warning

        return currency_warning(self.data_through(), stale_after_days=self.settings.stale_after_days)

    @property
    def risk_surface_path(self) -> Path:
        return self.workspace.root / DEFAULT_SURFACE
