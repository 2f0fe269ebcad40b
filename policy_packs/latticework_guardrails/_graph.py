"""How stack policies tell that one resource points at another.

A reference is found first through property dependencies (which a preview knows even while
ids and ARNs are unknown), then by value when known: the referring property equals the
target's ``id`` or ``arn`` (or another identifier property the caller names).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policy_packs.latticework_guardrails._props import UNKNOWN, as_list, is_sequence, read

_IDENTIFIER_PROPERTIES = ("id", "arn")


def by_type(resources: Iterable[Any]) -> Mapping[str, list[Any]]:
    """The stack's resources grouped by type token."""
    grouped: dict[str, list[Any]] = defaultdict(list)
    for resource in resources:
        grouped[resource.resource_type].append(resource)
    return grouped


def identifiers(resource: Any, extra: Sequence[str] = ()) -> set[str]:
    """The known identifier values of a resource (``id``, ``arn`` and `extra` properties)."""
    values: set[str] = set()
    for name in (*_IDENTIFIER_PROPERTIES, *extra):
        value = read(resource.props, name)
        if isinstance(value, str) and value:
            values.add(value)
    return values


def dependency_urns(resource: Any, property_name: str) -> set[str]:
    """URNs the property depends on, as the engine recorded them."""
    return {dependency.urn for dependency in resource.property_dependencies.get(property_name, [])}


def strings_in(value: Any) -> tuple[list[str], bool]:
    """Every string inside a property value, and whether any part of it is unknown."""
    if value is UNKNOWN:
        return [], True
    if isinstance(value, str):
        return [value], False
    if isinstance(value, Mapping):
        found: list[str] = []
        unknown = False
        for key in value:
            nested, nested_unknown = strings_in(read(value, key))
            found.extend(nested)
            unknown = unknown or nested_unknown
        return found, unknown
    if is_sequence(value):
        found = []
        unknown = False
        for item in as_list(value):
            nested, nested_unknown = strings_in(item)
            found.extend(nested)
            unknown = unknown or nested_unknown
        return found, unknown
    return [], False


@dataclass(frozen=True, slots=True)
class Reference:
    """What one property of a resource points at: dependency URNs and known string values."""

    urns: frozenset[str]
    values: frozenset[str]
    unknown: bool

    def points_at(self, target_urn: str, target_ids: set[str]) -> bool | None:
        """True when it points at the target; None when that cannot be told during preview.

        Property dependencies decide first; then known identifier values. When neither
        matches and the property or the target's identifiers are unknown, the answer is None.
        """
        if target_urn in self.urns or not self.values.isdisjoint(target_ids):
            return True
        return None if self.unknown or not target_ids else False


class Index:
    """Resources of some types found by URN or by a known identifier, for O(1) matching."""

    def __init__(self, resources: Iterable[Any], extra_ids: Sequence[str] = ()) -> None:
        self._by_key: dict[str, Any] = {}
        self._without_ids = False
        for resource in resources:
            self._by_key[resource.urn] = resource
            known_ids = identifiers(resource, extra_ids)
            self._without_ids = self._without_ids or not known_ids
            for identifier in known_ids:
                self._by_key[identifier] = resource

    def resolve(self, ref: Reference) -> tuple[list[Any], bool]:
        """The resources `ref` points at, and whether it may point at more (unknown values)."""
        matched: dict[str, Any] = {}
        for key in (*ref.urns, *ref.values):
            resource = self._by_key.get(key)
            if resource is not None:
                matched[resource.urn] = resource
        undetermined = not matched and (ref.unknown or (bool(ref.values) and self._without_ids))
        return list(matched.values()), undetermined


def reference(resource: Any, property_name: str) -> Reference:
    """The reference held by `resource.<property_name>`."""
    values, unknown = strings_in(read(resource.props, property_name))
    return Reference(
        urns=frozenset(dependency_urns(resource, property_name)),
        values=frozenset(values),
        unknown=unknown,
    )


__all__ = [
    "Index",
    "Reference",
    "by_type",
    "dependency_urns",
    "identifiers",
    "reference",
    "strings_in",
]
