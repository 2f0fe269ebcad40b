"""The one small interface every decision point meets."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol, runtime_checkable

from pep_runtime.enforcement.model import AuthorizationRequest, AuthorizationResult


@runtime_checkable
class DecisionPoint(Protocol):
    """Answers authorization requests; raises `DecisionUnavailableError` when it cannot.

    A result carrying errors is never an Allow to the caller, whatever its decision says.
    `is_local` is True when a decision costs no network call (the ASGI middleware then
    decides inline instead of in a worker thread).
    """

    is_local: bool

    def policies_version(self) -> Hashable:
        """Names the policies the next decision will be made on; a cached decision is reused
        only under the same version. Raises `DecisionUnavailableError` when no decision can
        be had (so that no cached one is served either)."""
        ...

    def is_authorized(self, request: AuthorizationRequest) -> AuthorizationResult:
        """Decide one request."""
        ...

    def is_authorized_batch(
        self, requests: Sequence[AuthorizationRequest]
    ) -> list[AuthorizationResult]:
        """Decide many requests; results are in the order of `requests`."""
        ...


__all__ = ["DecisionPoint"]
