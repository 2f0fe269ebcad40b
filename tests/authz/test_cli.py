"""The `latticework authz` commands: validate, test, format, and the case file loader."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cedarpy
import pytest
from click.testing import CliRunner, Result

from components.errors import SpecError
from latticework.authz import format_cedar, format_file, load_case_file
from latticework.cli import main
from tests._special_files import replace_with

REPO_AUTHZ = Path(__file__).resolve().parents[2] / "authz"
REPO_CATALOG = Path(__file__).resolve().parents[2] / "stacks" / "services.yaml"


@pytest.fixture
def authz_dir(tmp_path: Path) -> Path:
    """A writable copy of the repository's authz/."""
    target = tmp_path / "authz"
    shutil.copytree(REPO_AUTHZ, target)
    return target


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["authz", *args])


def test_validate_passes_on_the_repository(authz_dir: Path) -> None:
    """`authz validate` exits 0 and summarises what it checked."""
    result = invoke("validate", "--authz-dir", str(authz_dir), "--catalog", str(REPO_CATALOG))

    assert result.exit_code == 0, result.output
    assert "9 policies, 1 templates, 1 links valid against" in result.output
    assert f"the routes of {REPO_CATALOG} fit the schema" in result.output


def test_validate_prints_every_problem_and_exits_2(authz_dir: Path) -> None:
    """Each problem is one line with file, line and policy id; the exit code is 2."""
    users = authz_dir / "policies" / "users.cedar"
    users_text = users.read_text()
    users.write_text(users_text.replace("resource has owner && ", ""))
    services = authz_dir / "policies" / "services.cedar"
    services.write_text(services.read_text().replace('"GetItem"', '"GetItems"'))

    result = invoke("validate", "--authz-dir", str(authz_dir), "--catalog", str(REPO_CATALOG))

    assert "resource has owner && " in users_text
    assert result.exit_code == 2
    assert f'{services}:15: policy "orders-calls-inventory": unrecognized action' in result.output
    assert f'{users}:19: policy "owners-manage-orders": unable to guarantee safety' in (
        result.output
    )
    assert "error: 3 problem(s) in" in result.output


def test_validate_checks_a_proposed_schema_against_existing_policies(
    authz_dir: Path, tmp_path: Path
) -> None:
    """`--schema` validates all current policies against a schema change before it ships."""
    proposed = tmp_path / "proposed.json"
    schema = (authz_dir / "schema.json").read_text()
    proposed.write_text(schema.replace('"scopes"', '"scope"'))

    result = invoke("validate", "--authz-dir", str(authz_dir), "--schema", str(proposed))

    assert result.exit_code == 2
    assert 'users.cedar:10: policy "customers-create-orders"' in result.output
    assert "`has scopes` tests an attribute no entity type or context" in result.output


def test_validate_reports_catalog_routes_missing_from_the_schema(
    authz_dir: Path, tmp_path: Path
) -> None:
    """A catalog route whose action the schema lacks is reported against the catalog."""
    catalog = tmp_path / "services.yaml"
    catalog.write_text(REPO_CATALOG.read_text().replace("action: CancelOrder", "action: Refund"))

    result = invoke("validate", "--authz-dir", str(authz_dir), "--catalog", str(catalog))

    assert result.exit_code == 2
    assert "services[orders].routes[3]: action 'Refund' is not in the schema" in result.output


def test_a_route_action_shaped_like_a_token_is_never_quoted(
    authz_dir: Path, tmp_path: Path
) -> None:
    """An action name that looks like a pasted token is described, not repeated."""
    token = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"
    catalog = tmp_path / "services.yaml"
    catalog.write_text(REPO_CATALOG.read_text().replace("action: CancelOrder", f"action: {token}"))

    result = invoke("validate", "--authz-dir", str(authz_dir), "--catalog", str(catalog))

    assert result.exit_code == 2
    assert "services[orders].routes[3]: action (a name that looks like a credential)" in (
        result.output
    )
    assert token[:12] not in result.output


def test_test_command_prints_failures_and_the_closing_line(authz_dir: Path) -> None:
    """A failing case prints one line and the run ends with `N passed, N failed`, exit 1."""
    services = authz_dir / "tests" / "services.yaml"
    text = services.read_text()
    services.write_text(text.replace("expect: deny\n    determining: []", "expect: allow", 1))

    result = invoke("test", "--authz-dir", str(authz_dir))

    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith(f"{services}:")
    assert "inventory may not create payments: expected allow, got deny" in lines[0]
    assert lines[1] == "21 passed, 1 failed"


def test_test_command_passes_on_the_repository(authz_dir: Path) -> None:
    """All sample cases pass and only the closing line is printed."""
    result = invoke("test", "--authz-dir", str(authz_dir))

    assert result.exit_code == 0, result.output
    assert result.output == "22 passed, 0 failed\n"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("action: ReserveItem", "action: ReserveItems"),
            'orders reserves stock: action: `Latticework::Action::"ReserveItems"` does not '
            "exist in the supplied schema. Use an action the schema declares",
        ),
        (
            (
                "principal: {type: Latticework::Service, id: orders}\n    action: ReserveItem",
                "principal: {type: Service, id: orders}\n    action: ReserveItem",
            ),
            "orders reserves stock: principal: type `Service` is not declared in the schema. "
            "Write the type with its namespace, as the schema declares it (Latticework::Service)",
        ),
        (
            (
                "resource: {type: Latticework::Item, id: sku-42}",
                "resource: {type: Latticework::Order, id: sku-42}",
            ),
            "orders reserves stock: resource: type `Latticework::Order` is not valid for "
            '`Latticework::Action::"ReserveItem"`. Use a type the action applies to',
        ),
        (
            (
                'context: {amount: {__extn: {fn: decimal, arg: "250.00"}}}',
                'context: {amont: {__extn: {fn: decimal, arg: "250.00"}}}',
            ),
            "orders creates a payment: context: record attribute `amont` should not exist "
            "according to the schema. Make the context fit the action's context in the schema",
        ),
        (
            ("determining: [orders-calls-inventory]", "determining: [orders-call-inventory]"),
            "orders reserves stock: determining: no policy or template link has the @id "
            "'orders-call-inventory'. List @id values of policies or links in authz/",
        ),
    ],
    ids=["unknown-action", "type-without-namespace", "type-not-for-action", "context", "ids"],
)
def test_test_command_refuses_a_case_that_does_not_fit_the_schema(
    authz_dir: Path, edit: tuple[str, str], expected: str
) -> None:
    """A case Cedar cannot decide is an invalid file (exit 2, naming case, key and fix), never
    a failed test (exit 1)."""
    services = authz_dir / "tests" / "services.yaml"
    text = services.read_text()
    assert edit[0] in text
    services.write_text(text.replace(edit[0], edit[1], 1))

    result = invoke("test", "--authz-dir", str(authz_dir))

    assert result.exit_code == 2, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith(str(services))]
    assert expected in line
    assert "21 passed, 0 failed, 1 invalid" in result.output
    assert result.output.splitlines()[-1].startswith("error: 1 decision case(s) in ")
    assert "test failed" not in result.output


def test_test_command_refuses_invalid_policies(authz_dir: Path) -> None:
    """Tests never run against policies that fail validation (exit 2)."""
    (authz_dir / "policies" / "bad.cedar").write_text('@id("bad") permit (principal, action);\n')

    result = invoke("test", "--authz-dir", str(authz_dir))

    assert result.exit_code == 2
    assert "bad.cedar:1" in result.output


def test_format_check_lists_unformatted_files(authz_dir: Path) -> None:
    """`format --check` names files the Cedar formatter would change and exits 2."""
    grants = authz_dir / "templates" / "grants.cedar"
    grants.write_text(grants.read_text().replace("permit (\n  principal", "permit (principal"))

    result = invoke("format", "--check", "--authz-dir", str(authz_dir))

    assert result.exit_code == 2
    assert f"would reformat {grants}" in result.output


def test_format_rewrites_files_and_then_checks_clean(authz_dir: Path) -> None:
    """`format` rewrites unformatted files so a following `--check` passes."""
    schema = authz_dir / "schema.json"
    schema.write_text(schema.read_text().replace("\n  ", "\n    "))

    rewritten = invoke("format", "--authz-dir", str(authz_dir))
    checked = invoke("format", "--check", "--authz-dir", str(authz_dir))

    assert f"reformatted {schema}" in rewritten.output
    assert checked.exit_code == 0
    assert schema.read_text() == (REPO_AUTHZ / "schema.json").read_text()


def test_repository_files_are_formatted() -> None:
    """The committed authz/ is in canonical format."""
    result = invoke("format", "--check", "--authz-dir", str(REPO_AUTHZ))

    assert result.exit_code == 0, result.output


def test_formatter_output_is_stable() -> None:
    """Formatting formatted Cedar text changes nothing."""
    text = (REPO_AUTHZ / "policies" / "guardrails.cedar").read_text()

    assert format_cedar(format_cedar(text)) == format_cedar(text) == text


def test_file_that_does_not_parse_is_not_formatted(tmp_path: Path) -> None:
    """A file Cedar cannot parse gets a problem instead of a rewrite."""
    path = tmp_path / "broken.cedar"
    path.write_text("permit (principal, action resource);\n")

    result = format_file(path)

    assert result.formatted is None
    assert result.problem is not None
    assert result.problem.startswith("cannot be parsed")


def test_a_file_nested_too_deep_for_cedar_is_not_handed_to_the_formatter(tmp_path: Path) -> None:
    """cedarpy crashes the process on brackets nested about 1,000 deep; such a file gets a
    problem instead."""
    path = tmp_path / "deep.cedar"
    path.write_text(
        "permit (principal, action, resource) when { " + "(" * 1000 + ")" * 1000 + " };\n"
    )

    result = format_file(path)

    assert result.formatted is None
    assert result.problem is not None
    assert result.problem.startswith("cannot be parsed: a policy would make Cedar's parser recurse")


def test_a_policy_over_the_size_quota_is_not_handed_to_the_formatter(tmp_path: Path) -> None:
    """cedarpy's formatter crashes on a flat set of tens of thousands of members; a policy
    over Verified Permissions' 10,000-byte quota (which validate refuses anyway) gets a
    problem instead."""
    path = tmp_path / "big.cedar"
    members = ",".join(["1"] * 60000)
    path.write_text(f"permit (principal, action, resource) when {{ context.n in [{members}] }};\n")

    result = format_file(path)

    assert result.formatted is None
    assert result.problem is not None
    assert "10,000 bytes" in result.problem


def test_case_file_with_unknown_key_names_the_line(tmp_path: Path) -> None:
    """A case with an unknown key raises SpecError naming the file, line and key."""
    path = tmp_path / "cases.yaml"
    path.write_text(
        "cases:\n"
        "  - name: ok\n    principal: {type: T, id: a}\n    action: A\n"
        "    resource: {type: R, id: r}\n    expect: allow\n"
        "  - name: typo\n    principal: {type: T, id: a}\n    action: A\n"
        "    resource: {type: R, id: r}\n    expected: allow\n"
    )

    with pytest.raises(SpecError) as raised:
        load_case_file(path)

    assert str(raised.value).startswith(f"{path}:7: cases[1]: expected keys")
    assert "missing ['expect'], unknown ['expected']" in str(raised.value)
    assert "Rename 'expected' to 'expect'." in str(raised.value)


def test_case_file_accepts_cedar_uids_and_short_actions(tmp_path: Path) -> None:
    """Principals may be written as Cedar uids and actions by their bare name."""
    path = tmp_path / "cases.yaml"
    path.write_text(
        "cases:\n"
        "  - name: uid forms\n"
        "    principal: 'Latticework::User::\"a b\"'\n"
        "    action: GetOrder\n"
        "    resource: {type: Latticework::Order, id: o}\n"
        "    expect: deny\n"
    )

    [case] = load_case_file(path)

    assert case.principal == {"type": "Latticework::User", "id": "a b"}
    assert case.action == {"type": "Latticework::Action", "id": "GetOrder"}
    assert case.determining is None


def test_case_file_rejects_bad_expectation(tmp_path: Path) -> None:
    """`expect` must be allow or deny."""
    path = tmp_path / "cases.yaml"
    path.write_text(
        "cases:\n  - name: x\n    principal: {type: T, id: a}\n    action: A\n"
        "    resource: {type: R, id: r}\n    expect: permit\n"
    )

    with pytest.raises(SpecError, match=r"cases\[0\]\.expect: expected allow or deny"):
        load_case_file(path)


def test_stale_schema_rendering_is_reported_and_regenerated(authz_dir: Path) -> None:
    """After a schema change the human-readable rendering is stale until `format` runs."""
    schema = authz_dir / "schema.json"
    schema.write_text(
        schema.read_text().replace('"Store": {},', '"Store": {},\n      "Refund": {},')
    )

    stale = invoke("format", "--check", "--authz-dir", str(authz_dir))
    invoke("format", "--authz-dir", str(authz_dir))

    assert f"would reformat {authz_dir / 'schema.cedarschema'}" in stale.output
    assert "entity Refund;" in (authz_dir / "schema.cedarschema").read_text()


@pytest.mark.parametrize("args", [("test",), ("format", "--check")])
def test_file_that_is_not_utf8_exits_2_without_traceback(
    authz_dir: Path, args: tuple[str, ...]
) -> None:
    """A binary file among the decision tests or the policies is a usage error, not a crash."""
    (authz_dir / "tests" / "binary.yaml").write_bytes(b"\xff\xfe")
    (authz_dir / "policies" / "binary.cedar").write_bytes(b"\xff\xfe")

    result = invoke(*args, "--authz-dir", str(authz_dir))

    assert result.exit_code == 2, result.output
    assert "binary." in result.output
    assert "UTF-8" in result.output


def test_test_file_that_would_be_skipped_exits_2(authz_dir: Path) -> None:
    """A case file named *.yml would never run, so `authz test` refuses instead of passing."""
    shutil.copy(authz_dir / "tests" / "users.yaml", authz_dir / "tests" / "more-users.yml")

    result = invoke("test", "--authz-dir", str(authz_dir))

    assert result.exit_code == 2, result.output
    assert "more-users.yml" in result.output
    assert "*.yaml" in result.output


@pytest.mark.parametrize("command", ["validate", "test", "format"])
def test_missing_authz_dir_is_named(tmp_path: Path, command: str) -> None:
    """A mistyped --authz-dir is reported as a missing directory, exit 2."""
    result = invoke(command, "--authz-dir", str(tmp_path / "authzz"))

    assert result.exit_code == 2
    assert f"Directory '{tmp_path / 'authzz'}' does not exist" in result.output


def test_validate_with_a_missing_catalog_file_is_a_usage_error(authz_dir: Path) -> None:
    """A --catalog that does not exist is an error, not a silently skipped route check."""
    result = invoke("validate", "--authz-dir", str(authz_dir), "--catalog", "servcies.yaml")

    assert result.exit_code == 2
    assert "'servcies.yaml' does not exist" in result.output


ODD_COMMENTS = (
    "// header\n\n// second block\n"
    '@id("a-1") // after the annotation\n'
    'permit (principal in Latticework::UserGroup::"staff", // scope\n'
    '  action in Latticework::Action::"ReadOnly", resource) // close\n'
    ";\n"
    '@id("a-2") permit (principal, action == Latticework::Action::"GetItem",\n'
    "  resource is Latticework::Item) when {\n"
    "  // inner\n"
    '  context has scopes && context.scopes.contains("x; // not a comment") };\n'
    "// footer\n"
)


def test_format_keeps_every_comment_and_policy(authz_dir: Path) -> None:
    """`format` moves comments and policies but drops neither (same comments, same policies)."""
    path = authz_dir / "policies" / "users.cedar"
    path.write_text(ODD_COMMENTS)

    result = invoke("format", "--authz-dir", str(authz_dir))

    formatted = path.read_text()
    assert result.exit_code == 0, result.output
    assert formatted != ODD_COMMENTS
    assert re.findall(r"// [a-z ]+", formatted) == re.findall(r"// [a-z ]+", ODD_COMMENTS)
    assert cedarpy.policies_to_json_str(formatted) == cedarpy.policies_to_json_str(ODD_COMMENTS)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("    context: {scopes: [2024-01-01]}\n", "cases[0].context.scopes[0]"),
        (
            "    entities: [{uid: {type: T, id: a}, attrs: {since: 2024-01-01}}]\n",
            "cases[0].entities[0].attrs.since",
        ),
    ],
)
def test_case_value_that_is_not_json_names_its_key(tmp_path: Path, extra: str, key: str) -> None:
    """A YAML date (or any non-JSON value) in context or entities is a SpecError naming it."""
    path = tmp_path / "cases.yaml"
    path.write_text(
        "cases:\n  - name: x\n    principal: {type: T, id: a}\n    action: A\n"
        "    resource: {type: R, id: r}\n    expect: deny\n" + extra
    )

    with pytest.raises(SpecError) as raised:
        load_case_file(path)

    assert f"{key}: expected a JSON value" in str(raised.value)
    assert "date" in str(raised.value)


def test_entity_with_a_misspelled_key_is_rejected(tmp_path: Path) -> None:
    """`parent:` for `parents:` would silently drop the hierarchy, so it is a SpecError."""
    path = tmp_path / "cases.yaml"
    path.write_text(
        "entities:\n  - uid: {type: T, id: a}\n    parent: [{type: G, id: g}]\n"
        "cases:\n  - name: x\n    principal: {type: T, id: a}\n    action: A\n"
        "    resource: {type: R, id: r}\n    expect: deny\n"
    )

    with pytest.raises(SpecError) as raised:
        load_case_file(path)

    assert "entities[0]: expected keys uid, attrs, parents, tags" in str(raised.value)
    assert "'parent'" in str(raised.value)


def test_format_writes_nothing_when_a_file_cannot_be_formatted(authz_dir: Path) -> None:
    """One unparsable file stops `format` before it rewrites any other file."""
    schema = authz_dir / "schema.json"
    unformatted = schema.read_text().replace("\n  ", "\n    ")
    schema.write_text(unformatted)
    (authz_dir / "policies" / "zz-broken.cedar").write_text(
        "permit (principal, action resource);\n"
    )

    result = invoke("format", "--authz-dir", str(authz_dir))

    assert result.exit_code == 2
    assert "zz-broken.cedar: cannot be parsed" in result.output
    assert "`latticework authz validate` shows where" in result.output
    assert schema.read_text() == unformatted


@pytest.mark.parametrize("uid", ['Latticework::User::"a" "b"', 'Latticework::User::"a\\q"'])
def test_malformed_uid_string_is_a_spec_error(tmp_path: Path, uid: str) -> None:
    """A Cedar uid string whose quoted id does not parse names the key instead of crashing."""
    path = tmp_path / "cases.yaml"
    path.write_text(
        "cases:\n  - name: x\n    principal: " + json.dumps(uid) + "\n    action: A\n"
        "    resource: {type: R, id: r}\n    expect: deny\n"
    )

    with pytest.raises(SpecError, match=r"cases\[0\]\.principal: expected \{type"):
        load_case_file(path)


def test_commands_find_the_project_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like `plan`, the authz commands use the nearest project's authz/ and catalog."""
    project = tmp_path / "project"
    shutil.copytree(REPO_AUTHZ, project / "authz")
    (project / "stacks").mkdir()
    shutil.copy(REPO_CATALOG, project / "stacks" / "services.yaml")
    (project / "Pulumi.yaml").write_text("name: latticework\nruntime: python\n")
    monkeypatch.chdir(project / "authz" / "policies")

    validated = invoke("validate")
    tested = invoke("test")

    assert validated.exit_code == 0, validated.output
    assert "the routes of ../../stacks/services.yaml fit the schema" in validated.output
    assert tested.exit_code == 0, tested.output


@pytest.mark.parametrize("args", [("format",), ("format", "--check")])
@pytest.mark.parametrize(
    ("relative", "fix"),
    [
        ("schema.cedarschema", "Remove the directory; `latticework authz format` then writes"),
        ("policies/services.cedar", "Rename it or move it out"),
    ],
)
def test_a_directory_where_a_file_belongs_exits_2_and_writes_nothing(
    authz_dir: Path, args: tuple[str, ...], relative: str, fix: str
) -> None:
    """A directory named like an authz file is named with the fix, and no file is rewritten."""
    directory = authz_dir / relative
    directory.unlink()
    directory.mkdir()
    schema = authz_dir / "schema.json"
    unformatted = schema.read_text().replace("\n  ", "\n    ")
    schema.write_text(unformatted)

    result = invoke(*args, "--authz-dir", str(authz_dir))

    assert result.exit_code == 2, result.output
    assert f"{directory}: expected a file, found a directory. {fix}" in result.output
    assert "would reformat" not in result.output
    assert "Traceback" not in result.output
    assert directory.is_dir()
    assert schema.read_text() == unformatted


@pytest.mark.parametrize("args", [("format",), ("format", "--check")])
def test_format_without_a_schema_names_the_file_and_the_fix(
    authz_dir: Path, args: tuple[str, ...]
) -> None:
    """A missing schema.json is a sentence naming the file and the fix, not an errno."""
    (authz_dir / "schema.json").unlink()
    rendering = (authz_dir / "schema.cedarschema").read_text()

    result = invoke(*args, "--authz-dir", str(authz_dir))

    assert result.exit_code == 2, result.output
    schema = authz_dir / "schema.json"
    assert f"{schema}: expected the Cedar schema in JSON form, found no file. Create {schema}" in (
        result.output
    )
    assert "Errno" not in result.output
    assert (authz_dir / "schema.cedarschema").read_text() == rendering


@pytest.mark.parametrize(
    "text",
    ["", "\n", "// retired policies live in git history\n", "// one\n\n// two\n", "// no newline"],
    ids=["empty", "blank-line", "one-comment", "comment-blocks", "no-final-newline"],
)
def test_a_file_without_policies_is_left_as_it_is(authz_dir: Path, text: str) -> None:
    """A .cedar file of comments only (or nothing) is already formatted: neither rewritten
    nor reported."""
    path = authz_dir / "policies" / "retired.cedar"
    path.write_text(text)

    checked = invoke("format", "--check", "--authz-dir", str(authz_dir))
    formatted = invoke("format", "--authz-dir", str(authz_dir))

    assert format_cedar(text) == text
    assert checked.exit_code == 0, checked.output
    assert formatted.exit_code == 0, formatted.output
    assert path.read_text() == text


@pytest.mark.usefixtures("never_waits")
@pytest.mark.parametrize("kind", ["a named pipe", "a directory"])
@pytest.mark.parametrize(
    ("relative", "args"),
    [
        ("links.yaml", ("validate",)),
        ("links.yaml", ("test",)),
        ("links.yaml", ("format", "--check")),
        ("schema.json", ("validate",)),
        ("schema.json", ("format", "--check")),
        ("policies/zz.cedar", ("validate",)),
        ("policies/zz.cedar", ("format", "--check")),
        ("tests/zz.yaml", ("test",)),
        ("tests/zz.yaml", ("format", "--check")),
    ],
)
def test_something_other_than_a_file_where_a_file_belongs_exits_2(
    authz_dir: Path, relative: str, args: tuple[str, ...], kind: str
) -> None:
    """A pipe or directory named like an authz file is named with what it is and the fix,
    exit 2: never waited on, never skipped."""
    path = authz_dir / relative
    replace_with(path, kind)

    result = invoke(*args, "--authz-dir", str(authz_dir))

    assert result.exit_code == 2, result.output
    assert f"{path}" in result.output
    assert f"expected a file, found {kind}" in result.output
    assert "Errno" not in result.output
    assert "found no file" not in result.output
    assert "Rename it to *.yaml" not in result.output
    assert "Traceback" not in result.output
