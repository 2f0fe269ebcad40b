"""ECS service policies: no public IP, and reachable only through an authenticated Lattice service.

An ECS service is registered with a Lattice target group through its
``vpcLatticeConfigurations``; the target group is served by a Lattice service when a
listener (its default action) or a listener rule of that service forwards to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
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
from policy_packs.latticework_guardrails.lattice import IAM_AUTH, SERVICE

ECS_SERVICE: Final = "aws:ecs/service:Service"
TARGET_GROUP: Final = "aws:vpclattice/targetGroup:TargetGroup"
LISTENER: Final = "aws:vpclattice/listener:Listener"
LISTENER_RULE: Final = "aws:vpclattice/listenerRule:ListenerRule"
_FORWARD_PROPERTIES: Final = {LISTENER: "defaultAction", LISTENER_RULE: "action"}
_AUTHENTICATED: Final = (IAM_AUTH, UNKNOWN)


def _validate_no_public_ip(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ECS_SERVICE:
        return

    assign_public_ip = read(args.props, "networkConfiguration", "assignPublicIp")
    if assign_public_ip is UNKNOWN:
        checked_at_update(f"ECS service '{args.name}'", "networkConfiguration.assignPublicIp")
    # A bool from the typed SDKs; "true"/"ENABLED" strings from untyped programs or the API.
    if assign_public_ip is True or str(assign_public_ip).upper() in ("TRUE", "ENABLED"):
        report_violation(
            f"ECS service '{args.name}': networkConfiguration.assignPublicIp is true; set "
            "assign_public_ip=False and run the tasks in private subnets.",
            None,
        )


ecs_service_no_public_ip: Final = ResourceValidationPolicy(
    name="ecs-service-no-public-ip",
    description="ECS services never assign a public IP to their tasks.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_no_public_ip,
)


def _services_by_target_group(
    grouped: Mapping[str, list[Any]],
) -> tuple[dict[str, list[Any]], bool]:
    """Target group URN -> the Lattice services forwarding to it; and whether any is unsure."""
    group_index = Index(grouped.get(TARGET_GROUP, []))
    service_index = Index(grouped.get(SERVICE, []))
    serving: dict[str, list[Any]] = defaultdict(list)
    unsure = False
    for forwarder in [*grouped.get(LISTENER, []), *grouped.get(LISTENER_RULE, [])]:
        forward = reference(forwarder, _FORWARD_PROPERTIES[forwarder.resource_type])
        groups, groups_unsure = group_index.resolve(forward)
        owners, owners_unsure = service_index.resolve(reference(forwarder, "serviceIdentifier"))
        unsure = unsure or groups_unsure or owners_unsure
        for group in groups:
            serving[group.urn].extend(owners)
    return serving, unsure


def _validate_behind_lattice(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    grouped = by_type(args.resources)
    group_index = Index(grouped.get(TARGET_GROUP, []))
    serving, forwarding_unsure = _services_by_target_group(grouped)
    undetermined: list[str] = []

    for ecs_service in grouped.get(ECS_SERVICE, []):
        subject = f"ECS service '{ecs_service.name}'"
        groups, unsure = group_index.resolve(reference(ecs_service, "vpcLatticeConfigurations"))
        if not groups:
            if unsure:
                undetermined.append(ecs_service.name)
                continue
            report_violation(
                f"{subject}: vpcLatticeConfigurations registers it with no Lattice target group; "
                "set vpc_lattice_configurations with the target group of its Lattice service.",
                ecs_service.urn,
            )
            continue

        services = [service for group in groups for service in serving[group.urn]]
        authenticated = [
            service for service in services if read(service.props, "authType") in _AUTHENTICATED
        ]
        group_names = ", ".join(sorted(group.name for group in groups))
        if authenticated:
            continue
        if services:
            names = ", ".join(sorted({service.name for service in services}))
            report_violation(
                f"{subject}: its target group {group_names} is served by Lattice service "
                f'{names} whose authType is not {IAM_AUTH}; set auth_type="{IAM_AUTH}" there.',
                ecs_service.urn,
            )
        elif forwarding_unsure:
            undetermined.append(ecs_service.name)
        else:
            report_violation(
                f"{subject}: its target group {group_names} is not forwarded to by any Lattice "
                "listener; add a vpclattice.Listener whose default_action forwards to it.",
                ecs_service.urn,
            )

    if undetermined:
        checked_at_update(
            f"the Lattice registration of {', '.join(sorted(undetermined))}",
            "vpcLatticeConfigurations",
            "cannot be matched during preview",
        )


ecs_service_behind_lattice: Final = StackValidationPolicy(
    name="ecs-service-behind-authenticated-lattice",
    description="Each ECS service is registered with a target group of an AWS_IAM Lattice service.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_behind_lattice,
)

POLICIES: Final = (ecs_service_no_public_ip, ecs_service_behind_lattice)

__all__ = [
    "ECS_SERVICE",
    "LISTENER",
    "LISTENER_RULE",
    "POLICIES",
    "TARGET_GROUP",
    "ecs_service_behind_lattice",
    "ecs_service_no_public_ip",
]
