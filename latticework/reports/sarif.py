"""Policy findings as SARIF 2.1.0, the format GitHub code scanning uploads.

Each policy is a rule (its description, default level and a security severity); each
finding is a result whose physical location points at the file and line a person edits to
fix it: the service's entry in the catalog when the resource belongs to a catalog service,
else the environment's stack file. The resource itself is the result's logical location.
GitHub needs at least one physical location per result, so every result has one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from latticework.findings import CHECKED_AT_UPDATE, MANDATORY, Finding, PolicyReport

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION: Final = "2.1.0"
_INFORMATION_URI: Final = "https://github.com/latticework/latticework/blob/main/docs/policies.md"
_SECURITY_SEVERITY: Final = {"mandatory": "8.0", "advisory": "4.0", "disabled": "0.0"}
_RULE_LEVEL: Final = {"mandatory": "error", "advisory": "warning", "disabled": "none"}


@dataclass(frozen=True, slots=True)
class SourceLine:
    """A file (relative to the repository root, `/`-separated) and a 1-based line."""

    uri: str
    line: int


class SourceLocator:
    """Finds where a resource is declared: its catalog entry, else the stack file.

    A finding about a stack file itself (named ``Pulumi.<env>.yaml:config.<key path>``, as
    `latticework check`'s plaintext-secret check names them) points at that file and key.

    A resource belongs to catalog service ``S`` when its name starts with ``S-`` or contains
    ``-S-`` (``orders-task-role``, ``dev-secrets-orders-database``); the longest matching
    service name wins.
    """

    def __init__(
        self,
        *,
        root: Path,
        stack_file: Path,
        services_file: Path,
        service_names: Sequence[str],
    ) -> None:
        self._root = root
        self._stacks_dir = stack_file.parent
        self._stack = SourceLine(_relative(stack_file, root), _first_line(stack_file, _SETTINGS))
        self._services_uri = _relative(services_file, root)
        self._service_lines = _service_lines(services_file, service_names)
        self._names = sorted(service_names, key=len, reverse=True)

    def locate(self, finding: Finding) -> SourceLine:
        """Where to fix `finding`."""
        name = finding.resource_name or ""
        in_stack_file = self._stack_file_key(name)
        if in_stack_file is not None:
            return in_stack_file

        for service in self._names:
            if name.startswith(f"{service}-") or f"-{service}-" in name or name == service:
                line = self._service_lines.get(service)
                if line is not None:
                    return SourceLine(self._services_uri, line)
        return self._stack

    def _stack_file_key(self, name: str) -> SourceLine | None:
        # Findings about a stack file itself are named `<file>:config.<key path>`, or
        # `<file>` alone when the file cannot be read.
        file_name, separator, key_path = name.partition(":config.")
        stack_file = self._stacks_dir / file_name
        is_stack_file = file_name.startswith("Pulumi.") and file_name.endswith(".yaml")
        if not is_stack_file or "/" in file_name or not stack_file.is_file():
            return None
        if not separator:
            return SourceLine(_relative(stack_file, self._root), 1)

        last_key = re.escape(key_path.split(".")[-1].split("[")[0])
        line = _first_line(stack_file, re.compile(rf"^\s*-?\s*[\"']?{last_key}[\"']?\s*:"))
        return SourceLine(_relative(stack_file, self._root), line)


_SETTINGS: Final = re.compile(r"^\s*latticework:settings\s*:")


def _relative(path: Path, root: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        # Outside the repository (a catalog passed with --services): an absolute file URI.
        return resolved.as_uri()


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def _first_line(path: Path, pattern: re.Pattern[str]) -> int:
    for number, text in enumerate(_lines(path), start=1):
        if pattern.search(text):
            return number
    return 1


def _service_lines(path: Path, names: Sequence[str]) -> dict[str, int]:
    entry = re.compile(r"^\s*-?\s*name\s*:\s*[\"']?([a-z][a-z0-9-]*)[\"']?\s*(#.*)?$")
    wanted = set(names)
    lines: dict[str, int] = {}
    for number, text in enumerate(_lines(path), start=1):
        match = entry.match(text)
        if match and match.group(1) in wanted and match.group(1) not in lines:
            lines[match.group(1)] = number
    return lines


def _artifact_location(uri: str) -> dict[str, str]:
    # SARIF 3.4.4: an absolute URI (a catalog outside the repository) takes no uriBaseId.
    if uri.startswith("file:"):
        return {"uri": uri}
    return {"uri": uri, "uriBaseId": "%SRCROOT%"}


def _result_level(finding: Finding) -> str:
    if finding.status == CHECKED_AT_UPDATE:
        return "note"
    return "error" if finding.enforcement == MANDATORY else "warning"


def _fingerprint(finding: Finding) -> str:
    # Stable across runs: the same policy saying the same thing about the same resource is
    # the same alert. The message is part of it because one policy can report several
    # fields of one resource; rewording a policy's message therefore opens new alerts.
    key = f"{finding.policy}\x00{finding.urn or ''}\x00{finding.message}"
    return hashlib.sha256(key.encode()).hexdigest()


def sarif_document(
    report: PolicyReport, locator: SourceLocator, *, tool_version: str = "0.1.0"
) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (a JSON-ready dict) with one run."""
    rule_index = {policy.name: index for index, policy in enumerate(report.policies)}
    rules = [
        {
            "id": policy.name,
            "name": "".join(part.capitalize() for part in policy.name.split("-")),
            "shortDescription": {"text": policy.description},
            "fullDescription": {"text": policy.description},
            "helpUri": f"{_INFORMATION_URI}#{policy.name}",
            "help": {"text": f"{policy.description} See docs/policies.md#{policy.name}."},
            "defaultConfiguration": {"level": _RULE_LEVEL.get(policy.enforcement, "warning")},
            "properties": {
                "tags": ["security", "crossguard", policy.kind],
                "security-severity": _SECURITY_SEVERITY.get(policy.enforcement, "4.0"),
            },
        }
        for policy in report.policies
    ]

    results = []
    for finding in report.findings:
        source = locator.locate(finding)
        result: dict[str, Any] = {
            "ruleId": finding.policy,
            "level": _result_level(finding),
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact_location(source.uri),
                        "region": {"startLine": source.line},
                    },
                    "logicalLocations": [
                        {
                            "name": finding.resource_name or report.environment,
                            "fullyQualifiedName": finding.urn or f"stack:{report.environment}",
                            "kind": "resource" if finding.urn else "module",
                        }
                    ],
                }
            ],
            "partialFingerprints": {"latticeworkFinding/v1": _fingerprint(finding)},
            "properties": {"status": finding.status, "enforcement": finding.enforcement},
        }
        if finding.policy in rule_index:
            result["ruleIndex"] = rule_index[finding.policy]
        results.append(result)

    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": report.pack,
                        "informationUri": _INFORMATION_URI,
                        "semanticVersion": tool_version,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"latticework/{report.environment}/"},
                "results": results,
            }
        ],
    }


def render_sarif(report: PolicyReport, locator: SourceLocator) -> str:
    """The SARIF log as indented JSON text."""
    return json.dumps(sarif_document(report, locator), indent=2) + "\n"


__all__ = [
    "SARIF_SCHEMA",
    "SARIF_VERSION",
    "SourceLine",
    "SourceLocator",
    "render_sarif",
    "sarif_document",
]
