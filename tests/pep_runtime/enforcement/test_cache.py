"""The decision cache: bounded, TTL, errors never cached, counters."""

from __future__ import annotations

from pep_runtime.enforcement.cache import DecisionCache
from pep_runtime.enforcement.model import AuthorizationResult, Decision

ALLOW = AuthorizationResult(Decision.ALLOW, ("p",))
ERRORING_ALLOW = AuthorizationResult(Decision.ALLOW, ("p",), errors=("boom",))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_hit_then_expiry() -> None:
    """An entry is served until its TTL passes, and hits and misses are counted."""
    clock = FakeClock()
    cache = DecisionCache(max_entries=10, ttl_seconds=5, clock=clock)
    cache.put("k", ALLOW)

    first = cache.get("k")
    clock.now += 5.1
    second = cache.get("k")

    assert first == ALLOW
    assert second is None
    assert (cache.hits, cache.misses) == (1, 1)
    assert len(cache) == 0


def test_capacity_evicts_least_recently_used() -> None:
    """The cache never holds more than max_entries; the least recently used goes first."""
    cache = DecisionCache(max_entries=2, ttl_seconds=60)
    cache.put("a", ALLOW)
    cache.put("b", ALLOW)
    cache.get("a")

    cache.put("c", ALLOW)

    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == ALLOW


def test_results_with_errors_are_never_cached() -> None:
    """A result carrying evaluation errors is not stored."""
    cache = DecisionCache(max_entries=10, ttl_seconds=60)

    cache.put("k", ERRORING_ALLOW)

    assert cache.get("k") is None
    assert len(cache) == 0


def test_zero_ttl_turns_the_cache_off() -> None:
    """With a TTL of zero nothing is stored."""
    cache = DecisionCache(max_entries=10, ttl_seconds=0)

    cache.put("k", ALLOW)

    assert len(cache) == 0
