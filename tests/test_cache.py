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
