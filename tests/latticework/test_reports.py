"""The plan reports: terminal tree, JSON document and Mermaid call graph."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from latticework.plan import SECRET_MASK, Plan, PlannedResource, PlannedService, ProgramMessage
from latticework.reports import (
    SCHEMA_VERSION,
    plan_document,
    render_json,
    render_mermaid,
    render_table,
)

_SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "plan.schema.json"
_STACK = "urn:pulumi:dev::latticework::pulumi:pulumi:Stack::latticework-dev"
_ENVIRONMENT = "urn:pulumi:dev::latticework::latticework:components:Environment::dev"
_MESH = (
    "urn:pulumi:dev::latticework::latticework:components:Environment$"
    "latticework:components:MeshService::orders"
)


def _resource(
    urn: str,
    *,
    parent: str | None,
    custom: bool = True,
    resource_id: str | None = None,
    inputs: dict[str, object] | None = None,
    dependencies: tuple[str, ...] = (),
) -> PlannedResource:
    qualified_type, name = urn.rsplit("::", 2)[-2:]
    return PlannedResource(
        urn=urn,
        type=qualified_type.rsplit("$", 1)[-1],
        name=name,
        parent_urn=parent,
        custom=custom,
        id=resource_id,
        inputs=inputs or {},  # type: ignore[arg-type]
        outputs={"id": resource_id} if custom else {},
        dependencies=dependencies,
        property_dependencies={"vpcId": dependencies} if dependencies else {},
    )


@pytest.fixture
def plan() -> Plan:
    """A small hand-built plan: an environment component, a nested service, two resources."""
    vpc_urn = (
        "urn:pulumi:dev::latticework::latticework:components:Environment$aws:ec2/vpc:Vpc::dev-vpc"
    )
    role_urn = (
        "urn:pulumi:dev::latticework::latticework:components:Environment$"
        "latticework:components:MeshService$aws:iam/role:Role::orders-task-role"
    )
    resources = (
        _resource(_ENVIRONMENT, parent=_STACK, custom=False),
        _resource(_MESH, parent=_ENVIRONMENT, custom=False),
        _resource(vpc_urn, parent=_ENVIRONMENT, resource_id="vpc-0123456789abcdef0"),
        _resource(
            role_urn,
            parent=_MESH,
            resource_id="latticework-dev-orders-task",
            inputs={"name": "latticework-dev-orders-task", "token": SECRET_MASK},
            dependencies=(vpc_urn,),
        ),
    )
    return Plan(
        environment="dev",
        project="latticework",
        stack="dev",
        region="eu-west-1",
        account_id="111122223333",
        resources=tuple(sorted(resources, key=lambda resource: resource.urn)),
        services=(
            PlannedService("inventory", ("orders",), (), ()),
            PlannedService("orders", (), ("arn:aws:iam::444455556666:role/storefront-api",), ()),
            PlannedService("payments", ("orders",), (), ("database", "psp-api-key")),
        ),
        stack_outputs={"region": "eu-west-1"},
        messages=(ProgramMessage("warning", "no rotation function", None),),
    )


def test_json_is_valid_against_the_documented_schema(plan: Plan) -> None:
    """The JSON report validates against docs/plan.schema.json."""
    schema = json.loads(_SCHEMA_FILE.read_text())

    document = json.loads(render_json(plan))

    jsonschema.validate(document, schema)
    assert (
        document["schemaVersion"]
        == SCHEMA_VERSION
        == schema["properties"]["schemaVersion"]["const"]
    )


def test_json_has_sorted_keys_and_a_trailing_newline(plan: Plan) -> None:
    """The JSON text is canonical: re-dumping it with sorted keys changes nothing."""
    text = render_json(plan)

    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_json_records_each_resource_with_its_relations(plan: Plan) -> None:
    """Every resource carries its parent, dependencies and property dependencies."""
    document = plan_document(plan)
    role = next(item for item in document["resources"] if item["type"] == "aws:iam/role:Role")

    assert role["parent"] == _MESH
    assert role["dependencies"] == [role["propertyDependencies"]["vpcId"][0]]
    assert role["inputs"]["token"] == SECRET_MASK
    assert document["summary"] == {
        "resources": 2,
        "components": 2,
        "byType": {
            "aws:ec2/vpc:Vpc": 1,
            "aws:iam/role:Role": 1,
            "latticework:components:Environment": 1,
            "latticework:components:MeshService": 1,
        },
    }


def test_table_is_a_tree_per_component_with_counts(plan: Plan) -> None:
    """Each component line shows how many AWS resources sit below it, nested by parent."""
    lines = render_table(plan, width=160).splitlines()

    environment_line = next(line for line in lines if "latticework:components:Environment" in line)
    mesh_line = next(line for line in lines if "latticework:components:MeshService" in line)
    role_line = next(line for line in lines if "orders-task-role" in line)
    assert "2 resources" in environment_line
    assert "1 resources" in mesh_line
    assert lines.index(environment_line) < lines.index(mesh_line) < lines.index(role_line)
    assert _indent(environment_line) < _indent(mesh_line) < _indent(role_line)
    assert "latticework-dev-orders-task" in role_line


def test_table_ends_with_counts_by_type(plan: Plan) -> None:
    """The type table counts AWS resources only, with a total."""
    text = render_table(plan, width=160)

    assert "Resources by type" in text
    assert any(
        "aws:ec2/vpc:Vpc" in line and line.rstrip(" │").endswith("1") for line in text.splitlines()
    )
    assert any("total" in line and "2" in line for line in text.splitlines())


def test_mermaid_draws_callers_principals_and_secrets(plan: Plan) -> None:
    """Each allowed caller is an arrow to the service; each secret a dotted arrow from it."""
    lines = render_mermaid(plan).splitlines()
    storefront = _NODE_ID.fullmatch(
        next(line for line in lines if "role/storefront-api" in line).strip().split("[")[0]
    )

    assert lines[0] == "flowchart LR"
    assert "  svc_orders -->|invokes| svc_inventory" in lines
    assert "  svc_orders -->|invokes| svc_payments" in lines
    assert storefront is not None
    assert re.fullmatch(r"iam_444455556666_role_storefront_api_[0-9a-f]{8}", storefront[0])
    assert "  svc_payments -.->|reads| secret_payments__database" in lines
    assert any(
        re.fullmatch(
            r"  svc_payments -\.->\|reads\| secret_payments__psp_api_key_[0-9a-f]{8}", line
        )
        for line in lines
    )
    assert [line for line in lines if line.endswith("-->|invokes| svc_orders")] == [
        f"  {storefront[0]} -->|invokes| svc_orders"
    ]


_NODE_ID = re.compile(r"[A-Za-z0-9_]+")
_NODE_LINE = re.compile(r"\s+(?P<id>[A-Za-z0-9_]+)(?:\[|\()(?P<shape>[/(]?)\"(?P<label>[^\"]*)\"")


def _nodes(text: str) -> dict[str, str]:
    """Node id -> label of every node a Mermaid text declares."""
    nodes: dict[str, str] = {}
    for line in text.splitlines():
        match = _NODE_LINE.match(line)
        if match is not None and not line.lstrip().startswith("subgraph"):
            assert match["id"] not in nodes, f"node id {match['id']} declared twice"
            nodes[match["id"]] = match["label"]
    return nodes


@pytest.mark.parametrize(
    "services",
    [
        pytest.param(
            (
                PlannedService(
                    "orders",
                    (),
                    (
                        "arn:aws:iam::444455556666:role/team/storefront",
                        "arn:aws:iam::444455556666:role/team_storefront",
                        "arn:aws:iam::444455556666:role/team-storefront",
                        "arn:aws:iam::444455556666:role/team.storefront",
                        "arn:aws-cn:iam::444455556666:role/team/storefront",
                    ),
                    (),
                ),
            ),
            id="principals",
        ),
        pytest.param(
            (
                PlannedService("orders-api", (), (), ()),
                PlannedService("orders_api", ("orders-api", "orders.api"), (), ()),
                PlannedService("orders.api", (), (), ()),
            ),
            id="services",
        ),
        pytest.param(
            (
                PlannedService("payments", (), (), ("db-url", "db_url", "db.url", "b__c")),
                PlannedService("payments__b", (), (), ("c",)),
            ),
            id="secrets",
        ),
    ],
)
def test_mermaid_gives_different_names_different_node_ids(
    plan: Plan, services: tuple[PlannedService, ...]
) -> None:
    """Names that differ only where ids cannot (`/`, `-`, `_`, `.`, the partition, the
    service/secret split) still get a node each, and each arrow starts at its own node."""
    text = render_mermaid(replace(plan, services=services))

    nodes = _nodes(text)
    principals = {arn for service in services for arn in service.iam_principals}
    secrets = {f"{service.name}/{secret}" for service in services for secret in service.secrets}
    assert len(nodes) == len(services) + len(principals) + len(secrets)
    assert {service.name for service in services} | secrets <= set(nodes.values())
    arrows = [line.split()[0] for line in text.splitlines() if "-->|invokes|" in line]
    assert len(set(arrows)) == len(arrows)
    assert text.count("-->|invokes|") == sum(
        len(service.callers) + len(service.iam_principals) for service in services
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" │├└─"))
