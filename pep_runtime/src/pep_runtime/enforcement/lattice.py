"""Caller identity from VPC Lattice's `x-amzn-lattice-*` headers.

Lattice strips these headers from incoming requests and sets them itself, so they are
trusted only when the service is configured as running behind Lattice (its security group
admits only Lattice's managed prefix list). Every parser here either returns a value or
raises `AuthenticationError`; no other exception escapes on any input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pep_runtime.enforcement.exceptions import AuthenticationError
from pep_runtime.enforcement.model import ANONYMOUS_ID, EntityUid, LatticeCaller, Principal

IDENTITY_HEADER = "x-amzn-lattice-identity"
TAGS_HEADER = "x-amzn-lattice-identity-tags"
NETWORK_HEADER = "x-amzn-lattice-network"
TARGET_HEADER = "x-amzn-lattice-target"
LATTICE_HEADERS = (IDENTITY_HEADER, TAGS_HEADER, NETWORK_HEADER, TARGET_HEADER)

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.:-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ASSUMED_ROLE = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):"
    r"assumed-role/(?P<role>[\w+=,.@-]{1,64})/(?P<session>[\w+=,.@-]{2,64})",
    re.ASCII,  # IAM's names and account ids are ASCII; \w and \d would take any script's
)
_IDENTITY_TYPES = frozenset({"AWS_IAM", "X509", "NONE"})


def parse_fields(value: str, header: str) -> dict[str, str]:
    """Split `Key=value; Key=value` (`;` with or without a space) into a dict.

    Each field splits at its first `=`; a field with an empty value is absent; a field
    without `=`, a repeated key, a key that is not a plain token or a control character is
    malformed.
    """
    if _CONTROL.search(value):
        raise AuthenticationError(f"header {header} holds a control character", reason=header)

    fields: dict[str, str] = {}
    for part in value.split(";"):
        item = part.strip(" ")
        if not item:
            continue
        key, separator, field_value = item.partition("=")
        if not separator or not _KEY.fullmatch(key):
            message = f"header {header}: field {item[:40]!r} is not Key=value"
            raise AuthenticationError(message, reason=header)
        if key in fields:
            raise AuthenticationError(f"header {header}: {key} appears twice", reason=header)
        if field_value:
            fields[key] = field_value
    return fields


def parse_tags(value: str, header: str = TAGS_HEADER) -> dict[str, str]:
    """Split `key=value;key=value` where `\\;` (and `\\\\`) escape a literal character."""
    if _CONTROL.search(value):
        raise AuthenticationError(f"header {header} holds a control character", reason=header)

    items: list[str] = []
    current: list[str] = []
    escaped = False
    for character in value:
        if escaped:
            current.append(character)
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == ";":
            items.append("".join(current))
            current = []
        else:
            current.append(character)
    if escaped:
        raise AuthenticationError(f"header {header} ends in a lone backslash", reason=header)
    items.append("".join(current))

    tags: dict[str, str] = {}
    for item in items:
        entry = item.strip(" ")
        if not entry:
            continue
        key, separator, tag_value = entry.partition("=")
        if not separator or not key:
            message = f"header {header}: tag {entry[:40]!r} is not key=value"
            raise AuthenticationError(message, reason=header)
        if key in tags:
            raise AuthenticationError(f"header {header}: tag {key} appears twice", reason=header)
        tags[key] = tag_value
    return tags


def parse_lattice_caller(headers: Mapping[str, str]) -> LatticeCaller:
    """Parse all four Lattice headers (lower-case names) into a `LatticeCaller`."""
    return LatticeCaller(
        identity=parse_fields(headers.get(IDENTITY_HEADER, ""), IDENTITY_HEADER),
        tags=parse_tags(headers.get(TAGS_HEADER, "")),
        network=parse_fields(headers.get(NETWORK_HEADER, ""), NETWORK_HEADER),
        target=parse_fields(headers.get(TARGET_HEADER, ""), TARGET_HEADER),
    )


def anonymous_principal(namespace: str, lattice: LatticeCaller | None = None) -> Principal:
    """The caller with no identity."""
    return Principal(uid=EntityUid(f"{namespace}::Anonymous", ANONYMOUS_ID), lattice=lattice)


def principal_from_lattice(
    headers: Mapping[str, str],
    *,
    namespace: str,
    caller_roles: Mapping[tuple[str, str, str], str],
) -> Principal:
    """Map Lattice's headers to a Cedar principal.

    No identity header, or `Type=NONE`: anonymous. An assumed-role ARN whose partition,
    account and role name are in `caller_roles`: that catalog service. Any other assumed
    role: an IAM role entity with `account` and `name` attributes. Anything else is refused.
    """
    lattice = parse_lattice_caller(headers)
    identity_type = lattice.identity.get("Type")
    arn = lattice.principal_arn
    if identity_type is not None and identity_type not in _IDENTITY_TYPES:
        message = f"header {IDENTITY_HEADER}: Type {identity_type[:20]!r} is not known"
        raise AuthenticationError(message, reason=IDENTITY_HEADER)

    if identity_type == "NONE" or (identity_type is None and arn is None):
        if arn is not None:
            message = f"header {IDENTITY_HEADER}: Type=NONE with a Principal"
            raise AuthenticationError(message, reason=IDENTITY_HEADER)
        return anonymous_principal(namespace, lattice)

    if arn is None:
        message = f"header {IDENTITY_HEADER}: Type={identity_type} without a Principal"
        raise AuthenticationError(message, reason=IDENTITY_HEADER)
    match = _ASSUMED_ROLE.fullmatch(arn)
    if match is None:
        message = f"header {IDENTITY_HEADER}: Principal is not an assumed-role ARN"
        raise AuthenticationError(message, reason=IDENTITY_HEADER)

    partition, account, role = match.group("partition", "account", "role")
    service = caller_roles.get((partition, account, role))
    if service is not None:
        return Principal(uid=EntityUid(f"{namespace}::Service", service), lattice=lattice)

    role_arn = f"arn:{partition}:iam::{account}:role/{role}"
    return Principal(
        uid=EntityUid(f"{namespace}::IamRole", role_arn),
        attributes={"account": account, "name": role},
        lattice=lattice,
    )


__all__ = [
    "IDENTITY_HEADER",
    "LATTICE_HEADERS",
    "NETWORK_HEADER",
    "TAGS_HEADER",
    "TARGET_HEADER",
    "anonymous_principal",
    "parse_fields",
    "parse_lattice_caller",
    "parse_tags",
    "principal_from_lattice",
]
