"""Walk environments in order through the gates, saving progress after every step.

Per environment:

1. gate 1, plan: the offline plan and the policy pack; a mandatory finding stops;
2. gate 2, preview: a real preview with the pack attached; a mandatory violation stops, and
   so does a replace or delete of a protected resource type unless `allow_replace`;
3. gate 3, approval: when the stack settings require it; `assume_yes` approves, otherwise
   someone at a terminal must, and with no terminal the gate stops;
4. `up`;
5. gate 4, verify: the program's exported outputs are all present, health URLs answer 2xx.

A failure stops before any later environment. The state is saved after each step, and on a
failure or Ctrl-C with the step that stopped, so `resume` continues at that step; it refuses
when the commit or the catalog digest differ from those the rollout started with. Before
each step (the first of an environment included) the rollout calls `raise_if_interrupted`,
so that a Ctrl-C its caller noticed but could not raise (one lost in a finalizer) stops the
rollout there as a Ctrl-C during that step would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from components.errors import SpecError
from components.spec import RolloutSettings
from latticework.engine import Engine, EngineResult, StackOutput
from latticework.errors import GateFailedError, LatticeworkError, PolicyViolationError, UsageError
from latticework.rollout._identity import short_commit
from latticework.rollout._state import (
    RolloutIdentity,
    RolloutState,
    RolloutStateStore,
    RolloutStatus,
    Step,
)
from latticework.rollout._verification import HealthCheck, missing_outputs, protected_changes


class Approver(Protocol):
    """Asks a person whether to deploy `environment`; `preview` is None after a resume."""

    def __call__(self, environment: str, preview: EngineResult | None) -> bool: ...


@dataclass(frozen=True, slots=True)
class GateReport:
    """One line of rollout progress: a step of an environment and how it went.

    `outcome` is one of `started`, `passed`, `skipped`, `failed`, `interrupted`.
    """

    environment: str
    step: Step
    outcome: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RolloutRequest:
    """What to roll out and how.

    `environments` is None only with `resume`, meaning "the saved rollout's environments".
    `interactive` says whether a person can be asked for approval (a terminal is attached).
    """

    environments: tuple[str, ...] | None
    offline: bool = False
    assume_yes: bool = False
    allow_replace: bool = False
    interactive: bool = False
    resume: bool = False


@dataclass(slots=True)
class _EnvironmentRun:
    """What the steps of one environment hand to the later ones."""

    plan: EngineResult | None = None
    preview: EngineResult | None = None
    outputs: dict[str, StackOutput] | None = None


def _ignore_report(report: GateReport) -> None:
    del report


def _never_interrupted() -> None:
    """Stop no rollout: without a CLI around it, a Ctrl-C raises where it lands."""


@dataclass(kw_only=True)
class Rollout:
    """The rollout of one project: engines, settings, state and how to ask and report.

    `raise_if_interrupted` runs before each step and raises `KeyboardInterrupt` to stop the
    rollout there (the CLI's raises a Ctrl-C that was lost in a finalizer).
    """

    plan_engine: Engine
    deploy_engine: Engine | None
    settings: Callable[[str], RolloutSettings]
    store: RolloutStateStore
    approver: Approver
    report: Callable[[GateReport], None] = _ignore_report
    health_check: HealthCheck = field(default_factory=HealthCheck)
    raise_if_interrupted: Callable[[], None] = _never_interrupted

    def run(self, request: RolloutRequest, identity: RolloutIdentity) -> RolloutState:
        """Run (or resume) the rollout; returns the final state, raises on a stop."""
        if not request.offline and self.deploy_engine is None:
            message = "a rollout that deploys needs the Automation API engine; use --offline"
            raise UsageError(message)

        with self.store.held():
            state = (
                self._resumed(request, identity)
                if request.resume
                else self._fresh(request, identity)
            )

            env_index, step_index = state.next_position()
            for environment in state.environments[env_index:]:
                run = _EnvironmentRun()
                for step in state.steps[step_index:]:
                    state = self._step(state, request, environment, step, run)
                step_index = 0

            state = replace(state, status=RolloutStatus.DONE, failure=None)
            self.store.save(state)
        return state

    # --- starting and resuming -----------------------------------------------------------

    def _fresh(self, request: RolloutRequest, identity: RolloutIdentity) -> RolloutState:
        if not request.environments:
            raise UsageError("a rollout needs at least one environment: pass --envs or --to")

        state = RolloutState(
            environments=request.environments,
            offline=request.offline,
            identity=identity,
            environment=request.environments[0],
            completed_step=None,
            status=RolloutStatus.RUNNING,
        )
        self.store.save(state)
        return state

    def _resumed(self, request: RolloutRequest, identity: RolloutIdentity) -> RolloutState:
        saved = self.store.load()
        if saved is None:
            message = (
                f"nothing to resume: no rollout state at {self.store.path}. Start a rollout "
                "without --resume"
            )
            raise UsageError(message)
        if saved.status is RolloutStatus.DONE:
            message = (
                f"nothing to resume: the rollout of {', '.join(saved.environments)} finished. "
                "Start a new rollout without --resume"
            )
            raise UsageError(message)
        if request.environments is not None and request.environments != saved.environments:
            message = (
                f"cannot resume: the saved rollout covers {', '.join(saved.environments)}, not "
                f"{', '.join(request.environments)}. Drop --envs/--to to resume it, or start a "
                "new rollout without --resume"
            )
            raise UsageError(message)
        if request.offline != saved.offline:
            # Only a state file written before offline rollouts had their own, or moved by
            # hand, holds the other kind of rollout.
            kinds = ("an --offline", "a deploying")
            saved_kind, wanted = kinds if saved.offline else kinds[::-1]
            message = (
                f"cannot resume: {self.store.path} holds {saved_kind} rollout, and "
                f"{wanted} one cannot continue it. Start a new rollout without --resume"
            )
            raise UsageError(message)

        _refuse_changed_identity(saved.identity, identity)
        return replace(saved, status=RolloutStatus.RUNNING, failure=None)

    # --- one step ------------------------------------------------------------------------

    def _step(
        self,
        state: RolloutState,
        request: RolloutRequest,
        environment: str,
        step: Step,
        run: _EnvironmentRun,
    ) -> RolloutState:
        self.report(GateReport(environment, step, "started"))
        try:
            self.raise_if_interrupted()
            detail, skipped = self._execute(request, environment, step, run)
        except KeyboardInterrupt:
            self.store.save(replace(state, status=RolloutStatus.INTERRUPTED, failure=None))
            flags = "--offline --resume" if request.offline else "--resume"
            self.report(GateReport(environment, step, "interrupted", f"resume with {flags}"))
            raise
        except (LatticeworkError, SpecError) as exc:
            self.store.save(replace(state, status=RolloutStatus.FAILED, failure=str(exc)))
            self.report(GateReport(environment, step, "failed", str(exc)))
            raise
        except Exception as exc:
            # A bug: keep the position so the rollout can resume once it is fixed, but record
            # only the kind of error, whose text was never vetted for secrets.
            failure = f"unexpected {type(exc).__name__}"
            self.store.save(replace(state, status=RolloutStatus.FAILED, failure=failure))
            self.report(GateReport(environment, step, "failed", failure))
            raise

        state = state.completed(environment, step)
        self.store.save(state)
        self.report(GateReport(environment, step, "skipped" if skipped else "passed", detail))
        return state

    def _execute(
        self, request: RolloutRequest, environment: str, step: Step, run: _EnvironmentRun
    ) -> tuple[str, bool]:
        if step is Step.PLAN:
            return self._plan_gate(environment, run), False
        if step is Step.PREVIEW:
            return self._preview_gate(request, environment, run), False
        if step is Step.APPROVAL:
            return self._approval_gate(request, environment, run)
        if step is Step.UP:
            return self._up(environment, run), False
        return self._verify_gate(environment, run), False

    def _plan_gate(self, environment: str, run: _EnvironmentRun) -> str:
        run.plan = self.plan_engine.preview(environment)
        _stop_on_mandatory(environment, Step.PLAN, run.plan)
        return _summary(run.plan)

    def _preview_gate(self, request: RolloutRequest, environment: str, run: _EnvironmentRun) -> str:
        try:
            run.preview = self._deployer().preview(environment)
        except PolicyViolationError as exc:
            raise GateFailedError(f"{Step.PREVIEW.label} stopped {environment}: {exc}") from exc
        _stop_on_mandatory(environment, Step.PREVIEW, run.preview)

        destructive = protected_changes(run.preview)
        if destructive and not request.allow_replace:
            shown = ", ".join(
                f"{change.operation} {change.resource_type} {change.name}"
                for change in destructive[:5]
            )
            message = (
                f"{Step.PREVIEW.label} stopped {environment}: the preview would {shown}"
                f"{', ...' if len(destructive) > 5 else ''}; these resources are protected. "
                "Change the program so they are kept, or re-run with --allow-replace if the "
                "loss is intended"
            )
            raise GateFailedError(message)
        return _summary(run.preview)

    def _approval_gate(
        self, request: RolloutRequest, environment: str, run: _EnvironmentRun
    ) -> tuple[str, bool]:
        if not self.settings(environment).require_approval:
            return "not required by the stack settings", True
        if request.assume_yes:
            return "approved by --yes", False
        if not request.interactive:
            message = (
                f"{Step.APPROVAL.label} stopped {environment}: its stack settings require "
                "approval (rollout.requireApproval) and there is no terminal to ask. Re-run "
                "with --yes to approve, e.g. from a protected CI job"
            )
            raise GateFailedError(message)
        if not self.approver(environment, run.preview):
            raise GateFailedError(f"{Step.APPROVAL.label}: deployment of {environment} declined")
        return "approved", False

    def _up(self, environment: str, run: _EnvironmentRun) -> str:
        result = self._deployer().up(environment)
        run.outputs = dict(result.outputs)
        return _summary(result)

    def _verify_gate(self, environment: str, run: _EnvironmentRun) -> str:
        if run.plan is None:
            # Resumed after gate 1: the offline plan is cheap and deterministic, plan again.
            run.plan = self.plan_engine.preview(environment)
        outputs = run.outputs
        if outputs is None:
            outputs = dict(self._deployer().outputs(environment))

        problems = [
            f"output {name!r} missing" for name in missing_outputs(run.plan.outputs, outputs)
        ]
        health_urls = self.settings(environment).health_urls
        problems += self.health_check.problems(health_urls)
        if problems:
            message = f"{Step.VERIFY.label} failed for {environment}: " + "; ".join(problems)
            raise GateFailedError(message)
        return f"{len(run.plan.outputs)} output(s) present, {len(health_urls)} health URL(s) OK"

    def _deployer(self) -> Engine:
        if self.deploy_engine is None:
            raise UsageError("this rollout is --offline: it cannot preview or deploy")
        return self.deploy_engine


def _stop_on_mandatory(environment: str, step: Step, result: EngineResult) -> None:
    mandatory = result.mandatory_findings
    if not mandatory:
        return

    shown = ", ".join(
        f"{finding.policy_name} ({(finding.resource_urn or 'stack').rsplit('::', 1)[-1]})"
        for finding in mandatory[:5]
    )
    message = (
        f"{step.label} stopped {environment}: {len(mandatory)} mandatory policy violation(s): "
        f"{shown}{', ...' if len(mandatory) > 5 else ''}. See `latticework check --env "
        f"{environment}` for the fixes"
    )
    raise GateFailedError(message)


def _refuse_changed_identity(saved: RolloutIdentity, current: RolloutIdentity) -> None:
    if saved.commit != current.commit:
        message = (
            f"cannot resume: the rollout started at commit {short_commit(saved.commit)} but "
            f"the checkout is at {short_commit(current.commit)}; the earlier environments were "
            "not deployed from this commit. Check out the original commit to resume, or start a "
            "new rollout without --resume"
        )
        raise UsageError(message)
    if saved.catalog_digest != current.catalog_digest:
        message = (
            "cannot resume: stacks/services.yaml or a stack file changed since the rollout "
            f"started (digest {saved.catalog_digest[:12]}, now {current.catalog_digest[:12]}). "
            "Restore them to resume, or start a new rollout without --resume"
        )
        raise UsageError(message)


def _summary(result: EngineResult) -> str:
    counts = {op: n for op, n in result.change_counts().items() if op != "same"}
    changes = ", ".join(f"{n} {op}" for op, n in counts.items()) or "no changes"
    findings = len(result.findings)
    return f"{changes}; {findings} policy finding(s)" if findings else changes


__all__ = ["Approver", "GateReport", "Rollout", "RolloutRequest"]
