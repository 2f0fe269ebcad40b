"""VPC Lattice policies: IAM auth everywhere, an auth policy on everything, none of them open."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy_packs.latticework_guardrails._documents import (
    Condition,
    PolicyDocumentError,
    Statement,
    parse_document,
)
from policy_packs.latticework_guardrails._graph import Index, by_type, reference
from policy_packs.latticework_guardrails._props import (
    MASKED_VALUE,
    UNKNOWN,
    checked_at_update,
    read,
)

SERVICE: Final = "aws:vpclattice/service:Service"
SERVICE_NETWORK: Final = "aws:vpclattice/serviceNetwork:ServiceNetwork"
AUTH_POLICY: Final = "aws:vpclattice/authPolicy:AuthPolicy"
IAM_AUTH: Final = "AWS_IAM"
_KIND: Final = {SERVICE: "Lattice service", SERVICE_NETWORK: "Lattice service network"}

_POSITIVE_OPERATORS: Final = frozenset(
    {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"}
)
_NEGATIVE_OPERATORS: Final = frozenset(
    {"stringnotequals", "stringnotequalsignorecase", "stringnotlike"}
)
_CALLER_KEYS: Final = {
    "aws:principalorgid": "organisation",
    "aws:principalorgpaths": "organisation",
    "aws:principalaccount": "account",
    "aws:principalarn": "arn",
}
_VPC_KEYS: Final = frozenset(
    {
        "vpc-lattice-svcs:sourcevpc",
        "vpc-lattice-svcs:sourcevpcowneraccount",
        "aws:sourcevpc",
        "aws:sourcevpce",
    }
)
_LATTICE_ACTION_PREFIX: Final = "vpc-lattice-svcs:"
_OPEN_FIX: Final = (
    "add a condition on aws:PrincipalOrgID, aws:PrincipalAccount or aws:PrincipalArn, "
    "or name the caller roles as principals"
)


def _describe_auth_type(auth_type: Any) -> str:
    return "not set (AWS defaults to NONE)" if auth_type is None else repr(auth_type)


def _validate_auth_type(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = _KIND.get(args.resource_type)
    if kind is None:
        return

    auth_type = read(args.props, "authType")
    if auth_type is UNKNOWN:
        checked_at_update(f"{kind} '{args.name}'", "authType")
    if auth_type != IAM_AUTH:
        report_violation(
            f"{kind} '{args.name}': authType is {_describe_auth_type(auth_type)}; set "
            f'auth_type="{IAM_AUTH}" so every caller must sign its requests with SigV4.',
            None,
        )


lattice_auth_type_iam: Final = ResourceValidationPolicy(
    name="lattice-auth-type-iam",
    description="Every VPC Lattice service and service network uses AWS_IAM auth.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_auth_type,
)


def _auth_policy_coverage(
    args: StackValidationArgs,
) -> tuple[list[Any], dict[str, list[Any]], list[str]]:
    """The targets, the auth policies covering each target URN, and undetermined policies."""
    grouped = by_type(args.resources)
    targets = [*grouped.get(SERVICE, []), *grouped.get(SERVICE_NETWORK, [])]
    index = Index(targets)
    covering: dict[str, list[Any]] = {target.urn: [] for target in targets}
    undetermined: list[str] = []
    for auth_policy in grouped.get(AUTH_POLICY, []):
        matched, unsure = index.resolve(reference(auth_policy, "resourceIdentifier"))
        for target in matched:
            covering[target.urn].append(auth_policy)
        if unsure:
            undetermined.append(auth_policy.name)
    return targets, covering, undetermined


def _validate_auth_policy_attached(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    targets, covering, undetermined = _auth_policy_coverage(args)
    unmatched: list[str] = []

    for target in targets:
        if covering[target.urn]:
            continue
        if undetermined:
            unmatched.append(target.name)
            continue
        report_violation(
            f"{_KIND[target.resource_type]} '{target.name}': no auth policy targets it "
            "(resourceIdentifier); add a vpclattice.AuthPolicy with resource_identifier set "
            "to its id or ARN.",
            target.urn,
        )

    if unmatched:
        checked_at_update(
            f"the auth policies of {', '.join(sorted(unmatched))}",
            "resourceIdentifier",
            "cannot be matched during preview",
        )


lattice_auth_policy_attached: Final = StackValidationPolicy(
    name="lattice-auth-policy-attached",
    description="Every VPC Lattice service and service network has an auth policy targeting it.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_auth_policy_attached,
)


def _validate_auth_policy_active(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    targets, covering, _ = _auth_policy_coverage(args)

    for target in targets:
        auth_type = read(target.props, "authType")
        if auth_type in (IAM_AUTH, UNKNOWN):
            continue
        for auth_policy in covering[target.urn]:
            report_violation(
                f"auth policy '{auth_policy.name}': resourceIdentifier targets "
                f"{_KIND[target.resource_type]} '{target.name}' whose authType is "
                f"{_describe_auth_type(auth_type)}, so the policy is inactive and admits every "
                f"caller; set auth_type=\"{IAM_AUTH}\" on '{target.name}'.",
                auth_policy.urn,
            )


lattice_auth_policy_active: Final = StackValidationPolicy(
    name="lattice-auth-policy-active",
    description="No auth policy sits inactive on a Lattice service or network whose auth is NONE.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_auth_policy_active,
)


@dataclass(frozen=True, slots=True)
class Narrowing:
    """How an Allow statement limits its callers.

    `kind` is ``named`` (principals are named, not open), ``caller`` (an organisation,
    account or ARN condition), ``weak`` (only source VPC or "not anonymous"), ``open`` (no
    narrowing) or ``outside`` (narrowed to an organisation or account that is not allowed).
    """

    kind: str
    detail: str = ""


def _is_open(statement: Statement) -> bool:
    if statement.has_not_principal or statement.principals is None:
        return True
    # `arn:aws:iam::*:root` names every account: any wildcard makes the principal open.
    return any("*" in principal for principal in statement.principals)


def _base_operator(operator: str) -> str:
    return operator.removeprefix("foranyvalue:")


def _narrows_caller(condition: Condition) -> bool:
    if condition.key not in _CALLER_KEYS:
        return False
    if _base_operator(condition.operator) not in _POSITIVE_OPERATORS:
        return False
    return bool(condition.values) and all(_value_narrows(condition, v) for v in condition.values)


def _value_narrows(condition: Condition, value: str) -> bool:
    """Whether `value` names one caller identity: `o-*` or an account `1*` names them all."""
    kind = _CALLER_KEYS[condition.key]
    if kind == "arn":
        parts = value.split(":")
        identity = parts[4] if len(parts) >= 6 else ""
    elif kind == "organisation":
        identity = value.split("/")[0]
    else:
        identity = value
    identity = identity.strip()
    return identity != "" and not any(wildcard in identity for wildcard in "*?")


def _narrows_weakly(condition: Condition) -> bool:
    operator = _base_operator(condition.operator)
    if condition.key in _VPC_KEYS:
        return operator in _POSITIVE_OPERATORS
    if condition.key == "aws:principaltype" and operator in _NEGATIVE_OPERATORS:
        return any(value.lower() == "anonymous" for value in condition.values)
    if condition.operator == "null" and condition.key in _CALLER_KEYS:
        return all(value.lower() == "false" for value in condition.values)
    return False


def _outside_allowed(
    condition: Condition, organization_ids: Sequence[str], account_ids: Sequence[str]
) -> str:
    kind = _CALLER_KEYS[condition.key]
    for value in condition.values:
        if kind == "organisation" and organization_ids:
            organization = value.split("/")[0].lower()
            if organization not in organization_ids:
                return f"{condition.key} narrows to an organisation outside allowedOrganizationIds"
        if kind == "account" and account_ids and value not in account_ids:
            return f"{condition.key} narrows to an account outside allowedAccountIds"
        # An exact ARN names one caller, as the Principal element would, and is not held to
        # the allowed accounts any more than a named Principal is; a pattern admits an account.
        exact = not any(wildcard in value for wildcard in "*?")
        if kind == "arn" and account_ids and not exact and value.split(":")[4] not in account_ids:
            return f"{condition.key} narrows to an account outside allowedAccountIds"
    return ""


def classify_narrowing(
    statement: Statement,
    *,
    organization_ids: Sequence[str] = (),
    account_ids: Sequence[str] = (),
) -> Narrowing:
    """How an Allow statement limits who may call; see `Narrowing`."""
    if not _is_open(statement):
        return Narrowing("named")

    caller_conditions = [c for c in statement.conditions if _narrows_caller(c)]
    if caller_conditions:
        allowed_orgs = [org.lower() for org in organization_ids]
        for condition in caller_conditions:
            problem = _outside_allowed(condition, allowed_orgs, account_ids)
            if problem:
                return Narrowing("outside", problem)
        return Narrowing("caller")

    if any(_narrows_weakly(condition) for condition in statement.conditions):
        return Narrowing("weak")
    return Narrowing("open")


def _auth_policy_statements(args: ResourceValidationArgs) -> tuple[Statement, ...] | str:
    """The statements, or a message saying why the document is malformed."""
    document = read(args.props, "policy")
    subject = f"auth policy '{args.name}'"
    if document is UNKNOWN:
        checked_at_update(subject, "policy")
    if document == MASKED_VALUE:
        checked_at_update(subject, "policy", "is a secret in the offline plan")
    try:
        return parse_document(document)
    except PolicyDocumentError as exc:
        return f"{subject}: policy {exc}; write a JSON policy document with a Statement list."


def _principal_words(statement: Statement) -> str:
    if statement.has_not_principal:
        return "uses NotPrincipal"
    if statement.principals is None:
        return "has no Principal"
    return 'allows the open principal "*"'


def _validate_auth_policy_scoped(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != AUTH_POLICY:
        return

    statements = _auth_policy_statements(args)
    if isinstance(statements, str):
        report_violation(statements, None)
        return

    config = args.get_config()
    organization_ids = list(config.get("allowedOrganizationIds") or [])
    account_ids = list(config.get("allowedAccountIds") or [])
    subject = f"auth policy '{args.name}'"
    for statement in statements:
        if not statement.is_allow:
            continue
        if statement.has_not_action:
            report_violation(
                f"{subject}: {statement.label} uses NotAction in an Allow; list the "
                f"{_LATTICE_ACTION_PREFIX}* actions it grants in Action instead.",
                None,
            )
        outside = [a for a in statement.actions if not a.lower().startswith(_LATTICE_ACTION_PREFIX)]
        if outside:
            report_violation(
                f"{subject}: {statement.label} Action grants {', '.join(sorted(outside))} "
                f"outside {_LATTICE_ACTION_PREFIX}; grant only {_LATTICE_ACTION_PREFIX}Invoke.",
                None,
            )

        narrowing = classify_narrowing(
            statement, organization_ids=organization_ids, account_ids=account_ids
        )
        if narrowing.kind == "open":
            report_violation(
                f"{subject}: {statement.label} {_principal_words(statement)} without a "
                f"Condition on the caller; {_OPEN_FIX}.",
                None,
            )
        elif narrowing.kind == "outside":
            report_violation(
                f"{subject}: {statement.label} Condition {narrowing.detail}; narrow to the "
                "environment's allowedPrincipals.",
                None,
            )


lattice_auth_policy_scoped: Final = ResourceValidationPolicy(
    name="lattice-auth-policy-scoped",
    description=(
        "Lattice auth policies allow only vpc-lattice-svcs actions, and an open principal only "
        "with a condition on the caller's organisation, account or ARN."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "allowedOrganizationIds": {"type": "array", "items": {"type": "string"}},
            "allowedAccountIds": {"type": "array", "items": {"type": "string"}},
        }
    ),
    validate=_validate_auth_policy_scoped,
)


def _validate_auth_policy_narrowing(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != AUTH_POLICY:
        return

    statements = _auth_policy_statements(args)
    if isinstance(statements, str):
        # The mandatory policy reports the malformed document; one finding is enough.
        return

    for statement in statements:
        if statement.is_allow and classify_narrowing(statement).kind == "weak":
            report_violation(
                f"auth policy '{args.name}': {statement.label} {_principal_words(statement)} "
                "narrowed only by source VPC or 'not anonymous', so any identity in those "
                f"VPCs may call; {_OPEN_FIX}.",
                None,
            )


lattice_auth_policy_caller_narrowing: Final = ResourceValidationPolicy(
    name="lattice-auth-policy-caller-narrowing",
    description=(
        "An open principal in a Lattice auth policy is narrowed by the caller's identity, "
        "not only by source VPC or 'not anonymous'."
    ),
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_validate_auth_policy_narrowing,
)

POLICIES: Final = (
    lattice_auth_type_iam,
    lattice_auth_policy_attached,
    lattice_auth_policy_active,
    lattice_auth_policy_scoped,
    lattice_auth_policy_caller_narrowing,
)

__all__ = [
    "AUTH_POLICY",
    "POLICIES",
    "SERVICE",
    "SERVICE_NETWORK",
    "Narrowing",
    "classify_narrowing",
    "lattice_auth_policy_active",
    "lattice_auth_policy_attached",
    "lattice_auth_policy_caller_narrowing",
    "lattice_auth_policy_scoped",
    "lattice_auth_type_iam",
]
