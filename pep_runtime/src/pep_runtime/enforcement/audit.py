"""One structured JSON line per decision, on the `pep_runtime.audit` logger.

A line names the decision, the principal, action and resource, the determining policies,
whether the cache answered, the latency and the request id. It never holds a token, a
claim, a header value or an evaluation error's text (which can quote request data).

The line is written for every request, so its cost is kept low: values that repeat from
line to line (service, principal, action, policies) are JSON-quoted once, and the log
record is filled in directly instead of through `Logger.makeRecord` (same attributes, same
handlers and filters, a third of the cost).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
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
    """Writes `AuditRecord`s as JSON lines through `logging`."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(AUDIT_LOGGER_NAME)
        self._record_fields = {
            "name": self._logger.name,
            "args": (),
            "levelname": logging.getLevelName(logging.INFO),
            "levelno": logging.INFO,
            "pathname": __file__,
            "filename": os.path.basename(__file__),
            "module": os.path.splitext(os.path.basename(__file__))[0],
            "exc_info": None,
            "exc_text": None,
            "stack_info": None,
            "lineno": 0,
            "funcName": None,
        }

    @property
    def enabled(self) -> bool:
        """False when nothing would be written, so callers can skip building records."""
        return self._logger.isEnabledFor(logging.INFO)

    def write(self, record: AuditRecord) -> None:
        """Emit one JSON line for `record`."""
        if not self.enabled:
            return
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
        """Hand one finished line to the audit logger's filters and handlers (INFO)."""
        logger = self._logger
        if logging.getLogRecordFactory() is not logging.LogRecord or (
            type(logger).makeRecord is not logging.Logger.makeRecord
        ):
            # A custom record factory or logger class decides what a record holds: use it.
            record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None)
        else:
            record = self._record(line)
        # Logger.handle, not logger.info: no caller lookup (it would name this module anyway).
        logger.handle(record)

    def _record(self, line: str) -> logging.LogRecord:
        """The `logging.LogRecord` `makeRecord` would build, with its constant parts reused.

        Every attribute `LogRecord.__init__` sets is set, from the same sources, honouring
        `logging.logThreads`, `logProcesses` and `logMultiprocessing`.
        """
        attributes = self._record_fields.copy()
        now = time.time()
        attributes["msg"] = line
        attributes["created"] = now
        attributes["msecs"] = int((now - int(now)) * 1000) + 0.0
        attributes["relativeCreated"] = (now - _LOGGING_STARTED) * 1000
        if logging.logThreads:
            attributes["thread"] = threading.get_ident()
            attributes["threadName"] = threading.current_thread().name
        else:
            attributes["thread"] = attributes["threadName"] = None
        attributes["processName"] = _process_name() if logging.logMultiprocessing else None
        attributes["process"] = _process_id[0] if logging.logProcesses else None
        if sys.version_info >= (3, 12):
            attributes["taskName"] = _task_name() if logging.logAsyncioTasks else None
        record = logging.LogRecord.__new__(logging.LogRecord)
        # One copy of the constant parts, then the instance takes the dict as its own.
        record.__dict__ = attributes
        return record


#: When `logging` was imported: what `LogRecord.relativeCreated` counts from.
_LOGGING_STARTED: float = getattr(logging, "_startTime", time.time())

#: This process's id (`LogRecord.process`), read once: only a fork changes it, and the child
#: reads it again. `os.getpid()` is a system call, on every line otherwise.
_process_id = [os.getpid()]


def _read_process_id() -> None:
    _process_id[0] = os.getpid()


os.register_at_fork(after_in_child=_read_process_id)


def _process_name() -> str | None:
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None:
        return "MainProcess"
    try:
        name: str = multiprocessing.current_process().name
    except Exception:  # as LogRecord: a half-imported module names no process
        return "MainProcess"
    return name


def _task_name() -> str | None:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return None
    return None if task is None else str(task.get_name())


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


__all__ = ["AUDIT_LOGGER_NAME", "AuditLog", "AuditRecord", "audit_line", "quote", "quote_repeated"]
