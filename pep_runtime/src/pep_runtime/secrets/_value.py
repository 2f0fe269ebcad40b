"""The masked secret value handed to service code."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NoReturn, TypeVar, cast

from pep_runtime.secrets.exceptions import SecretFormatError

MASK = "<masked>"

_FieldType = TypeVar("_FieldType")

_FIELD_TYPES: tuple[type, ...] = (str, int, float, bool)

_NOT_AN_OBJECT_FIX = "store a JSON object in it to read fields, or read it whole with reveal()"


class SecretValue:
    """One version of a secret; its repr and str never show the value.

    Read the value only through the `reveal*` methods, so that every place a secret leaves
    its wrapper is visible in review. Copying and pickling are refused: a copy would be a
    second place to forget.
    """

    __slots__ = ("_document", "_value", "created_date", "name", "stages", "version_id")

    def __init__(
        self,
        value: str | bytes,
        *,
        name: str,
        version_id: str,
        stages: tuple[str, ...] = (),
        created_date: datetime | None = None,
    ) -> None:
        self._value = value
        self._document: dict[str, Any] | None = None
        self.name = name
        self.version_id = version_id
        self.stages = stages
        self.created_date = created_date

    @property
    def is_binary(self) -> bool:
        """True for a SecretBinary secret, False for a SecretString one."""
        return isinstance(self._value, bytes)

    def reveal(self) -> str:
        """The text of a SecretString secret."""
        if isinstance(self._value, bytes):
            message = (
                f"secret {self.name!r} is binary (SecretBinary) but was read as text; "
                "use reveal_bytes() for binary secrets"
            )
            raise SecretFormatError(message, name=self.name)

        return self._value

    def reveal_bytes(self) -> bytes:
        """The bytes of a SecretBinary secret, or the UTF-8 bytes of a SecretString one."""
        if isinstance(self._value, bytes):
            return self._value

        return self._value.encode("utf-8")

    def field_names(self) -> frozenset[str]:
        """The top-level field names of a JSON object secret (names only, never values)."""
        return frozenset(self._json_object())

    def reveal_field(self, field: str, kind: type[_FieldType]) -> _FieldType:
        """One top-level field of a JSON object secret, checked to be of type `kind`.

        `kind` is `str`, `int`, `float` or `bool`; a JSON `true` is not an `int`, and an
        integer is accepted where a `float` is asked for.
        """
        if kind not in _FIELD_TYPES:
            message = f"reveal_field() takes str, int, float or bool as kind, not {kind!r}"
            raise TypeError(message)

        # Errors are raised from frames that hold no decoded value: tracebacks rendered with
        # their locals (Sentry, rich, structlog) would show it.
        problem = _field_problem(self.name, self._json_object(), field, kind)
        if problem is not None:
            raise SecretFormatError(problem, name=self.name, field=field)

        found = self._json_object()[field]
        if kind is float and not isinstance(found, float):
            return cast(_FieldType, float(found))
        return cast(_FieldType, found)

    def _json_object(self) -> dict[str, Any]:
        if self._document is None:
            decoded = _decode_object(self._value)
            if isinstance(decoded, str):
                message = f"secret {self.name!r} {decoded}"
                raise SecretFormatError(message, name=self.name)
            self._document = decoded

        return self._document

    def __repr__(self) -> str:
        return (
            f"SecretValue(name={self.name!r}, version_id={self.version_id!r}, "
            f"stages={self.stages!r}, value={MASK})"
        )

    def __str__(self) -> str:
        return MASK

    def __reduce__(self) -> NoReturn:
        message = "a SecretValue cannot be copied or pickled; keep the one the client returned"
        raise TypeError(message)


def _decode_object(value: str | bytes) -> dict[str, Any] | str:
    """The JSON object in `value`, or what is wrong with it (never the value itself)."""
    try:
        document = json.loads(value)
    except json.JSONDecodeError as exc:
        # Only the position leaves this block: the error keeps the whole document in `doc`.
        where = f" (line {exc.lineno}, column {exc.colno})"
        return f"is not valid JSON{where}; {_NOT_AN_OBJECT_FIX}"
    except UnicodeDecodeError:
        return f"is not valid JSON (not UTF-8); {_NOT_AN_OBJECT_FIX}"
    except (ValueError, RecursionError) as exc:
        # An integer beyond Python's digit limit, or nesting beyond the recursion limit.
        return f"is not valid JSON ({type(exc).__name__}); {_NOT_AN_OBJECT_FIX}"

    if not isinstance(document, dict):
        found = _json_type(document)
        return f"holds a JSON {found}, expected a JSON object; read it whole with reveal()"
    return document


def _field_problem(name: str, document: dict[str, Any], field: str, kind: type) -> str | None:
    """Why `field` of `document` cannot be read as `kind`, or None (never the value itself)."""
    if field not in document:
        present = ", ".join(sorted(document)) or "none"
        return (
            f"secret {name!r} has no JSON field {field!r} (fields present: {present}); "
            "check the field name, or the secret's rotation function that writes it"
        )

    found = document[field]
    is_number = isinstance(found, int | float) and not isinstance(found, bool)
    if kind is float and is_number:
        return None
    if isinstance(found, kind) and (kind is bool or not isinstance(found, bool)):
        return None
    return (
        f"secret {name!r} field {field!r}: expected a JSON {_json_type_of(kind)}, found a "
        f"JSON {_json_type(found)}; fix the value in Secrets Manager or ask for the type it "
        "holds"
    )


def _json_type(found: object) -> str:
    """The JSON type name of a decoded value (never the value itself)."""
    if isinstance(found, bool):
        return "boolean"
    if isinstance(found, int | float):
        return "number"
    if isinstance(found, str):
        return "string"
    if isinstance(found, list):
        return "array"
    if isinstance(found, dict):
        return "object"
    return "null"


def _json_type_of(kind: type) -> str:
    names: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names[kind]


__all__ = ["MASK", "SecretValue"]
