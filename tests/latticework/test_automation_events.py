"""Engine events, shaped as the pulumi CLI writes them to its event log, become progress."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.automation.events import EngineEvent

from latticework.automation import EventCollector
from latticework.engine import Operation, ProgressEvent

STACK_URN = "urn:pulumi:dev::latticework::pulumi:pulumi:Stack::latticework-dev"
SERVICE_URN = (
    "urn:pulumi:dev::latticework::latticework:index:MeshService$aws:vpclattice/service:Service"
    "::orders-lattice-service"
)
SECRET_URN = "urn:pulumi:dev::latticework::aws:secretsmanager/secret:Secret::payments-database"


def _step(op: str, urn: str, resource_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "op": op,
        "urn": urn,
        "type": resource_type,
        "provider": "urn:pulumi:dev::latticework::pulumi:providers:aws::default_7_51_1::id",
        **extra,
    }


def _event(sequence: int, **payload: Any) -> EngineEvent:
    return EngineEvent.from_json({"sequence": sequence, "timestamp": 1_780_000_000, **payload})


# One preview as the CLI emits it: prelude, stack and resource steps, a policy violation,
# an error diagnostic and the closing summary.
PREVIEW_EVENTS = [
    _event(0, preludeEvent={"config": {"aws:region": "eu-west-1"}}),
    _event(
        1,
        resourcePreEvent={
            "metadata": _step("create", STACK_URN, "pulumi:pulumi:Stack"),
            "planning": True,
        },
    ),
    _event(
        2,
        resourcePreEvent={
            "metadata": _step("create", SERVICE_URN, "aws:vpclattice/service:Service"),
            "planning": True,
        },
    ),
    _event(
        3,
        resOutputsEvent={
            "metadata": _step("create", SERVICE_URN, "aws:vpclattice/service:Service"),
            "planning": True,
        },
    ),
    _event(
        4,
        resourcePreEvent={
            "metadata": _step("same", SECRET_URN, "aws:secretsmanager/secret:Secret"),
            "planning": True,
        },
    ),
    _event(
        5,
        policyEvent={
            "resourceUrn": SERVICE_URN,
            "message": "<{%reset%}>Set auth_type to AWS_IAM on orders-lattice-service.\n"
            "The AWS default NONE lets anyone in the VPC call it.<{%reset%}>",
            "color": "raw",
            "policyName": "lattice-auth-type-iam",
            "policyPackName": "latticework-guardrails",
            "policyPackVersion": "0.1.0",
            "policyPackVersionTag": "0.1.0",
            "enforcementLevel": "mandatory",
        },
    ),
    _event(
        6,
        diagnosticEvent={
            "urn": STACK_URN,
            "prefix": "error: ",
            "message": "<{%reset%}>preview failed<{%reset%}>\n",
            "color": "raw",
            "severity": "error",
        },
    ),
    _event(
        7,
        diagnosticEvent={
            "message": "debug: registering resource\n",
            "color": "raw",
            "severity": "debug",
        },
    ),
    _event(
        8,
        summaryEvent={
            "maybeCorrupt": False,
            "durationSeconds": 3,
            "resourceChanges": {"create": 2, "same": 1},
            "PolicyPacks": {"latticework-guardrails": "0.1.0"},
        },
    ),
    _event(9, cancelEvent={}),
]


@pytest.fixture
def progress() -> list[ProgressEvent]:
    """The progress events a collector forwarded."""
    return []


def _collect(events: list[EngineEvent], progress: list[ProgressEvent]) -> EventCollector:
    collector = EventCollector("dev", Operation.PREVIEW, progress.append)
    for event in events:
        collector.handle(event)
    return collector


def test_resource_steps_become_changes(progress: list[ProgressEvent]) -> None:
    """Every resource step is recorded with its URN, type and operation."""
    collector = _collect(PREVIEW_EVENTS, progress)

    result = collector.result()

    assert result.change_counts() == {"create": 2, "same": 1}
    service = next(change for change in result.changes if change.urn == SERVICE_URN)
    assert (service.resource_type, service.operation, service.name) == (
        "aws:vpclattice/service:Service",
        "create",
        "orders-lattice-service",
    )


def test_policy_event_becomes_a_finding_without_colour_directives(
    progress: list[ProgressEvent],
) -> None:
    """A policy event becomes a mandatory finding on its resource, colour markup removed."""
    collector = _collect(PREVIEW_EVENTS, progress)

    (finding,) = collector.result().findings

    assert finding.policy_name == "lattice-auth-type-iam"
    assert finding.is_mandatory
    assert finding.resource_urn == SERVICE_URN
    assert finding.message.startswith("Set auth_type to AWS_IAM")
    assert "<{%" not in finding.message


def test_progress_shows_steps_policies_and_errors_only(progress: list[ProgressEvent]) -> None:
    """Progress has the service's steps, the policy and the error; not the stack or `same`."""
    _collect(PREVIEW_EVENTS, progress)

    assert [(event.kind, event.message) for event in progress] == [
        ("step", "create: aws:vpclattice/service:Service orders-lattice-service"),
        ("done", "create done: aws:vpclattice/service:Service orders-lattice-service"),
        (
            "policy",
            "[mandatory] lattice-auth-type-iam: Set auth_type to AWS_IAM on "
            "orders-lattice-service.",
        ),
        ("diagnostic", "error: preview failed"),
    ]


def test_error_diagnostics_are_kept(progress: list[ProgressEvent]) -> None:
    """The first line of each error diagnostic is kept to explain a failure."""
    collector = _collect(PREVIEW_EVENTS, progress)

    assert collector.errors == ("preview failed",)


def test_failed_operation_is_reported(progress: list[ProgressEvent]) -> None:
    """A failed resource operation is forwarded as a `failed` progress event."""
    failed = _event(
        1,
        resOpFailedEvent={
            "metadata": _step("update", SECRET_URN, "aws:secretsmanager/secret:Secret"),
            "status": 1,
            "steps": 1,
        },
    )

    _collect([failed], progress)

    assert progress == [
        ProgressEvent(
            kind="failed",
            message="update failed: aws:secretsmanager/secret:Secret payments-database",
            urn=SECRET_URN,
        )
    ]


@pytest.mark.parametrize(
    ("old", "new", "diffs", "outcome"),
    [
        ({"type": "t", "urn": SECRET_URN}, None, None, "delete"),
        ({"type": "t", "urn": SECRET_URN}, {"type": "t", "urn": SECRET_URN}, ["tags"], "update"),
        ({"type": "t", "urn": SECRET_URN}, {"type": "t", "urn": SECRET_URN}, [], "same"),
    ],
)
def test_refresh_steps_say_what_drifted(
    progress: list[ProgressEvent],
    old: dict[str, Any],
    new: dict[str, Any] | None,
    diffs: list[str] | None,
    outcome: str,
) -> None:
    """A refresh step reads as delete (gone), update (changed) or same (no drift)."""
    metadata = _step("refresh", SECRET_URN, "aws:secretsmanager/secret:Secret", old=old, new=new)
    metadata["diffs"] = diffs

    collector = _collect([_event(1, resOutputsEvent={"metadata": metadata})], progress)

    assert [change.operation for change in collector.result().changes] == [outcome]


def test_refresh_step_shows_no_outcome_before_it_has_read_the_resource(
    progress: list[ProgressEvent],
) -> None:
    """A refresh pre-event has no new state yet; it is neither a change nor a `delete` line."""
    old = {"type": "aws:secretsmanager/secret:Secret", "urn": SECRET_URN, "outputs": {"a": 1}}
    metadata = _step("refresh", SECRET_URN, "aws:secretsmanager/secret:Secret", old=old)

    collector = _collect([_event(1, resourcePreEvent={"metadata": metadata})], progress)

    assert [change for change in collector.result().changes if change.is_change] == []
    assert [event.message for event in progress if "delete" in event.message] == []


def test_refresh_step_with_changed_outputs_but_no_diffs_is_an_update(
    progress: list[ProgressEvent],
) -> None:
    """A refreshed resource whose outputs differ is drift even when the step lists no diffs."""
    resource_type = "aws:secretsmanager/secret:Secret"
    old = {"type": resource_type, "urn": SECRET_URN, "outputs": {"description": "a"}}
    new = {"type": resource_type, "urn": SECRET_URN, "outputs": {"description": "b"}}
    metadata = _step("refresh", SECRET_URN, resource_type, old=old, new=new)

    collector = _collect([_event(1, resOutputsEvent={"metadata": metadata})], progress)

    assert [change.operation for change in collector.result().changes] == ["update"]
