"""Request context from verified request data, and application-supplied resource entities."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pep_runtime.enforcement import (
    AuthorizationRequest,
    Enforcer,
    EntityUid,
    HttpRequest,
    LocalCedarDecisionPoint,
    Principal,
    VerifiedPermissionsDecisionPoint,
)
from pep_runtime.enforcement.exceptions import EnforcementConfigError

from .conftest import FIXTURE_AUTHZ, FRONTEND_IDENTITY, audit_lines, make_config
from .jwks_server import CLIENT_ID, ISSUER, TokenMinter, serve_jwks

FRONTEND = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    """One signing key for the module."""
    return TokenMinter()


@pytest.fixture(scope="module")
def jwks_url(minter: TokenMinter) -> Iterator[str]:
    """The loopback JWKS URL."""
    with serve_jwks(minter) as url:
        yield url


def _enforcer(document: Mapping[str, Any] | None = None, **kwargs: Any) -> Enforcer:
    config = make_config(document=document, env=kwargs.pop("env", None))
    decision_point = LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")
    return Enforcer(config, decision_point, **kwargs)


def _get(path: str, headers: Mapping[str, list[str]], **more: Any) -> HttpRequest:
    return HttpRequest("GET", path.encode(), dict(headers), **more)


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [("10.1.2.3", 200), ("203.0.113.9", 403), ("203.0.113.9, 10.1.2.3", 200)],
)
def test_source_ip_comes_from_lattice_forwarded_for(forwarded: str, status: int) -> None:
    """Behind Lattice, the last x-forwarded-for address is context.sourceIp for policies."""
    enforcer = _enforcer({"requestContext": ["sourceIp"]})

    outcome = enforcer.check(_get("/orders/o-1", {**FRONTEND, "x-forwarded-for": [forwarded]}))

    assert outcome.status == status


def test_malformed_forwarded_for_is_refused() -> None:
    """A forwarded-for that does not end in an address is malformed: 400."""
    enforcer = _enforcer({"requestContext": ["sourceIp"]})

    outcome = enforcer.check(_get("/orders/o-1", {**FRONTEND, "x-forwarded-for": ["nope"]}))

    assert (outcome.status, outcome.reason) == (400, "x-forwarded-for")


@pytest.mark.parametrize(
    ("lines", "status"), [(["203.0.113.9", "10.1.2.3"], 200), (["10.1.2.3", "203.0.113.9"], 403)]
)
def test_forwarded_for_on_several_lines_is_one_list(lines: list[str], status: int) -> None:
    """Header lines of one list-valued header are one list (RFC 9110): the last address of
    the last line is the one Lattice added, however the lines were split."""
    enforcer = _enforcer({"requestContext": ["sourceIp"]})

    outcome = enforcer.check(_get("/orders/o-1", {**FRONTEND, "x-forwarded-for": lines}))

    assert outcome.status == status


def test_no_forwarded_for_behind_lattice_is_refused_when_policies_read_the_source() -> None:
    """Lattice always adds x-forwarded-for: without it, a `context has sourceIp` condition
    would silently not apply, so the request is refused (400) rather than decided."""
    enforcer = _enforcer({"requestContext": ["sourceIp"]})

    outcome = enforcer.check(_get("/orders/o-1", FRONTEND))

    assert (outcome.status, outcome.reason) == (400, "x-forwarded-for")


def test_an_address_with_a_zone_is_a_malformed_forwarded_for() -> None:
    """An IPv6 zone (fe80::1%eth0) names a link of the sender's host, not an address Cedar
    can hold: 400, as for any malformed forwarded-for."""
    enforcer = _enforcer({"requestContext": ["sourceIp"]})
    headers = {**FRONTEND, "x-forwarded-for": ["fe80::1%eth0"]}

    outcome = enforcer.check(_get("/orders/o-1", headers))

    assert (outcome.status, outcome.reason) == (400, "x-forwarded-for")


def test_a_peer_address_with_a_zone_is_the_address_alone() -> None:
    """Off Lattice, a link-local peer's zone is dropped: the address is what policies see."""
    enforcer = _enforcer(
        {"requestContext": ["sourceIp"]}, env={"LATTICEWORK_BEHIND_LATTICE": "false"}
    )
    principal = Principal(uid=EntityUid("Latticework::Service", "frontend"))
    request = _get("/x", {}, client_address="fe80::1%eth0")

    context = enforcer._request_context(request, principal)

    assert context == {"sourceIp": {"__extn": {"fn": "ip", "arg": "fe80::1"}}}


def test_source_ip_off_lattice_is_the_peer_address() -> None:
    """Off Lattice, forwarded-for is ignored and the connection's peer is the source."""
    enforcer = _enforcer(
        {"requestContext": ["sourceIp"]}, env={"LATTICEWORK_BEHIND_LATTICE": "false"}
    )
    principal = Principal(uid=EntityUid("Latticework::Service", "frontend"))
    request = _get("/x", {"x-forwarded-for": ["10.0.0.1"]}, client_address="203.0.113.9")

    context = enforcer._request_context(request, principal)

    assert context == {"sourceIp": {"__extn": {"fn": "ip", "arg": "203.0.113.9"}}}


@pytest.mark.parametrize(
    ("peer", "forwarded", "outcome"),
    [
        # A dual-stack socket gives an IPv4 caller as ::ffff:a.b.c.d: it is that IPv4 one.
        ("::ffff:10.0.0.5", None, (200, "allow")),
        (None, "::ffff:10.0.0.5", (200, "allow")),
        ("::ffff:203.0.113.9", None, (403, "deny")),
        # No peer (a unix socket) or one that is no address: the source is unknown, so the
        # private-networks forbid cannot be skipped; no decision.
        ("", None, (503, "no-source-ip")),
        ("/run/app.sock", None, (503, "no-source-ip")),
    ],
)
def test_the_source_address_is_never_left_out(
    minter: TokenMinter,
    jwks_url: str,
    peer: str | None,
    forwarded: str | None,
    outcome: tuple[int, str],
) -> None:
    """`context has sourceIp` must not silently be false: an address a policy could read in
    another form is normalised, and an unknown one denies. (Alice, in group support, may
    read orders from private networks.)"""
    behind_lattice = forwarded is not None
    document = {
        "requestContext": ["sourceIp"],
        "identitySource": {"jwksUrl": jwks_url, "issuer": ISSUER, "clientIds": [CLIENT_ID]},
    }
    enforcer = _enforcer(document, env={"LATTICEWORK_BEHIND_LATTICE": str(behind_lattice).lower()})
    headers = {"authorization": [f"Bearer {minter.mint()}"]}
    if forwarded is not None:
        headers["x-forwarded-for"] = [forwarded]

    decided = enforcer.check(_get("/orders/o-1", headers, client_address=peer))

    assert (decided.status, decided.reason) == outcome


def test_context_is_off_unless_configured() -> None:
    """Without requestContext the PEP sends an empty context."""
    enforcer = _enforcer()

    outcome = enforcer.check(_get("/orders/o-1", {**FRONTEND, "x-forwarded-for": ["203.0.113.9"]}))

    assert outcome.status == 200


def test_scopes_come_from_the_token(minter: TokenMinter, jwks_url: str) -> None:
    """An access token's scope claim becomes context.scopes."""
    document = {
        "requestContext": ["scopes"],
        "identitySource": {"jwksUrl": jwks_url, "issuer": ISSUER, "clientIds": [CLIENT_ID]},
    }
    enforcer = _enforcer(document)
    scoped = minter.mint(
        token_use="access", aud=None, client_id=CLIENT_ID, scope="orders:read orders:cancel"
    )
    unscoped = minter.mint(token_use="access", aud=None, client_id=CLIENT_ID, scope="x")

    allowed = enforcer.check(
        HttpRequest("POST", b"/orders/o-5/cancel", {"authorization": [f"Bearer {scoped}"]})
    )
    denied = enforcer.check(
        HttpRequest("POST", b"/orders/o-5/cancel", {"authorization": [f"Bearer {unscoped}"]})
    )

    assert allowed.status == 200
    assert allowed.result is not None
    assert allowed.result.determining_policies == ("scoped-users-cancel",)
    assert denied.status == 403


def test_resource_entities_let_policies_read_attributes(minter: TokenMinter, jwks_url: str) -> None:
    """A loader supplies the order with its owner; the owner policy allows its owner only."""
    loaded: list[EntityUid] = []

    def load(resource: EntityUid) -> Sequence[Mapping[str, Any]]:
        loaded.append(resource)
        owner = {"__entity": {"type": "Latticework::User", "id": "dora"}}
        return [{"uid": resource.to_cedar_json(), "attrs": {"owner": owner}, "parents": []}]

    document = {
        "identitySource": {"jwksUrl": jwks_url, "issuer": ISSUER, "clientIds": [CLIENT_ID]},
    }
    enforcer = _enforcer(document, resource_entities=load)
    no_groups: dict[str, Any] = {"cognito:groups": []}
    dora = {"authorization": [f"Bearer {minter.mint(sub='dora', **no_groups)}"]}
    eve = {"authorization": [f"Bearer {minter.mint(sub='eve', **no_groups)}"]}

    owner = enforcer.check(_get("/orders/o-8", dora))
    other = enforcer.check(_get("/orders/o-8", eve))

    assert not enforcer.decides_inline
    assert owner.status == 200
    assert owner.result is not None
    assert owner.result.determining_policies == ("owner-reads-order",)
    assert other.status == 403
    assert loaded == [EntityUid("Latticework::Order", "o-8")] * 2


def test_failing_loader_is_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    """If the entity loader fails there is no decision: 503, and the audit line still names
    the caller, the action and the resource that were asked for."""

    def load(resource: EntityUid) -> Sequence[Mapping[str, Any]]:
        raise ConnectionError("database down")

    enforcer = _enforcer(resource_entities=load)

    outcome = enforcer.check(_get("/orders/o-1", FRONTEND))

    assert (outcome.status, outcome.reason) == (503, "resource-entities")
    [line] = audit_lines(capsys.readouterr().out)
    assert (line["status"], line["principal"], line["action"], line["resource"]) == (
        503,
        'Latticework::Service::"frontend"',
        "GetOrder",
        'Latticework::Order::"o-1"',
    )


def test_unknown_request_context_field_is_a_config_error() -> None:
    """requestContext accepts only the fields the PEP can fill."""
    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"requestContext": ["body"]})

    assert caught.value.field == "requestContext"


def test_verified_permissions_gets_extra_entities() -> None:
    """Extra entities go to the API as typed entity items next to the principal."""
    client = boto3.client(
        "verifiedpermissions",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    decision_point = VerifiedPermissionsDecisionPoint(
        policy_store_id="PSEXAMPLEabcdefg111111", namespace="Latticework", client=client
    )
    principal = Principal(uid=EntityUid("Latticework::User", "dora"))
    order = {
        "uid": {"type": "Order", "id": "o-8"},
        "attrs": {"owner": {"__entity": {"type": "User", "id": "dora"}}, "paid": True},
        "parents": [{"type": "Store", "id": "default"}],
    }
    request = AuthorizationRequest(
        principal,
        "GetOrder",
        EntityUid("Latticework::Order", "o-8"),
        context={"sourceIp": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}},
        entities=(order,),
    )
    stubber = Stubber(client)
    stubber.add_response(
        "is_authorized",
        {"decision": "ALLOW", "determiningPolicies": [{"policyId": "p"}], "errors": []},
        {
            "policyStoreId": "PSEXAMPLEabcdefg111111",
            "principal": {"entityType": "Latticework::User", "entityId": "dora"},
            "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
            "resource": {"entityType": "Latticework::Order", "entityId": "o-8"},
            "context": {"contextMap": {"sourceIp": {"ipaddr": "10.0.0.1"}}},
            "entities": {
                "entityList": [
                    {"identifier": {"entityType": "Latticework::User", "entityId": "dora"}},
                    {
                        "identifier": {"entityType": "Latticework::Order", "entityId": "o-8"},
                        "attributes": {
                            "owner": {
                                "entityIdentifier": {
                                    "entityType": "Latticework::User",
                                    "entityId": "dora",
                                }
                            },
                            "paid": {"boolean": True},
                        },
                        "parents": [{"entityType": "Latticework::Store", "entityId": "default"}],
                    },
                ]
            },
        },
    )

    with stubber:
        result = decision_point.is_authorized(request)

    assert result.allowed
    stubber.assert_no_pending_responses()
