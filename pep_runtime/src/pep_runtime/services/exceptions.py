"""Errors of the service-to-service client.

Hierarchy::

    PepRuntimeError                      (pep_runtime.errors)
    +-- ServicesError                    base of everything below; carries `service`
        +-- ServiceConfigError           no or a bad LATTICEWORK_SERVICE_<NAME>_URL, no region,
        |                                or a path that is not relative to the service
        +-- ServiceCredentialsError      botocore's credential chain found no credentials, or
        |                                refreshing them before a call failed
        +-- ServiceCallError             the call got no HTTP response; carries `method`,
            |                            `url`, `attempts` and `request_id`
            +-- ServiceConnectionError   connecting failed or the connection dropped, after the
            |                            retries an idempotent method gets
            +-- ServiceTimeoutError      a connect, read, write or pool timeout

An HTTP response of any status is returned, not raised: call `raise_for_status()` on it.
No message carries a signature, an access key or a session token.
"""

from __future__ import annotations

from pep_runtime.errors import PepRuntimeError


class ServicesError(PepRuntimeError):
    """Base of the errors of `pep_runtime.services`."""

    def __init__(self, message: str, *, service: str) -> None:
        super().__init__(message)
        self.service = service


class ServiceConfigError(ServicesError):
    """The environment or the call does not say correctly where to send a request."""

    def __init__(self, message: str, *, service: str, variable: str | None = None) -> None:
        super().__init__(message, service=service)
        self.variable = variable


class ServiceCredentialsError(ServicesError):
    """No AWS credentials to sign with."""


class ServiceCallError(ServicesError):
    """A request got no HTTP response."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        method: str,
        url: str,
        attempts: int,
        request_id: str,
    ) -> None:
        super().__init__(message, service=service)
        self.method = method
        self.url = url
        self.attempts = attempts
        self.request_id = request_id


class ServiceConnectionError(ServiceCallError):
    """Connecting failed, or the connection dropped before a response."""


class ServiceTimeoutError(ServiceCallError):
    """The service did not answer within the timeout."""


__all__ = [
    "ServiceCallError",
    "ServiceConfigError",
    "ServiceConnectionError",
    "ServiceCredentialsError",
    "ServiceTimeoutError",
    "ServicesError",
]
