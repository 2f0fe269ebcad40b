"""SingleFlightCache on its own: sharing one load, eviction, errors not cached."""

from __future__ import annotations

import threading

import pytest

from pep_runtime.secrets._cache import SingleFlightCache


class TransientError(Exception):
    """A failure the cache may paper over with a stale value."""


def make_cache(*, max_entries: int = 10) -> tuple[SingleFlightCache[str, int], list[float]]:
    now = [0.0]
    cache: SingleFlightCache[str, int] = SingleFlightCache(
        ttl=10,
        max_stale=100,
        stale_retry=5,
        max_entries=max_entries,
        is_transient=lambda exc: isinstance(exc, TransientError),
        clock=lambda: now[0],
    )
    return cache, now


def test_followers_receive_the_leaders_error_and_it_is_not_cached() -> None:
    """Waiters on a failing load all see its error; the next get loads again."""
    cache, _ = make_cache()
    started = threading.Event()
    release = threading.Event()
    loads: list[int] = []
    errors: list[BaseException] = []

    def failing_load() -> int:
        loads.append(1)
        started.set()
        release.wait(5)
        raise LookupError("no such key")

    def get() -> None:
        try:
            cache.get("k", failing_load)
        except LookupError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=get) for _ in range(5)]
    threads[0].start()
    started.wait(5)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    value = cache.get("k", lambda: 7)

    assert len(loads) == 1
    assert len(errors) == 5
    assert value == 7


def test_the_least_recently_used_entry_is_evicted() -> None:
    """Beyond max_entries the entry used least recently goes first."""
    cache, _ = make_cache(max_entries=2)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    cache.get("a", lambda: 99)

    cache.get("c", lambda: 3)

    assert len(cache) == 2
    assert cache.get("a", lambda: 99) == 1
    assert cache.get("b", lambda: 22) == 22


def test_a_stale_value_is_retried_only_after_the_retry_interval() -> None:
    """After serving stale, the next stale_retry seconds are answered from the cache."""
    cache, now = make_cache()
    cache.get("k", lambda: 1)
    loads: list[int] = []

    def broken() -> int:
        loads.append(1)
        raise TransientError

    now[0] = 11
    first = cache.get("k", broken)
    now[0] = 15
    second = cache.get("k", broken)
    now[0] = 17
    third = cache.get("k", broken)

    assert (first, second, third) == (1, 1, 1)
    assert len(loads) == 2


def test_a_non_transient_failure_drops_the_entry() -> None:
    """An error that is not transient is raised and the old value is forgotten."""
    cache, now = make_cache()
    cache.get("k", lambda: 1)
    now[0] = 11

    def gone() -> int:
        raise LookupError

    with pytest.raises(LookupError):
        cache.get("k", gone)

    assert len(cache) == 0
