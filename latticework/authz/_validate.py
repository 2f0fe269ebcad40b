"""`latticework authz validate`: every problem in `authz/`, plus the catalog cross-check.

Besides what `components.authz_files` checks (every policy and template against the schema,
links against their templates), the routes of the service catalog are checked against the
schema: a route whose action or resource type the schema lacks can never be allowed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from components.authz_files import (
    NAMESPACE,
    AuthzFiles,
    AuthzProblem,
    inspect_authz,
)
from components.spec import ServiceCatalog, load_catalog


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What `authz validate` found: the files (None when unreadable) and every problem."""

    files: AuthzFiles | None
    problems: tuple[AuthzProblem, ...]

    @property
    def ok(self) -> bool:
        return self.files is not None and not self.problems


def validate_authz(
    authz_dir: Path, *, schema_file: Path | None = None, catalog_file: Path | None = None
) -> ValidationReport:
    """Validate `authz/` (against `schema_file` when given) and the catalog's routes."""
    files, problems = inspect_authz(authz_dir, schema_file=schema_file)
    if files is not None and catalog_file is not None:
        catalog = load_catalog(catalog_file)
        problems = (*problems, *check_routes(files.schema_json, catalog, catalog_file))
    return ValidationReport(files, problems)


def check_routes(
    schema_json: str, catalog: ServiceCatalog, catalog_file: Path
) -> tuple[AuthzProblem, ...]:
    """Every catalog route whose action or resource type does not fit the schema."""
    actions = json.loads(schema_json)[NAMESPACE].get("actions", {})
    text = catalog_file.read_text(encoding="utf-8")
    problems: list[AuthzProblem] = []
    for service, index, action, resource_type in _routes(catalog):
        where = f"services[{service}].routes[{index}]"
        line = _line_of(text, f"action: {action}")
        applies_to = actions.get(action, {}).get("appliesTo")
        if action not in actions:
            problems.append(
                AuthzProblem(
                    catalog_file,
                    line,
                    None,
                    f"{where}: action {action!r} is not in the schema",
                    f"Add {action!r} to the actions of authz/schema.json or fix the route.",
                )
            )
        elif applies_to is None or resource_type not in applies_to.get("resourceTypes", []):
            problems.append(
                AuthzProblem(
                    catalog_file,
                    line,
                    None,
                    f"{where}: action {action!r} does not apply to resource type "
                    f"{NAMESPACE}::{resource_type}",
                    f"Add {resource_type!r} to the action's appliesTo.resourceTypes in "
                    "authz/schema.json or fix the route's resource type.",
                )
            )
    return tuple(problems)


def _routes(catalog: ServiceCatalog) -> Iterable[tuple[str, int, str, str]]:
    for service in catalog.services:
        for index, route in enumerate(service.routes):
            if route.action is not None and route.resource is not None:
                yield service.name, index, route.action, route.resource.type


def _line_of(text: str, needle: str) -> int:
    position = text.find(needle)
    return 1 if position == -1 else text.count("\n", 0, position) + 1


__all__ = ["ValidationReport", "check_routes", "validate_authz"]
