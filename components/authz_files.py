"""Load and validate the authorization files under `authz/`.

The layout (see docs/contracts.md and docs/authz.md)::

    authz/schema.json          Cedar schema, JSON form (what Verified Permissions takes)
    authz/policies/*.cedar     static policies, several per file, each with @id("...")
    authz/templates/*.cedar    policy templates, each with @id("...")
    authz/links.yaml           template links: [{id, template, principal, resource}]
    authz/tests/*.yaml         decision cases for `latticework authz test`

`load_authz` is what the Pulumi program and the CLI call: it reads every file, validates
every policy and template against the schema, checks every link, and raises
`AuthzValidationError` (a `SpecError`) naming file, line and policy id for each problem.
Nothing here imports pulumi.

Cedar parses a text policy set into positional ids (`policy0`, ...), so this module splits
each `.cedar` file into its statements itself, keeps the source line of each, and parses and
validates them one at a time; every problem therefore maps back to its `@id`, file and line.
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cedarpy
import yaml

from components._strict_yaml import (
    MAX_YAML_BYTES,
    MAX_YAML_VALUES,
    NotARegularFileError,
    expands_too_far,
    read_regular_file,
    yaml_problem,
)
from components.errors import SpecError
from components.secret_patterns import is_safe_to_quote
from components.spec import ServiceCatalog

NAMESPACE = "Latticework"
GROUP_ENTITY_TYPE = f"{NAMESPACE}::UserGroup"
SCHEMA_FILE = "schema.json"
POLICIES_DIR = "policies"
TEMPLATES_DIR = "templates"
LINKS_FILE = "links.yaml"
TESTS_DIR = "tests"

# Fixed (not adjustable) Verified Permissions quotas: larger ones fail in the middle of a deploy.
MAX_POLICY_BYTES = 10_000
MAX_SCHEMA_BYTES = 100_000
#: The largest authz file read: policies and schema are kilobytes; a stray dump would fill memory.
MAX_AUTHZ_FILE_BYTES = MAX_YAML_BYTES

# Policy ids become Verified Permissions resource names and template-link ids, so they stay
# within what both accept and read well in a plan.
_POLICY_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_BACKTICKED = re.compile(r"`([^`]+)`")
_DECLARED_ID = re.compile(r'@id\(\s*"([^"]*)"\s*\)')
# An entity type or action written without a namespace, as the validator names it.
_UNQUALIFIED_NAME = re.compile(
    r'unrecognized (?:entity type|action) `(?P<name>\w+|Action::"[^`]*)`'
)
_OPTIONAL_ATTRIBUTE = re.compile(r"optional attribute `(?P<attribute>\w+)`")
_ANNOTATION = re.compile(r'@\w+\s*(?:\(\s*"(?:\\.|[^"\\])*"\s*\))?')


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A Cedar entity uid: `Latticework::User::"alice"`."""

    entity_type: str
    entity_id: str

    def cedar(self) -> str:
        """The entity uid in Cedar syntax."""
        return f"{self.entity_type}::{json.dumps(self.entity_id)}"


@dataclass(frozen=True, slots=True)
class CedarPolicy:
    """One static policy or template, with where it came from.

    `statement` is the Cedar text as written (what is deployed); `est_json` the same policy
    in Cedar's JSON form; `slots` the template slots it declares.
    """

    policy_id: str
    statement: str
    file: Path
    line: int
    is_template: bool
    est_json: str
    slots: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateLink:
    """One template-linked policy from `links.yaml`."""

    link_id: str
    template_id: str
    principal: EntityRef | None
    resource: EntityRef | None
    file: Path
    line: int

    def linked_values(self) -> dict[str, str]:
        """The value of each slot this link fills, in Cedar syntax."""
        values: dict[str, str] = {}
        if self.principal is not None:
            values["?principal"] = self.principal.cedar()
        if self.resource is not None:
            values["?resource"] = self.resource.cedar()
        return values


@dataclass(frozen=True, slots=True)
class AuthzProblem:
    """One thing wrong in `authz/`, located by file, line and (when known) policy id."""

    file: Path
    line: int
    policy_id: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if self.policy_id is not None:
            where = f'{where}: policy "{self.policy_id}"'
        return f"{where}: {self.message}. {self.fix}"


class AuthzValidationError(SpecError):
    """`authz/` is invalid; `problems` holds every problem found, one line each."""

    def __init__(self, problems: Sequence[AuthzProblem]) -> None:
        first = problems[0]
        super().__init__(
            f"{first.file}:{first.line}",
            f'policy "{first.policy_id}"' if first.policy_id else "authz",
            "authorization files valid against the Cedar schema",
            first.message,
            first.fix,
        )
        self.problems = tuple(problems)
        lines = [f"{len(self.problems)} problem(s) in the authorization files:"]
        lines.extend(str(problem) for problem in self.problems)
        self.args = ("\n".join(lines),)


@dataclass(frozen=True, slots=True)
class AuthzFiles:
    """The parsed contents of `authz/` (schema text, policies, templates, links)."""

    directory: Path
    schema_file: Path
    schema_json: str
    policies: tuple[CedarPolicy, ...]
    templates: tuple[CedarPolicy, ...]
    links: tuple[TemplateLink, ...]

    def schema(self) -> cedarpy.Schema:
        """The schema parsed by cedarpy (raises `ValueError` if it is invalid)."""
        return cedarpy.Schema.from_json_str(self.schema_json)

    def policy_set_json(self) -> str:
        """Every policy, template and link in Cedar's JSON policy-set form, keyed by `@id`."""
        document = {
            "staticPolicies": {p.policy_id: json.loads(p.est_json) for p in self.policies},
            "templates": {t.policy_id: json.loads(t.est_json) for t in self.templates},
            "templateLinks": [
                {
                    "templateId": link.template_id,
                    "newId": link.link_id,
                    "values": {
                        slot: {"type": entity.entity_type, "id": entity.entity_id}
                        for slot, entity in (
                            ("?principal", link.principal),
                            ("?resource", link.resource),
                        )
                        if entity is not None
                    },
                }
                for link in self.links
            ],
        }
        return json.dumps(document)

    def policy_set(self) -> cedarpy.PolicySet:
        """Every policy, template and link in one cedarpy policy set.

        Built from the JSON form, so decisions and errors name policies by their `@id`
        (a set parsed from Cedar text would name them `policy0`, `policy1`, ...).
        """
        return cedarpy.PolicySet.from_json_str(self.policy_set_json())


# --- reading ----------------------------------------------------------------------------


def read_authz_text(path: Path) -> str:
    """The UTF-8 text of one authz file.

    Opened without blocking, so a named pipe is never waited on: anything but a regular file
    is `NotARegularFileError`; a file over `MAX_AUTHZ_FILE_BYTES` is an `OSError` (EFBIG);
    bytes that are not UTF-8 are `UnicodeDecodeError`.
    """
    content = read_regular_file(path, MAX_AUTHZ_FILE_BYTES)
    if len(content) > MAX_AUTHZ_FILE_BYTES:
        raise OSError(errno.EFBIG, f"a file larger than {MAX_AUTHZ_FILE_BYTES >> 20} MiB")
    return content.decode("utf-8")


def not_a_file_fix(kind: str) -> str:
    """The fix when `kind` ("a named pipe", "a directory") sits where an authz file belongs."""
    thing = f"the {kind.removeprefix('a ')}" if kind.startswith("a ") else "it"
    return f"Replace {thing} with a regular file."


def _unreadable(exc: OSError) -> tuple[str, str]:
    """What was found and the fix, for a file that exists but cannot be read."""
    if exc.errno == errno.EFBIG:
        return str(exc.strerror), "Shrink the file or split it into several."
    return exc.strerror or type(exc).__name__, "Make it readable."


# --- YAML -------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                message = f"duplicate key {key!r} at line {line}"
                raise yaml.constructor.ConstructorError(None, None, message, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class YamlFileError(SpecError):
    """A YAML file under `authz/` cannot be read; `path` and `line` say where."""

    def __init__(self, path: Path, line: int, expected: str, found: str, fix: str) -> None:
        super().__init__(f"{path}:{line}", "(yaml)", expected, found, fix)
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A YAML document's data plus the source line of each item of its top-level lists."""

    data: Any
    item_lines: Mapping[str | None, tuple[int, ...]]

    def line_of(self, key: str | None, index: int) -> int:
        """Line of item `index` of the list under `key` (None: the document is the list)."""
        lines = self.item_lines.get(key, ())
        return lines[index] if index < len(lines) else 1


def load_yaml(path: Path) -> YamlDocument:
    """Load one YAML file with duplicate keys rejected, keeping list item line numbers.

    Raises `YamlFileError` (a `SpecError`) naming the file and line when the file cannot be
    read or the YAML is malformed.
    """
    try:
        text = read_authz_text(path)
    except UnicodeDecodeError as exc:
        raise YamlFileError(
            path,
            exc.object.count(b"\n", 0, exc.start) + 1,
            "UTF-8 text",
            f"byte {exc.object[exc.start]:#04x} that is not UTF-8",
            "Save the file as UTF-8 text.",
        ) from exc
    except NotARegularFileError as exc:
        raise YamlFileError(path, 1, "a file", exc.kind, not_a_file_fix(exc.kind)) from exc
    except FileNotFoundError as exc:
        raise YamlFileError(path, 1, "a file", "none", "Create it or fix the path.") from exc
    except OSError as exc:
        found, fix = _unreadable(exc)
        raise YamlFileError(path, 1, "a readable file", found, fix) from exc
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = yaml_problem(getattr(exc, "problem", None) or str(exc))
        raise YamlFileError(path, line, "valid YAML", problem, "Fix the YAML syntax.") from exc
    except RecursionError:
        raise YamlFileError(
            path, 1, "YAML", "values nested too deeply to read", "Flatten the file."
        ) from None
    finally:
        loader.dispose()
    if expands_too_far(data):
        raise YamlFileError(
            path,
            1,
            f"at most {MAX_YAML_VALUES:,} values once its aliases are expanded",
            "a document that expands to more",
            "Write the values out, or use fewer nested aliases.",
        )
    return YamlDocument(data=data, item_lines=_item_lines(node))


def _item_lines(node: yaml.Node | None) -> dict[str | None, tuple[int, ...]]:
    if isinstance(node, yaml.SequenceNode):
        return {None: tuple(item.start_mark.line + 1 for item in node.value)}
    if not isinstance(node, yaml.MappingNode):
        return {}
    lines: dict[str | None, tuple[int, ...]] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and isinstance(value_node, yaml.SequenceNode):
            lines[str(key_node.value)] = tuple(
                item.start_mark.line + 1 for item in value_node.value
            )
    return lines


# --- Cedar statements -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CedarStatement:
    """The text of one Cedar statement (up to and including its `;`) and its first line."""

    text: str
    line: int


def split_statements(source: str) -> tuple[list[CedarStatement], int | None]:
    """Split Cedar policy text into statements ending in `;`, with their first line.

    Strings and `//` comments are skipped, so a `;` inside them does not end a statement.
    Returns the statements and, when text remains after the last `;`, the line it starts on.
    """
    statements: list[CedarStatement] = []
    start: int | None = None
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char == "/" and source.startswith("//", index):
            newline = source.find("\n", index)
            index = length if newline == -1 else newline
            continue
        if char.isspace():
            index += 1
            continue
        if start is None:
            start = index
        if char == '"':
            index = _end_of_string(source, index)
            continue
        if char == ";":
            text = source[start : index + 1]
            statements.append(CedarStatement(text=text, line=source.count("\n", 0, start) + 1))
            start = None
        index += 1
    trailing_line = None if start is None else source.count("\n", 0, start) + 1
    return statements, trailing_line


#: How deep one statement may make Cedar's parser recurse: nested brackets plus chained
#: operators (&&, ||, if, !, + - *, attribute dots). cedarpy crashes the process (a stack
#: overflow, not an error) at a few thousand, and reading its JSON form fails near 1,000.
MAX_PARSE_DEPTH = 400
_PARSE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|//[^\n]*|&&|\|\||\bif\b|[-+*.!;()\[\]{}]')
_CHAINING = frozenset({"&&", "||", "if", "!", "+", "-", "*", "."})


def parse_depth(text: str) -> int:
    """How deep the deepest statement of Cedar text makes the parser recurse, at most: its
    bracket nesting plus its chained operators, strings and comments aside."""
    deepest = depth = chained = 0
    for match in _PARSE_TOKEN.finditer(text):
        piece = match.group()
        if piece in ("(", "[", "{"):
            depth += 1
        elif piece in (")", "]", "}"):
            depth -= 1
        elif piece == ";":
            depth = chained = 0
        elif piece in _CHAINING:
            chained += 1
        deepest = max(deepest, depth + chained)
    return deepest


def too_deep_message(depth: int) -> str:
    """What is wrong with text `parse_depth` measured deeper than `MAX_PARSE_DEPTH`."""
    return (
        f"a policy would make Cedar's parser recurse {depth} deep, more than "
        f"{MAX_PARSE_DEPTH} (nested brackets plus chained &&, ||, if, arithmetic and "
        "attribute dots), which crashes it"
    )


def _end_of_string(source: str, index: int) -> int:
    """Index just past the string literal that opens at `index`."""
    index += 1
    while index < len(source):
        if source[index] == "\\":
            index += 2
            continue
        if source[index] == '"':
            return index + 1
        index += 1
    return index


def _parse_statement(
    statement: CedarStatement, file: Path, want_template: bool, problems: list[AuthzProblem]
) -> CedarPolicy | None:
    """Parse one statement into a `CedarPolicy`, or record why it cannot be."""
    depth = parse_depth(statement.text)
    if depth > MAX_PARSE_DEPTH:
        declared_id = _DECLARED_ID.search(statement.text)
        problems.append(
            AuthzProblem(
                file,
                statement.line,
                declared_id.group(1) if declared_id else None,
                too_deep_message(depth),
                "Split it into smaller policies or conditions (a set with `in [...]` is flat).",
            )
        )
        return None
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(statement.text))
    except RecursionError:
        # Deeper than the guard measured: its JSON form is too deep for Python to read.
        message, parsed = too_deep_message(depth), None
    except ValueError as exc:
        message = f"Cedar syntax error: {exc}"
        parsed = None
    if parsed is None:
        declared_id = _DECLARED_ID.search(statement.text)
        problems.append(
            AuthzProblem(
                file,
                statement.line - 1 + _line_of_name(statement.text, message, 1),
                declared_id.group(1) if declared_id else None,
                message,
                _fix_for(message, default="Fix the Cedar syntax of the policy."),
            )
        )
        return None

    templates = parsed.get("templates", {})
    is_template = bool(templates)
    bodies = list((templates or parsed.get("staticPolicies", {})).values())
    if len(bodies) != 1:
        problems.append(
            AuthzProblem(
                file,
                statement.line,
                None,
                f"expected one policy before this ';', found {len(bodies)}",
                "End every policy with exactly one ';'.",
            )
        )
        return None
    body = bodies[0]
    policy_id = body.get("annotations", {}).get("id")
    if not isinstance(policy_id, str) or not _POLICY_ID_PATTERN.fullmatch(policy_id):
        found = "no @id annotation" if policy_id is None else f"@id({json.dumps(policy_id)})"
        problems.append(
            AuthzProblem(
                file,
                statement.line,
                None,
                f"expected an @id of lower-case letters, digits and '-', found {found}",
                'Start the policy with @id("<service>-<what it allows>").',
            )
        )
        return None

    if is_template != want_template:
        where = TEMPLATES_DIR if is_template else POLICIES_DIR
        kind = "a template (it uses ?principal or ?resource)" if is_template else "static"
        problems.append(
            AuthzProblem(
                file,
                statement.line,
                policy_id,
                f"the policy is {kind}",
                f"Move it to authz/{where}/.",
            )
        )
        return None

    size = len(statement.text.encode("utf-8"))
    if size > MAX_POLICY_BYTES:
        problems.append(
            AuthzProblem(
                file,
                statement.line,
                policy_id,
                f"the policy is {size:,} bytes; Verified Permissions takes at most "
                f"{MAX_POLICY_BYTES:,} bytes per policy",
                "Split it into smaller policies or move long lists into entity attributes.",
            )
        )

    slots = tuple(
        slot
        for slot, part in (("?principal", "principal"), ("?resource", "resource"))
        if slot in (body.get(part, {}).get("slot"), body.get(part, {}).get("in", {}).get("slot"))
    )
    return CedarPolicy(
        policy_id=policy_id,
        statement=statement.text,
        file=file,
        line=statement.line,
        is_template=is_template,
        slots=slots,
        est_json=json.dumps(body),
    )


def _read_source(path: Path, problems: list[AuthzProblem]) -> str | None:
    """The text of one authz file, or None after recording why it cannot be read."""
    try:
        text = read_authz_text(path)
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        problems.append(
            AuthzProblem(
                path,
                line,
                None,
                f"expected UTF-8 text, found byte {exc.object[exc.start]:#04x} that is not UTF-8",
                "Save the file as UTF-8 text.",
            )
        )
        return None
    except NotARegularFileError as exc:
        problems.append(
            AuthzProblem(
                path, 1, None, f"expected a file, found {exc.kind}", not_a_file_fix(exc.kind)
            )
        )
        return None
    except OSError as exc:
        found, fix = _unreadable(exc)
        problems.append(AuthzProblem(path, 1, None, f"cannot read the file: {found}", fix))
        return None

    if text.startswith("\ufeff"):
        # Neither Cedar nor JSON takes it, and their errors would not say why.
        problems.append(
            AuthzProblem(
                path,
                1,
                None,
                "expected UTF-8 text, found a byte order mark at the start",
                "Save the file as UTF-8 without a byte order mark (BOM).",
            )
        )
        return None
    return text


def _read_cedar_dir(
    directory: Path, want_template: bool, problems: list[AuthzProblem]
) -> list[CedarPolicy]:
    policies: list[CedarPolicy] = []
    entries = sorted(directory.iterdir()) if directory.is_dir() else []
    for entry in entries:
        if entry.suffix == ".cedar":
            # Read below: a pipe, device or directory of that name is reported when read.
            continue
        if entry.is_dir() or not entry.name.startswith("."):
            # Deployment reads only *.cedar files here: anything else would be skipped silently.
            problems.append(
                AuthzProblem(
                    entry,
                    1,
                    None,
                    f"expected only *.cedar files in {directory.name}/, found "
                    f"{'a directory' if entry.is_dir() else repr(entry.name)}",
                    f"Move its policies into a *.cedar file directly in {directory.name}/.",
                )
            )
    for file in (entry for entry in entries if entry.suffix == ".cedar"):
        source = _read_source(file, problems)
        if source is None:
            continue
        statements, trailing_line = split_statements(source)
        for statement in statements:
            policy = _parse_statement(statement, file, want_template, problems)
            if policy is not None:
                policies.append(policy)
        if trailing_line is not None:
            trailing_text = "".join(source.splitlines(keepends=True)[trailing_line - 1 :])
            declared_id = _DECLARED_ID.search(trailing_text)
            problems.append(
                AuthzProblem(
                    file,
                    trailing_line,
                    declared_id.group(1) if declared_id else None,
                    "text after the last policy does not end with ';'",
                    "End every policy with ';' and close every string with '\"'.",
                )
            )
    return policies


# --- links ------------------------------------------------------------------------------


def _read_links(path: Path, problems: list[AuthzProblem]) -> list[TemplateLink]:
    if not path.exists():
        return []
    document = load_yaml(path)
    if document.data is None:
        return []
    if not isinstance(document.data, list):
        problems.append(
            AuthzProblem(
                path,
                1,
                None,
                f"expected a list of links, found {type(document.data).__name__}",
                "Write `- {id: ..., template: ..., principal: {type, id}, resource: {type, id}}`.",
            )
        )
        return []

    links: list[TemplateLink] = []
    for index, entry in enumerate(document.data):
        line = document.line_of(None, index)
        link = _read_link(entry, path, line, problems)
        if link is not None:
            links.append(link)
    return links


def _read_link(
    entry: object, path: Path, line: int, problems: list[AuthzProblem]
) -> TemplateLink | None:
    expected_keys = {"id", "template", "principal", "resource"}
    if not isinstance(entry, dict) or not {"id", "template"} <= entry.keys():
        problems.append(
            AuthzProblem(
                path,
                line,
                None,
                f"expected a mapping with keys id and template, found {entry!r}",
                "Give every link an id and the @id of its template.",
            )
        )
        return None
    unknown = sorted(set(entry) - expected_keys)
    link_id, template_id = entry["id"], entry["template"]
    if unknown or not isinstance(link_id, str) or not isinstance(template_id, str):
        problems.append(
            AuthzProblem(
                path,
                line,
                str(link_id),
                f"expected string id and template and no other keys than "
                f"{sorted(expected_keys)}, found keys {sorted(entry)}",
                "Fix the link entry.",
            )
        )
        return None
    if not _POLICY_ID_PATTERN.fullmatch(link_id):
        problems.append(
            AuthzProblem(
                path,
                line,
                link_id,
                "expected a link id of lower-case letters, digits and '-'",
                "Rename the link.",
            )
        )
        return None

    known_problems = len(problems)
    principal = _read_entity_ref(entry.get("principal"), "principal", path, line, link_id, problems)
    resource = _read_entity_ref(entry.get("resource"), "resource", path, line, link_id, problems)
    if len(problems) > known_problems:
        return None
    return TemplateLink(
        link_id=link_id,
        template_id=template_id,
        principal=principal,
        resource=resource,
        file=path,
        line=line,
    )


def _read_entity_ref(
    value: object, key: str, path: Path, line: int, link_id: str, problems: list[AuthzProblem]
) -> EntityRef | None:
    """An `EntityRef`, or None when absent or invalid (then a problem is recorded)."""
    if value is None:
        return None
    if (
        isinstance(value, dict)
        and set(value) == {"type", "id"}
        and isinstance(value["type"], str)
        and isinstance(value["id"], str)
    ):
        return EntityRef(entity_type=value["type"], entity_id=value["id"])
    problems.append(
        AuthzProblem(
            path,
            line,
            link_id,
            f"{key}: expected {{type: <entity type>, id: <entity id>}}, found {value!r}",
            f'Write {key}: {{type: {NAMESPACE}::User, id: "alice"}}.',
        )
    )
    return None


# --- schema -----------------------------------------------------------------------------


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate keys {duplicates}")
    return dict(pairs)


def _duplicate_key_line(text: str) -> int:
    """Line of the first repeated key in JSON `text` (JSON is YAML, whose parser keeps marks)."""
    try:
        yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        if exc.problem_mark is not None:
            return int(exc.problem_mark.line) + 1
    except yaml.YAMLError:
        pass
    return 1


def _read_schema(path: Path, problems: list[AuthzProblem]) -> str | None:
    if not path.exists():
        problems.append(
            AuthzProblem(
                path,
                1,
                None,
                "expected the Cedar schema in JSON form, found no file",
                f"Create {path} (see docs/authz.md).",
            )
        )
        return None
    text = _read_source(path, problems)
    if text is None:
        return None
    size = len(text.encode("utf-8"))
    if size > MAX_SCHEMA_BYTES:
        problems.append(
            AuthzProblem(
                path,
                1,
                None,
                f"the schema is {size:,} bytes; Verified Permissions takes at most "
                f"{MAX_SCHEMA_BYTES:,} bytes",
                "Shrink the schema: share shapes through commonTypes, drop unused types.",
            )
        )
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        problems.append(
            AuthzProblem(path, exc.lineno, None, f"invalid JSON: {exc.msg}", "Fix the JSON.")
        )
        return None
    except ValueError as exc:
        line = _duplicate_key_line(text)
        problems.append(AuthzProblem(path, line, None, str(exc), "Remove the duplicate keys."))
        return None
    except RecursionError:
        problems.append(
            AuthzProblem(path, 1, None, "JSON nested too deeply to read", "Flatten the schema.")
        )
        return None

    if not isinstance(document, dict) or set(document) != {NAMESPACE}:
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        problems.append(
            AuthzProblem(
                path,
                1,
                None,
                f"expected exactly one namespace {NAMESPACE!r}, found {found}",
                f"Declare every entity type and action under {NAMESPACE!r}.",
            )
        )
        return None
    try:
        cedarpy.Schema.from_json_str(text)
    except ValueError as exc:
        message = str(exc)
        position = _SCHEMA_POSITION.search(message)
        named = _SCHEMA_NAME.search(message)
        names = f"`{named.group(1)}`" if named else message
        problems.append(
            AuthzProblem(
                path,
                int(position.group(1)) if position else _line_of_name(text, names, 1),
                None,
                f"invalid Cedar schema: {message}",
                _fix_for(message, _SCHEMA_FIXES, "Fix the schema (see docs/authz.md)."),
            )
        )
        return None
    return text


def schema_entity_types(schema_json: str) -> frozenset[str]:
    """The fully qualified entity types the JSON schema declares."""
    document = json.loads(schema_json)
    return frozenset(
        f"{namespace}::{entity_type}" if namespace else entity_type
        for namespace, body in document.items()
        for entity_type in body.get("entityTypes", {})
    )


def schema_actions(schema_json: str) -> frozenset[str]:
    """The action names (without `Namespace::Action::`) the JSON schema declares."""
    document = json.loads(schema_json)
    return frozenset(action for body in document.values() for action in body.get("actions", {}))


# --- validation -------------------------------------------------------------------------

# Cedar schema error fragment -> the fix to suggest.
_SCHEMA_FIXES: tuple[tuple[str, str], ...] = (
    (
        "failed to resolve type",
        f"Declare the type under {NAMESPACE!r} in authz/schema.json or fix its name (types of "
        "the same namespace need no prefix).",
    ),
    ("undeclared action", "Declare the action group under actions, or fix the memberOf id."),
    ("unknown extension type", "Use an extension type: ipaddr, decimal, datetime, duration."),
    ("unknown field", "Remove or rename the key (see the Cedar JSON schema format)."),
)
# Where a schema error points: a JSON position, else a name to look up in the file.
_SCHEMA_POSITION = re.compile(r"at line (\d+) column \d+")
_SCHEMA_NAME = re.compile(r"(?:failed to resolve type|undeclared action): (\S+)")

# Cedar validator message fragment -> the fix to suggest.
_FIXES: tuple[tuple[str, str], ...] = (
    (
        "unrecognized entity type",
        f"Declare the type in authz/schema.json, or write its namespaced name "
        f"({NAMESPACE}::<Type>).",
    ),
    (
        "unrecognized action",
        f"Declare the action in authz/schema.json, or write it as "
        f'{NAMESPACE}::Action::"<route action>".',
    ),
    (
        "optional attribute",
        "Guard the access with `has`: `principal has email && principal.email == ...`.",
    ),
    (
        "not found",
        "Declare the attribute in the entity's or context's shape in authz/schema.json, "
        "or fix its spelling.",
    ),
    (
        "not a valid function",
        "Use a Cedar extension function: ip, decimal, datetime, duration.",
    ),
    (
        "unexpected type",
        "Compare values of the types the schema declares (`in` takes an entity or a set of "
        "entities, not a string).",
    ),
    (
        "unable to find an applicable action",
        "Make the scope's principal and resource types match an action's appliesTo in "
        "authz/schema.json.",
    ),
)


def _fix_for(
    message: str,
    fixes: Sequence[tuple[str, str]] = _FIXES,
    default: str = "Make the policy and authz/schema.json agree.",
) -> str:
    for fragment, fix in fixes:
        if fragment in message:
            return fix
    return default


def _fix_for_policy(message: str, statement: str, declared_names: frozenset[str]) -> str:
    """The fix for a validator message, made concrete with the policy's own names."""
    unqualified = _UNQUALIFIED_NAME.search(message)
    if unqualified is not None and f"{NAMESPACE}::{unqualified['name']}" in declared_names:
        return (
            f"Write {NAMESPACE}::{unqualified['name']}: every entity type and action is "
            f"declared in namespace {NAMESPACE}."
        )
    optional = _OPTIONAL_ATTRIBUTE.search(message)
    if optional is not None:
        attribute = optional["attribute"]
        access = re.search(rf"([\w.]*\w)\.{attribute}(?!\w)", _code_only(statement))
        if access is not None:
            owner = access.group(1)
            return (
                f"Guard the access with `has`: `{owner} has {attribute} && "
                f"{owner}.{attribute} ...`."
            )
    return _fix_for(message)


def _line_of_type_error(text: str, message: str) -> int:
    """Line of `in` applied to a string, when that is the type error; else the first line.

    The validator's type errors name no position; `in "..."` is the usual one.
    """
    if "unexpected type" in message and "saw String" in message:
        found = re.search(r'(?<![\w.])in\s*"', _code_only(text))
        if found is not None:
            return text.count("\n", 0, found.start()) + 1
    return 1


def _line_of_name(text: str, message: str, default: int) -> int:
    """Line of `text` using the first backticked name in `message`, else `default`.

    Comments and annotations are blanked first and a name matches only as a whole word, so
    `owner` is not found inside `@id("owners-...")` nor `Item` inside `GetItem`.
    """
    searchable = _code_only(text)
    for name in _BACKTICKED.findall(message):
        short = name.rsplit("::", 1)[-1].strip('"')
        for candidate in (name, short):
            if not candidate:
                continue
            found = re.search(rf"(?<![\w:]){re.escape(candidate)}(?!\w)", searchable)
            if found is not None:
                return searchable.count("\n", 0, found.start()) + 1
    return default


def _code_only(text: str) -> str:
    """`text` with its `//` comments and `@annotations` blanked out, line breaks kept."""
    kept = list(text)
    index = 0
    while index < len(text):
        if text[index] == '"':
            index = _end_of_string(text, index)
            continue
        end = index
        if text.startswith("//", index):
            newline = text.find("\n", index)
            end = len(text) if newline == -1 else newline
        elif text[index] == "@":
            annotation = _ANNOTATION.match(text, index)
            end = index + 1 if annotation is None else annotation.end()
        if end == index:
            index += 1
            continue
        kept[index:end] = (" " if char != "\n" else char for char in text[index:end])
        index = end
    return "".join(kept)


def _clean_message(message: str) -> str:
    return re.sub(r"^for policy `policy\d+`, ", "", message)


_NO_APPLICABLE_ACTION = "unable to find an applicable action"


def _in_fixed_order(errors: Iterable[str]) -> list[str]:
    """One policy's validation errors, cleaned, in an order that is the same on every run.

    Cedar reports them in no fixed order (one per principal type, say). Sorted, with the
    no-applicable-action error last: it follows from the others (an unknown type or action),
    which are the ones to read first.
    """
    messages = [_clean_message(error) for error in errors]
    return sorted(
        messages, key=lambda message: (message.startswith(_NO_APPLICABLE_ACTION), message)
    )


def validate_policy(
    policy: CedarPolicy,
    schema: cedarpy.Schema,
    problems: list[AuthzProblem],
    declared_attributes: frozenset[str] | None = None,
    declared_names: frozenset[str] = frozenset(),
) -> None:
    """Validate one policy or template against the schema, recording every error.

    `declared_attributes` (every attribute name the schema declares anywhere) also catches
    `has` tests of undeclared attributes: Cedar's validator accepts them because `has` is
    then simply false, so a renamed attribute would silently switch a policy off.
    `declared_names` (the schema's entity types and action uids, namespaced) lets the fix
    for a name written without its namespace give the exact name.
    """
    result = cedarpy.validate_policies(policy.statement, schema)
    for message in _in_fixed_order(error.error for error in result.errors):
        fallback_line = _line_of_type_error(policy.statement, message)
        line = policy.line - 1 + _line_of_name(policy.statement, message, fallback_line)
        fix = _fix_for_policy(message, policy.statement, declared_names)
        problems.append(AuthzProblem(policy.file, line, policy.policy_id, message, fix))
    if declared_attributes is None:
        return

    for attribute in sorted(set(_has_tests(json.loads(policy.est_json))) - declared_attributes):
        message = (
            f"`has {attribute}` tests an attribute no entity type or context in the schema "
            f"declares, so it is always false"
        )
        line = (
            policy.line - 1 + _line_of_name(policy.statement, f"`has {attribute}` `{attribute}`", 1)
        )
        problems.append(
            AuthzProblem(
                policy.file,
                line,
                policy.policy_id,
                message,
                "Declare the attribute in authz/schema.json or fix its spelling in the policy.",
            )
        )


def _has_tests(node: object) -> Iterator[str]:
    """The attribute names of every `has` test in a policy's JSON form."""
    if isinstance(node, dict):
        test = node.get("has")
        if isinstance(test, dict) and isinstance(test.get("attr"), str):
            yield test["attr"]
        for value in node.values():
            yield from _has_tests(value)
    elif isinstance(node, list):
        for item in node:
            yield from _has_tests(item)


def schema_attribute_names(schema_json: str) -> frozenset[str]:
    """Every attribute name declared anywhere in the JSON schema (shapes, contexts, types)."""
    names: set[str] = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            attributes = node.get("attributes")
            if isinstance(attributes, dict):
                names.update(attributes)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(json.loads(schema_json))
    return frozenset(names)


def _check_links(
    links: Sequence[TemplateLink],
    templates: Mapping[str, CedarPolicy],
    schema: cedarpy.Schema,
    entity_types: frozenset[str],
    problems: list[AuthzProblem],
) -> None:
    for link in links:
        known_problems = len(problems)
        template = templates.get(link.template_id)
        if template is None:
            problems.append(
                AuthzProblem(
                    link.file,
                    link.line,
                    link.link_id,
                    f"template {link.template_id!r} not found in authz/templates/",
                    f"Use one of {sorted(templates)}.",
                )
            )
            continue
        given = tuple(sorted(link.linked_values()))
        if given != tuple(sorted(template.slots)):
            problems.append(
                AuthzProblem(
                    link.file,
                    link.line,
                    link.link_id,
                    f"template {link.template_id!r} has slots {list(template.slots)}, "
                    f"the link fills {list(given)}",
                    "Give exactly one value per slot (principal for ?principal, resource for "
                    "?resource).",
                )
            )
        for entity in (link.principal, link.resource):
            if entity is not None and entity.entity_type not in entity_types:
                problems.append(
                    AuthzProblem(
                        link.file,
                        link.line,
                        link.link_id,
                        f"entity type {entity.entity_type!r} is not in the schema",
                        f"Use a namespaced type the schema declares: {sorted(entity_types)}.",
                    )
                )
        if len(problems) == known_problems:
            _validate_linked_policy(link, template, schema, problems)


def _validate_linked_policy(
    link: TemplateLink,
    template: CedarPolicy,
    schema: cedarpy.Schema,
    problems: list[AuthzProblem],
) -> None:
    """Validate the policy a link creates, as Verified Permissions' STRICT mode will.

    The template alone validates with open slots; only the linked entities show whether any
    action of the template applies to them.
    """
    values = {
        slot: {"type": entity.entity_type, "id": entity.entity_id}
        for slot, entity in (("?principal", link.principal), ("?resource", link.resource))
        if entity is not None
    }
    body = _fill_slots(json.loads(template.est_json), values)
    document = {"staticPolicies": {link.link_id: body}, "templates": {}, "templateLinks": []}
    fix = (
        f"Link an entity whose type the actions of template {link.template_id!r} apply to "
        "(appliesTo in authz/schema.json)."
    )
    try:
        errors = cedarpy.validate_policies(
            cedarpy.policies_from_json_str(json.dumps(document)), schema
        ).errors
    except ValueError as exc:
        problems.append(
            AuthzProblem(link.file, link.line, link.link_id, f"cannot link: {exc}", fix)
        )
        return
    for text in _in_fixed_order(error.error for error in errors):
        message = f"linked policy from template {link.template_id!r}: {text}"
        problems.append(AuthzProblem(link.file, link.line, link.link_id, message, fix))


def _fill_slots(node: Any, values: Mapping[str, Any]) -> Any:
    """A template's JSON form with each `{"slot": "?x"}` replaced by the linked entity."""
    if isinstance(node, list):
        return [_fill_slots(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    filled = {key: _fill_slots(value, values) for key, value in node.items() if key != "slot"}
    if isinstance(node.get("slot"), str):
        filled["entity"] = values[node["slot"]]
    return filled


def _check_unique_ids(
    policies: Iterable[tuple[str, Path, int]], problems: list[AuthzProblem]
) -> None:
    first_seen: dict[str, tuple[Path, int]] = {}
    for policy_id, file, line in policies:
        if policy_id in first_seen:
            other_file, other_line = first_seen[policy_id]
            problems.append(
                AuthzProblem(
                    file,
                    line,
                    policy_id,
                    f"duplicate id, first used at {other_file}:{other_line}",
                    "Give every policy, template and link its own id.",
                )
            )
        else:
            first_seen[policy_id] = (file, line)


_LOOKS_LIKE_A_CREDENTIAL = "(a name that looks like a credential)"


def check_routes(
    schema_json: str, catalog: ServiceCatalog, services_file: Path
) -> tuple[AuthzProblem, ...]:
    """Every catalog route whose action or resource type does not fit the schema.

    Such a route can never be allowed: the PEP would ask about an action or resource type
    Verified Permissions does not know.
    """
    actions = json.loads(schema_json)[NAMESPACE].get("actions", {})
    try:
        text = read_authz_text(services_file)
    except (OSError, UnicodeDecodeError):
        # Only the line numbers come from the text: the catalog itself was loaded already.
        text = ""
    problems: list[AuthzProblem] = []
    for service in catalog.services:
        for index, route in enumerate(service.routes):
            if route.action is None or route.resource is None:
                continue
            action, resource_type = route.action, route.resource.type
            where = f"services[{service.name}].routes[{index}]"
            line = _line_of_text(text, f"action: {action}")
            # A route's action can pass the name check yet be a pasted token: never repeat it.
            shown = repr(action) if is_safe_to_quote(action) else _LOOKS_LIKE_A_CREDENTIAL
            applies_to = actions.get(action, {}).get("appliesTo")
            if action not in actions:
                problems.append(
                    AuthzProblem(
                        services_file,
                        line,
                        None,
                        f"{where}: action {shown} is not in the schema",
                        f"Add {shown} to the actions of authz/schema.json or fix the route."
                        if shown != _LOOKS_LIKE_A_CREDENTIAL
                        else "Set the route's action to an action of authz/schema.json.",
                    )
                )
            elif applies_to is None or resource_type not in applies_to.get("resourceTypes", []):
                problems.append(
                    AuthzProblem(
                        services_file,
                        line,
                        None,
                        f"{where}: action {shown} does not apply to resource type "
                        f"{NAMESPACE}::{resource_type}",
                        f"Add {resource_type!r} to the action's appliesTo.resourceTypes in "
                        "authz/schema.json or fix the route's resource type.",
                    )
                )
    return tuple(problems)


def _line_of_text(text: str, needle: str) -> int:
    position = text.find(needle)
    return 1 if position == -1 else text.count("\n", 0, position) + 1


def inspect_authz(
    directory: Path,
    *,
    schema_file: Path | None = None,
    catalog: ServiceCatalog | None = None,
    services_file: Path | None = None,
) -> tuple[AuthzFiles | None, tuple[AuthzProblem, ...]]:
    """Read and validate `authz/`; return the files (None if unreadable) and every problem.

    `schema_file` validates the policies against a proposed schema instead of
    `authz/schema.json`: Verified Permissions does not re-check existing policies when the
    schema changes, so a schema change must be checked against all of them first.
    `catalog` (read from `services_file`) has its routes checked against the schema too.
    """
    files, problems = _inspect_authz(directory, schema_file, catalog, services_file)
    if schema_file is None:
        return files, problems

    # The fixes say what to change in authz/schema.json; here, the proposed file is the one.
    return files, tuple(
        replace(problem, fix=problem.fix.replace(_DEFAULT_SCHEMA, str(schema_file)))
        for problem in problems
    )


_DEFAULT_SCHEMA = f"authz/{SCHEMA_FILE}"
"""How fixes name the schema file: as the layout does, unless a proposed one is checked."""


def _inspect_authz(
    directory: Path,
    schema_file: Path | None,
    catalog: ServiceCatalog | None,
    services_file: Path | None,
) -> tuple[AuthzFiles | None, tuple[AuthzProblem, ...]]:
    problems: list[AuthzProblem] = []
    directory = Path(directory)
    schema_path = schema_file if schema_file is not None else directory / SCHEMA_FILE
    schema_json = _read_schema(schema_path, problems)
    policies = _read_cedar_dir(directory / POLICIES_DIR, False, problems)
    templates = _read_cedar_dir(directory / TEMPLATES_DIR, True, problems)
    try:
        links = _read_links(directory / LINKS_FILE, problems)
    except YamlFileError as exc:
        message = f"expected {exc.expected}, found {exc.found}"
        problems.append(AuthzProblem(exc.path, exc.line, None, message, exc.fix))
        links = []

    _check_unique_ids(
        (
            *((p.policy_id, p.file, p.line) for p in (*policies, *templates)),
            *((link.link_id, link.file, link.line) for link in links),
        ),
        problems,
    )
    if schema_json is None:
        return None, tuple(problems)

    schema = cedarpy.Schema.from_json_str(schema_json)
    declared_attributes = schema_attribute_names(schema_json)
    declared_names = schema_entity_types(schema_json) | {
        f"{NAMESPACE}::Action::{json.dumps(action)}" for action in schema_actions(schema_json)
    }
    for policy in (*policies, *templates):
        validate_policy(policy, schema, problems, declared_attributes, declared_names)
    _check_links(
        links,
        {template.policy_id: template for template in templates},
        schema,
        schema_entity_types(schema_json),
        problems,
    )
    if catalog is not None and services_file is not None:
        problems.extend(check_routes(schema_json, catalog, services_file))
    files = AuthzFiles(
        directory=directory,
        schema_file=schema_path,
        schema_json=schema_json,
        policies=tuple(policies),
        templates=tuple(templates),
        links=tuple(links),
    )
    return files, tuple(problems)


def load_authz(
    directory: Path,
    *,
    schema_file: Path | None = None,
    catalog: ServiceCatalog | None = None,
    services_file: Path | None = None,
) -> AuthzFiles:
    """Read and validate `authz/` (and the catalog's routes against it, when given).

    Raises `AuthzValidationError` listing every problem.
    """
    files, problems = inspect_authz(
        directory, schema_file=schema_file, catalog=catalog, services_file=services_file
    )
    if problems or files is None:
        raise AuthzValidationError(problems)
    return files


def iter_test_files(directory: Path) -> Iterator[Path]:
    """The decision-test files under `authz/tests/`, in name order.

    Raises `SpecError` for anything else there (a `.yml` file, a subdirectory), which would
    otherwise never run while the suite reports success. Every `*.yaml` entry is yielded,
    so one that is not a regular file (a named pipe, a directory) is refused when read
    (`load_yaml`), never skipped.
    """
    tests_dir = Path(directory) / TESTS_DIR
    entries = sorted(tests_dir.iterdir()) if tests_dir.is_dir() else []
    for entry in entries:
        if entry.suffix == ".yaml":
            continue
        if entry.is_dir():
            raise SpecError(
                entry,
                TESTS_DIR,
                "only *.yaml decision-test files",
                "a directory",
                f"Move its cases into *.yaml files directly in {tests_dir}.",
            )
        if not entry.name.startswith("."):
            raise SpecError(
                entry,
                TESTS_DIR,
                "only *.yaml decision-test files",
                repr(entry.name),
                f"Rename it to *.yaml or move it out of {tests_dir}.",
            )
    yield from (entry for entry in entries if entry.suffix == ".yaml")


__all__ = [
    "GROUP_ENTITY_TYPE",
    "MAX_AUTHZ_FILE_BYTES",
    "MAX_PARSE_DEPTH",
    "MAX_POLICY_BYTES",
    "NAMESPACE",
    "AuthzFiles",
    "AuthzProblem",
    "AuthzValidationError",
    "CedarPolicy",
    "CedarStatement",
    "EntityRef",
    "TemplateLink",
    "YamlDocument",
    "YamlFileError",
    "check_routes",
    "inspect_authz",
    "iter_test_files",
    "load_authz",
    "load_yaml",
    "not_a_file_fix",
    "parse_depth",
    "read_authz_text",
    "schema_actions",
    "schema_attribute_names",
    "schema_entity_types",
    "split_statements",
    "too_deep_message",
    "validate_policy",
]
