"""One in-process cache helper for every layer: bounded, optional time-to-live, explicit invalidation.

A thin, thread-safe wrapper over ``cachetools`` (``LRUCache``, or ``TTLCache`` when a ``ttl`` is
given). Values are built on a miss by the caller's function. With ``keep_none=False`` a ``None``
is not stored (for look-ups where "nothing found" must be asked again next time, such as a key
created a moment ago).

Examples
--------
>>> memo = Memo(maxsize=2)
>>> memo.get("a", lambda: 1)
1
>>> memo.get("a", lambda: 2)  # cached
1
>>> memo.invalidate("a")
>>> memo.get("a", lambda: 3)
3
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from cachetools import LRUCache, TTLCache

_MISSING = object()


class Memo:
    """A bounded memo keyed by any hashable key.

    Parameters
    ----------
    maxsize : int
        Most entries kept; the least recently used goes first.
    ttl : float, optional
        Seconds an entry stays valid (``None``: until evicted or invalidated).
    keep_none : bool
        Whether a ``None`` built is cached like any other value.
    timer : callable
        Clock for the time-to-live (``time.monotonic``; tests may pass their own).
    """

    def __init__(
        self,
        maxsize: int = 128,
        ttl: float | None = None,
        *,
        keep_none: bool = True,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._data: LRUCache = TTLCache(maxsize, ttl, timer) if ttl else LRUCache(maxsize)
        self._lock = threading.RLock()
        self.keep_none = keep_none

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The cached value, or ``default`` (expired entries are gone)."""
        with self._lock:
            return self._data.get(key, default)

    def put(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` (a ``None`` only with ``keep_none``) and return it."""
        if value is not None or self.keep_none:
            with self._lock:
                self._data[key] = value
        return value

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The cached value of ``key``, or ``build()`` stored and returned.

        ``build`` runs outside the lock, so two threads may build the same key at once; the later
        result wins. That is the price of never blocking a request behind another's build.
        """
        hit = self.peek(key, _MISSING)
        if hit is not _MISSING:
            return hit
        return self.put(key, build())

    def invalidate(self, key: Hashable | None = None) -> None:
        """Forget ``key``, or everything when no key is given."""
        with self._lock:
            if key is None:
                self._data.clear()
            else:
                self._data.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
