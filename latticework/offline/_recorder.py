"""The mock monitor that records every registration, and the mocks that answer it.

`RecordingMonitor` is the Pulumi SDK's `MockMonitor` with one addition: before handing a
registration to the SDK it notes what the real engine would receive (parent, dependencies,
property dependencies, options, inputs), and after the SDK answered it notes the outputs.
`OfflineMocks` answers registrations with `synthesise` and invokes with `answer_invoke`.

Values are copied straight from the protobuf structs the SDK sends, so a secret arrives
still wrapped and is masked here, before anything else can see it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.mocks import MockEngine, MockMonitor
from pulumi.runtime.proto import engine_pb2

# NOTE: private names, but they are the wire protocol's constants (how a secret, a resource
# reference or an asset is marked inside a struct); importing them keeps us in step with
# the SDK instead of copying magic strings.
from pulumi.runtime.rpc import (
    UNKNOWN,
    _special_archive_sig,
    _special_asset_sig,
    _special_output_value_sig,
    _special_resource_sig,
    _special_secret_sig,
    _special_sig_key,
)

from latticework.offline._identifiers import AwsLocation, IdentifierSource
from latticework.offline._invokes import answer_invoke
from latticework.offline._synthesis import SynthesisRequest, synthesise
from latticework.plan import SECRET_MASK, STACK_TYPE, JsonValue, ProgramMessage

UNKNOWN_MASK = "[unknown]"
"""What a value the engine could not know reads as (never expected outside previews)."""

_PROVIDER_PREFIX = "pulumi:providers:"

# The SDK's mock monitor and engine are untyped; these are their methods with real types.
_sdk_register_resource: Callable[[MockMonitor, Any], Any] = MockMonitor.RegisterResource
_sdk_read_resource: Callable[[MockMonitor, Any], Any] = MockMonitor.ReadResource
_sdk_register_resource_outputs: Callable[[MockMonitor, Any], Any] = (
    MockMonitor.RegisterResourceOutputs
)
_sdk_log: Callable[[MockEngine, Any], None] = MockEngine.Log
_SEVERITIES = {
    engine_pb2.DEBUG: "debug",
    engine_pb2.INFO: "info",
    engine_pb2.WARNING: "warning",
    engine_pb2.ERROR: "error",
}


def plain_struct(struct: struct_pb2.Struct) -> dict[str, JsonValue]:
    """A protobuf struct as plain JSON values, secrets masked, null fields dropped."""
    plain: dict[str, JsonValue] = {}
    for key, value in struct.fields.items():
        if value.WhichOneof("kind") != "null_value":
            plain[key] = _plain_value(value)
    return plain


def _plain_value(value: struct_pb2.Value) -> JsonValue:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return UNKNOWN_MASK if value.string_value == UNKNOWN else value.string_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [_plain_value(item) for item in value.list_value.values]
    if kind == "struct_value":
        return _plain_special(value.struct_value)
    return None


def _plain_special(struct: struct_pb2.Struct) -> JsonValue:
    signature = struct.fields.get(_special_sig_key)
    if signature is None:
        return plain_struct(struct)

    fields = struct.fields
    kind = signature.string_value
    if kind == _special_secret_sig:
        return SECRET_MASK
    if kind == _special_resource_sig:
        return fields["urn"].string_value
    if kind == _special_output_value_sig:
        if "secret" in fields and fields["secret"].bool_value:
            return SECRET_MASK
        return _plain_value(fields["value"]) if "value" in fields else UNKNOWN_MASK
    if kind in (_special_asset_sig, _special_archive_sig):
        label = "asset" if kind == _special_asset_sig else "archive"
        for source in ("path", "uri", "text"):
            if source in fields:
                return {label: f"{source}:{fields[source].string_value}"}
        return {label: "assets"}
    return plain_struct(struct)


@dataclass(slots=True)
class Registration:
    """What the recording monitor saw for one resource (mutable while the program runs)."""

    urn: str
    type: str
    name: str
    parent_urn: str | None
    custom: bool
    id: str | None
    inputs: dict[str, JsonValue]
    outputs: dict[str, JsonValue]
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    provider: str | None
    protect: bool
    delete_before_replace: bool
    retain_on_delete: bool
    ignore_changes: tuple[str, ...]
    secret_outputs: tuple[str, ...]
    read: bool = False


class OfflineMocks(Mocks):
    """Answers registrations with synthesised AWS outputs and invokes from the contract list."""

    def __init__(self, location: AwsLocation) -> None:
        self.location = location
        self._pending = threading.local()
        self._by_reference: dict[str, Mapping[str, Any]] = {}

    def answering(self, urn: str) -> None:
        """Note the URN of the registration the current thread is about to answer."""
        self._pending.urn = urn

    def _current_urn(self, args: MockResourceArgs) -> str:
        urn = getattr(self._pending, "urn", "")
        return str(urn) or f"{args.typ}::{args.name}"

    def _lookup(self, reference: str) -> Mapping[str, Any] | None:
        return self._by_reference.get(reference)

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        urn = self._current_urn(args)
        if args.custom is False:
            return "", {}

        if args.typ.startswith(_PROVIDER_PREFIX):
            return IdentifierSource(urn).uuid("provider"), dict(args.inputs)

        request = SynthesisRequest(
            type=args.typ,
            name=args.name,
            urn=urn,
            inputs=args.inputs,
            existing_id=args.resource_id or None,
        )
        resource_id, outputs = synthesise(request, self.location, self._lookup)
        if args.resource_id:
            resource_id = args.resource_id
        outputs.setdefault("id", resource_id)

        # First registration wins: a resource always registers before those that refer to
        # it, while some later ones reuse its ARN as their own id (an auth policy's id is
        # its target's ARN) and must not shadow it.
        self._by_reference.setdefault(resource_id, outputs)
        arn = outputs.get("arn")
        if isinstance(arn, str):
            self._by_reference.setdefault(arn, outputs)
        return resource_id, outputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return answer_invoke(args.token, args.args, self.location), []


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, keeping a `Registration` for every resource."""

    def __init__(self, mocks: OfflineMocks) -> None:
        super().__init__(mocks)
        self.offline_mocks = mocks
        self.registrations: dict[str, Registration] = {}
        self.component_outputs: dict[str, dict[str, JsonValue]] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # NOTE: the SDK's mock qualifies children of the stack with `pulumi:pulumi:Stack$`; the
        # real engine does not, and URNs in a plan must read like the deployed ones.
        if parent.split("::")[2:3] == [STACK_TYPE]:
            parent = ""
        return str(super().make_urn(parent, type_, name))

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the SDK's gRPC method name)
        if request.type == STACK_TYPE:
            return _sdk_register_resource(self, request)

        urn = self.make_urn(request.parent, request.type, request.name)
        self.offline_mocks.answering(urn)
        response = _sdk_register_resource(self, request)
        self.registrations[urn] = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            parent_urn=request.parent or None,
            custom=bool(request.custom),
            id=response.id or None,
            inputs=plain_struct(request.object),
            outputs=_masked(plain_struct(response.object), request.additionalSecretOutputs),
            dependencies=_urns(request.dependencies),
            property_dependencies={
                key: _urns(value.urns) for key, value in request.propertyDependencies.items()
            },
            provider=request.provider or None,
            protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace),
            retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=tuple(request.ignoreChanges),
            secret_outputs=tuple(request.additionalSecretOutputs),
        )
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (the SDK's gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        self.offline_mocks.answering(urn)
        response = _sdk_read_resource(self, request)
        self.registrations[urn] = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            parent_urn=request.parent or None,
            custom=True,
            id=request.id or None,
            inputs=plain_struct(request.properties),
            outputs=_masked(plain_struct(response.properties), request.additionalSecretOutputs),
            dependencies=_urns(request.dependencies),
            property_dependencies={},
            provider=request.provider or None,
            protect=False,
            delete_before_replace=False,
            retain_on_delete=False,
            ignore_changes=(),
            secret_outputs=tuple(request.additionalSecretOutputs),
            read=True,
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (the SDK's gRPC name)
        self.component_outputs[request.urn] = plain_struct(request.outputs)
        return _sdk_register_resource_outputs(self, request)


def _urns(urns: Any) -> tuple[str, ...]:
    # The SDK collects dependencies in sets, so their order differs between processes.
    return tuple(sorted(set(urns)))


def _masked(outputs: dict[str, JsonValue], secret_names: Any) -> dict[str, JsonValue]:
    for name in secret_names:
        if name in outputs:
            outputs[name] = SECRET_MASK
    return outputs


class RecordingEngine(MockEngine):
    """The SDK's mock engine, keeping the program's warnings and errors."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self.messages: list[ProgramMessage] = []

    def Log(self, request: Any) -> None:  # noqa: N802 (the SDK's gRPC method name)
        severity = _SEVERITIES.get(request.severity, "info")
        if severity in ("warning", "error"):
            message = ProgramMessage(severity, request.message, request.urn or None)
            self.messages.append(message)
        _sdk_log(self, request)


__all__ = [
    "UNKNOWN_MASK",
    "OfflineMocks",
    "RecordingEngine",
    "RecordingMonitor",
    "Registration",
    "plain_struct",
]
