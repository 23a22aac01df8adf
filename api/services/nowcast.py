"""Freshness: after alerts are accepted, rebuild the feature cube, rescore with the current model and
redraw the stored heatmap with the new scores.

No retraining. Requests are coalesced: one worker thread runs at most one refresh at a time and a
burst of alerts causes one more refresh, not one per alert. Across worker processes on one store a
refresh is claimed in the store (:mod:`sauti.api.services.refresh_claims`): it runs once per data
change, and a process whose request a finished refresh already covered skips it and serves that
result. Progress is visible on ``GET /api/v1/health`` (``nowcast`` block) and each finished
refresh drops the service's caches.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sauti.api.services.refresh_claims import claim_refresh, finish_refresh, latest_refresh, refresh_turn
from sauti.api.services.source import DataSource
from sauti.cache import using

log = logging.getLogger("sauti.api.nowcast")


def refresh(source: DataSource, localities: set[str] | None = None, previous=None) -> dict[str, Any]:
    """Rebuild the cube (same frequency and unit as the current model), rescore and redraw, synchronously.

    One call of :func:`sauti.models.refresh.refresh_risk` (the demo and the CLI call it too); the
    raster and time zone come from the service's settings, the rest from the stored cube.
    ``previous`` is the cube before the new alerts (kept by :class:`Nowcaster`): only the
    localities whose features changed get new drivers. Returns what was done, with the new cube
    under ``"cube"``; a workspace without a trained model only gets its cube rebuilt.
    """
    from sauti.api.services.risk import roll_up
    from sauti.models import current_model
    from sauti.models.refresh import refresh_risk

    workspace = source.workspace
    model = current_model(workspace)
    affected = None
    if model is not None:
        affected = sorted({u for u in roll_up(source, sorted(localities or ()), model["unit"]) if u})
    done = refresh_risk(
        workspace,
        previous=previous,
        localities=affected or None,
        population=source.settings.population,
        timezone=source.settings.timezone,
        on_scored=source.bump,  # the new scores are served from here on
    )
    if done["changed"]:  # and the heatmap; nothing new (an alert that moved no feature): caches stay
        source.bump()
    return {**done, "heatmap": done["heatmap"] is not None}


PRELOAD_MODULES = (
    "pandas",
    "geopandas",
    "shapely",
    "scipy.signal",
    "scipy.ndimage",
    "scipy.optimize",
    "sklearn.metrics",
    "libpysal.graph",
    "rasterio.features",
    "rasterio.windows",
    "rio_tiler.io",
    "matplotlib",
    "folium",
    "skops.io",
    "rapidfuzz.process",
    "sauti.ingest.alerts",
    "sauti.features",
    "sauti.features.storage",
    "sauti.models.scoring",
    "sauti.models.explain",
    "sauti.models.patrol",
)


def preload(modules: tuple[str, ...] = PRELOAD_MODULES) -> float:
    """Import what requests and refreshes need, once, on the calling (main) thread; seconds taken.

    Heavy packages imported lazily by several threads at once can trip CPython's import machinery
    (seen here: ``KeyError: 'scipy'`` in the nowcast thread while a request imported scipy), so the
    service imports them before it accepts requests.
    """
    from importlib import import_module

    started = time.perf_counter()
    for name in modules:
        try:
            import_module(name)
        except Exception as exc:  # a missing optional layer is reported when used
            log.warning("preload %s: %s", name, exc)
    return round(time.perf_counter() - started, 3)


class Nowcaster:
    """A background worker that runs :func:`refresh` when asked, coalescing requests."""

    def __init__(self, source: DataSource) -> None:
        self.source = source
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self.state: dict[str, Any] = {
            "runs": 0,
            "skipped": 0,
            "running": False,
            "last": None,
            "last_error": None,
        }
        self._mark: int | None = -1  # the latest refresh when the pending requests' data was stored
        self._thread: threading.Thread | None = None
        self._cube = None  # the cube of the last refresh (or warm-up)

    def start(self) -> None:
        """Start the worker; it first imports the feature and model code so the first refresh is fast."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sauti-nowcast", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()

    def request(self, localities: set[str] | None = None) -> None:
        """Ask for a refresh of data already committed (returns at once)."""
        try:
            mark = latest_refresh(self.source.workspace)
        except Exception as exc:  # no mark: this request is refreshed whatever others did
            log.warning("nowcast: latest refresh unknown (%s): refreshing", exc)
            mark = None
        with self._lock:
            self._pending |= set(localities or ())
            if self._mark is not None:
                self._mark = None if mark is None else max(self._mark, mark)
        self.start()
        self._wanted.set()

    def _warm(self) -> None:
        """Pay the first refresh's one-off cost at start-up, not when the first alert arrives.

        One cube rebuild fills the feature layer's in-process caches (graph, zonal population):
        the cube written is the one already stored, rebuilt from the same data. Scores are not
        touched. (Modules are imported before, on the main thread: :func:`preload`.)
        """
        started = time.perf_counter()
        try:
            from sauti.models import current_model
            from sauti.models.refresh import nowcast_base, rebuild_inputs

            model = current_model(self.source.workspace) if self.source.workspace.exists else None
            if model is not None:
                key = {"freq": model["freq"], "unit": model["unit"]}
                settings = self.source.settings
                inputs = rebuild_inputs(
                    self.source.workspace, **key, population=settings.population, timezone=settings.timezone
                )
                # what the next refresh compares the new cube with: in memory (not written), or a big
                # cube read lazily from the store (a nowcast then rewrites only the chunks it touches)
                self._cube = nowcast_base(self.source.workspace, **key, inputs=inputs)
        except Exception as exc:  # keep serving; the first refresh will say what is wrong
            log.warning("nowcast warm-up: %s", exc)
        self.state["warm_seconds"] = round(time.perf_counter() - started, 3)

    def _loop(self) -> None:
        with using(self.source.caches):  # the graph the warm-up builds is the service's
            self._run()

    def _run(self) -> None:
        try:
            self._warm()
        except Exception as exc:  # pragma: no cover - the worker must survive anything
            log.warning("nowcast warm-up failed: %s", exc)
        while not self._stop.is_set():
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            with self._lock:
                pending, self._pending = self._pending, set()
                mark, self._mark = self._mark, -1
            self._refresh_once(pending, mark)

    def _refresh_once(self, pending: set[str], mark: int | None) -> None:
        """In this process's turn on the store: skip when a refresh claimed after ``mark`` covered
        the request (serve its result), else claim, run and record one."""
        workspace = self.source.workspace
        self.state["running"] = True
        try:
            with refresh_turn(workspace):
                claim = claim_refresh(workspace, -1 if mark is None else mark, skip=mark is not None)
                if claim is None:
                    self.state["skipped"] += 1
                    self.source.bump()  # the other process's scores are served from here on
                    return
                ok = False
                cpu = time.process_time()
                try:
                    done = refresh(self.source, pending, previous=self._cube)
                    # the refresh's own work, whatever else the machine runs (the process's CPU
                    # time: the refresh's threads, dask's included; requests served meanwhile add a little)
                    done["cpu_seconds"] = round(time.process_time() - cpu, 3)
                    ok = True
                finally:
                    finish_refresh(workspace, claim, ok)
                    self.state["runs"] += 1
            self._cube = done.pop("cube", None)
            self.state["last"] = done
            self.state["last_error"] = None
        except Exception as exc:  # keep serving; report on /health
            log.warning("nowcast refresh failed: %s", exc)
            self.state["last_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            self.state["running"] = False
