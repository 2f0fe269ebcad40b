"""The gateway forwards only what Lattice would: its own identity headers, never the caller's."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import AsyncIterator, MutableMapping
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from components.iam_documents import service_auth_policy, service_network_auth_policy
from latticework.dev import (
    GatewayConfig,
    LatticeGateway,
    LocalCredential,
    ServiceRoute,
    open_listener,
)
from latticework.errors import UsageError

REGION = "eu-west-1"
GATEWAY = "http://127.0.0.1:8402"
SERVICE_ARN = "arn:aws:vpc-lattice:eu-west-1:111122223333:service/svc-0123456789abcdef0"
NETWORK_ARN = "arn:aws:vpc-lattice:eu-west-1:111122223333:servicenetwork/sn-0123456789abcdef0"
TARGET_GROUP_ARN = "arn:aws:vpc-lattice:eu-west-1:111122223333:targetgroup/tg-0123456789abcdef0"
VPC_ARN = "arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0123456789abcdef0"
ORDERS = LocalCredential(
    "LWDVORDERS0000000001",
    "orders-local-secret",
    "arn:aws:iam::111122223333:role/latticework-dev-orders-task",
    "orders-local",
)
OPEN_POLICY = {
    "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}
    ]
}


async def _echo(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """A service that answers with the headers it received."""
    headers = [[name.decode(), value.decode()] for name, value in scope["headers"]]
    body = json.dumps({"headers": headers, "path": scope["path"]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"x-served-by", b"echo")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _gateway(
    policy: dict[str, Any],
    transport: httpx.AsyncBaseTransport | None,
    network_policy: dict[str, Any] = OPEN_POLICY,
    upstream_url: str = "http://127.0.0.1:8502",
) -> LatticeGateway:
    route = ServiceRoute(
        service_name="payments",
        gateway_port=8402,
        upstream_url=upstream_url,
        service_arn=SERVICE_ARN,
        target_group_arn=TARGET_GROUP_ARN,
        auth_policy=policy,
    )
    config = GatewayConfig(
        region=REGION,
        service_network_arn=NETWORK_ARN,
        source_vpc_arn=VPC_ARN,
        routes=(route,),
        network_auth_policy=network_policy,
        credentials={ORDERS.access_key_id: ORDERS, STRANGER.access_key_id: STRANGER},
        account_id="111122223333",
        org_id="o-abc123def4",
    )
    return LatticeGateway(config, upstream_transport=transport)


@pytest.fixture
async def gateway() -> AsyncIterator[LatticeGateway]:
    """A gateway whose payments route allows orders, in front of the echo service."""
    policy = service_auth_policy(
        service_arn=SERVICE_ARN, caller_role_arns=[ORDERS.role_arn], allowed_principals=[]
    )
    gateway = _gateway(policy, httpx.ASGITransport(app=_echo))
    yield gateway
    await gateway.aclose()


async def _send(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b"", sign: bool = True
) -> httpx.Response:
    url = f"{GATEWAY}{path}"
    if sign:
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        credentials = Credentials(ORDERS.access_key_id, ORDERS.secret_access_key)
        SigV4Auth(credentials, "vpc-lattice-svcs", REGION).add_auth(request)
        headers = dict(request.headers.items())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        return await client.request(method, url, headers=headers, content=body)


def _received(response: httpx.Response) -> dict[str, list[str]]:
    received: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        received.setdefault(name, []).append(value)
    return received


async def test_signed_caller_gets_lattice_identity_headers(gateway: LatticeGateway) -> None:
    """The service receives the signer's assumed-role ARN, org, network and target."""
    response = await _send(gateway, "GET", "/payments/p-1", {})

    received = _received(response)
    assert response.status_code == 200
    assert response.headers["x-served-by"] == "echo"
    assert received["x-amzn-lattice-identity"] == [
        "Principal=arn:aws:sts::111122223333:assumed-role/latticework-dev-orders-task/"
        "orders-local; PrincipalOrgID=o-abc123def4; SessionName=orders-local; Type=AWS_IAM"
    ]
    assert received["x-amzn-lattice-network"] == [f"SourceVpcArn={VPC_ARN}"]
    assert received["x-amzn-lattice-target"] == [
        f"ServiceArn={SERVICE_ARN}; ServiceNetworkArn={NETWORK_ARN}; "
        f"TargetGroupArn={TARGET_GROUP_ARN}"
    ]


async def test_incoming_lattice_headers_and_credentials_are_stripped(
    gateway: LatticeGateway,
) -> None:
    """Every x-amzn-lattice-* header a caller sends is dropped, as are its SigV4 credentials."""
    spoofed = {
        "x-amzn-lattice-identity": "Principal=arn:aws:sts::111122223333:assumed-role/admin/x",
        "x-amzn-lattice-identity-tags": "principal=admin;team=security",
        "x-amzn-lattice-network": "SourceVpcArn=arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-x",
        "X-Amzn-Lattice-Target": "ServiceArn=spoofed",
    }

    response = await _send(gateway, "GET", "/payments/p-1", spoofed)

    received = _received(response)
    assert response.status_code == 200
    assert "x-amzn-lattice-identity-tags" not in received
    assert all("admin" not in value for value in received["x-amzn-lattice-identity"])
    assert received["x-amzn-lattice-target"][0].startswith(f"ServiceArn={SERVICE_ARN};")
    assert len(received["x-amzn-lattice-network"]) == 1
    assert "authorization" not in received


async def test_anonymous_caller_gets_no_identity_header() -> None:
    """When a policy admits unsigned requests, the service sees no identity at all."""
    gateway = _gateway(OPEN_POLICY, httpx.ASGITransport(app=_echo))
    spoofed = {"x-amzn-lattice-identity": f"Principal={ORDERS.assumed_role_arn}"}

    response = await _send(gateway, "GET", "/payments/p-1", spoofed, sign=False)

    assert response.status_code == 200
    assert "x-amzn-lattice-identity" not in _received(response)
    await gateway.aclose()


async def test_denied_request_never_reaches_the_service(gateway: LatticeGateway) -> None:
    """An unsigned request to a service whose policy names callers is 403 at the gateway."""
    response = await _send(gateway, "GET", "/payments/p-1", {}, sign=False)

    assert response.status_code == 403
    assert response.json() == {
        "message": "AccessDeniedException: the service auth policy denies this call"
    }
    assert "x-served-by" not in response.headers


async def test_unknown_gateway_port_is_404(gateway: LatticeGateway) -> None:
    """A port with no service behind it answers 404 without forwarding."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway)) as client:
        response = await client.get("http://127.0.0.1:8499/payments/p-1")

    assert response.status_code == 404


async def test_oversized_body_is_413(gateway: LatticeGateway) -> None:
    """A body over 1 MiB is refused before the signature is even checked."""
    response = await _send(gateway, "POST", "/payments", {}, body=b"x" * (1024 * 1024 + 1))

    assert response.status_code == 413


async def test_unreachable_service_is_502() -> None:
    """A service that is down gives 502 naming the service, not a traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gateway = _gateway(OPEN_POLICY, None, upstream_url=f"http://127.0.0.1:{closed_port}")

    response = await _send(gateway, "GET", "/payments/p-1", {}, sign=False)

    assert response.status_code == 502
    assert response.json() == {"message": "payments is not reachable"}
    await gateway.aclose()


def test_listener_disables_nagle() -> None:
    """The gateway's listening socket has TCP_NODELAY, so no response waits for a delayed ACK."""
    listener = open_listener(0, "gateway for payments")

    try:
        nodelay = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        listener.close()

    assert nodelay != 0


def test_listener_on_a_taken_port_names_it() -> None:
    """Binding a gateway port that is in use is a usage error naming port and purpose."""
    taken = open_listener(0, "gateway for orders")
    port = taken.getsockname()[1]

    try:
        with pytest.raises(UsageError, match=rf"port {port} on 127\.0\.0\.1 \(gateway for x\)"):
            open_listener(port, "gateway for x")
    finally:
        taken.close()


async def test_host_of_another_service_is_misdirected(gateway: LatticeGateway) -> None:
    """A request whose Host names another gateway port is answered 421, not forwarded."""
    response = await _send(gateway, "GET", "/payments/p-1", {"host": "127.0.0.1:8401"})

    assert response.status_code == 421
    assert "x-served-by" not in response.headers


async def test_forwarded_for_ends_with_the_address_the_gateway_saw(
    gateway: LatticeGateway,
) -> None:
    """The peer address is appended after whatever the caller claimed, in one header."""
    response = await _send(gateway, "GET", "/payments/p-1", {"x-forwarded-for": "10.9.9.9"})

    assert _received(response)["x-forwarded-for"] == ["10.9.9.9, 127.0.0.1"]


async def _asgi_call(
    app: Any, method: str, raw_path: bytes, messages: list[dict[str, Any]]
) -> list[MutableMapping[str, Any]]:
    """Call `app` as the server would, with exactly `raw_path` as the target (an HTTP client
    would resolve dot segments first) and `messages` as what the caller sends; return what
    the app sent back, unsigned."""
    scope = {
        "type": "http",
        "method": method,
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8402")],
        "server": ("127.0.0.1", 8402),
        "client": ("127.0.0.1", 50000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def _send_raw(app: Any, raw_path: bytes) -> tuple[int, bytes]:
    """An unsigned GET of exactly `raw_path`: the status and body the app answered."""
    request = {"type": "http.request", "body": b"", "more_body": False}
    sent = await _asgi_call(app, "GET", raw_path, [request])
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


@pytest.mark.parametrize(
    "raw_path",
    [b"/public/../admin", b"/public/%2e%2e/admin", b"/public/..%2Fadmin", b"/public/./../admin"],
)
async def test_a_dot_segment_cannot_leave_the_path_the_auth_policy_allowed(
    raw_path: bytes,
) -> None:
    """A path the policy allows (/public/*) that climbs out of it is refused, never
    forwarded to a path the policy does not allow."""
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "vpc-lattice-svcs:Invoke",
                "Resource": f"{SERVICE_ARN}/public/*",
            }
        ]
    }
    gateway = _gateway(policy, httpx.ASGITransport(app=_echo))

    status, body = await _send_raw(gateway, raw_path)
    allowed_status, allowed_body = await _send_raw(gateway, b"/public/page")

    assert status == 400
    assert b"'.' or '..'" in body
    assert allowed_status == 200
    assert json.loads(allowed_body)["path"] == "/public/page"
    await gateway.aclose()


STRANGER = LocalCredential(
    "LWDVSTRANGER00000001",
    "stranger-local-secret",
    "arn:aws:iam::999988887777:role/stranger",
    "stranger-local",
)


async def _send_as(
    app: Any, credential: LocalCredential, path: str = "/payments/p-1"
) -> httpx.Response:
    url = f"{GATEWAY}{path}"
    request = AWSRequest(method="GET", url=url, data=b"", headers={})
    signing_keys = Credentials(credential.access_key_id, credential.secret_access_key)
    SigV4Auth(signing_keys, "vpc-lattice-svcs", REGION).add_auth(request)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        return await client.get(url, headers=dict(request.headers.items()))


async def test_the_service_network_auth_policy_is_applied_too() -> None:
    """A caller the service's own policy admits is still refused when the network's policy
    (environment accounts only) does not admit it, as Lattice applies both."""
    network_policy = service_network_auth_policy(
        service_network_arn=NETWORK_ARN, organization_id=None, account_ids=["111122223333"]
    )
    gateway = _gateway(OPEN_POLICY, httpx.ASGITransport(app=_echo), network_policy)

    own_account = await _send_as(gateway, ORDERS)
    other_account = await _send_as(gateway, STRANGER)
    anonymous = await _send(gateway, "GET", "/payments/p-1", {}, sign=False)

    assert own_account.status_code == 200
    assert other_account.status_code == 403
    assert other_account.json()["message"].startswith("AccessDeniedException")
    assert anonymous.status_code == 403
    await gateway.aclose()


async def test_only_the_environments_account_is_in_its_organisation() -> None:
    """A caller from another account is not given the environment's organisation, neither
    in the identity header nor for an aws:PrincipalOrgID condition."""
    network_policy = service_network_auth_policy(
        service_network_arn=NETWORK_ARN, organization_id="o-abc123def4", account_ids=[]
    )
    gateway = _gateway(OPEN_POLICY, httpx.ASGITransport(app=_echo), network_policy)

    own_account = await _send_as(gateway, ORDERS)
    other_account = await _send_as(gateway, STRANGER)

    assert own_account.status_code == 200
    assert "PrincipalOrgID=o-abc123def4" in _received(own_account)["x-amzn-lattice-identity"][0]
    assert other_account.status_code == 403
    await gateway.aclose()


async def _gzip_service(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """A service that answers with a gzip-encoded body, as GZipMiddleware would."""
    body = gzip.compress(b'{"status": "compressed"}')
    headers = [
        (b"content-type", b"application/json"),
        (b"content-encoding", b"gzip"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def test_an_encoded_response_reaches_the_caller_as_the_service_sent_it() -> None:
    """A gzip response keeps its bytes and its content-encoding, so the caller can decode it."""
    gateway = _gateway(OPEN_POLICY, httpx.ASGITransport(app=_gzip_service))

    response = await _send(gateway, "GET", "/payments/p-1", {}, sign=False)

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.json() == {"status": "compressed"}
    await gateway.aclose()


async def test_a_caller_that_disconnects_mid_body_is_not_forwarded() -> None:
    """A request whose body was cut off by the caller never reaches the service half-read."""
    reached: list[str] = []

    async def service(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await _echo(scope, receive, send)

    gateway = _gateway(OPEN_POLICY, httpx.ASGITransport(app=service))
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"orderId": "o-1", "amo', "more_body": True},
        {"type": "http.disconnect"},
    ]

    sent = await _asgi_call(gateway, "POST", b"/payments", messages)

    assert reached == []
    assert sent == []
    await gateway.aclose()


async def test_repeated_identity_headers_in_any_case_are_all_replaced(
    gateway: LatticeGateway,
) -> None:
    """Several spoofed identity headers, spelt in different cases, leave exactly the one
    identity the gateway injects for the signer."""
    url = f"{GATEWAY}/payments/p-1"
    request = AWSRequest(method="GET", url=url, data=b"", headers={})
    signing_keys = Credentials(ORDERS.access_key_id, ORDERS.secret_access_key)
    SigV4Auth(signing_keys, "vpc-lattice-svcs", REGION).add_auth(request)
    headers = [
        *request.headers.items(),
        ("X-Amzn-Lattice-Identity", "Principal=arn:aws:sts::111122223333:assumed-role/admin/a"),
        ("x-amzn-lattice-identity", "Principal=arn:aws:sts::111122223333:assumed-role/admin/b"),
        ("X-AMZN-LATTICE-IDENTITY-TAGS", "team=security"),
    ]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway)) as client:
        response = await client.get(url, headers=headers)

    received = _received(response)
    assert response.status_code == 200
    assert received["x-amzn-lattice-identity"] == [
        "Principal=arn:aws:sts::111122223333:assumed-role/latticework-dev-orders-task/"
        "orders-local; PrincipalOrgID=o-abc123def4; SessionName=orders-local; Type=AWS_IAM"
    ]
    assert "x-amzn-lattice-identity-tags" not in received
