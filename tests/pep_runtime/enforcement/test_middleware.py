"""ASGI (Starlette TestClient) and WSGI (Flask test client) middleware on local Cedar."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from starlette.testclient import TestClient

from pep_runtime.enforcement import Enforcer, LocalCedarDecisionPoint

from .apps import Calls, flask_app, starlette_app
from .conftest import FIXTURE_AUTHZ, FRONTEND_IDENTITY, PARTNER_IDENTITY, audit_lines, make_config


def body(response: Any) -> Any:
    """The JSON body of either client's response."""
    return json.loads(response.text)


class Client(Protocol):
    """What both test clients offer."""

    def get(self, url: str, **kwargs: Any) -> Any: ...

    def post(self, url: str, **kwargs: Any) -> Any: ...

    def head(self, url: str, **kwargs: Any) -> Any: ...


def local_enforcer(**env: str) -> Enforcer:
    """An enforcer on the fixture authz/ files."""
    config = make_config(env=env)
    return Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))


@pytest.fixture(params=["asgi", "wsgi"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Client, Calls, Enforcer]]:
    """The service behind the PEP, through Starlette's or Flask's test client."""
    enforcer = local_enforcer()
    calls = Calls()
    if request.param == "asgi":
        with TestClient(starlette_app(enforcer, calls)) as client:
            yield client, calls, enforcer
    else:
        yield flask_app(enforcer, calls).test_client(), calls, enforcer


def test_allowed_request_reaches_the_handler_with_its_principal(
    served: tuple[Client, Calls, Enforcer],
) -> None:
    """An allowed caller reaches the handler, which sees its principal both ways."""
    client, calls, _ = served

    response = client.get("/orders/o-1", headers={"x-amzn-lattice-identity": FRONTEND_IDENTITY})

    assert response.status_code == 200
    assert body(response) == {
        "handler": "get_order",
        "principal": 'Latticework::Service::"frontend"',
        "current": 'Latticework::Service::"frontend"',
        "orderId": "o-1",
    }
    assert calls.handled == ["get_order"]


def test_iam_role_caller_with_matching_attributes_is_allowed(
    served: tuple[Client, Calls, Enforcer],
) -> None:
    """An external role is an IamRole entity whose attributes the policy checks."""
    client, calls, _ = served

    response = client.get("/orders/o-2", headers={"x-amzn-lattice-identity": PARTNER_IDENTITY})

    assert response.status_code == 200
    assert calls.handled == ["get_order"]


def test_public_route_needs_no_identity(served: tuple[Client, Calls, Enforcer]) -> None:
    """A route marked public runs without a decision."""
    client, calls, _ = served

    response = client.get("/health")

    assert response.status_code == 200
    assert calls.handled == ["health"]


def test_anonymous_allowed_where_policy_allows(served: tuple[Client, Calls, Enforcer]) -> None:
    """An anonymous caller gets through where a policy permits anonymous callers."""
    client, calls, _ = served

    response = client.get("/catalog/shoes")

    assert response.status_code == 200
    assert body(response)["principal"] == 'Latticework::Anonymous::"anonymous"'
    assert calls.handled == ["catalog"]


def test_methods_outside_the_table_are_denied(served: tuple[Client, Calls, Enforcer]) -> None:
    """POST to a GET-only route is unmapped: 403 and the app never runs."""
    client, calls, _ = served

    response = client.post("/health")

    assert response.status_code == 403
    assert calls.handled == []


@pytest.mark.parametrize(
    ("headers", "status", "handled"),
    [({"x-amzn-lattice-identity": FRONTEND_IDENTITY}, 200, ["get_order"]), ({}, 401, [])],
)
def test_head_is_decided_as_the_get_of_its_path(
    served: tuple[Client, Calls, Enforcer],
    capsys: pytest.CaptureFixture[str],
    headers: dict[str, str],
    status: int,
    handled: list[str],
) -> None:
    """The frameworks answer HEAD with the GET handler, so the GET rule decides it."""
    client, calls, _ = served

    response = client.head("/orders/o-1", headers=headers)

    assert response.status_code == status
    assert calls.handled == handled
    [line] = audit_lines(capsys.readouterr().out)
    assert (line["method"], line["action"]) == ("HEAD", "GetOrder")


def test_second_request_is_a_cache_hit(served: tuple[Client, Calls, Enforcer]) -> None:
    """The same principal, action and resource is answered from the cache the second time."""
    client, _, enforcer = served
    headers = {"x-amzn-lattice-identity": FRONTEND_IDENTITY}

    client.get("/orders/o-1", headers=headers)
    client.get("/orders/o-1", headers=headers)

    assert (enforcer.cache.hits, enforcer.cache.misses) == (1, 1)


def test_audit_line_per_decision(
    served: tuple[Client, Calls, Enforcer], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each request writes one JSON audit line with the decision and its context."""
    client, _, _ = served
    headers = {"x-amzn-lattice-identity": FRONTEND_IDENTITY, "x-request-id": "req-42"}

    client.get("/orders/locked?token=abc", headers=headers)

    lines = audit_lines(capsys.readouterr().out)
    assert lines == [
        {
            "event": "authorization",
            "request_id": "req-42",
            "service": "orders",
            "method": "GET",
            "path": "/orders/locked",
            "status": 403,
            "decision": "DENY",
            "reason": "deny",
            "principal": 'Latticework::Service::"frontend"',
            "action": "GetOrder",
            "resource": 'Latticework::Order::"locked"',
            "determining_policies": ["never-order-locked"],
            "evaluation_errors": 0,
            "cache_hit": False,
            "latency_ms": lines[0]["latency_ms"],
        }
    ]
    assert lines[0]["latency_ms"] >= 0


def test_lattice_headers_are_ignored_when_not_behind_lattice() -> None:
    """Off Lattice, identity headers are not trusted: the caller is anonymous."""
    enforcer = local_enforcer(LATTICEWORK_BEHIND_LATTICE="false")
    calls = Calls()
    client = TestClient(starlette_app(enforcer, calls))

    response = client.get("/orders/o-1", headers={"x-amzn-lattice-identity": FRONTEND_IDENTITY})

    assert response.status_code == 401
    assert calls.handled == []


def test_sync_handlers_see_the_principal(served: tuple[Client, Calls, Enforcer]) -> None:
    """A sync handler (Starlette runs it in a thread) still sees `current_principal()`."""
    client, calls, _ = served

    response = client.post(
        "/orders/o-sync/cancel", headers={"x-amzn-lattice-identity": FRONTEND_IDENTITY}
    )

    assert response.status_code == 200
    assert body(response)["current"] == 'Latticework::Service::"frontend"'
    assert calls.handled == ["cancel_order"]


def test_lifespan_passes_through() -> None:
    """Non-HTTP scopes such as lifespan pass straight through to the app."""
    started: list[bool] = []
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        started.append(True)
        yield

    from pep_runtime.enforcement import EnforcementMiddleware

    app = EnforcementMiddleware(Starlette(lifespan=lifespan), enforcer=local_enforcer())

    with TestClient(app):
        pass

    assert started == [True]


def test_websocket_handshake_is_enforced() -> None:
    """A WebSocket to an unmapped path is closed before the app sees it."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from pep_runtime.enforcement import EnforcementMiddleware

    accepted: list[bool] = []

    async def socket(websocket: WebSocket) -> None:
        accepted.append(True)
        await websocket.accept()
        await websocket.close()

    app = EnforcementMiddleware(
        Starlette(routes=[WebSocketRoute("/ws", socket)]), enforcer=local_enforcer()
    )

    with pytest.raises(WebSocketDisconnect) as caught, TestClient(app).websocket_connect("/ws"):
        pass

    assert caught.value.code == 1008
    assert accepted == []


def test_asgi_without_raw_path_re_encodes_the_decoded_path() -> None:
    """Without raw_path the PEP reads the server's decoded path, re-encoded once."""
    from pep_runtime.enforcement.asgi import _http_request

    scope = {"type": "http", "method": "GET", "path": "/orders/a b", "headers": []}

    request = _http_request(scope)

    assert request.target == b"/orders/a%20b"
    assert request.app_path == "/orders/a b"


def test_wsgi_without_raw_uri_re_encodes_path_info() -> None:
    """Without RAW_URI/REQUEST_URI the PEP re-encodes SCRIPT_NAME + PATH_INFO."""
    from pep_runtime.enforcement.wsgi import _http_request

    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/orders/\u00c3\u00a9",
        "HTTP_X_AMZN_LATTICE_IDENTITY": FRONTEND_IDENTITY,
        "REMOTE_ADDR": "10.0.0.7",
    }

    request = _http_request(environ)

    assert request.target == "/orders/%C3%A9"
    assert request.app_path == "/orders/é"
    assert request.headers == {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}
    assert request.client_address == "10.0.0.7"


def test_wsgi_path_info_outside_latin_1_is_a_bad_path() -> None:
    """PEP 3333 carries bytes as latin-1 text; a server handing other text (PATH_INFO
    "/orders/\u20ac" and no raw URI) is refused as a bad path (400), never a traceback."""
    from pep_runtime.enforcement.wsgi import _http_request

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/orders/\u20ac"}

    outcome = local_enforcer().check(_http_request(environ))

    assert (outcome.status, outcome.reason) == (400, "bad-path")


def test_a_mount_prefix_is_part_of_the_path_routes_match() -> None:
    """Under a root path (uvicorn --root-path /api builds this scope; WSGI's SCRIPT_NAME) the
    PEP matches the whole path: a route written without the prefix matches nothing (403)."""
    from pep_runtime.enforcement.asgi import _http_request as asgi_request
    from pep_runtime.enforcement.wsgi import _http_request as wsgi_request

    enforcer = local_enforcer()
    headers = [(b"x-amzn-lattice-identity", FRONTEND_IDENTITY.encode())]
    scope = {
        "type": "http",
        "method": "GET",
        "root_path": "/api",
        "path": "/api/orders/o-1",
        "raw_path": b"/api/orders/o-1",
        "headers": headers,
    }
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/api",
        "PATH_INFO": "/orders/o-1",
        "HTTP_X_AMZN_LATTICE_IDENTITY": FRONTEND_IDENTITY,
    }

    for request in (asgi_request(scope), wsgi_request(environ)):
        outcome = enforcer.check(request)
        assert (request.app_path, outcome.status) == ("/api/orders/o-1", 403)
    assert enforcer.check(
        asgi_request({**scope, "root_path": "", "path": "/orders/o-1", "raw_path": b"/orders/o-1"})
    ).allowed


def test_a_state_dict_shared_by_requests_never_carries_a_principal() -> None:
    """A state dict an outer layer shares between requests never gets a request's principal."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from pep_runtime.enforcement import EnforcementMiddleware

    shared: dict[str, Any] = {"tenant": "t-1"}

    async def get_order(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{request.state.tenant} {request.state.principal.label}")

    guarded = EnforcementMiddleware(
        Starlette(routes=[Route("/orders/{orderId}", get_order)]), enforcer=local_enforcer()
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await guarded({**scope, "state": shared}, receive, send)

    response = TestClient(app).get(
        "/orders/o-1", headers={"x-amzn-lattice-identity": FRONTEND_IDENTITY}
    )

    assert response.text == 't-1 Latticework::Service::"frontend"'
    assert shared == {"tenant": "t-1"}
