"""The FastAPI application: routers, error mapping, request limits, CORS, static files, log filter.

``uvicorn --factory sauti.api.app:create_app`` (what ``sauti serve`` runs) builds it from
``SAUTI_*`` settings; tests call :func:`create_app` with their own settings and workspace.
"""

from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager
from importlib import resources
from urllib.parse import unquote

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from sauti.api import errors
from sauti.api.limits import RequestLimits
from sauti.api.schemas import COMMON_ERRORS
from sauti.api.services.nowcast import Nowcaster, preload
from sauti.api.services.source import DataSource
from sauti.cache import Caches, using
from sauti.privacy import may_hold_identifier, scrub_identifiers
from sauti.settings import Settings, get_settings
from sauti.store import Workspace

_KEY_RE = re.compile(r"([?&](?:key|api_key|token)=)[^&\s\"]*", re.IGNORECASE)


def redact_url(text: str) -> str:
    """Replace the value of any ``key=``/``token=`` query parameter with ``***``."""
    return _KEY_RE.sub(r"\1***", text)


_TILE_PATH_RE = re.compile(r"/\d+/\d+/\d+(?:@\dx)?\.\w+$")


def redact_path(text: str) -> str:
    """A logged path without keys and without identifiers (a phone number given as an alert id).

    The path is decoded first (``%2B``, ``%20``) so the detector sees what the client meant; tile
    addresses (``/12/2345/1987.png``) are numbers, not identifiers, and are kept.
    """
    text = redact_url(text)
    if not text.startswith("/") or _TILE_PATH_RE.search(text.split("?", 1)[0]):
        return text
    decoded = unquote(text)
    return scrub_identifiers(decoded) if may_hold_identifier(decoded) else text


class RedactKeysFilter(logging.Filter):
    """Keeps API keys passed as ``?key=`` and identifiers in a path (``PATCH /api/v1/alerts/+236…``)
    out of uvicorn's access log (and any other log line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact_url(record.msg)
        return True


def install_log_filter() -> None:
    """Attach :class:`RedactKeysFilter` to uvicorn's loggers (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error", "sauti.api"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeysFilter) for f in logger.filters):
            logger.addFilter(RedactKeysFilter())


class CurrentCaches:
    """ASGI middleware: the service's caches (``app.state.caches``) are the ones every layer uses
    while a request is handled (:func:`sauti.cache.using`; the thread pool copies the context)."""

    def __init__(self, app, caches: Caches) -> None:
        self.app = app
        self.caches = caches

    async def __call__(self, scope, receive, send) -> None:
        with using(self.caches):
            await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, workspace: Workspace | None = None) -> FastAPI:
    """Build the service for ``workspace`` (default: ``settings.workspace``).

    Examples
    --------
    >>> app = create_app(workspace=Workspace("workspace"))  # doctest: +SKIP
    """
    from sauti.api.routers import alerts, backtests, localities, map, meta, ogc, patrols, responses, tiles
    from sauti.api.services.meta import code_version

    settings = settings or get_settings()
    workspace = workspace or Workspace(settings.workspace, settings.database_url)
    source = DataSource(workspace, settings)
    source.nowcast = Nowcaster(source)
    install_log_filter()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        source.nowcast.state["preload_seconds"] = preload()
        source.nowcast.start()
        yield
        source.nowcast.stop()

    app = FastAPI(
        title="Sauti",
        version=code_version(),
        description="Risk of intercommunal violence per locality, community alert intake, heatmaps, "
        "OGC API – Features and patrol priorities. Every data endpoint needs `Authorization: Bearer <key>`.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # Swagger UI loads assets from a CDN; the service stays offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.source = source
    app.state.settings = settings
    app.state.caches = source.caches  # process-wide state hangs on the service, not on modules
    errors.install(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(
        RequestLimits, max_bytes=settings.max_body_bytes, body_timeout_s=settings.timeout_body_s
    )
    app.add_middleware(CurrentCaches, caches=source.caches)
    app.add_middleware(errors.ServerErrors)  # outermost: whatever escapes becomes a 500 with an id

    for module in (meta, localities, alerts, responses, patrols, backtests, ogc, tiles, map):
        app.include_router(module.router, responses=COMMON_ERRORS)
    static = resources.files("sauti.api").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.ico")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/api/v1/health")

    return app
