"""How ``sauti serve`` runs the service under uvicorn: timeouts and limits on connections.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but (h11 protocol) it
waits for a request's headers for ever: a client that connects and sends nothing, or sends its
headers one byte at a time, holds a connection. :class:`HeaderDeadlineProtocol` closes a
connection whose request headers are not complete ``settings.timeout_headers_s`` seconds after
their first byte (or after the connection opened). Header size is bounded by h11
(``h11_max_incomplete_event_size``). Bodies are bounded by the app (:mod:`sauti.api.limits`).
"""

from __future__ import annotations

from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from sauti.settings import Settings

MAX_HEADER_BYTES = 16 * 1024


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers."""

    header_timeout_s: float | None = None  # set per server by :func:`uvicorn_options`; None: the settings'

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = None
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            timeout = self.header_timeout_s
            if timeout is None:  # a worker process: this process's settings (the same environment)
                from sauti.settings import get_settings

                timeout = get_settings().timeout_headers_s
            self._header_timer = self.loop.call_later(timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            self._arm()  # bytes of a request whose headers are still incomplete
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer for the idle wait
        self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info(
                "closed a connection whose request headers took over %g s", self.header_timeout_s
            )
            self.transport.close()


def uvicorn_options(settings: Settings, workers: int = 1) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` that apply the settings' connection limits.

    Several workers are separate processes that get the protocol class by name (pickled): each
    then reads the header deadline from its own settings, built from the same environment.
    """
    protocol = (
        HeaderDeadlineProtocol
        if workers > 1
        else type(
            "HeaderDeadlineProtocol",
            (HeaderDeadlineProtocol,),
            {"header_timeout_s": settings.timeout_headers_s},
        )
    )
    return {
        "http": protocol,
        "timeout_keep_alive": settings.timeout_keep_alive_s,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "proxy_headers": False,
        "server_header": False,
    }
