"""An incoming request id travels through the handler to the peer calls and back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx
from botocore.credentials import Credentials

from pep_runtime.services import (
    AsyncServiceClient,
    RequestIdMiddleware,
    ServiceClient,
    WsgiRequestIdMiddleware,
    current_request_id,
)
from pep_runtime.services._middleware import Message, Receive, Scope, Send
from tests.pep_runtime.services.conftest import REGION, LatticeStub


def asgi_app(lattice: LatticeStub, credentials: Credentials) -> Any:
    """A service whose handler calls the `orders` peer and reports the ids it saw."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen_header = dict(scope["headers"]).get(b"x-request-id", b"").decode()
        async with AsyncServiceClient(
            "orders", lattice.base_url, region=REGION, credentials=credentials
        ) as orders:
            await orders.get("/orders/1")
        body = json.dumps({"bound": current_request_id(), "header": seen_header}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return RequestIdMiddleware(app)


async def test_an_incoming_id_is_bound_forwarded_and_echoed(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """The caller's x-request-id reaches the handler, the peer call and the response."""
    app = asgi_app(lattice, credentials)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as client:
        response = await client.get("/", headers={"x-request-id": "caller-42"})

    assert json.loads(response.content) == {"bound": "caller-42", "header": "caller-42"}
    assert response.headers["x-request-id"] == "caller-42"
    assert lattice.seen[0].headers["x-request-id"] == "caller-42"


async def test_a_request_without_an_id_gets_one_used_everywhere(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """A generated id is the same in the inner headers, the binding, the peer call and back."""
    app = asgi_app(lattice, credentials)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as client:
        response = await client.get("/")

    generated = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert json.loads(response.content) == {"bound": generated, "header": generated}
    assert lattice.seen[0].headers["x-request-id"] == generated


async def test_non_http_scopes_pass_through() -> None:
    """A lifespan scope reaches the app unchanged and binds nothing."""
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        assert current_request_id() is None

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    scope: Scope = {"type": "lifespan"}

    await RequestIdMiddleware(app)(scope, receive, send)

    assert seen == [scope]


def test_the_wsgi_middleware_binds_forwards_and_echoes(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """A WSGI handler's peer call forwards the caller's id, which is echoed back."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with ServiceClient(
            "orders", lattice.base_url, region=REGION, credentials=credentials
        ) as orders:
            orders.get("/orders/1")
        start_response("200 OK", [("content-type", "text/plain")])
        return [str(current_request_id()).encode()]

    transport = httpx.WSGITransport(app=WsgiRequestIdMiddleware(app))

    with httpx.Client(transport=transport, base_url="http://svc") as client:
        response = client.get("/", headers={"x-request-id": "caller-7"})

    assert response.text == "caller-7"
    assert response.headers["x-request-id"] == "caller-7"
    assert lattice.seen[0].headers["x-request-id"] == "caller-7"
