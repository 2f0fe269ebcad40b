"""Environment: the whole program, planned offline, composed as the spec says."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from components.authz_files import AuthzValidationError
from components.errors import SpecError
from latticework.offline import plan_environment
from latticework.plan import Plan
from tests.components._samples import (
    AUTH_POLICY,
    ECS_SERVICE,
    SECRET,
    inputs_of,
    named,
    outputs_of,
    policy_document,
    sample_catalog,
    sample_stack,
    service,
    settings,
    write_yaml,
)

COMPONENT_TYPES = {
    "latticework:components:Environment": 1,
    "latticework:components:Network": 1,
    "latticework:components:Cluster": 1,
    "latticework:components:ServiceNetwork": 1,
    "latticework:components:PolicyStore": 1,
    "latticework:components:Secrets": 1,
    "latticework:components:MeshService": 3,
}


def test_one_environment_holds_every_component(dev_plan: Plan) -> None:
    """The stack has one Environment root, with the shared layer and a MeshService per service."""
    components = Counter(planned.type for planned in dev_plan.components())

    (root,) = dev_plan.roots()

    assert root.type == "latticework:components:Environment"
    assert root.name == "dev"
    assert components == COMPONENT_TYPES
    assert all(
        planned.parent_urn == root.urn for planned in dev_plan.components() if planned is not root
    )


def test_prod_differs_from_dev_as_configured(dev_plan: Plan, prod_plan: Plan) -> None:
    """prod: more replicas, protected stateful resources, longer recovery and log retention."""
    for name, dev_count, prod_count in (("orders", 1, 4), ("payments", 1, 3), ("inventory", 1, 3)):
        assert inputs_of(named(dev_plan, ECS_SERVICE, f"{name}-service"))["desiredCount"] == (
            dev_count
        )
        assert inputs_of(named(prod_plan, ECS_SERVICE, f"{name}-service"))["desiredCount"] == (
            prod_count
        )

    assert not [planned.name for planned in dev_plan if planned.protect]
    protected_types = {planned.type for planned in prod_plan if planned.protect}
    assert protected_types == {
        "aws:ec2/vpc:Vpc",
        "aws:kms/key:Key",
        SECRET,
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:vpclattice/serviceNetwork:ServiceNetwork",
    }
    dev_secret = named(dev_plan, SECRET, "dev-secrets-payments-database")
    prod_secret = named(prod_plan, SECRET, "prod-secrets-payments-database")
    assert (
        inputs_of(dev_secret)["recoveryWindowInDays"],
        inputs_of(prod_secret)["recoveryWindowInDays"],
    ) == (7, 30)
    log_group_type = "aws:cloudwatch/logGroup:LogGroup"
    assert {
        inputs_of(group)["deletionProtectionEnabled"] for group in dev_plan.of_type(log_group_type)
    } == {False}
    assert {
        inputs_of(group)["deletionProtectionEnabled"] for group in prod_plan.of_type(log_group_type)
    } == {True}
    store_type = "aws:verifiedpermissions/policyStore:PolicyStore"
    assert inputs_of(named(dev_plan, store_type, "dev-authz-store"))["deletionProtection"] == (
        "DISABLED"
    )
    assert inputs_of(named(prod_plan, store_type, "prod-authz-store"))["deletionProtection"] == (
        "ENABLED"
    )
    assert dev_plan.stack_outputs["requireApproval"] is False
    assert prod_plan.stack_outputs["requireApproval"] is True


def test_stack_outputs_name_the_service_urls(dev_plan: Plan) -> None:
    """The program exports each service's Lattice URL, the store id and the cluster."""
    outputs = dev_plan.stack_outputs
    urls = outputs["serviceUrls"]

    assert isinstance(urls, dict)
    assert sorted(urls) == ["inventory", "orders", "payments"]
    assert all(str(url).startswith("https://") for url in urls.values())
    assert outputs["clusterName"] == "latticework-dev"
    assert outputs["environment"] == "dev"


def test_plans_are_deterministic(dev_plan: Plan) -> None:
    """Planning the same input twice registers the same resources with the same inputs."""
    again = plan_environment("dev", project_dir=Path(__file__).resolve().parents[2])

    assert [(p.urn, p.inputs) for p in again] == [(p.urn, p.inputs) for p in dev_plan]


def test_services_file_reaches_the_program(project_copy: Path, tmp_path: Path) -> None:
    """A catalog passed to the engine replaces stacks/services.yaml inside the program."""
    catalog = sample_catalog()
    catalog["services"] = [service(catalog, "inventory")]
    catalog["services"][0]["callers"] = {"iamPrincipals": ["arn:aws:iam::111122223333:role/ops"]}
    services_file = write_yaml(tmp_path / "one-service.yaml", catalog)

    plan = plan_environment("dev", project_dir=project_copy, services_file=services_file)

    assert [planned.name for planned in plan.of_type(ECS_SERVICE)] == ["inventory-service"]
    assert plan.of_type(SECRET) == ()


def test_service_without_callers_is_closed_and_warned(project_copy: Path) -> None:
    """A service nobody may call gets an explicit deny-all auth policy and a warning."""
    catalog = sample_catalog()
    service(catalog, "orders")["callers"] = {}
    write_yaml(project_copy / "stacks" / "services.yaml", catalog)

    plan = plan_environment("dev", project_dir=project_copy)

    policy = policy_document(named(plan, AUTH_POLICY, "orders-auth-policy"))
    assert [statement["Effect"] for statement in policy["Statement"]] == ["Deny"]
    assert any(
        message.severity == "warning" and "orders names no callers" in message.message
        for message in plan.messages
    )


def test_rotation_without_function_is_warned_not_built(project_copy: Path) -> None:
    """Without rotationFunctionArn no rotation is planned, and each rotating secret warns."""
    stack = sample_stack("dev")
    del settings(stack)["rotationFunctionArn"]
    write_yaml(project_copy / "stacks" / "Pulumi.dev.yaml", stack)

    plan = plan_environment("dev", project_dir=project_copy)

    assert plan.of_type("aws:secretsmanager/secretRotation:SecretRotation") == ()
    warnings = [message.message for message in plan.messages if message.severity == "warning"]
    assert sum("will not rotate" in warning for warning in warnings) == 2


def test_existing_vpc_is_used_not_created(staging_plan: Plan) -> None:
    """staging names an existing VPC: no VPC or subnet is planned, and services use its subnets."""
    spec_subnets = ["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"]

    ecs_service = named(staging_plan, ECS_SERVICE, "payments-service")

    assert staging_plan.of_type("aws:ec2/vpc:Vpc") == ()
    assert staging_plan.of_type("aws:ec2/subnet:Subnet") == ()
    assert inputs_of(ecs_service)["networkConfiguration"]["subnets"] == spec_subnets
    association = staging_plan.of_type(
        "aws:vpclattice/serviceNetworkVpcAssociation:ServiceNetworkVpcAssociation"
    )[0]
    assert inputs_of(association)["vpcIdentifier"] == "vpc-0a1b2c3d4e5f60718"


def test_identity_source_comes_from_the_stack(staging_plan: Plan, dev_plan: Plan) -> None:
    """staging configures a Cognito identity source for its store; dev has none."""
    identity_type = "aws:verifiedpermissions/identitySource:IdentitySource"

    (identity_source,) = staging_plan.of_type(identity_type)

    assert inputs_of(identity_source)["principalEntityType"] == "Latticework::User"
    cognito = inputs_of(identity_source)["configuration"]["cognitoUserPoolConfiguration"]
    assert cognito["userPoolArn"].endswith("userpool/eu-west-1_Q8rT3vXyZ")
    assert dev_plan.of_type(identity_type) == ()
    assert (
        outputs_of(identity_source)["policyStoreId"] == staging_plan.stack_outputs["policyStoreId"]
    )


def test_catalog_route_missing_from_the_schema_stops_the_plan(project_copy: Path) -> None:
    """A route action the Cedar schema lacks fails the program, as `authz validate` does."""
    catalog = sample_catalog()
    service(catalog, "inventory")["routes"][1]["action"] = "GetItemTypo"
    services_file = write_yaml(project_copy / "stacks" / "services.yaml", catalog)

    with pytest.raises(AuthzValidationError) as raised:
        plan_environment("dev", project_dir=project_copy)

    assert any("GetItemTypo" in str(problem) for problem in raised.value.problems)
    assert any(str(services_file) in str(problem) for problem in raised.value.problems)


def test_more_zones_than_the_region_has_is_a_spec_error(project_copy: Path) -> None:
    """Asking for more availability zones than the region offers names the setting."""
    stack = sample_stack("dev")
    settings(stack)["network"]["availabilityZones"] = 5
    stack_file = write_yaml(project_copy / "stacks" / "Pulumi.dev.yaml", stack)

    with pytest.raises(SpecError) as raised:
        plan_environment("dev", project_dir=project_copy)

    assert raised.value.file == str(stack_file)
    assert raised.value.key_path == "config.latticework:settings.network.availabilityZones"
    assert raised.value.found == "5 zones"
