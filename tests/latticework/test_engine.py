"""The engine seam: result values, and the offline engine over the real offline plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from latticework.engine import (
    MASKED,
    EngineResult,
    OfflineEngine,
    Operation,
    PolicyFinding,
    ResourceChange,
    StackOutput,
)
from latticework.errors import UsageError
from latticework.rollout import (
    HealthCheck,
    Rollout,
    RolloutIdentity,
    RolloutRequest,
    RolloutStateStore,
    RolloutStatus,
)
from latticework.rollout._runner import GateReport

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev_preview() -> EngineResult:
    """The offline engine's preview of the sample dev environment, planned once."""
    return OfflineEngine(PROJECT_DIR).preview("dev")


def test_secret_output_is_masked_in_repr_and_display() -> None:
    """A secret stack output shows as a mask in its repr, its display and the JSON summary."""
    output = StackOutput("p4ssw0rd-value", secret=True)
    result = EngineResult("dev", Operation.UP, outputs={"dbPassword": output})

    assert "p4ssw0rd-value" not in repr(output)
    assert output.display() == MASKED
    assert result.to_json()["outputs"] == {"dbPassword": MASKED}
    assert "p4ssw0rd-value" not in repr(result)


def test_change_counts_and_destructive_steps() -> None:
    """Counts are per operation; only deletes and replacements are destructive."""
    changes = (
        ResourceChange("urn:a::t::x", "t", "create"),
        ResourceChange("urn:a::t::y", "t", "replace"),
        ResourceChange("urn:a::t::z", "t", "same"),
    )
    result = EngineResult("dev", Operation.PREVIEW, changes=changes)

    assert result.change_counts() == {"create": 1, "replace": 1, "same": 1}
    assert [change.name for change in changes if change.is_destructive] == ["y"]
    assert [c["urn"] for c in result.to_json()["resources"]] == ["urn:a::t::x", "urn:a::t::y"]


def test_mandatory_findings_are_picked_out() -> None:
    """Only mandatory findings block."""
    findings = (
        PolicyFinding("a", "mandatory", "fix a"),
        PolicyFinding("b", "advisory", "fix b"),
    )

    result = EngineResult("dev", Operation.PREVIEW, findings=findings)

    assert [finding.policy_name for finding in result.mandatory_findings] == ["a"]


def test_offline_preview_plans_every_resource_as_a_create(dev_preview: EngineResult) -> None:
    """The offline preview of dev creates every planned resource, Lattice services included."""
    operations = {change.operation for change in dev_preview.changes}
    types = {change.resource_type for change in dev_preview.changes}

    assert operations == {"create"}
    assert "aws:vpclattice/service:Service" in types
    assert dev_preview.operation is Operation.PREVIEW


def test_offline_preview_of_the_sample_is_clean_and_has_outputs(dev_preview: EngineResult) -> None:
    """The sample dev stack passes the pack and exports the outputs gate 4 will expect."""
    assert dev_preview.mandatory_findings == ()
    assert {"serviceNetworkId", "policyStoreId", "clusterName"} <= set(dev_preview.outputs)


def test_offline_engine_refuses_to_deploy() -> None:
    """The offline engine cannot deploy or read outputs, and says to drop --offline."""
    engine = OfflineEngine(PROJECT_DIR)

    with pytest.raises(UsageError, match=r"cannot deploy 'dev'.*without --offline"):
        engine.up("dev")
    with pytest.raises(UsageError, match="no stack outputs"):
        engine.outputs("dev")


def test_offline_rollout_with_the_real_offline_engine(tmp_path: Path) -> None:
    """`rollout --offline` plans dev and staging with the real offline engine and passes gate 1."""
    reports: list[GateReport] = []
    rollout = Rollout(
        plan_engine=OfflineEngine(PROJECT_DIR),
        deploy_engine=None,
        settings=lambda env: pytest.fail("an offline rollout reads no approval settings"),
        store=RolloutStateStore(tmp_path / "rollout.json"),
        approver=lambda env, preview: pytest.fail("an offline rollout asks no one"),
        report=reports.append,
        health_check=HealthCheck(attempts=1),
    )

    state = rollout.run(
        RolloutRequest(environments=("dev", "staging"), offline=True),
        RolloutIdentity(commit="c" * 40, catalog_digest="d" * 64),
    )

    assert state.status is RolloutStatus.DONE
    assert [(r.environment, r.outcome) for r in reports if r.outcome != "started"] == [
        ("dev", "passed"),
        ("staging", "passed"),
    ]
