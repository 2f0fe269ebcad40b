"""One structured JSON line per decision: the audit trail.

A line names the decision, the principal, action and resource, the determining policies,
whether the cache answered, the latency and the request id. It never holds a token, a
claim, a header value or an evaluation error's text (which can quote request data).

Lines go to standard output by default, where a container's log driver (ECS `awslogs`)
collects them; standard error, any text stream or a `logging.Logger` can be chosen instead.
A stream gets each line whole, in one write under a lock, and flushed, so the line is out
before the response is, and no logging configuration (levels, filters) can silence it. When
a stream write fails, `emit` raises `DecisionUnavailableError` and the enforcement point
denies the request (503): no decision goes unrecorded. A logger gets each line at INFO and
then decides itself what to keep; `logging` reports its handlers' failures on stderr, so
this path cannot fail closed.

Values that repeat from line to line (service, principal, action, policies) are JSON-quoted
once: the line is written for every request.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import TextIO

from pep_runtime.enforcement.exceptions import DecisionUnavailableError

AUDIT_LOGGER_NAME = "pep_runtime.audit"
#: The reason of the 503 when the audit line cannot be written.
AUDIT_UNAVAILABLE = "audit-unavailable"

#: One lock for every stream: lines from two threads, or two enforcers, never interleave.
_WRITE_LOCK = threading.Lock()


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


def audit_line(
    *,
    request_id: str,
    service: str,
    method: str,
    path: str,
    status: int,
    decision: str,
    reason: str,
    principal: str,
    action: str,
    resource: str,
    determining_policies: str,
    evaluation_errors: int,
    cache_hit: bool,
    latency_ms: float,
) -> str:
    """The JSON line, from values already in JSON form (quoted strings, `null`, a list).

    The one place that knows the fields and their order; `quote` and `quote_repeated` turn
    strings into the JSON form.
    """
    return (
        f'{{"event":"authorization","request_id":{request_id},"service":{service}'
        f',"method":{method},"path":{path},"status":{status:d}'
        f',"decision":{decision},"reason":{reason},"principal":{principal}'
        f',"action":{action},"resource":{resource},"determining_policies":{determining_policies}'
        f',"evaluation_errors":{evaluation_errors:d}'
        f',"cache_hit":{"true" if cache_hit else "false"},"latency_ms":{latency_ms:.3f}}}'
    )


class AuditLog:
    """Writes audit lines to a stream or a logger.

    `destination` is `"stdout"` (the default) or `"stderr"` (looked up in `sys` at each
    write, so a replaced `sys.stdout` is honoured), an open text stream, or a
    `logging.Logger`.
    """

    def __init__(self, destination: str | TextIO | logging.Logger = "stdout") -> None:
        self._logger: logging.Logger | None = None
        self._stream: TextIO | None = None
        self._sys_name = ""
        if isinstance(destination, logging.Logger):
            self._logger = destination
        elif isinstance(destination, str):
            if destination not in ("stdout", "stderr"):
                message = f"audit destination: expected 'stdout' or 'stderr', found {destination!r}"
                raise ValueError(message)
            self._sys_name = destination
        else:
            self._stream = destination

    @classmethod
    def for_destination(cls, name: str) -> AuditLog:
        """The log a config file's `audit.destination` names: stdout, stderr or logging."""
        if name == "logging":
            return cls(logging.getLogger(AUDIT_LOGGER_NAME))
        return cls(name)

    def __repr__(self) -> str:
        if self._logger is not None:
            return f"AuditLog(logger {self._logger.name!r})"
        return f"AuditLog({self._sys_name or type(self._stream).__name__})"

    def write(self, record: AuditRecord) -> None:
        """Emit one JSON line for `record`."""
        policies = ",".join(quote_repeated(policy) for policy in record.determining_policies)
        self.emit(
            audit_line(
                request_id=quote(record.request_id),
                service=quote_repeated(record.service),
                method=quote_repeated(record.method),
                path=quote(record.path),
                status=int(record.status),
                decision=quote_repeated(record.decision),
                reason=quote_repeated(record.reason),
                principal=quote_repeated(record.principal),
                action=quote_repeated(record.action),
                resource=quote(record.resource),
                determining_policies=f"[{policies}]",
                evaluation_errors=int(record.evaluation_errors),
                cache_hit=record.cache_hit,
                latency_ms=float(record.latency_ms),
            )
        )

    def emit(self, line: str) -> None:
        """Write one finished line. Raises `DecisionUnavailableError` if a stream refuses it."""
        if self._logger is not None:
            self._logger.info(line)
            return
        stream = self._stream or getattr(sys, self._sys_name)
        try:
            with _WRITE_LOCK:
                stream.write(line + "\n")
                stream.flush()
        except (OSError, ValueError, AttributeError) as exc:
            # A closed or broken stream (ValueError: I/O on a closed file; AttributeError:
            # no stream at all, as sys.stdout is None under pythonw).
            message = f"the audit line could not be written ({type(exc).__name__})"
            raise DecisionUnavailableError(message, reason=AUDIT_UNAVAILABLE) from exc


_QUOTED: dict[str, str] = {}
_QUOTED_MAX = 4096


def quote(value: str | None) -> str:
    """The JSON form of a string (or null)."""
    return "null" if value is None else encode_basestring_ascii(value)


def quote_repeated(value: str | None) -> str:
    """`quote` for values that repeat on many lines (service, principal, action, ...)."""
    if value is None:
        return "null"
    quoted = _QUOTED.get(value)
    if quoted is None:
        quoted = encode_basestring_ascii(value)
        if len(_QUOTED) < _QUOTED_MAX:
            _QUOTED[value] = quoted
    return quoted


__all__ = [
    "AUDIT_LOGGER_NAME",
    "AUDIT_UNAVAILABLE",
    "AuditLog",
    "AuditRecord",
    "audit_line",
    "quote",
    "quote_repeated",
]
