"""Tests for ecs-service-no-public-ip and ecs-service-behind-authenticated-lattice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from policy_packs.latticework_guardrails.ecs_services import (
    ECS_SERVICE,
    LISTENER,
    LISTENER_RULE,
    TARGET_GROUP,
    ecs_service_behind_lattice,
    ecs_service_no_public_ip,
)
from policy_packs.latticework_guardrails.lattice import SERVICE
from tests.policy_packs._harness import ACCOUNT, UNKNOWN_STRING, Stack, check_resource

TG_ARN = f"arn:aws:vpc-lattice:eu-west-1:{ACCOUNT}:targetgroup/tg-0123456789abcdef0"


@pytest.mark.parametrize(
    "props",
    [
        {"networkConfiguration": {"assignPublicIp": False, "subnets": ["subnet-1"]}},
        {"networkConfiguration": {"subnets": ["subnet-1"]}},
        {"networkConfiguration": {"assignPublicIp": "DISABLED"}},
        {"launchType": "FARGATE"},
        {"networkConfiguration": {"assignPublicIp": None}},
    ],
)
def test_no_public_ip_compliant(props: dict[str, Any]) -> None:
    """Services with no public IP (false, disabled or unset) pass."""

    messages = check_resource(ecs_service_no_public_ip, ECS_SERVICE, props)

    assert messages == []


@pytest.mark.parametrize(
    "props",
    [
        {"networkConfiguration": {"assignPublicIp": True}},
        {"networkConfiguration": {"assignPublicIp": True, "subnets": ["subnet-public"]}},
        {"networkConfiguration": {"assignPublicIp": "ENABLED"}},
        {"networkConfiguration": {"assignPublicIp": "enabled"}},
        {"networkConfiguration": {"assignPublicIp": "true"}},
        {"networkConfiguration": {"assignPublicIp": "True"}},
        {"networkConfiguration": {"assignPublicIp": True}, "launchType": "FARGATE"},
    ],
)
def test_no_public_ip_violations(props: dict[str, Any]) -> None:
    """A service that assigns public IPs is named with the field and the fix."""

    messages = check_resource(ecs_service_no_public_ip, ECS_SERVICE, props, name="orders")

    assert messages == [
        "ECS service 'orders': networkConfiguration.assignPublicIp is true; set "
        "assign_public_ip=False and run the tasks in private subnets."
    ]


def test_no_public_ip_unknown_is_checked_at_update() -> None:
    """An unknown assignPublicIp is checked at update."""

    with pytest.raises(UnknownValueError):
        check_resource(
            ecs_service_no_public_ip,
            ECS_SERVICE,
            {"networkConfiguration": {"assignPublicIp": UNKNOWN_STRING}},
        )


def _lattice(
    stack: Stack,
    *,
    auth_type: str | None = "AWS_IAM",
    by_value: bool = False,
    rule: bool = False,
    register: bool = True,
    listen: bool = True,
) -> None:
    """An ECS service registered with a target group a Lattice listener forwards to."""
    props = {"authType": auth_type} if auth_type else {}
    service = stack.add(SERVICE, "orders-lattice", {**props, "id": "svc-1", "arn": "arn:svc-1"})
    group = stack.add(TARGET_GROUP, "orders-tg", {"arn": TG_ARN, "id": "tg-0123456789abcdef0"})
    forward_property = "action" if rule else "defaultAction"
    if listen:
        forward = {"forward": {"targetGroups": [{"targetGroupIdentifier": "tg-0123456789abcdef0"}]}}
        stack.add(
            LISTENER_RULE if rule else LISTENER,
            "orders-listener",
            {forward_property: forward, "serviceIdentifier": "svc-1" if by_value else "x"},
            property_dependencies=None
            if by_value
            else {forward_property: [group], "serviceIdentifier": [service]},
        )
    configuration = [{"targetGroupArn": TG_ARN if register else "arn:other", "portName": "http"}]
    stack.add(
        ECS_SERVICE,
        "orders",
        {"vpcLatticeConfigurations": configuration if register else []},
        property_dependencies={"vpcLatticeConfigurations": [group]}
        if register and not by_value
        else None,
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda stack: _lattice(stack),
        lambda stack: _lattice(stack, by_value=True),
        lambda stack: _lattice(stack, rule=True),
        lambda stack: _lattice(stack, rule=True, by_value=True),
        lambda stack: stack.add("aws:ecs/cluster:Cluster", "cluster"),
    ],
)
def test_behind_lattice_compliant(build: Callable[[Stack], None]) -> None:
    """A service whose target group an AWS_IAM Lattice service forwards to passes."""
    stack = Stack()
    build(stack)

    reported = stack.check(ecs_service_behind_lattice)

    assert reported == []


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda stack: _lattice(stack, register=False), "registers it with no Lattice target"),
        (lambda stack: _lattice(stack, listen=False), "is not forwarded to by any Lattice"),
        (lambda stack: _lattice(stack, auth_type="NONE"), "whose authType is not AWS_IAM"),
        (lambda stack: _lattice(stack, auth_type=None), "whose authType is not AWS_IAM"),
        (
            lambda stack: _lattice(stack, auth_type="NONE", rule=True, by_value=True),
            "whose authType is not AWS_IAM",
        ),
    ],
)
def test_behind_lattice_violations(build: Callable[[Stack], None], expected: str) -> None:
    """An unregistered service, an unserved target group or an open Lattice service fails."""
    stack = Stack()
    build(stack)

    reported = stack.check(ecs_service_behind_lattice)

    assert len(reported) == 1
    message, urn = reported[0]
    assert message.startswith("ECS service 'orders': ")
    assert expected in message
    assert urn is not None
    assert urn.endswith("::orders")


def test_behind_lattice_unknown_registration_is_checked_at_update() -> None:
    """A registration that cannot be matched during preview is checked at update."""
    stack = Stack()
    stack.add(TARGET_GROUP, "orders-tg", {"arn": UNKNOWN_STRING})
    stack.add(ECS_SERVICE, "orders", {"vpcLatticeConfigurations": UNKNOWN_STRING})

    with pytest.raises(UnknownValueError) as raised:
        stack.check(ecs_service_behind_lattice)

    assert "checked at update" in raised.value.message
