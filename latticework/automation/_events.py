"""Turn the Pulumi engine's event stream into live progress and a result.

The Automation API calls `EventCollector.handle` once per `EngineEvent` while the CLI runs.
The collector forwards a short `ProgressEvent` per resource step, diagnostic and policy
result, and keeps what the closing summary needs: the resource steps and the policy
findings, plus the error diagnostics that explain a failure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from pulumi.automation import events

from latticework.engine import (
    EngineResult,
    Operation,
    PolicyFinding,
    ProgressEvent,
    ProgressListener,
    ResourceChange,
    StackOutput,
)

logger = logging.getLogger(__name__)

# Steps that only exist to carry bookkeeping; they never show as progress.
_QUIET_TYPES = frozenset({"pulumi:pulumi:Stack"})
# The event log keeps the CLI's colour directives (`<{%fg 1%}>`, `<{%reset%}>`) in messages.
_COLOUR_DIRECTIVE = re.compile(r"<\{%[^%]*%\}>")


class EventCollector:
    """Collects one operation's engine events for one environment."""

    def __init__(
        self, environment: str, operation: Operation, on_progress: ProgressListener
    ) -> None:
        self._environment = environment
        self._operation = operation
        self._on_progress = on_progress
        self._changes: dict[str, ResourceChange] = {}
        self._findings: list[PolicyFinding] = []
        self._errors: list[str] = []

    @property
    def findings(self) -> tuple[PolicyFinding, ...]:
        """The policy findings seen so far."""
        return tuple(self._findings)

    @property
    def errors(self) -> tuple[str, ...]:
        """The error diagnostics seen so far, first line of each."""
        return tuple(self._errors)

    def handle(self, event: events.EngineEvent) -> None:
        """Record one engine event and forward it as progress."""
        if event.resource_pre_event is not None:
            self._on_step(event.resource_pre_event.metadata, started=True)
        elif event.res_outputs_event is not None:
            self._on_step(event.res_outputs_event.metadata, started=False)
        elif event.res_op_failed_event is not None:
            self._on_failed(event.res_op_failed_event.metadata)
        elif event.policy_event is not None:
            self._on_policy(event.policy_event)
        elif event.diagnostic_event is not None:
            self._on_diagnostic(event.diagnostic_event)

    def result(self, outputs: Mapping[str, StackOutput] | None = None) -> EngineResult:
        """The operation's result from what was collected."""
        return EngineResult(
            environment=self._environment,
            operation=self._operation,
            changes=tuple(self._changes.values()),
            findings=tuple(self._findings),
            outputs=outputs or {},
        )

    def _on_step(self, metadata: events.StepEventMetadata, *, started: bool) -> None:
        operation = _op_name(metadata.op)
        if operation == "refresh":
            if started:
                # What a refresh step found is only known once it has read the resource.
                return
            operation = _refresh_outcome(metadata)
        self._changes[metadata.urn] = ResourceChange(
            urn=metadata.urn, resource_type=metadata.type, operation=operation
        )
        if metadata.type in _QUIET_TYPES or operation == "same":
            return

        name = metadata.urn.rsplit("::", 1)[-1]
        verb = operation if started else f"{operation} done"
        self._on_progress(
            ProgressEvent(
                kind="step" if started else "done",
                message=f"{verb}: {metadata.type} {name}",
                urn=metadata.urn,
            )
        )

    def _on_failed(self, metadata: events.StepEventMetadata) -> None:
        name = metadata.urn.rsplit("::", 1)[-1]
        message = f"{_op_name(metadata.op)} failed: {metadata.type} {name}"
        self._on_progress(ProgressEvent(kind="failed", message=message, urn=metadata.urn))

    def _on_policy(self, policy: events.PolicyEvent) -> None:
        finding = PolicyFinding(
            policy_name=policy.policy_name,
            enforcement_level=policy.enforcement_level,
            message=_plain(policy.message),
            resource_urn=policy.resource_urn,
        )
        self._findings.append(finding)
        message = f"[{finding.enforcement_level}] {finding.policy_name}: {_first_line(policy)}"
        self._on_progress(ProgressEvent(kind="policy", message=message, urn=policy.resource_urn))

    def _on_diagnostic(self, diagnostic: events.DiagnosticEvent) -> None:
        if diagnostic.severity not in {"error", "warning"}:
            logger.debug("engine %s: %s", diagnostic.severity, _plain(diagnostic.message))
            return

        text = _plain(diagnostic.message)
        line = text.splitlines()[0] if text else ""
        if diagnostic.severity == "error":
            self._errors.append(line)
        self._on_progress(
            ProgressEvent(
                kind="diagnostic", message=f"{diagnostic.severity}: {line}", urn=diagnostic.urn
            )
        )


def _op_name(op: events.OpType | str) -> str:
    return op.value if isinstance(op, events.OpType) else str(op)


def _refresh_outcome(metadata: events.StepEventMetadata) -> str:
    # NOTE: a refresh step always says `refresh`; what it found is read from its states the
    # way the engine's own summary does: gone from the cloud, changed, or unchanged.
    if metadata.old is not None and metadata.new is None:
        return "delete"
    old, new = metadata.old, metadata.new
    if metadata.diffs or (old is not None and new is not None and old.outputs != new.outputs):
        return "update"
    return "same"


def _plain(message: str) -> str:
    return _COLOUR_DIRECTIVE.sub("", message).strip()


def _first_line(policy: events.PolicyEvent) -> str:
    text = _plain(policy.message)
    return text.splitlines()[0] if text else policy.policy_name


__all__ = ["EventCollector"]
