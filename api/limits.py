"""Request limits, checked before a handler runs: a key before any body, a body size and a body deadline.

A request that carries a body (``POST``, ``PATCH``…) must hold a valid API key *before* its body
is read: without one it gets 401 at once, so a client without a key cannot hold a connection open by
sending its body slowly. The body is then read against two limits: at most ``max_bytes`` (413,
also for a chunked body that declares no length) and complete within ``body_timeout_s`` seconds
(408). The reply is sent here and the handler sees a disconnect, so no framework turns the cut into
a 400. Header timeouts are the server's (:mod:`sauti.api.server`).
"""

from __future__ import annotations

import asyncio
import time

from sauti.api.errors import error_response
from starlette.concurrency import run_in_threadpool

SAFE_METHODS = (b"GET", b"HEAD", b"OPTIONS")
NEEDS_KEY = "a request with a body needs a valid API key first: send 'Authorization: Bearer <key>'"


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value
    return None


def _has_body(scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return _header(scope, b"transfer-encoding") is not None


class _Cut(Exception):
    """The body broke a limit; the reply has been sent."""


class RequestLimits:
    """ASGI middleware enforcing the limits above.

    Parameters
    ----------
    app : ASGI app
    max_bytes : int
        Largest body accepted (``settings.max_body_bytes``).
    body_timeout_s : float
        Seconds a body may take to arrive, counted from the end of the headers.
    """

    def __init__(self, app, max_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"].encode() in SAFE_METHODS or not _has_body(scope):
            return await self.app(scope, receive, send)
        if not await self._has_valid_key(scope):
            return await self._reply(
                send, 401, "this request needs a valid API key: 'Bearer <key>'", "Unauthenticated"
            )
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._too_large(send)
        deadline = time.monotonic() + self.body_timeout_s
        state = {"seen": 0, "replied": False}

        async def limited_receive():
            if state["replied"]:
                return {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                await self._reply(
                    send,
                    408,
                    f"the request body did not arrive within {self.body_timeout_s:g} s",
                    "RequestTimeout",
                )
                state["replied"] = True
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.max_bytes:
                    await self._too_large(send)
                    state["replied"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not state["replied"]:  # after our 408/413 the handler's own reply is dropped
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["replied"]:
                raise

    async def _has_valid_key(self, scope) -> bool:
        header = (_header(scope, b"authorization") or b"").decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        source = scope["app"].state.source
        return await run_in_threadpool(source.principal_for_key, key.strip()) is not None

    async def _too_large(self, send):
        await self._reply(
            send,
            413,
            f"request body larger than {self.max_bytes} bytes (settings.max_body_bytes)",
            "PayloadTooLarge",
        )

    @staticmethod
    async def _reply(send, status: int, detail: str, kind: str) -> None:
        response = error_response(status, detail, kind)
        headers = [*response.raw_headers, (b"connection", b"close")]  # the rest of the body is not read
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
