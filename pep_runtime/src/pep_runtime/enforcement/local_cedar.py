"""Decisions from local Cedar through cedarpy, reading the same `authz/` files as the store.

The schema is always loaded and every policy validated against it, as a STRICT policy store
would. The policy set is parsed once and parsed again only when a file changes (checked at
most every `reload_check_seconds`). If changed files do not load, decisions are unavailable
(503) until they are fixed: the old policies might allow what the new ones were written to
forbid.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy

from pep_runtime.enforcement.config import load_yaml, yaml_kind
from pep_runtime.enforcement.exceptions import DecisionUnavailableError, EnforcementConfigError
from pep_runtime.enforcement.model import (
    AuthorizationRequest,
    AuthorizationResult,
    Decision,
    Principal,
)

logger = logging.getLogger(__name__)

_ENTITY_CACHE_SIZE = 1024
_LINK_KEYS = {"id", "template", "principal", "resource"}


@dataclass(frozen=True, slots=True)
class LoadedPolicies:
    """A parsed schema and policy set, and the file signature they were read from."""

    schema: Any
    policy_set: Any
    policy_ids: Mapping[str, str]
    signature: tuple[tuple[str, int, int, int, int], ...]


def authz_signature(authz_dir: Path) -> tuple[tuple[str, int, int, int, int], ...]:
    """Name, inode, size, mtime and ctime of every file the local decision point reads.

    The ctime and inode catch a change that keeps the size and mtime (`cp -p`, `rsync -t`):
    no one can set a ctime, and a file replaced by a rename has a new inode.
    """
    paths = [authz_dir / "schema.json", authz_dir / "links.yaml"]
    paths += sorted((authz_dir / "policies").glob("*.cedar"))
    paths += sorted((authz_dir / "templates").glob("*.cedar"))
    signature = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        signature.append((str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return tuple(signature)


#: How deep one statement may make Cedar's parser recurse: nested brackets plus chained
#: operators (&&, ||, if, !, + - *, attribute dots). cedarpy crashes the process (a stack
#: overflow, not an error) at a few thousand, and reading its JSON form fails near 1,000.
MAX_PARSE_DEPTH = 400
_PARSE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|//[^\n]*|&&|\|\||\bif\b|[-+*.!;()\[\]{}]')
_CHAINING = frozenset({"&&", "||", "if", "!", "+", "-", "*", "."})


def parse_depth(text: str) -> int:
    """How deep the deepest statement of Cedar text makes the parser recurse, at most: its
    bracket nesting plus its chained operators, strings and comments aside."""
    deepest = depth = chained = 0
    for match in _PARSE_TOKEN.finditer(text):
        piece = match.group()
        if piece in ("(", "[", "{"):
            depth += 1
        elif piece in (")", "]", "}"):
            depth -= 1
        elif piece == ";":
            depth = chained = 0
        elif piece in _CHAINING:
            chained += 1
        deepest = max(deepest, depth + chained)
    return deepest


def load_policies(authz_dir: Path) -> LoadedPolicies:
    """Read schema.json, policies/*.cedar, templates/*.cedar and links.yaml; validate all."""
    signature = authz_signature(authz_dir)
    schema_path = authz_dir / "schema.json"
    try:
        schema_text = schema_path.read_text(encoding="utf-8")
        schema = cedarpy.Schema.from_json_str(schema_text)
    except OSError as exc:
        message = f"{schema_path}: cannot read the Cedar schema ({exc.strerror})"
        raise EnforcementConfigError(message, source=str(schema_path)) from exc
    except ValueError as exc:
        message = f"{schema_path}: not a valid Cedar JSON schema: {exc}"
        raise EnforcementConfigError(message, source=str(schema_path)) from exc

    policy_files = sorted((authz_dir / "policies").glob("*.cedar"))
    template_files = sorted((authz_dir / "templates").glob("*.cedar"))
    if not policy_files:
        message = f"{authz_dir / 'policies'}: no *.cedar files; without policies all is denied"
        raise EnforcementConfigError(message, source=str(authz_dir))
    try:
        text = "\n".join(path.read_text(encoding="utf-8") for path in policy_files + template_files)
    except (OSError, UnicodeDecodeError) as exc:
        message = f"{authz_dir}: cannot read the policy files ({exc})"
        raise EnforcementConfigError(message, source=str(authz_dir)) from exc

    depth = parse_depth(text)
    if depth > MAX_PARSE_DEPTH:
        message = (
            f"{authz_dir}: a policy would make Cedar's parser recurse {depth} deep, more than "
            f"{MAX_PARSE_DEPTH} (nested brackets plus chained &&, ||, if, arithmetic and "
            "attribute dots), which crashes it; split it into smaller policies or conditions"
        )
        raise EnforcementConfigError(message, source=str(authz_dir))
    validation = cedarpy.validate_policies(text, schema)
    if not validation.validation_passed:
        problems = "; ".join(str(error) for error in validation.errors[:5])
        message = f"{authz_dir}: policies do not validate against schema.json: {problems}"
        raise EnforcementConfigError(message, source=str(authz_dir))

    try:
        policy_ids, taken_ids = _policy_ids(text, authz_dir)
    except RecursionError:
        # Deeper than the guard measured: the policies' JSON form is too deep to read.
        message = f"{authz_dir}: a policy is nested too deeply to read; split it"
        raise EnforcementConfigError(message, source=str(authz_dir)) from None
    try:
        policy_set = cedarpy.PolicySet.from_str(text)
        entity_types = _schema_entity_types(schema_text)
        links_path = authz_dir / "links.yaml"
        policy_set = _link_templates(policy_set, links_path, entity_types, taken_ids)
    except (ValueError, KeyError) as exc:
        message = f"{authz_dir}: the policies or template links do not load: {exc}"
        raise EnforcementConfigError(message, source=str(authz_dir)) from exc
    return LoadedPolicies(
        schema=schema, policy_set=policy_set, policy_ids=policy_ids, signature=signature
    )


def _policy_ids(text: str, authz_dir: Path) -> tuple[dict[str, str], set[str]]:
    """Positional static policy id (`policy0`, ...) -> its `@id` annotation, and every id a
    policy or template goes by (positional and `@id`). An `@id` used twice, or naming another
    policy's or template's position, is refused: the audit line would name the wrong policy,
    or a link the wrong template."""
    document = json.loads(cedarpy.policies_to_json_str(text))
    ids: dict[str, str] = {}
    # Templates too: a link names its template by @id, which must not be another's position.
    annotations: dict[str, str] = {}
    for kind in ("staticPolicies", "templates"):
        for positional, policy in document.get(kind, {}).items():
            annotation = policy.get("annotations", {}).get("id")
            if not annotation:
                continue
            if annotation in annotations.values():
                message = (
                    f'{authz_dir}: @id("{annotation}") is used twice; give every policy and '
                    "template its own id"
                )
                raise EnforcementConfigError(message, source=str(authz_dir), field=annotation)
            annotations[positional] = annotation
            if kind == "staticPolicies":
                ids[positional] = annotation
    positional_ids = {
        positional
        for kind in ("staticPolicies", "templates")
        for positional in document.get(kind, {})
    }
    for positional, annotation in annotations.items():
        if annotation in positional_ids and annotation != positional:
            message = (
                f'{authz_dir}: @id("{annotation}") is also the name of another policy (Cedar '
                "names a policy without an @id by its position: policy0, policy1, ...); give "
                "every policy an @id, or this one another"
            )
            raise EnforcementConfigError(message, source=str(authz_dir), field=annotation)
    return ids, positional_ids | set(annotations.values())


def _schema_entity_types(schema_text: str) -> frozenset[str]:
    """Every entity type the (already parsed) JSON schema declares, with its namespace."""
    document = json.loads(schema_text)
    return frozenset(
        f"{namespace}::{name}" if namespace else name
        for namespace, body in document.items()
        for name in body.get("entityTypes", {})
    )


def _link_templates(
    policy_set: Any, links_path: Path, entity_types: frozenset[str], taken: set[str]
) -> Any:
    """Link the templates as links.yaml says; a link's entity types must be the schema's, by
    their full names as `latticework authz validate` asks, and its id must name no policy,
    template or other link (`taken` holds the ids of the policies and templates)."""
    if not links_path.is_file():
        return policy_set
    document = load_yaml(links_path)
    if document is None:
        return policy_set
    if not isinstance(document, list):
        message = (
            f"{links_path}: expected a list of links, found {yaml_kind(document)}; write "
            "- {id: ..., template: ..., principal: {type, id}, resource: {type, id}}"
        )
        raise EnforcementConfigError(message, source=str(links_path))

    links = []
    taken = set(taken)
    for index, entry in enumerate(document):
        where = f"[{index}]"
        _check_keys(links_path, where, entry, required={"id", "template"}, allowed=_LINK_KEYS)
        values = {}
        for slot in ("principal", "resource"):
            entity = entry.get(slot)
            if entity is None:
                continue
            field = f"{where}.{slot}"
            _check_keys(links_path, field, entity, required={"type", "id"}, allowed={"type", "id"})
            entity_type = _text(links_path, f"{field}.type", entity["type"])
            entity_id = _text(links_path, f"{field}.id", entity["id"])
            if entity_type not in entity_types:
                known = ", ".join(sorted(entity_types)[:6])
                message = (
                    f"{links_path}: {field}.type: expected an entity type of the schema by its "
                    f"full name ({known}, ...), found {entity_type}; write it as schema.json "
                    "declares it, namespace included"
                )
                raise EnforcementConfigError(message, source=str(links_path), field=field)
            values[f"?{slot}"] = {"type": entity_type, "id": entity_id}
        link_id = _text(links_path, f"{where}.id", entry["id"])
        if link_id in taken:
            message = (
                f"{links_path}: {where}.id: {link_id} is already the id of a policy, template "
                "or link; give the link an id of its own"
            )
            raise EnforcementConfigError(message, source=str(links_path), field=f"{where}.id")
        taken.add(link_id)
        template_id = _text(links_path, f"{where}.template", entry["template"])
        links.append({"template_id": template_id, "new_id": link_id, "values": values})
    if not links:
        return policy_set
    try:
        return policy_set.with_linked_batch(links)
    except ValueError:
        # Cedar names no link: find the first one that does not link, to name it.
        for index, link in enumerate(links):
            try:
                policy_set.with_linked_batch([link])
            except ValueError as exc:
                message = (
                    f"{links_path}: [{index}]: the link to {link['template_id']} does not "
                    f"link ({exc}); name an existing template's @id and fill each of its "
                    "slots (?principal, ?resource) it has, and only those"
                )
                raise EnforcementConfigError(message, source=str(links_path)) from None
        raise


def _check_keys(
    path: Path, field: str, value: Any, *, required: set[str], allowed: set[str]
) -> None:
    """Refuse a link or entity that is not a mapping with the `required` keys and no others."""
    if isinstance(value, dict) and required <= value.keys() <= allowed:
        return
    if isinstance(value, dict):
        extra = sorted(map(str, value.keys() - allowed))
        found = f"key {extra[0]}" if extra else f"no key {sorted(required - value.keys())[0]}"
    else:
        found = yaml_kind(value)
    expected = "keys " + ", ".join(sorted(required))
    if allowed != required:
        expected += " (and optionally " + ", ".join(sorted(allowed - required)) + ")"
    message = f"{path}: {field}: expected a mapping with {expected}, found {found}; fix the entry"
    raise EnforcementConfigError(message, source=str(path), field=field)


def _text(path: Path, field: str, value: Any) -> str:
    """A link's id, template or entity part: text as written, never a number YAML read."""
    if isinstance(value, str) and value:
        return value
    message = (
        f"{path}: {field}: expected text, found {yaml_kind(value)}; quote the value "
        '(id: "0017"): YAML reads 0017 as the number 15, no as false and 12:30 as 750'
    )
    raise EnforcementConfigError(message, source=str(path), field=field)


class LocalCedarDecisionPoint:
    """A `DecisionPoint` that evaluates the `authz/` files in process with cedarpy."""

    is_local = True

    def __init__(
        self,
        authz_dir: Path,
        *,
        namespace: str,
        reload_check_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._authz_dir = authz_dir
        self._namespace = namespace
        self._action_type = f"{namespace}::Action"
        self._reload_check_seconds = reload_check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._policies = load_policies(authz_dir)
        #: Counts the reloads, so that decisions cached on older policies are not reused.
        self._generation = 0
        self._reload_error: str | None = None
        self._next_check = clock() + reload_check_seconds
        #: Principal cache key -> (policy generation, uid as Cedar JSON, parsed entities).
        self._entities: OrderedDict[str, tuple[LoadedPolicies, dict[str, str], Any]] = OrderedDict()

    def policies_version(self) -> int:
        """The generation of the policy set in use, after looking for changed files if it
        is time to; raises `DecisionUnavailableError` while changed files do not load."""
        self._current()
        return self._generation

    def is_authorized(self, request: AuthorizationRequest) -> AuthorizationResult:
        """Decide one request against the current policy set."""
        return self._decide(self._current(), request)

    def is_authorized_batch(
        self, requests: Sequence[AuthorizationRequest]
    ) -> list[AuthorizationResult]:
        """Decide requests one cedarpy call per principal, keeping their order."""
        policies = self._current()
        results: list[AuthorizationResult] = []
        for request in requests:
            results.append(self._decide(policies, request))
        return results

    def _decide(
        self, policies: LoadedPolicies, request: AuthorizationRequest
    ) -> AuthorizationResult:
        try:
            principal_uid, entities = self._parsed_principal(policies, request.principal)
            cedar_request: dict[str, Any] = {
                "principal": principal_uid,
                "action": {"type": self._action_type, "id": request.action},
                "resource": request.resource.to_cedar_json(),
            }
            if request.context:
                # Left out when empty: Cedar then takes the empty record without a JSON trip.
                cedar_request["context"] = dict(request.context)
            if request.entities:
                extra = json.dumps([dict(entity) for entity in request.entities])
                entities = entities.with_added_json_str(extra, policies.schema)
            answer = cedarpy.is_authorized(
                cedar_request, policies.policy_set, entities, schema=policies.schema
            )
        except (ValueError, TypeError, KeyError) as exc:
            # Entities or request that do not fit the schema: a deny that names the error.
            return AuthorizationResult(decision=Decision.DENY, errors=(str(exc),))

        decision = Decision.ALLOW if answer.decision == cedarpy.Decision.Allow else Decision.DENY
        diagnostics = answer.diagnostics
        # A static policy is named by its @id; a template-linked policy by its link id.
        ids = policies.policy_ids
        determining = tuple([ids.get(reason, reason) for reason in diagnostics.reasons])
        errors = diagnostics.errors
        return AuthorizationResult(
            decision, determining, tuple([str(error) for error in errors]) if errors else ()
        )

    def _parsed_principal(
        self, policies: LoadedPolicies, principal: Principal
    ) -> tuple[dict[str, str], Any]:
        """The principal's uid in Cedar JSON and its entities, parsed once per principal and
        policy generation."""
        key = principal.cache_key
        with self._lock:
            cached = self._entities.get(key)
            if cached is not None and cached[0] is policies:
                self._entities.move_to_end(key)
                return cached[1], cached[2]

        uid = principal.uid.to_cedar_json()
        entities = cedarpy.Entities.from_json_str(
            json.dumps(principal.cedar_entities()), policies.schema
        )
        with self._lock:
            self._entities[key] = (policies, uid, entities)
            self._entities.move_to_end(key)
            while len(self._entities) > _ENTITY_CACHE_SIZE:
                self._entities.popitem(last=False)
        return uid, entities

    def _current(self) -> LoadedPolicies:
        now = self._clock()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check:
                    self._next_check = now + self._reload_check_seconds
                    self._reload_if_changed()
        if self._reload_error is not None:
            message = f"the authz/ files do not load: {self._reload_error}"
            raise DecisionUnavailableError(message, reason="policies-unloadable")
        return self._policies

    def _reload_if_changed(self) -> None:
        try:
            signature = authz_signature(self._authz_dir)
            if signature == self._policies.signature and self._reload_error is None:
                return
            policies = load_policies(self._authz_dir)
        except Exception as exc:
            # Whatever the failure: deciding with the old policies could allow what the change
            # was written to forbid.
            if self._reload_error is None:
                logger.error("authz/ files changed and no longer load; denying all: %s", exc)
            self._reload_error = str(exc) or type(exc).__name__
            return
        self._policies = policies
        self._generation += 1
        self._reload_error = None
        self._entities.clear()
        logger.info("reloaded the authz/ files from %s", self._authz_dir)


__all__ = ["LoadedPolicies", "LocalCedarDecisionPoint", "authz_signature", "load_policies"]
