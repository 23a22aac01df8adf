"""Domain exceptions to HTTP status codes, in one place. Services never raise ``HTTPException``.

Every error reply has one shape (:class:`sauti.api.schemas.ErrorBody`): ``detail`` (one sentence),
``type``, and where it helps ``errors`` (``[{"field", "reason"}]``) or ``error_id``. Replies name the
field that is wrong and never repeat what was sent (a value may hold a phone number). Only domain
validation errors (:class:`~sauti.errors.InvalidInputError`) are the caller's fault (422); a step
that must run first (:class:`~sauti.errors.NotReadyError`: no bases, no model, no heatmap) is a 503
whose ``detail`` says what to run; anything unexpected, a plain ``ValueError`` included, is a 500
whose ``error_id`` is in the server log.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sauti.errors import InvalidInputError, NotFoundError, NotReadyError, SautiError

log = logging.getLogger("sauti.api")


class Unauthenticated(SautiError):
    """No valid API key or session token came with the request."""


class Forbidden(SautiError):
    """The caller's role does not allow this."""


class Conflict(SautiError):
    """The request clashes with an earlier one (an ``Idempotency-Key`` reused with another body)."""


class PayloadTooLarge(SautiError):
    """The request body is larger than ``settings.max_body_bytes``."""


class InvalidInput(InvalidInputError):
    """Input that passed the schema but not the domain checks; carries field-level details."""

    def __init__(self, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


# most specific first: the first matching class wins
STATUS: list[tuple[type[BaseException], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFoundError, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (InvalidInputError, 422),
    (NotReadyError, 503),
    (SautiError, 400),
]


def status_for(exc: BaseException) -> int:
    """The HTTP status a domain exception maps to (500 for anything that is not one)."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int, detail: str, kind: str, errors: list[dict] | None = None, **extra
) -> JSONResponse:
    """The one error body every reply uses."""
    body: dict = {"detail": detail, "type": kind}
    if errors:
        body["errors"] = errors
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    if status == 500:  # not a domain error after all: still a bug
        return internal_error(request.method, request.url.path, exc)
    if status == 503:  # a known "not ready" state: the reply says what to run; no traceback
        log.info("not ready on %s %s: %s", request.method, request.url.path, exc)
    return error_response(status, str(exc), type(exc).__name__, getattr(exc, "errors", None))


def internal_error(method: str, path: str, exc: BaseException) -> JSONResponse:
    """500 with a fresh error id; the traceback goes to the server log under that id, never to the client."""
    error_id = secrets.token_hex(6)
    log.error("error %s on %s %s", error_id, method, path, exc_info=exc)
    return error_response(
        500,
        f"internal error {error_id}: the service failed; give this id to the administrator",
        "InternalError",
        error_id=error_id,
    )


def _field(loc: tuple, kind: str) -> str:
    parts = [str(p) for p in loc if p != "body"]
    if kind == "extra_forbidden" and parts:
        parts = parts[:-1]  # the unknown key itself is the caller's text: name its parent only
    return ".".join(parts) or "body"


REASONS = {"extra_forbidden": "unknown field (not accepted here)", "json_invalid": "not valid JSON"}


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with field-level details, never echoing the submitted values or unknown key names."""
    details = []
    for e in exc.errors():
        kind = str(e.get("type"))
        details.append(
            {"field": _field(tuple(e.get("loc", ())), kind), "reason": REASONS.get(kind, e.get("msg"))}
        )
    return error_response(422, "request validation failed", "RequestValidationError", details)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Routing errors (unknown path 404, method 405) in the same body shape."""
    response = error_response(exc.status_code, str(exc.detail), "HTTPError")
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


class ServerErrors:
    """ASGI middleware: an exception no handler mapped becomes a 500 with an error id (logged)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for a reply of our own: log and let the server close it
                raise
            response = internal_error(scope.get("method", ""), scope.get("path", ""), exc)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the mapping and the 500 catcher on ``app`` (before other middleware is added)."""
    app.add_exception_handler(SautiError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
