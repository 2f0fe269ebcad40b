"""Verified Permissions policies: STRICT validation, and the schema before the policies."""

from __future__ import annotations

from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy_packs.latticework_guardrails._graph import Index, by_type, reference
from policy_packs.latticework_guardrails._props import UNKNOWN, checked_at_update, read

POLICY_STORE: Final = "aws:verifiedpermissions/policyStore:PolicyStore"
SCHEMA: Final = "aws:verifiedpermissions/schema:Schema"
POLICY: Final = "aws:verifiedpermissions/policy:Policy"
POLICY_TEMPLATE: Final = "aws:verifiedpermissions/policyTemplate:PolicyTemplate"
_STORE_ID_PROPERTIES: Final = ("policyStoreId",)


def _validate_strict(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != POLICY_STORE:
        return

    mode = read(args.props, "validationSettings", "mode")
    if mode is UNKNOWN:
        checked_at_update(f"policy store '{args.name}'", "validationSettings.mode")
    if mode != "STRICT":
        found = "not set" if mode is None else repr(mode)
        report_violation(
            f"policy store '{args.name}': validationSettings.mode is {found}; set "
            'validation_settings={"mode": "STRICT"} so every policy is checked against the '
            "schema.",
            None,
        )


policy_store_strict_validation: Final = ResourceValidationPolicy(
    name="policy-store-strict-validation",
    description="The Verified Permissions policy store validates policies in STRICT mode.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_strict,
)


def _depends_on(resource: Any, wanted: set[str]) -> bool:
    """Whether `resource` depends, directly or through others, on a URN in `wanted`."""
    seen: set[str] = set()
    pending: list[Any] = list(resource.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.urn in wanted:
            return True
        if dependency.urn in seen:
            continue
        seen.add(dependency.urn)
        pending.extend(dependency.dependencies)
    return False


def _validate_schema_first(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    grouped = by_type(args.resources)
    stores = grouped.get(POLICY_STORE, [])
    index = Index(stores, _STORE_ID_PROPERTIES)
    schemas_by_store: dict[str, set[str]] = {store.urn: set() for store in stores}
    for schema in grouped.get(SCHEMA, []):
        for store in index.resolve(reference(schema, "policyStoreId"))[0]:
            schemas_by_store[store.urn].add(schema.urn)

    for store in stores:
        if not schemas_by_store[store.urn]:
            report_violation(
                f"policy store '{store.name}': no verifiedpermissions.Schema targets it "
                "(policyStoreId); add one built from authz/schema.json.",
                store.urn,
            )

    for policy in [*grouped.get(POLICY, []), *grouped.get(POLICY_TEMPLATE, [])]:
        for store in index.resolve(reference(policy, "policyStoreId"))[0]:
            schemas = schemas_by_store[store.urn]
            if schemas and not _depends_on(policy, schemas):
                report_violation(
                    f"Verified Permissions policy '{policy.name}': it does not depend on the "
                    f"schema of policy store '{store.name}', so it may be created before the "
                    "schema and fail STRICT validation; pass depends_on=[schema].",
                    policy.urn,
                )


policy_store_schema_first: Final = StackValidationPolicy(
    name="policy-store-schema-first",
    description="A policy store has a schema, and its policies are created after the schema.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_schema_first,
)

POLICIES: Final = (policy_store_strict_validation, policy_store_schema_first)

__all__ = [
    "POLICIES",
    "POLICY",
    "POLICY_STORE",
    "POLICY_TEMPLATE",
    "SCHEMA",
    "policy_store_schema_first",
    "policy_store_strict_validation",
]
