"""MeshService, checked on the offline plans of the sample environments."""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
import pytest

from components.mesh_service import PORT_NAME
from components.secret_patterns import classify_variable
from latticework.offline import plan_environment
from latticework.plan import Plan
from tests.components._samples import (
    AUTH_POLICY,
    ECS_SERVICE,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    LATTICE_SERVICE,
    PROJECT_DIR,
    SECRET,
    SECURITY_GROUP,
    TASK_DEFINITION,
    container_environment,
    inputs_of,
    named,
    outputs_of,
    policy_document,
    resources_of,
)

SERVICES = ("orders", "payments", "inventory")
PLANS = ("dev_plan", "staging_plan", "prod_plan")


@pytest.fixture(params=PLANS)
def plan(request: pytest.FixtureRequest) -> Plan:
    """Each sample environment's plan in turn."""
    planned: Plan = request.getfixturevalue(request.param)
    return planned


def test_each_service_has_one_auth_policy_depending_on_its_lattice_service(plan: Plan) -> None:
    """Every service gets exactly one auth policy, attached to (and ordered after) its service."""
    for service in SERVICES:
        lattice_service = named(plan, LATTICE_SERVICE, f"{service}-lattice-service")

        policies = resources_of(plan, AUTH_POLICY, parent_name=service)

        assert len(policies) == 1, service
        assert policies[0].property_dependencies["resourceIdentifier"] == (lattice_service.urn,)
        assert policies[0].inputs["resourceIdentifier"] == outputs_of(lattice_service)["arn"]


def test_auth_policies_allow_exactly_the_catalog_callers(dev_plan: Plan) -> None:
    """payments and inventory admit orders' task role; orders admits its external caller."""
    orders_role = outputs_of(named(dev_plan, IAM_ROLE, "orders-task-role"))["arn"]
    expected = {
        "payments": [orders_role],
        "inventory": [orders_role],
        "orders": ["arn:aws:iam::444455556666:role/storefront-api"],
    }

    for service, principals in expected.items():
        policy = policy_document(named(dev_plan, AUTH_POLICY, f"{service}-auth-policy"))
        lattice_arn = outputs_of(named(dev_plan, LATTICE_SERVICE, f"{service}-lattice-service"))[
            "arn"
        ]

        (statement,) = policy["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == "*"
        assert statement["Condition"]["ArnEquals"] == {"aws:PrincipalArn": principals}
        assert statement["Action"] == "vpc-lattice-svcs:Invoke"
        assert statement["Resource"] == f"{lattice_arn}/*"


def test_no_container_environment_value_is_a_secret(plan: Plan) -> None:
    """Containers carry references only: no value the shared detector calls a secret."""
    for service in SERVICES:
        environment = container_environment(plan, service)

        findings = {
            name: match.kind
            for name, value in environment.items()
            if (match := classify_variable(name, value)) is not None
        }

        assert findings == {}, service


def test_container_environment_follows_the_contract(dev_plan: Plan) -> None:
    """payments gets its name, store id, secret ARNs and the caller-role map of orders."""
    environment = container_environment(dev_plan, "payments")
    store_id = outputs_of(
        named(dev_plan, "aws:verifiedpermissions/policyStore:PolicyStore", "dev-authz-store")
    )["policyStoreId"]
    secret_arns = {
        secret: outputs_of(named(dev_plan, SECRET, f"dev-secrets-payments-{secret}"))["arn"]
        for secret in ("database", "psp-api-key")
    }
    orders_role = outputs_of(named(dev_plan, IAM_ROLE, "orders-task-role"))["arn"]

    assert environment["LATTICEWORK_SERVICE_NAME"] == "payments"
    assert environment["LATTICEWORK_ENVIRONMENT"] == "dev"
    assert environment["LATTICEWORK_POLICY_STORE_ID"] == store_id
    assert environment["LATTICEWORK_PEP_MODE"] == "verified-permissions"
    assert environment["LATTICEWORK_BEHIND_LATTICE"] == "true"
    assert environment["LATTICEWORK_SECRET_DATABASE_ARN"] == secret_arns["database"]
    assert environment["LATTICEWORK_SECRET_PSP_API_KEY_ARN"] == secret_arns["psp-api-key"]
    assert json.loads(environment["LATTICEWORK_CALLER_ROLES"]) == {orders_role: "orders"}
    assert environment["AWS_REGION"] == "eu-west-1"
    assert environment["LOG_LEVEL"] == "info"


def test_container_environment_holds_nothing_beyond_the_contract(dev_plan: Plan) -> None:
    """Each container gets the contract's variables and its catalog values, and nothing else."""
    contract = {
        "LATTICEWORK_SERVICE_NAME",
        "LATTICEWORK_ENVIRONMENT",
        "LATTICEWORK_POLICY_STORE_ID",
        "LATTICEWORK_PEP_MODE",
        "LATTICEWORK_BEHIND_LATTICE",
        "LATTICEWORK_CALLER_ROLES",
        "AWS_REGION",
    }
    expected = {
        "orders": contract
        | {"LATTICEWORK_SERVICE_PAYMENTS_URL", "LATTICEWORK_SERVICE_INVENTORY_URL"}
        | {"LOG_LEVEL", "ORDER_CURRENCY"},
        "payments": contract
        | {"LATTICEWORK_SECRET_DATABASE_ARN", "LATTICEWORK_SECRET_PSP_API_KEY_ARN"}
        | {"LOG_LEVEL", "PSP_BASE_URL"},
        "inventory": contract | {"LOG_LEVEL"},
    }

    for service, names in expected.items():
        assert set(container_environment(dev_plan, service)) == names, service


def test_callers_get_their_peers_lattice_urls(dev_plan: Plan) -> None:
    """orders gets https:// plus each peer's Lattice DNS name; peers get no URLs they don't use."""
    orders = container_environment(dev_plan, "orders")
    inventory = container_environment(dev_plan, "inventory")

    for peer in ("payments", "inventory"):
        dns_entries = outputs_of(named(dev_plan, LATTICE_SERVICE, f"{peer}-lattice-service"))[
            "dnsEntries"
        ]
        domain_name = dns_entries[0]["domainName"]
        assert orders[f"LATTICEWORK_SERVICE_{peer.upper()}_URL"] == f"https://{domain_name}"
    assert not [
        name
        for name in inventory
        if name.startswith("LATTICEWORK_SERVICE_") and name.endswith("_URL")
    ]


def test_task_role_policies_name_exact_arns(plan: Plan) -> None:
    """Task roles read their own secrets and ask their own store, by exact ARN, never '*'."""
    store_arn = outputs_of(
        resources_of(plan, "aws:verifiedpermissions/policyStore:PolicyStore")[0]
    )["arn"]
    for service in SERVICES:
        own_secrets = sorted(
            str(outputs_of(secret)["arn"])
            for secret in resources_of(plan, SECRET)
            if inputs_of(secret)["name"].startswith(f"latticework/{plan.environment}/{service}/")
        )
        policy = policy_document(named(plan, IAM_ROLE_POLICY, f"{service}-task-policy"))

        statements = {statement["Sid"]: statement for statement in policy["Statement"]}
        assert statements["AskPolicyStore"]["Resource"] == store_arn
        if own_secrets:
            assert statements["ReadOwnSecrets"]["Resource"] == own_secrets
        else:
            assert "ReadOwnSecrets" not in statements
        for statement in policy["Statement"]:
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            assert all("*" not in resource.split("/")[0] for resource in resources), statement
            assert "*" not in str(statement["Action"])


def test_caller_may_invoke_exactly_its_peers(dev_plan: Plan) -> None:
    """orders' task role may invoke payments and inventory; inventory invokes nobody."""
    orders = policy_document(named(dev_plan, IAM_ROLE_POLICY, "orders-task-policy"))
    inventory = policy_document(named(dev_plan, IAM_ROLE_POLICY, "inventory-task-policy"))
    peer_arns = sorted(
        f"{outputs_of(named(dev_plan, LATTICE_SERVICE, f'{peer}-lattice-service'))['arn']}/*"
        for peer in ("payments", "inventory")
    )

    invoke = next(s for s in orders["Statement"] if s["Sid"] == "InvokePeers")

    assert invoke["Resource"] == peer_arns
    assert all(statement["Sid"] != "InvokePeers" for statement in inventory["Statement"])


def test_ecs_service_waits_for_its_role_policies(dev_plan: Plan) -> None:
    """Tasks start only after their roles' policies exist: logs, decisions, Lattice targets."""
    for service in SERVICES:
        ecs_service = named(dev_plan, ECS_SERVICE, f"{service}-service")
        policies = {
            named(dev_plan, IAM_ROLE_POLICY, f"{service}-exec-policy").urn,
            named(dev_plan, IAM_ROLE_POLICY, f"{service}-task-policy").urn,
            named(
                dev_plan,
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                f"{service}-infra-policy",
            ).urn,
        }

        assert policies <= set(ecs_service.dependencies), service


def test_ecs_services_run_privately_behind_lattice(plan: Plan) -> None:
    """No public IP, only the environment's private subnets, registered through the named port."""
    for service in SERVICES:
        ecs_service = named(plan, ECS_SERVICE, f"{service}-service")
        target_group = named(
            plan, "aws:vpclattice/targetGroup:TargetGroup", f"{service}-target-group"
        )
        infra_role = named(plan, IAM_ROLE, f"{service}-infra-role")
        task = named(plan, TASK_DEFINITION, f"{service}-task")
        port_names = [
            mapping["name"]
            for mapping in json.loads(str(inputs_of(task)["containerDefinitions"]))[0][
                "portMappings"
            ]
        ]

        network = inputs_of(ecs_service)["networkConfiguration"]
        (lattice,) = inputs_of(ecs_service)["vpcLatticeConfigurations"]

        assert network["assignPublicIp"] is False
        assert lattice == {
            "portName": PORT_NAME,
            "targetGroupArn": outputs_of(target_group)["arn"],
            "roleArn": outputs_of(infra_role)["arn"],
        }
        assert port_names == [PORT_NAME]
        assert inputs_of(ecs_service)["launchType"] == "FARGATE"


def test_security_group_admits_the_port_only_from_lattice(plan: Plan) -> None:
    """The only ingress is the service port from the region's VPC Lattice prefix list."""
    for service in SERVICES:
        port = {"orders": 8080, "payments": 8443, "inventory": 8080}[service]
        group = named(plan, SECURITY_GROUP, f"{service}-sg")

        (ingress,) = inputs_of(group)["ingress"]

        assert ingress["fromPort"] == ingress["toPort"] == port
        assert ingress["protocol"] == "tcp"
        assert len(ingress["prefixListIds"]) == 1
        assert ingress["prefixListIds"][0].startswith("pl-")
        assert "cidrBlocks" not in ingress


def test_security_group_source_is_the_regions_lattice_prefix_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one ingress source is the list AWS names com.amazonaws.<region>.vpc-lattice."""
    requested: list[str] = []
    resolved_ids: list[str] = []
    lookup = aws.ec2.get_managed_prefix_list_output

    def recording_lookup(**kwargs: Any) -> Any:
        requested.append(kwargs["name"])
        prefix_list = lookup(**kwargs)
        prefix_list.id.apply(resolved_ids.append)
        return prefix_list

    monkeypatch.setattr(aws.ec2, "get_managed_prefix_list_output", recording_lookup)

    plan = plan_environment("staging", project_dir=PROJECT_DIR)

    assert requested == ["com.amazonaws.eu-west-1.vpc-lattice"]
    for service in SERVICES:
        (ingress,) = inputs_of(named(plan, SECURITY_GROUP, f"{service}-sg"))["ingress"]
        assert ingress["prefixListIds"] == resolved_ids


def test_roles_follow_the_contract_names(dev_plan: Plan) -> None:
    """Task and execution roles are named latticework-<env>-<service>-task / -exec."""
    names = {str(inputs_of(role)["name"]) for role in resources_of(dev_plan, IAM_ROLE)}

    for service in SERVICES:
        assert f"latticework-dev-{service}-task" in names
        assert f"latticework-dev-{service}-exec" in names


def test_execution_role_writes_only_its_own_log_group(dev_plan: Plan) -> None:
    """The execution role may write log streams of its service's log group and nothing more."""
    log_group = named(dev_plan, "aws:cloudwatch/logGroup:LogGroup", "payments-logs")
    policy = policy_document(named(dev_plan, IAM_ROLE_POLICY, "payments-exec-policy"))

    (statement,) = policy["Statement"]

    assert statement["Resource"] == f"{outputs_of(log_group)['arn']}:log-stream:*"
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_roles_trust_only_their_ecs_principal(dev_plan: Plan) -> None:
    """Task and execution roles trust ECS tasks; the infrastructure role trusts ECS itself."""
    expected = {"task-role": "ecs-tasks.amazonaws.com", "exec-role": "ecs-tasks.amazonaws.com"}
    expected["infra-role"] = "ecs.amazonaws.com"

    for suffix, principal in expected.items():
        trust = policy_document(named(dev_plan, IAM_ROLE, f"orders-{suffix}"), "assumeRolePolicy")

        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": principal}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}
        assert statement["Condition"]["ArnLike"] == {
            "aws:SourceArn": "arn:aws:ecs:eu-west-1:111122223333:*"
        }
