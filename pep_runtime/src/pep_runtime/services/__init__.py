"""Signed calls to peer services through VPC Lattice, by logical name, sync and async.

from pep_runtime.services import ServiceClient

with ServiceClient.from_environment("orders") as orders:   # LATTICEWORK_SERVICE_ORDERS_URL
    response = orders.get("/orders/42")
"""

from pep_runtime.services._client import (
    DEFAULT_TIMEOUT,
    AsyncServiceClient,
    ServiceClient,
    chain_credentials,
    environment_variable,
    service_url,
)
from pep_runtime.services._middleware import RequestIdMiddleware, WsgiRequestIdMiddleware
from pep_runtime.services._request_id import (
    REQUEST_ID_HEADER,
    bind_request_id,
    current_request_id,
    reset_request_id,
    set_request_id,
)
from pep_runtime.services._retry import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    RetryPolicy,
)
from pep_runtime.services._signing import LATTICE_SERVICE, LatticeSigV4Auth
from pep_runtime.services.exceptions import (
    ServiceCallError,
    ServiceConfigError,
    ServiceConnectionError,
    ServiceCredentialsError,
    ServicesError,
    ServiceTimeoutError,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "LATTICE_SERVICE",
    "REQUEST_ID_HEADER",
    "RETRYABLE_STATUSES",
    "AsyncServiceClient",
    "LatticeSigV4Auth",
    "RequestIdMiddleware",
    "RetryPolicy",
    "ServiceCallError",
    "ServiceClient",
    "ServiceConfigError",
    "ServiceConnectionError",
    "ServiceCredentialsError",
    "ServiceTimeoutError",
    "ServicesError",
    "WsgiRequestIdMiddleware",
    "bind_request_id",
    "chain_credentials",
    "current_request_id",
    "environment_variable",
    "reset_request_id",
    "service_url",
    "set_request_id",
]
