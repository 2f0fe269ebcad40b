"""Build pulumi-policy arguments directly and run one policy, as the engine would."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""pulumi-policy's sentinel for a string a preview does not know yet."""

ACCOUNT = "111122223333"
REGION = "eu-west-1"


def options(parent: str | None = None) -> PolicyResourceOptions:
    """Resource options as the engine passes them for a plain resource."""
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def urn(resource_type: str, name: str) -> str:
    """A URN in the test stack."""
    return f"urn:pulumi:test::latticework::{resource_type}::{name}"


def check_resource(
    policy: Any,
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str = "subject",
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Run a resource policy on one resource; the violation messages it reported."""
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(dict(props)),
        urn(resource_type, name),
        name,
        options(),
        None,
        dict(config or {}),
    )
    messages: list[str] = []
    policy.validate(args, lambda message, _urn=None: messages.append(message))
    return messages


class Stack:
    """A stack of `PolicyResource` objects with real object links, as AnalyzeStack builds."""

    def __init__(self) -> None:
        self.resources: list[Any] = []

    def add(
        self,
        resource_type: str,
        name: str,
        props: Mapping[str, Any] | None = None,
        *,
        property_dependencies: Mapping[str, Sequence[Any]] | None = None,
        dependencies: Sequence[Any] = (),
    ) -> Any:
        """Add one resource; `property_dependencies` maps a property to resources it uses."""
        resource = PolicyResource(
            resource_type,
            unknown_checking_proxy(dict(props or {})),
            urn(resource_type, name),
            name,
            options(),
            None,
            None,
            list(dependencies),
            {key: list(value) for key, value in (property_dependencies or {}).items()},
        )
        for used in (property_dependencies or {}).values():
            for dependency in used:
                if dependency not in resource.dependencies:
                    resource.dependencies.append(dependency)
        self.resources.append(resource)
        return resource

    def check(
        self, policy: Any, config: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str | None]]:
        """Run a stack policy; the (message, urn) pairs it reported."""
        reported: list[tuple[str, str | None]] = []
        args = StackValidationArgs(self.resources, dict(config or {}))
        policy.validate(args, lambda message, urn=None: reported.append((message, urn)))
        return reported
