"""Evaluation of VPC Lattice auth policy documents for the local gateway.

It decides the way IAM does for one resource policy: an explicit Deny wins, otherwise any
matching Allow allows, otherwise the request is implicitly denied. It evaluates the
principal, action and resource elements and the condition keys listed in
`SUPPORTED_CONDITION_KEYS` with the string, ARN, boolean and null operators (with
`IfExists` and the `ForAnyValue:` / `ForAllValues:` set prefixes).

NOTE: anything it cannot evaluate (an unknown condition key or operator, `NotPrincipal`, a
policy variable such as `${aws:PrincipalAccount}`, a statement without Action or Resource,
an element that is not a string or a list of strings) fails closed: an Allow statement that
uses it does not allow, a Deny statement that uses it denies. Identity-based policies of
the caller and service control policies are not evaluated; AWS applies them as well.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeAlias

logger = logging.getLogger(__name__)

INVOKE_ACTION = "vpc-lattice-svcs:Invoke"

SUPPORTED_CONDITION_KEYS = frozenset(
    {
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principalorgid",
        "aws:principaltype",
        "aws:principalisawsservice",
        "aws:securetransport",
        "aws:sourcevpc",
        "vpc-lattice-svcs:sourcevpc",
        "vpc-lattice-svcs:sourcevpcowneraccount",
        "vpc-lattice-svcs:servicearn",
        "vpc-lattice-svcs:servicenetworkarn",
        "vpc-lattice-svcs:requestmethod",
        "vpc-lattice-svcs:port",
    }
)
_PREFIXED_CONDITION_KEYS = (
    "vpc-lattice-svcs:requestheader/",
    "vpc-lattice-svcs:requestquerystring/",
)


class Decision(Enum):
    """The outcome of evaluating an auth policy for one request."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """An authenticated caller: an IAM role session."""

    role_arn: str
    account: str
    org_id: str | None


@dataclass(frozen=True, slots=True)
class InvokeRequest:
    """The facts about one request that an auth policy can be evaluated against."""

    caller: CallerIdentity | None
    service_arn: str
    service_network_arn: str
    source_vpc_id: str
    method: str
    path: str
    port: int
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def resource_arn(self) -> str:
        """The Lattice resource ARN of the request: the service ARN followed by the path."""
        return f"{self.service_arn}{self.path}"


_Comparison: TypeAlias = Callable[[list[str], str], bool]


_SET_PREFIXES = frozenset({"", "ForAnyValue", "ForAllValues"})
_OPERATORS: dict[str, _Comparison] = {
    "StringEquals": lambda exp, act: act in exp,
    "StringNotEquals": lambda exp, act: act not in exp,
    "StringEqualsIgnoreCase": lambda exp, act: act.lower() in {e.lower() for e in exp},
    "StringNotEqualsIgnoreCase": lambda exp, act: act.lower() not in {e.lower() for e in exp},
    "StringLike": lambda exp, act: any(_glob(e, act, False) for e in exp),
    "StringNotLike": lambda exp, act: not any(_glob(e, act, False) for e in exp),
    "ArnEquals": lambda exp, act: act in exp,
    "ArnNotEquals": lambda exp, act: act not in exp,
    "ArnLike": lambda exp, act: any(_glob(e, act, False) for e in exp),
    "ArnNotLike": lambda exp, act: not any(_glob(e, act, False) for e in exp),
    "Bool": lambda exp, act: act.lower() in {e.lower() for e in exp},
}


class _UnevaluableError(Exception):
    """A policy element the gateway cannot evaluate; the statement fails closed."""


def evaluate_auth_policy(policy: Mapping[str, Any], request: InvokeRequest) -> Decision:
    """Decide whether the auth policy `policy` lets `request` invoke the service."""
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]

    if not isinstance(statements, list):
        logger.warning("auth policy Statement is not a list; denying")
        return Decision.EXPLICIT_DENY

    allowed = False
    for index, statement in enumerate(statements):
        effect = statement.get("Effect") if isinstance(statement, Mapping) else None
        if effect not in ("Allow", "Deny"):
            logger.warning("auth policy statement %d has no Effect Allow or Deny; denying", index)
            return Decision.EXPLICIT_DENY

        try:
            applies = _statement_applies(statement, request)
        except _UnevaluableError as exc:
            logger.warning("auth policy statement %d fails closed: %s", index, exc)
            applies = effect == "Deny"

        if applies and effect == "Deny":
            return Decision.EXPLICIT_DENY

        if applies and effect == "Allow":
            allowed = True

    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _statement_applies(statement: Mapping[str, Any], request: InvokeRequest) -> bool:
    if "NotPrincipal" in statement:
        raise _UnevaluableError("NotPrincipal is not supported by the local gateway")

    if not _principal_matches(statement.get("Principal"), request.caller):
        return False

    if not _element_matches(statement, "Action", "NotAction", INVOKE_ACTION, ignore_case=True):
        return False

    if not _element_matches(statement, "Resource", "NotResource", request.resource_arn):
        return False

    return _conditions_hold(statement.get("Condition", {}), request)


def _principal_matches(principal: Any, caller: CallerIdentity | None) -> bool:
    if principal == "*":
        return True

    if not isinstance(principal, Mapping) or set(principal) - {"AWS"}:
        raise _UnevaluableError(f"Principal {principal!r} is not '*' or an AWS principal")

    candidates = _strings(principal.get("AWS"), "Principal.AWS")
    if "*" in candidates:
        return True

    if caller is None:
        return False

    account_root = f"arn:aws:iam::{caller.account}:root"
    return any(
        candidate in (caller.role_arn, caller.account, account_root) for candidate in candidates
    )


def _element_matches(
    statement: Mapping[str, Any],
    name: str,
    negated_name: str,
    value: str,
    *,
    ignore_case: bool = False,
) -> bool:
    if (name in statement) == (negated_name in statement):
        raise _UnevaluableError(f"a statement needs exactly one of {name} and {negated_name}")

    if name in statement:
        patterns = _strings(statement[name], name)
        return any(_glob(pattern, value, ignore_case) for pattern in patterns)

    patterns = _strings(statement[negated_name], negated_name)
    return not any(_glob(pattern, value, ignore_case) for pattern in patterns)


def _conditions_hold(conditions: Any, request: InvokeRequest) -> bool:
    if not isinstance(conditions, Mapping) or not all(
        isinstance(keyed_values, Mapping) for keyed_values in conditions.values()
    ):
        raise _UnevaluableError("Condition is not a map of operators to maps of keys")

    for operator, keyed_values in conditions.items():
        for key, expected in keyed_values.items():
            if not _condition_holds(operator, key, _condition_values(expected, key), request):
                return False

    return True


def _condition_holds(operator: str, key: str, expected: list[str], request: InvokeRequest) -> bool:
    actual = _context_value(key, request)
    set_prefix, _, base_operator = operator.rpartition(":")
    if_exists = base_operator.endswith("IfExists")
    base_operator = base_operator.removesuffix("IfExists")
    # Judge the operator before the key's presence: an operator it cannot evaluate must fail
    # closed even when the key is absent from this request.
    if set_prefix not in _SET_PREFIXES or (
        base_operator != "Null" and base_operator not in _OPERATORS
    ):
        raise _UnevaluableError(f"condition operator {operator!r} is not supported")

    if base_operator == "Null":
        is_absent = actual is None
        return any(str(value).lower() == str(is_absent).lower() for value in expected)

    if actual is None:
        # IAM: a missing key satisfies IfExists, the negated operators and ForAllValues.
        negated = base_operator.startswith(("StringNot", "ArnNot"))
        return if_exists or negated or set_prefix == "ForAllValues"

    compare = _OPERATORS[base_operator]
    if set_prefix == "ForAllValues":
        return all(compare(expected, value) for value in actual)

    return any(compare(expected, value) for value in actual)


def _context_value(key: str, request: InvokeRequest) -> tuple[str, ...] | None:
    normalized = key.lower()
    if normalized.startswith(_PREFIXED_CONDITION_KEYS[0]):
        header = request.headers.get(normalized.removeprefix(_PREFIXED_CONDITION_KEYS[0]))
        return None if header is None else (header,)

    if normalized.startswith(_PREFIXED_CONDITION_KEYS[1]):
        query_values = request.query.get(key.split("/", 1)[1])
        return query_values or None

    if normalized not in SUPPORTED_CONDITION_KEYS:
        raise _UnevaluableError(f"condition key {key!r} is not evaluated by the local gateway")

    caller = request.caller
    source_vpc_account = request.service_arn.split(":")[4]
    known: dict[str, str | None] = {
        "aws:principalarn": caller.role_arn if caller else None,
        "aws:principalaccount": caller.account if caller else None,
        "aws:principalorgid": caller.org_id if caller else None,
        "aws:principaltype": "AssumedRole" if caller else "Anonymous",
        "aws:principalisawsservice": "false",
        "aws:securetransport": "false",
        "aws:sourcevpc": request.source_vpc_id,
        "vpc-lattice-svcs:sourcevpc": request.source_vpc_id,
        "vpc-lattice-svcs:sourcevpcowneraccount": source_vpc_account,
        "vpc-lattice-svcs:servicearn": request.service_arn,
        "vpc-lattice-svcs:servicenetworkarn": request.service_network_arn,
        "vpc-lattice-svcs:requestmethod": request.method.upper(),
        "vpc-lattice-svcs:port": str(request.port),
    }
    value = known[normalized]
    return None if value is None else (value,)


def _glob(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.fullmatch(regex, value, flags) is not None


def _strings(value: Any, element: str) -> list[str]:
    """A policy element's string or list of strings, or `_UnevaluableError`."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        raise _UnevaluableError(f"{element} is not a string or a list of strings")

    for item in values:
        if "${" in item:
            # IAM would substitute a policy variable; matching it literally could skip a Deny.
            raise _UnevaluableError(f"{element} uses a policy variable ({item!r})")
    return values


def _condition_values(value: Any, key: str) -> list[str]:
    """A condition's values as IAM compares them: strings, with JSON booleans as true/false."""
    values = value if isinstance(value, list) else [value]
    as_text = [
        json.dumps(item) if isinstance(item, bool | int | float) else item for item in values
    ]
    return _strings(as_text, f"the values of condition key {key!r}")


__all__ = [
    "INVOKE_ACTION",
    "SUPPORTED_CONDITION_KEYS",
    "CallerIdentity",
    "Decision",
    "InvokeRequest",
    "evaluate_auth_policy",
]
