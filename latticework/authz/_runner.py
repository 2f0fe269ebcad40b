"""Run decision cases against the policies of `authz/`, always with the schema loaded.

The schema is always passed to Cedar: action groups (`action in Action::"ReadOnly"`) only
resolve through it, and requests and entities are checked against it. Cedar skips a policy
whose evaluation errors, a forbid included, so a decision that came with errors fails its
case unless the case lists the erroring policies under `errors`.

A case Cedar cannot decide at all (a type or action the schema does not declare, a context
or entity that does not fit it) or that names a policy id no policy has is invalid, not
failed: the test file is wrong, not the policies, and `authz test` exits 2 for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cedarpy

from components.authz_files import NAMESPACE, AuthzFiles
from latticework.authz._cases import DecisionCase

_POLICY_ERROR = re.compile(r"error while evaluating policy `(?P<policy_id>[^`]+)`: ?(?P<detail>.*)")
_REQUEST_ERROR = "failed to build request: "
# Cedar repeats every entity sent before what is wrong with them: keep only the latter.
_ENTITIES_ERROR = re.compile(r"failed to parse entities from:.*?\]: (?=entity|error)", re.DOTALL)
_CASE_FIXES = (
    (
        "principal type ",
        "principal",
        f"Write the type with its namespace, as the schema declares it ({NAMESPACE}::Service)",
    ),
    (
        "resource type ",
        "resource",
        f"Write the type with its namespace, as the schema declares it ({NAMESPACE}::Item)",
    ),
    ("action ", "action", "Use an action the schema declares"),
    (
        "while parsing context, ",
        "context",
        "Make the context fit the action's context in the schema",
    ),
)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case: what Cedar decided and every way it missed the case."""

    case: DecisionCase
    decision: str
    determining: tuple[str, ...]
    erroring: tuple[str, ...]
    failures: tuple[str, ...]
    invalid: tuple[str, ...] = ()
    """Why the case cannot be decided as written (its file is wrong, not the policies)."""

    @property
    def passed(self) -> bool:
        return not self.failures and not self.invalid

    def failure_line(self) -> str:
        """One line naming the case and every way it is invalid or failed."""
        return f"{self.case.location}: {self.case.name}: {'; '.join(self.invalid or self.failures)}"


@dataclass(frozen=True, slots=True)
class CaseReport:
    """The results of a run, in case order."""

    results: tuple[CaseResult, ...]

    @property
    def passed(self) -> int:
        return sum(1 for result in self.results if result.passed)

    @property
    def invalid(self) -> int:
        return sum(1 for result in self.results if result.invalid)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed - self.invalid

    def summary(self) -> str:
        """The closing line: `N passed, N failed`, and `, N invalid` when there are any."""
        invalid = f", {self.invalid} invalid" if self.invalid else ""
        return f"{self.passed} passed, {self.failed} failed{invalid}"


def run_cases(authz: AuthzFiles, cases: Sequence[DecisionCase]) -> CaseReport:
    """Decide every case with the policy set and schema of `authz` parsed once."""
    policy_set = authz.policy_set()
    schema = authz.schema()
    policy_ids = frozenset(
        [policy.policy_id for policy in authz.policies] + [link.link_id for link in authz.links]
    )
    return CaseReport(tuple(_run_case(case, policy_set, schema, policy_ids) for case in cases))


def _run_case(
    case: DecisionCase,
    policy_set: cedarpy.PolicySet,
    schema: cedarpy.Schema,
    policy_ids: frozenset[str],
) -> CaseResult:
    result = cedarpy.is_authorized(
        case.request(), policy_set, [dict(entity) for entity in case.entities], schema=schema
    )
    decision = result.decision.value
    determining = tuple(sorted(result.diagnostics.reasons))
    erroring: list[str] = []
    failures: list[str] = []
    invalid = _unknown_ids(case, policy_ids)

    for error in result.diagnostics.errors:
        match = _POLICY_ERROR.match(error)
        if match is None:
            # Not a policy error: the request or entities do not fit the schema.
            invalid.append(_invalid_request(error))
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
        invalid=tuple(invalid),
    )


def _unknown_ids(case: DecisionCase, policy_ids: frozenset[str]) -> list[str]:
    """A problem for each `determining` or `errors` entry that names no policy or link."""
    problems = []
    for key, listed in (("determining", case.determining or ()), ("errors", case.errors)):
        for policy_id in listed:
            if policy_id not in policy_ids:
                problems.append(
                    f"{key}: no policy or template link has the @id {policy_id!r}. List @id "
                    "values of policies or links in authz/"
                )
    return problems


def _invalid_request(error: str) -> str:
    """Cedar's reason for not deciding a request, as `key: what is wrong. The fix`."""
    if _ENTITIES_ERROR.match(error):
        detail = _one_line(_ENTITIES_ERROR.sub("", error, count=1))
        return f"entities: {detail}. Make the entities fit the schema"

    detail = error.removeprefix(_REQUEST_ERROR)
    for prefix, key, fix in _CASE_FIXES:
        if detail.startswith(prefix):
            detail = detail.removeprefix(prefix)
            if key in ("principal", "resource"):
                detail = f"type {detail.removeprefix('type ')}"
                if "is not valid for" in detail:
                    fix = f"Use a type the action applies to (appliesTo.{key}Types in the schema)"
            return f"{key}: {_one_line(detail)}. {fix}"
    return f"Cedar could not decide the request: {_one_line(error)}. Make the case fit the schema"


def _why(determining: Sequence[str]) -> str:
    if not determining:
        return "(no policy applied)"
    return f"(determining: {', '.join(determining)})"


def _one_line(text: str) -> str:
    return " ".join(text.split())


__all__ = ["CaseReport", "CaseResult", "run_cases"]
