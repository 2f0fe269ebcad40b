"""The fail-closed matrix: every failure denies with a bare status and the app never runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.awsrequest
import botocore.config
import botocore.exceptions
import pytest
from starlette.testclient import TestClient

from pep_runtime.enforcement import (
    Enforcer,
    LocalCedarDecisionPoint,
    VerifiedPermissionsDecisionPoint,
    default_denial,
)

from .apps import Calls, flask_app, starlette_app
from .conftest import FIXTURE_AUTHZ, FRONTEND_IDENTITY, audit_lines, make_config
from .jwks_server import TokenMinter

SECRETISH = ("ThrottlingException", "detail that must not leak", "locked", "Principal", "arn:")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        yield self._body


def _wire(status: int, body: str, code: str | None = None) -> Callable[[Any], Any]:
    def send(request: Any) -> botocore.awsrequest.AWSResponse:
        headers = botocore.awsrequest.HTTPHeaders()
        headers["content-type"] = "application/x-amz-json-1.0"
        if code:
            headers["x-amzn-ErrorType"] = code
        return botocore.awsrequest.AWSResponse(request.url, status, headers, _Raw(body.encode()))

    return send


def _raise(error: Exception) -> Callable[[Any], Any]:
    def send(request: Any) -> Any:
        raise error

    return send


def _error(code: str, status: int) -> Callable[[Any], Any]:
    body = f'{{"__type": "{code}", "message": "detail that must not leak"}}'
    return _wire(status, body, code)


def vp_enforcer(send: Callable[[Any], Any], attempts: int = 1) -> Enforcer:
    """An enforcer on Verified Permissions whose HTTP layer answers with `send`."""
    client = boto3.client(
        "verifiedpermissions",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )
    client.meta.events.register(
        "before-send.verifiedpermissions", lambda request, **kwargs: send(request)
    )
    config = make_config(env={"LATTICEWORK_PEP_MODE": "verified-permissions"})
    decision_point = VerifiedPermissionsDecisionPoint(
        policy_store_id="PSEXAMPLEabcdefg111111", namespace="Latticework", client=client
    )
    return Enforcer(config, decision_point)


def local_enforcer(authz_dir: Path = FIXTURE_AUTHZ) -> Enforcer:
    """An enforcer on local Cedar."""
    decision_point = LocalCedarDecisionPoint(
        authz_dir, namespace="Latticework", reload_check_seconds=0
    )
    return Enforcer(make_config(authz_dir=authz_dir), decision_point)


def broken_policies_enforcer(tmp_path: Path) -> Enforcer:
    """Local Cedar whose policy file turns unparseable after start-up."""
    import shutil

    authz_dir = tmp_path / "authz"
    shutil.copytree(FIXTURE_AUTHZ, authz_dir)
    enforcer = local_enforcer(authz_dir)
    policy = authz_dir / "policies" / "orders.cedar"
    policy.write_text("permit (principal, action, resource")
    stat = policy.stat()
    os.utime(policy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    return enforcer


def jwks_enforcer() -> Enforcer:
    """Local Cedar with an identity source whose JWKS endpoint is down."""
    config = make_config(
        document={
            "identitySource": {
                "jwksUrl": "http://127.0.0.1:9/jwks.json",
                "issuer": "https://issuer.example.com",
                "clientIds": ["client-orders"],
            }
        }
    )
    decision_point = LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    return Enforcer(config, decision_point)


ALLOW_WITH_ERROR = (
    '{"decision": "ALLOW", "determiningPolicies": [{"policyId": "p"}],'
    ' "errors": [{"errorDescription": "overflow on locked"}]}'
)
FRONTEND = {"x-amzn-lattice-identity": FRONTEND_IDENTITY}


@dataclass
class Case:
    """One row of the matrix."""

    name: str
    build: Callable[[Path], Enforcer]
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"


def _local(tmp_path: Path) -> Enforcer:
    return local_enforcer()


CASES = [
    Case("unknown route", _local, "/admin", 403, FRONTEND),
    Case("unknown method", _local, "/orders/o-1", 403, FRONTEND, method="DELETE"),
    Case("encoded slash", _local, "/orders/a%2Fb", 400, FRONTEND),
    Case("encoded dot segment", _local, "/orders/%2E%2E", 400, FRONTEND),
    Case("double encoding", _local, "/orders/%252F", 400, FRONTEND),
    Case("matrix parameter", _local, "/orders/o-1;v=1", 400, FRONTEND),
    Case("malformed identity", _local, "/orders/o-1", 401, {"x-amzn-lattice-identity": "Oops"}),
    Case(
        "IAM user, not a role",
        _local,
        "/orders/o-1",
        401,
        {"x-amzn-lattice-identity": "Principal=arn:aws:iam::111122223333:user/alice"},
    ),
    Case(
        "malformed tags",
        _local,
        "/orders/o-1",
        401,
        {**FRONTEND, "x-amzn-lattice-identity-tags": "team=a\\"},
    ),
    Case("no identity", _local, "/orders/o-1", 401),
    Case("explicit deny", _local, "/orders/locked", 403, FRONTEND),
    Case(
        "bearer without identity source",
        _local,
        "/orders/o-1",
        401,
        {"authorization": "Bearer a.b.c"},
    ),
    Case(
        "timeout",
        lambda _: vp_enforcer(_raise(botocore.exceptions.ReadTimeoutError(endpoint_url="x"))),
        "/orders/o-1",
        503,
        FRONTEND,
    ),
    Case(
        "connection refused",
        lambda _: vp_enforcer(
            _raise(botocore.exceptions.EndpointConnectionError(endpoint_url="x"))
        ),
        "/orders/o-1",
        503,
        FRONTEND,
    ),
    Case(
        "throttling after retries",
        lambda _: vp_enforcer(_error("ThrottlingException", 400), attempts=2),
        "/orders/o-1",
        503,
        FRONTEND,
    ),
    Case(
        "access denied",
        lambda _: vp_enforcer(_error("AccessDeniedException", 403)),
        "/orders/o-1",
        503,
        FRONTEND,
    ),
    Case(
        "evaluation error alongside Allow",
        lambda _: vp_enforcer(_wire(200, ALLOW_WITH_ERROR)),
        "/orders/o-1",
        403,
        FRONTEND,
    ),
    Case(
        "unexpected failure",
        lambda _: vp_enforcer(_raise(RuntimeError("bug in a dependency"))),
        "/orders/o-1",
        503,
        FRONTEND,
    ),
    Case("policies no longer load", broken_policies_enforcer, "/orders/o-1", 503, FRONTEND),
    Case("identity source down", lambda _: jwks_enforcer(), "/orders/o-1", 503, {}),
    Case(
        "garbage bearer token",
        lambda _: jwks_enforcer(),
        "/orders/o-1",
        401,
        {"authorization": "Bearer x.y.z"},
    ),
]


REASONS = {
    "unknown route": "unmapped-route",
    "unknown method": "unmapped-route",
    "encoded slash": "bad-path",
    "encoded dot segment": "bad-path",
    "double encoding": "bad-path",
    "matrix parameter": "bad-path",
    "malformed identity": "x-amzn-lattice-identity",
    "IAM user, not a role": "x-amzn-lattice-identity",
    "malformed tags": "x-amzn-lattice-identity-tags",
    "no identity": "anonymous-denied",
    "explicit deny": "deny",
    "bearer without identity source": "no-identity-source",
    "timeout": "ReadTimeoutError",
    "connection refused": "EndpointConnectionError",
    "throttling after retries": "ThrottlingException",
    "access denied": "AccessDeniedException",
    "evaluation error alongside Allow": "evaluation-error",
    "unexpected failure": "internal-error",
    "policies no longer load": "policies-unloadable",
    "identity source down": "jwks-unavailable",
    "garbage bearer token": "invalid-token",
}


@pytest.fixture(scope="module")
def minted_token() -> str:
    """A well-formed token for the identity-source-down case."""
    return TokenMinter().mint()


@pytest.mark.parametrize("transport", ["asgi", "wsgi"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fail_closed(
    case: Case,
    transport: str,
    tmp_path: Path,
    minted_token: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The request is denied with the expected bare status and reason; the app never runs."""
    enforcer = case.build(tmp_path)
    calls = Calls()
    headers = dict(case.headers)
    if case.name == "identity source down":
        headers["authorization"] = f"Bearer {minted_token}"

    if transport == "asgi":
        client: Any = TestClient(starlette_app(enforcer, calls))
    else:
        client = flask_app(enforcer, calls).test_client()
    response = (
        client.open(case.path, method=case.method, headers=headers)
        if transport == "wsgi"
        else client.request(case.method, case.path, headers=headers)
    )

    expected = default_denial(case.status)
    assert response.status_code == case.status
    assert calls.handled == []
    body = response.content if transport == "asgi" else response.get_data()
    assert body == expected.body
    assert not any(text.encode() in body for text in SECRETISH)
    assert not any(text in str(dict(response.headers)) for text in SECRETISH)
    audit = audit_lines(capsys.readouterr().out)
    assert [(line["status"], line["reason"]) for line in audit] == [
        (case.status, REASONS[case.name])
    ]
