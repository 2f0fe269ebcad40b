"""Decisions from Amazon Verified Permissions through boto3.

Requests carry structured entity identifiers and typed attribute values, never Cedar text.
A request with a verified bearer token goes to the token API (the store's identity source
derives the principal); any other goes to `IsAuthorized`. Batches are cut to the API's limit
and grouped so that each call shares a principal or a resource, as the API requires.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.model
import botocore.validate
import cedarpy

from pep_runtime._botocore_logs import install_botocore_log_filter
from pep_runtime.enforcement.config import EnforcementConfig
from pep_runtime.enforcement.exceptions import DecisionUnavailableError, EnforcementConfigError
from pep_runtime.enforcement.model import (
    AuthorizationRequest,
    AuthorizationResult,
    CedarValue,
    Decision,
    EntityUid,
    Principal,
)

if TYPE_CHECKING:
    from mypy_boto3_verifiedpermissions import VerifiedPermissionsClient

logger = logging.getLogger(__name__)

#: BatchIsAuthorized and BatchIsAuthorizedWithToken take at most 30 requests.
MAX_BATCH_REQUESTS = 30
_EXTENSIONS = {"ip": "ipaddr", "ipaddr": "ipaddr", "decimal": "decimal"}
_EXTENSIONS |= {"datetime": "datetime", "duration": "duration"}
_VALIDATION = "ValidationException"
_VALIDATOR = botocore.validate.ParamValidator()
#: A parameter's name in botocore's validation report ("... for parameter resource.entityId").
_PARAMETER_NAME = re.compile(r"for parameter ([\w.\[\]]+)")


class _StoreRefusedError(Exception):
    """The store answered ValidationException: the request does not fit its schema."""


def to_attribute_value(value: CedarValue, namespace: str) -> dict[str, Any]:
    """Convert a Cedar JSON value to the API's typed `AttributeValue`.

    Booleans are tested before integers (a Python bool is an int). Entity references and
    extension values use Cedar's `__entity` / `__extn` escapes; other dicts are records.
    """
    if isinstance(value, bool):
        return {"boolean": value}
    if isinstance(value, int):
        return {"long": value}
    if isinstance(value, str):
        return {"string": value}
    if isinstance(value, list | tuple):
        return {"set": [to_attribute_value(item, namespace) for item in value]}
    if isinstance(value, dict):
        if set(value) == {"__entity"}:
            entity = _escaped(value, "__entity", "type", "id")
            return {"entityIdentifier": _identifier(_qualify(entity["type"], namespace), entity)}
        if set(value) == {"__extn"}:
            extension = _escaped(value, "__extn", "fn", "arg")
            kind = _EXTENSIONS.get(extension["fn"])
            if kind is None:
                raise ValueError(f"Cedar extension {extension['fn']!r} has no API form")
            problem = _cedar_refuses(extension["fn"], extension["arg"])
            if problem is not None:
                raise ValueError(problem)
            return {kind: extension["arg"]}
        return {
            "record": {str(key): to_attribute_value(item, namespace) for key, item in value.items()}
        }
    raise ValueError(f"{type(value).__name__} is not a Cedar value (str, bool, int, list, dict)")


@functools.lru_cache(maxsize=1024)
def _cedar_refuses(function: str, argument: str) -> str | None:
    """Why Cedar refuses `function(argument)` (`ip("1.2.3")`, a decimal with five places, a
    date that does not exist), or None: asked of Cedar itself, on an empty policy set, since
    the store would refuse such a value for every request of its batch."""
    probe = {"type": "Probe", "id": "probe"}
    request = {
        "principal": probe,
        "action": {"type": "Action", "id": "probe"},
        "resource": probe,
        "context": {"value": {"__extn": {"fn": function, "arg": argument}}},
    }
    answer = cedarpy.is_authorized(request, "", [])
    if answer.decision != cedarpy.Decision.NoDecision:
        return None
    errors = answer.diagnostics.errors
    return str(errors[0]) if errors else f"Cedar cannot read {function}({argument!r})"


def _escaped(value: Mapping[str, Any], escape: str, *fields: str) -> Mapping[str, str]:
    """The body of a Cedar JSON escape, which must hold `fields` as text and nothing else."""
    body = value[escape]
    if (
        not isinstance(body, dict)
        or body.keys() != set(fields)
        or not all(isinstance(body[name], str) for name in fields)
    ):
        wanted = ", ".join(f'"{name}": <text>' for name in fields)
        found = f"keys {sorted(map(str, body))}" if isinstance(body, dict) else type(body).__name__
        raise ValueError(f"a Cedar {escape} escape holds {{{wanted}}}, found {found}"[:200])
    return body


def _identifier(entity_type: str, entity: Mapping[str, Any]) -> dict[str, str]:
    entity_id = entity["id"]
    if not isinstance(entity_id, str):
        # Never str(5): "5" could be an entity a policy allows, where local Cedar refuses 5.
        raise ValueError(f"an entity id is text, not {type(entity_id).__name__}")
    return {"entityType": entity_type, "entityId": entity_id}


def _qualify(entity_type: str, namespace: str) -> str:
    return entity_type if "::" in entity_type else f"{namespace}::{entity_type}"


def plan_batches(requests: Sequence[AuthorizationRequest]) -> list[list[int]]:
    """Group request positions into API calls that share a principal or a resource.

    Requests sharing a principal go together first; the rest are grouped by resource; each
    group is cut into chunks of at most `MAX_BATCH_REQUESTS`. Every position appears once.
    """
    by_principal: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        by_principal.setdefault(_principal_key(request.principal), []).append(index)

    groups: list[list[int]] = []
    leftovers: dict[str, list[int]] = {}
    for indices in by_principal.values():
        # A token call carries one token, so token requests group only by their token.
        if len(indices) > 1 or requests[indices[0]].principal.token is not None:
            groups.append(indices)
        else:
            leftovers.setdefault(str(requests[indices[0]].resource), []).extend(indices)
    groups.extend(leftovers.values())

    return [
        group[start : start + MAX_BATCH_REQUESTS]
        for group in groups
        for start in range(0, len(group), MAX_BATCH_REQUESTS)
    ]


def _principal_key(principal: Principal) -> str:
    # Token requests share a principal exactly when they share the token.
    return f"token:{principal.token.value}" if principal.token else principal.cache_key


class VerifiedPermissionsDecisionPoint:
    """A `DecisionPoint` backed by a Verified Permissions policy store."""

    is_local = False

    def __init__(
        self, *, policy_store_id: str, namespace: str, client: VerifiedPermissionsClient
    ) -> None:
        self._policy_store_id = policy_store_id
        self._namespace = namespace
        self._client = client
        # botocore's debug log would print the caller's token and the task's session token.
        install_botocore_log_filter()

    def policies_version(self) -> None:
        """Always None: the store's policies change out of sight, so a cached decision lives
        out its TTL."""

    @classmethod
    def from_config(cls, config: EnforcementConfig) -> VerifiedPermissionsDecisionPoint:
        """Build the client with botocore's standard retries and the configured timeouts."""
        settings = config.verified_permissions
        if settings is None:
            message = "verified-permissions mode needs LATTICEWORK_POLICY_STORE_ID and AWS_REGION"
            raise EnforcementConfigError(message, source="environment")
        client_config = botocore.config.Config(
            region_name=settings.region,
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        )
        client = boto3.client("verifiedpermissions", config=client_config)
        return cls(
            policy_store_id=settings.policy_store_id, namespace=config.namespace, client=client
        )

    def is_authorized(self, request: AuthorizationRequest) -> AuthorizationResult:
        """Decide one request through `IsAuthorized` or `IsAuthorizedWithToken`."""
        sendable = self._sendable(request)
        if isinstance(sendable, AuthorizationResult):
            return sendable
        try:
            return _result(self._call(*sendable))
        except _StoreRefusedError:
            # The store judged the request invalid for its schema: a deny, not an outage.
            return _invalid_for_the_store()

    def _single(self, request: AuthorizationRequest) -> tuple[str, dict[str, Any]]:
        """The operation and parameters deciding `request` alone."""
        parameters: dict[str, Any] = {
            "policyStoreId": self._policy_store_id,
            "action": self._action(request.action),
            "resource": self._entity(request.resource),
        }
        if request.context:
            parameters["context"] = {"contextMap": self._context(request.context)}

        token = request.principal.token
        if token is not None:
            parameters[token.api_field] = token.value
            if request.entities:
                # The token API derives the principal; only other entities may be sent.
                parameters["entities"] = {"entityList": self._entities([], [request])}
            return "is_authorized_with_token", parameters
        parameters["principal"] = self._entity(request.principal.uid)
        entity_list = self._entities([request.principal], [request])
        parameters["entities"] = {"entityList": entity_list}
        return "is_authorized", parameters

    def is_authorized_batch(
        self, requests: Sequence[AuthorizationRequest]
    ) -> list[AuthorizationResult]:
        """Decide many requests in as few batch calls as the API allows, keeping order."""
        results = [self._refused(request) for request in requests]
        convertible = [index for index, result in enumerate(results) if result is None]
        for chunk in plan_batches([requests[index] for index in convertible]):
            positions = [convertible[index] for index in chunk]
            chunk_requests = [requests[position] for position in positions]
            for position, result in zip(positions, self._batch(chunk_requests), strict=True):
                results[position] = result

        decided = [result for result in results if result is not None]
        if len(decided) != len(requests):
            raise DecisionUnavailableError("a batch left requests undecided", reason="batch")
        return decided

    def _batch(self, requests: list[AuthorizationRequest]) -> list[AuthorizationResult]:
        token = requests[0].principal.token
        items: list[dict[str, Any]] = []
        for request in requests:
            item: dict[str, Any] = {
                "action": self._action(request.action),
                "resource": self._entity(request.resource),
            }
            if token is None:
                item["principal"] = self._entity(request.principal.uid)
            if request.context:
                item["context"] = {"contextMap": self._context(request.context)}
            items.append(item)

        parameters: dict[str, Any] = {"policyStoreId": self._policy_store_id, "requests": items}
        if token is not None:
            parameters[token.api_field] = token.value
            entity_list = self._entities([], requests)
            if entity_list:
                parameters["entities"] = {"entityList": entity_list}
            operation = "batch_is_authorized_with_token"
        else:
            principals = [request.principal for request in requests]
            parameters["entities"] = {"entityList": self._entities(principals, requests)}
            operation = "batch_is_authorized"
        try:
            response = self._call(operation, parameters)
        except _StoreRefusedError:
            # The store does not say which request it found invalid, and deciding each alone
            # would multiply calls against the account's quota for every list holding one
            # bad item: every request of this call is an erroring deny.
            return [_invalid_for_the_store() for _ in requests]

        outputs = response.get("results", [])
        if len(outputs) != len(items):
            message = f"the batch answered {len(outputs)} of {len(items)} requests"
            raise DecisionUnavailableError(message, reason="batch")
        for item, output in zip(items, outputs, strict=True):
            echoed = output.get("request", {})
            if echoed.get("resource") != item["resource"] or echoed.get("action") != item["action"]:
                message = "the batch answered requests in a different order"
                raise DecisionUnavailableError(message, reason="batch")
        return [_result(output) for output in outputs]

    def _refused(self, request: AuthorizationRequest) -> AuthorizationResult | None:
        """The deny of a request that cannot be sent (see `_sendable`), or None."""
        sendable = self._sendable(request)
        return sendable if isinstance(sendable, AuthorizationResult) else None

    def _sendable(
        self, request: AuthorizationRequest
    ) -> tuple[str, dict[str, Any]] | AuthorizationResult:
        """The operation and parameters deciding `request` alone, or, when it cannot be sent
        as it is, a deny naming the error, as local Cedar denies it. Refused: a value the
        API's typed values cannot hold (a float, a null, an unknown extension, an id that is
        not text) and anything outside the API model's constraints (an empty id), which the
        store or botocore would otherwise refuse for a whole batch."""
        try:
            operation, parameters = self._single(request)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return AuthorizationResult(decision=Decision.DENY, errors=(str(exc),))
        api_name = self._client.meta.method_to_api_mapping[operation]
        input_shape = self._client.meta.service_model.operation_model(api_name).input_shape
        if input_shape is None:  # every decision operation has one; botocore types it optional
            return operation, parameters
        report = _VALIDATOR.validate(parameters, input_shape)
        # The parameter names only: botocore's report quotes values, a token among them.
        names = set(_PARAMETER_NAME.findall(report.generate_report()))
        # botocore checks types and minimum lengths; the store would refuse the rest, for
        # every request of a batch at once, so maximum lengths and patterns are checked here.
        names.update(_beyond_the_model(parameters, input_shape, ""))
        if not names:
            return operation, parameters
        message = (
            f"the request does not fit the Verified Permissions API: {', '.join(sorted(names))}"
        )
        return AuthorizationResult(decision=Decision.DENY, errors=(message,))

    def _call(self, operation: str, parameters: dict[str, Any]) -> Mapping[str, Any]:
        try:
            response: Mapping[str, Any] = getattr(self._client, operation)(**parameters)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            logger.warning("Verified Permissions %s failed: %s", operation, code)
            if code == _VALIDATION:
                raise _StoreRefusedError from exc
            message = f"Verified Permissions {operation} failed: {code}"
            raise DecisionUnavailableError(message, reason=code) from exc
        except botocore.exceptions.BotoCoreError as exc:
            logger.warning("Verified Permissions %s failed: %s", operation, type(exc).__name__)
            message = f"Verified Permissions {operation} failed: {type(exc).__name__}"
            raise DecisionUnavailableError(message, reason=type(exc).__name__) from exc
        return response

    def _action(self, action: str) -> dict[str, str]:
        return {"actionType": f"{self._namespace}::Action", "actionId": action}

    def _entity(self, uid: EntityUid) -> dict[str, str]:
        return {"entityType": _qualify(uid.type, self._namespace), "entityId": uid.id}

    def _context(self, context: Mapping[str, CedarValue]) -> dict[str, Any]:
        return {key: to_attribute_value(value, self._namespace) for key, value in context.items()}

    def _entities(
        self, principals: Sequence[Principal], requests: Sequence[AuthorizationRequest]
    ) -> list[dict[str, Any]]:
        """The API's typed entity list: the principals and the requests' extra entities."""
        entities: list[Mapping[str, Any]] = [
            entity for principal in principals for entity in principal.cedar_entities()
        ]
        entities += [entity for request in requests for entity in request.entities]
        items: dict[str, dict[str, Any]] = {}
        for entity in entities:
            uid = entity["uid"]
            entity_type = _qualify(uid["type"], self._namespace)
            key = f"{entity_type}::{uid['id']}"
            if key in items:
                continue
            item: dict[str, Any] = {"identifier": _identifier(entity_type, uid)}
            if entity.get("attrs"):
                item["attributes"] = self._context(entity["attrs"])
            if entity.get("parents"):
                item["parents"] = [
                    _identifier(_qualify(parent["type"], self._namespace), parent)
                    for parent in entity["parents"]
                ]
            items[key] = item
        return list(items.values())


def _beyond_the_model(value: Any, shape: botocore.model.Shape, name: str) -> Iterator[str]:
    """The names of the parameters in `value` longer than `shape` allows or holding no match of
    its pattern (what botocore's own validation leaves to the service)."""
    limit = shape.metadata.get("max")
    if isinstance(value, str):
        pattern = shape.metadata.get("pattern")
        too_long = limit is not None and len(value) > limit
        # A Smithy pattern is not anchored unless it says so: the value need only hold a match.
        if too_long or (pattern is not None and not _pattern(pattern).search(value)):
            yield name
    elif isinstance(value, dict) and isinstance(shape, botocore.model.StructureShape):
        for key, item in value.items():
            member = shape.members.get(key)
            if member is not None:
                yield from _beyond_the_model(item, member, f"{name}.{key}" if name else key)
    elif isinstance(value, dict) and isinstance(shape, botocore.model.MapShape):
        for key, item in value.items():
            yield from _beyond_the_model(item, shape.value, f"{name}.{key}")
    elif isinstance(value, list) and isinstance(shape, botocore.model.ListShape):
        if limit is not None and len(value) > limit:
            yield name
        for index, item in enumerate(value):
            yield from _beyond_the_model(item, shape.member, f"{name}[{index}]")


@functools.cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text, re.DOTALL)


def _invalid_for_the_store() -> AuthorizationResult:
    return AuthorizationResult(decision=Decision.DENY, errors=(_VALIDATION,))


def _result(response: Mapping[str, Any]) -> AuthorizationResult:
    decision = Decision.ALLOW if response.get("decision") == "ALLOW" else Decision.DENY
    policies = tuple(item["policyId"] for item in response.get("determiningPolicies", []))
    errors = tuple(item["errorDescription"] for item in response.get("errors", []))
    return AuthorizationResult(decision=decision, determining_policies=policies, errors=errors)


__all__ = [
    "MAX_BATCH_REQUESTS",
    "VerifiedPermissionsDecisionPoint",
    "plan_batches",
    "to_attribute_value",
]
