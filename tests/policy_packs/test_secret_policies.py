"""Tests for secret-rotation-required and secret-rotation-period."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from policy_packs.latticework_guardrails.secret_rotation import (
    SECRET,
    SECRET_ROTATION,
    rotation_interval_days,
    secret_rotation_period,
    secret_rotation_required,
)
from tests.policy_packs._harness import ACCOUNT, UNKNOWN_STRING, Stack, check_resource

SECRET_ARN = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:latticework/dev/orders/db-AbCdEf"


def _secret(stack: Stack, name: str = "orders-db", **props: Any) -> Any:
    return stack.add(SECRET, name, {"name": f"latticework/dev/{name}", **props})


def _rotation(stack: Stack, secret: Any | None, rules: dict[str, Any], **props: Any) -> Any:
    return stack.add(
        SECRET_ROTATION,
        f"rotation-{len(stack.resources)}",
        {"rotationRules": rules, **props},
        property_dependencies={"secretId": [secret]} if secret is not None else None,
    )


def _rotated_by_dependency(stack: Stack) -> None:
    secret = _secret(stack, arn=UNKNOWN_STRING, id=UNKNOWN_STRING)
    _rotation(stack, secret, {"automaticallyAfterDays": 30}, secretId=UNKNOWN_STRING)


def _rotated_by_arn(stack: Stack) -> None:
    _secret(stack, arn=SECRET_ARN, id=SECRET_ARN)
    _rotation(stack, None, {"automaticallyAfterDays": 30}, secretId=SECRET_ARN)


def _rotated_by_schedule(stack: Stack) -> None:
    secret = _secret(stack, arn=SECRET_ARN)
    _rotation(stack, secret, {"scheduleExpression": "rate(10 days)"}, secretId=SECRET_ARN)


def _two_secrets_two_rotations(stack: Stack) -> None:
    first = _secret(stack, "a", arn=SECRET_ARN + "1")
    second = _secret(stack, "b", arn=SECRET_ARN + "2")
    _rotation(stack, first, {"automaticallyAfterDays": 7})
    _rotation(stack, second, {"scheduleExpression": "cron(0 4 1 * ? *)"})


def _no_secrets(stack: Stack) -> None:
    stack.add("aws:kms/key:Key", "key", {"enableKeyRotation": True})


@pytest.mark.parametrize(
    "build",
    [
        _rotated_by_dependency,
        _rotated_by_arn,
        _rotated_by_schedule,
        _two_secrets_two_rotations,
        _no_secrets,
    ],
)
def test_rotation_required_compliant(build: Callable[[Stack], None]) -> None:
    """A rotation matched by dependency, ARN or id with days or a schedule covers a secret."""
    stack = Stack()
    build(stack)

    reported = stack.check(secret_rotation_required)

    assert reported == []


def _no_rotation(stack: Stack) -> None:
    _secret(stack, arn=SECRET_ARN)


def _rotation_of_another_secret(stack: Stack) -> None:
    _secret(stack, arn=SECRET_ARN)
    other = _secret(stack, "other", arn=SECRET_ARN + "x")
    _rotation(stack, other, {"automaticallyAfterDays": 30}, secretId=SECRET_ARN + "x")


def _rotation_with_foreign_id(stack: Stack) -> None:
    _secret(stack, arn=SECRET_ARN, id=SECRET_ARN)
    _rotation(stack, None, {"automaticallyAfterDays": 30}, secretId="arn:aws:...:other")


def _rotation_without_rules(stack: Stack) -> None:
    secret = _secret(stack, arn=SECRET_ARN)
    _rotation(stack, secret, {})


def _rotation_with_zero_days(stack: Stack) -> None:
    secret = _secret(stack, arn=SECRET_ARN)
    _rotation(stack, secret, {"automaticallyAfterDays": 0, "scheduleExpression": ""})


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (_no_rotation, "no SecretRotation targets it (secretId)"),
        (_rotation_of_another_secret, "no SecretRotation targets it (secretId)"),
        (_rotation_with_foreign_id, "no SecretRotation targets it (secretId)"),
        (_rotation_without_rules, "sets neither rotationRules.automaticallyAfterDays"),
        (_rotation_with_zero_days, "sets neither rotationRules.automaticallyAfterDays"),
    ],
)
def test_rotation_required_violations(build: Callable[[Stack], None], expected: str) -> None:
    """A secret without an effective rotation is reported on its own URN."""
    stack = Stack()
    build(stack)

    reported = stack.check(secret_rotation_required)

    assert len(reported) == 1
    message, urn = reported[0]
    assert message.startswith("secret 'orders-db': ")
    assert expected in message
    assert urn is not None
    assert urn.endswith("::orders-db")


def test_rotation_required_unknown_match_is_checked_at_update() -> None:
    """A rotation whose secretId is unknown and has no dependency is checked at update."""
    stack = Stack()
    _secret(stack, arn=UNKNOWN_STRING)
    _rotation(stack, None, {"automaticallyAfterDays": 30}, secretId=UNKNOWN_STRING)

    with pytest.raises(UnknownValueError) as raised:
        stack.check(secret_rotation_required)

    assert "the rotations of orders-db: secretId cannot be matched" in raised.value.message


@pytest.mark.parametrize(
    ("rules", "config"),
    [
        ({"automaticallyAfterDays": 30}, {}),
        ({"automaticallyAfterDays": 90}, {"rotationMaxDays": 90}),
        ({"scheduleExpression": "rate(12 hours)"}, {"rotationMaxDays": 1}),
        ({"scheduleExpression": "cron(0 4 ? * MON *)"}, {"rotationMaxDays": 7}),
        ({"scheduleExpression": "cron(0 4 1 * ? *)"}, {"rotationMaxDays": 31}),
    ],
)
def test_rotation_period_compliant(rules: dict[str, Any], config: dict[str, Any]) -> None:
    """Rotation at or under the configured maximum passes, in days or by schedule."""

    messages = check_resource(
        secret_rotation_period, SECRET_ROTATION, {"rotationRules": rules}, config=config
    )

    assert messages == []


@pytest.mark.parametrize(
    ("rules", "config", "expected"),
    [
        ({"automaticallyAfterDays": 91}, {}, "automaticallyAfterDays is 91, above"),
        ({"automaticallyAfterDays": 31}, {"rotationMaxDays": 30}, "maximum of 30 days"),
        ({"scheduleExpression": "rate(120 days)"}, {}, "about every 120 days"),
        ({"scheduleExpression": "cron(0 4 1 * ? *)"}, {"rotationMaxDays": 7}, "every 31 days"),
        ({"scheduleExpression": "cron(0 0 1 JAN ? *)"}, {}, "about every 365 days"),
        ({"scheduleExpression": "every tuesday"}, {}, "neither rate(...) nor cron(...)"),
    ],
)
def test_rotation_period_violations(
    rules: dict[str, Any], config: dict[str, Any], expected: str
) -> None:
    """Rotation slower than the maximum, or an unreadable schedule, is reported."""

    messages = check_resource(
        secret_rotation_period, SECRET_ROTATION, {"rotationRules": rules}, name="db", config=config
    )

    assert len(messages) == 1
    assert messages[0].startswith("secret rotation 'db': rotationRules.")
    assert expected in messages[0]


def test_rotation_period_unknown_rules_are_checked_at_update() -> None:
    """Rotation rules a preview does not know are reported as checked at update."""

    with pytest.raises(UnknownValueError):
        check_resource(
            secret_rotation_period,
            SECRET_ROTATION,
            {"rotationRules": {"automaticallyAfterDays": UNKNOWN_STRING}},
        )


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("rate(1 day)", 1.0),
        ("rate(48 hours)", 2.0),
        ("cron(0 12 * * ? *)", 1.0),
        ("cron(0 12 ? * SUN *)", 7.0),
        ("cron(0 12 15 * ? *)", 31.0),
        ("cron(0 12 15 6 ? *)", 365.0),
        ("weekly", None),
    ],
)
def test_rotation_interval_days(expression: str, days: float | None) -> None:
    """Schedule expressions map to the longest gap they allow between rotations."""

    assert rotation_interval_days(expression) == days
