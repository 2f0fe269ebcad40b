"""Tests for `components.authz_files`: loading `authz/` and every validation error kind."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import cedarpy
import pytest

from components.authz_files import (
    AuthzProblem,
    AuthzValidationError,
    inspect_authz,
    load_authz,
    load_yaml,
    split_statements,
)
from components.errors import SpecError
from tests._special_files import replace_with

REPO_AUTHZ = Path(__file__).resolve().parents[2] / "authz"

SCHEMA: dict[str, Any] = {
    "Latticework": {
        "entityTypes": {
            "User": {
                "memberOfTypes": ["UserGroup"],
                "shape": {
                    "type": "Record",
                    "attributes": {
                        "email": {"type": "String", "required": False},
                        "name": {"type": "String"},
                    },
                },
            },
            "UserGroup": {},
            "Order": {},
        },
        "actions": {
            "GetOrder": {
                "appliesTo": {
                    "principalTypes": ["User"],
                    "resourceTypes": ["Order"],
                    "context": {
                        "type": "Record",
                        "attributes": {"sourceIp": {"type": "Extension", "name": "ipaddr"}},
                    },
                }
            }
        },
    }
}
GOOD = (
    '@id("users-read")\n'
    "permit (\n"
    "  principal is Latticework::User,\n"
    '  action == Latticework::Action::"GetOrder",\n'
    "  resource\n"
    ");\n"
)
TEMPLATE = (
    '@id("grant-read")\n'
    'permit (principal == ?principal, action == Latticework::Action::"GetOrder", resource);\n'
)


def make_authz(
    root: Path,
    policies: str = GOOD,
    *,
    templates: str | None = None,
    links: str | None = None,
    schema: dict[str, Any] | str | None = None,
) -> Path:
    """Write a small authz/ directory and return its path."""
    authz = root / "authz"
    (authz / "policies").mkdir(parents=True)
    (authz / "templates").mkdir()
    schema_text = schema if isinstance(schema, str) else json.dumps(schema or SCHEMA, indent=2)
    (authz / "schema.json").write_text(schema_text)
    (authz / "policies" / "main.cedar").write_text(policies)
    if templates is not None:
        (authz / "templates" / "grants.cedar").write_text(templates)
    if links is not None:
        (authz / "links.yaml").write_text(links)
    return authz


def problems_of(authz: Path, **kwargs: Any) -> tuple[AuthzProblem, ...]:
    _, problems = inspect_authz(authz, **kwargs)
    return problems


def only_problem(authz: Path, **kwargs: Any) -> AuthzProblem:
    problems = problems_of(authz, **kwargs)
    assert problems, "expected a problem"
    return problems[0]


def with_condition(condition: str) -> str:
    return GOOD.replace(");\n", f")\nwhen {{ {condition} }};\n")


def test_repository_authz_is_valid() -> None:
    """The sample authz/ of the repository loads without a problem."""

    authz = load_authz(REPO_AUTHZ)

    assert len(authz.policies) >= 5
    assert [t.policy_id for t in authz.templates] == ["grant-read"]
    assert authz.links[0].template_id == "grant-read"


def test_valid_layout_loads_policies_with_ids_and_lines(tmp_path: Path) -> None:
    """Policies are read with their @id, file and first line."""
    authz = make_authz(tmp_path, "// header\n\n" + GOOD + "\n" + GOOD.replace("users-read", "b"))

    files = load_authz(authz)

    assert [(p.policy_id, p.line) for p in files.policies] == [("users-read", 3), ("b", 10)]
    assert files.policies[0].file == authz / "policies" / "main.cedar"
    assert files.policies[0].statement.startswith('@id("users-read")')


def test_unknown_entity_type_is_reported_with_file_line_and_id(tmp_path: Path) -> None:
    """A misspelled entity type names the file, the line of the type and the policy id."""
    authz = make_authz(tmp_path, GOOD.replace("Latticework::User,", "Latticework::Usr,"))

    problem = only_problem(authz)

    assert problem.file == authz / "policies" / "main.cedar"
    assert problem.line == 3
    assert problem.policy_id == "users-read"
    assert "unrecognized entity type `Latticework::Usr`" in problem.message
    assert str(problem).startswith(f'{problem.file}:3: policy "users-read": ')


def test_namespace_mistake_is_reported(tmp_path: Path) -> None:
    """An entity type written without its namespace is an unknown type with a fix."""
    authz = make_authz(tmp_path, GOOD.replace("Latticework::User,", "User,"))

    problem = only_problem(authz)

    assert "unrecognized entity type `User`" in problem.message
    assert problem.fix.startswith("Write Latticework::User:")


def test_unknown_action_is_reported(tmp_path: Path) -> None:
    """An action the schema does not declare is reported against its policy."""
    authz = make_authz(tmp_path, GOOD.replace('"GetOrder"', '"GetOrders"'))

    problem = only_problem(authz)

    assert 'unrecognized action `Latticework::Action::"GetOrders"`' in problem.message
    assert problem.line == 4


def test_unknown_attribute_is_reported_on_its_line(tmp_path: Path) -> None:
    """An attribute missing from the entity's shape is reported on the line that uses it."""
    authz = make_authz(tmp_path, with_condition('principal.nmae == "x"'))

    problem = only_problem(authz)

    assert "attribute `nmae`" in problem.message
    assert problem.line == 7


def test_optional_attribute_without_has_is_reported(tmp_path: Path) -> None:
    """Reading an optional attribute without a `has` guard is rejected with the fix."""
    authz = make_authz(tmp_path, with_condition('principal.email == "a@example.com"'))

    problem = only_problem(authz)

    assert "optional attribute `email`" in problem.message
    assert "`principal has email && principal.email" in problem.fix


def test_optional_attribute_with_has_passes(tmp_path: Path) -> None:
    """The same access guarded by `has` validates."""
    authz = make_authz(
        tmp_path, with_condition('principal has email && principal.email == "a@example.com"')
    )

    assert problems_of(authz) == ()


def test_has_on_an_attribute_the_schema_never_declares_is_reported(tmp_path: Path) -> None:
    """`has` on an undeclared attribute is always false, so it is reported, not accepted."""
    authz = make_authz(tmp_path, with_condition("principal has emial"))

    problem = only_problem(authz)

    assert (problem.line, problem.policy_id) == (7, "users-read")
    assert "`has emial` tests an attribute no entity type or context" in problem.message


def test_misspelled_extension_function_is_reported(tmp_path: Path) -> None:
    """An unknown extension function (`ipp` for `ip`) is a syntax error naming the function."""
    authz = make_authz(tmp_path, with_condition('context.sourceIp.isInRange(ipp("10.0.0.0/8"))'))

    problem = only_problem(authz)

    assert "`ipp` is not a valid function" in problem.message
    assert (problem.line, problem.policy_id) == (7, "users-read")
    assert "ip, decimal" in problem.fix


def test_misspelled_extension_type_in_schema_is_reported(tmp_path: Path) -> None:
    """A schema naming an unknown extension type (`ipadr`) is rejected at schema.json."""
    schema = json.loads(json.dumps(SCHEMA))
    context = schema["Latticework"]["actions"]["GetOrder"]["appliesTo"]["context"]
    context["attributes"]["sourceIp"]["name"] = "ipadr"
    authz = make_authz(tmp_path, schema=schema)

    problem = only_problem(authz)

    assert problem.file == authz / "schema.json"
    assert "invalid Cedar schema" in problem.message
    assert "ipadr" in problem.message


def test_in_on_a_string_is_a_type_error(tmp_path: Path) -> None:
    """`in` with a string operand is a type error."""
    authz = make_authz(tmp_path, with_condition('principal.name in "admins"'))

    problem = only_problem(authz)

    assert "unexpected type" in problem.message
    assert "`in` takes an entity" in problem.fix
    assert (problem.line, problem.policy_id) == (7, "users-read")


def test_missing_id_is_reported(tmp_path: Path) -> None:
    """A policy without an @id annotation is rejected at its line."""
    authz = make_authz(tmp_path, GOOD + "\n" + GOOD.replace('@id("users-read")\n', ""))

    problem = only_problem(authz)

    assert problem.line == 8
    assert "no @id annotation" in problem.message


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    """Two policies with the same @id are rejected, naming where the first one is."""
    authz = make_authz(tmp_path, GOOD + GOOD)

    problem = only_problem(authz)

    assert problem.line == 7
    assert "duplicate id, first used at" in problem.message
    assert problem.message.endswith("main.cedar:1")


def test_syntax_error_is_reported_at_its_statement(tmp_path: Path) -> None:
    """A statement Cedar cannot parse is reported at the line it starts on."""
    authz = make_authz(tmp_path, GOOD + "\npermit (principal, action, resource) when { 1 + };\n")

    problem = only_problem(authz)

    assert problem.line == 8
    assert problem.message.startswith("Cedar syntax error")


def test_missing_semicolon_at_end_is_reported(tmp_path: Path) -> None:
    """Text after the last policy that never ends in ';' is reported."""
    authz = make_authz(tmp_path, GOOD + '\n@id("b") permit (principal, action, resource)\n')

    problem = only_problem(authz)

    assert problem.line == 8
    assert "does not end with ';'" in problem.message


def test_template_in_policies_dir_is_reported(tmp_path: Path) -> None:
    """A template placed among static policies must move to templates/."""
    authz = make_authz(tmp_path, TEMPLATE)

    problem = only_problem(authz)

    assert problem.policy_id == "grant-read"
    assert "authz/templates/" in problem.fix


def test_problems_come_in_the_same_order_every_time(tmp_path: Path) -> None:
    """Cedar reports one policy's errors in no fixed order (one per principal type here);
    they are sorted, so that a report or a CI log does not change from run to run."""
    authz = tmp_path / "authz"
    shutil.copytree(REPO_AUTHZ, authz)
    (authz / "policies" / "zz.cedar").write_text(
        '@id("reads-nothing")\npermit (principal, action, resource)\n'
        "when { principal.nothing == 1 };\n"
    )

    runs = {tuple(str(problem) for problem in problems_of(authz)) for _ in range(12)}

    assert len(runs) == 1
    [problems] = runs
    assert len(problems) > 1
    assert list(problems) == sorted(problems)


def test_a_links_yaml_error_reads_as_one_sentence(tmp_path: Path) -> None:
    """PyYAML's own 'found ...' text is not preceded by a second 'found'."""
    authz = make_authz(tmp_path, templates=TEMPLATE, links="- id: a\n\t- template: b\n")

    with pytest.raises(SpecError) as raised:
        load_authz(authz)

    assert "cannot start any token" in str(raised.value)
    assert "found found" not in str(raised.value)


TOO_DEEP = {
    "records": "{a: " * 1000 + "1" + "}" * 1000 + ' == {} && "{{{{" == "{{{{"',
    "or-chain": " || ".join(["false"] * 20000),
    "nested-if": "if true then " * 5000 + "true" + " else false" * 5000,
    "sum": " + ".join(["1"] * 20000) + " == 0",
    "negations": "!!!!(" * 150 + "true" + ")" * 150,
}


@pytest.mark.parametrize("condition", TOO_DEEP.values(), ids=TOO_DEEP.keys())
def test_a_policy_too_deep_for_cedar_is_a_problem_not_a_crash(
    tmp_path: Path, condition: str
) -> None:
    """cedarpy's parser crashes the process (a stack overflow) on conditions thousands deep:
    such a statement is reported, at its line, before it is parsed."""
    deep = f'@id("deep")\nforbid (principal, action, resource)\nwhen {{ {condition} }};\n'
    authz = make_authz(tmp_path, policies=GOOD + deep)

    problem = only_problem(authz)

    assert (problem.line, problem.policy_id) == (7, "deep")
    assert re.search(r"recurse \d+ deep, more than 400", problem.message)


def test_a_long_condition_of_method_calls_is_parsed(tmp_path: Path) -> None:
    """Ninety address ranges or-ed together (4.6 KB, well inside the policy size limit) are
    neither too deep for the guard nor for Cedar."""
    ranges = " || ".join(
        f'context.sourceIp.isInRange(ip("10.{index}.0.0/16"))' for index in range(90)
    )
    authz = make_authz(tmp_path, policies=with_condition(f"context has sourceIp && ({ranges})"))

    assert problems_of(authz) == ()


def test_a_long_but_shallow_policy_is_parsed(tmp_path: Path) -> None:
    """A set of 300 members (more than the depth limit) is long, not deep: it is parsed and
    validated as usual."""
    members = ", ".join(f'Latticework::User::"u{index}"' for index in range(300))
    authz = make_authz(tmp_path, policies=with_condition(f"principal in [{members}]"))

    assert problems_of(authz) == ()


def test_a_schema_nested_too_deeply_to_read_is_a_problem(tmp_path: Path) -> None:
    """schema.json nested 1,000 deep overflows the JSON reader: a problem, not a traceback."""
    authz = make_authz(tmp_path, schema='{"Latticework": ' + "[" * 1000 + "]" * 1000 + "}")

    problem = only_problem(authz)

    assert problem.file.name == "schema.json"
    assert problem.message == "JSON nested too deeply to read"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- " + "[" * 2000 + "]" * 2000 + "\n", "values nested too deeply to read"),
        (
            "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(
                f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n"
                for level in range(1, 6)
            ),
            "a document that expands to more",
        ),
    ],
    ids=["too-deep", "alias-bomb"],
)
def test_an_authz_yaml_file_that_cannot_be_read_safely_is_refused(
    tmp_path: Path, text: str, found: str
) -> None:
    """links.yaml and the test cases are read like the catalog: no traceback, no endless
    walk of aliases."""
    path = tmp_path / "links.yaml"
    path.write_text(text)

    with pytest.raises(SpecError) as raised:
        load_yaml(path)

    assert raised.value.found == found


def test_template_is_validated_against_the_schema(tmp_path: Path) -> None:
    """Templates are checked against the schema like static policies."""
    authz = make_authz(tmp_path, templates=TEMPLATE.replace('"GetOrder"', '"Nope"'))

    problem = only_problem(authz)

    assert problem.file == authz / "templates" / "grants.cedar"
    assert problem.policy_id == "grant-read"
    assert "unrecognized action" in problem.message


def test_link_to_unknown_template_is_reported(tmp_path: Path) -> None:
    """A link naming a template that does not exist is rejected at its YAML line."""
    links = (
        "# links\n- id: alice-reads\n  template: grant-reed\n"
        "  principal: {type: Latticework::User, id: alice}\n"
    )
    authz = make_authz(tmp_path, templates=TEMPLATE, links=links)

    problem = only_problem(authz)

    assert (problem.file.name, problem.line, problem.policy_id) == ("links.yaml", 2, "alice-reads")
    assert "template 'grant-reed' not found" in problem.message


def test_link_filling_the_wrong_slots_is_reported(tmp_path: Path) -> None:
    """A link must fill exactly the template's slots."""
    links = (
        "- id: alice-reads\n  template: grant-read\n"
        "  principal: {type: Latticework::User, id: alice}\n"
        "  resource: {type: Latticework::Order, id: o-1}\n"
    )
    authz = make_authz(tmp_path, templates=TEMPLATE, links=links)

    problem = only_problem(authz)

    assert "has slots ['?principal']" in problem.message


def test_link_with_unnamespaced_type_is_reported(tmp_path: Path) -> None:
    """A link's entity type must be a namespaced type of the schema."""
    links = "- id: alice-reads\n  template: grant-read\n  principal: {type: User, id: alice}\n"
    authz = make_authz(tmp_path, templates=TEMPLATE, links=links)

    problem = only_problem(authz)

    assert "entity type 'User' is not in the schema" in problem.message


def test_schema_with_another_namespace_is_reported(tmp_path: Path) -> None:
    """The schema must declare exactly the Latticework namespace."""
    authz = make_authz(tmp_path, schema={"Shop": SCHEMA["Latticework"]})

    problem = only_problem(authz)

    assert "expected exactly one namespace 'Latticework', found ['Shop']" in problem.message


def test_schema_with_duplicate_keys_is_reported(tmp_path: Path) -> None:
    """Duplicate JSON keys in the schema are rejected instead of silently merged."""
    text = json.dumps(SCHEMA).replace('"UserGroup": {}', '"UserGroup": {}, "UserGroup": {}')
    authz = make_authz(tmp_path, schema=text)

    problem = only_problem(authz)

    assert "duplicate keys ['UserGroup']" in problem.message


def test_invalid_schema_json_is_reported_with_its_line(tmp_path: Path) -> None:
    """Malformed JSON names the line it breaks on."""
    authz = make_authz(tmp_path, schema='{\n  "Latticework": {,\n}')

    problem = only_problem(authz)

    assert problem.line == 2
    assert problem.message.startswith("invalid JSON")


def test_proposed_schema_is_checked_against_every_existing_policy(tmp_path: Path) -> None:
    """A schema change that drops an attribute a policy uses fails before deployment."""
    authz = make_authz(tmp_path, with_condition('principal.name == "x"'))
    proposed = json.loads(json.dumps(SCHEMA))
    del proposed["Latticework"]["entityTypes"]["User"]["shape"]["attributes"]["name"]
    proposed_file = tmp_path / "proposed.json"
    proposed_file.write_text(json.dumps(proposed))

    problems_now = problems_of(authz)
    problem = only_problem(authz, schema_file=proposed_file)

    assert problems_now == ()
    assert problem.policy_id == "users-read"
    assert "attribute `name`" in problem.message


@pytest.mark.parametrize(
    ("policies", "dropped_type"),
    [
        (with_condition('principal.name == "x"'), None),
        (GOOD, "User"),
    ],
    ids=["policy-no-longer-fits", "schema-invalid"],
)
def test_fixes_for_a_proposed_schema_name_that_file(
    tmp_path: Path, policies: str, dropped_type: str | None
) -> None:
    """With a proposed schema, each fix says to edit that file, not authz/schema.json."""
    authz = make_authz(tmp_path, policies)
    proposed = json.loads(json.dumps(SCHEMA))
    del proposed["Latticework"]["entityTypes"]["User"]["shape"]["attributes"]["name"]
    if dropped_type is not None:
        # Still named by an action's appliesTo: the schema itself no longer resolves.
        del proposed["Latticework"]["entityTypes"][dropped_type]
    proposed_file = tmp_path / "proposed.json"
    proposed_file.write_text(json.dumps(proposed, indent=2))

    problem = only_problem(authz, schema_file=proposed_file)

    assert str(proposed_file) in problem.fix
    assert "authz/schema.json" not in problem.fix


def test_load_authz_raises_spec_error_listing_every_problem(tmp_path: Path) -> None:
    """`load_authz` raises a SpecError whose message lists each problem on its own line."""
    bad = GOOD.replace("Latticework::User,", "Latticework::Usr,")
    authz = make_authz(tmp_path, bad + "\n" + bad.replace("users-read", "second"))

    with pytest.raises(SpecError) as raised:
        load_authz(authz)

    assert isinstance(raised.value, AuthzValidationError)
    assert len(raised.value.problems) == 4
    message = str(raised.value)
    assert message.splitlines()[0] == "4 problem(s) in the authorization files:"
    assert 'main.cedar:3: policy "users-read"' in message
    assert 'main.cedar:10: policy "second"' in message


def test_policy_set_reports_decisions_by_id(tmp_path: Path) -> None:
    """The combined policy set names determining policies and links by their ids."""
    links = (
        "- id: alice-reads\n  template: grant-read\n"
        "  principal: {type: Latticework::User, id: alice}\n"
    )
    authz = load_authz(make_authz(tmp_path, templates=TEMPLATE, links=links))
    request = {
        "principal": {"type": "Latticework::User", "id": "alice"},
        "action": {"type": "Latticework::Action", "id": "GetOrder"},
        "resource": {"type": "Latticework::Order", "id": "o-1"},
        "context": {"sourceIp": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}},
    }
    entities = [{"uid": request["principal"], "attrs": {"name": "Alice"}, "parents": []}]

    result = cedarpy.is_authorized(request, authz.policy_set(), entities, schema=authz.schema())

    assert result.allowed
    assert sorted(result.diagnostics.reasons) == ["alice-reads", "users-read"]


def test_split_statements_ignores_semicolons_in_strings_and_comments() -> None:
    """A ';' inside a string or a comment does not end a statement."""
    source = (
        '// a; comment\n@id("a") permit (principal, action, resource)\nwhen { "x;y" == "x;y" };\n'
    )

    statements, trailing = split_statements(source)

    assert len(statements) == 1
    assert statements[0].line == 2
    assert statements[0].text.startswith('@id("a")')
    assert statements[0].text.endswith('"x;y" };')
    assert trailing is None


def test_yaml_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    """The YAML loader rejects a mapping with a key given twice, naming the line."""
    path = tmp_path / "links.yaml"
    path.write_text("- id: a\n  template: t\n  template: u\n")

    with pytest.raises(SpecError, match=r"links\.yaml:3.*duplicate key 'template'"):
        load_yaml(path)


@pytest.mark.parametrize(
    ("policies", "expected_line"),
    [
        pytest.param(
            with_condition('principal.email == "a@example.com"').replace("users-read", "email-ok"),
            7,
            id="name-inside-the-id-annotation",
        ),
        pytest.param(
            GOOD.replace("  resource\n", "  resource is Order\n"), 5, id="name-in-GetOrder"
        ),
        pytest.param(
            with_condition('principal.nmae == "x"').replace("when", "// nmae: see below\nwhen"),
            8,
            id="name-inside-a-comment",
        ),
    ],
)
def test_error_line_is_where_the_name_is_used(
    tmp_path: Path, policies: str, expected_line: int
) -> None:
    """The reported line is the name's use, not its text inside the @id, a comment or a word."""
    authz = make_authz(tmp_path, policies)

    problem = only_problem(authz)

    assert problem.line == expected_line, str(problem)


def test_linked_policy_is_validated_against_the_schema(tmp_path: Path) -> None:
    """A link whose principal type no action of the template applies to is rejected."""
    links = (
        "- id: order-reads\n  template: grant-read\n"
        "  principal: {type: Latticework::Order, id: o}\n"
    )
    authz = make_authz(tmp_path, templates=TEMPLATE, links=links)

    problem = only_problem(authz)

    assert (problem.file.name, problem.line, problem.policy_id) == ("links.yaml", 1, "order-reads")
    assert "linked policy" in problem.message
    assert "unable to find an applicable action" in problem.message


def test_slot_inside_an_is_in_scope_is_a_slot(tmp_path: Path) -> None:
    """`principal is T in ?principal` declares the ?principal slot, so a link may fill it."""
    template = TEMPLATE.replace(
        "principal == ?principal", "principal is Latticework::User in ?principal"
    )
    links = (
        "- id: staff-reads\n  template: grant-read\n"
        "  principal: {type: Latticework::UserGroup, id: staff}\n"
    )
    authz = make_authz(tmp_path, templates=template, links=links)

    files, problems = inspect_authz(authz)

    assert problems == ()
    assert files is not None
    assert files.templates[0].slots == ("?principal",)


@pytest.mark.parametrize("relative", ["schema.json", "policies/main.cedar", "links.yaml"])
def test_file_that_is_not_utf8_is_a_problem(tmp_path: Path, relative: str) -> None:
    """A file that is not UTF-8 text is reported by name instead of raising."""
    authz = make_authz(tmp_path)
    (authz / relative).write_bytes(b"\xff\xfe not text")

    problem = only_problem(authz)

    assert problem.file == authz / relative
    assert "UTF-8" in problem.message


def test_links_yaml_error_names_its_line_once(tmp_path: Path) -> None:
    """Malformed links.yaml is one problem at the offending line, without repeated text."""
    links = "- id: a\n  id: b\n  template: grant-read\n"
    authz = make_authz(tmp_path, templates=TEMPLATE, links=links)

    problem = only_problem(authz)

    assert (problem.file, problem.line) == (authz / "links.yaml", 2)
    assert "duplicate key 'id'" in problem.message
    assert str(authz / "links.yaml") not in problem.message
    assert ".." not in str(problem)


@pytest.mark.parametrize(
    "relative", ["policies/forbids/no-deletes.cedar", "policies/forbids.cedr", "templates/x.txt"]
)
def test_file_that_would_be_skipped_is_a_problem(tmp_path: Path, relative: str) -> None:
    """A policy in a subdirectory or under another extension is reported, never skipped."""
    authz = make_authz(tmp_path)
    path = authz / relative
    path.parent.mkdir(exist_ok=True)
    path.write_text('@id("no-deletes")\nforbid (principal, action, resource);\n')

    problem = only_problem(authz)

    assert problem.file == authz / relative.split("/")[0] / relative.split("/")[1]
    assert "*.cedar" in problem.message


def test_unterminated_last_policy_names_its_id(tmp_path: Path) -> None:
    """A last policy missing its ';' (or with an unterminated string) is named by its @id."""
    authz = make_authz(tmp_path, GOOD + '\n@id("b-open")\npermit (principal, action, resource)\n')

    problem = only_problem(authz)

    assert (problem.line, problem.policy_id) == (8, "b-open")
    assert "does not end with ';'" in problem.message


def test_schema_duplicate_key_names_its_line(tmp_path: Path) -> None:
    """A key given twice in schema.json is reported at the second occurrence's line."""
    text = json.dumps(SCHEMA, indent=2).replace(
        '"UserGroup": {},', '"UserGroup": {},\n      "UserGroup": {},'
    )
    line = text.splitlines().index('      "UserGroup": {},', 0) + 2
    authz = make_authz(tmp_path, schema=text)

    problem = only_problem(authz)

    assert (problem.file, problem.line) == (authz / "schema.json", line)
    assert "duplicate keys ['UserGroup']" in problem.message


def test_unqualified_action_fix_names_the_namespaced_action(tmp_path: Path) -> None:
    """`Action::"GetOrder"` without the namespace gets the exact namespaced name as its fix."""
    authz = make_authz(tmp_path, GOOD.replace("Latticework::Action::", "Action::"))

    problem = only_problem(authz)

    assert problem.fix.startswith('Write Latticework::Action::"GetOrder":')


def test_misspelled_unqualified_type_gets_the_general_fix(tmp_path: Path) -> None:
    """A bare type that is not declared under the namespace either is not "corrected" to it."""
    authz = make_authz(tmp_path, GOOD.replace("Latticework::User,", "Usr,"))

    problem = only_problem(authz)

    assert "Latticework::Usr" not in problem.fix
    assert "Declare the type" in problem.fix


def test_optional_attribute_fix_names_the_access_in_the_policy(tmp_path: Path) -> None:
    """The `has` fix shows the guard for the very expression the policy reads."""
    schema = json.loads(json.dumps(SCHEMA))
    schema["Latticework"]["entityTypes"]["Order"] = {
        "shape": {
            "type": "Record",
            "attributes": {"owner": {"type": "Entity", "name": "User", "required": False}},
        }
    }
    authz = make_authz(tmp_path, with_condition("resource.owner == principal"), schema=schema)

    problem = only_problem(authz)

    assert "optional attribute `owner`" in problem.message
    assert "`resource has owner && resource.owner" in problem.fix


def test_policy_over_the_verified_permissions_size_limit_is_reported(tmp_path: Path) -> None:
    """A policy over 10,000 bytes (a fixed Verified Permissions quota) fails validation."""
    long_name = "x" * 10_000
    authz = make_authz(tmp_path, with_condition(f'principal.name != "{long_name}"'))

    problem = only_problem(authz)

    assert problem.policy_id == "users-read"
    assert "10,000 bytes" in problem.message


def test_schema_over_the_verified_permissions_size_limit_is_reported(tmp_path: Path) -> None:
    """A schema over 100,000 bytes (a fixed Verified Permissions quota) fails validation."""
    schema = json.loads(json.dumps(SCHEMA))
    schema["Latticework"]["entityTypes"].update({f"Type{i:05d}": {} for i in range(5000)})
    authz = make_authz(tmp_path, schema=schema)

    problem = only_problem(authz)

    assert problem.file == authz / "schema.json"
    assert "100,000 bytes" in problem.message


@pytest.mark.parametrize(
    ("mistake", "fix"),
    [
        ({"memberOfTypes": ["Other::UserGroup"]}, "Declare the type"),
        ({"shap": {}}, "Remove or rename the key"),
    ],
)
def test_schema_error_names_its_line_and_a_fitting_fix(
    tmp_path: Path, mistake: dict[str, Any], fix: str
) -> None:
    """A schema mistake is reported at its line with a fix about that mistake."""
    schema = json.loads(json.dumps(SCHEMA))
    schema["Latticework"]["entityTypes"]["User"].update(mistake)
    text = json.dumps(schema, indent=2)
    key = f'"{next(iter(mistake))}"'
    line = next(n for n, t in enumerate(text.splitlines(), 1) if key in t)
    line += 1 if "memberOfTypes" in mistake else 0
    authz = make_authz(tmp_path, schema=text)

    problem = only_problem(authz)

    assert (problem.file, problem.line) == (authz / "schema.json", line)
    assert problem.fix.startswith(fix)


@pytest.mark.parametrize("relative", ["schema.json", "policies/main.cedar"])
def test_file_with_a_byte_order_mark_is_named_as_such(tmp_path: Path, relative: str) -> None:
    """A BOM some editors write is reported as such, not as an invalid token on line 1."""
    authz = make_authz(tmp_path)
    path = authz / relative
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    problem = only_problem(authz)

    assert (problem.file, problem.line) == (path, 1)
    assert "byte order mark" in problem.message


@pytest.mark.usefixtures("never_waits")
@pytest.mark.parametrize("kind", ["a named pipe", "a directory"])
@pytest.mark.parametrize("relative", ["schema.json", "links.yaml"])
def test_something_other_than_a_file_is_named_as_what_it_is(
    tmp_path: Path, relative: str, kind: str
) -> None:
    """A pipe or directory where schema.json or links.yaml belongs is reported as such, with
    the fix, and never waited on."""
    authz = make_authz(tmp_path, templates=TEMPLATE, links="[]\n")
    replace_with(authz / relative, kind)

    problem = only_problem(authz)

    assert (problem.file, problem.line) == (authz / relative, 1)
    assert problem.message == f"expected a file, found {kind}"
    assert problem.fix == f"Replace {kind.replace('a ', 'the ', 1)} with a regular file."
    assert "Errno" not in str(problem)


@pytest.mark.usefixtures("never_waits")
@pytest.mark.parametrize("relative", ["policies/main.cedar", "templates/grants.cedar"])
def test_a_named_pipe_among_the_policies_is_a_problem_not_skipped(
    tmp_path: Path, relative: str
) -> None:
    """A .cedar named pipe would be skipped by deployment, so it is reported, never waited on."""
    authz = make_authz(tmp_path, templates=TEMPLATE)
    replace_with(authz / relative, "a named pipe")

    problem = only_problem(authz)

    assert (problem.file, problem.line) == (authz / relative, 1)
    assert problem.message == "expected a file, found a named pipe"
    assert problem.fix == "Replace the named pipe with a regular file."
