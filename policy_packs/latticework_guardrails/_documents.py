"""IAM and VPC Lattice auth policy documents, normalised for the policies.

A document may arrive as a JSON string or as a mapping; `Statement` may be one object or a
list; `Action`, `Resource` and principal values may be a string or a list. Condition
operators and keys compare case-insensitively, as IAM does. A malformed document raises
`PolicyDocumentError` with a message that names the problem, never the document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from policy_packs.latticework_guardrails._props import is_sequence


class PolicyDocumentError(ValueError):
    """A policy document is not valid JSON or not shaped like an IAM policy."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition test: ``operator`` (lower-cased), ``key`` (lower-cased) and its values."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a policy document."""

    index: int
    sid: str | None
    effect: str
    principals: tuple[str, ...] | None
    """Every principal value (`"*"` for the bare wildcard); None when `Principal` is absent."""
    has_not_principal: bool
    actions: tuple[str, ...]
    has_not_action: bool
    resources: tuple[str, ...]
    has_not_resource: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        """How a message names this statement: its Sid, else its position."""
        return f"statement {self.sid!r}" if self.sid else f"statement #{self.index + 1}"

    @property
    def is_allow(self) -> bool:
        """Whether the statement grants rather than denies."""
        return self.effect.lower() == "allow"


def parse_document(document: Any) -> tuple[Statement, ...]:
    """The statements of a JSON string or mapping; `PolicyDocumentError` when malformed."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            message = f"is not valid JSON (line {exc.lineno}, column {exc.colno})"
            raise PolicyDocumentError(message) from exc
    if not isinstance(document, Mapping):
        message = f"must be a JSON object, found {kind_of(document)}"
        raise PolicyDocumentError(message)

    raw_statements = document.get("Statement")
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not is_sequence(raw_statements) or len(raw_statements) == 0:
        message = "has no Statement (expected an object or a non-empty list)"
        raise PolicyDocumentError(message)

    return tuple(_statement(index, raw) for index, raw in enumerate(raw_statements))


def _statement(index: int, raw: Any) -> Statement:
    if not isinstance(raw, Mapping):
        message = f"statement #{index + 1} must be an object, found {kind_of(raw)}"
        raise PolicyDocumentError(message)

    effect = raw.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        message = f"statement #{index + 1} needs Effect Allow or Deny"
        raise PolicyDocumentError(message)

    if raw.get("Action") is None and "NotAction" not in raw:
        message = f"statement #{index + 1} needs Action or NotAction"
        raise PolicyDocumentError(message)

    sid = raw.get("Sid")
    return Statement(
        index=index,
        sid=sid if isinstance(sid, str) else None,
        effect=effect,
        principals=_principals(index, raw["Principal"]) if "Principal" in raw else None,
        has_not_principal="NotPrincipal" in raw,
        actions=_element(index, raw, "Action"),
        has_not_action="NotAction" in raw,
        resources=_element(index, raw, "Resource"),
        has_not_resource="NotResource" in raw,
        conditions=_conditions(raw.get("Condition")),
    )


def _principals(index: int, raw: Any) -> tuple[str, ...]:
    """Every principal value; a Principal that names nobody readable is malformed.

    Read leniently otherwise (a bare ARN or a list is not IAM grammar but is read as named).
    """
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, Mapping):
        return _principal_values(index, "", raw)
    if not raw:
        _principal_error(index, "an empty map")

    values: list[str] = []
    for principal_type, principal_values in raw.items():
        values.extend(_principal_values(index, f"{principal_type}: ", principal_values))
    return tuple(values)


def _principal_values(index: int, where: str, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if not is_sequence(raw):
        _principal_error(index, f"{where}{kind_of(raw)}")
    if len(raw) == 0:
        _principal_error(index, f"{where}an empty list")
    for item in raw:
        if not isinstance(item, str):
            _principal_error(index, f"{where}a list with {kind_of(item)}")
    return tuple(raw)


def _principal_error(index: int, found: str) -> NoReturn:
    message = (
        f'statement #{index + 1} Principal must be "*" or a map such as {{"AWS": [<role ARN>]}}, '
        f"found {found}"
    )
    raise PolicyDocumentError(message)


def _element(index: int, raw: Mapping[str, Any], field: str) -> tuple[str, ...]:
    """`Action` or `Resource`: absent, a string, or a non-empty list of strings."""
    value = raw.get(field)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if is_sequence(value) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    found = kind_of(value)
    if is_sequence(value):
        odd = [kind_of(item) for item in value if not isinstance(item, str)]
        found = f"a list with {odd[0]}" if odd else "an empty list"
    message = f"statement #{index + 1} {field} must be a string or a list of strings, found {found}"
    raise PolicyDocumentError(message)


def _conditions(raw: Any) -> tuple[Condition, ...]:
    if not isinstance(raw, Mapping):
        return ()

    conditions: list[Condition] = []
    for operator, tests in raw.items():
        if not isinstance(tests, Mapping):
            continue
        for key, values in tests.items():
            conditions.append(Condition(str(operator).lower(), str(key).lower(), _strings(values)))
    return tuple(conditions)


def _strings(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str | int | float | bool):
        return (str(raw),)
    if is_sequence(raw):
        return tuple(str(item) for item in raw)
    return ()


def kind_of(value: Any) -> str:
    """How a message names a JSON value's type: `a list`, `a dict`, `a str`, ..."""
    if is_sequence(value):
        return "a list"
    if isinstance(value, Mapping):
        return "a dict"
    return f"a {type(value).__name__}"


__all__ = ["Condition", "PolicyDocumentError", "Statement", "kind_of", "parse_document"]
