"""The enforcer end to end: tokens, Verified Permissions behind ASGI, batch filtering."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import jwt
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse, HTTPHeaders
from botocore.credentials import Credentials
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from pep_runtime.enforcement import (
    DecisionUnavailableError,
    Enforcer,
    EntityUid,
    HttpRequest,
    LocalCedarDecisionPoint,
    VerifiedPermissionsDecisionPoint,
)
from pep_runtime.enforcement.config import IdentitySourceConfig
from pep_runtime.enforcement.lattice import LATTICE_HEADERS
from pep_runtime.enforcement.tokens import TokenVerifier

from .apps import Calls, starlette_app
from .conftest import FIXTURE_AUTHZ, FRONTEND_IDENTITY, ROUTES, audit_lines, make_config
from .jwks_server import CLIENT_ID, ISSUER, TokenMinter, serve_jwks, stalled_jwks

STORE = "PSEXAMPLEabcdefg111111"


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    """One signing key for the module."""
    return TokenMinter()


@pytest.fixture(scope="module")
def jwks_url(minter: TokenMinter) -> Iterator[str]:
    """The loopback JWKS URL."""
    with serve_jwks(minter) as url:
        yield url


def _identity_source(jwks_url: str) -> dict[str, Any]:
    return {"identitySource": {"jwksUrl": jwks_url, "issuer": ISSUER, "clientIds": [CLIENT_ID]}}


def _stubbed_vp(**document: Any) -> tuple[Enforcer, Stubber]:
    client = boto3.client(
        "verifiedpermissions",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    decision_point = VerifiedPermissionsDecisionPoint(
        policy_store_id=STORE, namespace="Latticework", client=client
    )
    config = make_config(document=document, env={"LATTICEWORK_PEP_MODE": "verified-permissions"})
    return Enforcer(config, decision_point), Stubber(client)


def test_user_token_in_local_mode(minter: TokenMinter, jwks_url: str) -> None:
    """A support-group user's JWT is mapped to User + UserGroup and allowed by local Cedar."""
    config = make_config(document=_identity_source(jwks_url))
    enforcer = Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))
    calls = Calls()
    client = TestClient(starlette_app(enforcer, calls))

    response = client.get(
        "/orders/o-7", headers={"authorization": f"Bearer {minter.mint(sub='bob')}"}
    )

    assert response.status_code == 200
    assert response.json()["principal"] == 'Latticework::User::"bob"'


def test_user_token_goes_to_the_token_api_behind_asgi(minter: TokenMinter, jwks_url: str) -> None:
    """In Verified Permissions mode a verified token is sent as is (from a worker thread)."""
    token = minter.mint()
    enforcer, stubber = _stubbed_vp(**_identity_source(jwks_url))
    stubber.add_response(
        "is_authorized_with_token",
        {"decision": "ALLOW", "determiningPolicies": [{"policyId": "p-1"}], "errors": []},
        {
            "policyStoreId": STORE,
            "identityToken": token,
            "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
            "resource": {"entityType": "Latticework::Order", "entityId": "o-1"},
        },
    )
    calls = Calls()

    with stubber:
        response = TestClient(starlette_app(enforcer, calls)).get(
            "/orders/o-1", headers={"authorization": f"Bearer {token}"}
        )

    assert not enforcer.decides_inline
    assert response.status_code == 200
    assert calls.handled == ["get_order"]
    stubber.assert_no_pending_responses()


def test_a_cached_token_decision_is_never_reused_for_another_token(
    minter: TokenMinter, jwks_url: str
) -> None:
    """Verified Permissions decides on the token itself, so one user's two tokens (say an
    admin app's and a read-only app's) never share a cached decision."""
    admin_token = minter.mint(sub="alice", custom_app="admin")
    reader_token = minter.mint(sub="alice", custom_app="reader")
    enforcer, stubber = _stubbed_vp(**_identity_source(jwks_url))
    for token, decision in ((admin_token, "ALLOW"), (reader_token, "DENY")):
        stubber.add_response(
            "is_authorized_with_token",
            {"decision": decision, "determiningPolicies": [], "errors": []},
            {
                "policyStoreId": STORE,
                "identityToken": token,
                "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
                "resource": {"entityType": "Latticework::Order", "entityId": "o-1"},
            },
        )

    with stubber:
        statuses = [
            enforcer.check(
                HttpRequest("GET", b"/orders/o-1", {"authorization": [f"Bearer {token}"]})
            ).status
            for token in (admin_token, reader_token, admin_token)
        ]

    assert statuses == [200, 403, 200]
    stubber.assert_no_pending_responses()


def test_audit_never_holds_the_token(
    minter: TokenMinter, jwks_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The bearer token never appears in any log line, allowed or denied."""
    caplog.set_level(logging.DEBUG)
    token = minter.mint(sub="carol", **{"cognito:groups": []})
    config = make_config(document=_identity_source(jwks_url))
    enforcer = Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))
    client = TestClient(starlette_app(enforcer, Calls()))

    denied = client.get("/orders/o-1", headers={"authorization": f"Bearer {token}"})
    garbled = client.get("/orders/o-1", headers={"authorization": f"Bearer {token[:-4]}"})

    assert (denied.status_code, garbled.status_code) == (403, 401)
    assert caplog.records
    assert not any(token[-30:] in record.getMessage() for record in caplog.records)


FORGED_AUDIT_LINE = '{"event":"authorization","status":200,"decision":"ALLOW"}'


def test_a_forged_key_id_cannot_write_a_log_line(
    minter: TokenMinter, jwks_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A `kid` carrying a line break and a fake audit line leaves no line break in the log."""
    caplog.set_level(logging.DEBUG)
    headers = {"kid": f"x\n{FORGED_AUDIT_LINE}\n"}
    token = jwt.encode({"sub": "m"}, minter.private_key, algorithm="RS256", headers=headers)
    config = make_config(document=_identity_source(jwks_url))
    enforcer = Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))

    outcome = enforcer.check(
        HttpRequest("GET", b"/orders/o-1", {"authorization": [f"Bearer {token}"]})
    )

    assert (outcome.status, outcome.reason) == (401, "invalid-token")
    messages = [record.getMessage() for record in caplog.records]
    assert messages
    assert all(message.isprintable() for message in messages)
    assert not any("ALLOW" in message for message in messages)


def test_what_check_logs_of_an_error_is_escaped(caplog: pytest.LogCaptureFixture) -> None:
    """An error whose text holds an invisible character from the path (one the path check
    lets through, such as a right-to-left override) is logged escaped."""
    caplog.set_level(logging.DEBUG)

    def failing_loader(resource: EntityUid) -> list[dict[str, Any]]:
        raise ConnectionError("the order database is down")

    enforcer = Enforcer(
        make_config(),
        LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"),
        resource_entities=failing_loader,
    )

    outcome = enforcer.check(
        HttpRequest("GET", b"/orders/o-1%E2%80%AEdenia%C2%A0", {}, client_address="::1")
    )

    assert (outcome.status, outcome.reason) == (503, "resource-entities")
    messages = [record.getMessage() for record in caplog.records]
    assert any("could not be loaded" in message for message in messages)
    assert all(message.isprintable() for message in messages)


async def test_a_hung_jwks_never_stalls_the_event_loop_in_local_mode() -> None:
    """While a JWKS fetch hangs, other requests are served; later tokens fail fast with 503."""
    token = TokenMinter().mint()

    with stalled_jwks() as endpoint:
        source = IdentitySourceConfig(jwks_url=endpoint.url, issuer=ISSUER, client_ids=(CLIENT_ID,))
        verifier = TokenVerifier(source, namespace="Latticework", fetch_timeout_seconds=1.0)
        config = make_config(document=_identity_source(endpoint.url))
        decision_point = LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
        enforcer = Enforcer(config, decision_point, token_verifier=verifier)
        transport = httpx.ASGITransport(app=starlette_app(enforcer, Calls()))
        bearer = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:

            async def health_while_fetching() -> float:
                await asyncio.sleep(0.1)
                await client.get("/health")
                return time.monotonic() - sent

            sent = time.monotonic()
            first, health_seconds = await asyncio.gather(
                client.get("/orders/o-1", headers=bearer), health_while_fetching()
            )
            started = time.monotonic()
            second = await client.get("/orders/o-1", headers=bearer)
            second_seconds = time.monotonic() - started

    assert enforcer.decides_inline
    assert (first.status_code, second.status_code) == (503, 503)
    assert health_seconds < 0.5
    assert second_seconds < 0.5
    assert endpoint.connections == 1


def test_only_a_token_needing_the_jwks_leaves_the_event_loop(
    minter: TokenMinter, jwks_url: str
) -> None:
    """A cold key set sends a bearer request to a thread; warm keys and no token stay inline."""
    config = make_config(document=_identity_source(jwks_url))
    enforcer = Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))
    bearer = HttpRequest("GET", b"/orders/o-1", {"authorization": [f"Bearer {minter.mint()}"]})
    plain = HttpRequest("GET", b"/orders/o-1", {})

    cold = enforcer.may_wait_on_identity_source(bearer)
    enforcer.check(bearer)

    assert cold
    assert not enforcer.may_wait_on_identity_source(bearer)
    assert not enforcer.may_wait_on_identity_source(plain)


def test_filter_authorized_batches_misses_and_keeps_order() -> None:
    """Cache misses go in one batch call; kept items stay in their order; hits skip the call."""
    enforcer, stubber = _stubbed_vp()
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})
    orders = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    items = [
        {
            "principal": {"entityType": "Latticework::Service", "entityId": "frontend"},
            "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
            "resource": {"entityType": "Latticework::Order", "entityId": order["id"]},
        }
        for order in orders
    ]
    decisions = ["ALLOW", "DENY", "ALLOW"]
    stubber.add_response(
        "batch_is_authorized",
        {
            "results": [
                {"request": item, "decision": decision, "determiningPolicies": [], "errors": []}
                for item, decision in zip(items, decisions, strict=True)
            ]
        },
    )

    def resource_of(order: dict[str, str]) -> EntityUid:
        return enforcer.resource("Order", order["id"])

    with stubber:
        first = enforcer.filter_authorized(principal, "GetOrder", orders, resource_of)
        second = enforcer.filter_authorized(principal, "GetOrder", orders, resource_of)

    assert first == [{"id": "a"}, {"id": "c"}]
    assert second == first
    assert enforcer.cache.hits == 3
    stubber.assert_no_pending_responses()


def test_filter_authorized_raises_when_no_decision(capsys: pytest.CaptureFixture[str]) -> None:
    """If the batch call fails, filtering raises instead of guessing, and the trail says
    why each item was refused, as the middleware's does for a request."""
    enforcer, stubber = _stubbed_vp()
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})
    stubber.add_client_error("batch_is_authorized", "ThrottlingException", http_status_code=400)

    with stubber, pytest.raises(DecisionUnavailableError) as caught:
        enforcer.filter_authorized(
            principal, "GetOrder", ["a", "b"], lambda order_id: enforcer.resource("Order", order_id)
        )

    lines = audit_lines(capsys.readouterr().out)
    assert [(line["resource"], line["status"], line["reason"]) for line in lines] == [
        ('Latticework::Order::"a"', 503, caught.value.reason),
        ('Latticework::Order::"b"', 503, caught.value.reason),
    ]
    assert {line["decision"] for line in lines} == {"DENY"}


def test_authorize_audits_a_decision_it_could_not_have(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A decision point that cannot answer leaves a 503 line before `authorize` raises."""
    enforcer, stubber = _stubbed_vp()
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})
    stubber.add_client_error("is_authorized", "AccessDeniedException", http_status_code=403)

    with stubber, pytest.raises(DecisionUnavailableError) as caught:
        enforcer.authorize(principal, "GetOrder", enforcer.resource("Order", "o-1"))

    lines = audit_lines(capsys.readouterr().out)
    assert [(line["status"], line["decision"], line["reason"]) for line in lines] == [
        (503, "DENY", caught.value.reason)
    ]


def test_filter_authorized_audits_policies_that_stopped_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Policies that no longer load leave a 503 line per item before filtering raises."""
    authz_dir = tmp_path / "authz"
    shutil.copytree(FIXTURE_AUTHZ, authz_dir)
    decision_point = LocalCedarDecisionPoint(
        authz_dir, namespace="Latticework", reload_check_seconds=0
    )
    enforcer = Enforcer(make_config(authz_dir=authz_dir), decision_point)
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})
    (authz_dir / "schema.json").write_text("{ broken")

    with pytest.raises(DecisionUnavailableError):
        enforcer.filter_authorized(
            principal, "GetOrder", ["a", "b"], lambda order_id: enforcer.resource("Order", order_id)
        )

    lines = audit_lines(capsys.readouterr().out)
    assert [(line["status"], line["reason"]) for line in lines] == [
        (503, "policies-unloadable"),
        (503, "policies-unloadable"),
    ]


def test_a_decision_point_missing_part_of_the_interface_is_refused_at_start() -> None:
    """One written before policies_version() existed fails when the enforcer is built, with
    the interface named, not with a 503 on every request."""

    class Older:
        is_local = True

        def is_authorized(self, request: Any) -> Any:
            raise AssertionError("never asked")

        def is_authorized_batch(self, requests: Any) -> Any:
            raise AssertionError("never asked")

    with pytest.raises(TypeError, match=r"Older is not a DecisionPoint.*policies_version"):
        Enforcer(make_config(), Older())  # type: ignore[arg-type]


def test_no_principal_is_the_anonymous_caller() -> None:
    """On a public route `current_principal()` is None; deciding for None decides for the
    anonymous caller, who gets only what policies grant to anyone."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )

    kept = enforcer.filter_authorized(
        None, "GetOrder", ["o-1"], lambda order_id: enforcer.resource("Order", order_id)
    )
    result = enforcer.authorize(None, "GetOrder", enforcer.resource("Order", "o-1"))

    assert kept == []
    assert not result.allowed


def test_filter_authorized_locally() -> None:
    """Local Cedar filters a list the same way, dropping the forbidden order."""
    config = make_config()
    enforcer = Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})

    kept = enforcer.filter_authorized(
        principal,
        "GetOrder",
        ["o-1", "locked", "o-2"],
        lambda order_id: enforcer.resource("Order", order_id),
    )

    assert kept == ["o-1", "o-2"]


@pytest.mark.parametrize(
    "decide",
    [
        lambda enforcer, principal, order, context: enforcer.authorize(
            principal, "GetOrder", order, context=context
        ),
        lambda enforcer, principal, order, context: enforcer.filter_authorized(
            principal, "GetOrder", [order], lambda uid: uid, context=context
        ),
    ],
    ids=["authorize", "filter_authorized"],
)
def test_a_context_that_is_not_cedar_json_is_no_decision_either_way(
    decide: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Python set is not Cedar JSON (a Cedar set is a list): both calls raise
    DecisionUnavailableError after a 503 line, never the encoder's TypeError unaudited."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})

    with pytest.raises(DecisionUnavailableError) as caught:
        decide(enforcer, principal, enforcer.resource("Order", "o-1"), {"tags": {"a", "b"}})

    lines = audit_lines(capsys.readouterr().out)
    assert caught.value.reason == "internal-error"
    assert [(line["status"], line["reason"]) for line in lines] == [(503, "internal-error")]


def test_authorize_outside_the_middleware(capsys: pytest.CaptureFixture[str]) -> None:
    """`authorize` decides one request, cached and audited."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})

    result = enforcer.authorize(principal, "GetOrder", enforcer.resource("Order", "o-1"))

    assert result.allowed
    lines = audit_lines(capsys.readouterr().out)
    assert [line["determining_policies"] for line in lines] == [["frontend-reads-orders"]]


def test_an_erroring_deny_outside_the_middleware_is_audited_as_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A deny that carries an evaluation error says so in its audit line, as the
    middleware's does: reason evaluation-error, not a plain deny."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})

    result = enforcer.authorize(principal, "NoSuchAction", enforcer.resource("Order", "o-1"))

    lines = audit_lines(capsys.readouterr().out)
    assert result.errors
    assert [(line["status"], line["reason"]) for line in lines] == [(403, "evaluation-error")]


def test_duplicate_identity_headers_are_refused() -> None:
    """Two identity headers are ambiguous: 401."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    request = HttpRequest(
        "GET",
        b"/orders/o-1",
        {"x-amzn-lattice-identity": [FRONTEND_IDENTITY, FRONTEND_IDENTITY]},
    )

    outcome = enforcer.check(request)

    assert (outcome.status, outcome.reason) == (401, "x-amzn-lattice-identity")


def test_server_decoding_that_disagrees_is_refused() -> None:
    """If the server's decoded path differs from the PEP's reading, the request is refused."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    headers = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}

    outcome = enforcer.check(HttpRequest("GET", b"/orders/o-1", headers, app_path="/orders/o-2"))

    assert outcome.status == 400


@pytest.fixture(scope="module")
def permissive_enforcer(tmp_path_factory: pytest.TempPathFactory) -> Enforcer:
    """Local Cedar that permits everything, so only the route table can deny."""
    authz_dir = tmp_path_factory.mktemp("permissive") / "authz"
    shutil.copytree(FIXTURE_AUTHZ, authz_dir)
    for policy in (authz_dir / "policies").glob("*.cedar"):
        policy.unlink()
    (authz_dir / "policies" / "all.cedar").write_text("permit (principal, action, resource);\n")
    decision_point = LocalCedarDecisionPoint(authz_dir, namespace="Latticework")
    return Enforcer(make_config(authz_dir=authz_dir), decision_point)


TEMPLATES = {(route["method"], route["path"]) for route in ROUTES}
SEGMENT = st.sampled_from(["orders", "catalog", "health", "o-1", "cancel", "", ".", "..", "%2F"])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "get", "POST", "PUT", "DELETE", "G\u00c9T", ""]),
    target=st.one_of(
        st.binary(max_size=40).map(lambda raw: b"/" + raw),
        st.lists(SEGMENT, max_size=4).map(lambda parts: ("/" + "/".join(parts)).encode()),
    ),
    headers=st.dictionaries(
        st.sampled_from(LATTICE_HEADERS),
        st.lists(st.text(alphabet=st.characters(codec="latin-1"), max_size=60), max_size=2),
    ),
)
def test_no_input_yields_an_unmapped_allow(
    permissive_enforcer: Enforcer, method: str, target: bytes, headers: dict[str, list[str]]
) -> None:
    """Even with policies that permit everything, an Allow only ever comes from a mapped route."""
    outcome = permissive_enforcer.check(HttpRequest(method, target, headers))

    if outcome.allowed:
        assert outcome.route is not None
        assert (outcome.route.rule.method, outcome.route.rule.path) in TEMPLATES
        assert outcome.route.rule.method == method.upper()
    assert outcome.status in {200, 400, 401, 403}


def test_untrusted_lattice_headers_are_ignored_even_when_repeated() -> None:
    """Off Lattice, even repeated identity headers are ignored rather than refused."""
    config = make_config(env={"LATTICEWORK_BEHIND_LATTICE": "false"})
    enforcer = Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))
    headers = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY, "Oops"]}

    outcome = enforcer.check(HttpRequest("GET", b"/catalog/shoes", headers))

    assert outcome.status == 200
    assert outcome.principal is not None
    assert outcome.principal.is_anonymous


SIGV4_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261204/eu-west-1/vpc-lattice-svcs/aws4_request, "
    "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123abcd"
)


@pytest.mark.parametrize(
    ("behind_lattice", "status", "reason"),
    [("true", 200, "allow"), ("false", 401, "no-identity-source")],
)
def test_a_sigv4_authorization_is_lattice_s_own_behind_lattice(
    behind_lattice: str, status: int, reason: str
) -> None:
    """Lattice verified the SigV4 signature a service call carries, and says who signed it in
    its identity header: behind Lattice the signature is not taken for a bearer token. Off
    Lattice nobody verified it, so it is a credential the PEP cannot read (401)."""
    config = make_config(env={"LATTICEWORK_BEHIND_LATTICE": behind_lattice})
    enforcer = Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))
    headers = {
        "authorization": [SIGV4_AUTHORIZATION],
        "x-amzn-lattice-identity": [FRONTEND_IDENTITY],
    }

    outcome = enforcer.check(HttpRequest("GET", b"/orders/o-1", headers))

    assert (outcome.status, outcome.reason) == (status, reason)


def test_a_signature_botocore_makes_is_lattice_s_own() -> None:
    """The header a service client signs with (botocore's SigV4) is recognised as one."""
    signed = AWSRequest(
        method="GET",
        url="https://orders.example.on.aws/orders/o-1",
        headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
    )
    credentials = Credentials("AKIDEXAMPLE", "not-a-real-key", "session")
    SigV4Auth(credentials, "vpc-lattice-svcs", "eu-west-1").add_auth(signed)
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    headers = {
        "authorization": [signed.headers["Authorization"]],
        "x-amzn-lattice-identity": [FRONTEND_IDENTITY],
    }

    outcome = enforcer.check(HttpRequest("GET", b"/orders/o-1", headers))

    assert (outcome.status, outcome.reason) == (200, "allow")


def test_a_sigv4_authorization_with_more_after_it_is_not_skipped() -> None:
    """A WSGI server joins two Authorization headers into one value ("AWS4-... , Bearer x"):
    only a value that is a signature and nothing else is Lattice's, so this one is refused
    as a credential the PEP cannot read, as the two headers are under ASGI."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    joined = f"{SIGV4_AUTHORIZATION}, Bearer junk"
    headers = {"authorization": [joined], "x-amzn-lattice-identity": [FRONTEND_IDENTITY]}

    outcome = enforcer.check(HttpRequest("GET", b"/orders/o-1", headers))

    assert outcome.status == 401


def test_a_remembered_path_is_still_checked_against_the_servers_decoding() -> None:
    """The same target once agreed and once decoded differently by the server: the second is 400."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    headers = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}

    agreed = HttpRequest("GET", b"/orders/o-1", headers, app_path="/orders/o-1")
    enforcer.check(agreed)
    agreed_again = enforcer.check(agreed)
    disagreed = enforcer.check(HttpRequest("GET", b"/orders/o-1", headers, app_path="/orders/o-2"))

    assert (agreed_again.status, disagreed.status) == (200, 400)


def test_a_remembered_target_keeps_its_method() -> None:
    """A target first seen with GET does not lend its route to a POST (unmapped: 403)."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    headers = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}

    enforcer.check(HttpRequest("GET", b"/orders/o-1", headers))
    get = enforcer.check(HttpRequest("GET", b"/orders/o-1", headers))
    post = enforcer.check(HttpRequest("POST", b"/orders/o-1", headers))

    assert (get.status, post.status, post.reason) == (200, 403, "unmapped-route")


def test_the_target_memo_stays_bounded() -> None:
    """Distinct repeated targets never grow the memo past its size; long ones are not kept."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    headers = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}
    long_target = b"/orders/" + b"x" * 600

    for target in [f"/orders/o-{index}".encode() for index in range(1100)] + [long_target]:
        for _ in range(2):  # a target is remembered the second time it is seen
            outcome = enforcer.check(HttpRequest("GET", target, headers))

    assert len(enforcer._targets) == 1024
    assert ("GET", long_target, None) not in enforcer._targets
    assert outcome.status == 200


def test_targets_seen_once_do_not_evict_repeated_ones() -> None:
    """New ids, new query strings and new public paths, each seen once, leave the memo alone."""
    enforcer = Enforcer(
        make_config(), LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    )
    headers = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}
    hot = HttpRequest("GET", b"/orders/o-hot", headers)

    for _ in range(2):
        enforcer.check(hot)
    for index in range(1100):
        enforcer.check(HttpRequest("GET", f"/orders/o-{index}".encode(), headers))
        enforcer.check(HttpRequest("GET", f"/orders/o-hot?cb={index}".encode(), headers))
        enforcer.check(HttpRequest("GET", f"/health?n={index}".encode()))

    # A one-off key whose slot already holds the same byte of hash gets in: about 1 in 255.
    assert ("GET", b"/orders/o-hot", None) in enforcer._targets
    assert len(enforcer._targets) < 64


def test_a_repeated_target_is_remembered_with_the_decision_cache_off() -> None:
    """Remembering a target does not depend on the decision cache: off, it still works."""
    config = make_config(document={"cache": {"maxEntries": 0}})
    enforcer = Enforcer(config, LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"))
    request = HttpRequest("GET", b"/orders/o-1", {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})

    statuses = [enforcer.check(request).status for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert list(enforcer._targets) == [("GET", b"/orders/o-1", None)]


def test_a_request_repr_never_shows_header_values() -> None:
    """A request's headers (a bearer token, a cookie) never reach a repr, and so never a log
    line or a traceback that prints the request."""
    request = HttpRequest(
        "GET", b"/orders/o-1", {"authorization": ["Bearer SECRET"], "cookie": ["sid=SECRET"]}
    )

    assert "SECRET" not in repr(request)
    assert "/orders/o-1" in repr(request)


class _RawBody:
    """The minimal urllib3-like body botocore reads a response from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


def _vp_answering(body: bytes) -> Enforcer:
    """An enforcer on a real Verified Permissions client whose every HTTP answer is `body`."""
    enforcer, _ = _stubbed_vp()
    decision_point = enforcer.decision_point
    assert isinstance(decision_point, VerifiedPermissionsDecisionPoint)

    def answer(request: Any, **kwargs: Any) -> AWSResponse:
        headers = HTTPHeaders()
        headers["content-type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 200, headers, _RawBody(body))

    decision_point._client.meta.events.register("before-send.verifiedpermissions", answer)
    return enforcer


_POLICY_WITHOUT_ID = {"decision": "ALLOW", "determiningPolicies": [{}], "errors": []}
_ECHOED_REQUEST = {
    "principal": {"entityType": "Latticework::Service", "entityId": "frontend"},
    "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
    "resource": {"entityType": "Latticework::Order", "entityId": "o-1"},
}


@pytest.mark.parametrize(
    ("answer", "decide"),
    [
        (
            _POLICY_WITHOUT_ID,
            lambda enforcer, principal, order: enforcer.authorize(principal, "GetOrder", order),
        ),
        (
            {"results": [{"request": _ECHOED_REQUEST, **_POLICY_WITHOUT_ID}]},
            lambda enforcer, principal, order: enforcer.filter_authorized(
                principal, "GetOrder", [order], lambda uid: uid
            ),
        ),
    ],
    ids=["authorize", "filter_authorized"],
)
def test_a_decision_point_that_breaks_is_audited_and_unavailable(
    answer: dict[str, Any], decide: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """An answer the decision point cannot read (a policy without its id) raises
    DecisionUnavailableError, not the decision point's own error, after a 503 line."""
    enforcer = _vp_answering(json.dumps(answer).encode())
    principal = enforcer.resolve_principal({"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})
    order = enforcer.resource("Order", "o-1")

    with pytest.raises(DecisionUnavailableError) as caught:
        decide(enforcer, principal, order)

    lines = audit_lines(capsys.readouterr().out)
    assert caught.value.reason == "internal-error"
    assert [(line["status"], line["decision"], line["reason"]) for line in lines] == [
        (503, "DENY", "internal-error")
    ]
