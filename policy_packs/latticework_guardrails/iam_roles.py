"""IAM policy: Secrets Manager and Verified Permissions actions only on exact resources.

Checked wherever an identity policy is written: a role's ``inlinePolicies``, a
``RolePolicy`` and a managed ``Policy``; and wherever a role gets a broad AWS managed policy
(``AdministratorAccess``, ``SecretsManagerReadWrite``, ...) through ``managedPolicyArns`` or a
``RolePolicyAttachment``. An Allow statement whose actions reach
``secretsmanager:`` or ``verifiedpermissions:`` (including ``*`` and prefix wildcards) must
name its resources exactly: no ``*`` anywhere in a resource, and no ``NotResource``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policy_packs.latticework_guardrails._documents import PolicyDocumentError, parse_document
from policy_packs.latticework_guardrails._props import (
    MASKED_VALUE,
    UNKNOWN,
    as_list,
    checked_at_update,
    read,
)

ROLE: Final = "aws:iam/role:Role"
ROLE_POLICY: Final = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY: Final = "aws:iam/policy:Policy"
ROLE_POLICY_ATTACHMENT: Final = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_ATTACHMENT: Final = "aws:iam/policyAttachment:PolicyAttachment"
ROLE_POLICY_ATTACHMENTS_EXCLUSIVE: Final = (
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
)
_ATTACHMENTS: Final = frozenset(
    {ROLE_POLICY_ATTACHMENT, POLICY_ATTACHMENT, ROLE_POLICY_ATTACHMENTS_EXCLUSIVE}
)
_GUARDED_SERVICES: Final = ("secretsmanager", "verifiedpermissions")
_KIND: Final = {
    ROLE: "IAM role",
    ROLE_POLICY: "IAM role policy",
    MANAGED_POLICY: "IAM policy",
    ROLE_POLICY_ATTACHMENT: "IAM role policy attachment",
    POLICY_ATTACHMENT: "IAM policy attachment",
    ROLE_POLICY_ATTACHMENTS_EXCLUSIVE: "IAM role policy attachments",
}
# AWS managed policies that grant Secrets Manager or Verified Permissions actions on "*".
_BROAD_AWS_MANAGED_POLICIES: Final = frozenset(
    {
        "AdministratorAccess",
        "AmazonVerifiedPermissionsFullAccess",
        "PowerUserAccess",
        "SecretsManagerReadWrite",
    }
)


def _attached_policy_arns(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(field, ARN) for every managed policy the resource attaches."""
    if args.resource_type == ROLE:
        for index, arn in enumerate(as_list(read(args.props, "managedPolicyArns"))):
            yield f"managedPolicyArns[{index}]", arn
    elif args.resource_type == ROLE_POLICY_ATTACHMENT:
        yield "policyArn", read(args.props, "policyArn")
    elif args.resource_type == POLICY_ATTACHMENT:
        # It may attach to users and groups only; roles (or unknown roles) are what matter.
        if read(args.props, "roles") is UNKNOWN or as_list(read(args.props, "roles")):
            yield "policyArn", read(args.props, "policyArn")
    elif args.resource_type == ROLE_POLICY_ATTACHMENTS_EXCLUSIVE:
        for index, arn in enumerate(as_list(read(args.props, "policyArns"))):
            yield f"policyArns[{index}]", arn


def _broad_aws_managed_policy(arn: Any) -> str | None:
    """The name of a broad AWS managed policy `arn` points at, else None."""
    if not isinstance(arn, str) or ":iam::aws:policy/" not in arn:
        return None
    name = arn.rsplit("/", 1)[-1]
    return name if name in _BROAD_AWS_MANAGED_POLICIES else None


def _documents(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(field, document) for every policy document the resource writes."""
    if args.resource_type in _ATTACHMENTS:
        return
    if args.resource_type == ROLE:
        for index, inline in enumerate(as_list(read(args.props, "inlinePolicies"))):
            if inline is UNKNOWN:
                yield f"inlinePolicies[{index}]", UNKNOWN
            else:
                yield f"inlinePolicies[{index}].policy", read(inline, "policy")
    else:
        yield "policy", read(args.props, "policy")


def guarded_services(action: str) -> list[str]:
    """The guarded services (`secretsmanager`, `verifiedpermissions`) an action pattern reaches."""
    pattern = action.lower()
    if ":" not in pattern:
        return list(_GUARDED_SERVICES) if pattern == "*" else []

    service, operation = pattern.split(":", 1)
    return [
        guarded
        for guarded in _GUARDED_SERVICES
        if fnmatchcase(guarded, service) and operation != ""
    ]


def _validate_exact_resources(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    kind = _KIND.get(args.resource_type)
    if kind is None:
        return

    subject = f"{kind} '{args.name}'"
    for field, arn in _attached_policy_arns(args):
        if arn is UNKNOWN:
            checked_at_update(subject, field)
        broad = _broad_aws_managed_policy(arn)
        if broad is not None:
            report_violation(
                f"{subject}: {field} attaches the AWS managed policy {broad}, which grants "
                "Secrets Manager or Verified Permissions actions on every resource; grant the "
                "exact secret and policy store ARNs in an inline policy instead.",
                None,
            )

    for field, document in _documents(args):
        if document is UNKNOWN:
            checked_at_update(subject, field)
        if document is None:
            continue
        if document == MASKED_VALUE:
            checked_at_update(subject, field, "is a secret in the offline plan")
        try:
            statements = parse_document(document)
        except PolicyDocumentError as exc:
            report_violation(f"{subject}: {field} {exc}; write a valid IAM policy.", None)
            continue

        for statement in statements:
            if not statement.is_allow:
                continue
            reached = sorted({s for a in statement.actions for s in guarded_services(a)})
            if statement.has_not_action:
                reached = list(_GUARDED_SERVICES)
            if not reached:
                continue
            services = " and ".join(f"{service}:" for service in reached)
            if statement.has_not_resource:
                report_violation(
                    f"{subject}: {field} {statement.label} grants {services} actions with "
                    "NotResource; list the exact secret or policy store ARNs in Resource.",
                    None,
                )
            wildcards = [resource for resource in statement.resources if _is_wildcard(resource)]
            if wildcards or not (statement.resources or statement.has_not_resource):
                report_violation(
                    f"{subject}: {field} {statement.label} grants {services} actions on a "
                    "wildcard Resource; name the exact secret or policy store ARNs.",
                    None,
                )


# A secret's ARN ends in `-` and six random characters; `-??????` names one secret whatever
# its suffix, as AWS's own examples grant it. Any other `?`, like `*`, is a wildcard.
# Everything before it must be exact: partition, region, account and name, with no policy
# variable (`${...}`) that would stand for a name chosen per request.
_SECRET_SUFFIX_WILDCARD = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^*?$]+-\?{6}"
)


def _is_wildcard(resource: str) -> bool:
    """True when an IAM Resource matches more than the one ARN it names."""
    if _SECRET_SUFFIX_WILDCARD.fullmatch(resource):
        return False
    return "*" in resource or "?" in resource or "${" in resource


iam_exact_secret_and_authz_resources: Final = ResourceValidationPolicy(
    name="iam-exact-secret-and-authz-resources",
    description=(
        "Role policies grant Secrets Manager and Verified Permissions actions only on exact "
        "resources, never a wildcard."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_exact_resources,
)

POLICIES: Final = (iam_exact_secret_and_authz_resources,)

__all__ = [
    "MANAGED_POLICY",
    "POLICIES",
    "POLICY_ATTACHMENT",
    "ROLE",
    "ROLE_POLICY",
    "ROLE_POLICY_ATTACHMENT",
    "ROLE_POLICY_ATTACHMENTS_EXCLUSIVE",
    "guarded_services",
]
