"""The JSON form of a Plan: a stable, versioned document for CI and other tools.

The schema is documented in docs/plan.md. Keys are sorted, resources are in URN order and
the text ends with a newline, so two plans of the same program are byte-identical and a
diff between two environments shows only what differs. `SCHEMA_VERSION` changes when a
field changes meaning or disappears; new fields may appear without a version change.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from latticework.plan import JsonValue, Plan, PlannedResource, PlannedService, ProgramMessage

SCHEMA_VERSION = 1
"""The version of the plan document's schema (`schemaVersion`)."""


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dictionary (camelCase keys)."""
    type_counts = Counter(resource.type for resource in plan.resources)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "environment": plan.environment,
        "project": plan.project,
        "stack": plan.stack,
        "region": plan.region,
        "accountId": plan.account_id,
        "summary": {
            "resources": sum(1 for resource in plan.resources if resource.custom),
            "components": sum(1 for resource in plan.resources if resource.is_component),
            "byType": dict(sorted(type_counts.items())),
        },
        "services": [_service_document(service) for service in plan.services],
        "resources": [_resource_document(resource) for resource in plan.resources],
        "stackOutputs": dict(plan.stack_outputs),
        "config": dict(plan.config),
        "messages": [_message_document(message) for message in plan.messages],
    }


def render_json(plan: Plan) -> str:
    """The plan document as text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(plan_document(plan), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _service_document(service: PlannedService) -> dict[str, JsonValue]:
    return {
        "name": service.name,
        "callers": list(service.callers),
        "iamPrincipals": list(service.iam_principals),
        "secrets": list(service.secrets),
    }


def _resource_document(resource: PlannedResource) -> dict[str, JsonValue]:
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": resource.name,
        "parent": resource.parent_urn,
        "component": resource.is_component,
        "id": resource.id,
        "inputs": dict(resource.inputs),
        "outputs": dict(resource.outputs),
        "dependencies": list(resource.dependencies),
        "propertyDependencies": {
            key: list(urns) for key, urns in resource.property_dependencies.items()
        },
        "provider": resource.provider,
        "protect": resource.protect,
        "deleteBeforeReplace": resource.delete_before_replace,
        "retainOnDelete": resource.retain_on_delete,
        "ignoreChanges": list(resource.ignore_changes),
        "secretOutputs": list(resource.secret_outputs),
        "read": resource.read,
    }


def _message_document(message: ProgramMessage) -> dict[str, JsonValue]:
    return {"severity": message.severity, "message": message.message, "urn": message.urn}


__all__ = ["SCHEMA_VERSION", "plan_document", "render_json"]
