"""Cedar authorization as code: validate `authz/`, run its decision tests, format it."""

from latticework.authz._cases import DecisionCase, load_case_file, load_cases
from latticework.authz._format import (
    SCHEMA_RENDERING_FILE,
    FormatResult,
    authz_format_targets,
    check_read_files,
    format_cedar,
    format_file,
    format_schema,
    render_schema,
)
from latticework.authz._runner import CaseReport, CaseResult, run_cases
from latticework.authz._validate import ValidationReport, check_routes, validate_authz

__all__ = [
    "SCHEMA_RENDERING_FILE",
    "CaseReport",
    "CaseResult",
    "DecisionCase",
    "FormatResult",
    "ValidationReport",
    "authz_format_targets",
    "check_read_files",
    "check_routes",
    "format_cedar",
    "format_file",
    "format_schema",
    "load_case_file",
    "load_cases",
    "render_schema",
    "run_cases",
    "validate_authz",
]
