"""One structured JSON line per decision, on the `pep_runtime.audit` logger.

A line names the decision, the principal, action and resource, the determining policies,
whether the cache answered, the latency and the request id. It never holds a token, a
claim, a header value or an evaluation error's text (which can quote request data).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

AUDIT_LOGGER_NAME = "pep_runtime.audit"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What one audit line says."""

    request_id: str
    service: str
    method: str
    path: str
    status: int
    decision: str
    reason: str
    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    determining_policies: Sequence[str] = ()
    evaluation_errors: int = 0
    cache_hit: bool = False
    latency_ms: float = 0.0


class AuditLog:
    """Writes `AuditRecord`s as JSON lines through `logging`."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(AUDIT_LOGGER_NAME)

    @property
    def enabled(self) -> bool:
        """False when nothing would be written, so callers can skip building records."""
        return self._logger.isEnabledFor(logging.INFO)

    def write(self, record: AuditRecord) -> None:
        """Emit one JSON line for `record`."""
        if not self.enabled:
            return
        line = {
            "event": "authorization",
            "request_id": record.request_id,
            "service": record.service,
            "method": record.method,
            "path": record.path,
            "status": record.status,
            "decision": record.decision,
            "reason": record.reason,
            "principal": record.principal,
            "action": record.action,
            "resource": record.resource,
            "determining_policies": list(record.determining_policies),
            "evaluation_errors": record.evaluation_errors,
            "cache_hit": record.cache_hit,
            "latency_ms": round(record.latency_ms, 3),
        }
        self._logger.info(json.dumps(line, separators=(",", ":")))


__all__ = ["AUDIT_LOGGER_NAME", "AuditLog", "AuditRecord"]
