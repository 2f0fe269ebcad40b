"""Tests for `latticework check`: plan + policies for CI, with its exit codes and formats."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from click.testing import CliRunner

from latticework.cli import main
from policy_packs.latticework_guardrails import policy_names
from tests.latticework.test_policy_eval import BROKEN_CATALOG

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The pack's policies plus the stack-file plaintext-secrets check that `check` adds.
CHECKS = len(policy_names()) + 1


@pytest.fixture
def broken_catalog(tmp_path: Path) -> Path:
    """A catalog whose ledger secret has no rotation (a mandatory failure)."""
    catalog = tmp_path / "services.yaml"
    catalog.write_text(BROKEN_CATALOG)
    return catalog


def test_clean_environment_exits_zero_with_a_summary() -> None:
    """A sample environment passes: exit 0 and a one-line summary."""

    result = CliRunner().invoke(main, ["check", "--env", "dev", "--project-dir", str(PROJECT_DIR)])

    assert result.exit_code == 0, result.output
    assert f"latticework-guardrails: {CHECKS} policies passed" in result.output


def test_mandatory_failure_exits_one_and_names_the_policies(broken_catalog: Path) -> None:
    """A mandatory violation exits 1 with the failing policies on stderr; JSON on stdout."""

    result = CliRunner().invoke(
        main,
        [
            "check",
            "--env",
            "dev",
            "--project-dir",
            str(PROJECT_DIR),
            "--services",
            str(broken_catalog),
            "--format",
            "json",
        ],
    )

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["passed"] is False
    assert {finding["policy"] for finding in document["findings"]} == {
        "secret-rotation-required",
        "secret-rotation-period",
    }
    assert "mandatory policy violation(s) in dev: secret-rotation-required" in result.stderr


def test_sarif_and_junit_go_to_output_files(tmp_path: Path, broken_catalog: Path) -> None:
    """--output writes the SARIF or JUnit report to a file and still exits 1 on failure."""
    sarif_file = tmp_path / "policies.sarif"
    junit_file = tmp_path / "policies.xml"
    common = ["check", "--env", "dev", "--project-dir", str(PROJECT_DIR)]

    sarif = CliRunner().invoke(
        main,
        [
            *common,
            "--services",
            str(broken_catalog),
            "--format",
            "sarif",
            "--output",
            str(sarif_file),
        ],
    )
    junit = CliRunner().invoke(main, [*common, "--format", "junit", "--output", str(junit_file)])

    assert sarif.exit_code == 1
    results = json.loads(sarif_file.read_text())["runs"][0]["results"]
    assert {result["ruleId"] for result in results} == {
        "secret-rotation-required",
        "secret-rotation-period",
    }
    catalog_uri = broken_catalog.resolve().as_uri()
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {catalog_uri}
    assert junit.exit_code == 0
    # Parses the file this test just generated, not untrusted input.
    root = ElementTree.parse(junit_file).getroot()  # noqa: S314
    assert root.get("tests") == str(CHECKS)
    assert root.get("failures") == "0"


def test_unknown_format_is_a_usage_error() -> None:
    """An unsupported --format is rejected by the command line with exit 2."""

    result = CliRunner().invoke(main, ["check", "--env", "dev", "--format", "html"])

    assert result.exit_code == 2
    assert "html" in result.output


def test_plan_runs_the_pack_and_exits_one_on_a_mandatory_failure(broken_catalog: Path) -> None:
    """`latticework plan` reports the plan, then the pack's summary, and fails on a violation."""

    result = CliRunner().invoke(
        main,
        [
            "plan",
            "--env",
            "dev",
            "--project-dir",
            str(PROJECT_DIR),
            "--services",
            str(broken_catalog),
            "--format",
            "json",
        ],
    )

    assert result.exit_code == 1
    assert json.loads(result.stdout)["environment"] == "dev"
    assert "1 mandatory violation(s), 1 advisory or checked-at-update finding(s)" in result.stderr
    assert "secret-rotation-required" in result.stderr


def test_plan_writes_its_report_before_failing_on_a_mandatory_violation(
    tmp_path: Path, broken_catalog: Path
) -> None:
    """With a mandatory violation, --output still gets the whole plan, then the exit is 1."""
    target = tmp_path / "plan.json"
    target.write_text("previous plan\n")

    result = CliRunner().invoke(
        main,
        [
            *("plan", "--env", "dev", "--project-dir", str(PROJECT_DIR)),
            *("--services", str(broken_catalog), "--format", "json", "--output", str(target)),
        ],
    )

    assert result.exit_code == 1
    assert json.loads(target.read_text())["environment"] == "dev"
    assert f"wrote the dev plan (json) to {target}" in result.stderr
    assert "mandatory policy violation(s) in dev: secret-rotation-required" in result.stderr


def test_plan_table_ends_with_the_policy_result() -> None:
    """A clean plan's table ends with the line saying every policy passed."""

    result = CliRunner().invoke(main, ["plan", "--env", "dev", "--project-dir", str(PROJECT_DIR)])

    assert result.exit_code == 0, result.output
    last_line = result.output.rstrip().splitlines()[-1]
    assert re.fullmatch(
        rf"latticework-guardrails: {len(policy_names())} policies passed on \d+ resources of dev",
        last_line,
    )
