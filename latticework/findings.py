"""Policy findings: what the CrossGuard pack reported on one plan.

A `Finding` is one violation reported by a policy, or one check that could not run because a
value is only known at update (``status == "checked-at-update"``, always advisory, as a
real preview reports it). A `PolicyReport` holds every finding of one run plus what ran, so
the table, JSON, SARIF and JUnit reports all read the same thing. Messages come from the
policies, which never repeat a secret value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

MANDATORY: Final = "mandatory"
ADVISORY: Final = "advisory"
DISABLED: Final = "disabled"
VIOLATION: Final = "violation"
CHECKED_AT_UPDATE: Final = "checked-at-update"

EnforcementName = Literal["mandatory", "advisory"]
FindingStatus = Literal["violation", "checked-at-update"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One policy result about one resource (or about the stack when `urn` is None)."""

    policy: str
    enforcement: EnforcementName
    message: str
    urn: str | None
    resource_type: str | None
    resource_name: str | None
    status: FindingStatus = VIOLATION

    @property
    def is_blocking(self) -> bool:
        """Whether this finding fails the run: a mandatory violation."""
        return self.status == VIOLATION and self.enforcement == MANDATORY

    def to_json(self) -> dict[str, str | None]:
        """The finding as plain JSON values."""
        return {
            "policy": self.policy,
            "enforcement": self.enforcement,
            "status": self.status,
            "message": self.message,
            "urn": self.urn,
            "resourceType": self.resource_type,
            "resourceName": self.resource_name,
        }


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One policy that ran (or was disabled) and the level it ran at."""

    name: str
    description: str
    enforcement: str
    """``mandatory``, ``advisory`` or ``disabled``."""
    kind: Literal["resource", "stack"]


@dataclass(frozen=True, slots=True)
class PolicyReport:
    """Every finding of one policy run over one environment's plan."""

    environment: str
    pack: str
    policies: tuple[PolicyInfo, ...]
    findings: tuple[Finding, ...]
    resources_checked: int
    seconds: float = field(default=0.0, compare=False)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The mandatory violations; any of them fails `latticework plan` and `check`."""
        return tuple(finding for finding in self.findings if finding.is_blocking)

    @property
    def passed(self) -> bool:
        """Whether no mandatory policy failed."""
        return not self.blocking

    def for_policy(self, name: str) -> tuple[Finding, ...]:
        """The findings of one policy."""
        return tuple(finding for finding in self.findings if finding.policy == name)

    def to_json(self) -> dict[str, object]:
        """The report as plain JSON values, for ``--format json``."""
        return {
            "environment": self.environment,
            "pack": self.pack,
            "passed": self.passed,
            "resourcesChecked": self.resources_checked,
            "policies": [
                {
                    "name": policy.name,
                    "description": policy.description,
                    "enforcement": policy.enforcement,
                    "kind": policy.kind,
                }
                for policy in self.policies
            ],
            "findings": [finding.to_json() for finding in self.findings],
        }


__all__ = [
    "ADVISORY",
    "CHECKED_AT_UPDATE",
    "DISABLED",
    "MANDATORY",
    "VIOLATION",
    "EnforcementName",
    "Finding",
    "FindingStatus",
    "PolicyInfo",
    "PolicyReport",
]
