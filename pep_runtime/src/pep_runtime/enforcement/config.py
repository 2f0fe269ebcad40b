"""Configuration: one YAML file plus the environment variables the infrastructure sets.

The file holds the route table (the catalog's `routes` shape), the cache, the identity
source and the local-mode paths; the environment says which service this is, which policy
store and region to ask, the mode, whether Lattice headers are trusted and which task roles
belong to which catalog services.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import yaml

from pep_runtime.enforcement.audit import AUDIT_DESTINATIONS
from pep_runtime.enforcement.exceptions import EnforcementConfigError
from pep_runtime.enforcement.routes import (
    ResourceTemplate,
    RouteRule,
    ambiguous_overlap,
    id_template_problem,
    is_param_segment,
    template_params,
    template_segments,
)

MODE_VERIFIED_PERMISSIONS = "verified-permissions"
MODE_LOCAL = "local"
DEFAULT_NAMESPACE = "Latticework"
#: The environment variable naming the PEP config file, and its default.
PEP_CONFIG_ENV = "LATTICEWORK_PEP_CONFIG"
DEFAULT_PEP_CONFIG = "pep.yaml"

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,=:@-]+")
# Ceilings of the intervals after which a decision, the policy files or the JWKS are looked at
# again: kept for ever, none of them would ever see a revoke.
_HOUR = 3600
_DAY = 86400
#: A catalog service's name, as the platform names ECS services and Lattice services.
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]{0,23}")
_ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):"
    # An IAM path is `/`, or `/` + printable ASCII but space + `/`, 512 at most; the ARN
    # leaves out its first `/`.
    r"role/(?:[\x21-\x7e]{1,510}/)?(?P<name>[\w+=,.@-]{1,64})",
    re.ASCII,  # IAM's names and account ids are ASCII; \w and \d would take any script's
)
_TOKEN_USES = frozenset({"id", "access"})
_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: The hosts a JWKS may be fetched from over plain http: this machine, as tests and dev serve.
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: Context attributes the enforcement point can fill from the verified request.
REQUEST_CONTEXT_FIELDS = frozenset({"sourceIp", "scopes"})
_TOP_LEVEL_KEYS = {
    "namespace", "routes", "cache", "local", "identitySource", "verifiedPermissions",
    "requestContext", "audit",
}  # fmt: skip
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})
#: Integers longer than this are shown as "a number of more than 20 digits": no count or
#: interval is that long, and Python will not turn one of thousands of digits into text.
_SHOWN_DIGITS = 20


@dataclass(frozen=True, slots=True)
class _NameShape:
    """What a name in the file must look like: the pattern, and the same in words with the fix."""

    pattern: re.Pattern[str]
    expected: str
    fix: str


_CEDAR_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*")
_CEDAR_IDENTIFIERS = "letters, digits and _, a digit never first, :: between names"
_NAMESPACE = _NameShape(
    _CEDAR_TYPE,
    f"a Cedar namespace such as Latticework or Acme::Orders ({_CEDAR_IDENTIFIERS})",
    "write the namespace of the policy store's schema, or leave namespace out for Latticework",
)
_ACTION = _NameShape(
    re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,199}"),
    "a Cedar action name such as GetOrder (letters, digits and _.:-, at most 200, a letter or "
    "_ first)",
    "write the action as the schema names it",
)
_ENTITY_TYPE = _NameShape(
    _CEDAR_TYPE,
    f"a Cedar entity type such as Order or Latticework::Order ({_CEDAR_IDENTIFIERS})",
    "write the type as the schema names it (a bare one gets the namespace)",
)


@dataclass(frozen=True, slots=True)
class IdentitySourceConfig:
    """Where bearer JWTs come from and what a valid one looks like."""

    jwks_url: str
    issuer: str
    audiences: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()
    token_use: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    groups_claim: str = "cognito:groups"
    leeway_seconds: int = 0
    jwks_cache_seconds: int = 300


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The decision cache: entries live `ttl_seconds`, at most `max_entries` of them."""

    ttl_seconds: float = 5.0
    max_entries: int = 10_000


_DEFAULT_CACHE = CacheConfig()


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """Where the audit lines go: `stdout` (the default), `stderr` or `logging`."""

    destination: str = "stdout"


@dataclass(frozen=True, slots=True)
class LocalCedarConfig:
    """Local mode: the authz/ directory and how often to look for changed files."""

    authz_dir: Path
    reload_check_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class VerifiedPermissionsConfig:
    """Verified Permissions mode: the store, the region and botocore's timeouts and retries."""

    policy_store_id: str
    region: str
    connect_timeout_seconds: float = 1.0
    read_timeout_seconds: float = 2.0
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class EnforcementConfig:
    """Everything the enforcement point needs, validated."""

    service_name: str
    mode: str
    routes: tuple[RouteRule, ...]
    namespace: str = DEFAULT_NAMESPACE
    behind_lattice: bool = False
    caller_roles: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
    identity_source: IdentitySourceConfig | None = None
    cache: CacheConfig = CacheConfig()
    local: LocalCedarConfig | None = None
    verified_permissions: VerifiedPermissionsConfig | None = None
    request_context: tuple[str, ...] = ()
    audit: AuditConfig = AuditConfig()

    def qualify(self, entity_type: str) -> str:
        """Prefix a bare entity type with the namespace."""
        return entity_type if "::" in entity_type else f"{self.namespace}::{entity_type}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            # `<<: *anchor`: keys written beside it override the merged ones, as YAML says.
            continue
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            mark = key_node.start_mark
            message = f"a key must be a plain value, not a {key_node.id}, at line {mark.line + 1}"
            raise yaml.constructor.ConstructorError(None, None, message, mark)
        if key in seen:
            mark = key_node.start_mark
            message = f"duplicate key {key!r} at line {mark.line + 1}"
            raise yaml.constructor.ConstructorError(None, None, message, mark)
        seen.add(key)
    loader.flatten_mapping(node)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def load_yaml(path: Path) -> Any:
    """Read a YAML file with duplicate keys refused; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        message = f"{path}: cannot read the file ({exc.strerror}); check the path"
        raise EnforcementConfigError(message, source=str(path)) from exc
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        message = (
            f"{path}: not UTF-8 text (byte 0x{byte:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        )
        raise EnforcementConfigError(message, source=str(path)) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        message = f"{path}: not valid YAML: {exc}"
        raise EnforcementConfigError(message, source=str(path)) from exc
    except RecursionError:
        # PyYAML reads nested collections recursively; no real config comes near the limit.
        message = f"{path}: not valid YAML: nested too deeply to read; flatten the file"
        raise EnforcementConfigError(message, source=str(path)) from None
    except ValueError as exc:
        # PyYAML builds numbers with int() and dates with datetime, which refuse an integer of
        # thousands of digits and a date that does not exist; what follows a ';' is Python's.
        reason = str(exc).partition(";")[0]
        message = (
            f"{path}: not valid YAML: a number or date that cannot be read ({reason}); "
            "correct it, or quote it if it is text"
        )
        raise EnforcementConfigError(message, source=str(path)) from None


def config_path_from_environment(environ: Mapping[str, str] | None = None) -> Path:
    """The PEP config file `LATTICEWORK_PEP_CONFIG` names (default `pep.yaml` in the working
    directory); raises `EnforcementConfigError` naming the variable when it does not exist."""
    env = os.environ if environ is None else environ
    value = env.get(PEP_CONFIG_ENV, "").strip()
    path = Path(value or DEFAULT_PEP_CONFIG)
    if path.is_dir():
        message = (
            f"the PEP config file {path} is a directory, not a file ({PEP_CONFIG_ENV}="
            f"{value!r}); set {PEP_CONFIG_ENV} to the path of the PEP's YAML config"
        )
        raise EnforcementConfigError(message, source=PEP_CONFIG_ENV)
    if not path.is_file():
        found = (
            f"{PEP_CONFIG_ENV}={value!r}"
            if value
            else f"{PEP_CONFIG_ENV} is not set, so the default {DEFAULT_PEP_CONFIG}"
        )
        message = (
            f"the PEP config file {path} does not exist ({found}, working directory "
            f"{Path.cwd()}); set {PEP_CONFIG_ENV} to the path of the PEP's YAML config"
        )
        raise EnforcementConfigError(message, source=PEP_CONFIG_ENV)
    return path


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> EnforcementConfig:
    """Load and validate the config file and the `LATTICEWORK_*` environment variables."""
    config_path = Path(path)
    document = load_yaml(config_path)
    return config_from_document(
        document,
        source=str(config_path),
        base_dir=config_path.parent,
        environ=os.environ if environ is None else environ,
    )


def config_from_document(
    document: Any, *, source: str, base_dir: Path, environ: Mapping[str, str]
) -> EnforcementConfig:
    """Validate an already parsed config document together with the environment."""
    reader = _Reader(source)
    root = reader.mapping(document, "", required=True)
    reader.only_keys(root, "", _TOP_LEVEL_KEYS)

    namespace = reader.string(root, "namespace", default=DEFAULT_NAMESPACE, shape=_NAMESPACE)
    routes = _routes(reader, root.get("routes"), namespace)
    cache = _cache(reader, root.get("cache"))
    identity_source = _identity_source(reader, root.get("identitySource"))
    audit = _audit(reader, root.get("audit"))
    request_context = reader.strings(root, "requestContext", "")
    unknown = sorted(set(request_context) - REQUEST_CONTEXT_FIELDS)
    if unknown:
        known = ", ".join(sorted(REQUEST_CONTEXT_FIELDS))
        reader.fail(
            "requestContext", f"names from {known}", ", ".join(unknown), "remove the others"
        )

    env = _Reader("environment")
    service_name = environ.get("LATTICEWORK_SERVICE_NAME", "")
    if not service_name:
        env.fail("LATTICEWORK_SERVICE_NAME", "the service's catalog name", "nothing")
    if not _SERVICE_NAME.fullmatch(service_name):
        expected = "the service's catalog name (a-z, 0-9 and -, at most 24, a letter first)"
        env.fail("LATTICEWORK_SERVICE_NAME", expected, service_name)
    mode = environ.get("LATTICEWORK_PEP_MODE", MODE_VERIFIED_PERMISSIONS)
    if mode not in {MODE_VERIFIED_PERMISSIONS, MODE_LOCAL}:
        env.fail("LATTICEWORK_PEP_MODE", f"{MODE_VERIFIED_PERMISSIONS!r} or {MODE_LOCAL!r}", mode)
    behind_lattice = _boolean(env, environ, "LATTICEWORK_BEHIND_LATTICE")
    caller_roles = _caller_roles(env, environ.get("LATTICEWORK_CALLER_ROLES", ""))

    local = _local(reader, root.get("local"), base_dir, required=mode == MODE_LOCAL)
    # Checked in either mode, so that a bad setting fails where it is written.
    vp_settings = _verified_permissions_settings(reader, root)
    verified_permissions = None
    if mode == MODE_VERIFIED_PERMISSIONS:
        verified_permissions = _verified_permissions(env, environ, vp_settings)

    return EnforcementConfig(
        service_name=service_name,
        mode=mode,
        routes=routes,
        namespace=namespace,
        behind_lattice=behind_lattice,
        caller_roles=caller_roles,
        identity_source=identity_source,
        cache=cache,
        local=local,
        verified_permissions=verified_permissions,
        request_context=request_context,
        audit=audit,
    )


class _Reader:
    """Typed access to a parsed document; every error names the source and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, expected: str, found: Any, fix: str = "") -> NoReturn:
        # A string (the value found, or what was found in words) is shown bare unless
        # something in it (blank space, a control or an invisible character) would go unseen;
        # any other value as YAML writes it.
        if not isinstance(found, str):
            shown = yaml_kind(found)
        elif found.isprintable() and found == found.strip() != "":
            shown = found
        else:
            shown = repr(found)
        message = f"{self.source}: {field}: expected {expected}, found {shown}"
        if fix:
            message += f"; {fix}"
        raise EnforcementConfigError(message, source=self.source, field=field)

    def mapping(self, value: Any, field: str, *, required: bool = False) -> dict[str, Any]:
        if value is None and not required:
            return {}
        if value is None:
            self.fail(field or "(top level)", "a mapping", "nothing" if field else "an empty file")
        if not isinstance(value, dict):
            self.fail(field or "(top level)", "a mapping", yaml_kind(value))
        return value

    def only_keys(self, mapping: Mapping[str, Any], field: str, allowed: set[str]) -> None:
        unknown = sorted(str(key) for key in mapping if key not in allowed)
        if unknown:
            where = f"{field}." if field else ""
            self.fail(
                f"{where}{unknown[0]}", f"one of {sorted(allowed)}", "an unknown key", "remove it"
            )

    def string(
        self,
        mapping: Mapping[str, Any],
        key: str,
        *,
        field: str = "",
        default: str | None = None,
        shape: _NameShape | None = None,
    ) -> str:
        where = f"{field}.{key}" if field else key
        value = mapping.get(key, default)
        if not isinstance(value, str) or not value:
            self.fail(
                where, "a non-empty string", yaml_kind(value) if key in mapping else "nothing"
            )
        if shape is not None and not shape.pattern.fullmatch(value):
            self.fail(where, shape.expected, value, shape.fix)
        return value

    def number(
        self,
        mapping: Mapping[str, Any],
        key: str,
        field: str,
        default: float,
        minimum: float,
        maximum: float = math.inf,
    ) -> float:
        value = mapping.get(key, default)
        number = _finite_number(value)
        if number is None or not minimum <= number <= maximum:
            bounds = f">= {minimum}" if maximum == math.inf else f"from {minimum} to {maximum}"
            # Through _kind, so that "5" is shown as the string '5', not as the number 5.
            found = yaml_kind(value)
            self.fail(f"{field}.{key}", f"a finite number {bounds}", found, f"such as {default}")
        return number

    def whole_number(
        self,
        mapping: Mapping[str, Any],
        key: str,
        field: str,
        default: int,
        minimum: int,
        maximum: float = math.inf,
    ) -> int:
        """A count (of seconds, entries, attempts): a fraction is refused, never cut down."""
        value = self.number(mapping, key, field, default, minimum, maximum)
        if value != int(value):
            bounds = f">= {minimum}" if maximum == math.inf else f"from {minimum} to {maximum}"
            self.fail(f"{field}.{key}", f"a whole number {bounds}", value, f"such as {default}")
        return int(value)

    def strings(self, mapping: Mapping[str, Any], key: str, field: str) -> tuple[str, ...]:
        value = mapping.get(key, [])
        where = f"{field}.{key}" if field else key
        if not isinstance(value, list):
            fix = "write a YAML list, such as [first, second]"
            self.fail(where, "a list of non-empty strings", yaml_kind(value), fix)
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                fix = "write the entry as text, or remove it"
                self.fail(f"{where}[{index}]", "a non-empty string", item, fix)
        return tuple(value)


def _routes(reader: _Reader, value: Any, namespace: str) -> tuple[RouteRule, ...]:
    if not isinstance(value, list) or not value:
        found = "nothing" if value is None else yaml_kind(value)
        reader.fail(
            "routes", "a non-empty list of routes", found, "list every route the app serves"
        )

    rules: list[RouteRule] = []
    shapes: dict[tuple[str, tuple[str | None, ...]], str] = {}
    # The earlier routes' fields and paths by method and number of segments: only routes of
    # one group can share a path, so the pairwise overlap check stays within each group.
    earlier_by_shape: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for index, entry in enumerate(value):
        field = f"routes[{index}]"
        route = reader.mapping(entry, field, required=True)
        reader.only_keys(route, field, {"method", "path", "action", "resource", "public"})
        method = reader.string(route, "method", field=field).upper()
        if method == "HEAD":
            reader.fail(
                f"{field}.method",
                "a method other than HEAD",
                route["method"],
                "the GET rule of its path decides HEAD, as web frameworks answer HEAD with the "
                "GET handler; remove this rule",
            )
        if method not in _METHODS:
            reader.fail(
                f"{field}.method", f"one of {sorted(_METHODS)}", route["method"], "use one of them"
            )
        path = reader.string(route, "path", field=field)
        _check_path_template(reader, f"{field}.path", path)

        shape = (method, tuple(None if is_param_segment(s) else s for s in template_segments(path)))
        if shape in shapes:
            reader.fail(
                f"{field}.path",
                "a route unlike the others",
                f"the same as {shapes[shape]}",
                "remove one of the two, or tell their paths apart",
            )
        shapes[shape] = f"{field} ({method} {path})"
        group = earlier_by_shape.setdefault((method, len(shape[1])), [])
        _check_no_ambiguous_overlap(reader, field, method, path, group)
        group.append((field, path))

        public = route.get("public", False)
        if not isinstance(public, bool):
            quoted = " without quotes" if isinstance(public, str) else ""
            reader.fail(
                f"{field}.public",
                "true or false",
                yaml_kind(public),
                f"write true or false{quoted}",
            )
        if public:
            if "action" in route or "resource" in route:
                reader.fail(field, "a public route without action or resource", "both")
            rules.append(RouteRule(method=method, path=path, public=True))
            continue

        action = reader.string(route, "action", field=field, shape=_ACTION)
        resource = reader.mapping(route.get("resource"), f"{field}.resource", required=True)
        reader.only_keys(resource, f"{field}.resource", {"type", "id"})
        resource_type = reader.string(
            resource, "type", field=f"{field}.resource", shape=_ENTITY_TYPE
        )
        id_template = reader.string(resource, "id", field=f"{field}.resource")
        problem = id_template_problem(id_template, template_params(path))
        if problem:
            reader.fail(
                f"{field}.resource.id",
                "literal text and {param} placeholders of the path, a '/' between any two",
                problem,
                "name path parameters only, and put a '/' between two placeholders, as in "
                "{tenantId}/{orderId} (no path value holds a '/')",
            )
        qualified = resource_type if "::" in resource_type else f"{namespace}::{resource_type}"
        template = ResourceTemplate(type=qualified, id_template=id_template)
        rules.append(RouteRule(method=method, path=path, action=action, resource=template))
    return tuple(rules)


def _check_no_ambiguous_overlap(
    reader: _Reader, field: str, method: str, path: str, earlier: list[tuple[str, str]]
) -> None:
    for earlier_field, earlier_path in earlier:
        shared = ambiguous_overlap(earlier_path, path)
        if shared is None:
            continue

        found = (
            f"{earlier_field} ({method} {earlier_path}) and {field} ({method} {path}) both "
            f"match {method} {shared}, and each is more specific than the other at some segment"
        )
        fix = (
            "change a path so that no request matches both, or so that one route has a "
            "literal wherever the other has one (the PEP then picks that route; declare it "
            "first in the app so the framework does too)"
        )
        reader.fail(f"{field}.path", "one most specific route for every request", found, fix)


def _check_path_template(reader: _Reader, field: str, path: str) -> None:
    if not path.startswith("/"):
        reader.fail(field, "a path starting with '/'", path, f"write /{path}")
    if path == "/":
        return
    params: list[str] = []
    segments = template_segments(path)
    if len(segments) > 1 and segments[-1] == "":
        # A final slash is part of the route (`/reports/` is not `/reports`), as for the app.
        segments.pop()
    for segment in segments:
        if is_param_segment(segment):
            name = segment[1:-1]
            if name in params:
                reader.fail(field, "each {param} once", f"{segment} twice")
            params.append(name)
        elif not _LITERAL_SEGMENT.fullmatch(segment) or segment in {".", ".."}:
            reader.fail(
                field,
                "segments that are {param} or plain unreserved characters (no empty segment "
                "but a final slash)",
                f"segment {segment!r} of {path}",
                "write the path as the app routes it: a {name} placeholder is a whole segment, "
                "other segments letters, digits and -._~",
            )


def _cache(reader: _Reader, value: Any) -> CacheConfig:
    cache = reader.mapping(value, "cache")
    reader.only_keys(cache, "cache", {"ttlSeconds", "maxEntries"})
    ttl = reader.number(cache, "ttlSeconds", "cache", _DEFAULT_CACHE.ttl_seconds, 0, _HOUR)
    max_entries = reader.whole_number(cache, "maxEntries", "cache", _DEFAULT_CACHE.max_entries, 0)
    return CacheConfig(ttl_seconds=ttl, max_entries=max_entries)


def _audit(reader: _Reader, value: Any) -> AuditConfig:
    fix = "write audit: {destination: stdout} (a container's log driver collects it)"
    fix += f", or {' or '.join(AUDIT_DESTINATIONS[1:])}"
    if value is not None and not isinstance(value, dict):
        reader.fail("audit", "a mapping", value, fix)
    audit = reader.mapping(value, "audit")
    reader.only_keys(audit, "audit", {"destination"})
    destination = audit.get("destination", "stdout")
    if not isinstance(destination, str) or destination not in AUDIT_DESTINATIONS:
        reader.fail(
            "audit.destination", f"one of {', '.join(AUDIT_DESTINATIONS)}", destination, fix
        )
    return AuditConfig(destination=destination)


def _identity_source(reader: _Reader, value: Any) -> IdentitySourceConfig | None:
    if value is None:
        return None
    field = "identitySource"
    source = reader.mapping(value, field, required=True)
    allowed = {
        "jwksUrl", "issuer", "audiences", "clientIds", "tokenUse", "algorithms",
        "groupsClaim", "leewaySeconds", "jwksCacheSeconds",
    }  # fmt: skip
    reader.only_keys(source, field, allowed)
    jwks_url = _jwks_url(reader, reader.string(source, "jwksUrl", field=field), field)
    issuer = reader.string(source, "issuer", field=field)
    _refuse_blanks(reader, f"{field}.issuer", issuer, "the issuer (iss) the tokens carry")
    audiences = reader.strings(source, "audiences", field)
    client_ids = reader.strings(source, "clientIds", field)
    if not audiences and not client_ids:
        reader.fail(field, "audiences or clientIds", "neither", "name who the tokens are for")
    token_use = source.get("tokenUse")
    if token_use is not None and (not isinstance(token_use, str) or token_use not in _TOKEN_USES):
        fix = "write access or id, or leave tokenUse out to go by each token's token_use claim"
        reader.fail(f"{field}.tokenUse", "id or access", token_use, fix)
    algorithms = _algorithms(reader, source, field)
    groups_claim = reader.string(source, "groupsClaim", field=field, default="cognito:groups")
    # For clock skew only: more would accept tokens long expired.
    leeway = reader.whole_number(source, "leewaySeconds", field, 0, 0, maximum=300)
    cache_seconds = reader.whole_number(source, "jwksCacheSeconds", field, 300, 1, maximum=_DAY)
    return IdentitySourceConfig(
        jwks_url=jwks_url,
        issuer=issuer,
        audiences=audiences,
        client_ids=client_ids,
        token_use=token_use,
        algorithms=algorithms,
        groups_claim=groups_claim,
        leeway_seconds=leeway,
        jwks_cache_seconds=cache_seconds,
    )


def _algorithms(reader: _Reader, source: Mapping[str, Any], field: str) -> tuple[str, ...]:
    """The JWS algorithms tokens may be signed with: RS256 unless listed, asymmetric only."""
    if "algorithms" not in source:
        return ("RS256",)

    where = f"{field}.algorithms"
    fix = "list what the identity source signs with, such as [RS256] (Cognito)"
    algorithms = reader.strings(source, "algorithms", field)
    if not algorithms:
        reader.fail(where, "at least one algorithm", "an empty list", f"{fix}, or leave it out")
    bad = [name for name in algorithms if name not in _ALGORITHMS]
    if bad:
        expected = f"asymmetric JWS algorithms ({', '.join(sorted(_ALGORITHMS))})"
        reader.fail(where, expected, ", ".join(bad), fix)
    return algorithms


def _refuse_blanks(reader: _Reader, field: str, value: str, expected: str) -> None:
    """Refuse blank space or control characters in a URL-like value: they are never part of
    it, and would make every token fail at run time rather than the config at load."""
    if not value.isprintable() or " " in value:
        fix = "remove the blank space and control characters (percent-encode any the URL has)"
        reader.fail(field, expected, value, fix)


def _jwks_url(reader: _Reader, jwks_url: str, field: str) -> str:
    """An https URL with a host, or plain http to this machine's loopback (local tests)."""
    field = f"{field}.jwksUrl"
    expected = "an https:// URL (plain http:// only to localhost, 127.0.0.1 or [::1])"
    authority = re.split(r"[/?#]", jwks_url.partition("://")[2], maxsplit=1)[0]
    if "@" in authority:
        # Not echoed: what stands before the @ can be a password.
        found = "a user name or password before '@'"
        reader.fail(field, expected, found, "remove it: a JWKS is public and needs none")
    # urlsplit drops blank space at the ends and tabs and newlines inside, so the URL would
    # pass the checks below and then fail at the first fetch.
    _refuse_blanks(reader, field, jwks_url, expected)

    try:
        parsed = urlsplit(jwks_url)
        parsed.port  # noqa: B018 - read only to have a bad port raise ValueError here
    except ValueError:
        reader.fail(field, expected, jwks_url, "write the identity source's JWKS URL")
    hostname = (parsed.hostname or "").lower()
    scheme = parsed.scheme.lower()
    if not hostname or scheme not in {"https", "http"}:
        reader.fail(field, expected, jwks_url, "write the identity source's JWKS URL")
    if scheme == "http" and hostname not in _LOOPBACK_HOSTS:
        fix = "use https: tokens verified against keys fetched in clear can be forged"
        reader.fail(field, expected, jwks_url, fix)
    return jwks_url


def _local(
    reader: _Reader, value: Any, base_dir: Path, *, required: bool
) -> LocalCedarConfig | None:
    local = reader.mapping(value, "local")
    reader.only_keys(local, "local", {"authzDir", "reloadCheckSeconds"})
    if not local and not required:
        return None
    authz_dir = Path(reader.string(local, "authzDir", field="local", default="authz"))
    if not authz_dir.is_absolute():
        authz_dir = base_dir / authz_dir
    if required and not (authz_dir / "schema.json").is_file():
        reader.fail("local.authzDir", "a directory with schema.json", str(authz_dir))
    interval = reader.number(local, "reloadCheckSeconds", "local", 2.0, 0, maximum=_HOUR)
    return LocalCedarConfig(authz_dir=authz_dir, reload_check_seconds=interval)


def _verified_permissions_settings(reader: _Reader, root: Mapping[str, Any]) -> dict[str, Any]:
    """The `verifiedPermissions` block's botocore timeouts and attempts, validated."""
    field = "verifiedPermissions"
    settings = reader.mapping(root.get(field), field)
    reader.only_keys(
        settings, field, {"connectTimeoutSeconds", "readTimeoutSeconds", "maxAttempts"}
    )
    return {
        # A decision holds its request for up to attempts x (connect + read) and back-off:
        # bounded so that no setting holds a request past a few minutes.
        "connect_timeout_seconds": reader.number(
            settings, "connectTimeoutSeconds", field, 1.0, 0.01, maximum=10
        ),
        "read_timeout_seconds": reader.number(
            settings, "readTimeoutSeconds", field, 2.0, 0.01, maximum=30
        ),
        "max_attempts": reader.whole_number(settings, "maxAttempts", field, 3, 1, maximum=5),
    }


def _verified_permissions(
    env: _Reader, environ: Mapping[str, str], settings: Mapping[str, Any]
) -> VerifiedPermissionsConfig:
    store_id = environ.get("LATTICEWORK_POLICY_STORE_ID", "")
    if not re.fullmatch(r"[a-zA-Z0-9-/_]{1,200}", store_id):
        env.fail(
            "LATTICEWORK_POLICY_STORE_ID",
            "a Verified Permissions policy store id",
            store_id or "nothing",
            "the infrastructure sets it; set it to the store's id (PS...) when running elsewhere",
        )
    region = environ.get("AWS_REGION", "")
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
        env.fail(
            "AWS_REGION",
            "an AWS region such as eu-west-1",
            region or "nothing",
            "set it to the policy store's region",
        )
    return VerifiedPermissionsConfig(policy_store_id=store_id, region=region, **settings)


def yaml_kind(value: Any) -> str:
    """A parsed YAML value in YAML's words: a scalar as YAML writes it (null, true, 5, .nan,
    the string '5'), a collection by its kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 10**_SHOWN_DIGITS:
        return f"a number of more than {_SHOWN_DIGITS} digits"
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    return f"a {type(value).__name__}"


def _finite_number(value: Any) -> float | None:
    """A YAML number as a float; None for any other value, NaN, an infinity or an integer too
    large for a float (NaN compares false with every bound, so it would pass them all)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words (objects are parsed as tuples of pairs)."""
    if isinstance(value, tuple):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    return "null" if value is None else f"the JSON value {json.dumps(value)}"


def _boolean(env: _Reader, environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "false").strip().lower()
    if value not in _TRUE | _FALSE:
        env.fail(name, "true or false", value)
    return value in _TRUE


def _caller_roles(env: _Reader, text: str) -> dict[tuple[str, str, str], str]:
    """Parse `LATTICEWORK_CALLER_ROLES` into (partition, account, role name) -> service name."""
    name = "LATTICEWORK_CALLER_ROLES"
    if not text.strip():
        return {}
    expected = "a JSON object of task role ARN -> service name"
    fix = 'write {"arn:aws:iam::<account>:role/<name>": "<service>", ...}'
    try:
        # Objects as tuples of pairs, so that a key given twice is seen, not overwritten.
        pairs = json.loads(text, object_pairs_hook=tuple)
    except RecursionError:
        # json reads nested arrays and objects recursively; no role map comes near the limit.
        env.fail(name, expected, "JSON nested too deeply to read", fix)
    except json.JSONDecodeError:
        env.fail(name, expected, "text that is not JSON", fix)
    except ValueError:
        # Valid JSON, but a number of more digits than int() converts.
        env.fail(name, expected, "a number too long to read", fix)
    if not isinstance(pairs, tuple):
        env.fail(name, expected, _json_kind(pairs), fix)

    roles: dict[tuple[str, str, str], str] = {}
    arns: dict[tuple[str, str, str], str] = {}  # keyed on the role name in lower case
    for role_arn, service in pairs:
        match = _ROLE_ARN.fullmatch(role_arn)
        if match is None:
            env.fail(
                f"{name}[{role_arn!r}]",
                "an IAM role ARN arn:aws:iam::<account>:role/[<path>/]<name>",
                role_arn,
                "copy the task role's ARN as IAM shows it (a 12-digit account; a path of "
                "printable ASCII without blank space)",
            )
        if not isinstance(service, str) or not _SERVICE_NAME.fullmatch(service):
            found = service if isinstance(service, str) else _json_kind(service)
            env.fail(f"{name}[{role_arn!r}]", "a catalog service name", found)
        role = (match.group("partition"), match.group("account"), match.group("name"))
        # A role name is unique in its account whatever its path and case (IAM refuses
        # Orders next to orders): two entries for it mean one is wrong.
        same_role = (role[0], role[1], role[2].lower())
        if same_role in arns:
            env.fail(
                f"{name}[{role_arn!r}]",
                f"one entry per role (partition {role[0]}, account {role[1]}, role {role[2]})",
                f"a second entry for it after {arns[same_role]}",
                "keep only the task role's ARN, written as IAM shows it",
            )
        arns[same_role] = role_arn
        roles[role] = service
    return roles


__all__ = [
    "AUDIT_DESTINATIONS",
    "MODE_LOCAL",
    "MODE_VERIFIED_PERMISSIONS",
    "REQUEST_CONTEXT_FIELDS",
    "AuditConfig",
    "CacheConfig",
    "EnforcementConfig",
    "IdentitySourceConfig",
    "LocalCedarConfig",
    "VerifiedPermissionsConfig",
    "config_from_document",
    "load_config",
    "load_yaml",
    "yaml_kind",
]
