"""The Plan: every resource one environment needs, as the offline engine recorded it.

A `Plan` is what `latticework plan` reports and what the policy pack, the component tests
and the rollout gates read. It holds plain, JSON-shaped values only, so it can be rendered,
compared and serialised without the Pulumi SDK; secret values are replaced by
`SECRET_MASK` before they reach it.

The JSON form of a Plan (`latticework.reports.json`) is documented in `docs/plan.md`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from components.spec import StackSpec

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
"""A plain value as it appears in resource inputs and outputs."""

SECRET_MASK = "[secret]"  # noqa: S105 (the mask shown instead of a secret, not a password)
"""What a secret value reads as everywhere in a Plan and its reports."""

STACK_TYPE = "pulumi:pulumi:Stack"
"""The type of the root stack resource; it is not part of `Plan.resources`."""


@dataclass(frozen=True, slots=True)
class PlannedResource:
    """One resource registration: what the program asked for and what the engine answered.

    `inputs` are the properties the program passed; `outputs` are the properties the engine
    returned (the inputs plus synthesised ids, ARNs and names). For a component resource
    `outputs` holds what it passed to `register_outputs`. Secret values read `SECRET_MASK`
    in both, and so does every output named in `secret_outputs`.
    """

    urn: str
    type: str
    name: str
    parent_urn: str | None
    custom: bool
    id: str | None
    inputs: Mapping[str, JsonValue]
    outputs: Mapping[str, JsonValue]
    dependencies: tuple[str, ...]
    property_dependencies: Mapping[str, tuple[str, ...]]
    provider: str | None = None
    protect: bool = False
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    secret_outputs: tuple[str, ...] = ()
    read: bool = False
    """True for an existing resource the program read (`Resource.get`), not one it manages."""

    @property
    def is_component(self) -> bool:
        """Whether this is a component resource (a grouping, not an AWS object)."""
        return not self.custom


@dataclass(frozen=True, slots=True)
class PlannedService:
    """One catalog service as the call graph sees it."""

    name: str
    callers: tuple[str, ...]
    """Catalog services allowed to invoke this one."""
    iam_principals: tuple[str, ...]
    """External IAM principal ARNs allowed to invoke this one."""
    secrets: tuple[str, ...]
    """Logical names of the secrets this service uses."""


@dataclass(frozen=True, slots=True)
class ProgramMessage:
    """A warning or error the program logged through `pulumi.log`."""

    severity: str
    message: str
    urn: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one environment needs, in URN order, with its call graph.

    `config` is the stack's Pulumi config as the program saw it (structured values decoded,
    `secure:` values masked); `stack_outputs` are the program's exports; `messages` the
    warnings and errors it logged. `spec` is the validated stack spec the program was
    planned from (not part of the JSON form).
    """

    environment: str
    project: str
    stack: str
    region: str
    account_id: str
    resources: tuple[PlannedResource, ...]
    services: tuple[PlannedService, ...]
    config: Mapping[str, JsonValue] = field(default_factory=dict)
    stack_outputs: Mapping[str, JsonValue] = field(default_factory=dict)
    messages: tuple[ProgramMessage, ...] = ()
    spec: StackSpec | None = field(default=None, repr=False, compare=False)
    _by_urn: Mapping[str, PlannedResource] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _children: Mapping[str, tuple[PlannedResource, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        children: dict[str, list[PlannedResource]] = {}
        for planned in self.resources:
            if planned.parent_urn is not None:
                children.setdefault(planned.parent_urn, []).append(planned)
        object.__setattr__(self, "_by_urn", {planned.urn: planned for planned in self.resources})
        object.__setattr__(
            self, "_children", {urn: tuple(found) for urn, found in children.items()}
        )

    def __iter__(self) -> Iterator[PlannedResource]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    def resource(self, urn: str) -> PlannedResource:
        """The resource with this URN; `KeyError` naming the URN if there is none."""
        planned = self._by_urn.get(urn)
        if planned is None:
            message = f"no resource with URN {urn} in the {self.environment} plan"
            raise KeyError(message)
        return planned

    def of_type(self, resource_type: str) -> tuple[PlannedResource, ...]:
        """Every resource of one type token, e.g. ``aws:vpclattice/service:Service``."""
        return tuple(planned for planned in self.resources if planned.type == resource_type)

    def children(self, urn: str) -> tuple[PlannedResource, ...]:
        """The resources whose parent is `urn` (direct children only)."""
        return self._children.get(urn, ())

    def roots(self) -> tuple[PlannedResource, ...]:
        """The resources whose parent is the stack (or that have no parent)."""
        return tuple(
            planned
            for planned in self.resources
            if planned.parent_urn is None or planned.parent_urn not in self._by_urn
        )

    def __contains__(self, urn: object) -> bool:
        return urn in self._by_urn

    def components(self) -> tuple[PlannedResource, ...]:
        """Every component resource."""
        return tuple(planned for planned in self.resources if planned.is_component)

    def service(self, name: str) -> PlannedService:
        """The call-graph entry of one catalog service; `KeyError` if it is not in the plan."""
        for planned in self.services:
            if planned.name == name:
                return planned
        message = f"no service named {name!r} in the {self.environment} plan"
        raise KeyError(message)


__all__ = [
    "SECRET_MASK",
    "STACK_TYPE",
    "JsonValue",
    "Plan",
    "PlannedResource",
    "PlannedService",
    "ProgramMessage",
]
