"""The checks behind gates 2 and 4: protected resources and a deployed environment's health.

Gate 2 stops when a preview would replace or delete a resource whose loss loses data or
identity (a policy store, a secret, a KMS key, a service network, ...). Gate 4 checks that
every output the program exports is present after `up`, and that each health URL of the
environment answers 2xx.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from latticework.engine import EngineResult, ResourceChange, StackOutput

logger = logging.getLogger(__name__)

#: Resource types that a rollout never replaces or deletes without `--allow-replace`:
#: replacing them loses data (secrets, keys, logs), identity (the ids and DNS names callers
#: and policies refer to) or every Cedar policy at once.
PROTECTED_RESOURCE_TYPES = frozenset(
    {
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ec2/vpc:Vpc",
        "aws:ecs/cluster:Cluster",
        "aws:kms/key:Key",
        "aws:secretsmanager/secret:Secret",
        "aws:verifiedpermissions/policyStore:PolicyStore",
        "aws:verifiedpermissions/identitySource:IdentitySource",
        "aws:vpclattice/service:Service",
        "aws:vpclattice/serviceNetwork:ServiceNetwork",
    }
)


def protected_changes(result: EngineResult) -> tuple[ResourceChange, ...]:
    """The steps of `result` that would replace or delete a protected resource."""
    return tuple(
        change
        for change in result.changes
        if change.is_destructive and change.resource_type in PROTECTED_RESOURCE_TYPES
    )


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """How to probe health URLs: attempts per URL, the pause between them, the timeout."""

    attempts: int = 3
    pause_seconds: float = 2.0
    timeout_seconds: float = 5.0

    def problems(self, urls: Sequence[str], client: httpx.Client | None = None) -> list[str]:
        """One line per URL that did not answer 2xx within the attempts; empty when healthy."""
        if not urls:
            return []

        owned = client is None
        http = client or httpx.Client(timeout=self.timeout_seconds, follow_redirects=True)
        try:
            return [problem for url in urls if (problem := self._probe(http, url)) is not None]
        finally:
            if owned:
                http.close()

    def _probe(self, http: httpx.Client, url: str) -> str | None:
        shown = display_url(url)
        outcome = "was not tried"
        for attempt in range(1, self.attempts + 1):
            try:
                response = http.get(url, timeout=self.timeout_seconds)
            except httpx.HTTPError as exc:
                outcome = f"failed ({type(exc).__name__})"
            else:
                if response.is_success:
                    logger.debug("health %s answered %s", shown, response.status_code)
                    return None
                outcome = f"answered {response.status_code}"

            if attempt < self.attempts:
                time.sleep(self.pause_seconds)
        return f"GET {shown} {outcome} after {self.attempts} attempt(s)"


def display_url(url: str) -> str:
    """The URL without user information or query, safe to print."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(an invalid URL)"
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


def missing_outputs(expected: Iterable[str], actual: Mapping[str, StackOutput]) -> tuple[str, ...]:
    """The expected output names that are absent, or present with no value."""
    return tuple(
        sorted(
            name
            for name in set(expected)
            if name not in actual or actual[name].value in (None, "", [], {})
        )
    )


__all__ = [
    "PROTECTED_RESOURCE_TYPES",
    "HealthCheck",
    "display_url",
    "missing_outputs",
    "protected_changes",
]
