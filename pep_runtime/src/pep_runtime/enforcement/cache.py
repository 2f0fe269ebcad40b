"""A bounded decision cache with a time to live."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from pep_runtime.enforcement.model import AuthorizationResult


class DecisionCache:
    """Least-recently-used cache of decisions, each living `ttl_seconds`.

    Keys are (principal, action, resource, context digest). A result that carries errors is
    never stored, and neither is a failed decision (there is nothing to store). A capacity or
    TTL of zero turns the cache off.
    """

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        ttl_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, AuthorizationResult]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> AuthorizationResult | None:
        """The cached result for `key`, or None (counted as a miss)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                if entry[0] > self._clock():
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return entry[1]
                del self._entries[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, result: AuthorizationResult) -> None:
        """Store `result` unless it carries errors or the cache is off."""
        if result.errors or self.max_entries <= 0 or self.ttl_seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl_seconds, result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every decision (counters are kept)."""
        with self._lock:
            self._entries.clear()


__all__ = ["DecisionCache"]
