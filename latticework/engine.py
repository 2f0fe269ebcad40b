"""The one seam between latticework's commands and whatever runs the Pulumi program.

Two engines meet here: the offline engine (`OfflineEngine`: the program under the SDK's mock
monitor plus the policy pack evaluated in process; no cloud, no pulumi CLI) and the
Automation API engine (`latticework.automation.AutomationEngine`: the real pulumi CLI with
the local policy pack attached). Rollouts and the deploy commands only see `Engine` and the
frozen values below, so a scripted engine can stand in for either in tests.

The offline engine can plan but never deploy: its `up` and `outputs` raise `UsageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from latticework.errors import UsageError

if TYPE_CHECKING:
    from latticework.findings import PolicyReport
    from latticework.plan import Plan

#: Pulumi step operations that remove the existing cloud object.
DESTRUCTIVE_OPERATIONS = frozenset({"delete", "replace", "create-replacement", "delete-replaced"})
#: Pulumi step operations that change nothing; never counted as a change.
_NO_CHANGE_OPERATIONS = frozenset({"same", "read", "refresh"})

MASKED = "[secret]"


class Operation(StrEnum):
    """What an engine was asked to do."""

    PREVIEW = "preview"
    UP = "up"
    DESTROY = "destroy"
    REFRESH = "refresh"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """One resource step an engine planned or performed (Pulumi's step `op`)."""

    urn: str
    resource_type: str
    operation: str

    @property
    def name(self) -> str:
        """The resource's logical name, the last part of its URN."""
        return self.urn.rsplit("::", 1)[-1]

    @property
    def is_change(self) -> bool:
        """Whether the step changes anything at all."""
        return self.operation not in _NO_CHANGE_OPERATIONS

    @property
    def is_destructive(self) -> bool:
        """Whether the step deletes or replaces the existing cloud object."""
        return self.operation in DESTRUCTIVE_OPERATIONS


@dataclass(frozen=True, slots=True)
class PolicyFinding:
    """One policy result: which policy, how strictly enforced, on what, and the fix."""

    policy_name: str
    enforcement_level: str
    message: str
    resource_urn: str | None = None

    @property
    def is_mandatory(self) -> bool:
        """Whether this finding blocks a deployment."""
        return self.enforcement_level == "mandatory"


@dataclass(frozen=True, slots=True)
class StackOutput:
    """A stack output; a secret output's value never shows in its repr or its display."""

    value: Any = field(repr=False)
    secret: bool = False

    def display(self) -> Any:
        """The value to print or serialise: the real value, or a mask for a secret."""
        return MASKED if self.secret else self.value

    def __repr__(self) -> str:
        shown = MASKED if self.secret else repr(self.value)
        return f"StackOutput({shown}, secret={self.secret})"


@dataclass(frozen=True, slots=True)
class EngineResult:
    """What one engine operation on one environment planned or did."""

    environment: str
    operation: Operation
    changes: tuple[ResourceChange, ...] = ()
    findings: tuple[PolicyFinding, ...] = ()
    outputs: Mapping[str, StackOutput] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "outputs", MappingProxyType(dict(self.outputs)))

    @property
    def mandatory_findings(self) -> tuple[PolicyFinding, ...]:
        """The findings that block a deployment."""
        return tuple(finding for finding in self.findings if finding.is_mandatory)

    def change_counts(self) -> dict[str, int]:
        """How many resources each operation touches, unchanged ones included, sorted."""
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.operation] = counts.get(change.operation, 0) + 1
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary; secret outputs are masked."""
        return {
            "environment": self.environment,
            "operation": self.operation.value,
            "changes": self.change_counts(),
            "resources": [
                {"urn": c.urn, "type": c.resource_type, "operation": c.operation}
                for c in self.changes
                if c.is_change
            ],
            "findings": [
                {
                    "policy": f.policy_name,
                    "enforcementLevel": f.enforcement_level,
                    "message": f.message,
                    "resource": f.resource_urn,
                }
                for f in self.findings
            ],
            "outputs": {name: output.display() for name, output in sorted(self.outputs.items())},
        }


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """A line of live progress: a resource step starting, finishing or failing, or a message.

    `kind` is one of `step`, `done`, `failed`, `diagnostic`, `policy`.
    """

    kind: str
    message: str
    urn: str | None = None


ProgressListener = Callable[[ProgressEvent], None]


def ignore_progress(event: ProgressEvent) -> None:
    """A progress listener that drops every event."""
    del event


class Engine(Protocol):
    """Runs the Pulumi program for one environment: plan it, deploy it, read its outputs."""

    def preview(self, environment: str) -> EngineResult:
        """Plan the environment and evaluate the policy pack; deploy nothing."""
        ...

    def up(self, environment: str) -> EngineResult:
        """Deploy the environment with the policy pack attached."""
        ...

    def outputs(self, environment: str) -> Mapping[str, StackOutput]:
        """The environment's current stack outputs."""
        ...


# The offline engine and the policy evaluation are imported when the offline engine first
# runs, so that importing this seam stays cheap for the commands that never plan offline.
PlanFunction = Callable[..., "Plan"]


class OfflineEngine:
    """The offline engine: `latticework.offline.plan_environment` plus the policy pack.

    `preview` runs the program under the SDK's mock monitor and evaluates the same policy
    objects the real engine loads; every planned resource counts as a `create` because there
    is no state to compare against. It cannot deploy.
    """

    def __init__(
        self,
        project_dir: Path,
        *,
        services_file: Path | None = None,
        plan_function: PlanFunction | None = None,
        evaluate_function: Callable[[Plan], PolicyReport] | None = None,
    ) -> None:
        self._project_dir = project_dir
        self._services_file = services_file
        self._plan_function = plan_function
        self._evaluate_function = evaluate_function

    def preview(self, environment: str) -> EngineResult:
        plan = self._plan(environment)
        findings = self._evaluate(plan)
        changes = tuple(
            ResourceChange(urn=resource.urn, resource_type=resource.type, operation="create")
            for resource in plan.resources
        )
        outputs = {
            name: StackOutput(value, secret=value == MASKED)
            for name, value in plan.stack_outputs.items()
        }
        return EngineResult(
            environment=environment,
            operation=Operation.PREVIEW,
            changes=changes,
            findings=findings,
            outputs=outputs,
        )

    def up(self, environment: str) -> EngineResult:
        message = (
            f"the offline engine cannot deploy {environment!r}: it plans without a cloud "
            "account. Run without --offline, with the pulumi CLI and cloud credentials."
        )
        raise UsageError(message)

    def outputs(self, environment: str) -> Mapping[str, StackOutput]:
        message = (
            f"the offline engine has no stack outputs for {environment!r}: nothing is "
            "deployed offline. Run without --offline to read real outputs."
        )
        raise UsageError(message)

    def _plan(self, environment: str) -> Plan:
        plan_function = self._plan_function
        if plan_function is None:
            from latticework.offline import plan_environment

            plan_function = plan_environment
        return plan_function(
            environment, project_dir=self._project_dir, services_file=self._services_file
        )

    def _evaluate(self, plan: Plan) -> tuple[PolicyFinding, ...]:
        evaluate = self._evaluate_function
        if evaluate is None:
            from latticework.policy_eval import evaluate_plan

            evaluate = evaluate_plan
        report: PolicyReport = evaluate(plan)
        return tuple(
            PolicyFinding(
                policy_name=finding.policy,
                # A check that can only run at update is advisory, as in a real preview.
                enforcement_level="mandatory" if finding.is_blocking else "advisory",
                message=finding.message,
                resource_urn=finding.urn,
            )
            for finding in report.findings
        )


__all__ = [
    "DESTRUCTIVE_OPERATIONS",
    "MASKED",
    "Engine",
    "EngineResult",
    "OfflineEngine",
    "Operation",
    "PolicyFinding",
    "ProgressEvent",
    "ProgressListener",
    "ResourceChange",
    "StackOutput",
    "ignore_progress",
]
