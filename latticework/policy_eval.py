"""Run the CrossGuard pack on an offline Plan, the way the Pulumi engine runs it on a preview.

The policies are the pack's own pulumi-policy objects; only the engine's side is played
here, following pulumi-policy's analyzer servicer:

- every resource policy sees each managed custom resource as `ResourceValidationArgs`
  (its inputs, wrapped in the same unknown-checking proxy a preview uses);
- every stack policy sees all resources as `PolicyResource` objects (their outputs) with
  parents, dependencies and property dependencies resolved to the objects themselves;
- each policy gets its entry of the pack config (`PackConfig.to_pulumi_config()`) from
  `get_config()`, and its enforcement level from the config, else its own default;
- a value unknown at plan time raises `UnknownValueError`: like the engine, that becomes an
  advisory "checked at update" result, never a silent pass;
- a policy that raises anything else fails closed: a mandatory finding naming the policy.

A `PolicyPack` is never constructed here: that starts a gRPC server and never returns.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from latticework.errors import PolicyViolationError, UsageError
from latticework.findings import (
    ADVISORY,
    CHECKED_AT_UPDATE,
    DISABLED,
    MANDATORY,
    VIOLATION,
    EnforcementName,
    Finding,
    FindingStatus,
    PolicyInfo,
    PolicyReport,
)
from latticework.offline import UNKNOWN_MASK
from latticework.plan import Plan, PlannedResource
from policy_packs.latticework_guardrails import POLICIES, POLICY_PACK_NAME, policy_names
from policy_packs.latticework_guardrails.config import PackConfig, pack_config_for

_logger = logging.getLogger(__name__)


def pack_config_for_plan(plan: Plan) -> PackConfig:
    """The pack config of the plan's environment (``latticework:policies`` + allowed principals).

    The same `components`-level reader the Automation API engine uses for a real preview, so
    both paths run with identical settings.
    """
    if plan.spec is None:
        message = (
            f"the {plan.environment} plan carries no stack spec, so its latticework:policies "
            "cannot be read; plan it with latticework.offline.plan_environment."
        )
        raise UsageError(message)
    return pack_config_for(plan.spec, policy_names=policy_names())


def evaluate_plan(
    plan: Plan,
    *,
    config: PackConfig | None = None,
    policies: Sequence[Any] = POLICIES,
) -> PolicyReport:
    """Run `policies` (default: the whole pack) on `plan` and collect their findings."""
    started = time.perf_counter()
    pack_config = pack_config_for_plan(plan) if config is None else config
    pulumi_config = pack_config.to_pulumi_config()
    resources = _PolicyResources(plan)
    findings: list[Finding] = []
    infos: list[PolicyInfo] = []

    for policy in policies:
        level = _enforcement(policy, pack_config)
        kind: Literal["resource", "stack"] = (
            "stack" if isinstance(policy, StackValidationPolicy) else "resource"
        )
        infos.append(PolicyInfo(policy.name, policy.description, level, kind))
        if level == DISABLED:
            continue
        policy_config = _policy_config(pulumi_config, policy.name)
        enforcement: EnforcementName = MANDATORY if level == MANDATORY else ADVISORY
        if isinstance(policy, ResourceValidationPolicy):
            for planned in resources.analyzed:
                args = resources.validation_args(planned, policy_config)
                findings.extend(_run(policy, args, enforcement, planned))
        elif isinstance(policy, StackValidationPolicy):
            stack_args = StackValidationArgs(resources.stack, policy_config)
            findings.extend(_run(policy, stack_args, enforcement, None, resources.by_urn))

    return PolicyReport(
        environment=plan.environment,
        pack=POLICY_PACK_NAME,
        policies=tuple(infos),
        findings=tuple(findings),
        resources_checked=len(resources.analyzed),
        seconds=time.perf_counter() - started,
    )


def raise_on_blocking(report: PolicyReport) -> None:
    """Raise `PolicyViolationError` (exit 1) when a mandatory policy failed."""
    if report.passed:
        return

    failed = sorted({finding.policy for finding in report.blocking})
    message = (
        f"{len(report.blocking)} mandatory policy violation(s) in {report.environment}: "
        f"{', '.join(failed)}"
    )
    raise PolicyViolationError(message)


def _enforcement(policy: Any, config: PackConfig) -> str:
    default_level: EnforcementLevel = policy.enforcement_level or EnforcementLevel.MANDATORY
    return config.enforcement_level(policy.name, default_level.value)


def _policy_config(pulumi_config: Mapping[str, Any], name: str) -> dict[str, Any]:
    entry = pulumi_config.get(name)
    if not isinstance(entry, Mapping):
        return {}
    return {key: value for key, value in entry.items() if key != "enforcementLevel"}


class _PolicyResources:
    """The plan's resources in the shapes pulumi-policy hands to policies."""

    def __init__(self, plan: Plan) -> None:
        self.analyzed: list[PlannedResource] = [
            planned for planned in plan.resources if planned.custom and not planned.read
        ]
        self._options = {planned.urn: _options(planned) for planned in plan.resources}
        self._inputs = {planned.urn: _proxied(planned.inputs) for planned in self.analyzed}
        self.by_urn: dict[str, PlannedResource] = {p.urn: p for p in plan.resources}
        self.stack = self._stack_resources(plan)

    def validation_args(
        self, planned: PlannedResource, config: Mapping[str, Any]
    ) -> ResourceValidationArgs:
        return ResourceValidationArgs(
            planned.type,
            self._inputs[planned.urn],
            planned.urn,
            planned.name,
            self._options[planned.urn],
            None,
            dict(config),
        )

    def _stack_resources(self, plan: Plan) -> list[Any]:
        objects: dict[str, Any] = {}
        for planned in plan.resources:
            props = dict(planned.outputs)
            if planned.id is not None:
                props.setdefault("id", planned.id)
            objects[planned.urn] = PolicyResource(
                planned.type,
                _proxied(props),
                planned.urn,
                planned.name,
                self._options[planned.urn],
                None,
                None,
                [],
                {},
            )
        for planned in plan.resources:
            resource = objects[planned.urn]
            if planned.parent_urn is not None:
                resource.parent = objects.get(planned.parent_urn)
            resource.dependencies = [objects[u] for u in planned.dependencies if u in objects]
            resource.property_dependencies = {
                key: [objects[u] for u in urns if u in objects]
                for key, urns in planned.property_dependencies.items()
            }
        return list(objects.values())


def _options(planned: PlannedResource) -> Any:
    return PolicyResourceOptions(
        planned.protect,
        list(planned.ignore_changes),
        planned.delete_before_replace,
        [],
        PolicyCustomTimeouts(0, 0, 0),
        list(planned.secret_outputs),
        planned.parent_urn,
    )


def _as_preview_value(value: Any) -> Any:
    """A plan value with the offline engine's unknown mask turned into the preview sentinel."""
    if value == UNKNOWN_MASK:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        return {key: _as_preview_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_preview_value(item) for item in value]
    return value


def _proxied(props: Mapping[str, Any]) -> Any:
    return unknown_checking_proxy(_as_preview_value(props))


def _run(
    policy: Any,
    args: Any,
    enforcement: EnforcementName,
    planned: PlannedResource | None,
    by_urn: Mapping[str, PlannedResource] | None = None,
) -> list[Finding]:
    findings: list[Finding] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        # As in the engine, a resource policy's violation is always about its resource.
        subject = planned if planned is not None else (by_urn or {}).get(urn or "")
        findings.append(_finding(policy.name, enforcement, message, subject, VIOLATION))

    try:
        result = policy.validate(args, report_violation)
        if inspect.isawaitable(result):
            asyncio.run(_await(result))
    except UnknownValueError as exc:
        findings.append(_finding(policy.name, ADVISORY, exc.message, planned, CHECKED_AT_UPDATE))
    except _NotApplicableError:
        pass
    except Exception as exc:
        # Fail closed: a policy that crashes is a mandatory failure, not a pass.
        _logger.debug("policy %s raised", policy.name, exc_info=True)
        message = (
            f"policy {policy.name} failed with {type(exc).__name__} and could not check the "
            "plan; fix the policy or the resource it tripped on."
        )
        findings.append(_finding(policy.name, MANDATORY, message, planned, VIOLATION))
    return findings


async def _await(result: Any) -> None:
    await result


def _finding(
    policy: str,
    enforcement: EnforcementName,
    message: str,
    subject: PlannedResource | None,
    status: FindingStatus,
) -> Finding:
    return Finding(
        policy=policy,
        enforcement=enforcement,
        message=message,
        urn=subject.urn if subject is not None else None,
        resource_type=subject.type if subject is not None else None,
        resource_name=subject.name if subject is not None else None,
        status=status,
    )


__all__ = ["evaluate_plan", "pack_config_for_plan", "raise_on_blocking"]
