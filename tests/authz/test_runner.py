"""Decision tests through `latticework.authz.run_cases` on the repository's `authz/`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cedarpy
import pytest
import yaml

from components.authz_files import load_authz
from latticework.authz import CaseReport, load_case_file, load_cases, run_cases

REPO_AUTHZ = Path(__file__).resolve().parents[2] / "authz"
STOREFRONT = "arn:aws:iam::444455556666:role/storefront-api"
PEOPLE: list[dict[str, Any]] = [
    {
        "uid": {"type": "Latticework::User", "id": "bob"},
        "parents": [{"type": "Latticework::UserGroup", "id": "support"}],
    },
    {
        "uid": {"type": "Latticework::UserGroup", "id": "support"},
        "parents": [{"type": "Latticework::UserGroup", "id": "staff"}],
    },
    {
        "uid": {"type": "Latticework::User", "id": "carol"},
        "parents": [{"type": "Latticework::UserGroup", "id": "customers"}],
    },
]


@pytest.fixture
def authz_dir(tmp_path: Path) -> Path:
    """A copy of the repository's authz/ with an empty tests/ directory."""
    target = tmp_path / "authz"
    shutil.copytree(REPO_AUTHZ, target)
    shutil.rmtree(target / "tests")
    (target / "tests").mkdir()
    return target


def run(authz_dir: Path, *cases: dict[str, Any], entities: Any = None) -> CaseReport:
    """Write `cases` to a test file, load it and run it against `authz_dir`."""
    document: dict[str, Any] = {"cases": [{"name": f"case {i}", **c} for i, c in enumerate(cases)]}
    if entities is not None:
        document["entities"] = entities
    path = authz_dir / "tests" / "cases.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return run_cases(load_authz(authz_dir), load_case_file(path))


def user(name: str) -> dict[str, str]:
    return {"type": "Latticework::User", "id": name}


def test_repository_decision_cases_all_pass() -> None:
    """Every case in authz/tests/*.yaml gets the decision it expects."""
    cases = load_cases(REPO_AUTHZ)

    report = run_cases(load_authz(REPO_AUTHZ), cases)

    assert [r.failure_line() for r in report.results if not r.passed] == []
    assert report.passed == len(cases) >= 20


def test_group_hierarchy_grants_through_nested_groups(authz_dir: Path) -> None:
    """A user in support, itself in staff, gets staff's read access; without the edge, not."""
    case = {
        "principal": user("bob"),
        "action": "GetPayment",
        "resource": {"type": "Latticework::Payment", "id": "p-1"},
    }
    flat = [dict(PEOPLE[0]), {"uid": PEOPLE[1]["uid"]}]

    nested = run(authz_dir, {**case, "expect": "allow"}, entities=PEOPLE)
    without_edge = run(authz_dir, {**case, "expect": "deny"}, entities=flat)

    assert nested.results[0].determining == ("staff-read-all",)
    assert nested.failed == 0
    assert without_edge.failed == 0


def test_sets_in_scope_and_context(authz_dir: Path) -> None:
    """`action in [...]` and `context.scopes.contains(...)` decide on set membership."""
    order = {"principal": user("carol"), "action": "CreateOrder"}
    store = {"type": "Latticework::Store", "id": "default"}

    report = run(
        authz_dir,
        {**order, "resource": store, "context": {"scopes": ["orders:write"]}, "expect": "allow"},
        {**order, "resource": store, "context": {"scopes": ["orders:read"]}, "expect": "deny"},
        {
            "principal": {"type": "Latticework::Service", "id": "orders"},
            "action": "GetItem",
            "resource": {"type": "Latticework::Item", "id": "sku-1"},
            "expect": "allow",
            "determining": ["orders-calls-inventory"],
        },
        entities=PEOPLE,
    )

    assert [r.passed for r in report.results] == [True, True, True]


def test_action_groups_resolve_because_the_schema_is_loaded(authz_dir: Path) -> None:
    """Staff's `action in ReadOnly` covers GetPayment only because the runner passes the schema."""
    authz = load_authz(authz_dir)
    request = {
        "principal": user("bob"),
        "action": {"type": "Latticework::Action", "id": "GetPayment"},
        "resource": {"type": "Latticework::Payment", "id": "p-1"},
        "context": {},
    }

    without_schema = cedarpy.is_authorized(request, authz.policy_set(), PEOPLE)
    report = run(
        authz_dir,
        {**request, "action": "GetPayment", "expect": "allow"},
        {
            **request,
            "action": "CancelOrder",
            "resource": {"type": "Latticework::Order", "id": "o"},
            "expect": "deny",
        },
        entities=PEOPLE,
    )

    assert not without_schema.allowed
    assert report.failed == 0


def test_template_link_grants_only_its_principal(authz_dir: Path) -> None:
    """The grant-read link allows the storefront role and nobody else."""
    other = "arn:aws:iam::444455556666:role/other"
    roles = [
        {
            "uid": {"type": "Latticework::IamRole", "id": arn},
            "attrs": {"account": "444455556666", "name": arn.rsplit("/", 1)[1]},
        }
        for arn in (STOREFRONT, other)
    ]
    read = {"action": "GetOrder", "resource": {"type": "Latticework::Order", "id": "o-1"}}

    report = run(
        authz_dir,
        {
            **read,
            "principal": {"type": "Latticework::IamRole", "id": STOREFRONT},
            "expect": "allow",
            "determining": ["storefront-reads"],
        },
        {**read, "principal": {"type": "Latticework::IamRole", "id": other}, "expect": "deny"},
        entities=roles,
    )

    assert [r.passed for r in report.results] == [True, True]


def test_ip_and_decimal_extension_values_in_context(authz_dir: Path) -> None:
    """ip ranges and decimal comparisons in context decide the guard rails."""
    payment = {
        "principal": {"type": "Latticework::Service", "id": "orders"},
        "action": "CreatePayment",
        "resource": {"type": "Latticework::PaymentLedger", "id": "default"},
    }
    order = {
        "principal": user("carol"),
        "action": "CreateOrder",
        "resource": {"type": "Latticework::Store", "id": "default"},
    }

    def amount(value: str) -> dict[str, Any]:
        return {"amount": {"__extn": {"fn": "decimal", "arg": value}}}

    def source(ip: str) -> dict[str, Any]:
        return {"sourceIp": {"__extn": {"fn": "ip", "arg": ip}}, "scopes": ["orders:write"]}

    report = run(
        authz_dir,
        {**payment, "context": amount("9999.99"), "expect": "allow"},
        {**payment, "context": amount("10000.01"), "expect": "deny"},
        {**order, "context": source("10.1.2.3"), "expect": "allow"},
        {
            **order,
            "context": source("198.51.100.4"),
            "expect": "deny",
            "determining": ["users-write-from-private-networks"],
        },
        entities=PEOPLE,
    )

    assert [r.passed for r in report.results] == [True, True, True, True]


def test_namespaced_types_are_distinct(authz_dir: Path) -> None:
    """A grant to Service::"orders" does not apply to an IAM role or user with the same id."""
    stock = {"action": "GetItem", "resource": {"type": "Latticework::Item", "id": "sku-1"}}

    report = run(
        authz_dir,
        {**stock, "principal": {"type": "Latticework::Service", "id": "orders"}, "expect": "allow"},
        {**stock, "principal": {"type": "Latticework::User", "id": "orders"}, "expect": "deny"},
    )

    assert report.failed == 0


def test_type_without_namespace_makes_the_case_invalid(authz_dir: Path) -> None:
    """A request naming `Service` without its namespace cannot be decided: the case is
    invalid, neither passed nor failed."""
    report = run(
        authz_dir,
        {
            "principal": {"type": "Service", "id": "orders"},
            "action": "GetItem",
            "resource": {"type": "Latticework::Item", "id": "sku-1"},
            "expect": "deny",
        },
    )

    [result] = report.results
    assert result.decision == "NoDecision"
    assert not result.passed
    assert (report.passed, report.failed, report.invalid) == (0, 0, 1)
    assert "principal: type `Service` is not declared in the schema" in result.failure_line()
    assert report.summary() == "0 passed, 0 failed, 1 invalid"


def test_entities_that_do_not_fit_the_schema_make_the_case_invalid(authz_dir: Path) -> None:
    """An entity attribute of the wrong type is named without repeating every entity sent."""
    entities = [{"uid": user("carol"), "attrs": {"email": 3}, "parents": []}]

    report = run(
        authz_dir,
        {
            "principal": user("carol"),
            "action": "GetItem",
            "resource": {"type": "Latticework::Item", "id": "sku-1"},
            "expect": "deny",
        },
        entities=entities,
    )

    line = report.results[0].failure_line()
    assert report.invalid == 1
    assert "entities: entity does not conform to the schema: in attribute `email`" in line
    assert "failed to parse entities from" not in line
    assert "Make the entities fit the schema" in line


ERRORING = {
    "principal": {"type": "Latticework::IamRole", "id": STOREFRONT},
    "action": "GetOrder",
    "resource": {"type": "Latticework::Order", "id": "o-1"},
    "expect": "allow",
}
# A forbid written without `has`: it errors when the role's entity is not sent.
ERRORING_FORBID = (
    '@id("roles-named-storefront-only")\n'
    "forbid (principal is Latticework::IamRole, action, resource)\n"
    'unless { principal.name == "storefront-api" };\n'
)


@pytest.fixture
def erroring_authz_dir(authz_dir: Path) -> Path:
    """The repository's authz/ plus a forbid that errors on a missing role entity."""
    (authz_dir / "policies" / "erroring.cedar").write_text(ERRORING_FORBID)
    return authz_dir


def test_partner_forbid_denies_a_role_sent_without_its_entity(authz_dir: Path) -> None:
    """The sample's partner forbid fails closed: no role entity means deny, not an error."""
    report = run(authz_dir, {**ERRORING, "expect": "deny"})

    [result] = report.results
    assert result.decision == "Deny"
    assert result.determining == ("external-roles-from-partner-account",)
    assert result.erroring == ()
    assert result.passed


def test_erroring_forbid_fails_the_case_unless_expected(erroring_authz_dir: Path) -> None:
    """A forbid that errors on a missing role entity is skipped, and the case fails for it."""
    report = run(erroring_authz_dir, ERRORING)

    [result] = report.results
    assert result.erroring == ("roles-named-storefront-only",)
    assert not result.passed
    assert "policy 'roles-named-storefront-only' errored and was skipped" in (result.failure_line())


def test_erroring_forbid_passes_when_the_case_expects_it(erroring_authz_dir: Path) -> None:
    """Listing the erroring policy under `errors` makes the same case pass."""
    case = {**ERRORING, "expect": "deny", "errors": ["roles-named-storefront-only"]}

    report = run(erroring_authz_dir, case)

    assert report.failed == 0


def test_expected_error_that_does_not_happen_fails(erroring_authz_dir: Path) -> None:
    """A case expecting an error fails when the policy evaluates cleanly."""
    role = {
        "uid": ERRORING["principal"],
        "attrs": {"account": "444455556666", "name": "storefront-api"},
    }

    report = run(
        erroring_authz_dir,
        {**ERRORING, "errors": ["roles-named-storefront-only"]},
        entities=[role],
    )

    assert "to error, they did not" in report.results[0].failure_line()


def test_wrong_decision_and_determining_policies_are_reported(authz_dir: Path) -> None:
    """One failure line names the case, the expected and actual decision and the policies."""
    report = run(
        authz_dir,
        {
            "principal": {"type": "Latticework::Service", "id": "orders"},
            "action": "GetItem",
            "resource": {"type": "Latticework::Item", "id": "sku-1"},
            "expect": "deny",
            "determining": ["staff-read-all"],
        },
    )

    line = report.results[0].failure_line()
    assert line.startswith(f"{authz_dir}/tests/cases.yaml:2: case 0: ")
    assert "expected deny, got allow (determining: orders-calls-inventory)" in line
    assert "expected determining policies ['staff-read-all']" in line
    assert report.summary() == "0 passed, 1 failed"
