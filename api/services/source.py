"""The data source behind every endpoint: one workspace plus the caches the service keeps over it.

Routers receive it through ``deps.get_source`` so tests can swap it. It caches what is read on
every request (localities, latest scores, serialised features) in one :class:`sauti.cache.Memo`. A
cached value is valid while the *data stamp* is unchanged: a generation counter this process moves
after each write (an alert accepted, a nowcast finished), plus the store's fingerprint
(:meth:`Workspace.fingerprint`) and the risk surface's mtime, re-read at most every
:data:`STAMP_EVERY_S` seconds, so changes made by another process (``sauti score``) show up too,
and nothing is rebuilt while nothing changed.

API-key and session look-ups are cached for :data:`AUTH_TTL_S` seconds, but each hit is checked
against the store's revocation marker (re-read at most every :data:`REVOCATION_EVERY_S` seconds)
and a revocation through the API empties the cache at once: a revoked key or cookie stops working
immediately here and within a couple of seconds when revoked by another process (the CLI).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sauti.cache import Caches, Memo
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
AUTH_TTL_S = 60.0
REVOCATION_EVERY_S = 1.0
CACHE_ENTRIES = 512


class _Throttled:
    """A value re-read by ``read()`` at most every ``every_s`` seconds (others reuse the last one)."""

    def __init__(self, read: Callable[[], Any], every_s: float) -> None:
        self.read = read
        self.every_s = every_s
        self._lock = threading.Lock()
        self._checked = -1.0
        self._value: Any = None

    def reset(self) -> None:
        with self._lock:
            self._checked = -1.0

    def get(self) -> Any:
        now = time.monotonic()
        with self._lock:
            if now - self._checked < self.every_s:
                return self._value
            self._checked = now  # other requests use the old value meanwhile
        value = self.read()
        with self._lock:
            self._value = value
            self._checked = time.monotonic()
        return value


class DataSource:
    """A workspace as the service sees it.

    Parameters
    ----------
    workspace : Workspace
        The store and derived files.
    settings : Settings
        Service settings (body limit, CORS, basemap, public URL).
    """

    def __init__(self, workspace: Workspace, settings: Settings) -> None:
        self.workspace = workspace
        workspace.keep_connections()  # one open connection per worker thread: no open/close per request
        self.settings = settings
        self.generation = 0
        self._memo = Memo(CACHE_ENTRIES)
        # what the lower layers cache while serving (feature graph, loaded model, gazetteer): the
        # service's own, made current for its requests and refreshes (sauti.cache.using)
        self.caches = Caches()
        self._auth = Memo(4096, ttl=AUTH_TTL_S, keep_none=False)
        self._stamp = _Throttled(self._fingerprint, STAMP_EVERY_S)
        # incidents change only when an incident ingest finishes: their views are kept apart, so an
        # alert post (bump) or a batch committed mid-ingest does not make the next read rebuild them
        self._incident_stamp = _Throttled(self._finished_incident_runs, STAMP_EVERY_S)
        self._incident_memo = Memo(8)
        self._incident_last: dict[Any, Any] = {}  # key → the latest built value (served while rebuilding)
        self._incident_rebuilding: set[Any] = set()
        self._building = threading.local()  # set in a rebuild thread: nested views are built fresh
        self._revocations = _Throttled(self._revocation_marker, REVOCATION_EVERY_S)
        self._lock = threading.Lock()
        self._memo_stamp: Any = None
        self._auth_marker: Any = None
        self.nowcast = None  # set by create_app (services.nowcast.Nowcaster)

    # --- cache --------------------------------------------------------------------------------
    def bump(self) -> None:
        """Drop every cached view of the data (called after a write)."""
        with self._lock:
            self.generation += 1
        self._stamp.reset()
        self._memo.invalidate()

    def _fingerprint(self) -> Any:
        if not self.workspace.exists:
            return None
        try:
            surface = self.risk_surface_path.stat().st_mtime_ns
        except FileNotFoundError:
            surface = None
        return self.workspace.fingerprint(), surface

    def _finished_incident_runs(self) -> Any:
        if not self.workspace.exists:
            return None
        with self.workspace.session() as con:
            finished = "WHERE kind = 'incidents' AND status <> 'running'"
            return tuple(con.execute(f"SELECT MAX(run_id), COUNT(*) FROM ingest_runs {finished}").fetchone())

    def cached_incidents(self, key: Any, build: Callable[[], Any]) -> Any:
        """Like :meth:`cached` for a view of the incidents alone, valid until an incident ingest
        ends (a large ingest commits in batches: readers keep the last finished state meanwhile).

        When an ingest has finished, the view is rebuilt once in a background thread and the
        previous one is served until it is ready: a read never waits for a million incidents to be
        read back (only the very first build of a view is waited for)."""
        stamp = self._incident_stamp.get()
        missing = object()
        value = self._incident_memo.peek((stamp, key), missing)
        if value is not missing:
            return value
        last = self._incident_last.get(key)
        if last is None or getattr(self._building, "active", False):
            return self._remember(key, stamp, build)
        with self._lock:
            start = (stamp, key) not in self._incident_rebuilding
            self._incident_rebuilding.add((stamp, key))
        if start:
            threading.Thread(target=self._rebuild, args=(key, stamp, build), daemon=True).start()
        return last

    def _remember(self, key: Any, stamp: Any, build: Callable[[], Any]) -> Any:
        value = self._incident_memo.get((stamp, key), build)
        self._incident_last[key] = value
        return value

    def _rebuild(self, key: Any, stamp: Any, build: Callable[[], Any]) -> None:
        self._building.active = True
        try:
            self._remember(key, stamp, build)
        except Exception:  # the next read tries again (and waits, showing the error)
            log.exception("rebuilding %s failed", key)
            self._incident_last.pop(key, None)
        finally:
            self._building.active = False
            with self._lock:
                self._incident_rebuilding.discard((stamp, key))

    def stamp(self) -> Any:
        """What the data looks like now: cheap, re-read from the store at most once a second."""
        return self.generation, self._stamp.get()

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()`` once per data stamp, shared by all requests."""
        stamp = self.stamp()
        with self._lock:
            if stamp != self._memo_stamp:  # the data changed: nothing cached before is valid
                self._memo.invalidate()
                self._memo_stamp = stamp
        return self._memo.get((stamp, key), build)

    # --- authentication (cached look-ups, revocation-aware) ------------------------------------
    def _revocation_marker(self) -> Any:
        from sauti.api.services.accounts import revocation_marker

        return revocation_marker(self.workspace) if self.workspace.exists else None

    def _auth_cached(self, key: str, look_up: Callable[[], Principal | None]) -> Principal | None:
        marker = self._revocations.get()
        with self._lock:
            if marker != self._auth_marker:  # someone was revoked: forget every cached caller
                self._auth.invalidate()
                self._auth_marker = marker
        return self._auth.get((marker, key), look_up)

    def forget_principals(self) -> None:
        """Drop every cached key and session look-up (after a revocation made here)."""
        self._revocations.reset()
        self._auth.invalidate()

    def principal_for_key(self, key: str) -> Principal | None:
        from sauti.api.security import authenticate_key, hash_key

        return self._auth_cached("k:" + hash_key(key), lambda: authenticate_key(self.workspace, key))

    def principal_for_session(self, token: str) -> Principal | None:
        from sauti.api.security import authenticate_session

        return self._auth_cached("s:" + token, lambda: authenticate_session(self.workspace, token))

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
            from sauti.models import latest_scores

            try:
                frame = latest_scores(self.workspace)
            except NotReadyError:
                return None
            return None if frame is None or frame.empty else frame

        self.require_store()
        return self.cached("scores", build)

    def period_scores(self, period: str) -> pd.DataFrame | None:
        """Stored scores of an earlier scored ``period`` (ISO date); raises NotFoundError if unscored."""
        from sauti.models.stored_scores import period_scores

        self.require_store()
        return self.cached(("period_scores_iso", period), lambda: period_scores(self.workspace, period))

    def risk_history(self, locality_id: str) -> pd.DataFrame | None:
        """Scores and observed counts of one locality over time; ``None`` when it was not scored."""

        def build():
            from sauti.models import risk_history

            try:
                return risk_history(self.workspace, locality_id)
            except (NotReadyError, NotFoundError):  # no model yet, or not a unit of the model
                return None

        return self.cached(("risk_history", locality_id), build)

    def incidents(self) -> pd.DataFrame:
        self.require_store()
        return self.cached_incidents("incidents", self.workspace.incidents)

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

    def last_events(self) -> dict[str, str]:
        """``{category: date}`` of the latest incident of each category (the target first)."""
        from sauti.ingest.currency import last_events

        return self.cached_incidents("last_events", lambda: last_events(self.workspace))

    def target_silence(self) -> dict | None:
        """How long the forecast target has been silent against its usual gaps (with a warning)."""
        from sauti.ingest.currency import target_silence

        return self.cached_incidents(  # both dates move only when an incident ingest finishes
            "target_silence", lambda: target_silence(self.workspace, self.data_through())
        )

    def data_warnings(self) -> list[str]:
        """What a person must know about the data: incidents older than the setting, a silent target."""
        silence = self.target_silence()
        warnings = [self.currency_warning(), silence["warning"] if silence else None]
        return [w for w in warnings if w]

    @property
    def risk_surface_path(self) -> Path:
        return self.workspace.root / DEFAULT_SURFACE
