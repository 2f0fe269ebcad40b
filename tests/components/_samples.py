"""The sample stacks as mutable documents, for tests that change one key at a time."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from latticework.plan import Plan, PlannedResource

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS_DIR = PROJECT_DIR / "stacks"

Document = dict[str, Any]
Mutation = Callable[[Document], None]


#: Nested YAML aliases: a hundred bytes a line that stand for a million values.
ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n" for level in range(1, 6)
)


def sample_catalog() -> Document:
    """A fresh, mutable copy of stacks/services.yaml."""
    loaded: Document = yaml.safe_load((STACKS_DIR / "services.yaml").read_text())
    return copy.deepcopy(loaded)


def sample_stack(env: str) -> Document:
    """A fresh, mutable copy of stacks/Pulumi.<env>.yaml."""
    loaded: Document = yaml.safe_load((STACKS_DIR / f"Pulumi.{env}.yaml").read_text())
    return loaded


def service(document: Document, name: str) -> Document:
    """The catalog entry called `name` inside a catalog document."""
    entries: list[Document] = document["services"]
    return next(entry for entry in entries if entry["name"] == name)


def settings(document: Document) -> Document:
    """The `latticework:settings` mapping inside a stack document."""
    found: Document = document["config"]["latticework:settings"]
    return found


def write_yaml(path: Path, document: Document) -> Path:
    """Write `document` to `path` as YAML and return the path."""
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def resources_of(
    plan: Plan, resource_type: str, *, parent_name: str | None = None
) -> list[PlannedResource]:
    """The plan's resources of one type, optionally only those under the named component."""
    found = list(plan.of_type(resource_type))
    if parent_name is None:
        return found
    return [
        planned
        for planned in found
        if planned.parent_urn is not None and planned.parent_urn.endswith(f"::{parent_name}")
    ]


def named(plan: Plan, resource_type: str, name: str) -> PlannedResource:
    """The one resource of the plan with this type and Pulumi name."""
    matches = [planned for planned in plan.of_type(resource_type) if planned.name == name]
    assert len(matches) == 1, f"expected one {resource_type} named {name}, found {len(matches)}"
    return matches[0]


def container_environment(plan: Plan, service: str) -> dict[str, str]:
    """The environment variables of a service's container, from its task definition."""
    task = named(plan, TASK_DEFINITION, f"{service}-task")
    definitions = json.loads(str(task.inputs["containerDefinitions"]))
    return {entry["name"]: entry["value"] for entry in definitions[0]["environment"]}


def policy_document(planned: PlannedResource, key: str = "policy") -> dict[str, Any]:
    """A JSON policy input of a planned resource, parsed."""
    document: dict[str, Any] = json.loads(str(planned.inputs[key]))
    return document


def inputs_of(planned: PlannedResource) -> Any:
    """A resource's inputs, typed loosely for reading nested values in assertions."""
    return planned.inputs


def outputs_of(planned: PlannedResource) -> Any:
    """A resource's outputs, typed loosely for reading nested values in assertions."""
    return planned.outputs


AUTH_POLICY = "aws:vpclattice/authPolicy:AuthPolicy"
ECS_SERVICE = "aws:ecs/service:Service"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LATTICE_SERVICE = "aws:vpclattice/service:Service"
SECRET = "aws:secretsmanager/secret:Secret"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
