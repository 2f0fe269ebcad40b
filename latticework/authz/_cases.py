"""Decision test cases from `authz/tests/*.yaml`.

A test file holds optional `entities` shared by its cases and a list of `cases`::

    entities:                      # Cedar JSON entities, shared by every case of the file
      - uid: {type: Latticework::User, id: alice}
        parents: [{type: Latticework::UserGroup, id: customers}]
    cases:
      - name: alice may place an order
        principal: {type: Latticework::User, id: alice}   # or 'Latticework::User::"alice"'
        action: CreateOrder                                # or 'Latticework::Action::"..."'
        resource: {type: Latticework::Store, id: default}
        context: {scopes: ["orders:write"]}                # Cedar JSON values
        entities: []                                       # more entities for this case
        expect: allow                                      # allow | deny
        determining: [customers-create-orders]             # optional: exact policy ids
        errors: []                                         # optional: policies that error
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from components.authz_files import NAMESPACE, iter_test_files, load_yaml
from components.errors import SpecError

_CASE_KEYS = frozenset(
    {
        "name",
        "principal",
        "action",
        "resource",
        "context",
        "entities",
        "expect",
        "determining",
        "errors",
    }
)
_ENTITY_KEYS = frozenset({"uid", "attrs", "parents", "tags"})
_REQUIRED_KEYS = frozenset({"name", "principal", "action", "resource", "expect"})
_ENTITY_UID = re.compile(
    r'(?P<type>[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)::(?P<id>".*")'
)


@dataclass(frozen=True, slots=True)
class DecisionCase:
    """One authorization request and the decision it must get."""

    name: str
    file: Path
    line: int
    principal: Mapping[str, str]
    action: Mapping[str, str]
    resource: Mapping[str, str]
    context: Mapping[str, Any]
    entities: tuple[Mapping[str, Any], ...]
    expect: Literal["allow", "deny"]
    determining: tuple[str, ...] | None
    errors: tuple[str, ...]

    @property
    def location(self) -> str:
        """`file:line` of the case."""
        return f"{self.file}:{self.line}"

    def request(self) -> dict[str, Any]:
        """The request in the form cedarpy's `is_authorized` takes."""
        return {
            "principal": dict(self.principal),
            "action": dict(self.action),
            "resource": dict(self.resource),
            "context": dict(self.context),
        }


def load_cases(authz_dir: Path) -> tuple[DecisionCase, ...]:
    """Every case of every `authz/tests/*.yaml`, in file and then case order."""
    cases: list[DecisionCase] = []
    for path in iter_test_files(authz_dir):
        cases.extend(load_case_file(path))
    return tuple(cases)


def load_case_file(path: Path) -> tuple[DecisionCase, ...]:
    """The cases of one test file; raises `SpecError` naming file, line and key."""
    document = load_yaml(path)
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise SpecError(
            path,
            "cases",
            "a mapping with a `cases` list (and optional shared `entities`)",
            _kind(data),
            "See docs/authz.md for the test file format.",
        )
    unknown = sorted(set(data) - {"cases", "entities"})
    if unknown:
        raise SpecError(
            path, unknown[0], "only `cases` and `entities`", repr(unknown), "Remove it."
        )
    shared = _entities(data.get("entities", []), f"{path}:1", "entities")

    cases: list[DecisionCase] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data["cases"]):
        line = document.line_of("cases", index)
        case = _case(raw, path, line, index, shared)
        if case.name in seen:
            raise SpecError(
                f"{path}:{line}",
                f"cases[{index}].name",
                "a name no other case of the file uses",
                f"{case.name!r}, already used at line {seen[case.name]}",
                "Rename one of the cases.",
            )
        seen[case.name] = line
        cases.append(case)
    return tuple(cases)


def _case(
    raw: object, path: Path, line: int, index: int, shared: tuple[Mapping[str, Any], ...]
) -> DecisionCase:
    where = f"{path}:{line}"
    key = f"cases[{index}]"
    if not isinstance(raw, dict):
        raise SpecError(where, key, "a mapping", _kind(raw), "Write the case as a mapping.")
    missing = sorted(_REQUIRED_KEYS - set(raw))
    unknown = sorted(set(raw) - _CASE_KEYS)
    if missing or unknown:
        found = ", ".join(
            f"{kind} {keys}" for kind, keys in (("missing", missing), ("unknown", unknown)) if keys
        )
        renames = [
            f"{name!r} to {close[0]!r}"
            for name in unknown
            if isinstance(name, str)
            and (close := difflib.get_close_matches(name, sorted(_CASE_KEYS), n=1))
        ]
        fix = f"Rename {', '.join(renames)}." if renames else "Fix the case's keys."
        raise SpecError(
            where,
            key,
            f"keys {sorted(_REQUIRED_KEYS)} and optionally context, entities, determining, errors",
            found,
            f"{fix} (See docs/authz.md.)",
        )
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise SpecError(where, f"{key}.name", "a non-empty string", _kind(name), "Name the case.")
    expect = raw["expect"]
    if expect not in ("allow", "deny"):
        raise SpecError(
            where, f"{key}.expect", "allow or deny", repr(expect), "Say which decision is right."
        )
    context = raw.get("context", {})
    if not isinstance(context, dict):
        raise SpecError(
            where, f"{key}.context", "a mapping of Cedar JSON values", _kind(context), "Fix it."
        )
    _check_json(context, where, f"{key}.context")
    return DecisionCase(
        name=name,
        file=path,
        line=line,
        principal=_entity_uid(raw["principal"], where, f"{key}.principal"),
        action=_action_uid(raw["action"], where, f"{key}.action"),
        resource=_entity_uid(raw["resource"], where, f"{key}.resource"),
        context=context,
        entities=(*shared, *_entities(raw.get("entities", []), where, f"{key}.entities")),
        expect=expect,
        determining=(
            None
            if "determining" not in raw
            else _ids(raw["determining"], where, f"{key}.determining")
        ),
        errors=_ids(raw.get("errors", []), where, f"{key}.errors"),
    )


def _entity_uid(value: object, where: str, key: str) -> dict[str, str]:
    if (
        isinstance(value, dict)
        and set(value) == {"type", "id"}
        and isinstance(value["type"], str)
        and isinstance(value["id"], str)
    ):
        return {"type": value["type"], "id": value["id"]}
    if isinstance(value, str):
        match = _ENTITY_UID.fullmatch(value)
        try:
            if match is not None:
                return {"type": match["type"], "id": str(json.loads(match["id"]))}
        except ValueError:
            pass  # the quoted id is not one string: reported below like any other bad uid
    raise SpecError(
        where,
        key,
        "{type: <entity type>, id: <id>} or '<Type>::\"<id>\"'",
        repr(value),
        f"Write e.g. {{type: {NAMESPACE}::User, id: alice}}.",
    )


def _action_uid(value: object, where: str, key: str) -> dict[str, str]:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", value):
        return {"type": f"{NAMESPACE}::Action", "id": value}
    return _entity_uid(value, where, key)


def _entities(value: object, where: str, key: str) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list) or not all(
        isinstance(entity, dict) and isinstance(entity.get("uid"), dict) for entity in value
    ):
        raise SpecError(
            where,
            key,
            "a list of Cedar JSON entities ({uid: {type, id}, attrs: {}, parents: []})",
            _kind(value),
            "See docs/authz.md for the entity format.",
        )
    for index, entity in enumerate(value):
        unknown = sorted(set(entity) - _ENTITY_KEYS)
        if unknown:
            raise SpecError(
                where,
                f"{key}[{index}]",
                "keys uid, attrs, parents, tags",
                f"unknown {unknown}",
                "Fix the key: an unknown one would be dropped (parents, not parent).",
            )
        _check_json(entity, where, f"{key}[{index}]")
    return tuple({"attrs": {}, "parents": [], **entity} for entity in value)


def _check_json(value: object, where: str, key: str) -> None:
    """Raise `SpecError` at the first value that JSON, and so Cedar, cannot take."""
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                raise SpecError(where, key, "string keys", repr(name), "Quote the key.")
            _check_json(item, where, f"{key}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, where, f"{key}[{index}]")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise SpecError(
            where,
            key,
            "a JSON value (string, number, boolean, list or mapping)",
            f"a YAML {type(value).__name__}",
            "Quote the value: YAML reads unquoted dates and times as such.",
        )


def _ids(value: object, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise SpecError(where, key, "a list of policy ids", repr(value), "List the @id values.")


def _kind(value: object) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


__all__ = ["DecisionCase", "load_case_file", "load_cases"]
