"""Policy findings as JUnit XML, the test report format CI systems read.

One test suite per environment and one test case per policy, so a CI dashboard tracks each
policy by name from run to run:

- a policy with mandatory violations has a ``<failure>`` listing each resource and message;
- advisory violations and "checked at update" results go to the case's ``<system-out>``;
  they never fail the case, as they never fail `latticework check`;
- a disabled policy is ``<skipped>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from typing import Final

from latticework.findings import Finding, PolicyReport

_DISABLED: Final = "disabled"
# Characters XML 1.0 cannot carry even escaped; a name from JSON or YAML may hold them.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _line(finding: Finding) -> str:
    subject = finding.resource_name or "(stack)"
    return _xml_text(f"[{finding.enforcement}/{finding.status}] {subject}: {finding.message}")


def junit_tree(report: PolicyReport) -> ElementTree.Element:
    """The report as a ``<testsuites>`` element."""
    suite_name = f"{report.pack}.{report.environment}"
    cases: list[ElementTree.Element] = []
    failures = 0
    skipped = 0

    for policy in report.policies:
        case = ElementTree.Element(
            "testcase", {"classname": suite_name, "name": policy.name, "time": "0"}
        )
        findings = report.for_policy(policy.name)
        blocking = [finding for finding in findings if finding.is_blocking]
        other = [finding for finding in findings if not finding.is_blocking]
        if policy.enforcement == _DISABLED:
            ElementTree.SubElement(case, "skipped", {"message": "disabled by latticework:policies"})
            skipped += 1
        elif blocking:
            failure = ElementTree.SubElement(
                case,
                "failure",
                {
                    "type": "mandatory",
                    "message": _xml_text(
                        f"{len(blocking)} mandatory violation(s): {blocking[0].message}"
                    ),
                },
            )
            failure.text = "\n".join(_line(finding) for finding in blocking)
            failures += 1
        if other:
            output = ElementTree.SubElement(case, "system-out")
            output.text = "\n".join(_line(finding) for finding in other)
        cases.append(case)

    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{report.seconds:.3f}",
    }
    root = ElementTree.Element("testsuites", {"name": report.pack, **counts})
    suite = ElementTree.SubElement(root, "testsuite", {"name": suite_name, **counts})
    suite.extend(cases)
    return root


def render_junit(report: PolicyReport) -> str:
    """The JUnit XML document as text, with an XML declaration."""
    tree = junit_tree(report)
    ElementTree.indent(tree)
    body = ElementTree.tostring(tree, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


__all__ = ["junit_tree", "render_junit"]
