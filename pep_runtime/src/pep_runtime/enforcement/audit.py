"""One structured JSON line per decision, on the `pep_runtime.audit` logger.

A line names the decision, the principal, action and resource, the determining policies,
whether the cache answered, the latency and the request id. It never holds a token, a
claim, a header value or an evaluation error's text (which can quote request data).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii

AUDIT_LOGGER_NAME = "pep_runtime.audit"


@dataclass(slots=True)
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
        # Built by hand (every string through the JSON escaper): a third of json.dumps's cost
        # on a path that runs for every request.
        repeated = _quote_repeated
        policies = ",".join(repeated(policy) for policy in record.determining_policies)
        line = (
            f'{{"event":"authorization","request_id":{_quote(record.request_id)}'
            f',"service":{repeated(record.service)},"method":{repeated(record.method)}'
            f',"path":{_quote(record.path)},"status":{int(record.status)}'
            f',"decision":{repeated(record.decision)},"reason":{repeated(record.reason)}'
            f',"principal":{repeated(record.principal)},"action":{repeated(record.action)}'
            f',"resource":{_quote(record.resource)},"determining_policies":[{policies}]'
            f',"evaluation_errors":{int(record.evaluation_errors)}'
            f',"cache_hit":{"true" if record.cache_hit else "false"}'
            f',"latency_ms":{float(record.latency_ms):.3f}}}'
        )
        # makeRecord + handle is logger.info without the caller lookup, which costs more than
        # the rest of the line on a cached decision; filters and handlers still apply.
        self._logger.handle(
            self._logger.makeRecord(self._logger.name, logging.INFO, __file__, 0, line, (), None)
        )


_QUOTED: dict[str, str] = {}
_QUOTED_MAX = 4096


def _quote(value: str | None) -> str:
    """The JSON form of a string (or null)."""
    return "null" if value is None else encode_basestring_ascii(value)


def _quote_repeated(value: str | None) -> str:
    """`_quote` for values that repeat on many lines (service, principal, action, ...)."""
    if value is None:
        return "null"
    quoted = _QUOTED.get(value)
    if quoted is None:
        quoted = encode_basestring_ascii(value)
        if len(_QUOTED) < _QUOTED_MAX:
            _QUOTED[value] = quoted
    return quoted


__all__ = ["AUDIT_LOGGER_NAME", "AuditLog", "AuditRecord"]
