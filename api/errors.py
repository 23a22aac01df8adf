"""Domain exceptions to HTTP status codes, in one place. Services never raise ``HTTPException``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sauti.errors import NotFoundError, NotReadyError, SautiError

log = logging.getLogger("sauti.api")


class Unauthenticated(SautiError):
    """No valid API key or session token came with the request."""


class Forbidden(SautiError):
    """The caller's role does not allow this."""


class Conflict(SautiError):
    """The request clashes with an earlier one (an ``Idempotency-Key`` reused with another body)."""


class PayloadTooLarge(SautiError):
    """The request body is larger than ``settings.max_body_bytes``."""


class InvalidInput(SautiError):
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
    (InvalidInput, 422),
    (NotReadyError, 503),
    (SautiError, 400),
    (ValueError, 422),
]


def status_for(exc: BaseException) -> int:
    """The HTTP status a domain exception maps to."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _handler(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    body: dict = {"detail": str(exc), "type": type(exc).__name__}
    if isinstance(exc, InvalidInput) and exc.errors:
        body["errors"] = exc.errors
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status >= 500:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the mapping on ``app``."""
    app.add_exception_handler(SautiError, _handler)
    app.add_exception_handler(ValueError, _handler)
