"""Request limits, checked before a handler runs: a key before any body, a body size and a body deadline.

A request that carries a body (``POST``, ``PATCH``…) must hold a valid API key *before* its body
is read: without one it gets 401 at once, so a client without a key cannot hold a connection open by
sending its body slowly. The body is then read against two limits: at most ``max_bytes`` (413,
also for a chunked body that declares no length) and complete within ``body_timeout_s`` seconds
(408). The map's sign-in form (``POST /map``) carries its key in the body, so it is the one path
read without a key first, under tighter limits (4 KiB, 10 s). The reply is sent here and the
handler sees a disconnect, so no framework turns the cut into a 400; the connection is closed.
Header timeouts are the server's (:mod:`sauti.api.server`).
"""

from __future__ import annotations

import asyncio
import time

from starlette.concurrency import run_in_threadpool

from sauti.api.errors import error_response

SAFE_METHODS = (b"GET", b"HEAD", b"OPTIONS")
SIGN_IN_PATHS = ("/map",)  # the map's key form: its body *is* the key
SIGN_IN_MAX_BYTES = 4096
SIGN_IN_TIMEOUT_S = 10.0
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
        max_bytes, timeout_s = self.max_bytes, self.body_timeout_s
        if scope["path"] in SIGN_IN_PATHS:
            max_bytes, timeout_s = min(max_bytes, SIGN_IN_MAX_BYTES), min(timeout_s, SIGN_IN_TIMEOUT_S)
        elif not await self._has_valid_key(scope):
            return await _reply(send, 401, NEEDS_KEY, "Unauthenticated")
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            return await _reply(send, 413, _too_large(max_bytes), "PayloadTooLarge")
        await self.app(scope, *_limited(receive, send, max_bytes, timeout_s))

    async def _has_valid_key(self, scope) -> bool:
        header = (_header(scope, b"authorization") or b"").decode("latin-1")
        scheme, _, key = header.partition(" ")
        source = scope["app"].state.source
        if scheme.lower() != "bearer" or not key.strip():
            session = _map_session(scope)  # a write from the map page (a response from a popup)
            return (
                session is not None
                and await run_in_threadpool(source.principal_for_session, session) is not None
            )
        return await run_in_threadpool(source.principal_for_key, key.strip()) is not None


def _map_session(scope) -> str | None:
    """The map's session token, when the request carries it with the map-write header (see
    :data:`sauti.api.deps.MAP_WRITE_HEADER`); else ``None``."""
    from http.cookies import SimpleCookie

    from sauti.api.deps import MAP_WRITE_HEADER
    from sauti.api.security import SESSION_COOKIE

    if _header(scope, MAP_WRITE_HEADER.lower().encode()) != b"1":
        return None
    cookies = SimpleCookie()
    try:
        cookies.load((_header(scope, b"cookie") or b"").decode("latin-1"))
    except Exception:  # a malformed cookie header: no session
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


def _limited(receive, send, max_bytes: int, timeout_s: float):
    """``receive`` cut at ``max_bytes`` (413) and ``timeout_s`` (408), and a ``send`` that drops the
    handler's reply once ours went out (the handler then only sees a disconnect)."""
    deadline = time.monotonic() + timeout_s
    state = {"seen": 0, "replied": False}

    async def cut(status: int, detail: str, kind: str) -> dict:
        await _reply(send, status, detail, kind)
        state["replied"] = True
        return {"type": "http.disconnect"}

    async def limited_receive():
        if state["replied"]:
            return {"type": "http.disconnect"}
        try:
            message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            return await cut(408, f"the request body did not arrive within {timeout_s:g} s", "RequestTimeout")
        if message["type"] == "http.request":
            state["seen"] += len(message.get("body", b""))
            if state["seen"] > max_bytes:
                return await cut(413, _too_large(max_bytes), "PayloadTooLarge")
        return message

    async def guarded_send(message):
        if not state["replied"]:
            await send(message)

    return limited_receive, guarded_send


def _too_large(max_bytes: int) -> str:
    return f"request body larger than {max_bytes:,} bytes (the server's limit, SAUTI_MAX_BODY_BYTES)"


async def _reply(send, status: int, detail: str, kind: str) -> None:
    response = error_response(status, detail, kind)
    headers = [*response.raw_headers, (b"connection", b"close")]  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
