"""Local Cedar decisions on real policies, schema always loaded, reload on change."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pep_runtime.enforcement import AuditLog, DecisionCache, Enforcer, HttpRequest
from pep_runtime.enforcement.exceptions import DecisionUnavailableError, EnforcementConfigError
from pep_runtime.enforcement.local_cedar import LocalCedarDecisionPoint
from pep_runtime.enforcement.model import (
    AuthorizationRequest,
    Decision,
    EntityUid,
    Principal,
)

from .conftest import FIXTURE_AUTHZ, FRONTEND_IDENTITY, make_config

FRONTEND = Principal(uid=EntityUid("Latticework::Service", "frontend"))
ALICE = Principal(uid=EntityUid("Latticework::User", "alice"))
SUPPORT_BOB = Principal(
    uid=EntityUid("Latticework::User", "bob"),
    parents=(EntityUid("Latticework::UserGroup", "support"),),
)
PARTNER = Principal(
    uid=EntityUid("Latticework::IamRole", "arn:aws:iam::444455556666:role/partner-reader"),
    attributes={"account": "444455556666", "name": "partner-reader"},
)
ANONYMOUS = Principal(uid=EntityUid("Latticework::Anonymous", "anonymous"))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _order(order_id: str) -> EntityUid:
    return EntityUid("Latticework::Order", order_id)


@pytest.fixture
def decision_point() -> LocalCedarDecisionPoint:
    """The local decision point on the fixture authz/ files."""
    return LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework")


@pytest.mark.parametrize(
    ("principal", "action", "resource", "decision", "policies"),
    [
        (FRONTEND, "GetOrder", _order("o-1"), Decision.ALLOW, ("frontend-reads-orders",)),
        (FRONTEND, "GetOrder", _order("locked"), Decision.DENY, ("never-order-locked",)),
        (FRONTEND, "CancelOrder", _order("o-1"), Decision.DENY, ()),
        (PARTNER, "GetOrder", _order("o-1"), Decision.ALLOW, ("partner-role-reads-orders",)),
        (SUPPORT_BOB, "GetOrder", _order("o-2"), Decision.ALLOW, ("support-group-reads-orders",)),
        (ALICE, "GetOrder", _order("o-2"), Decision.DENY, ()),
        (ALICE, "CancelOrder", _order("o-1"), Decision.ALLOW, ("alice-cancels-o-1",)),
        (ALICE, "CancelOrder", _order("o-2"), Decision.DENY, ()),
        (
            ANONYMOUS,
            "ReadCatalog",
            EntityUid("Latticework::Catalog", "c"),
            Decision.ALLOW,
            ("anyone-reads-catalog",),
        ),
    ],
)
def test_decisions_on_real_policies(
    decision_point: LocalCedarDecisionPoint,
    principal: Principal,
    action: str,
    resource: EntityUid,
    decision: Decision,
    policies: tuple[str, ...],
) -> None:
    """Static policies (by @id), forbids and template links decide as Cedar says."""
    result = decision_point.is_authorized(AuthorizationRequest(principal, action, resource))

    assert result.decision is decision
    assert result.determining_policies == policies
    assert result.errors == ()


def test_id_with_cedar_syntax_is_only_a_literal(decision_point: LocalCedarDecisionPoint) -> None:
    """A resource id that looks like Cedar code cannot reach the forbidden `locked` order."""
    resource = _order('locked" || resource == Latticework::Order::"o-1')

    result = decision_point.is_authorized(AuthorizationRequest(FRONTEND, "GetOrder", resource))

    assert result.decision is Decision.ALLOW
    assert result.determining_policies == ("frontend-reads-orders",)


def test_request_outside_the_schema_is_an_erroring_deny(
    decision_point: LocalCedarDecisionPoint,
) -> None:
    """An anonymous caller on an action whose schema excludes it gets a deny with errors."""
    result = decision_point.is_authorized(AuthorizationRequest(ANONYMOUS, "GetOrder", _order("x")))

    assert result.decision is Decision.DENY
    assert result.errors
    assert not result.allowed


def test_entities_outside_the_schema_are_an_erroring_deny(
    decision_point: LocalCedarDecisionPoint,
) -> None:
    """An IAM role principal with an attribute the schema lacks is denied with an error.

    (A role without `account` and `name` can no longer be built: they come from its ARN.)
    """
    bare_role = Principal(
        uid=EntityUid("Latticework::IamRole", "arn:aws:iam::111122223333:role/x"),
        attributes={"team": "undeclared"},
    )

    result = decision_point.is_authorized(AuthorizationRequest(bare_role, "GetOrder", _order("x")))

    assert not result.allowed
    assert result.errors


def test_evaluation_error_alongside_allow_is_not_allowed(authz_copy: Path) -> None:
    """A policy that errors at run time taints an Allow from another policy."""
    (authz_copy / "policies" / "overflow.cedar").write_text(
        '@id("overflows")\n'
        'permit (principal, action == Latticework::Action::"GetOrder", resource)\n'
        "when { 9223372036854775807 + 1 > 0 };\n"
    )
    decision_point = LocalCedarDecisionPoint(authz_copy, namespace="Latticework")

    result = decision_point.is_authorized(AuthorizationRequest(FRONTEND, "GetOrder", _order("a")))

    assert result.decision is Decision.ALLOW
    assert result.errors
    assert not result.allowed


def test_batch_keeps_order(decision_point: LocalCedarDecisionPoint) -> None:
    """Batch results come back in the order of the requests."""
    requests = [
        AuthorizationRequest(FRONTEND, "GetOrder", _order(order_id))
        for order_id in ["a", "locked", "b", "locked"]
    ]

    results = decision_point.is_authorized_batch(requests)

    assert [result.allowed for result in results] == [True, False, True, False]


def test_policies_that_fail_the_schema_do_not_load(authz_copy: Path) -> None:
    """A policy naming an unknown action fails validation at start-up."""
    (authz_copy / "policies" / "bad.cedar").write_text(
        'permit (principal, action == Latticework::Action::"Nope", resource);\n'
    )

    with pytest.raises(EnforcementConfigError, match="do not validate"):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


def test_missing_schema_does_not_load(authz_copy: Path) -> None:
    """Without schema.json nothing loads."""
    (authz_copy / "schema.json").unlink()

    with pytest.raises(EnforcementConfigError, match=r"schema\.json"):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


@pytest.mark.parametrize(
    ("link", "message"),
    [
        (
            "{id: l1, template: nope, principal: {type: Latticework::User, id: a}, "
            "resource: {type: Latticework::Order, id: o}}",
            r"\[0\]: the link to nope does not link",
        ),
        (
            "{id: l1, template: owner-cancels-order, principal: {type: Latticework::User, id: a}}",
            r"\[0\]: the link to owner-cancels-order does not link",
        ),
        (
            "{id: l1, template: owner-cancels-order, principal: {type: User, id: a}, "
            "resource: {type: Latticework::Order, id: o}}",
            r"\[0\]\.principal\.type: expected an entity type of the schema by its full name",
        ),
        (
            "{id: l1, template: owner-cancels-order, principal: {type: Latticework::Usr, id: a}, "
            "resource: {type: Latticework::Order, id: o}}",
            r"found Latticework::Usr",
        ),
        ("{id: l1, template: owner-cancels-order}", r"\[0\]: the link to owner-cancels-order"),
        ("{links: []}", r"expected a list of links, found a mapping"),
    ],
)
def test_a_link_that_cannot_link_does_not_load(authz_copy: Path, link: str, message: str) -> None:
    """A link names an existing template, fills its slots and uses the schema's entity types
    by their full names (as `latticework authz validate` asks); the error names the link."""
    (authz_copy / "links.yaml").write_text(f"- {link}\n" if link.startswith("{id") else link)

    with pytest.raises(EnforcementConfigError, match=message):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


def test_two_policies_with_one_id_do_not_load(authz_copy: Path) -> None:
    """A second policy under an @id already used would be audited under the other's name."""
    (authz_copy / "policies" / "locked.cedar").write_text(
        '@id("frontend-reads-orders")\n'
        'forbid (principal, action, resource == Latticework::Order::"2");\n'
    )

    with pytest.raises(EnforcementConfigError, match=r'@id\("frontend-reads-orders"\) .*twice'):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


@pytest.mark.parametrize("link_id", ["frontend-reads-orders", "owner-cancels-order", "policy0"])
def test_a_link_id_that_names_a_policy_does_not_load(authz_copy: Path, link_id: str) -> None:
    """A link's id must name no policy or template: not its @id, nor the position Cedar
    names a policy without one by (policy0, ...)."""
    (authz_copy / "links.yaml").write_text(
        f"- {{id: {link_id}, template: owner-cancels-order, "
        "principal: {type: Latticework::User, id: a}, "
        "resource: {type: Latticework::Order, id: o}}\n"
    )

    with pytest.raises(EnforcementConfigError, match=rf"links\.yaml: \[0\]\.id: {link_id} "):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


@pytest.mark.parametrize(
    ("entry", "field", "found"),
    [
        # YAML 1.1 reads these as numbers or booleans: 0017 is 15, no is false, 12:30 is 750.
        ("resource: {type: Order, id: 0017}", r"\[0\]\.resource\.id", "found 15;"),
        ("principal: {type: User, id: no}", r"\[0\]\.principal\.id", "found false;"),
        ("resource: {type: Order, id: 12:30}", r"\[0\]\.resource\.id", "found 750;"),
        ("principal: {type: 7, id: a}", r"\[0\]\.principal\.type", "found 7;"),
        ("principal: {type: User, id: a, role: x}", r"\[0\]\.principal", "key role"),
        ("resources: {type: Order, id: o}", r"\[0\]", "key resources"),
    ],
)
def test_a_link_value_that_is_not_text_does_not_load(
    authz_copy: Path, entry: str, field: str, found: str
) -> None:
    """Link entities are text as written: a value YAML reads as a number or boolean would be
    linked on another entity (Order::"15" for 0017), so it is refused, as the store does,
    and so is a key a link does not have."""
    (authz_copy / "links.yaml").write_text(
        f"- id: l1\n  template: owner-cancels-order\n  {entry}\n"
    )

    with pytest.raises(EnforcementConfigError, match=rf"links\.yaml: {field}: .*{found}"):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


@pytest.mark.parametrize("folder", ["policies", "templates"])
def test_an_id_that_is_another_policys_position_does_not_load(
    authz_copy: Path, folder: str
) -> None:
    """A policy or template without @id is named by its position (policy0, ...): an @id that
    is another's position would name two policies in the audit line, or make a link take
    the wrong template (Cedar resolves the position first)."""
    (authz_copy / "policies" / "za.cedar").write_text(
        'forbid (principal, action, resource == Latticework::Order::"x");\n'
    )
    (authz_copy / folder / "zz.cedar").write_text(
        '@id("policy2")\n'
        'permit (principal == ?principal, action, resource == Latticework::Order::"y");\n'
        if folder == "templates"
        else '@id("policy2")\nforbid (principal, action, resource == Latticework::Order::"y");\n'
    )

    with pytest.raises(EnforcementConfigError, match=r'@id\("policy2"\) is also the name'):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_reload_picks_up_changed_policies(authz_copy: Path) -> None:
    """After the check interval, a changed policy file is reloaded and used."""
    clock = FakeClock()
    decision_point = LocalCedarDecisionPoint(
        authz_copy, namespace="Latticework", reload_check_seconds=2, clock=clock
    )
    request = AuthorizationRequest(ALICE, "GetOrder", _order("o-9"))
    before = decision_point.is_authorized(request)
    _touch(
        authz_copy / "policies" / "alice.cedar",
        '@id("alice-reads")\n'
        'permit (principal == Latticework::User::"alice", '
        'action == Latticework::Action::"GetOrder", resource);\n',
    )

    unchanged = decision_point.is_authorized(request)
    clock.now = 3
    after = decision_point.is_authorized(request)

    assert not before.allowed
    assert not unchanged.allowed
    assert after.allowed
    assert after.determining_policies == ("alice-reads",)


def test_broken_reload_fails_closed_until_fixed(authz_copy: Path) -> None:
    """Files that change into something unloadable make decisions unavailable until fixed."""
    clock = FakeClock()
    decision_point = LocalCedarDecisionPoint(
        authz_copy, namespace="Latticework", reload_check_seconds=1, clock=clock
    )
    request = AuthorizationRequest(FRONTEND, "GetOrder", _order("o-1"))
    orders = authz_copy / "policies" / "orders.cedar"
    good_text = orders.read_text()
    _touch(orders, "permit (principal, action, resource")
    clock.now = 2

    with pytest.raises(DecisionUnavailableError):
        decision_point.is_authorized(request)
    _touch(orders, good_text)
    clock.now = 4
    result = decision_point.is_authorized(request)

    assert result.allowed


@pytest.mark.parametrize(
    "links",
    [b"? [a, b]\n: 1\n", b"[" * 5000 + b"]" * 5000, b"- {id: x, template: t}\n\xff\n"],
    ids=["unhashable-key", "deep-nesting", "not-utf8"],
)
def test_a_reload_that_fails_in_any_way_denies_every_decision(
    authz_copy: Path, links: bytes
) -> None:
    """However the changed files fail to load, no later decision comes from the old policies
    (which may allow what the change was written to forbid)."""
    clock = FakeClock()
    decision_point = LocalCedarDecisionPoint(
        authz_copy, namespace="Latticework", reload_check_seconds=1, clock=clock
    )
    request = AuthorizationRequest(FRONTEND, "GetOrder", _order("o-1"))
    assert decision_point.is_authorized(request).allowed
    (authz_copy / "links.yaml").write_bytes(links)

    refusals = []
    for now in (2.0, 2.5, 3.0, 4.5):
        clock.now = now
        with pytest.raises(DecisionUnavailableError) as caught:
            decision_point.is_authorized(request)
        refusals.append(caught.value.reason)

    assert refusals == ["policies-unloadable"] * 4


def test_a_file_check_that_fails_denies_like_a_reload_that_fails(authz_copy: Path) -> None:
    """When the files cannot even be looked at (here schema.json became a symlink to itself,
    so stat fails with ELOOP), no decision comes from the old policies either."""
    clock = FakeClock()
    decision_point = LocalCedarDecisionPoint(
        authz_copy, namespace="Latticework", reload_check_seconds=1, clock=clock
    )
    request = AuthorizationRequest(FRONTEND, "GetOrder", _order("o-1"))
    schema = authz_copy / "schema.json"
    schema.unlink()
    schema.symlink_to("schema.json")

    reasons = []
    for now in (2.0, 2.5, 4.0):
        clock.now = now
        with pytest.raises(DecisionUnavailableError) as caught:
            decision_point.is_authorized(request)
        reasons.append(caught.value.reason)

    assert reasons == ["policies-unloadable"] * 3


def test_an_edit_that_keeps_size_and_mtime_is_reloaded(authz_copy: Path) -> None:
    """A copy that keeps the old timestamp (`cp -p`, `rsync -t`) and the old size is still
    seen as a change."""
    clock = FakeClock()
    decision_point = LocalCedarDecisionPoint(
        authz_copy, namespace="Latticework", reload_check_seconds=1, clock=clock
    )
    request = AuthorizationRequest(FRONTEND, "GetOrder", _order("o-1"))
    orders = authz_copy / "policies" / "orders.cedar"
    before = orders.stat()
    text = orders.read_text()
    revoked = text.replace("permit (", "forbid (", 1)
    assert len(revoked) == len(text)
    orders.write_text(revoked)
    os.utime(orders, ns=(before.st_atime_ns, before.st_mtime_ns))
    clock.now = 2

    assert not decision_point.is_authorized(request).allowed


def _cached_enforcer(authz_dir: Path, clock: FakeClock) -> Enforcer:
    """An enforcer whose decisions live long in its cache, on local Cedar that looks for
    changed files every second of `clock`."""
    decision_point = LocalCedarDecisionPoint(
        authz_dir, namespace="Latticework", reload_check_seconds=1, clock=clock
    )
    config = make_config(authz_dir=authz_dir)
    cache = DecisionCache(max_entries=100, ttl_seconds=3600, clock=clock)
    return Enforcer(config, decision_point, cache=cache, audit=AuditLog(io.StringIO()))


@pytest.mark.parametrize(
    ("edit", "status"),
    [
        (lambda authz: _touch(authz / "schema.json", "{ broken"), 503),
        (
            lambda authz: _touch(
                authz / "policies" / "orders.cedar",
                (authz / "policies" / "orders.cedar")
                .read_text()
                .replace("permit (", "forbid (", 1),
            ),
            403,
        ),
    ],
    ids=["files-stop-loading", "permit-revoked"],
)
def test_a_cached_decision_is_not_reused_once_the_policies_change(
    authz_copy: Path, edit: Callable[[Path], None], status: int
) -> None:
    """A decision is cached for the policies that made it: once changed files are seen, a
    cached Allow is neither kept past a revoke nor served while the files do not load."""
    clock = FakeClock()
    enforcer = _cached_enforcer(authz_copy, clock)
    request = HttpRequest("GET", b"/orders/o-1", {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]})
    first = enforcer.check(request).status
    assert enforcer.check(request).status == first == 200
    edit(authz_copy)
    clock.now = 2

    assert enforcer.check(request).status == status


#: Conditions that make Cedar's parser recurse thousands deep: cedarpy crashes the process
#: (a stack overflow) on each, so they must never reach it. Strings hold lookalikes.
TOO_DEEP = {
    "brackets": "[" * 1000 + "]" * 1000 + ' == [] && "[[[[" == "[[[["',
    "and-chain": " && ".join(["true"] * 20000),
    "nested-if": "if true then " * 5000 + "true" + " else false" * 5000,
    "attribute-chain": "principal" + ".a" * 20000 + ' == "&& || if"',
    "negations": "!!!!(" * 150 + "true" + ")" * 150,
}


@pytest.mark.parametrize("condition", TOO_DEEP.values(), ids=TOO_DEEP.keys())
def test_a_policy_too_deep_for_cedar_is_refused_not_parsed(
    authz_copy: Path, condition: str
) -> None:
    """Such a file is refused before it is parsed: at start a config error, on reload a
    503, never a crashed service."""
    clock = FakeClock()
    decision_point = LocalCedarDecisionPoint(
        authz_copy, namespace="Latticework", reload_check_seconds=1, clock=clock
    )
    request = AuthorizationRequest(FRONTEND, "GetOrder", _order("o-1"))
    policy = f'@id("deep")\nforbid (principal, action, resource) when {{ {condition} }};\n'
    (authz_copy / "policies" / "deep.cedar").write_text(policy)
    clock.now = 2

    with pytest.raises(DecisionUnavailableError):
        decision_point.is_authorized(request)
    with pytest.raises(EnforcementConfigError, match=r"recurse \d+ deep, more than 400"):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


def test_unreadable_policy_file_is_a_config_error(authz_copy: Path) -> None:
    """A policy file that is not UTF-8 is a config error naming the directory."""
    (authz_copy / "policies" / "latin1.cedar").write_bytes(b"// caf\xe9\n")

    with pytest.raises(EnforcementConfigError, match="cannot read the policy files"):
        LocalCedarDecisionPoint(authz_copy, namespace="Latticework")


REPOSITORY_AUTHZ = Path(__file__).resolve().parents[3] / "authz"


def test_the_repository_authz_layout_loads() -> None:
    """The security team's authz/ files load with their schema, templates and links."""
    decision_point = LocalCedarDecisionPoint(REPOSITORY_AUTHZ, namespace="Latticework")
    orders = Principal(uid=EntityUid("Latticework::Service", "orders"))
    anonymous = Principal(uid=EntityUid("Latticework::Anonymous", "anonymous"))
    item = EntityUid("Latticework::Item", "sku-42")

    reserve = decision_point.is_authorized(AuthorizationRequest(orders, "ReserveItem", item))
    nothing = decision_point.is_authorized(AuthorizationRequest(anonymous, "GetItem", item))

    assert reserve.allowed
    assert reserve.determining_policies == ("orders-calls-inventory",)
    assert not nothing.allowed
