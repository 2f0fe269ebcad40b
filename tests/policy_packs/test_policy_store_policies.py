"""Tests for policy-store-strict-validation and policy-store-schema-first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from policy_packs.latticework_guardrails.policy_store import (
    POLICY,
    POLICY_STORE,
    POLICY_TEMPLATE,
    SCHEMA,
    policy_store_schema_first,
    policy_store_strict_validation,
)
from tests.policy_packs._harness import UNKNOWN_STRING, Stack, check_resource


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (POLICY_STORE, {"validationSettings": {"mode": "STRICT"}}),
        (POLICY_STORE, {"validationSettings": {"mode": "STRICT"}, "description": "dev"}),
        (POLICY_STORE, {"validationSettings": {"mode": "STRICT"}, "deletionProtection": "ENABLED"}),
        (SCHEMA, {"validationSettings": {"mode": "OFF"}}),
        (POLICY, {"policyStoreId": "ps-1"}),
    ],
)
def test_strict_validation_compliant(resource_type: str, props: dict[str, Any]) -> None:
    """A STRICT policy store passes; other Verified Permissions types are not read."""

    messages = check_resource(policy_store_strict_validation, resource_type, props)

    assert messages == []


@pytest.mark.parametrize(
    ("props", "found"),
    [
        ({}, "not set"),
        ({"validationSettings": {}}, "not set"),
        ({"validationSettings": {"mode": "OFF"}}, "'OFF'"),
        ({"validationSettings": {"mode": "strict"}}, "'strict'"),
        ({"validationSettings": None}, "not set"),
    ],
)
def test_strict_validation_violations(props: dict[str, Any], found: str) -> None:
    """A store without STRICT validation is named with the field and the fix."""

    messages = check_resource(policy_store_strict_validation, POLICY_STORE, props, name="store")

    assert messages == [
        f"policy store 'store': validationSettings.mode is {found}; set "
        'validation_settings={"mode": "STRICT"} so every policy is checked against the schema.'
    ]


def test_strict_validation_unknown_mode_is_checked_at_update() -> None:
    """An unknown validation mode is checked at update."""

    with pytest.raises(UnknownValueError):
        check_resource(
            policy_store_strict_validation,
            POLICY_STORE,
            {"validationSettings": {"mode": UNKNOWN_STRING}},
        )


def _store(stack: Stack, store_id: str = UNKNOWN_STRING) -> Any:
    return stack.add(
        POLICY_STORE, "store", {"validationSettings": {"mode": "STRICT"}, "policyStoreId": store_id}
    )


def _schema(stack: Stack, store: Any) -> Any:
    return stack.add(
        SCHEMA,
        "schema",
        {"policyStoreId": UNKNOWN_STRING},
        property_dependencies={"policyStoreId": [store]},
    )


def _policy(
    stack: Stack, store: Any, depends_on: list[Any], resource_type: str = POLICY, **props: Any
) -> Any:
    return stack.add(
        resource_type,
        f"policy-{len(stack.resources)}",
        {"policyStoreId": UNKNOWN_STRING, **props},
        property_dependencies={"policyStoreId": [store]},
        dependencies=depends_on,
    )


def _policies_after_schema(stack: Stack) -> None:
    store = _store(stack)
    schema = _schema(stack, store)
    _policy(stack, store, [schema])
    _policy(stack, store, [schema], POLICY_TEMPLATE)


def _policy_after_schema_through_template(stack: Stack) -> None:
    store = _store(stack)
    schema = _schema(stack, store)
    template = _policy(stack, store, [schema], POLICY_TEMPLATE)
    _policy(stack, store, [template])


def _matched_by_store_id(stack: Stack) -> None:
    _store(stack, "ps-0123")
    schema = stack.add(SCHEMA, "schema", {"policyStoreId": "ps-0123"})
    stack.add(POLICY, "policy", {"policyStoreId": "ps-0123"}, dependencies=[schema])


def _store_with_schema_only(stack: Stack) -> None:
    _schema(stack, _store(stack))


def _no_store(stack: Stack) -> None:
    stack.add("aws:ecs/cluster:Cluster", "cluster")


@pytest.mark.parametrize(
    "build",
    [
        _policies_after_schema,
        _policy_after_schema_through_template,
        _matched_by_store_id,
        _store_with_schema_only,
        _no_store,
    ],
)
def test_schema_first_compliant(build: Callable[[Stack], None]) -> None:
    """Policies that depend (directly or not) on their store's schema pass."""
    stack = Stack()
    build(stack)

    reported = stack.check(policy_store_schema_first)

    assert reported == []


def _store_without_schema(stack: Stack) -> None:
    _store(stack)


def _schema_of_other_store(stack: Stack) -> None:
    _store(stack, "ps-1")
    other = stack.add(POLICY_STORE, "other", {"policyStoreId": "ps-2"})
    _schema(stack, other)


def _policy_before_schema(stack: Stack) -> None:
    store = _store(stack)
    _schema(stack, store)
    _policy(stack, store, [store])


def _template_before_schema(stack: Stack) -> None:
    store = _store(stack)
    _schema(stack, store)
    _policy(stack, store, [], POLICY_TEMPLATE)


def _policy_by_id_without_dependency(stack: Stack) -> None:
    _store(stack, "ps-0123")
    stack.add(SCHEMA, "schema", {"policyStoreId": "ps-0123"})
    stack.add(POLICY, "policy", {"policyStoreId": "ps-0123"})


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (_store_without_schema, "policy store 'store': no verifiedpermissions.Schema targets it"),
        (_schema_of_other_store, "policy store 'store': no verifiedpermissions.Schema targets it"),
        (_policy_before_schema, "does not depend on the schema of policy store 'store'"),
        (_template_before_schema, "does not depend on the schema of policy store 'store'"),
        (_policy_by_id_without_dependency, "pass depends_on=[schema]"),
    ],
)
def test_schema_first_violations(build: Callable[[Stack], None], expected: str) -> None:
    """A store without a schema, or a policy not ordered after it, is reported."""
    stack = Stack()
    build(stack)

    reported = stack.check(policy_store_schema_first)

    assert len(reported) == 1
    assert expected in reported[0][0]
