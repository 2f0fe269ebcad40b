"""Tests for the JUnit XML form of policy findings."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import junitparser

from latticework.findings import (
    ADVISORY,
    CHECKED_AT_UPDATE,
    MANDATORY,
    Finding,
    PolicyInfo,
    PolicyReport,
)
from latticework.reports.junit import render_junit


def _finding(
    policy: str, name: str, enforcement: Any = MANDATORY, status: Any = "violation"
) -> Finding:
    return Finding(
        policy=policy,
        enforcement=enforcement,
        message=f"resource '{name}': field is wrong & <bad>; fix it.",
        urn=f"urn:pulumi:dev::latticework::t::{name}",
        resource_type="t",
        resource_name=name,
        status=status,
    )


def _report(*findings: Finding, disabled: bool = False) -> PolicyReport:
    return PolicyReport(
        environment="dev",
        pack="latticework-guardrails",
        policies=(
            PolicyInfo("lattice-auth-type-iam", "IAM auth.", "mandatory", "resource"),
            PolicyInfo("secret-rotation-period", "Rotate.", "advisory", "resource"),
            PolicyInfo(
                "ecs-service-no-public-ip",
                "No IP.",
                "disabled" if disabled else "mandatory",
                "resource",
            ),
        ),
        findings=findings,
        resources_checked=3,
    )


def _parse(report: PolicyReport) -> ElementTree.Element:
    text = render_junit(report)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    # Parses the text this test just generated, not untrusted input.
    return ElementTree.fromstring(text.split("\n", 1)[1])  # noqa: S314


def test_one_testcase_per_policy_and_a_clean_run_passes() -> None:
    """Each policy is one named test case; a clean report has no failures."""

    root = _parse(_report())

    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "latticework-guardrails.dev"
    names = [case.get("name") for case in suite.findall("testcase")]
    assert names == ["lattice-auth-type-iam", "secret-rotation-period", "ecs-service-no-public-ip"]
    assert root.get("tests") == "3"
    assert root.get("failures") == "0"


def test_mandatory_violations_are_failures_listing_each_resource() -> None:
    """A policy with mandatory violations fails, its text naming every resource."""
    report = _report(
        _finding("lattice-auth-type-iam", "orders"),
        _finding("lattice-auth-type-iam", "payments"),
    )

    root = _parse(report)

    case = root.find("testsuite/testcase[@name='lattice-auth-type-iam']")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("type") == "mandatory"
    assert failure.get("message", "").startswith("2 mandatory violation(s)")
    assert "orders: resource 'orders': field is wrong & <bad>" in (failure.text or "")
    assert "payments" in (failure.text or "")
    assert root.get("failures") == "1"


def test_advisory_and_checked_at_update_findings_do_not_fail() -> None:
    """Advisory and checked-at-update results are output, not failures."""
    report = _report(
        _finding("secret-rotation-period", "db", ADVISORY),
        _finding("lattice-auth-type-iam", "orders", ADVISORY, CHECKED_AT_UPDATE),
    )

    root = _parse(report)

    assert root.get("failures") == "0"
    rotation = root.find("testsuite/testcase[@name='secret-rotation-period']")
    assert rotation is not None
    assert rotation.find("failure") is None
    assert "[advisory/violation] db" in (rotation.findtext("system-out") or "")
    auth = root.find("testsuite/testcase[@name='lattice-auth-type-iam']")
    assert auth is not None
    assert "[advisory/checked-at-update] orders" in (auth.findtext("system-out") or "")


def test_disabled_policies_are_skipped() -> None:
    """A policy disabled by the stack's config is reported as skipped."""

    root = _parse(_report(disabled=True))

    case = root.find("testsuite/testcase[@name='ecs-service-no-public-ip']")
    assert case is not None
    assert case.find("skipped") is not None
    assert root.get("skipped") == "1"


def test_junitparser_reads_counts_results_and_output(tmp_path: Path) -> None:
    """junitparser, the reader behind common CI result publishers, sees what the report says."""
    report_file = tmp_path / "policies.xml"
    report_file.write_text(
        render_junit(
            PolicyReport(
                environment="dev",
                pack="latticework-guardrails",
                policies=(
                    PolicyInfo("lattice-auth-type-iam", "IAM auth.", "mandatory", "resource"),
                    PolicyInfo("secret-rotation-period", "Rotate.", "advisory", "resource"),
                    PolicyInfo("ecs-service-no-public-ip", "No IP.", "disabled", "resource"),
                ),
                findings=(
                    _finding("lattice-auth-type-iam", "orders"),
                    _finding("secret-rotation-period", "db", ADVISORY),
                ),
                resources_checked=3,
            )
        ),
        encoding="utf-8",
    )

    parsed = junitparser.JUnitXml.fromfile(str(report_file))

    (suite,) = list(parsed)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (3, 1, 0, 1)
    cases = {case.name: case for case in suite}
    assert [type(result).__name__ for result in cases["lattice-auth-type-iam"].result] == [
        "Failure"
    ]
    assert "[advisory/violation] db" in (cases["secret-rotation-period"].system_out or "")
    assert [type(result).__name__ for result in cases["ecs-service-no-public-ip"].result] == [
        "Skipped"
    ]


def test_control_characters_in_a_message_keep_the_xml_well_formed() -> None:
    """A name carrying a control character (legal in JSON and YAML) cannot break the XML."""
    finding = dataclasses.replace(
        _finding("lattice-auth-type-iam", "orders"),
        message="container 'orders' dockerLabels \x1b[31mkey\x00 holds a secret; fix it.",
    )

    root = _parse(_report(finding))

    failure = root.find("testsuite/testcase[@name='lattice-auth-type-iam']/failure")
    assert failure is not None
    assert "\ufffd[31mkey\ufffd holds a secret" in (failure.text or "")
    assert "\ufffd[31mkey\ufffd" in failure.get("message", "")
