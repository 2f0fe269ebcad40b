"""The enforcement point: route -> principal -> cache -> decision point -> audit -> outcome.

`Enforcer.check` never lets a request through on anything but an explicit Allow with no
evaluation error: every error, expected or not, becomes a 400, 401, 403 or 503 outcome.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import ipaddress
import itertools
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pep_runtime.enforcement.audit import (
    AUDIT_UNAVAILABLE,
    AuditLog,
    audit_line,
    quote,
    quote_repeated,
)
from pep_runtime.enforcement.cache import DecisionCache
from pep_runtime.enforcement.config import (
    MODE_LOCAL,
    EnforcementConfig,
    config_path_from_environment,
    load_config,
)
from pep_runtime.enforcement.decision_point import DecisionPoint
from pep_runtime.enforcement.exceptions import (
    AuthenticationError,
    DecisionUnavailableError,
    MalformedRequestError,
    RequestRejectedError,
)
from pep_runtime.enforcement.lattice import (
    IDENTITY_HEADER,
    LATTICE_HEADERS,
    NETWORK_HEADER,
    TAGS_HEADER,
    TARGET_HEADER,
    anonymous_principal,
    parse_lattice_caller,
    principal_from_lattice,
)
from pep_runtime.enforcement.model import (
    AuthorizationRequest,
    AuthorizationResult,
    CedarValue,
    EntityUid,
    Principal,
    decision_key,
)
from pep_runtime.enforcement.routes import (
    RouteMatch,
    RouteTable,
    normalize_method,
    normalize_path,
)
from pep_runtime.enforcement.tokens import TokenVerifier, bearer_token
from pep_runtime.services import current_request_id

logger = logging.getLogger(__name__)

T = TypeVar("T")

AUTHORIZATION_HEADER = "authorization"
FORWARDED_FOR_HEADER = "x-forwarded-for"
REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-trace-id")
#: The only request headers the enforcement point reads.
HEADERS_READ = frozenset(
    {AUTHORIZATION_HEADER, FORWARDED_FOR_HEADER, *LATTICE_HEADERS, *REQUEST_ID_HEADERS}
)

#: Loads the application's entities for a resource (the resource with its attributes and
#: parents, as Cedar JSON entities) so that policies can read them.
ResourceEntities = Callable[[EntityUid], Sequence[Mapping[str, Any]]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=;/-]{1,128}")
#: A SigV4 or SigV4A signature and nothing else (a WSGI server joins repeated headers).
_SIGV4_AUTHORIZATION = re.compile(
    r"AWS4-(?:HMAC-SHA256|ECDSA-P256-SHA256) Credential=[^,\s]+, ?"
    r"SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]+"
)
_PRINCIPAL_CACHE_SIZE = 1024
_TARGET_CACHE_SIZE = 1024
_TARGET_MEMO_MAX_LENGTH = 512
_TARGET_SEEN_SLOTS = 4096  # a power of two
_PROCESS_ID = uuid.uuid4().hex[:12]
_REQUEST_COUNTER = itertools.count(1)
_current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "latticework_principal", default=None
)


def current_principal() -> Principal | None:
    """The principal of the request being handled (None on public routes or outside one)."""
    return _current_principal.get()


def bind_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    """Make `principal` the current one; the middleware calls this around the app."""
    return _current_principal.set(principal)


def unbind_principal(token: contextvars.Token[Principal | None]) -> None:
    """Undo `bind_principal`."""
    _current_principal.reset(token)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What the enforcement point needs of an HTTP request.

    `target` is the path as sent (query allowed), `app_path` the once-decoded path the web
    framework will route on (when known), `headers` maps lower-case names to every value,
    `client_address` is the peer address of the connection (when known). The repr leaves
    the headers out: they carry tokens and cookies.
    """

    method: str
    target: str | bytes
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict, repr=False)
    app_path: str | None = None
    client_address: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one HTTP request: 200 lets it through, anything else is the denial."""

    status: int
    reason: str
    request_id: str
    principal: Principal | None = None
    route: RouteMatch | None = None
    result: AuthorizationResult | None = None
    resource: EntityUid | None = None

    @property
    def allowed(self) -> bool:
        """True when the app may run."""
        return self.status == 200


class _Target:
    """What one method and request target mean, worked out once and reused.

    The matched route (None: unmapped), its resource, and the JSON-quoted method, path,
    action and resource of the audit line. A pure function of the method, the target and
    the server's decoded path, so a bounded memo of it is always right. (A plain slotted
    class: it is built for every new target, and a frozen dataclass costs twice as much.)
    """

    __slots__ = (
        "action_json",
        "method_json",
        "path_json",
        "resource",
        "resource_json",
        "resource_label",
        "route",
    )

    def __init__(self, request: HttpRequest, route: RouteMatch | None) -> None:
        self.route = route
        self.resource = None if route is None or route.public else route.resource()
        self.resource_label = "" if self.resource is None else str(self.resource)
        self.method_json = quote(request.method[:20])
        self.path_json = quote(_audit_path(request.target))
        self.action_json = quote_repeated(route.rule.action if route else None)
        self.resource_json = "null" if self.resource is None else quote(self.resource_label)


class Enforcer:
    """Decides whether each request may reach the app. Thread-safe."""

    def __init__(
        self,
        config: EnforcementConfig,
        decision_point: DecisionPoint,
        *,
        cache: DecisionCache | None = None,
        token_verifier: TokenVerifier | None = None,
        audit: AuditLog | None = None,
        resource_entities: ResourceEntities | None = None,
    ) -> None:
        _require_decision_point(decision_point)
        self.config = config
        self._resource_entities = resource_entities
        self.decision_point = decision_point
        self.cache = cache or DecisionCache(
            max_entries=config.cache.max_entries, ttl_seconds=config.cache.ttl_seconds
        )
        self.routes = RouteTable(config.routes)
        self._token_verifier = token_verifier
        if token_verifier is None and config.identity_source is not None:
            self._token_verifier = TokenVerifier(config.identity_source, namespace=config.namespace)
        self._audit = audit or AuditLog(config.audit.destination)
        self._lattice_principals: OrderedDict[tuple[str, ...], Principal] = OrderedDict()
        self._lattice_lock = threading.Lock()
        self._targets: OrderedDict[tuple[str, str | bytes, str | None], _Target] = OrderedDict()
        self._targets_lock = threading.Lock()
        #: A byte of the hash of the last target key seen in each slot: the memo's doorkeeper.
        self._targets_seen = bytearray(_TARGET_SEEN_SLOTS)
        self._anonymous = anonymous_principal(config.namespace)
        self._service_json = quote(config.service_name)

    @classmethod
    def from_config(cls, config: EnforcementConfig, *, audit: AuditLog | None = None) -> Enforcer:
        """Build the decision point the config's mode names, and the enforcer around it.

        `audit` replaces the log `audit.destination` names (a stream of the caller's).
        """
        decision_point: DecisionPoint
        if config.mode == MODE_LOCAL and config.local is not None:
            from pep_runtime.enforcement.local_cedar import LocalCedarDecisionPoint

            decision_point = LocalCedarDecisionPoint(
                config.local.authz_dir,
                namespace=config.namespace,
                reload_check_seconds=config.local.reload_check_seconds,
            )
        else:
            from pep_runtime.enforcement.verified_permissions import (
                VerifiedPermissionsDecisionPoint,
            )

            decision_point = VerifiedPermissionsDecisionPoint.from_config(config)
        return cls(config, decision_point, audit=audit)

    @classmethod
    def from_file(cls, path: str | Path, environ: Mapping[str, str] | None = None) -> Enforcer:
        """Load the config file and the environment, then build as `from_config`."""
        return cls.from_config(load_config(path, environ))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Enforcer:
        """Build from the file `LATTICEWORK_PEP_CONFIG` names (default `pep.yaml` in the
        working directory) and the `LATTICEWORK_*` environment."""
        return cls.from_file(config_path_from_environment(environ), environ)

    @property
    def decides_inline(self) -> bool:
        """True when a decision needs no network call (local Cedar, no entity loader)."""
        return self.decision_point.is_local and self._resource_entities is None

    def may_wait_on_identity_source(self, request: HttpRequest) -> bool:
        """True when checking `request` could wait on a fetch of the identity source's JWKS
        (its bearer token needs keys not at hand): an event loop checks it on a worker
        thread, even where decisions are made inline."""
        verifier = self._token_verifier
        values = request.headers.get(AUTHORIZATION_HEADER)
        if verifier is None or not values or len(values) > 1:
            return False

        try:
            token = bearer_token(values[0])
        except AuthenticationError:
            return False
        return verifier.fetch_needed(token)

    def check(self, request: HttpRequest) -> Outcome:
        """Decide one HTTP request. Never raises: every failure is a denying outcome."""
        started = time.perf_counter()
        # The id an outer RequestIdMiddleware bound, so that logs, audit and calls agree.
        request_id = current_request_id() or _request_id(request.headers)
        cache_hit = False
        target: _Target | None = None
        # Kept for the audit line of a refusal that comes after the caller was known.
        principal: Principal | None = None
        try:
            target = self._target(request)
            route = target.route
            if route is None:
                outcome = Outcome(status=403, reason="unmapped-route", request_id=request_id)
            elif route.public:
                outcome = Outcome(200, "public-route", request_id, route=route)
            else:
                principal = self.resolve_principal(request.headers)
                outcome, cache_hit = self._check(request, request_id, target, route, principal)
        except RequestRejectedError as exc:
            logger.info("request %s rejected: %s", request_id, _loggable(exc))
            outcome = Outcome(exc.status, exc.reason, request_id, principal)
        except DecisionUnavailableError as exc:
            logger.warning("request %s: no decision: %s", request_id, _loggable(exc))
            outcome = Outcome(503, exc.reason, request_id, principal)
        except Exception:
            logger.exception("request %s: the enforcement point failed; denying", request_id)
            outcome = Outcome(status=503, reason="internal-error", request_id=request_id)

        try:
            self._audit.emit(self._outcome_line(request, outcome, target, cache_hit, started))
        except DecisionUnavailableError as exc:
            # Nothing goes through unrecorded: without its audit line the request is denied.
            logger.error("request %s: %s; denying", request_id, _loggable(exc))
            # The denial's line still names the caller and the target; no policy decided it.
            outcome = dataclasses.replace(outcome, status=503, reason=exc.reason, result=None)
            denial = self._outcome_line(request, outcome, target, cache_hit, started)
            self._audit.emit_correction(denial)
        return outcome

    def _check(
        self,
        request: HttpRequest,
        request_id: str,
        target: _Target,
        route: RouteMatch,
        principal: Principal,
    ) -> tuple[Outcome, bool]:
        """Decide `target`'s protected `route` for `principal`."""
        action, resource = route.rule.action, target.resource
        if action is None or resource is None:
            raise ValueError(f"protected route {route.rule.path} has no action or resource")
        context = self._request_context(request, principal)
        entities = self._load_entities(resource)
        key = (
            self.decision_point.policies_version(),
            decision_key(principal, action, target.resource_label, context, entities),
        )
        result = self.cache.get(key)
        cache_hit = result is not None
        if result is None:
            authorization = AuthorizationRequest(principal, action, resource, context, entities)
            result = self._decide_miss(key, authorization)

        if result.allowed:
            status, reason = 200, "allow"
        elif principal.is_anonymous:
            # Denied without any credentials: ask for them.
            status, reason = 401, "anonymous-denied"
        elif result.errors:
            status, reason = 403, "evaluation-error"
        else:
            status, reason = 403, "deny"
        outcome = Outcome(status, reason, request_id, principal, route, result, resource)
        return outcome, cache_hit

    def _target(self, request: HttpRequest) -> _Target:
        """Normalise and match the request's method and path (memoised; errors are not)."""
        key = (request.method, request.target, request.app_path)
        target = self._targets.get(key)
        if target is not None:
            return target

        method = normalize_method(request.method)
        path = normalize_path(request.target)
        if request.app_path is not None and request.app_path != path:
            message = "the server decoded the path differently from the enforcement point"
            raise MalformedRequestError(message, reason="bad-path")
        # Web frameworks answer HEAD with the GET handler, so the GET rule decides it.
        route = self.routes.match("GET" if method == "HEAD" else method, path)
        target = _Target(request, route)
        self._remember(key, target)
        return target

    def _remember(self, key: tuple[str, str | bytes, str | None], target: _Target) -> None:
        """Keep a target the second time its key is seen, so that a stream of one-off paths
        (a new order id, a new query string) seldom pays for the memo or evicts hot ones.

        A key's first sight only writes a byte of its hash into its slot of a fixed byte
        array; two keys that share a slot and byte can only hasten or delay each other's
        remembering, never mix up targets.
        """
        if len(key[1]) > _TARGET_MEMO_MAX_LENGTH:
            # Not remembered: the memo's memory stays small whatever targets are sent.
            return
        fingerprint = hash(key)
        slot = fingerprint & (_TARGET_SEEN_SLOTS - 1)
        tag = (fingerprint >> 16) & 0xFF or 1  # never 0, the value of a slot not yet used
        if self._targets_seen[slot] != tag:
            self._targets_seen[slot] = tag
            return
        with self._targets_lock:
            self._targets[key] = target
            if len(self._targets) > _TARGET_CACHE_SIZE:
                # Oldest first: cheaper than keeping the order of use on every hit.
                self._targets.popitem(last=False)

    def _request_context(self, request: HttpRequest, principal: Principal) -> dict[str, Any]:
        """The context attributes the config asks for, from verified request data only."""
        fields = self.config.request_context
        if not fields:
            return {}

        context: dict[str, Any] = {}
        if "sourceIp" in fields:
            context["sourceIp"] = {"__extn": {"fn": "ip", "arg": self._source_ip(request)}}
        if "scopes" in fields and principal.token is not None:
            scopes = principal.claims.get("scope", principal.claims.get("scp"))
            if isinstance(scopes, str):
                scopes = scopes.split()
            if isinstance(scopes, list) and all(isinstance(scope, str) for scope in scopes):
                context["scopes"] = sorted(set(scopes))
        return context

    def _source_ip(self, request: HttpRequest) -> str:
        """Behind Lattice, the address Lattice appended to x-forwarded-for; else the peer.

        Never left out: a `context has sourceIp` condition would then silently not apply. An
        IPv4 address a dual-stack socket maps into IPv6 (::ffff:10.0.0.5) is the IPv4 one.
        """
        if self.config.behind_lattice:
            lines = request.headers.get(FORWARDED_FOR_HEADER)
            if not lines:
                # Lattice always adds one: without it a `context has sourceIp` condition would
                # silently not apply.
                message = f"{FORWARDED_FOR_HEADER} is missing behind Lattice"
                raise MalformedRequestError(message, reason=FORWARDED_FOR_HEADER)
            # Lines of a list-valued header are one list (RFC 9110 5.3): Lattice's is last.
            candidate = lines[-1].rsplit(",", 1)[-1].strip()
            try:
                address = ipaddress.ip_address(candidate)
            except ValueError:
                address = None
            if address is None or (address.version == 6 and address.scope_id):
                message = f"{FORWARDED_FOR_HEADER} does not end in an IP address"
                raise MalformedRequestError(message, reason=FORWARDED_FOR_HEADER) from None
            return _unmapped(address)
        # A link-local peer's zone (fe80::1%eth0) is no part of an address Cedar holds.
        peer = (request.client_address or "").split("%", 1)[0]
        try:
            return _unmapped(ipaddress.ip_address(peer))
        except ValueError:
            # A unix socket, or a server that does not say: the source is unknown, which the
            # operator fixes (serve over TCP, or behind Lattice), not the caller.
            message = "the peer address is unknown, and the policies read sourceIp"
            raise DecisionUnavailableError(message, reason="no-source-ip") from None

    def _load_entities(self, resource: EntityUid) -> tuple[Mapping[str, Any], ...]:
        if self._resource_entities is None:
            return ()
        try:
            return tuple(self._resource_entities(resource))
        except Exception as exc:
            name = type(exc).__name__
            logger.warning("loading the entities of %s failed: %s", _loggable(resource), name)
            message = f"the entities of {resource} could not be loaded"
            raise DecisionUnavailableError(message, reason="resource-entities") from exc

    def resolve_principal(self, headers: Mapping[str, Sequence[str]]) -> Principal:
        """The caller: a bearer JWT's user, else Lattice's identity (if trusted), else anonymous."""
        authorization = _single(headers, AUTHORIZATION_HEADER)
        lattice_values = None
        if self.config.behind_lattice:
            lattice_values = _lattice_values(headers)
            if authorization is not None and _SIGV4_AUTHORIZATION.fullmatch(authorization):
                # A service call's signature: Lattice verified it and names the signer in
                # its identity header. Whether Lattice forwards it is not documented.
                authorization = None

        if authorization is not None:
            if self._token_verifier is None:
                message = "a bearer token was sent but no identity source is configured"
                raise AuthenticationError(message, reason="no-identity-source")
            principal = self._token_verifier.verify(bearer_token(authorization))
            if lattice_values is not None:
                present = dict(zip(LATTICE_HEADERS, lattice_values, strict=True))
                principal = dataclasses.replace(principal, lattice=parse_lattice_caller(present))
            return principal

        if lattice_values is None:
            return self._anonymous
        return self._lattice_principal(lattice_values)

    def _lattice_principal(self, values: tuple[str, ...]) -> Principal:
        with self._lattice_lock:
            cached = self._lattice_principals.get(values)
        if cached is not None:
            return cached

        present = {
            name: value for name, value in zip(LATTICE_HEADERS, values, strict=True) if value
        }
        principal = principal_from_lattice(
            present, namespace=self.config.namespace, caller_roles=self.config.caller_roles
        )
        with self._lattice_lock:
            self._lattice_principals[values] = principal
            while len(self._lattice_principals) > _PRINCIPAL_CACHE_SIZE:
                self._lattice_principals.popitem(last=False)
        return principal

    def _decide(self, request: AuthorizationRequest) -> tuple[AuthorizationResult, bool]:
        with _no_decision_on_failure():
            key = (self.decision_point.policies_version(), request.cache_key())
            cached = self.cache.get(key)
            if cached is not None:
                return cached, True
            return self._decide_miss(key, request), False

    def _decide_miss(self, key: Hashable, request: AuthorizationRequest) -> AuthorizationResult:
        result = self.decision_point.is_authorized(request)
        self.cache.put(key, result)
        return result

    def resource(self, entity_type: str, entity_id: str) -> EntityUid:
        """A resource entity; a bare type gets the namespace."""
        return EntityUid(self.config.qualify(entity_type), entity_id)

    def authorize(
        self,
        principal: Principal | None,
        action: str,
        resource: EntityUid,
        context: Mapping[str, CedarValue] | None = None,
        entities: Sequence[Mapping[str, Any]] = (),
    ) -> AuthorizationResult:
        """Decide one request outside the middleware (cached, audited). Raises on no decision.

        `context` and `entities` (Cedar JSON) come from the application, e.g. the amount of a
        payment or the order with its owner. A `principal` of None (`current_principal()` on
        a public route) is the anonymous caller.
        """
        started = time.perf_counter()
        request = AuthorizationRequest(
            principal or self._anonymous, action, resource, dict(context or {}), tuple(entities)
        )
        try:
            result, cache_hit = self._decide(request)
        except DecisionUnavailableError as exc:
            self._record_unavailable([request], exc.reason, started)
            raise
        self._record([(request, result, cache_hit)], started)
        return result

    def filter_authorized(
        self,
        principal: Principal | None,
        action: str,
        items: Iterable[T],
        resource_of: Callable[[T], EntityUid],
        context: Mapping[str, CedarValue] | None = None,
        entities_of: Callable[[T], Sequence[Mapping[str, Any]]] | None = None,
    ) -> list[T]:
        """Keep the items `principal` may `action`, with one batched call for cache misses.

        Order is kept. An item whose decision carries an error is dropped; if no decision
        can be had, `DecisionUnavailableError` is raised rather than returning a guess. A
        `principal` of None is the anonymous caller.
        """
        started = time.perf_counter()
        candidates = list(items)
        requests = [
            AuthorizationRequest(
                principal or self._anonymous,
                action,
                resource_of(item),
                dict(context or {}),
                tuple(entities_of(item)) if entities_of else (),
            )
            for item in candidates
        ]
        try:
            with _no_decision_on_failure():
                version = self.decision_point.policies_version()
                # Digesting a context that is not Cedar JSON fails here, as in `authorize`.
                keys: list[Hashable] = [(version, request.cache_key()) for request in requests]
        except DecisionUnavailableError as exc:
            self._record_unavailable(requests, exc.reason, started)
            raise
        results: list[AuthorizationResult | None] = [self.cache.get(key) for key in keys]
        hits = [result is not None for result in results]

        missing = [index for index, result in enumerate(results) if result is None]
        if missing:
            try:
                with _no_decision_on_failure():
                    answers = self.decision_point.is_authorized_batch(
                        [requests[i] for i in missing]
                    )
                if len(answers) != len(missing):
                    message = "the decision point answered a different number of requests"
                    raise DecisionUnavailableError(message, reason="batch")
            except DecisionUnavailableError as exc:
                self._record_unavailable(requests, exc.reason, started)
                raise
            for index, answer in zip(missing, answers, strict=True):
                results[index] = answer
                self.cache.put(keys[index], answer)

        decided: list[tuple[AuthorizationRequest, AuthorizationResult, bool]] = []
        for request, result, hit in zip(requests, results, hits, strict=True):
            if result is None:
                raise DecisionUnavailableError("a request was left undecided", reason="batch")
            decided.append((request, result, hit))
        self._record(decided, started)
        return [
            item for item, (_, result, _) in zip(candidates, decided, strict=True) if result.allowed
        ]

    def _record(
        self,
        decided: Sequence[tuple[AuthorizationRequest, AuthorizationResult, bool]],
        started: float,
    ) -> None:
        """Audit decisions made outside the middleware, in one write; raise if it fails."""
        if not decided:
            return
        request_id = current_request_id() or _generated_request_id()
        lines = [
            self._decision_line(request_id, request, result, hit, started)
            for request, result, hit in decided
        ]
        try:
            self._audit.emit("\n".join(lines))
        except DecisionUnavailableError:
            # The caller gets no answer: say so behind the lines that may still reach the log.
            self._audit.emit_correction(
                "\n".join(
                    self._decision_line(request_id, request, AUDIT_UNAVAILABLE, hit, started)
                    for request, _, hit in decided
                )
            )
            raise

    def _record_unavailable(
        self, requests: Sequence[AuthorizationRequest], reason: str, started: float
    ) -> None:
        """Audit requests that got no decision (503, `reason`), before the caller raises."""
        request_id = current_request_id() or _generated_request_id()
        self._audit.emit_correction(
            "\n".join(
                self._decision_line(request_id, request, reason, False, started)
                for request in requests
            )
        )

    def _outcome_line(
        self,
        request: HttpRequest,
        outcome: Outcome,
        target: _Target | None,
        cache_hit: bool,
        started: float,
    ) -> str:
        """The audit line of one HTTP request's outcome."""
        if target is None:
            # Refused before the target was understood: a bad method or path.
            method_json = quote(request.method[:20])
            path_json = quote(_audit_path(request.target))
            action_json = resource_json = "null"
        else:
            # Also on a refusal after the route matched (401, 503): what was asked for.
            method_json, path_json = target.method_json, target.path_json
            action_json, resource_json = target.action_json, target.resource_json
        result = outcome.result
        allowed = outcome.status == 200
        return audit_line(
            request_id=quote(outcome.request_id),
            service=self._service_json,
            method=method_json,
            path=path_json,
            status=outcome.status,
            decision='"ALLOW"' if allowed else '"DENY"',
            reason=quote_repeated(outcome.reason),
            principal=quote_repeated(outcome.principal.label if outcome.principal else None),
            action=action_json,
            resource=resource_json,
            determining_policies=_policies_json(result.determining_policies) if result else "[]",
            evaluation_errors=len(result.errors) if result else 0,
            cache_hit=cache_hit,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _decision_line(
        self,
        request_id: str,
        request: AuthorizationRequest,
        result: AuthorizationResult | str,
        cache_hit: bool,
        started: float,
    ) -> str:
        """The audit line of one decision made outside the middleware; with the reason
        instead of a `result`, the line of a request that was refused with 503 (no decision,
        or one that could not be recorded)."""
        policies, errors = "[]", 0
        if isinstance(result, str):
            status, decision, reason = 503, '"DENY"', quote_repeated(result)
        else:
            policies, errors = _policies_json(result.determining_policies), len(result.errors)
            if result.allowed:
                status, decision, reason = 200, '"ALLOW"', '"allow"'
            elif result.errors:
                status, decision, reason = 403, '"DENY"', '"evaluation-error"'
            else:
                status, decision, reason = 403, '"DENY"', '"deny"'
        return audit_line(
            request_id=quote(request_id),
            service=self._service_json,
            method='""',
            path='""',
            status=status,
            decision=decision,
            reason=reason,
            principal=quote_repeated(request.principal.label),
            action=quote_repeated(request.action),
            resource=quote(str(request.resource)),
            determining_policies=policies,
            evaluation_errors=errors,
            cache_hit=cache_hit,
            latency_ms=(time.perf_counter() - started) * 1000,
        )


def _loggable(value: object) -> str:
    """`value` as text for a log line: control characters and line breaks (which request
    data such as a path or a token's header can carry) escaped, so that no text can start a
    line of its own, such as a forged audit line."""
    text = str(value)
    if text.isprintable():
        return text
    return repr(text)[1:-1]


@contextlib.contextmanager
def _no_decision_on_failure() -> Iterator[None]:
    """Turn a decision point's own failure (a bug, an answer it cannot read) into no decision:
    the caller of `authorize` or `filter_authorized` handles that one error, and gets it
    after the 503 audit lines, as for an outage."""
    try:
        yield
    except DecisionUnavailableError:
        raise
    except Exception as exc:
        logger.exception("the decision point failed; no decision")
        message = f"the decision point failed ({type(exc).__name__})"
        raise DecisionUnavailableError(message, reason="internal-error") from exc


def _unmapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The address as Cedar's ip() should read it: an IPv4-mapped IPv6 address as IPv4."""
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return str(mapped or address)


def _require_decision_point(candidate: object) -> None:
    """Refuse, when the enforcer is built, a decision point that lacks part of the interface
    (one written before `policies_version` existed would fail every request instead)."""
    if not isinstance(candidate, DecisionPoint):
        message = (
            f"{type(candidate).__name__} is not a DecisionPoint: it needs is_local, "
            "policies_version(), is_authorized() and is_authorized_batch()"
        )
        raise TypeError(message)


def _single(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise AuthenticationError(f"header {name} appears more than once", reason=name)
    return values[0]


def _lattice_values(headers: Mapping[str, Sequence[str]]) -> tuple[str, str, str, str]:
    """The four Lattice headers ("" when absent); a repeated one is malformed (401)."""
    return (
        _single(headers, IDENTITY_HEADER) or "",
        _single(headers, TAGS_HEADER) or "",
        _single(headers, NETWORK_HEADER) or "",
        _single(headers, TARGET_HEADER) or "",
    )


def _request_id(headers: Mapping[str, Sequence[str]]) -> str:
    for name in REQUEST_ID_HEADERS:
        values = headers.get(name)
        if values and len(values) == 1 and _REQUEST_ID.fullmatch(values[0]):
            return values[0]
    return _generated_request_id()


def _generated_request_id() -> str:
    # A random process prefix and a counter: unique without a urandom call per request.
    return f"{_PROCESS_ID}-{next(_REQUEST_COUNTER)}"


def _audit_path(target: str | bytes) -> str:
    """The path as sent, without the query, bounded: for the audit line only."""
    raw = target.decode("latin-1") if isinstance(target, bytes) else target
    return raw.split("?", 1)[0][:512]


_POLICIES_JSON: dict[tuple[str, ...], str] = {}
_POLICIES_JSON_MAX = 1024


def _policies_json(policies: tuple[str, ...]) -> str:
    """The JSON list of determining policy ids; the same few sets repeat on every line."""
    quoted = _POLICIES_JSON.get(policies)
    if quoted is None:
        quoted = "[" + ",".join(quote_repeated(policy) for policy in policies) + "]"
        if len(_POLICIES_JSON) < _POLICIES_JSON_MAX:
            _POLICIES_JSON[policies] = quoted
    return quoted


__all__ = [
    "HEADERS_READ",
    "Enforcer",
    "HttpRequest",
    "Outcome",
    "ResourceEntities",
    "bind_principal",
    "current_principal",
    "unbind_principal",
]
