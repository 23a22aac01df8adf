"""One in-process cache helper for every layer: bounded, optional time-to-live, explicit invalidation.

A thin, thread-safe wrapper over ``cachetools`` (``LRUCache``, or ``TTLCache`` when a ``ttl`` is
given). Values are built on a miss by the caller's function. With ``keep_none=False`` a ``None``
is not stored (for look-ups where "nothing found" must be asked again next time, such as a key
created a moment ago).

Caches that outlive one call hang on an owner, a :class:`Caches`: the service creates one in its app
factory (``app.state.caches``) and makes it current for its requests and its refresh thread
(:func:`using`); a library call outside the service (the CLI, a notebook) uses the process's own.
Lower layers ask for theirs by name (:func:`memo`), so no module keeps state in a global, and
every key says what the value was built from (a store's data stamp, a file's version, a geometry's
hash), so a value is never served for data that changed — in this process or another.

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
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


class Caches:
    """The named caches one owner keeps (the service keeps one; so does the process for the rest).

    Examples
    --------
    >>> caches = Caches()
    >>> caches.memo("cube.graph", 8).get("key", lambda: "built")
    'built'
    >>> caches.sizes()
    {'cube.graph': 1}
    """

    def __init__(self) -> None:
        self._memos: dict[str, Memo] = {}
        self._lock = threading.Lock()

    def memo(self, name: str, maxsize: int = 128, **options: Any) -> Memo:
        """The cache called ``name`` (made on first use with ``maxsize`` and :class:`Memo`'s options)."""
        with self._lock:
            found = self._memos.get(name)
            if found is None:
                found = self._memos[name] = Memo(maxsize, **options)
            return found

    def invalidate(self) -> None:
        """Empty every cache of this owner."""
        with self._lock:
            memos = list(self._memos.values())
        for memo in memos:
            memo.invalidate()

    def sizes(self) -> dict[str, int]:
        """Entries per cache (for the health check)."""
        with self._lock:
            return {name: len(memo) for name, memo in sorted(self._memos.items())}


_PROCESS = Caches()  # library calls outside a service
_CURRENT: ContextVar[Caches | None] = ContextVar("sauti_caches", default=None)


def current_caches() -> Caches:
    """The caches in use here: the service's inside its requests and refreshes, else the process's."""
    return _CURRENT.get() or _PROCESS


def memo(name: str, maxsize: int = 128, **options: Any) -> Memo:
    """The cache ``name`` of :func:`current_caches` (what a lower layer calls instead of a global)."""
    return current_caches().memo(name, maxsize, **options)


@contextmanager
def using(caches: Caches) -> Iterator[Caches]:
    """Make ``caches`` current for the code run inside (this thread or task, and what it starts
    with a copied context: Starlette's thread pool)."""
    token = _CURRENT.set(caches)
    try:
        yield caches
    finally:
        _CURRENT.reset(token)
