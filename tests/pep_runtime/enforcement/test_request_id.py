"""One id per request: the audit line's, the one service calls forward, the response's."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from pep_runtime.enforcement import Enforcer, LocalCedarDecisionPoint
from pep_runtime.services import RequestIdMiddleware, WsgiRequestIdMiddleware, bind_request_id

from .apps import Calls, flask_app, starlette_app
from .conftest import FIXTURE_AUTHZ, FRONTEND_IDENTITY, audit_lines, make_config

IDENTITY = {"x-amzn-lattice-identity": FRONTEND_IDENTITY}


def _enforcer() -> Enforcer:
    return Enforcer(make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))


def _audit_ids(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line["request_id"] for line in audit_lines(capsys.readouterr().out)]


def _client(kind: str, calls: Calls, *, outer: bool) -> Any:
    if kind == "asgi":
        app = starlette_app(_enforcer(), calls)
        return TestClient(RequestIdMiddleware(app) if outer else app)
    flask = flask_app(_enforcer(), calls)
    if outer:
        flask.wsgi_app = WsgiRequestIdMiddleware(flask.wsgi_app)  # type: ignore[method-assign]
    return flask.test_client()


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_the_callers_request_id_is_audited_and_forwarded(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """x-request-id is the audit line's id and the id the handler's service calls send."""
    calls = Calls()
    client = _client(kind, calls, outer=False)

    response = client.get("/orders/o-1", headers={**IDENTITY, "x-request-id": "req-77"})

    assert response.status_code == 200
    assert _audit_ids(capsys) == ["req-77"]
    assert calls.request_ids == ["req-77"]


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_a_generated_request_id_is_the_same_in_audit_and_calls(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without x-request-id the PEP's generated id is also the one service calls forward."""
    calls = Calls()
    client = _client(kind, calls, outer=False)

    client.get("/orders/o-1", headers=IDENTITY)
    client.get("/orders/o-2", headers=IDENTITY)

    audited = _audit_ids(capsys)
    assert calls.request_ids == audited
    assert len(set(audited)) == 2


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_with_the_request_id_middleware_outside_all_three_agree(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Behind RequestIdMiddleware, its id (echoed on the response) is audited and forwarded."""
    calls = Calls()
    client = _client(kind, calls, outer=True)

    response = client.get("/orders/o-1", headers=IDENTITY)

    echoed = response.headers["x-request-id"]
    assert _audit_ids(capsys) == [echoed]
    assert calls.request_ids == [echoed]


def test_an_id_the_pep_would_refuse_is_still_the_outer_middlewares(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An id RequestIdMiddleware accepted is used as is, not replaced by a second one."""
    calls = Calls()
    client = _client("asgi", calls, outer=True)

    response = client.get("/orders/o-1", headers={**IDENTITY, "x-request-id": "trace!1"})

    assert response.headers["x-request-id"] == "trace!1"
    assert _audit_ids(capsys) == ["trace!1"]
    assert calls.request_ids == ["trace!1"]


def test_decisions_inside_a_handler_carry_the_requests_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`authorize` called while a request id is bound audits under that id."""
    enforcer = _enforcer()
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})

    with bind_request_id("req-9"):
        enforcer.authorize(principal, "GetOrder", enforcer.resource("Order", "o-1"))

    assert _audit_ids(capsys) == ["req-9"]
