"""Tests for iam-exact-secret-and-authz-resources."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from policy_packs.latticework_guardrails.iam_roles import (
    MANAGED_POLICY,
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    guarded_services,
    iam_exact_secret_and_authz_resources,
)
from tests.policy_packs._harness import ACCOUNT, UNKNOWN_STRING, check_resource

SECRET_ARN = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:latticework/dev/orders/db-AbCdEf"
STORE_ARN = f"arn:aws:verifiedpermissions::{ACCOUNT}:policy-store/ps-0123"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: Any, resource: Any = None, **fields: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, **fields}
    if resource is not None:
        statement["Resource"] = resource
    return statement


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (ROLE_POLICY, {"policy": _policy(_allow("secretsmanager:GetSecretValue", SECRET_ARN))}),
        (
            ROLE,
            {
                "inlinePolicies": [
                    {
                        "name": "authz",
                        "policy": _policy(
                            _allow(["verifiedpermissions:IsAuthorized*"], [STORE_ARN])
                        ),
                    }
                ]
            },
        ),
        (MANAGED_POLICY, {"policy": _policy(_allow("logs:PutLogEvents", "*"))}),
        (
            ROLE_POLICY,
            {"policy": _policy({"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"})},
        ),
        (
            ROLE_POLICY,
            {
                "policy": json.loads(
                    _policy(
                        _allow("kms:Decrypt", "*"),
                        _allow("secretsmanager:DescribeSecret", SECRET_ARN),
                    )
                )
            },
        ),
        (ROLE, {"assumeRolePolicy": _policy(_allow("sts:AssumeRole", "*"))}),
        (
            ROLE_POLICY,
            {
                "policy": _policy(
                    _allow(
                        "secretsmanager:GetSecretValue",
                        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:latticework/db-??????",
                    )
                )
            },
        ),
    ],
)
def test_exact_resources_compliant(resource_type: str, props: dict[str, Any]) -> None:
    """Guarded actions on exact ARNs, other actions on '*' and any Deny pass."""

    messages = check_resource(iam_exact_secret_and_authz_resources, resource_type, props)

    assert messages == []


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        (
            ROLE_POLICY,
            {"policy": _policy(_allow("secretsmanager:GetSecretValue", "*"))},
            "policy statement #1 grants secretsmanager: actions on a wildcard Resource",
        ),
        (
            ROLE,
            {
                "inlinePolicies": [
                    {
                        "name": "a",
                        "policy": _policy(_allow("verifiedpermissions:*", [STORE_ARN, "*"])),
                    }
                ]
            },
            "inlinePolicies[0].policy statement #1 grants verifiedpermissions: actions",
        ),
        (
            MANAGED_POLICY,
            {"policy": _policy(_allow("*", "*"))},
            "grants secretsmanager: and verifiedpermissions: actions on a wildcard",
        ),
        (
            ROLE_POLICY,
            {
                "policy": _policy(
                    _allow(
                        "SecretsManager:Get*",
                        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:*",
                    )
                )
            },
            "on a wildcard Resource",
        ),
        (
            ROLE_POLICY,
            {"policy": _policy(_allow("secretsmanager:GetSecretValue", NotResource=SECRET_ARN))},
            "with NotResource",
        ),
        (
            ROLE_POLICY,
            {"policy": _policy(_allow("s*:GetSecretValue", [SECRET_ARN + "*"]))},
            "on a wildcard Resource",
        ),
        (
            ROLE_POLICY,
            {
                "policy": _policy(
                    {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*", "Sid": "Broad"}
                )
            },
            "statement 'Broad' grants secretsmanager: and verifiedpermissions: actions",
        ),
        (
            ROLE_POLICY,
            {
                "policy": _policy(
                    _allow(
                        "secretsmanager:GetSecretValue",
                        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:" + "?" * 30,
                    )
                )
            },
            "on a wildcard Resource",
        ),
        (
            ROLE_POLICY,
            {
                "policy": _policy(
                    _allow(
                        "verifiedpermissions:IsAuthorized",
                        "arn:aws:verifiedpermissions::????????????:policy-store/ps-0123",
                    )
                )
            },
            "on a wildcard Resource",
        ),
        (
            ROLE_POLICY,
            {
                "policy": _policy(
                    _allow(
                        "secretsmanager:GetSecretValue",
                        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:latticework/d?-??????",
                    )
                )
            },
            "on a wildcard Resource",
        ),
        *(
            (
                ROLE_POLICY,
                {"policy": _policy(_allow("secretsmanager:GetSecretValue", resource))},
                "on a wildcard Resource",
            )
            for resource in (
                "arn:aws:secretsmanager:*:*:secret:db-??????",
                "arn:*:secretsmanager:*:*:secret:db-??????",
                f"arn:aws:secretsmanager:eu-west-?:{ACCOUNT}:secret:db-??????",
                f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:${{aws:PrincipalTag/s}}-??????",
            )
        ),
        (ROLE_POLICY, {"policy": "{]"}, "policy is not valid JSON"),
    ],
)
def test_exact_resources_violations(
    resource_type: str, props: dict[str, Any], expected: str
) -> None:
    """Wildcard resources, NotResource and broad NotAction on guarded actions are reported."""

    messages = check_resource(
        iam_exact_secret_and_authz_resources, resource_type, props, name="orders-task"
    )

    assert len(messages) == 1
    assert messages[0].startswith(
        (
            "IAM role 'orders-task': ",
            "IAM role policy 'orders-task': ",
            "IAM policy 'orders-task': ",
        )
    )
    assert expected in messages[0]


def test_unknown_role_policy_is_checked_at_update() -> None:
    """A role policy that embeds an unknown ARN is checked at update."""

    with pytest.raises(UnknownValueError):
        check_resource(
            iam_exact_secret_and_authz_resources, ROLE_POLICY, {"policy": UNKNOWN_STRING}
        )


@pytest.mark.parametrize(
    ("action", "services"),
    [
        ("*", ["secretsmanager", "verifiedpermissions"]),
        ("secretsmanager:*", ["secretsmanager"]),
        ("Verified*:IsAuthorized", ["verifiedpermissions"]),
        ("s3:GetObject", []),
        ("sts", []),
    ],
)
def test_guarded_services(action: str, services: list[str]) -> None:
    """Action patterns map to the guarded services they can reach."""

    assert guarded_services(action) == services


@pytest.mark.parametrize(
    ("resource_type", "props", "field"),
    [
        (
            ROLE_POLICY_ATTACHMENT,
            {"policyArn": "arn:aws:iam::aws:policy/SecretsManagerReadWrite"},
            "policyArn",
        ),
        (
            ROLE,
            {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
            "managedPolicyArns[0]",
        ),
        (
            ROLE_POLICY_ATTACHMENT,
            {"policyArn": "arn:aws-us-gov:iam::aws:policy/PowerUserAccess"},
            "policyArn",
        ),
        (
            "aws:iam/policyAttachment:PolicyAttachment",
            {
                "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
                "roles": ["latticework-dev-orders-task"],
            },
            "policyArn",
        ),
        (
            "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
            {
                "roleName": "latticework-dev-orders-task",
                "policyArns": [
                    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
                    "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
                ],
            },
            "policyArns[1]",
        ),
    ],
)
def test_broad_aws_managed_policies_are_violations(
    resource_type: str, props: dict[str, Any], field: str
) -> None:
    """Attaching an AWS managed policy that grants guarded actions on '*' is reported."""

    messages = check_resource(
        iam_exact_secret_and_authz_resources, resource_type, props, name="orders-task"
    )

    assert len(messages) == 1
    assert f"'orders-task': {field} attaches the AWS managed policy" in messages[0]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess",
    ],
)
def test_narrow_or_customer_managed_attachments_pass(arn: str) -> None:
    """Task execution's managed policy and customer policies (checked as documents) pass."""

    messages = check_resource(
        iam_exact_secret_and_authz_resources, ROLE_POLICY_ATTACHMENT, {"policyArn": arn}
    )

    assert messages == []


def test_a_policy_attachment_to_users_only_is_not_a_role_grant() -> None:
    """aws.iam.PolicyAttachment counts only when it attaches the policy to roles."""

    messages = check_resource(
        iam_exact_secret_and_authz_resources,
        "aws:iam/policyAttachment:PolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "users": ["ops"]},
    )

    assert messages == []
