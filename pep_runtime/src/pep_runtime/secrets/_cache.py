"""A TTL cache with one upstream load per key at a time and bounded stale-on-error."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

_Key = TypeVar("_Key", bound=Hashable)
_Value = TypeVar("_Value")


@dataclass(slots=True)
class _Entry(Generic[_Value]):
    value: _Value
    fetched_at: float
    refresh_at: float


class SingleFlightCache(Generic[_Key, _Value]):
    """Values by key, reloaded after `ttl` seconds; concurrent misses share one load.

    A load that fails with a transient error (`is_transient`) while the cached value is at
    most `max_stale` seconds old serves that value with a warning and tries again after
    `stale_retry` seconds. Any other failure drops the entry and is raised to every caller
    waiting on that load; failures are never cached.
    """

    def __init__(
        self,
        *,
        ttl: float,
        max_stale: float,
        stale_retry: float,
        max_entries: int,
        is_transient: Callable[[Exception], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_stale = max_stale
        self._stale_retry = stale_retry
        self._max_entries = max_entries
        self._is_transient = is_transient
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Key, _Entry[_Value]] = OrderedDict()
        self._flights: dict[_Key, Future[_Value]] = {}

    def get(self, key: _Key, load: Callable[[], _Value], *, force: bool = False) -> _Value:
        """The cached value of `key`, loading it with `load` when missing, expired or forced."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not force and self._clock() < entry.refresh_at:
                self._entries.move_to_end(key)
                return entry.value

            flight = self._flights.get(key)
            if flight is None:
                flight = Future()
                self._flights[key] = flight
                leads = True
            else:
                leads = False

        if not leads:
            return flight.result()

        try:
            value = self._load(key, load, entry)
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            with self._lock:
                del self._flights[key]

    def peek(self, key: _Key) -> _Value | None:
        """The cached value of `key` if it is still fresh, without loading anything."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._clock() >= entry.refresh_at:
                return None

            self._entries.move_to_end(key)
            return entry.value

    def discard(self, key: _Key) -> None:
        """Forget the cached value of `key`, if any."""
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _load(self, key: _Key, load: Callable[[], _Value], entry: _Entry[_Value] | None) -> _Value:
        try:
            value = load()
        except Exception as exc:
            return self._serve_stale(key, entry, exc)

        now = self._clock()
        with self._lock:
            self._entries[key] = _Entry(value, fetched_at=now, refresh_at=now + self._ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

        return value

    def _serve_stale(self, key: _Key, entry: _Entry[_Value] | None, exc: Exception) -> _Value:
        now = self._clock()
        servable = (
            entry is not None
            and self._is_transient(exc)
            and now - entry.fetched_at <= self._max_stale
        )
        if entry is None or not servable:
            self.discard(key)
            raise exc

        age = now - entry.fetched_at
        logger.warning(
            "refreshing %s failed (%s); serving the cached value fetched %.0f s ago "
            "(allowed up to %.0f s), next try in %.0f s",
            key,
            type(exc).__name__,
            age,
            self._max_stale,
            self._stale_retry,
        )
        with self._lock:
            entry.refresh_at = now + self._stale_retry

        return entry.value


__all__ = ["SingleFlightCache"]
