"""The values the enforcement point passes around: entities, principals, requests, decisions.

Entity ids are always carried as structured `{type, id}` values and never pasted into
Cedar text, so an id taken from a path can hold any character without changing a policy.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

#: A value in Cedar's JSON form: str, bool, int, list, a record (dict), an entity reference
#: `{"__entity": {"type": ..., "id": ...}}` or an extension `{"__extn": {"fn": ..., "arg": ...}}`.
CedarValue = Any

ANONYMOUS_ID = "anonymous"
#: The principal type of an IAM role that is no catalog service (bare, without namespace).
IAM_ROLE_TYPE = "IamRole"
_ROLE_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?:[\w+=,.@/-]*/)?(?P<name>[\w+=,.@-]{1,64})",
    re.ASCII,  # IAM's names and account ids are ASCII; \w and \d would take any script's
)
ACCESS_TOKEN_USE = "access"  # noqa: S105 - the name of a kind of token, not a secret


@dataclass(frozen=True, slots=True)
class EntityUid:
    """A Cedar entity identifier: a fully qualified type and a literal id."""

    type: str
    id: str

    def to_cedar_json(self) -> dict[str, str]:
        """The `{"type", "id"}` form cedarpy and Cedar JSON take."""
        return {"type": self.type, "id": self.id}

    def __str__(self) -> str:
        return f"{self.type}::{encode_basestring(self.id)}"


@dataclass(frozen=True, slots=True)
class BearerToken:
    """A verified bearer JWT; its value never appears in a repr or a log."""

    value: str = field(repr=False)
    token_use: str

    def __repr__(self) -> str:
        return f"BearerToken(token_use={self.token_use!r}, value='***')"

    @property
    def api_field(self) -> str:
        """The Verified Permissions parameter that carries this kind of token."""
        return "accessToken" if self.token_use == ACCESS_TOKEN_USE else "identityToken"


@dataclass(frozen=True, slots=True)
class LatticeCaller:
    """What VPC Lattice said about the caller, from its `x-amzn-lattice-*` headers."""

    identity: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    network: Mapping[str, str] = field(default_factory=dict)
    target: Mapping[str, str] = field(default_factory=dict)

    @property
    def principal_arn(self) -> str | None:
        """The authenticated principal ARN Lattice reported, if any."""
        return self.identity.get("Principal")

    @property
    def source_vpc_arn(self) -> str | None:
        """The VPC the request came from, if Lattice said."""
        return self.network.get("SourceVpcArn")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller as a Cedar entity, plus what handlers may want to know.

    `attributes` and `parents` become the principal's Cedar entity. They come only from
    verified credentials (Lattice headers, JWT claims), never from a request body or query.
    `label` is the entity in Cedar syntax, for logs.
    """

    uid: EntityUid
    attributes: Mapping[str, CedarValue] = field(default_factory=dict)
    parents: tuple[EntityUid, ...] = ()
    token: BearerToken | None = None
    lattice: LatticeCaller | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)
    cache_key: str = field(init=False, repr=False, compare=False)
    label: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.uid.type.rpartition("::")[2] == IAM_ROLE_TYPE:
            object.__setattr__(self, "attributes", _iam_role_attributes(self.uid, self.attributes))
        label = str(self.uid)
        parents = sorted(str(parent) for parent in self.parents)
        # Verified Permissions decides on the token itself, so a token's principal is keyed
        # by a digest of it: two tokens of one user (different apps, scopes) never share.
        token = hashlib.sha256(self.token.value.encode()).hexdigest() if self.token else None
        key = json.dumps([label, parents, self.attributes, token], sort_keys=True)
        object.__setattr__(self, "cache_key", key)
        object.__setattr__(self, "label", label)

    @property
    def is_anonymous(self) -> bool:
        """True for the anonymous caller (no identity at all)."""
        return self.uid.id == ANONYMOUS_ID and self.uid.type.endswith("Anonymous")

    def cedar_entities(self) -> list[dict[str, Any]]:
        """The principal and its parents as Cedar JSON entities."""
        entities: list[dict[str, Any]] = [
            {
                "uid": self.uid.to_cedar_json(),
                "attrs": dict(self.attributes),
                "parents": [parent.to_cedar_json() for parent in self.parents],
            }
        ]
        entities.extend(
            {"uid": parent.to_cedar_json(), "attrs": {}, "parents": []} for parent in self.parents
        )
        return entities


def _iam_role_attributes(uid: EntityUid, attributes: Mapping[str, CedarValue]) -> dict[str, Any]:
    """An IAM role's attributes, always with `account` and `name` from its ARN.

    Policies read `principal.account` (e.g. to forbid every role outside a partner's
    account); without the attribute that forbid would error and Cedar would skip it. So the
    two are filled in from the ARN when missing, and a value that contradicts the ARN, or an
    id that is no role ARN, is refused.
    """
    match = _ROLE_ARN.fullmatch(uid.id)
    if match is None:
        message = (
            f"{uid}: an IamRole principal's id must be a role ARN "
            "(arn:aws:iam::<12-digit account>:role/<name>)"
        )
        raise ValueError(message)
    derived = {"account": match.group("account"), "name": match.group("name")}
    merged = dict(attributes)
    for key, value in derived.items():
        found = merged.setdefault(key, value)
        if found != value:
            message = f"{uid}: attribute {key} is {found!r} but the ARN says {value!r}"
            raise ValueError(message)
    return merged


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One question for a decision point: may `principal` do `action` on `resource`?

    `action` is the bare action id (`GetOrder`); the decision point qualifies it with the
    namespace. `context` holds Cedar JSON values; `entities` are extra Cedar JSON entities
    (`{"uid", "attrs", "parents"}`) such as the resource with its attributes, supplied by the
    application, never taken from the request.
    """

    principal: Principal
    action: str
    resource: EntityUid
    context: Mapping[str, CedarValue] = field(default_factory=dict)
    entities: tuple[Mapping[str, Any], ...] = ()

    def cache_key(self) -> tuple[str, str, str, str]:
        """Principal, action, resource and a digest of the context and extra entities."""
        return decision_key(
            self.principal, self.action, str(self.resource), self.context, self.entities
        )


def decision_key(
    principal: Principal,
    action: str,
    resource_label: str,
    context: Mapping[str, CedarValue],
    entities: tuple[Mapping[str, Any], ...],
) -> tuple[str, str, str, str]:
    """The decision cache's key: principal, action, resource (`str` of its `EntityUid`) and a
    digest of the context and extra entities ("" when both are empty)."""
    digest = ""
    if context or entities:
        document = [context, list(entities)]
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
    return (principal.cache_key, action, resource_label, digest)


class Decision(enum.Enum):
    """What a decision point answered."""

    ALLOW = "ALLOW"
    DENY = "DENY"


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    """A decision point's answer. Only an ALLOW without any error lets a request through."""

    decision: Decision
    determining_policies: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """True only for an explicit Allow that came with no evaluation error."""
        return self.decision is Decision.ALLOW and not self.errors


__all__ = [
    "ACCESS_TOKEN_USE",
    "ANONYMOUS_ID",
    "IAM_ROLE_TYPE",
    "AuthorizationRequest",
    "AuthorizationResult",
    "BearerToken",
    "CedarValue",
    "Decision",
    "EntityUid",
    "LatticeCaller",
    "Principal",
    "decision_key",
]
