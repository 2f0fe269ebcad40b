"""Tests for the offline evaluation of the CrossGuard pack on a Plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from latticework.errors import UsageError
from latticework.findings import ADVISORY, CHECKED_AT_UPDATE, MANDATORY, VIOLATION
from latticework.offline import UNKNOWN_MASK, plan_environment
from latticework.plan import SECRET_MASK, Plan, PlannedResource
from latticework.policy_eval import evaluate_plan, pack_config_for_plan
from policy_packs.latticework_guardrails import POLICIES, policy_names
from policy_packs.latticework_guardrails.config import PackConfig, parse_pack_config

PROJECT_DIR = Path(__file__).resolve().parents[2]
LATTICE_SERVICE = "aws:vpclattice/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"

BROKEN_CATALOG = """\
services:
  - name: ledger
    image: public.ecr.aws/latticework/ledger:1.0.0
    port: 8080
    cpu: 256
    memory: 512
    desiredCount: 1
    healthCheckPath: /health
    callers:
      services: [billing]
    secrets:
      - name: signing-key
      - name: archive-key
        rotationDays: 365
    routes:
      - {method: GET, path: /health, public: true}
    environment:
      LOG_LEVEL: info
      LICENSE_BLOB: abc-def-ghi
  - name: billing
    image: public.ecr.aws/latticework/billing:1.0.0
    port: 8080
    cpu: 256
    memory: 512
    desiredCount: 1
    healthCheckPath: /health
    routes:
      - {method: GET, path: /health, public: true}
"""


@pytest.fixture(scope="module")
def dev_plan() -> Plan:
    """The sample dev environment, planned offline once for this module."""
    return plan_environment("dev", project_dir=PROJECT_DIR)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_sample_stacks_are_clean(env: str) -> None:
    """Every sample environment passes every policy with no finding at all."""
    plan = plan_environment(env, project_dir=PROJECT_DIR)

    report = evaluate_plan(plan)

    assert [finding.message for finding in report.findings] == []
    assert report.passed
    assert report.resources_checked > 50
    assert [policy.name for policy in report.policies] == list(policy_names())


def test_broken_catalog_produces_exactly_the_expected_findings(tmp_path: Path) -> None:
    """A catalog with an unrotated secret, a slow rotation and a secret-named value fails."""
    catalog = tmp_path / "services.yaml"
    catalog.write_text(BROKEN_CATALOG)
    plan = plan_environment("dev", project_dir=PROJECT_DIR, services_file=catalog)
    config = parse_pack_config(
        {"secretNamePatterns": ["^LICENSE_"]},
        policy_names=policy_names(),
        default_account_ids=["111122223333"],
    )

    report = evaluate_plan(plan, config=config)

    found = {
        (finding.policy, finding.enforcement, finding.status, finding.resource_name)
        for finding in report.findings
    }
    assert found == {
        ("ecs-task-no-plaintext-secrets", MANDATORY, VIOLATION, "ledger-task"),
        ("secret-rotation-required", MANDATORY, VIOLATION, "dev-secrets-ledger-signing-key"),
        ("secret-rotation-period", ADVISORY, VIOLATION, "dev-secrets-ledger-archive-key"),
    }
    assert len(report.findings) == 3
    assert not report.passed
    assert all("abc-def-ghi" not in finding.message for finding in report.findings)


def test_config_comes_from_the_plans_stack(dev_plan: Plan) -> None:
    """The pack config of a plan is its stack's block plus its allowed principals."""

    config = pack_config_for_plan(dev_plan)

    assert config.allowed_account_ids == ("111122223333",)
    assert config.rotation_max_days == 90


def test_plan_without_spec_is_a_usage_error(dev_plan: Plan) -> None:
    """A Plan built without the offline engine cannot be configured and says so."""
    plan = Plan(
        environment="dev",
        project="latticework",
        stack="dev",
        region="eu-west-1",
        account_id="111122223333",
        resources=dev_plan.resources,
        services=dev_plan.services,
    )

    with pytest.raises(UsageError, match="carries no stack spec"):
        evaluate_plan(plan)


def _resource(resource_type: str, name: str, inputs: dict[str, Any]) -> PlannedResource:
    return PlannedResource(
        urn=f"urn:pulumi:dev::latticework::{resource_type}::{name}",
        type=resource_type,
        name=name,
        parent_urn=None,
        custom=True,
        id=f"{name}-id",
        inputs=inputs,
        outputs=inputs,
        dependencies=(),
        property_dependencies={},
    )


def _plan(*resources: PlannedResource) -> Plan:
    return Plan(
        environment="dev",
        project="latticework",
        stack="dev",
        region="eu-west-1",
        account_id="111122223333",
        resources=resources,
        services=(),
    )


def _only(name: str) -> list[Any]:
    return [policy for policy in POLICIES if policy.name == name]


def test_unknown_values_become_checked_at_update_findings() -> None:
    """A value the offline engine could not know is reported as advisory, checked at update."""
    plan = _plan(_resource(TASK_DEFINITION, "orders-task", {"containerDefinitions": UNKNOWN_MASK}))

    report = evaluate_plan(
        plan, config=PackConfig(), policies=_only("ecs-task-no-plaintext-secrets")
    )

    assert len(report.findings) == 1
    finding = report.findings[0]
    assert finding.status == CHECKED_AT_UPDATE
    assert finding.enforcement == ADVISORY
    assert finding.resource_name == "orders-task"
    assert "checked at update" in finding.message
    assert report.passed


def test_masked_secret_inputs_are_not_a_silent_pass() -> None:
    """A container definition masked as secret in the plan is reported as not checked offline."""
    plan = _plan(_resource(TASK_DEFINITION, "orders-task", {"containerDefinitions": SECRET_MASK}))

    report = evaluate_plan(
        plan, config=PackConfig(), policies=_only("ecs-task-no-plaintext-secrets")
    )

    assert [finding.status for finding in report.findings] == [CHECKED_AT_UPDATE]
    assert "is a secret in the offline plan" in report.findings[0].message


def test_enforcement_levels_come_from_the_config() -> None:
    """A policy configured advisory reports without blocking; a disabled one does not run."""
    plan = _plan(_resource(LATTICE_SERVICE, "orders", {"authType": "NONE"}))
    policies = _only("lattice-auth-type-iam")

    mandatory = evaluate_plan(plan, config=PackConfig(), policies=policies)
    advisory = evaluate_plan(
        plan,
        config=PackConfig(enforcement={"lattice-auth-type-iam": "advisory"}),
        policies=policies,
    )
    disabled = evaluate_plan(
        plan, config=PackConfig(enforcement={"all": "disabled"}), policies=policies
    )

    assert [finding.enforcement for finding in mandatory.findings] == [MANDATORY]
    assert not mandatory.passed
    assert [finding.enforcement for finding in advisory.findings] == [ADVISORY]
    assert advisory.passed
    assert disabled.findings == ()
    assert disabled.policies[0].enforcement == "disabled"


def test_a_crashing_policy_fails_closed() -> None:
    """A policy that raises is a mandatory finding, never a pass, and leaks no exception text."""

    def explode(args: Any, report_violation: Any) -> None:
        raise RuntimeError("hunter2 leaked from a bad policy")

    policy = ResourceValidationPolicy(
        name="explodes", description="Always raises.", validate=explode
    )
    plan = _plan(_resource(LATTICE_SERVICE, "orders", {"authType": "AWS_IAM"}))

    report = evaluate_plan(plan, config=PackConfig(), policies=[policy])

    assert len(report.findings) == 1
    assert report.findings[0].is_blocking
    assert "failed with RuntimeError" in report.findings[0].message
    assert "hunter2" not in report.findings[0].message


def test_stack_policies_see_outputs_ids_and_dependency_objects() -> None:
    """Stack policies get PolicyResource objects with ids and resolved dependencies."""
    seen: dict[str, Any] = {}
    service = _resource(LATTICE_SERVICE, "orders", {"authType": "AWS_IAM"})
    auth_policy = PlannedResource(
        urn="urn:pulumi:dev::latticework::aws:vpclattice/authPolicy:AuthPolicy::auth",
        type="aws:vpclattice/authPolicy:AuthPolicy",
        name="auth",
        parent_urn=None,
        custom=True,
        id="auth-id",
        inputs={"resourceIdentifier": "orders-id"},
        outputs={"resourceIdentifier": "orders-id"},
        dependencies=(service.urn,),
        property_dependencies={"resourceIdentifier": (service.urn,)},
    )

    def record(args: Any, report_violation: Any) -> None:
        by_name = {resource.name: resource for resource in args.resources}
        seen["id"] = by_name["orders"].props["id"]
        seen["dependency"] = by_name["auth"].property_dependencies["resourceIdentifier"][0]
        seen["orders"] = by_name["orders"]
        seen["config"] = args.get_config()

    policy = StackValidationPolicy(
        name="records",
        description="Records.",
        validate=record,
        enforcement_level=EnforcementLevel.ADVISORY,
    )

    evaluate_plan(_plan(service, auth_policy), config=PackConfig(), policies=[policy])

    assert seen["id"] == "orders-id"
    assert seen["dependency"] is seen["orders"]
    assert seen["config"] == {}


def test_report_json_round_trips(dev_plan: Plan) -> None:
    """The report's JSON form is plain JSON with every policy and the pass flag."""
    report = evaluate_plan(dev_plan)

    document = json.loads(json.dumps(report.to_json()))

    assert document["passed"] is True
    assert len(document["policies"]) == len(policy_names())
    assert document["findings"] == []
