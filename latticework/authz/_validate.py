"""`latticework authz validate`: every problem in `authz/`, plus the catalog cross-check.

Besides what `components.authz_files` checks (every policy and template against the schema,
links against their templates), the routes of the service catalog are checked against the
schema: a route whose action or resource type the schema lacks can never be allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.authz_files import AuthzFiles, AuthzProblem, check_routes, inspect_authz
from components.spec import load_catalog


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
    catalog = load_catalog(catalog_file) if catalog_file is not None else None
    files, problems = inspect_authz(
        authz_dir, schema_file=schema_file, catalog=catalog, services_file=catalog_file
    )
    return ValidationReport(files, problems)


__all__ = ["ValidationReport", "check_routes", "validate_authz"]
