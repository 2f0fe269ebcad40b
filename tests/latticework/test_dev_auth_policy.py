"""The gateway evaluates the auth policies the components build, and fails closed otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from components.iam_documents import service_auth_policy
from latticework.dev._auth_policy import (
    CallerIdentity,
    Decision,
    InvokeRequest,
    evaluate_auth_policy,
)

SERVICE_ARN = "arn:aws:vpc-lattice:eu-west-1:111122223333:service/svc-0123456789abcdef0"
ORDERS_ROLE = "arn:aws:iam::111122223333:role/latticework-dev-orders-task"
INVENTORY_ROLE = "arn:aws:iam::111122223333:role/latticework-dev-inventory-task"
STOREFRONT_ROLE = "arn:aws:iam::444455556666:role/storefront-api"


def _request(
    caller_role: str | None, method: str = "GET", headers: dict[str, str] | None = None
) -> InvokeRequest:
    caller = None
    if caller_role is not None:
        caller = CallerIdentity(caller_role, caller_role.split(":")[4], "o-abc123def4")
    return InvokeRequest(
        caller=caller,
        service_arn=SERVICE_ARN,
        service_network_arn="arn:aws:vpc-lattice:eu-west-1:111122223333:servicenetwork/sn-1",
        source_vpc_id="vpc-1",
        method=method,
        path="/payments/p-1",
        port=8402,
        headers=headers or {},
    )


def _payments_policy() -> dict[str, Any]:
    return service_auth_policy(
        service_arn=SERVICE_ARN,
        caller_role_arns=[ORDERS_ROLE],
        allowed_principals=[STOREFRONT_ROLE],
    )


@pytest.mark.parametrize("caller", [ORDERS_ROLE, STOREFRONT_ROLE])
def test_catalog_callers_are_allowed(caller: str) -> None:
    """A catalog caller service and a named external role may invoke the service."""
    decision = evaluate_auth_policy(_payments_policy(), _request(caller))

    assert decision is Decision.ALLOW


def test_a_role_the_catalog_does_not_name_is_denied() -> None:
    """Another role of the same account is implicitly denied."""
    decision = evaluate_auth_policy(_payments_policy(), _request(INVENTORY_ROLE))

    assert decision is Decision.IMPLICIT_DENY


def test_an_anonymous_caller_is_denied() -> None:
    """An unsigned request does not match the catalog callers' statement."""
    decision = evaluate_auth_policy(_payments_policy(), _request(None))

    assert decision is Decision.IMPLICIT_DENY


def test_a_service_without_callers_denies_everyone_explicitly() -> None:
    """The no-callers policy is an explicit Deny for every caller."""
    policy = service_auth_policy(
        service_arn=SERVICE_ARN, caller_role_arns=[], allowed_principals=[]
    )

    decision = evaluate_auth_policy(policy, _request(ORDERS_ROLE))

    assert decision is Decision.EXPLICIT_DENY


def test_a_resource_of_another_service_does_not_match() -> None:
    """A statement for another service's ARN grants nothing here."""
    policy = service_auth_policy(
        service_arn=SERVICE_ARN.replace("0123", "9999"),
        caller_role_arns=[ORDERS_ROLE],
        allowed_principals=[],
    )

    decision = evaluate_auth_policy(policy, _request(ORDERS_ROLE))

    assert decision is Decision.IMPLICIT_DENY


def test_explicit_deny_wins_over_allow() -> None:
    """A Deny on DELETE overrides the Allow of the same caller."""
    policy = _payments_policy()
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke",
            "Resource": f"{SERVICE_ARN}/*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "DELETE"}},
        }
    )

    allowed = evaluate_auth_policy(policy, _request(ORDERS_ROLE, "GET"))
    denied = evaluate_auth_policy(policy, _request(ORDERS_ROLE, "DELETE"))

    assert allowed is Decision.ALLOW
    assert denied is Decision.EXPLICIT_DENY


def test_header_and_account_condition_keys_are_evaluated() -> None:
    """Request-header and principal-account conditions are checked against the request."""
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "111122223333"},
                "Action": "vpc-lattice-svcs:*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:PrincipalAccount": "111122223333"},
                    "StringLike": {"vpc-lattice-svcs:RequestHeader/x-tenant": "eu-*"},
                },
            }
        ]
    }

    matching = evaluate_auth_policy(policy, _request(ORDERS_ROLE, headers={"x-tenant": "eu-1"}))
    other = evaluate_auth_policy(policy, _request(ORDERS_ROLE, headers={"x-tenant": "us-1"}))
    external = evaluate_auth_policy(policy, _request(STOREFRONT_ROLE, headers={"x-tenant": "eu-1"}))

    assert matching is Decision.ALLOW
    assert other is Decision.IMPLICIT_DENY
    assert external is Decision.IMPLICIT_DENY


def test_an_unknown_condition_key_fails_closed_in_an_allow() -> None:
    """An Allow that depends on a key the gateway cannot evaluate does not allow."""
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "vpc-lattice-svcs:Invoke",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "payments"}},
            }
        ]
    }

    decision = evaluate_auth_policy(policy, _request(ORDERS_ROLE))

    assert decision is Decision.IMPLICIT_DENY


def test_an_unknown_condition_key_fails_closed_in_a_deny() -> None:
    """A Deny that depends on a key the gateway cannot evaluate denies."""
    policy = _payments_policy()
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "*",
            "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
        }
    )

    decision = evaluate_auth_policy(policy, _request(ORDERS_ROLE))

    assert decision is Decision.EXPLICIT_DENY


@pytest.mark.parametrize(
    "statements",
    [
        "not a list",
        ["not a statement"],
        [{"Effect": "Permit", "Principal": "*", "Action": "*", "Resource": "*"}],
    ],
    ids=["statement-not-list", "statement-not-map", "unknown-effect"],
)
def test_a_malformed_policy_denies(statements: Any) -> None:
    """A policy whose statements cannot be read denies every request instead of raising."""
    policy = {"Version": "2012-10-17", "Statement": statements}

    decision = evaluate_auth_policy(policy, _request(ORDERS_ROLE))

    assert decision is Decision.EXPLICIT_DENY


def test_a_malformed_condition_fails_closed() -> None:
    """An Allow whose Condition is not a map of maps grants nothing."""
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "vpc-lattice-svcs:Invoke",
                "Resource": "*",
                "Condition": {"StringEquals": "aws:PrincipalAccount"},
            }
        ]
    }

    decision = evaluate_auth_policy(policy, _request(ORDERS_ROLE))

    assert decision is Decision.IMPLICIT_DENY


def test_for_all_values_holds_for_a_missing_key() -> None:
    """As in IAM, ForAllValues over an absent key is vacuously true."""
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "vpc-lattice-svcs:Invoke",
                "Resource": "*",
                "Condition": {
                    "ForAllValues:StringEquals": {"vpc-lattice-svcs:RequestHeader/x-tenant": "eu"}
                },
            }
        ]
    }

    without_header = evaluate_auth_policy(policy, _request(ORDERS_ROLE))
    other_tenant = evaluate_auth_policy(policy, _request(ORDERS_ROLE, headers={"x-tenant": "us"}))

    assert without_header is Decision.ALLOW
    assert other_tenant is Decision.IMPLICIT_DENY


_INVOKE_ALL = {"Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}


@pytest.mark.parametrize(
    "deny",
    [
        {
            **_INVOKE_ALL,
            "Condition": {"NumericGreaterThan": {"vpc-lattice-svcs:RequestHeader/x-absent": "1"}},
        },
        {
            **_INVOKE_ALL,
            "Condition": {
                "ForSomeValues:StringEquals": {"vpc-lattice-svcs:RequestHeader/x-absent": "eu"}
            },
        },
        {"Principal": "*", "Resource": "*"},
        {"Principal": "*", "Action": "vpc-lattice-svcs:Invoke"},
        {"Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": {"arn": "*"}},
        {
            **_INVOKE_ALL,
            "Condition": {
                "StringEquals": {
                    "vpc-lattice-svcs:RequestHeader/x-tenant": "${aws:PrincipalAccount}"
                }
            },
        },
        {**_INVOKE_ALL, "Resource": "${aws:SourceVpc}"},
    ],
    ids=[
        "unknown-operator-missing-key",
        "unknown-set-prefix-missing-key",
        "no-action",
        "no-resource",
        "resource-not-a-string",
        "policy-variable-in-condition",
        "policy-variable-in-resource",
    ],
)
def test_a_deny_the_gateway_cannot_evaluate_denies(deny: dict[str, Any]) -> None:
    """A Deny statement with an element the gateway cannot judge denies, whatever the
    request, instead of being skipped."""
    policy = _payments_policy()
    policy["Statement"].append({"Effect": "Deny", **deny})

    decision = evaluate_auth_policy(
        policy, _request(ORDERS_ROLE, headers={"x-tenant": "111122223333"})
    )

    assert decision is Decision.EXPLICIT_DENY
