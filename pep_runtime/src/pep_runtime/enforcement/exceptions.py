"""Errors of the enforcement point.

Hierarchy::

    PepRuntimeError                      (pep_runtime.errors)
    +-- EnforcementError                 base of everything below
        +-- EnforcementConfigError       bad config file, environment variable or authz/ files;
        |                                raised at start-up (or on a reload of the authz/ files)
        +-- RequestRejectedError         this request cannot be authorised as sent; has `status`
        |   +-- MalformedRequestError    400: a path two readers could read differently
        |   +-- AuthenticationError      401: missing, malformed or invalid credentials
        +-- DecisionUnavailableError     503: no decision could be had (timeout, throttling,
                                         access denied to the policy store, unreadable policies)
                                         or none could be recorded (audit line not written)

The middleware turns each of these into its status code with a body that says nothing more
than the status; the detail goes only to the log.
"""

from __future__ import annotations

from pep_runtime.errors import PepRuntimeError


class EnforcementError(PepRuntimeError):
    """Base of the errors of `pep_runtime.enforcement`."""


class EnforcementConfigError(EnforcementError):
    """The configuration (file, environment or authz/ files) is missing or invalid."""

    def __init__(self, message: str, *, source: str, field: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.field = field


class RequestRejectedError(EnforcementError):
    """The request is refused before any policy is evaluated."""

    status = 400

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class MalformedRequestError(RequestRejectedError):
    """The path (or method) is ambiguous or malformed: 400."""

    status = 400


class AuthenticationError(RequestRejectedError):
    """Credentials are missing, malformed or invalid: 401."""

    status = 401


class DecisionUnavailableError(EnforcementError):
    """The decision point could not give a decision: 503."""

    status = 503

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


__all__ = [
    "AuthenticationError",
    "DecisionUnavailableError",
    "EnforcementConfigError",
    "EnforcementError",
    "MalformedRequestError",
    "RequestRejectedError",
]
