"""The local entry gateway: what VPC Lattice does in front of each service, on loopback.

Each service gets its own gateway port, the local stand-in for its Lattice DNS name. For
every request the gateway:

1. refuses a path with '.' or '..' segments (400), which would be resolved after the auth
   policy judged it; checks that the Host header names this service's gateway port
   (Lattice routes by Host; 421 otherwise), then verifies the SigV4 signature (service
   `vpc-lattice-svcs`) against the local credentials of the role that signed it; an
   unsigned request is anonymous;
2. evaluates the service network's auth policy and then the service's (both built by
   `components.iam_documents`); both must allow, as in Lattice;
3. strips every incoming `x-amzn-lattice-*` header, so a caller cannot spoof one, and the
   SigV4 `Authorization` header, which the target has no use for;
4. appends the caller's address to `x-forwarded-for` (its last entry is the one to trust),
   injects the headers Lattice adds (`x-amzn-lattice-identity` for a signed caller,
   `x-amzn-lattice-network`, `x-amzn-lattice-target`) and forwards to the service.

NOTE: `x-amzn-lattice-identity-tags` (principal tags) is never injected: local roles have
no tags.

A denied request gets 403 with a short JSON body and never reaches the service.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import parse_qs

import httpx

from latticework.dev._auth_policy import (
    CallerIdentity,
    Decision,
    InvokeRequest,
    evaluate_auth_policy,
)
from latticework.dev._sigv4 import LocalCredential, SignatureError, SignedRequest, verify_signature
from latticework.errors import UsageError

logger = logging.getLogger(__name__)

LATTICE_HEADER_PREFIX = "x-amzn-lattice-"
MAX_BODY_BYTES = 1024 * 1024
UPSTREAM_TIMEOUT_SECONDS = 10.0

# Hop-by-hop headers (RFC 9110 section 7.6.1) are never forwarded by a proxy.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
# Caller credentials stop at the gateway, as they do at Lattice.
_CREDENTIAL_HEADERS = frozenset({"authorization", "x-amz-security-token"})

_Scope: TypeAlias = MutableMapping[str, Any]
_Receive: TypeAlias = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send: TypeAlias = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ServiceRoute:
    """One service behind the gateway: where it listens and what guards it."""

    service_name: str
    gateway_port: int
    upstream_url: str
    service_arn: str
    target_group_arn: str
    auth_policy: Mapping[str, Any] = field(repr=False)
    upstream_socket: str | None = None
    """The unix socket the service listens on; `upstream_url` then only names the host."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything the gateway needs; built by the launcher from the stack spec."""

    region: str
    service_network_arn: str
    source_vpc_arn: str
    routes: tuple[ServiceRoute, ...]
    network_auth_policy: Mapping[str, Any] = field(repr=False)
    credentials: Mapping[str, LocalCredential] = field(repr=False)
    account_id: str
    """The environment's account; only its roles are taken to be in `org_id`."""
    org_id: str | None = None


class LatticeGateway:
    """An ASGI app that plays VPC Lattice for every service port it is bound to."""

    def __init__(
        self, config: GatewayConfig, *, upstream_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """`upstream_transport` replaces the network to the services (tests use an ASGI one)."""
        self._config = config
        self._routes = {route.gateway_port: route for route in config.routes}
        self._upstream_transport = upstream_transport
        self._clients: dict[str, httpx.AsyncClient] = {}

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return

        if scope["type"] != "http":
            return

        route = self._routes.get(int(scope["server"][1]))
        if route is None:
            await _send_json(send, 404, "no service is bound to this gateway port")
            return

        if _has_dot_segment(scope["path"]):
            # The auth policy judges the path as sent; a client library or the service would
            # resolve '..' to another path, one the policy may not allow.
            await _send_json(send, 400, "the path has a '.' or '..' segment; send it resolved")
            return

        try:
            body = await _read_body(receive)
        except _CallerDisconnectedError:
            # Nobody is left to answer, and a cut-off body must not reach the service.
            return

        if body is None:
            await _send_json(send, 413, "the request body is larger than 1 MiB")
            return

        headers = tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope["headers"]
        )
        if not _host_names_port(dict(headers).get("host", ""), route.gateway_port):
            # Lattice routes by Host: a request whose Host names another service is not ours.
            await _send_json(send, 421, f"the Host header does not name {route.service_name}")
            return

        signed = SignedRequest(scope["method"], _signed_url(scope, headers), headers, body)
        try:
            credential = self._authenticate(signed)
        except SignatureError as exc:
            logger.info("%s: signature rejected: %s", route.service_name, exc.reason)
            await _send_json(send, 403, "InvalidSignatureException: the signature is not valid")
            return

        invoke = self._invoke_request(scope, headers, route, credential)
        # Lattice requires an Allow from both: the service network's policy and the service's.
        for policy_name, auth_policy in (
            ("service network", self._config.network_auth_policy),
            ("service", route.auth_policy),
        ):
            decision = _decide(auth_policy, invoke, policy_name, route.service_name)
            if decision is not Decision.ALLOW:
                caller = credential.role_arn if credential else "anonymous"
                logger.info(
                    "%s: %s %s by %s: %s auth policy: %s",
                    route.service_name,
                    scope["method"],
                    scope["path"],
                    caller,
                    policy_name,
                    decision.value,
                )
                message = f"AccessDeniedException: the {policy_name} auth policy denies this call"
                await _send_json(send, 403, message)
                return

        client = scope.get("client") or ("127.0.0.1", 0)
        upstream_headers = self._upstream_headers(headers, route, credential, str(client[0]))
        await self._forward(scope, send, upstream_headers, body, route)

    def _authenticate(self, signed: SignedRequest) -> LocalCredential | None:
        if signed.header("authorization") is None:
            return None

        return verify_signature(signed, self._config.credentials, region=self._config.region)

    def _invoke_request(
        self,
        scope: _Scope,
        headers: tuple[tuple[str, str], ...],
        route: ServiceRoute,
        credential: LocalCredential | None,
    ) -> InvokeRequest:
        caller = None
        if credential is not None:
            account = credential.role_arn.split(":")[4]
            caller = CallerIdentity(credential.role_arn, account, self._org_of(credential))

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        return InvokeRequest(
            caller=caller,
            service_arn=route.service_arn,
            service_network_arn=self._config.service_network_arn,
            source_vpc_id=self._config.source_vpc_arn.rsplit("/", 1)[-1],
            method=scope["method"],
            path=scope["path"],
            port=route.gateway_port,
            headers=dict(headers),
            query={key: tuple(values) for key, values in query.items()},
        )

    def _upstream_headers(
        self,
        headers: tuple[tuple[str, str], ...],
        route: ServiceRoute,
        credential: LocalCredential | None,
        client_host: str,
    ) -> list[tuple[str, str]]:
        forwarded = [
            (name, value)
            for name, value in headers
            if not name.startswith(LATTICE_HEADER_PREFIX)
            and name not in _HOP_BY_HOP
            and name not in _CREDENTIAL_HEADERS
            and name != "x-forwarded-for"
        ]
        if credential is not None:
            forwarded.append(("x-amzn-lattice-identity", self._identity_header(credential)))
        claimed = [value for name, value in headers if name == "x-forwarded-for"]
        forwarded.append(("x-forwarded-for", ", ".join([*claimed, client_host])))
        forwarded.append(("x-amzn-lattice-network", f"SourceVpcArn={self._config.source_vpc_arn}"))
        target = (
            f"ServiceArn={route.service_arn}; "
            f"ServiceNetworkArn={self._config.service_network_arn}; "
            f"TargetGroupArn={route.target_group_arn}"
        )
        forwarded.append(("x-amzn-lattice-target", target))
        return forwarded

    def _org_of(self, credential: LocalCredential) -> str | None:
        """The caller's organisation: the environment's, for roles of its own account only.

        NOTE: locally nothing says which organisation another account belongs to, so a
        caller from another account has none; the catalog admits such callers by ARN.
        """
        if credential.role_arn.split(":")[4] != self._config.account_id:
            return None

        return self._config.org_id

    def _identity_header(self, credential: LocalCredential) -> str:
        fields = [f"Principal={credential.assumed_role_arn}"]
        org_id = self._org_of(credential)
        if org_id:
            fields.append(f"PrincipalOrgID={org_id}")
        fields.append(f"SessionName={credential.session_name}")
        fields.append("Type=AWS_IAM")
        return "; ".join(fields)

    async def _forward(
        self,
        scope: _Scope,
        send: _Send,
        headers: list[tuple[str, str]],
        body: bytes,
        route: ServiceRoute,
    ) -> None:
        client = self._client_for(route)
        url = f"{route.upstream_url}{_raw_target(scope)}"
        request = client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await client.send(request, stream=True)
            try:
                # The bytes as the service sent them: a decoded body would contradict the
                # content-encoding header passed on with it.
                content = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            await _send_json(send, 504, f"{route.service_name} did not answer in time")
            return
        except httpx.TransportError as exc:
            logger.warning("%s: upstream %s unreachable: %s", route.service_name, url, exc)
            await _send_json(send, 502, f"{route.service_name} is not reachable")
            return

        response_headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.multi_items()
            if name.lower() not in _HOP_BY_HOP
        ]
        response_headers.append((b"content-length", str(len(content)).encode()))
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response_headers,
            }
        )
        await send({"type": "http.response.body", "body": content})

    def _client_for(self, route: ServiceRoute) -> httpx.AsyncClient:
        """The connection pool to one service, over its unix socket when it has one."""
        client = self._clients.get(route.service_name)
        if client is None:
            transport = self._upstream_transport
            if transport is None and route.upstream_socket is not None:
                transport = httpx.AsyncHTTPTransport(uds=route.upstream_socket)
            client = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT_SECONDS, transport=transport)
            self._clients[route.service_name] = client
        return client

    async def _lifespan(self, receive: _Receive, send: _Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Close the connections to the services; the server's lifespan shutdown calls it."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()


def open_listener(port: int, purpose: str, host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket for uvicorn, or `UsageError` naming the port if it is taken.

    TCP_NODELAY is set here because asyncio sets it only on sockets created with an explicit
    IPPROTO_TCP; without it every response written in two parts (head, then body) waits for
    the client's delayed ACK, about 40 ms per hop on Linux.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        message = (
            f"port {port} on {host} ({purpose}) is already in use ({exc.strerror}); "
            "choose other ports with --base-port"
        )
        raise UsageError(message) from None

    listener.listen(128)
    return listener


def _raw_target(scope: _Scope) -> str:
    raw_path: bytes = scope.get("raw_path") or str(scope["path"]).encode("utf-8")
    target = raw_path.decode("latin-1")
    query = scope.get("query_string", b"")
    if query:
        target = f"{target}?{query.decode('latin-1')}"
    return target


def _decide(
    auth_policy: Mapping[str, Any], invoke: InvokeRequest, policy_name: str, service: str
) -> Decision:
    try:
        return evaluate_auth_policy(auth_policy, invoke)
    except Exception:
        # Fail closed: an error while deciding is a denial, never a pass.
        logger.exception("%s: %s auth policy evaluation failed; denying", service, policy_name)
        return Decision.EXPLICIT_DENY


def _has_dot_segment(path: str) -> bool:
    """True when the (percent-decoded) path has a '.' or '..' segment."""
    return any(segment in (".", "..") for segment in path.split("/"))


def _host_names_port(host: str, port: int) -> bool:
    """True when a Host header names a loopback host with the gateway port of the service."""
    name, _, host_port = host.rpartition(":")
    return host_port == str(port) and name in {"127.0.0.1", "localhost", "[::1]"}


def _signed_url(scope: _Scope, headers: tuple[tuple[str, str], ...]) -> str:
    host = dict(headers).get("host", "")
    return f"http://{host}{_raw_target(scope)}"


class _CallerDisconnectedError(Exception):
    """The caller went away before sending its whole body."""


async def _read_body(receive: _Receive) -> bytes | None:
    """The whole request body, or None when it passes `MAX_BODY_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _CallerDisconnectedError

        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None

        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send: _Send, status: int, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "LATTICE_HEADER_PREFIX",
    "GatewayConfig",
    "LatticeGateway",
    "ServiceRoute",
    "open_listener",
]
