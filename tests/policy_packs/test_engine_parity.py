"""The pack behind pulumi-policy's own analyzer servicer gives the offline findings.

The servicer is what `PolicyPack` serves to the Pulumi engine over gRPC; constructing it
directly starts no server. Each test feeds it the requests the engine would send for a plan
(protobuf structs, property dependencies as URNs, config per policy with the enforcement
level the CLI resolves) and compares its diagnostics with `evaluate_plan`'s findings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from latticework.findings import VIOLATION
from latticework.offline import UNKNOWN_MASK, plan_environment
from latticework.plan import Plan, PlannedResource
from latticework.policy_eval import evaluate_plan, pack_config_for_plan
from policy_packs.latticework_guardrails import POLICIES, POLICY_PACK_NAME, policy_names
from policy_packs.latticework_guardrails.config import PackConfig, parse_pack_config
from tests.latticework.test_policy_eval import BROKEN_CATALOG
from tests.policy_packs._harness import UNKNOWN_STRING

PROJECT_DIR = Path(__file__).resolve().parents[2]
_LEVELS = {
    "advisory": proto.ADVISORY,
    "mandatory": proto.MANDATORY,
    "disabled": proto.DISABLED,
}

Diagnostic = tuple[str, str, str, str]


def _struct(values: Any) -> struct_pb2.Struct:
    def preview(value: Any) -> Any:
        if value == UNKNOWN_MASK:
            return UNKNOWN_STRING
        if isinstance(value, dict):
            return {key: preview(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [preview(item) for item in value]
        return value

    struct = struct_pb2.Struct()
    struct.update(preview(dict(values)))
    return struct


def _servicer(config: PackConfig) -> Any:
    """The pack's analyzer, configured the way the CLI resolves a policy-pack config."""
    servicer = _PolicyAnalyzerServicer(
        POLICY_PACK_NAME, "0.1.0", list(POLICIES), EnforcementLevel.MANDATORY
    )
    pulumi_config = config.to_pulumi_config()
    request = proto.ConfigureAnalyzerRequest()
    for policy in POLICIES:
        default = (policy.enforcement_level or EnforcementLevel.MANDATORY).value
        entry = request.policyConfig[policy.name]
        entry.enforcementLevel = _LEVELS[config.enforcement_level(policy.name, default)]
        properties = {
            key: value
            for key, value in pulumi_config.get(policy.name, {}).items()
            if key != "enforcementLevel"
        }
        entry.properties.update(properties)
    servicer.Configure(request, None)
    return servicer


def _stack_resource(planned: PlannedResource) -> Any:
    outputs = dict(planned.outputs)
    if planned.id is not None:
        outputs.setdefault("id", planned.id)
    resource = proto.AnalyzerResource(
        type=planned.type,
        properties=_struct(outputs),
        urn=planned.urn,
        name=planned.name,
        parent=planned.parent_urn or "",
        dependencies=list(planned.dependencies),
    )
    for key, urns in planned.property_dependencies.items():
        resource.propertyDependencies[key].urns.extend(urns)
    return resource


def _engine_diagnostics(plan: Plan, config: PackConfig) -> set[Diagnostic]:
    """(policy, urn, level, message) for every violation the servicer reports on the plan."""
    servicer = _servicer(config)
    diagnostics: set[Diagnostic] = set()

    def collect(response: Any, request_urn: str) -> None:
        for diagnostic in response.diagnostics:
            if diagnostic.message.startswith("can't run policy"):
                continue
            message = diagnostic.message.removeprefix(diagnostic.description + "\n")
            level = proto.EnforcementLevel.Name(diagnostic.enforcementLevel).lower()
            urn = diagnostic.urn or request_urn
            diagnostics.add((diagnostic.policyName, urn, level, message))

    for planned in plan.resources:
        if not planned.custom or planned.read:
            continue
        request = proto.AnalyzeRequest(
            type=planned.type,
            properties=_struct(planned.inputs),
            urn=planned.urn,
            name=planned.name,
        )
        collect(servicer.Analyze(request, None), planned.urn)

    stack_request = proto.AnalyzeStackRequest(
        resources=[_stack_resource(planned) for planned in plan.resources]
    )
    collect(servicer.AnalyzeStack(stack_request, None), "")
    return diagnostics


def _offline_findings(plan: Plan, config: PackConfig) -> set[Diagnostic]:
    report = evaluate_plan(plan, config=config)
    return {
        (finding.policy, finding.urn or "", finding.enforcement, finding.message)
        for finding in report.findings
        if finding.status == VIOLATION
    }


@pytest.fixture(scope="module")
def broken_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The dev environment planned with the deliberately broken catalog."""
    catalog = tmp_path_factory.mktemp("broken") / "services.yaml"
    catalog.write_text(BROKEN_CATALOG)
    return plan_environment("dev", project_dir=PROJECT_DIR, services_file=catalog)


def test_engine_and_offline_agree_on_the_sample_stack() -> None:
    """The sample dev plan is clean through the analyzer servicer as it is offline."""
    plan = plan_environment("dev", project_dir=PROJECT_DIR)
    config = pack_config_for_plan(plan)

    engine = _engine_diagnostics(plan, config)

    assert engine == set()
    assert _offline_findings(plan, config) == set()


def test_engine_and_offline_report_the_same_violations(broken_plan: Plan) -> None:
    """On the broken catalog the servicer's diagnostics equal the offline findings exactly."""
    config = parse_pack_config(
        {"secretNamePatterns": ["^LICENSE_"], "rotationMaxDays": 60},
        policy_names=policy_names(),
        default_account_ids=["111122223333"],
    )

    engine = _engine_diagnostics(broken_plan, config)
    offline = _offline_findings(broken_plan, config)

    assert engine == offline
    assert {(policy, level) for policy, _, level, _ in engine} == {
        ("ecs-task-no-plaintext-secrets", "mandatory"),
        ("secret-rotation-required", "mandatory"),
        ("secret-rotation-period", "advisory"),
    }
    assert any("maximum of 60 days" in message for *_, message in engine)


def test_engine_applies_configured_enforcement_levels(broken_plan: Plan) -> None:
    """A level set in latticework:policies reaches the engine's diagnostics as offline."""
    config = PackConfig(
        enforcement={"secret-rotation-required": "advisory", "secret-rotation-period": "disabled"}
    )

    engine = _engine_diagnostics(broken_plan, config)

    assert {(policy, level) for policy, _, level, _ in engine} == {
        ("secret-rotation-required", "advisory")
    }
    assert engine == _offline_findings(broken_plan, config)
