"""sauti.cache.Memo: bounded, time-to-live, explicit invalidation, None handling."""

from __future__ import annotations

from sauti.cache import Memo


class Clock:
    """A clock the test moves by hand (the TTL is measured against it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_builds_once_until_invalidated():
    memo, calls = Memo(4), []
    build = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert memo.get("a", build) == 1
    assert memo.get("a", build) == 1
    memo.invalidate("a")
    assert memo.get("a", build) == 2
    memo.get("b", build)
    memo.invalidate()
    assert len(memo) == 0


def test_least_recently_used_entry_goes_first():
    memo = Memo(2)
    memo.get("a", lambda: 1)
    memo.get("b", lambda: 2)
    memo.get("a", lambda: 0)  # touch a
    memo.get("c", lambda: 3)  # evicts b
    assert memo.peek("a") == 1
    assert memo.peek("b") is None
    assert memo.peek("c") == 3


def test_entries_expire_after_their_time_to_live():
    clock = Clock()
    memo = Memo(8, ttl=10, timer=clock)
    assert memo.get("k", lambda: "first") == "first"
    clock.now = 9.9
    assert memo.get("k", lambda: "second") == "first"
    clock.now = 10.1
    assert memo.get("k", lambda: "second") == "second"


def test_none_is_kept_only_when_asked():
    kept, skipped = Memo(4), Memo(4, keep_none=False)
    assert kept.get("x", lambda: None) is None
    assert kept.get("x", lambda: "late") is None  # a cached "nothing"
    assert skipped.get("x", lambda: None) is None
    assert skipped.get("x", lambda: "late") == "late"  # asked again


def test_a_layer_uses_the_caches_of_whoever_made_them_current():
    """Lower layers ask for a cache by name; inside ``using(service)`` they get the service's, in
    another thread started with the context too, and outside it the process's own."""
    import contextvars
    import threading

    from sauti.cache import Caches, current_caches, memo, using

    service = Caches()
    process = current_caches()
    with using(service):
        assert memo("layer.thing", 4).get("k", lambda: "service") == "service"
        seen = []
        context = contextvars.copy_context()

        def look() -> None:
            seen.append(memo("layer.thing").peek("k"))

        thread = threading.Thread(target=context.run, args=(look,))
        thread.start()
        thread.join()
        assert seen == ["service"]
    assert current_caches() is process
    assert memo("layer.thing", 4).peek("k") is None  # the process's cache never saw it
    assert service.sizes() == {"layer.thing": 1}
    service.invalidate()
    assert service.sizes() == {"layer.thing": 0}
