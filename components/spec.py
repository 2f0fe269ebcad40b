"""The typed, validated spec of one environment: its stack settings and the service catalog.

`load_spec(env, stacks_dir=...)` reads ``stacks/Pulumi.<env>.yaml`` and ``stacks/services.yaml``
(or another catalog) and returns a frozen `StackSpec`. Both the Pulumi program and the offline
engine go through it, so a bad file fails the same way everywhere: one `SpecError` naming the
file, the key path, what was expected, what was found and the fix. The checks run in order:
YAML (duplicate keys rejected), then shapes and types (pydantic, strict scalars, unknown keys
rejected), then the rules that span entries (duplicate names, callers, replica overrides).

The YAML keys are camelCase; the Python attributes are snake_case.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

import botocore
import botocore.loaders
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

from components._strict_yaml import HIDDEN_KEY, load_yaml_file, plain_scalar_text
from components.errors import SpecError
from components.secret_patterns import (
    classify_setting,
    classify_variable,
    is_safe_to_quote,
    match_secret_value,
)

SERVICES_FILE_NAME = "services.yaml"
"""The catalog's file name inside the stacks directory."""

#: Fargate's valid task sizes: CPU units -> allowed memory (MiB).
FARGATE_TASK_SIZES: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# latticework sets LATTICEWORK_* and AWS_REGION; other AWS_* names steer the SDKs' endpoints
# and credentials (AWS_ENDPOINT_URL_VERIFIEDPERMISSIONS would hand decisions to another
# server), ECS_* belong to the ECS agent. A catalog may set none of them.
_RESERVED_ENV_PREFIXES = ("LATTICEWORK_", "AWS_", "ECS_")
#: The top-level keys Pulumi itself writes next to `config` in a stack file: a secrets
#: provider URL, an encrypted data key and a salt, never a plaintext secret.
PULUMI_OWN_STACK_KEYS = frozenset({"secretsprovider", "encryptedkey", "encryptionsalt"})
_PULUMI_STACK_FILE_KEYS = frozenset({"config", *PULUMI_OWN_STACK_KEYS})
_SETTINGS_KEY = "latticework:settings"
_POLICIES_KEY = "latticework:policies"
_SERVICES_FILE_KEY = "latticework:servicesFile"
_REGION_KEY = "aws:region"
_LATTICEWORK_CONFIG_KEYS = (_SETTINGS_KEY, _POLICIES_KEY, _SERVICES_FILE_KEY)
_PASS_THROUGH_NAMESPACES = ("aws:", "pulumi:")
# The partitions whose ARNs `components.naming.partition_of` knows to write.
_SUPPORTED_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
#: The most bytes one catalog environment variable may take, and all of a service's names
#: and values together, counted as the task definition's JSON holds them (see `_json_size`):
#: ECS refuses a task definition larger than 64 KiB, and the container definition carries
#: latticework's own variables, ARNs and settings too.
MAX_ENV_VALUE_BYTES = 8192
MAX_ENV_TOTAL_BYTES = 32768


def _spec_error(expected: str, found: str, fix: str, *, key: str = "") -> PydanticCustomError:
    """A validation failure carrying the parts of a `SpecError`; the key path comes later.

    `key` names the key the failure is about when a whole-entry check raises it.
    """
    return PydanticCustomError(
        "latticework_spec",
        "{expected}",
        {"expected": expected, "found": found, "fix": fix, "key": key},
    )


def _describe(value: object) -> str:
    """Say what a value is without repeating anything that might be a secret."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        if not is_safe_to_quote(value) or len(value) > 80:
            return f"a string of {len(value)} characters"
        return f"the string {value!r}"
    if _is_encrypted(value):
        return "an encrypted value (secure:)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, bytes | bytearray):
        return f"binary data of {len(value)} bytes"
    if isinstance(value, Sequence):
        return "a list"
    return f"a {type(value).__name__}"


def _is_encrypted(value: object) -> bool:
    """Whether `value` is Pulumi's ciphertext of a `pulumi config set --secret` value."""
    return isinstance(value, Mapping) and set(value) == {"secure"}


def _shown_key(key: object) -> str:
    """A key as an error may show it: itself, unless it looks like a credential."""
    text = str(key)
    return text if is_safe_to_quote(text) else HIDDEN_KEY


def _secret_kind(name: str, value: str) -> str | None:
    """What secret `value` (stored under `name`) looks like, or None when it looks plain.

    This is the only place the spec asks the shared detector, so the loader and the policy
    pack agree on what counts as a secret. The answer describes the kind, never the value.
    """
    match = classify_variable(name, value)
    return None if match is None else match.description


def _pattern(
    regex: str, expected: str, fix: str, *, refuse_secrets: bool = False
) -> AfterValidator:
    """Check a string against `regex`; with `refuse_secrets`, also refuse credentials in it."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise _spec_error(expected, _describe(value), fix)

        secret_kind = _secret_kind("", value) if refuse_secrets else None
        if secret_kind is not None:
            raise _spec_error(
                expected + " without credentials",
                secret_kind,
                "Remove the credential: every plan shows this value.",
            )
        return value

    return AfterValidator(check)


def _in_range(low: int, high: int, fix: str) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise _spec_error(f"an integer from {low} to {high}", _describe(value), fix)
        return value

    return AfterValidator(check)


# The name prefixes VPC Lattice names (`<env>-<service>`), which may neither end in '-' nor
# hold '--'; the lookahead caps the length, the rest keeps each '-' between two characters.
ServiceName = Annotated[
    StrictStr,
    _pattern(
        r"(?=[a-z0-9-]{1,24}\Z)[a-z](?:-?[a-z0-9])*",
        "a lowercase name of 1-24 characters: a letter, then letters, digits and single '-' "
        "between them (no '--', no '-' at the end)",
        "Rename it, e.g. 'orders' or 'order-history'.",
    ),
]
SecretName = Annotated[
    StrictStr,
    _pattern(
        r"[a-z][a-z0-9-]{0,31}",
        "a lowercase name of 1-32 characters: a letter, then letters, digits or '-'",
        "Rename it, e.g. 'database' or 'stripe-api-key'.",
    ),
]
AccountId = Annotated[
    StrictStr,
    _pattern(r"\d{12}", "a 12-digit AWS account id in quotes", 'Write it quoted: "111122223333".'),
]
RoleArn = Annotated[
    StrictStr,
    _pattern(
        r"arn:aws(-[a-z]+)*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}",
        "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
        "Give the ARN of the caller's IAM role.",
    ),
]
Port = Annotated[StrictInt, _in_range(1, 65535, "Use the port the container listens on.")]
Replicas = Annotated[
    StrictInt, _in_range(0, 1000, "Set a desired task count from 0 (stopped) to 1000.")
]


class _Model(BaseModel):
    """Frozen, camelCase-keyed, and closed: an unknown key is an error, not ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


_ModelT = TypeVar("_ModelT", bound=_Model)


# --- the catalog -------------------------------------------------------------------------


class Callers(_Model):
    """Who may invoke a service through Lattice: catalog services and external IAM roles."""

    services: tuple[ServiceName, ...] = ()
    iam_principals: tuple[RoleArn, ...] = ()


class SecretSpec(_Model):
    """A secret a service reads at run time; only its ARN ever reaches the container."""

    name: SecretName
    rotation_days: (
        Annotated[
            StrictInt,
            _in_range(1, 1000, "Secrets Manager rotates every 1 to 1000 days; pick one."),
        ]
        | None
    ) = None


class RouteResource(_Model):
    """The Cedar resource a route acts on: an entity type and an id (may use placeholders)."""

    type: Annotated[
        StrictStr,
        _pattern(
            r"[A-Z][A-Za-z0-9_]{0,63}",
            "a Cedar entity type name such as 'Order'",
            "Use the entity type of the authz schema, without the namespace.",
        ),
    ]
    id: Annotated[
        StrictStr,
        _pattern(
            r"[^\s\x00-\x1f\x7f]{1,200}",
            "an entity id or a path placeholder such as '{orderId}'",
            "Set id to a fixed id or to a '{placeholder}' of the path.",
        ),
    ]


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The PEP's rules (pep_runtime.enforcement.config, which components may not import): a route
# path is '/' or segments that are each one whole {placeholder} or plain text, with a final
# '/' allowed; an id template's braces are all whole placeholders. A literal segment holds
# RFC 3986's unreserved characters and sub-delimiters, ':' and '@' (`/v1/orders:batchGet`).
_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,=:@-]+")
_TEMPLATE_TOKEN = re.compile(r"\{[^{}]*\}|[{}]")
_ROUTE_PATH_EXPECTED = (
    "a path template of segments that are a {placeholder} or plain text (letters, digits "
    "and - . _ ~ ! $ & ' ( ) * + , = : @, not '.' or '..'), e.g. /orders/{orderId}"
)
_ID_TEMPLATE_EXPECTED = "literal text and {placeholder}s of the path, a '/' between any two"


def _route_path(value: str) -> str:
    """A path template the PEP's config loader accepts as well."""
    if not value.startswith("/"):
        raise _spec_error(
            "a path template starting with '/', e.g. /orders/{orderId}",
            _describe(value),
            "Write the path as it appears in the URL, with {name} for variable parts.",
        )

    for segment in _path_segments(value):
        if _PLACEHOLDER.fullmatch(segment) or (
            _LITERAL_SEGMENT.fullmatch(segment) and segment not in {".", ".."}
        ):
            continue
        if not segment:
            found = "an empty segment ('//')"
        elif is_safe_to_quote(segment):
            found = f"the segment {segment!r}"
        else:
            found = "a segment that looks like a credential"
        raise _spec_error(
            _ROUTE_PATH_EXPECTED,
            found,
            "Make each {name} a whole segment with its braces closed, and drop empty, '.' and "
            "'..' segments: the PEP's config loader refuses any other path.",
        )
    return value


def _path_segments(path: str) -> list[str]:
    """The segments a route path is checked by: none for '/', and a final '/' adds none.

    As the PEP: only the one final '/' is dropped, so '//' keeps an empty segment.
    """
    if path == "/":
        return []

    segments = path.split("/")[1:]
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()
    return segments


def _id_template_problem(id_template: str) -> str | None:
    """What the PEP would refuse in a resource id template, or None."""
    for token in _TEMPLATE_TOKEN.findall(id_template):
        if _PLACEHOLDER.fullmatch(token) is None:
            shown = repr(token) if is_safe_to_quote(token) else "a brace"
            return f"{shown} is not a {{name}} placeholder"
    # The PEP's rule: two different paths must never give one id, and only a '/' (which no
    # path value holds) pins where one placeholder's value ends and the next begins.
    pieces = _PLACEHOLDER.split(id_template)
    for index in range(2, len(pieces) - 2, 2):
        between = pieces[index]
        if "/" not in between:
            shown = repr(between) if is_safe_to_quote(between) else "text"
            return (
                f"{{{pieces[index - 1]}}} and {{{pieces[index + 1]}}} apart by {shown}, "
                "which a path value can hold too"
            )
    return None


class RouteSpec(_Model):
    """One line of the PEP route table: method + path template -> Cedar action and resource."""

    # No HEAD: the frameworks answer it with the GET handler, and the PEP decides it by the
    # GET rule of its path.
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    path: Annotated[StrictStr, AfterValidator(_route_path)]
    action: (
        Annotated[
            StrictStr,
            _pattern(
                r"[A-Za-z][A-Za-z0-9_]{0,63}",
                "a Cedar action name such as 'GetOrder'",
                "Use the action id of the authz schema.",
            ),
        ]
        | None
    ) = None
    resource: RouteResource | None = None
    public: StrictBool = False

    @model_validator(mode="after")
    def _action_matches_public(self) -> Self:
        if self.public and (self.action is not None or self.resource is not None):
            raise _spec_error(
                "a public route without action and resource",
                "public: true together with an action or resource",
                "Drop action and resource, or set public: false to authorize the route.",
            )
        if not self.public and (self.action is None or self.resource is None):
            raise _spec_error(
                "an action and a resource (or public: true)",
                "a route without them",
                "Add action and resource so the PEP can ask Verified Permissions.",
            )
        names = _PLACEHOLDER.findall(self.path)
        if len(names) != len(set(names)):
            raise _spec_error(
                "each {placeholder} at most once in a path",
                f"the path {self.path}",
                "Give each variable part of the path its own name.",
                key="path",
            )
        if self.resource is not None:
            problem = _id_template_problem(self.resource.id)
            if problem is not None:
                raise _spec_error(
                    _ID_TEMPLATE_EXPECTED,
                    problem,
                    "Use {name} placeholders of the path only, with a '/' between two of them, "
                    "as in {tenantId}/{orderId}: the PEP refuses any other id.",
                    key="resource.id",
                )
            placeholders = set(names)
            for used in _PLACEHOLDER.findall(self.resource.id):
                if used not in placeholders:
                    raise _spec_error(
                        f"resource.id placeholders taken from the path {self.path}",
                        f"{{{used}}}, which the path does not contain",
                        "Use a placeholder of the path or a fixed id.",
                        key="resource.id",
                    )
        return self


# A Docker image reference: [registry[:port]/]path[:tag][@sha256:digest]; no credentials.
_IMAGE_REFERENCE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?P<tag>:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?P<digest>@sha256:[0-9a-f]{64})?"
)


def _image_reference(value: str) -> str:
    """A pullable image reference pinned by tag or digest, carrying nothing secret."""
    expected = "a container image reference with a tag or digest, e.g. public.ecr.aws/org/name:1.0"
    match = _IMAGE_REFERENCE.fullmatch(value)
    if match is None or len(value) > 255 or not (match["tag"] or match["digest"]):
        raise _spec_error(
            expected,
            _describe(value),
            "Give registry/repository:tag or @sha256:<digest>; registry credentials go to ECS, "
            "not into the reference.",
        )
    secret_kind = _secret_kind("", value)
    if secret_kind is not None:
        raise _spec_error(
            expected,
            secret_kind,
            "Use a plain version tag; a token in the reference would be shown in every plan.",
        )
    return value


_CHARACTER_NAMES = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}


@dataclass(frozen=True)
class _HealthCheckPathRule:
    """What VPC Lattice takes as a target group's health check path."""

    pattern: re.Pattern[str]
    character: re.Pattern[str]
    punctuation: str
    max_length: int


@cache
def _lattice_health_check_path() -> _HealthCheckPathRule:
    """The health check path rule of botocore's vpc-lattice model (shape HealthCheckPath).

    Read from the installed botocore rather than copied, so the catalog takes exactly what
    the API takes: `^/[a-zA-Z0-9@:%_+.~#?&/=-]*$` (or empty), at most 2048 characters, in
    botocore 1.44.
    """
    model = botocore.loaders.create_loader().load_service_model("vpc-lattice", "service-2")
    shape = model["shapes"]["HealthCheckPath"]
    character_class = re.search(r"\[[^\]]*\]", shape["pattern"])
    if character_class is None:
        message = f"botocore's HealthCheckPath pattern has no character class: {shape['pattern']}"
        raise RuntimeError(message)

    characters = character_class[0]
    punctuation = re.sub(r"a-z|A-Z|0-9", "", characters[1:-1])
    return _HealthCheckPathRule(
        pattern=re.compile(shape["pattern"]),
        character=re.compile(characters),
        punctuation=" ".join(punctuation),
        max_length=int(shape["max"]),
    )


def _health_check_path(value: str) -> str:
    """A path VPC Lattice can check: '/' then the characters its API takes, no credential."""
    rule = _lattice_health_check_path()
    expected = (
        f"a path starting with '/' of letters, digits and {rule.punctuation} (as VPC Lattice "
        "takes it), e.g. /health"
    )
    if not value.startswith("/"):
        raise _spec_error(expected, _describe(value), "Use e.g. /health.")

    secret_kind = _secret_kind("", value)
    if secret_kind is None and not is_safe_to_quote(value):
        secret_kind = (
            f"a string of {len(value)} characters with a ':' before an '@', as in "
            "user:password@host"
        )
    if secret_kind is not None:
        raise _spec_error(
            "a path starting with '/' without credentials",
            secret_kind,
            "Remove the credential: every plan shows this path.",
        )
    refused = [char for char in value if not rule.character.fullmatch(char)]
    if refused:
        raise _spec_error(
            expected,
            f"a path holding {_name_characters(refused)}",
            "Remove or percent-encode them (a space is %20).",
        )
    # The whole pattern decides, should a newer botocore shape it other than '/' + class.
    if rule.pattern.fullmatch(value) is None:
        raise _spec_error(expected, _describe(value), "Write the path as VPC Lattice takes it.")
    if len(value) > rule.max_length:
        raise _spec_error(
            f"a path of at most {rule.max_length} characters", _describe(value), "Use a short path."
        )
    return value


def _name_characters(characters: Sequence[str]) -> str:
    """ "'?', '=' and a space": the distinct characters, in order, the first five at most."""
    names = list(
        dict.fromkeys(
            _CHARACTER_NAMES.get(char, repr(char) if char.isprintable() else "a control character")
            for char in characters
        )
    )[:5]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class ServiceSpec(_Model):
    """One microservice of the catalog."""

    name: ServiceName
    image: Annotated[StrictStr, AfterValidator(_image_reference)]
    port: Port
    cpu: StrictInt
    memory: StrictInt
    desired_count: Replicas = 1
    health_check_path: Annotated[StrictStr, AfterValidator(_health_check_path)] = "/health"
    callers: Callers = Field(default_factory=Callers)
    secrets: tuple[SecretSpec, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    environment: Mapping[str, StrictStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fargate_task_size(self) -> Self:
        memories = FARGATE_TASK_SIZES.get(self.cpu)
        if memories is None:
            raise _spec_error(
                "cpu in Fargate CPU units: " + ", ".join(map(str, FARGATE_TASK_SIZES)),
                f"cpu {self.cpu}",
                "Pick one of the listed CPU sizes.",
                key="cpu",
            )
        if self.memory not in memories:
            raise _spec_error(
                f"memory valid for cpu {self.cpu}: {_describe_memories(memories)} MiB",
                f"memory {self.memory}",
                "Pick a Fargate cpu/memory pair (see docs/catalog.md).",
                key="memory",
            )
        return self

    @property
    def caller_services(self) -> tuple[str, ...]:
        """Names of the catalog services that may invoke this one."""
        return self.callers.services


def _describe_memories(memories: tuple[int, ...]) -> str:
    if len(memories) <= 4:
        return ", ".join(map(str, memories))
    step = memories[1] - memories[0]
    return f"{memories[0]} to {memories[-1]} in steps of {step}"


class ServiceCatalog(_Model):
    """The services every environment runs, in catalog order."""

    services: tuple[ServiceSpec, ...] = Field(min_length=1)

    def service(self, name: str) -> ServiceSpec:
        """The service called `name`; KeyError when the catalog has none."""
        return self._by_name[name]

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Service names in catalog order."""
        return tuple(service.name for service in self.services)

    def callees_of(self, name: str) -> tuple[str, ...]:
        """The services that list `name` as a caller: the peers `name` may call."""
        return self._callees.get(name, ())

    def callees_first(self) -> tuple[ServiceSpec, ...]:
        """The services ordered so that every service comes after the peers it calls.

        A caller needs its peers' Lattice DNS names, so peers are built first; otherwise
        catalog order is kept. The loader rejects call cycles, so this order always exists.
        """
        ordered: list[ServiceSpec] = []
        placed: set[str] = set()
        remaining = list(self.services)
        while remaining:
            ready = [s for s in remaining if placed.issuperset(self.callees_of(s.name))]
            if not ready:
                return (*ordered, *remaining)
            ordered += ready
            placed.update(service.name for service in ready)
            remaining = [service for service in remaining if service.name not in placed]
        return tuple(ordered)

    @cached_property
    def _by_name(self) -> dict[str, ServiceSpec]:
        return {service.name: service for service in self.services}

    @cached_property
    def _callees(self) -> dict[str, tuple[str, ...]]:
        callees: dict[str, list[str]] = {}
        for service in self.services:
            for caller in service.callers.services:
                callees.setdefault(caller, []).append(service.name)
        return {caller: tuple(names) for caller, names in callees.items()}


# --- the stack settings ------------------------------------------------------------------


def _vpc_cidr(value: str) -> str:
    """A VPC range AWS accepts: an IPv4 network of /16 to /24 outside the special ranges."""
    expected = "an IPv4 network from /16 to /24, e.g. 10.20.0.0/16"
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise _spec_error(
            expected, _describe(value), "Give the network address, e.g. 10.20.0.0/16."
        ) from None
    if not 16 <= network.prefixlen <= 24:
        raise _spec_error(expected, _describe(value), "Use a prefix length from /16 to /24.")
    kind = _unusable_range(network)
    if kind is not None:
        raise _spec_error(
            "an IPv4 network from /16 to /24 that AWS accepts for a VPC",
            f"{value}, {kind}",
            "Use a private range (RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), "
            "e.g. 10.20.0.0/16.",
        )
    return value


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def _unusable_range(network: ipaddress.IPv4Network) -> str | None:
    """What kind of special-purpose range `network` lies in, if any: AWS refuses them all."""
    if network.is_loopback:
        return "a loopback range"
    if network.is_multicast:
        return "a multicast range"
    if network.is_link_local:
        return "a link-local range"
    if network.is_reserved or network.subnet_of(_THIS_NETWORK):
        return "a reserved range"
    return None


def _repeated(values: Sequence[str]) -> tuple[int, str] | None:
    """The index and value of the first value given a second time, or None."""
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            return index, value
        seen.add(value)
    return None


class NetworkSettings(_Model):
    """Either a new VPC (vpcCidr, availabilityZones) or an existing one (vpcId, subnets)."""

    vpc_cidr: Annotated[StrictStr, AfterValidator(_vpc_cidr)] | None = None
    availability_zones: (
        Annotated[StrictInt, _in_range(2, 6, "Spread private subnets over 2 to 6 zones.")] | None
    ) = None
    vpc_id: (
        Annotated[
            StrictStr,
            _pattern(r"vpc-[0-9a-f]{8,17}", "a VPC id such as vpc-0a1b2c3d", "Copy the VPC id."),
        ]
        | None
    ) = None
    private_subnet_ids: (
        tuple[
            Annotated[
                StrictStr,
                _pattern(
                    r"subnet-[0-9a-f]{8,17}",
                    "a subnet id such as subnet-0a1b2c3d",
                    "Copy the private subnet ids.",
                ),
            ],
            ...,
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        new = self.vpc_cidr is not None or self.availability_zones is not None
        existing = self.vpc_id is not None or self.private_subnet_ids is not None
        if new and existing:
            raise _spec_error(
                "either {vpcCidr, availabilityZones} or {vpcId, privateSubnetIds}",
                "keys of both",
                "Keep the keys of one network kind only.",
            )
        if existing and (self.vpc_id is None or len(self.private_subnet_ids or ()) < 2):
            raise _spec_error(
                "vpcId and at least two privateSubnetIds",
                "an incomplete existing network",
                "Name the VPC and two or more private subnets in different zones.",
            )
        repeated = _repeated(self.private_subnet_ids or ())
        if repeated is not None:
            raise _spec_error(
                "each subnet once",
                f"{repeated[1]!r} again",
                "Name two or more different private subnets, in different zones.",
                key=f"privateSubnetIds[{repeated[0]}]",
            )
        if not new and not existing:
            raise _spec_error(
                "vpcCidr (new VPC) or vpcId with privateSubnetIds (existing VPC)",
                "neither",
                "Add vpcCidr: 10.20.0.0/16, or vpcId and privateSubnetIds.",
            )
        if new and self.vpc_cidr is None:
            raise _spec_error(
                "vpcCidr for a new VPC", "availabilityZones alone", "Add vpcCidr: 10.20.0.0/16."
            )
        return self

    @property
    def creates_vpc(self) -> bool:
        """True when latticework builds the VPC; False when it uses an existing one."""
        return self.vpc_cidr is not None

    @property
    def zone_count(self) -> int:
        """How many availability zones a new VPC spans."""
        return self.availability_zones or 2


class AllowedPrincipals(_Model):
    """The organisation and/or accounts allowed to use the environment's service network."""

    organization_id: (
        Annotated[
            StrictStr,
            _pattern(
                r"o-[a-z0-9]{10,32}",
                "an AWS Organizations id such as o-abc123def4",
                "Copy the id from the Organizations console.",
            ),
        ]
        | None
    ) = None
    account_ids: tuple[AccountId, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.organization_id is None and not self.account_ids:
            raise _spec_error(
                "organizationId and/or accountIds",
                "neither",
                "Name who may use the service network; an empty list would admit nobody.",
            )
        repeated = _repeated(self.account_ids)
        if repeated is not None:
            raise _spec_error(
                "each account once",
                f"{repeated[1]!r} again",
                "Remove the repeated entry.",
                key=f"accountIds[{repeated[0]}]",
            )
        return self


class IdentitySourceSettings(_Model):
    """The end-user identity source of the policy store: a Cognito user pool or OIDC issuer."""

    cognito_user_pool_arn: (
        Annotated[
            StrictStr,
            _pattern(
                r"arn:aws(-[a-z]+)*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+_[0-9A-Za-z]+",
                "a Cognito user pool ARN",
                "Copy the user pool ARN from the Cognito console.",
            ),
        ]
        | None
    ) = None
    oidc_issuer: (
        Annotated[
            StrictStr,
            _pattern(
                r"https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?",
                "an https:// OIDC issuer URL",
                "Give the issuer URL exactly as it appears in its tokens.",
                refuse_secrets=True,
            ),
        ]
        | None
    ) = None
    client_ids: tuple[
        Annotated[
            StrictStr,
            _pattern(r"[\w.:/-]{1,255}", "a client id", "Copy the app client id."),
        ],
        ...,
    ] = Field(min_length=1)
    principal_entity_type: Annotated[
        StrictStr,
        _pattern(
            r"[A-Z][A-Za-z0-9_]*::[A-Z][A-Za-z0-9_]*",
            "a namespaced Cedar entity type such as Latticework::User",
            "Use Latticework::User.",
        ),
    ] = "Latticework::User"

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.cognito_user_pool_arn is None) == (self.oidc_issuer is None):
            raise _spec_error(
                "exactly one of cognitoUserPoolArn and oidcIssuer",
                "both" if self.oidc_issuer is not None else "neither",
                "Keep the one identity source the environment uses.",
            )
        return self


class RolloutSettings(_Model):
    """Gates `latticework rollout` applies before promoting to this environment."""

    require_approval: StrictBool = False
    health_urls: tuple[
        Annotated[
            StrictStr,
            _pattern(
                r"https?://[^\s]+",
                "an http(s) URL",
                "Give a health URL that answers 2xx when the environment is healthy.",
                refuse_secrets=True,
            ),
        ],
        ...,
    ] = ()


class EnvironmentSettings(_Model):
    """The `latticework:settings` of one stack file."""

    account_id: AccountId
    network: NetworkSettings
    allowed_principals: AllowedPrincipals
    replicas: Mapping[ServiceName, Replicas] = Field(default_factory=dict)
    rotation_function_arn: (
        Annotated[
            StrictStr,
            _pattern(
                r"arn:aws(-[a-z]+)*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}"
                r"(:[A-Za-z0-9$_-]+)?",
                "a Lambda function ARN",
                "Give the ARN of the Secrets Manager rotation function.",
            ),
        ]
        | None
    ) = None
    deletion_protection: StrictBool = False
    identity_source: IdentitySourceSettings | None = None
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)

    @model_validator(mode="after")
    def _own_account_allowed(self) -> Self:
        """The services call each other as roles of `account_id`: the network must admit it."""
        allowed = self.allowed_principals
        if allowed.organization_id is None and self.account_id not in allowed.account_ids:
            raise _spec_error(
                f"the environment's own account {self.account_id} among them",
                "the accounts " + ", ".join(allowed.account_ids),
                f'Add "{self.account_id}" (or an organizationId): without it the service '
                "network's auth policy denies every call between the environment's services.",
                key="allowedPrincipals.accountIds",
            )
        return self


# --- the whole spec ----------------------------------------------------------------------


@dataclass(frozen=True)
class StackSpec:
    """Everything one environment needs: its settings, the catalog and the policy config."""

    env: str
    region: str
    settings: EnvironmentSettings
    catalog: ServiceCatalog
    stack_file: Path
    services_file: Path
    policies: Mapping[str, Any] = field(default_factory=dict)
    """`latticework:policies`, passed untouched to the policy pack, which validates it."""

    def desired_count(self, service: ServiceSpec) -> int:
        """The service's task count here: the stack's override, else the catalog's."""
        return self.settings.replicas.get(service.name, service.desired_count)

    @property
    def protected(self) -> bool:
        """True when stateful resources get deletion protection in this environment."""
        return self.settings.deletion_protection


# Like a service name: it prefixes Lattice names, so no '--' and no '-' at the end.
_ENV_NAME = re.compile(r"(?=[a-z0-9-]{1,10}\Z)[a-z](?:-?[a-z0-9])*")


def load_spec(env: str, *, stacks_dir: Path, services_file: Path | None = None) -> StackSpec:
    """Load and validate ``<stacks_dir>/Pulumi.<env>.yaml`` and the service catalog.

    The catalog is `services_file` when given, else the stack's ``latticework:servicesFile``,
    else ``<stacks_dir>/services.yaml``; a relative ``latticework:servicesFile`` is resolved
    against the project directory (the parent of `stacks_dir`). Replica overrides must name
    services of ``stacks/services.yaml``; with another catalog, overrides it lacks are unused.
    Raises `SpecError` for the first problem found.
    """
    stack_file = stacks_dir / f"Pulumi.{env}.yaml"
    if _ENV_NAME.fullmatch(env) is None:
        raise SpecError(
            stack_file,
            "(stack name)",
            "a lowercase environment name of 1-10 characters such as dev, staging or prod "
            "(letters, digits, single '-' between them)",
            _describe(env),
            "Pass --env with a lowercase name.",
        )

    stack_config = _load_stack_config(stack_file)
    if services_file is None:
        configured = stack_config.get(_SERVICES_FILE_KEY)
        if configured is None:
            services_file = stacks_dir / SERVICES_FILE_NAME
        else:
            services_file = stacks_dir.parent / str(configured)

    catalog = load_catalog(services_file)
    settings = _validate(
        EnvironmentSettings,
        stack_config[_SETTINGS_KEY],
        stack_file,
        ("config", _SETTINGS_KEY),
    )
    # NOTE: replica overrides are checked against the stack's own catalog only. Planning
    # another catalog (--services, generated benchmark catalogs) keeps the stack usable:
    # overrides for services that catalog lacks simply do not apply.
    if services_file == stacks_dir / SERVICES_FILE_NAME:
        _check_replicas(settings, catalog, stack_file)
    return StackSpec(
        env=env,
        region=stack_config[_REGION_KEY],
        settings=settings,
        catalog=catalog,
        stack_file=stack_file,
        services_file=services_file,
        policies=stack_config.get(_POLICIES_KEY) or {},
    )


def load_catalog(services_file: Path) -> ServiceCatalog:
    """Load and validate one service catalog file; raises `SpecError` on the first problem."""
    document = load_yaml_file(services_file)
    catalog = _validate(ServiceCatalog, document, services_file, ())
    _check_catalog(catalog, services_file)
    return catalog


def _load_stack_config(stack_file: Path) -> dict[str, Any]:
    document = load_yaml_file(stack_file)
    if not isinstance(document, Mapping):
        raise SpecError(
            stack_file,
            "(top level)",
            "a mapping with a config key",
            _describe(document),
            "Start the file with 'config:'.",
        )
    for key in document:
        _check_config_key(key, stack_file, "")
        if key not in _PULUMI_STACK_FILE_KEYS:
            raise SpecError(
                stack_file,
                str(key),
                "one of the stack file keys: " + ", ".join(sorted(_PULUMI_STACK_FILE_KEYS)),
                f"unknown key {key!r}",
                "Move settings under config.latticework:settings.",
            )

    config = document.get("config")
    if not isinstance(config, Mapping):
        raise SpecError(
            stack_file,
            "config",
            "a mapping of config keys",
            _describe(config),
            "Add 'config:' with aws:region and latticework:settings.",
        )
    for key in config:
        _check_config_key(key, stack_file, "config")
        if str(key).startswith(_PASS_THROUGH_NAMESPACES):
            _check_plain_config_secrets(config[key], stack_file, f"config.{key}", str(key))
            continue
        if key in _LATTICEWORK_CONFIG_KEYS:
            continue
        raise SpecError(
            stack_file,
            f"config.{key}",
            "aws:* or pulumi:* keys, or one of " + ", ".join(_LATTICEWORK_CONFIG_KEYS),
            f"unknown key {key!r}",
            "Rename or remove it; latticework's settings go under latticework:settings, "
            "provider settings under aws:* or pulumi:*.",
        )

    region = config.get(_REGION_KEY)
    if not isinstance(region, str) or region not in _known_regions():
        raise SpecError(
            stack_file,
            f"config.{_REGION_KEY}",
            "an AWS region such as eu-west-1: a region of the "
            f"{', '.join(_SUPPORTED_PARTITIONS[:-1])} or {_SUPPORTED_PARTITIONS[-1]} partition "
            f"that botocore {botocore.__version__} lists",
            _describe(region),
            "Set aws:region to the environment's region; a region newer than botocore needs "
            "a newer botocore (pip install -U botocore).",
        )
    if _SETTINGS_KEY not in config:
        raise SpecError(
            stack_file,
            f"config.{_SETTINGS_KEY}",
            "the environment's settings",
            "no such key",
            "Add latticework:settings (see docs/catalog.md).",
        )
    policies = config.get(_POLICIES_KEY)
    if policies is not None and not isinstance(policies, Mapping):
        raise SpecError(
            stack_file,
            f"config.{_POLICIES_KEY}",
            "a mapping (the policy pack's config)",
            _describe(policies),
            "Write it as a mapping or remove it.",
        )
    services_file = config.get(_SERVICES_FILE_KEY)
    if services_file is not None and not isinstance(services_file, str):
        raise SpecError(
            stack_file,
            f"config.{_SERVICES_FILE_KEY}",
            "a catalog file path",
            _describe(services_file),
            "Give the path as a string or remove the key.",
        )
    return dict(config)


@cache
def _known_regions() -> frozenset[str]:
    """The regions botocore's endpoint data lists in the partitions latticework supports."""
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return frozenset(
        region
        for partition in endpoints["partitions"]
        if partition["partition"] in _SUPPORTED_PARTITIONS
        for region in partition["regions"]
    )


def _check_config_key(key: object, stack_file: Path, where: str) -> None:
    """Refuse a key that is itself a credential (a token pasted as a key), unrepeated."""
    key_match = match_secret_value(str(key))
    if key_match is None:
        return

    raise SpecError(
        stack_file,
        f"{where}.{HIDDEN_KEY}" if where else HIDDEN_KEY,
        "a config key, not a credential",
        f"a key that is itself a credential: {key_match.description}",
        "Remove it from the file and rotate that credential.",
    )


def _check_plain_config_secrets(value: object, stack_file: Path, key_path: str, name: str) -> None:
    """Refuse a plaintext credential in provider config: it would be shown in every plan.

    Pulumi keeps ``pulumi config set --secret`` values as ``{secure: <ciphertext>}``, which
    is never a finding; any other value is asked of the shared detector under its key, and
    under a key named like a secret a long number counts too (`classify_setting`).
    """
    if _is_encrypted(value):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_config_key(key, stack_file, key_path)
            _check_plain_config_secrets(item, stack_file, f"{key_path}.{key}", str(key))
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_plain_config_secrets(item, stack_file, f"{key_path}[{index}]", name)
        return

    match = classify_setting(name.split(":")[-1], value)
    if match is not None:
        config_key = key_path.removeprefix("config.")
        path_flag = "" if config_key == name else "--path "
        raise SpecError(
            stack_file,
            key_path,
            "an encrypted value (secure:) for anything secret",
            match.description,
            f"Store it with `pulumi config set --secret {path_flag}'{config_key}'`, "
            "or use an AWS profile or role instead of keys in the stack file.",
        )


def _validate(
    model: type[_ModelT], document: object, file: Path, document_keys: tuple[str, ...]
) -> _ModelT:
    """Validate `document`, found at `document_keys` in `file`, as a `model`."""
    prefix = ".".join(document_keys)
    if _is_encrypted(document):
        raise SpecError(
            file,
            prefix or "(top level)",
            "a mapping",
            "an encrypted value (secure:)",
            _ENCRYPTED_FIX,
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise _to_spec_error(_root_cause(exc.errors()), document, file, document_keys) from None


def _root_cause(errors: Sequence[ErrorDetails]) -> ErrorDetails:
    """pydantic's first error, unless it is a missing key in a mapping that also holds an
    unknown key: that one is most likely the missing key misspelt, and says so."""
    first = errors[0]
    if first["type"] != "missing":
        return first
    mapping = _strip_validator_tags(first["loc"])[:-1]
    for error in errors:
        if (
            error["type"] == "extra_forbidden"
            and _strip_validator_tags(error["loc"])[:-1] == mapping
        ):
            return error
    return first


def _to_spec_error(
    error: ErrorDetails, document: object, file: Path, document_keys: tuple[str, ...]
) -> SpecError:
    """Turn pydantic's first error into a `SpecError` in the words of the YAML file."""
    prefix = ".".join(document_keys)
    location = _strip_validator_tags(error["loc"])
    key_path = _key_path(location, document, prefix)
    kind = error["type"]
    context = error.get("ctx") or {}
    found_value = error.get("input")

    if kind == "latticework_spec":
        if context["key"]:
            key_path = f"{key_path}.{context['key']}"
        return SpecError(file, key_path, context["expected"], context["found"], context["fix"])
    if kind == "literal_error":
        return SpecError(
            file,
            key_path,
            f"one of {context['expected']}",
            _describe(found_value),
            "Use one of the listed values (they are case-sensitive).",
        )
    encrypted_at = _encrypted_prefix(location, document)
    if encrypted_at is not None:
        expected = (
            _EXPECTED_TYPES.get(kind, "a plain value")
            if encrypted_at == len(location)
            else "a plain value"
        )
        return SpecError(
            file,
            _key_path(location[:encrypted_at], document, prefix),
            expected,
            "an encrypted value (secure:)",
            _ENCRYPTED_FIX,
        )
    secret_number = _secret_environment_value(location, found_value)
    if secret_number is not None:
        where = key_path.rsplit(".environment.", 1)[0]
        return SpecError(
            file,
            key_path,
            "a plain, non-secret string",
            secret_number,
            f"Declare it under {where}.secrets and read it at run time; if it is not a "
            "secret, give the variable a name that does not say it is one.",
        )
    if kind == "extra_forbidden":
        allowed = _allowed_keys(location, document, prefix)
        close = difflib.get_close_matches(str(location[-1]), allowed, n=1)
        shown = _shown_key(location[-1])
        return SpecError(
            file,
            key_path,
            f"one of the keys {', '.join(allowed)}" if allowed else "no such key",
            f"unknown key {shown!r}"
            if shown != HIDDEN_KEY
            else "an unknown key that looks like a credential",
            f"Did you mean {close[0]!r}? Otherwise remove it (keys are camelCase)."
            if close
            else "Remove it or fix its spelling (keys are camelCase).",
        )
    if kind == "missing":
        return SpecError(
            file, key_path, "this required key", "nothing", f"Add {location[-1]}: to the entry."
        )
    if kind == "too_short":
        return SpecError(
            file,
            key_path,
            f"a list of at least {context['min_length']} entries",
            "an empty list" if not found_value else _describe(found_value),
            "Add the missing entries.",
        )
    expected = _EXPECTED_TYPES.get(kind, error["msg"])
    if kind == "string_type" and isinstance(found_value, bool | int | float):
        return _unquoted_scalar_error(found_value, location, file, key_path, document_keys)
    return SpecError(
        file,
        key_path,
        expected,
        _describe(found_value),
        "Quote it to make it a string." if kind == "string_type" else f"Write {expected}.",
    )


_ENCRYPTED_FIX = (
    "latticework reads no encrypted (secure:) values here, and this value is shown in "
    "every plan: write it in plain text. A secret belongs in Secrets Manager (a service's "
    "secrets), provider credentials under aws:* keys set with `pulumi config set --secret`."
)


def _encrypted_prefix(location: tuple[int | str, ...], document: object) -> int | None:
    """How many parts of `location` lead to a `secure:` mapping, or None when none does."""
    node = document
    for depth in range(len(location) + 1):
        if _is_encrypted(node):
            return depth
        if depth == len(location):
            break
        part = location[depth]
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return None


def _secret_environment_value(location: tuple[int | str, ...], value: object) -> str | None:
    """A description of a long number YAML read under a catalog environment variable whose
    name says it holds a secret, or None. Never the value: it is the secret."""
    is_environment = (
        len(location) == 4 and location[0] == "services" and location[2] == "environment"
    )
    if not is_environment or not isinstance(value, bool | int | float):
        return None

    match = classify_setting(str(location[3]), value)
    return None if match is None else match.description


def _unquoted_scalar_error(
    value: bool | float,
    location: tuple[int | str, ...],
    file: Path,
    key_path: str,
    document_keys: tuple[str, ...],
) -> SpecError:
    """A string was expected where YAML read an unquoted number or boolean: say so.

    `document_keys` lead from the file's top to the validated document, `location` on from
    there to the value.
    """
    if isinstance(value, bool):
        return SpecError(
            file,
            key_path,
            "a string",
            f"{_describe(value)}: YAML read the unquoted value as a boolean "
            "(true, false, yes, no, on and off all count)",
            "Quote it to make it a string.",
        )

    if not ("accountId" in location or "accountIds" in location):
        return SpecError(
            file,
            key_path,
            "a string",
            f"{_describe(value)}: YAML read the unquoted value as a number",
            "Quote it to make it a string.",
        )

    # Only the literal shows the intended id: YAML 1.1 reads 011122223333 as an octal
    # number, and 0x1A, 01 or 111_122_223_333 give numbers no account id can be told from.
    written = plain_scalar_text(file, (*document_keys, *location))
    if written is not None and re.fullmatch(r"0[0-7]{11}", written):
        return SpecError(
            file,
            key_path,
            "a 12-digit AWS account id in quotes",
            f"{_describe(value)}: YAML read the unquoted value as a number, and an unquoted "
            f"{written} as an octal one because of its leading 0",
            f'Quote it: "{written}".',
        )
    return SpecError(
        file,
        key_path,
        "a 12-digit AWS account id in quotes",
        f"{_describe(value)}: YAML read the unquoted value as a number",
        f'Quote it: "{written}".'
        if written is not None and re.fullmatch(r"\d{12}", written)
        else "Write the 12-digit account id in quotes, as the AWS console shows it.",
    )


_EXPECTED_TYPES = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _strip_validator_tags(location: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the pseudo-keys pydantic adds for constrained types and mapping keys."""
    return tuple(
        part
        for part in location
        if not (isinstance(part, str) and ("[" in part or part in {"[key]", "function-after"}))
    )


def _key_path(location: tuple[int | str, ...], document: object, prefix: str) -> str:
    """Render a location as YAML keys; list items are named by their `name` when they have one."""
    path = prefix
    node = document
    for part in location:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("name") if isinstance(item, Mapping) else None
            path += f"[{_shown_key(name) if isinstance(name, str) else part}]"
            node = item
            continue

        shown = _shown_key(part)
        path = f"{path}.{shown}" if path else shown
        node = node.get(part) if isinstance(node, Mapping) else None
    return path or "(top level)"


def _allowed_keys(location: tuple[int | str, ...], document: object, prefix: str) -> list[str]:
    """The keys the model at `location[:-1]` accepts, in YAML spelling."""
    model: type[BaseModel] | None = (
        EnvironmentSettings if prefix.endswith(_SETTINGS_KEY) else ServiceCatalog
    )
    for part in location[:-1]:
        if model is None or isinstance(part, int):
            continue
        field_info = next(
            (info for name, info in model.model_fields.items() if (info.alias or name) == part),
            None,
        )
        model = _model_in(field_info.annotation) if field_info is not None else None
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _check_catalog(catalog: ServiceCatalog, file: Path) -> None:
    """Rules across entries: unique names, callers that exist, no service calling itself."""
    seen: set[str] = set()
    for service in catalog.services:
        where = f"services[{service.name}]"
        if service.name in seen:
            raise SpecError(
                file,
                where + ".name",
                "each service name once",
                f"{service.name!r} again",
                "Rename one of them or merge the two entries.",
            )
        seen.add(service.name)

    for service in catalog.services:
        where = f"services[{service.name}]"
        _check_callers(service, catalog, file, where)
        _check_unique(
            [secret.name for secret in service.secrets], file, where + ".secrets", "secret name"
        )
        _check_unique(
            [f"{route.method} {_PLACEHOLDER.sub('{}', route.path)}" for route in service.routes],
            file,
            where + ".routes",
            "method and path shape (placeholder names aside)",
        )
        _check_no_ambiguous_routes(service, file, where)
        _check_environment(service, file, where + ".environment")
    _check_no_call_cycle(catalog, file)


def _check_no_ambiguous_routes(service: ServiceSpec, file: Path, where: str) -> None:
    """Refuse two routes of one method that match a common path where each is the more
    specific at some segment: the PEP's config loader refuses them (see `_ambiguous_path`)."""
    for index, route in enumerate(service.routes):
        for earlier_index, earlier in enumerate(service.routes[:index]):
            if earlier.method != route.method:
                continue
            shared = _ambiguous_path(earlier.path, route.path)
            if shared is None:
                continue
            method = route.method
            raise SpecError(
                file,
                f"{where}.routes[{index}].path",
                "one most specific route for every request",
                f"routes[{earlier_index}] ({method} {earlier.path}) and routes[{index}] "
                f"({method} {route.path}) both match {method} {shared}, and each is more "
                "specific than the other at some segment",
                "Change a path so that no request matches both, or so that one route has a "
                "literal segment wherever the other has one.",
            )


def _ambiguous_path(first: str, second: str) -> str | None:
    """A path both templates match when neither is as specific as the other at every segment.

    The PEP's rule: a literal segment beats a {placeholder}, position by position; when one
    template wins at one segment and the other at another, a web framework taking the first
    declared route may pick differently from the PEP, so the pair is refused.
    """
    first_segments, second_segments = first.split("/")[1:], second.split("/")[1:]
    if len(first_segments) != len(second_segments):
        return None

    first_wins = second_wins = False
    shared: list[str] = []
    for mine, theirs in zip(first_segments, second_segments, strict=True):
        mine_is_param = _PLACEHOLDER.fullmatch(mine) is not None
        theirs_is_param = _PLACEHOLDER.fullmatch(theirs) is not None
        if mine == theirs or (mine_is_param and theirs_is_param):
            shared.append(mine)
        elif theirs_is_param:
            first_wins = True
            shared.append(mine)
        elif mine_is_param:
            second_wins = True
            shared.append(theirs)
        else:
            return None
    return "/" + "/".join(shared) if first_wins and second_wins else None


#: How many services of a call cycle an error lists before it elides the middle.
_CYCLE_SHOWN = 10


def _check_no_call_cycle(catalog: ServiceCatalog, file: Path) -> None:
    """Reject A calls B calls ... calls A: each caller is built after the peers it calls.

    A depth-first walk with its own stack, so that a long call chain cannot exhaust Python's.
    """
    done: set[str] = set()
    for service in catalog.services:
        if service.name in done:
            continue
        trail, on_trail = [service.name], {service.name}
        pending = [iter(catalog.callees_of(service.name))]
        while pending:
            callee = next(pending[-1], None)
            if callee is None:
                pending.pop()
                finished = trail.pop()
                on_trail.discard(finished)
                done.add(finished)
            elif callee in on_trail:
                cycle = [*trail[trail.index(callee) :], callee]
                if len(cycle) > _CYCLE_SHOWN:
                    elided = f"... {len(cycle) - _CYCLE_SHOWN} more ..."
                    half = _CYCLE_SHOWN // 2
                    cycle = [*cycle[:half], elided, *cycle[-half:]]
                raise SpecError(
                    file,
                    f"services[{callee}].callers",
                    "calls without a cycle (a caller is deployed after the peers it calls)",
                    "the call cycle " + " -> ".join(cycle),
                    "Break the cycle: remove one caller entry, or route that call through a queue.",
                )
            elif callee not in done:
                trail.append(callee)
                on_trail.add(callee)
                pending.append(iter(catalog.callees_of(callee)))


def _check_callers(service: ServiceSpec, catalog: ServiceCatalog, file: Path, where: str) -> None:
    for index, caller in enumerate(service.callers.services):
        key_path = f"{where}.callers.services[{index}]"
        if caller == service.name:
            raise SpecError(
                file,
                key_path,
                "another service of the catalog",
                f"the service itself ({caller!r})",
                "Remove it: a service does not call itself through Lattice.",
            )
        if caller not in catalog.names:
            raise SpecError(
                file,
                key_path,
                "a service of the catalog: " + ", ".join(catalog.names),
                f"unknown service {caller!r}",
                "Fix the name or add that service to the catalog.",
            )
    _check_unique(list(service.callers.services), file, f"{where}.callers.services", "caller")
    _check_unique(
        list(service.callers.iam_principals), file, f"{where}.callers.iamPrincipals", "principal"
    )


def _check_unique(values: list[str], file: Path, key_path: str, what: str) -> None:
    repeated = _repeated(values)
    if repeated is not None:
        index, value = repeated
        raise SpecError(
            file,
            f"{key_path}[{index}]",
            f"each {what} once",
            f"{value!r} again",
            "Remove the repeated entry.",
        )


def _check_environment(service: ServiceSpec, file: Path, where: str) -> None:
    """Plain variables only: no reserved names, nothing that looks like a secret, nothing a
    process environment or an ECS task definition cannot hold."""
    for name, value in service.environment.items():
        name_match = match_secret_value(name)
        if name_match is not None:
            raise SpecError(
                file,
                f"{where}.{HIDDEN_KEY}",
                "an upper-case variable name (A-Z, 0-9, _), not a credential",
                f"a name that is itself a credential: {name_match.description}",
                "Remove the variable from the catalog and rotate that credential.",
            )

        key_path = f"{where}.{_shown_key(name)}"
        if re.fullmatch(r"[A-Z_][A-Z0-9_]{0,127}", name) is None:
            raise SpecError(
                file,
                key_path,
                "an upper-case variable name (A-Z, 0-9, _)",
                _describe(name),
                "Rename the variable.",
            )
        if name.startswith(_RESERVED_ENV_PREFIXES):
            raise SpecError(
                file,
                key_path,
                "a name outside LATTICEWORK_*, AWS_* and ECS_*",
                f"the reserved name {name!r}",
                "Rename it: latticework, the AWS SDKs and the ECS agent own these names.",
            )
        secret_kind = _secret_kind(name, value)
        if secret_kind is not None:
            raise SpecError(
                file,
                key_path,
                "a plain, non-secret value",
                secret_kind,
                f"Declare it under services[{service.name}].secrets and read it at run time; "
                "never put a secret in the catalog.",
            )
        if "\x00" in value:
            raise SpecError(
                file,
                key_path,
                "a value without NUL characters (no process environment can hold one)",
                f"a string of {len(value)} characters with a NUL character",
                "Remove the NUL character.",
            )
        size = _json_size(value)
        if size > MAX_ENV_VALUE_BYTES:
            raise SpecError(
                file,
                key_path,
                f"a value of at most {MAX_ENV_VALUE_BYTES:,} bytes as the task definition's "
                "JSON writes it",
                f"a string of {len(value)} characters, {size:,} bytes in JSON",
                "Put large configuration in a file in the image or in S3 or SSM Parameter Store, "
                "and pass its location: ECS refuses a task definition larger than 64 KiB.",
            )

    total = sum(_json_size(name) + _json_size(value) for name, value in service.environment.items())
    if total > MAX_ENV_TOTAL_BYTES:
        raise SpecError(
            file,
            where,
            f"at most {MAX_ENV_TOTAL_BYTES:,} bytes of names and values in all, as the task "
            "definition's JSON writes them",
            f"{total:,} bytes in JSON",
            "Move large values to a file in the image or to S3 or SSM Parameter Store: ECS "
            "refuses a task definition larger than 64 KiB, latticework's own variables included.",
        )


def _json_size(text: str) -> int:
    """The bytes `text` takes in the task definition's JSON, quotes aside.

    The container definitions are written by `json.dumps`, which escapes to ASCII: a quote,
    a backslash or a line break takes 2 bytes, a control character 6, an emoji 12.
    """
    return len(json.dumps(text)) - 2


def _check_replicas(settings: EnvironmentSettings, catalog: ServiceCatalog, file: Path) -> None:
    for name in settings.replicas:
        if name not in catalog.names:
            raise SpecError(
                file,
                f"config.{_SETTINGS_KEY}.replicas.{name}",
                "a service of the catalog: " + ", ".join(catalog.names),
                f"unknown service {name!r}",
                "Fix the name or remove the override.",
            )


__all__ = [
    "FARGATE_TASK_SIZES",
    "PULUMI_OWN_STACK_KEYS",
    "SERVICES_FILE_NAME",
    "AllowedPrincipals",
    "Callers",
    "EnvironmentSettings",
    "IdentitySourceSettings",
    "NetworkSettings",
    "RolloutSettings",
    "RouteResource",
    "RouteSpec",
    "SecretSpec",
    "ServiceCatalog",
    "ServiceSpec",
    "StackSpec",
    "load_catalog",
    "load_spec",
]
