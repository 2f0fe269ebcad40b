"""Tests for the VPC Lattice policies, each called directly with constructed arguments."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from policy_packs.latticework_guardrails._documents import parse_document
from policy_packs.latticework_guardrails.lattice import (
    AUTH_POLICY,
    SERVICE,
    SERVICE_NETWORK,
    classify_narrowing,
    lattice_auth_policy_active,
    lattice_auth_policy_attached,
    lattice_auth_policy_caller_narrowing,
    lattice_auth_policy_scoped,
    lattice_auth_type_iam,
)
from tests.policy_packs._harness import ACCOUNT, UNKNOWN_STRING, Stack, check_resource

SERVICE_ARN = f"arn:aws:vpc-lattice:eu-west-1:{ACCOUNT}:service/svc-0123456789abcdef0"
NETWORK_ARN = f"arn:aws:vpc-lattice:eu-west-1:{ACCOUNT}:servicenetwork/sn-0123456789abcdef0"
CALLER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/latticework-dev-orders-task"
ORG = "o-abc123def4"


def _statement(**fields: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": [CALLER_ROLE]},
        "Action": "vpc-lattice-svcs:Invoke",
        "Resource": f"{SERVICE_ARN}/*",
    }
    statement.update(fields)
    return {key: value for key, value in statement.items() if value is not None}


def _document(*statements: dict[str, Any], as_text: bool = True) -> Any:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return json.dumps(document) if as_text else document


# --- lattice-auth-type-iam ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (SERVICE, {"authType": "AWS_IAM"}),
        (SERVICE_NETWORK, {"authType": "AWS_IAM"}),
        (SERVICE, {"authType": "AWS_IAM", "name": "orders", "customDomainName": None}),
        ("aws:vpclattice/targetGroup:TargetGroup", {"type": "IP"}),
        ("aws:ecs/service:Service", {"authType": "NONE"}),
    ],
)
def test_auth_type_compliant(resource_type: str, props: dict[str, Any]) -> None:
    """Lattice services and networks with AWS_IAM auth, and other resources, pass."""

    messages = check_resource(lattice_auth_type_iam, resource_type, props)

    assert messages == []


@pytest.mark.parametrize(
    ("resource_type", "props", "found"),
    [
        (SERVICE, {}, "not set (AWS defaults to NONE)"),
        (SERVICE, {"authType": "NONE"}, "'NONE'"),
        (SERVICE_NETWORK, {}, "not set (AWS defaults to NONE)"),
        (SERVICE_NETWORK, {"authType": "NONE"}, "'NONE'"),
        (SERVICE, {"authType": "aws_iam"}, "'aws_iam'"),
    ],
)
def test_auth_type_violations(resource_type: str, props: dict[str, Any], found: str) -> None:
    """A missing, NONE or misspelt auth type is named with the resource, field and fix."""

    messages = check_resource(lattice_auth_type_iam, resource_type, props, name="orders")

    assert len(messages) == 1
    assert "'orders': authType is " + found in messages[0]
    assert 'set auth_type="AWS_IAM"' in messages[0]


def test_auth_type_unknown_is_checked_at_update() -> None:
    """An auth type a preview does not know yet is reported as checked at update."""

    with pytest.raises(UnknownValueError) as raised:
        check_resource(lattice_auth_type_iam, SERVICE, {"authType": UNKNOWN_STRING})

    assert "checked at update" in raised.value.message


# --- lattice-auth-policy-attached and lattice-auth-policy-active --------------------------


def _service(stack: Stack, name: str, auth_type: str | None = "AWS_IAM", **props: Any) -> Any:
    values = {"authType": auth_type, **props} if auth_type else dict(props)
    return stack.add(SERVICE, name, values)


def _attached_by_dependency(stack: Stack) -> None:
    service = _service(stack, "orders", arn=UNKNOWN_STRING, id=UNKNOWN_STRING)
    stack.add(
        AUTH_POLICY,
        "orders-auth",
        {"resourceIdentifier": UNKNOWN_STRING, "policy": UNKNOWN_STRING},
        property_dependencies={"resourceIdentifier": [service]},
    )


def _attached_by_arn(stack: Stack) -> None:
    _service(stack, "orders", arn=SERVICE_ARN, id="svc-0123456789abcdef0")
    stack.add(AUTH_POLICY, "orders-auth", {"resourceIdentifier": SERVICE_ARN})


def _attached_by_id(stack: Stack) -> None:
    _service(stack, "orders", arn=SERVICE_ARN, id="svc-0123456789abcdef0")
    stack.add(AUTH_POLICY, "orders-auth", {"resourceIdentifier": "svc-0123456789abcdef0"})


def _network_and_service_attached(stack: Stack) -> None:
    network = stack.add(SERVICE_NETWORK, "net", {"authType": "AWS_IAM", "arn": NETWORK_ARN})
    _attached_by_arn(stack)
    stack.add(
        AUTH_POLICY,
        "net-auth",
        {"resourceIdentifier": NETWORK_ARN},
        property_dependencies={"resourceIdentifier": [network]},
    )


def _no_lattice_resources(stack: Stack) -> None:
    stack.add("aws:ecs/cluster:Cluster", "cluster", {"name": "dev"})


@pytest.mark.parametrize(
    "build",
    [
        _attached_by_dependency,
        _attached_by_arn,
        _attached_by_id,
        _network_and_service_attached,
        _no_lattice_resources,
    ],
)
def test_auth_policy_attached_compliant(build: Callable[[Stack], None]) -> None:
    """An auth policy matched by property dependency, ARN or id covers its target."""
    stack = Stack()
    build(stack)

    reported = stack.check(lattice_auth_policy_attached)

    assert reported == []


def _no_auth_policy(stack: Stack) -> None:
    _service(stack, "orders", arn=SERVICE_ARN)


def _policy_on_other_service(stack: Stack) -> None:
    _service(stack, "orders", arn=SERVICE_ARN)
    other = _service(stack, "other", arn=SERVICE_ARN.replace("0123", "9999"))
    stack.add(
        AUTH_POLICY,
        "other-auth",
        {"resourceIdentifier": SERVICE_ARN.replace("0123", "9999")},
        property_dependencies={"resourceIdentifier": [other]},
    )


def _policy_with_foreign_arn(stack: Stack) -> None:
    _service(stack, "orders", arn=SERVICE_ARN, id="svc-0123456789abcdef0")
    stack.add(AUTH_POLICY, "orders-auth", {"resourceIdentifier": "svc-ffffffffffffffff0"})


def _network_without_policy(stack: Stack) -> None:
    stack.add(SERVICE_NETWORK, "orders", {"authType": "AWS_IAM", "arn": NETWORK_ARN})


def _policy_depending_on_wrong_property(stack: Stack) -> None:
    service = _service(stack, "orders", arn=SERVICE_ARN)
    stack.add(
        AUTH_POLICY,
        "orders-auth",
        {"resourceIdentifier": "sn-unrelated", "policy": "{}"},
        property_dependencies={"policy": [service]},
    )


@pytest.mark.parametrize(
    "build",
    [
        _no_auth_policy,
        _policy_on_other_service,
        _policy_with_foreign_arn,
        _network_without_policy,
        _policy_depending_on_wrong_property,
    ],
)
def test_auth_policy_attached_violations(build: Callable[[Stack], None]) -> None:
    """A service or network no auth policy targets is reported on its own URN."""
    stack = Stack()
    build(stack)

    reported = stack.check(lattice_auth_policy_attached)

    assert len(reported) == 1
    message, urn = reported[0]
    assert "'orders': no auth policy targets it (resourceIdentifier)" in message
    assert urn is not None
    assert urn.endswith("::orders")


def test_auth_policy_attached_unknown_identifier_is_checked_at_update() -> None:
    """An auth policy whose target is unknown and has no dependency is not a silent pass."""
    stack = Stack()
    _service(stack, "orders", arn=UNKNOWN_STRING)
    stack.add(AUTH_POLICY, "orders-auth", {"resourceIdentifier": UNKNOWN_STRING})

    with pytest.raises(UnknownValueError) as raised:
        stack.check(lattice_auth_policy_attached)

    assert "checked at update" in raised.value.message


@pytest.mark.parametrize(
    "build",
    [
        _attached_by_dependency,
        _attached_by_arn,
        _attached_by_id,
        _network_and_service_attached,
        _policy_with_foreign_arn,
    ],
)
def test_auth_policy_active_compliant(build: Callable[[Stack], None]) -> None:
    """Auth policies on AWS_IAM targets, or on targets outside the stack, are active."""
    stack = Stack()
    build(stack)

    reported = stack.check(lattice_auth_policy_active)

    assert reported == []


@pytest.mark.parametrize(
    ("resource_type", "auth_type", "by_dependency"),
    [
        (SERVICE, "NONE", True),
        (SERVICE, "NONE", False),
        (SERVICE, None, True),
        (SERVICE_NETWORK, "NONE", True),
        (SERVICE_NETWORK, None, False),
    ],
)
def test_auth_policy_active_violations(
    resource_type: str, auth_type: str | None, by_dependency: bool
) -> None:
    """An auth policy on a target whose auth type is NONE or unset is flagged inactive."""
    stack = Stack()
    props = {"arn": SERVICE_ARN, **({"authType": auth_type} if auth_type else {})}
    target = stack.add(resource_type, "orders", props)
    stack.add(
        AUTH_POLICY,
        "orders-auth",
        {"resourceIdentifier": UNKNOWN_STRING if by_dependency else SERVICE_ARN},
        property_dependencies={"resourceIdentifier": [target]} if by_dependency else None,
    )

    reported = stack.check(lattice_auth_policy_active)

    assert len(reported) == 1
    message, urn = reported[0]
    assert message.startswith("auth policy 'orders-auth': resourceIdentifier targets")
    assert "inactive" in message
    assert urn is not None
    assert urn.endswith("::orders-auth")


# --- lattice-auth-policy-scoped and lattice-auth-policy-caller-narrowing ------------------


@pytest.mark.parametrize(
    "policy",
    [
        _document(_statement()),
        _document(
            _statement(Principal="*", Condition={"StringEquals": {"aws:PrincipalOrgID": ORG}})
        ),
        _document(
            _statement(
                Principal={"AWS": "*"},
                Condition={"stringequals": {"AWS:PRINCIPALACCOUNT": [ACCOUNT]}},
            ),
            as_text=False,
        ),
        _document(
            _statement(
                Principal={"AWS": ["*"]},
                Action=["vpc-lattice-svcs:Invoke", "VPC-LATTICE-SVCS:Connect"],
                Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}},
            )
        ),
        json.dumps(
            {
                "Statement": {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "*",
                    "Resource": "*",
                }
            }
        ),
        _document(
            _statement(),
            {"Effect": "Deny", "Principal": "*", "NotAction": "vpc-lattice-svcs:Invoke"},
        ),
    ],
)
def test_auth_policy_scoped_compliant(policy: Any) -> None:
    """Named principals, caller-narrowed wildcards and any Deny pass, in every document form."""

    messages = check_resource(
        lattice_auth_policy_scoped,
        AUTH_POLICY,
        {"policy": policy},
        config={"allowedOrganizationIds": [ORG], "allowedAccountIds": [ACCOUNT]},
    )

    assert messages == []


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (_document(_statement(Principal="*")), 'allows the open principal "*" without'),
        (
            _document(_statement(Principal={"AWS": "*"}), as_text=False),
            'allows the open principal "*" without',
        ),
        (
            _document(_statement(Principal={"AWS": [CALLER_ROLE, "*"]})),
            'allows the open principal "*" without',
        ),
        (_document(_statement(Action=["vpc-lattice-svcs:Invoke", "s3:GetObject"])), "s3:GetObject"),
        (_document(_statement(Action="*")), "Action grants * outside vpc-lattice-svcs:"),
        (
            _document(
                _statement(
                    Principal="*",
                    Condition={"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}},
                )
            ),
            "without a Condition on the caller",
        ),
        (
            _document(
                _statement(
                    Principal="*",
                    Condition={"StringNotEquals": {"aws:PrincipalOrgID": ORG}},
                )
            ),
            "without a Condition on the caller",
        ),
        (
            _document(
                _statement(
                    Principal="*",
                    Condition={"StringEquals": {"aws:PrincipalOrgID": "o-other12345"}},
                )
            ),
            "outside allowedOrganizationIds",
        ),
        (
            _document(
                _statement(
                    Principal="*",
                    Condition={"StringEquals": {"aws:PrincipalAccount": "999999999999"}},
                )
            ),
            "outside allowedAccountIds",
        ),
        (_document({"Effect": "Allow", "Action": "vpc-lattice-svcs:Invoke"}), "has no Principal"),
        ("{not json", "policy is not valid JSON (line 1, column 2)"),
        (json.dumps({"Version": "2012-10-17"}), "policy has no Statement"),
    ],
)
def test_auth_policy_scoped_violations(policy: Any, expected: str) -> None:
    """Open principals, foreign actions, wrong narrowing and malformed documents are named."""

    messages = check_resource(
        lattice_auth_policy_scoped,
        AUTH_POLICY,
        {"policy": policy},
        name="orders-auth",
        config={"allowedOrganizationIds": [ORG], "allowedAccountIds": [ACCOUNT]},
    )

    assert len(messages) == 1
    assert messages[0].startswith("auth policy 'orders-auth': ")
    assert expected in messages[0]


def test_auth_policy_scoped_unknown_document_is_checked_at_update() -> None:
    """A policy document that embeds an unknown ARN is checked at update, not passed."""

    with pytest.raises(UnknownValueError) as raised:
        check_resource(lattice_auth_policy_scoped, AUTH_POLICY, {"policy": UNKNOWN_STRING})

    assert "auth policy 'subject': policy is not known during preview" in raised.value.message


@pytest.mark.parametrize(
    "condition",
    [
        {"StringNotEqualsIgnoreCase": {"aws:PrincipalType": "anonymous"}},
        {"stringnotequals": {"AWS:principaltype": "Anonymous"}},
        {"StringEquals": {"vpc-lattice-svcs:SourceVpc": "vpc-0123"}},
        {"ForAnyValue:StringEquals": {"VPC-LATTICE-SVCS:SOURCEVPC": ["vpc-1", "vpc-2"]}},
        {"Null": {"aws:PrincipalArn": "false"}},
    ],
)
def test_weak_narrowing_is_advisory_only(condition: dict[str, Any]) -> None:
    """Narrowing an open principal only by VPC or not-anonymous is advisory, not mandatory."""
    document = _document(_statement(Principal="*", Condition=condition))

    mandatory = check_resource(lattice_auth_policy_scoped, AUTH_POLICY, {"policy": document})
    advisory = check_resource(
        lattice_auth_policy_caller_narrowing, AUTH_POLICY, {"policy": document}, name="net-auth"
    )

    assert mandatory == []
    assert len(advisory) == 1
    assert "auth policy 'net-auth'" in advisory[0]
    assert "narrowed only by source VPC or 'not anonymous'" in advisory[0]


@pytest.mark.parametrize(
    "policy",
    [
        _document(_statement()),
        _document(
            _statement(Principal="*", Condition={"StringEquals": {"aws:PrincipalOrgID": ORG}})
        ),
        _document(_statement(Principal="*")),
        _document({"Effect": "Deny", "Principal": "*", "Action": "*"}),
        "{not json",
    ],
)
def test_caller_narrowing_compliant(policy: Any) -> None:
    """Named, caller-narrowed, fully open (the mandatory policy's case) and Deny pass here."""

    messages = check_resource(lattice_auth_policy_caller_narrowing, AUTH_POLICY, {"policy": policy})

    assert messages == []


def test_classify_narrowing_names_each_kind() -> None:
    """Each statement shape gets the narrowing kind the policies rely on."""
    named, caller, weak, open_, outside = parse_document(
        _document(
            _statement(),
            _statement(
                Principal="*", Condition={"StringLike": {"aws:PrincipalOrgPaths": f"{ORG}/*"}}
            ),
            _statement(Principal="*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}}),
            _statement(Principal="*", Condition={"StringLike": {"aws:PrincipalArn": "*"}}),
            _statement(Principal="*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-zz"}}),
        )
    )

    kinds = [
        classify_narrowing(statement, organization_ids=[ORG]).kind
        for statement in (named, caller, weak, open_, outside)
    ]

    assert kinds == ["named", "caller", "weak", "open", "outside"]


@pytest.mark.parametrize(
    "condition",
    [
        {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
        {"StringLike": {"aws:PrincipalOrgID": "o-??????????"}},
        {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-*/*"}},
        {"StringLike": {"aws:PrincipalAccount": "????????????"}},
        {"StringLike": {"aws:PrincipalAccount": "1*"}},
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::1*:role/orders"}},
    ],
)
def test_wildcard_in_the_caller_identity_narrows_nothing(condition: dict[str, Any]) -> None:
    """A wildcard in the organisation id, account or ARN account admits every such caller."""
    document = _document(_statement(Principal="*", Condition=condition))

    messages = check_resource(lattice_auth_policy_scoped, AUTH_POLICY, {"policy": document})

    assert len(messages) == 1
    assert 'allows the open principal "*" without a Condition on the caller' in messages[0]


@pytest.mark.parametrize(
    ("principal", "found"),
    [
        ([], "an empty list"),
        ({}, "an empty map"),
        ({"AWS": []}, "AWS: an empty list"),
        ({"AWS": {"arn": CALLER_ROLE}}, "AWS: a dict"),
        (5, "a int"),
        ({"AWS": [CALLER_ROLE, 7]}, "AWS: a list with a int"),
    ],
)
def test_malformed_principal_is_a_violation_not_a_named_caller(principal: Any, found: str) -> None:
    """A Principal that names nobody readable is a malformed document, never a pass."""
    document = _document(_statement(Principal=principal))

    messages = check_resource(lattice_auth_policy_scoped, AUTH_POLICY, {"policy": document})

    assert len(messages) == 1
    assert "statement #1 Principal must be" in messages[0]
    assert f"found {found}" in messages[0]


def test_principal_arn_with_a_wildcard_is_open() -> None:
    """`arn:aws:iam::*:root` names every account, so it is treated as the open principal."""
    document = _document(_statement(Principal={"AWS": "arn:aws:iam::*:root"}))

    messages = check_resource(lattice_auth_policy_scoped, AUTH_POLICY, {"policy": document})

    assert len(messages) == 1
    assert "open principal" in messages[0]


@pytest.mark.parametrize(
    ("fields", "found"),
    [
        ({"Action": {"iam": "*"}}, "statement #1 Action must be a string or a list of strings"),
        ({"Action": []}, "statement #1 Action must be a string or a list of strings"),
        ({"Action": ["vpc-lattice-svcs:Invoke", None]}, "statement #1 Action must be a string"),
        ({"Action": None}, "statement #1 needs Action or NotAction"),
        ({"Resource": {"arn": SERVICE_ARN}}, "statement #1 Resource must be a string or a list"),
    ],
)
def test_malformed_action_or_resource_is_a_violation(fields: dict[str, Any], found: str) -> None:
    """An Action or Resource that cannot be read is a malformed document, not an empty grant."""
    document = _document(_statement(Principal="*", **fields))

    messages = check_resource(lattice_auth_policy_scoped, AUTH_POLICY, {"policy": document})

    assert len(messages) == 1
    assert found in messages[0]


def test_an_exact_role_arn_condition_names_its_caller_like_the_principal_element() -> None:
    """``aws:PrincipalArn`` equal to one exact role ARN names that caller, in any account.

    The components match catalog callers this way (the role may not exist yet when the policy
    is attached), so an external role the catalog names passes as it would in Principal.
    """
    partner_role = "arn:aws:iam::444455556666:role/storefront-api"
    by_condition = _document(
        _statement(Principal="*", Condition={"ArnEquals": {"aws:PrincipalArn": [partner_role]}})
    )
    by_principal = _document(_statement(Principal={"AWS": [partner_role]}))

    messages = [
        check_resource(
            lattice_auth_policy_scoped,
            AUTH_POLICY,
            {"policy": document},
            config={"allowedAccountIds": [ACCOUNT]},
        )
        for document in (by_condition, by_principal)
    ]

    assert messages == [[], []]


def test_an_arn_pattern_outside_the_allowed_accounts_is_still_a_violation() -> None:
    """A role ARN pattern admits a whole account's roles, so that account must be allowed."""
    document = _document(
        _statement(
            Principal="*",
            Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::444455556666:role/*"}},
        )
    )

    messages = check_resource(
        lattice_auth_policy_scoped,
        AUTH_POLICY,
        {"policy": document},
        config={"allowedAccountIds": [ACCOUNT]},
    )

    assert len(messages) == 1
    assert "outside allowedAccountIds" in messages[0]
