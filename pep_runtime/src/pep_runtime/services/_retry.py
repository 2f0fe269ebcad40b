"""When a service call is tried again, and after how long: shared by the sync and async clients."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRYABLE_STATUSES = frozenset({502, 503, 504})

# Failures before any response: the connection could not be made, or it dropped. Read, write
# and pool timeouts are not here: waiting as long again is rarely what a caller wants.
RETRYABLE_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with full jitter, for idempotent methods only.

    A call is tried at most `max_attempts` times in all. Before attempt n+1 it waits a
    random time between 0 and min(`max_delay_seconds`, `base_delay_seconds` * 2**(n-1)).
    """

    max_attempts: int = 3
    base_delay_seconds: float = 0.1
    max_delay_seconds: float = 2.0

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            message = (
                f"RetryPolicy.max_attempts must be a whole number, at least 1; found {attempts!r}"
            )
            raise ValueError(message)

        for field_name in ("base_delay_seconds", "max_delay_seconds"):
            value = getattr(self, field_name)
            # `not value >= 0` also refuses NaN.
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                message = (
                    f"RetryPolicy.{field_name} must be a number of seconds, zero or more; "
                    f"found {value!r}"
                )
                raise ValueError(message)

    def may_retry(self, *, method: str, idempotent: bool | None, attempt: int) -> bool:
        """Whether a failed attempt number `attempt` of a `method` call may be repeated."""
        if attempt >= self.max_attempts:
            return False

        if idempotent is None:
            return method.upper() in IDEMPOTENT_METHODS
        return idempotent

    def retries_response(
        self, response: httpx.Response, *, idempotent: bool | None, attempt: int
    ) -> bool:
        """Whether `response` to attempt `attempt` is a gateway failure worth retrying."""
        return response.status_code in RETRYABLE_STATUSES and self.may_retry(
            method=response.request.method, idempotent=idempotent, attempt=attempt
        )

    def retries_error(
        self,
        error: httpx.TransportError,
        *,
        method: str,
        idempotent: bool | None,
        attempt: int,
    ) -> bool:
        """Whether `error` of attempt `attempt` is a connection failure worth retrying."""
        return isinstance(error, RETRYABLE_ERRORS) and self.may_retry(
            method=method, idempotent=idempotent, attempt=attempt
        )

    def delay_seconds(self, attempt: int) -> float:
        """How long to wait after failed attempt `attempt` (1-based), jittered."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


__all__ = ["IDEMPOTENT_METHODS", "RETRYABLE_ERRORS", "RETRYABLE_STATUSES", "RetryPolicy"]
