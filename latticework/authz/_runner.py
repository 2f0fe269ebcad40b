"""Run decision cases against the policies of `authz/`, always with the schema loaded.

The schema is always passed to Cedar: action groups (`action in Action::"ReadOnly"`) only
resolve through it, and requests and entities are checked against it. Cedar skips a policy
whose evaluation errors, a forbid included, so a decision that came with errors fails its
case unless the case lists the erroring policies under `errors`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cedarpy

from components.authz_files import AuthzFiles
from latticework.authz._cases import DecisionCase

_POLICY_ERROR = re.compile(r"error while evaluating policy `(?P<policy_id>[^`]+)`: ?(?P<detail>.*)")


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case: what Cedar decided and every way it missed the case."""

    case: DecisionCase
    decision: str
    determining: tuple[str, ...]
    erroring: tuple[str, ...]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def failure_line(self) -> str:
        """One line naming the case and every way it failed."""
        return f"{self.case.location}: {self.case.name}: {'; '.join(self.failures)}"


@dataclass(frozen=True, slots=True)
class CaseReport:
    """The results of a run, in case order."""

    results: tuple[CaseResult, ...]

    @property
    def passed(self) -> int:
        return sum(1 for result in self.results if result.passed)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    def summary(self) -> str:
        """The closing line: `N passed, N failed`."""
        return f"{self.passed} passed, {self.failed} failed"


def run_cases(authz: AuthzFiles, cases: Sequence[DecisionCase]) -> CaseReport:
    """Decide every case with the policy set and schema of `authz` parsed once."""
    policy_set = authz.policy_set()
    schema = authz.schema()
    return CaseReport(tuple(_run_case(case, policy_set, schema) for case in cases))


def _run_case(
    case: DecisionCase, policy_set: cedarpy.PolicySet, schema: cedarpy.Schema
) -> CaseResult:
    result = cedarpy.is_authorized(
        case.request(), policy_set, [dict(entity) for entity in case.entities], schema=schema
    )
    decision = result.decision.value
    determining = tuple(sorted(result.diagnostics.reasons))
    erroring: list[str] = []
    failures: list[str] = []

    for error in result.diagnostics.errors:
        match = _POLICY_ERROR.match(error)
        if match is None:
            # Not a policy error: the request or entities do not fit the schema.
            failures.append(f"Cedar could not evaluate the request: {_one_line(error)}")
            continue
        erroring.append(match["policy_id"])
        if match["policy_id"] not in case.errors:
            failures.append(
                f"policy {match['policy_id']!r} errored and was skipped "
                f"({_one_line(match['detail'])}); list it under `errors` if that is intended"
            )

    expected_decision = "Allow" if case.expect == "allow" else "Deny"
    if decision != expected_decision:
        failures.insert(0, f"expected {case.expect}, got {decision.lower()} {_why(determining)}")
    if case.determining is not None and set(case.determining) != set(determining):
        failures.append(
            f"expected determining policies {sorted(case.determining)}, got {list(determining)}"
        )
    missing_errors = sorted(set(case.errors) - set(erroring))
    if missing_errors:
        failures.append(f"expected policies {missing_errors} to error, they did not")

    return CaseResult(
        case=case,
        decision=decision,
        determining=determining,
        erroring=tuple(erroring),
        failures=tuple(failures),
    )


def _why(determining: Sequence[str]) -> str:
    if not determining:
        return "(no policy applied)"
    return f"(determining: {', '.join(determining)})"


def _one_line(text: str) -> str:
    return " ".join(text.split())


__all__ = ["CaseReport", "CaseResult", "run_cases"]
