"""Clients for peer services by logical name: SigV4-signed, timed out, retried, traced."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import botocore.session
import httpx
from botocore.credentials import Credentials

from pep_runtime.services._request_id import (
    REQUEST_ID_HEADER,
    current_request_id,
    usable_request_id,
)
from pep_runtime.services._retry import RetryPolicy
from pep_runtime.services._signing import LatticeSigV4Auth
from pep_runtime.services.exceptions import (
    ServiceCallError,
    ServiceConfigError,
    ServiceConnectionError,
    ServiceCredentialsError,
    ServiceTimeoutError,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)

_ENV_PREFIX = "LATTICEWORK_SERVICE_"
_ENV_SUFFIX = "_URL"
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]{0,23}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Letters, digits and inner hyphens per label (punycode for internationalised names).
_DNS_NAME = re.compile(
    r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?", re.IGNORECASE
)


def environment_variable(service: str) -> str:
    """The variable that holds the URL of peer service `service`."""
    return f"{_ENV_PREFIX}{service.upper().replace('-', '_')}{_ENV_SUFFIX}"


def service_url(service: str, environ: Mapping[str, str] | None = None) -> str:
    """The checked base URL of peer `service` from `LATTICEWORK_SERVICE_<NAME>_URL`.

    It must be `https://<host>` (the Lattice service's DNS name, optionally with a port and
    a path prefix); plain `http://` is accepted only for loopback hosts, for local runs.
    """
    if not _SERVICE_NAME.fullmatch(service):
        message = (
            f"{service!r} is not a catalog service name: expected [a-z][a-z0-9-]{{0,23}}, as "
            "under `services:` in stacks/services.yaml"
        )
        raise ServiceConfigError(message, service=service)

    environ = os.environ if environ is None else environ
    variable = environment_variable(service)
    raw = environ.get(variable)
    if not raw:
        message = (
            f"no URL for service {service!r}: environment variable {variable} is not set; "
            f"add this service to `callers.services` of {service!r} in stacks/services.yaml "
            "so the infrastructure passes its URL"
        )
        raise ServiceConfigError(message, service=service, variable=variable)

    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL:
        url = None
    # The value is described, not echoed: it may carry credentials in its userinfo.
    problem = "an unparsable URL" if url is None else _url_problem(raw, url)
    if problem is not None:
        message = (
            f"{variable} must be https://<lattice service DNS name> (http:// only for a "
            f"loopback host), without credentials, query or fragment; found {problem}"
        )
        raise ServiceConfigError(message, service=service, variable=variable)

    return raw.rstrip("/")


def _url_problem(raw: str, url: httpx.URL) -> str | None:
    """What keeps `url` (parsed from `raw`) from being a service's base URL, or None."""
    problems = []
    loopback = url.host in _LOOPBACK_HOSTS
    if not (url.scheme == "https" or (url.scheme == "http" and loopback)):
        problems.append("that scheme")
    host = url.raw_host.decode("ascii")
    if not (_DNS_NAME.fullmatch(host) or _is_ip_address(host)):
        problems.append("a host that is not a DNS name or IP address")
    if url.port is not None and not 1 <= url.port <= 65535:
        problems.append(f"port {url.port} outside 1-65535")
    if url.userinfo:
        problems.append("credentials")
    # A bare "?" or "#" parses as an empty query or fragment, and would swallow every path.
    if "?" in raw or "#" in raw:
        problems.append("a query or fragment")
    if not problems:
        return None
    return f"scheme {url.scheme!r}, host {url.host!r}, with {', '.join(problems)}"


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def chain_credentials(service: str) -> Credentials:
    """The credentials of botocore's chain (the task role's on ECS), refreshable."""
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        message = (
            f"no AWS credentials to sign calls to {service!r}: botocore's credential chain "
            "found none; on ECS give the task a task role, elsewhere set AWS_PROFILE or the "
            "AWS_ACCESS_KEY_ID family"
        )
        raise ServiceCredentialsError(message, service=service)
    return credentials


class _ServiceClientBase:
    """What the sync and async clients share: where, how to sign, when to retry, what to log."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        region: str,
        credentials: Credentials,
        timeout: httpx.Timeout | float,
        retry: RetryPolicy | None,
    ) -> None:
        self.service = service
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._auth = LatticeSigV4Auth(credentials, region, peer=service)

    @classmethod
    def from_environment(
        cls,
        service: str,
        environ: Mapping[str, str] | None = None,
        *,
        credentials: Credentials | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> Self:
        """A client for `service` at `LATTICEWORK_SERVICE_<NAME>_URL`, region `AWS_REGION`."""
        return cls(
            service,
            service_url(service, environ),
            region=cls._region(service, None, environ),
            credentials=credentials or chain_credentials(service),
            timeout=timeout,
            retry=retry,
        )

    @staticmethod
    def _region(service: str, region: str | None, environ: Mapping[str, str] | None) -> str:
        environ = os.environ if environ is None else environ
        found = region or environ.get("AWS_REGION")
        if not found:
            message = (
                f"no region to sign calls to {service!r} with: AWS_REGION is not set; the "
                "infrastructure sets it, set it to the environment's region elsewhere"
            )
            raise ServiceConfigError(message, service=service, variable="AWS_REGION")
        return found

    def _build_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        **options: Any,
    ) -> httpx.Request:
        """The request for `path`, refused before anything is signed if it is not a path."""
        if not path.startswith("/") or path.startswith("//"):
            message = (
                f"call to {self.service!r}: path must be relative to the service and start "
                f"with '/', found {path!r}; the host comes from "
                f"{environment_variable(self.service)}"
            )
            raise ServiceConfigError(message, service=self.service)

        try:
            return http.build_request(method, path, **options)
        except httpx.InvalidURL as exc:
            message = f"call to {self.service!r}: {path!r} is not a valid URL path ({exc})"
            raise ServiceConfigError(message, service=self.service) from exc

    def _request_headers(
        self, headers: Mapping[str, str] | None, request_id: str | None
    ) -> dict[str, str]:
        merged = dict(headers or {})
        if not any(name.lower() == REQUEST_ID_HEADER for name in merged):
            merged[REQUEST_ID_HEADER] = usable_request_id(request_id or current_request_id())
        return merged

    def _retry_after_response(
        self, response: httpx.Response, attempt: int, idempotent: bool | None
    ) -> float | None:
        """The delay before the next attempt, or None to hand `response` to the caller."""
        if not self.retry.retries_response(response, idempotent=idempotent, attempt=attempt):
            return None

        delay = self.retry.delay_seconds(attempt)
        logger.info(
            "%s %s %s answered %d on attempt %d; retrying in %.3f s",
            response.request.method,
            self.service,
            response.request.url.path,
            response.status_code,
            attempt,
            delay,
        )
        return delay

    def _retry_after_error(
        self,
        request: httpx.Request,
        error: httpx.TransportError,
        attempt: int,
        idempotent: bool | None,
    ) -> float:
        """The delay before the next attempt; raises when `error` ends the call."""
        if not self.retry.retries_error(
            error, method=request.method, idempotent=idempotent, attempt=attempt
        ):
            raise self._call_error(request, error, attempt) from error

        delay = self.retry.delay_seconds(attempt)
        logger.info(
            "%s %s %s failed on attempt %d (%s); retrying in %.3f s",
            request.method,
            self.service,
            request.url.path,
            attempt,
            type(error).__name__,
            delay,
        )
        return delay

    def _call_error(
        self, request: httpx.Request, error: httpx.TransportError, attempts: int
    ) -> ServiceCallError:
        kind: type[ServiceCallError] = (
            ServiceTimeoutError
            if isinstance(error, httpx.TimeoutException)
            else ServiceConnectionError
        )
        message = (
            f"{request.method} {self.service} {request.url.path} got no response after "
            f"{attempts} attempt(s): {type(error).__name__}"
        )
        return kind(
            message,
            service=self.service,
            method=request.method,
            url=str(request.url.copy_with(query=None)),
            attempts=attempts,
            request_id=request.headers.get(REQUEST_ID_HEADER, ""),
        )

    def _log_done(
        self, request: httpx.Request, response: httpx.Response, attempts: int, started: float
    ) -> None:
        logger.info(
            "%s %s %s -> %d in %.0f ms (attempts %d, request id %s)",
            request.method,
            self.service,
            request.url.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
            attempts,
            request.headers.get(REQUEST_ID_HEADER),
        )


class ServiceClient(_ServiceClientBase):
    """Synchronous calls to one peer service through VPC Lattice.

    with ServiceClient.from_environment("orders") as orders:
        response = orders.get("/orders/42")
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        region: str,
        credentials: Credentials,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            service, base_url, region=region, credentials=credentials, timeout=timeout, retry=retry
        )
        self._http = httpx.Client(
            base_url=base_url, auth=self._auth, timeout=timeout, transport=transport
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        request_id: str | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a signed request; retried per the retry policy; every response is returned.

        `idempotent` overrides the method's nature (True for a POST with an idempotency key).
        """
        request = self._build_request(
            self._http,
            method,
            path,
            params=params,
            headers=self._request_headers(headers, request_id),
            content=content,
            json=json,
        )
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as error:
                delay = self._retry_after_error(request, error, attempt, idempotent)
            else:
                retry_delay = self._retry_after_response(response, attempt, idempotent)
                if retry_delay is None:
                    self._log_done(request, response, attempt, started)
                    return response
                response.close()
                delay = retry_delay
            time.sleep(delay)
            attempt += 1

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """A signed GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """A signed POST (not retried unless `idempotent=True`)."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        """A signed PUT."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        """A signed DELETE."""
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncServiceClient(_ServiceClientBase):
    """Asynchronous calls to one peer service through VPC Lattice.

    async with AsyncServiceClient.from_environment("orders") as orders:
        response = await orders.get("/orders/42")
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        region: str,
        credentials: Credentials,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            service, base_url, region=region, credentials=credentials, timeout=timeout, retry=retry
        )
        self._http = httpx.AsyncClient(
            base_url=base_url, auth=self._auth, timeout=timeout, transport=transport
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        request_id: str | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a signed request; retried per the retry policy; every response is returned.

        `idempotent` overrides the method's nature (True for a POST with an idempotency key).
        """
        request = self._build_request(
            self._http,
            method,
            path,
            params=params,
            headers=self._request_headers(headers, request_id),
            content=content,
            json=json,
        )
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as error:
                delay = self._retry_after_error(request, error, attempt, idempotent)
            else:
                retry_delay = self._retry_after_response(response, attempt, idempotent)
                if retry_delay is None:
                    self._log_done(request, response, attempt, started)
                    return response
                await response.aclose()
                delay = retry_delay
            await asyncio.sleep(delay)
            attempt += 1

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """A signed GET."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """A signed POST (not retried unless `idempotent=True`)."""
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        """A signed PUT."""
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        """A signed DELETE."""
        return await self.request("DELETE", path, **kwargs)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncServiceClient",
    "ServiceClient",
    "chain_credentials",
    "environment_variable",
    "service_url",
]
