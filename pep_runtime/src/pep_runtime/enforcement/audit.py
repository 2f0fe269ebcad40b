"""One structured JSON line per decision: the audit trail.

A line names the decision, the principal, action and resource, the determining policies,
whether the cache answered, the latency and the request id. It never holds a token, a
header value or an evaluation error's text (which can quote request data), and it is at
most `LINE_MAX_BYTES` long (longer texts are cut and the line says `"truncated":true`).

Lines go to standard output by default, where a container's log driver (ECS `awslogs`)
collects them; standard error, any text stream or the `pep_runtime.audit` logger can be
chosen instead. The trail is a record of decisions, not a diagnostic, so a stream gets it
directly rather than through `logging`: each line whole, in one write under a lock (past
the buffer of a plain text file, see `_Sink`), so the line is out before the response is,
and no logging configuration (levels, filters) can silence it. When a line cannot be
written, `emit` raises `DecisionUnavailableError` and the enforcement point denies: no
decision goes unrecorded, and the denial's own line follows (`emit_correction`). A logger
gets each line at INFO and then decides itself what to keep.

Values that repeat from line to line (service, principal, action, policies) are JSON-quoted
once: the line is written for every request.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any, TextIO

from pep_runtime.enforcement.exceptions import DecisionUnavailableError

logger = logging.getLogger(__name__)

AUDIT_LOGGER_NAME = "pep_runtime.audit"
#: The reason of the 503 when the audit line cannot be written.
AUDIT_UNAVAILABLE = "audit-unavailable"
#: Where audit lines can go, by name (`audit.destination` in the config file).
AUDIT_DESTINATIONS = ("stdout", "stderr", "logging")


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
    write, so a replaced `sys.stdout` is honoured), `"logging"` (the `pep_runtime.audit`
    logger), an open text stream, or a `logging.Logger`.
    """

    def __init__(self, destination: str | TextIO | logging.Logger = "stdout") -> None:
        self._logger: logging.Logger | None = None
        self._stream: TextIO | None = None
        self._sys_name = ""
        if destination == "logging":
            self._logger = logging.getLogger(AUDIT_LOGGER_NAME)
        elif isinstance(destination, logging.Logger):
            self._logger = destination
        elif isinstance(destination, str):
            if destination not in AUDIT_DESTINATIONS:
                *first, last = (repr(name) for name in AUDIT_DESTINATIONS)
                expected = f"{', '.join(first)} or {last}"
                message = f"audit destination: expected {expected}, found {destination!r}"
                raise ValueError(message)
            self._sys_name = destination
        else:
            self._stream = destination
        #: The last stream written to, its encoding, and how to write a line there.
        self._writer: tuple[Any, str | None, Callable[[str], None]] = (None, None, _no_writer)

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

    def emit(self, text: str) -> None:
        """Write finished lines (one, or several joined by newlines) in one write.

        Raises `DecisionUnavailableError` if they cannot be written, whatever the error.
        """
        try:
            self._emit(text)
        except Exception as exc:  # any failure to record is a failure to decide
            message = f"the audit line could not be written ({type(exc).__name__})"
            raise DecisionUnavailableError(message, reason=AUDIT_UNAVAILABLE) from exc

    def emit_correction(self, text: str) -> None:
        """Best effort, after `emit` raised: the lines that say what became of that request.

        A failed line may still reach the log (a stream without a file descriptor may have
        buffered it before its flush failed; a descriptor may have taken part of it); these
        follow it, on a line of their own, so a reader of the log sees the final word. A
        failure here is logged, not raised: the caller is denying already.
        """
        try:
            self._emit(text)
        except Exception as exc:  # nothing more to do than say so
            logger.error("the denial's audit line could not be written either (%s)", exc)

    def _emit(self, text: str) -> None:
        if len(text) > _LINE_MAX_CHARACTERS or "\n" in text:
            text = "\n".join(_fit(line) for line in text.split("\n"))
        if self._logger is not None:
            for line in text.split("\n"):  # a record per line; lines hold no raw newline
                self._logger.info(line)
            return
        stream = getattr(sys, self._sys_name) if self._sys_name else self._stream
        writer = self._writer  # one tuple, read once: threads may replace it meanwhile
        if writer[0] is not stream or writer[1] != getattr(stream, "encoding", None):
            writer = self._writer = _writer_for(stream)
        writer[2](text + "\n")


#: The longest line written: under the 4 KiB that a pipe takes in one piece (PIPE_BUF), so
#: lines written by several processes to one pipe never mix.
LINE_MAX_BYTES = 4000
#: A line of at most this many characters is at most LINE_MAX_BYTES in UTF-8.
_LINE_MAX_CHARACTERS = LINE_MAX_BYTES // 4


def _fit(line: str) -> str:
    """`line` if short enough, else the same record with its longest texts cut.

    The enforcer's lines are ASCII (every string is JSON-escaped); only a caller who sends a
    huge path or identity makes one this long, and the cut record says `"truncated":true`.
    Text that is not a JSON object (from `AuditLog.emit`'s own callers) is cut as text.
    """
    if len(line) <= _LINE_MAX_CHARACTERS or len(line.encode()) <= LINE_MAX_BYTES:
        return line
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return line.encode()[: LINE_MAX_BYTES - 3].decode(errors="ignore") + "..."
    for keep in (256, 64, 16, 0):
        cut = {
            key: _cut(value, keep) if isinstance(value, str | list) else value
            for key, value in record.items()
        }
        cut["truncated"] = True
        fitted = json.dumps(cut, separators=(",", ":"))
        if len(fitted) <= LINE_MAX_BYTES:
            return fitted
    return json.dumps({"event": "authorization", "truncated": True})  # thousands of keys


def _cut(value: str | list[Any], keep: int) -> str | list[Any]:
    if isinstance(value, list):  # determining policies: the first few, and how many more
        shown = [_cut(item, keep) for item in value[: max(1, keep // 16)]]
        return shown + ([f"... {len(value) - len(shown)} more"] if len(value) > len(shown) else [])
    return value if len(value) <= keep else value[:keep] + "..."


def _plain_file(stream: Any) -> io.FileIO | None:
    """The file under a plain text file, or None.

    Plain: a text layer in an ASCII-compatible encoding over a file (optionally buffered),
    as `sys.stdout` is on a terminal, a pipe or a file. Anything else (a test's capture, an
    in-memory stream, a compressing or re-encoding wrapper) is written through its methods.
    """
    buffer = getattr(stream, "buffer", None)
    raw = buffer if isinstance(buffer, io.FileIO) else getattr(buffer, "raw", None)
    if not isinstance(raw, io.FileIO) or not _ascii_compatible(getattr(stream, "encoding", "")):
        return None
    return raw


@functools.cache
def _ascii_compatible(encoding: str) -> bool:
    """True when the encoding writes every printable ASCII character and newline as ASCII
    does (not so UTF-16, UTF-7, unicode_escape, ...)."""
    sample = "".join(map(chr, range(32, 127))) + "\n"
    try:
        return sample.encode(encoding) == sample.encode("ascii")
    except (LookupError, TypeError, ValueError):
        return False


class _Sink:
    """One destination's lock, and whether its last write may have stopped mid-line.

    A plain text file (`_plain_file`) is written with `os.write`, past its buffer: the bytes
    are out or the write failed, so a line never waits in a buffer to go out after its
    request was denied, and a refused write raises even where the stream would drop it
    (`python -u`). Its buffer is flushed first, so the application's earlier output does
    not end up split around the line. Lines go out in writes of at most 4 KiB, each whole
    on a pipe. Other streams get `write` and `flush`. While a write is under way the sink
    counts as cut, so after any failure the next write starts with a newline and every line
    after it is whole.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cut = False
        _SINKS.add(self)

    def write_stream(self, stream: Any, text: str) -> None:
        with self.lock:
            if self.cut:
                text = "\n" + text
            self.cut = True
            stream.write(text)
            stream.flush()
            self.cut = False

    def write_descriptor(self, stream: Any, file: io.FileIO, encoding: str, text: str) -> None:
        data = text.encode(encoding, getattr(stream, "errors", None) or "strict")
        with self.lock:
            descriptor = file.fileno()  # raises once the file is closed: its number may be reused
            try:  # noqa: SIM105 - contextlib.suppress costs a third of the write
                stream.flush()
            except Exception:  # noqa: S110 - the application's output, not the trail's
                pass
            if self.cut:
                data = b"\n" + data
            self.cut = True
            for chunk in _chunks(data):
                while chunk:
                    chunk = chunk[os.write(descriptor, chunk) :]
            self.cut = False


def _writer_for(stream: Any) -> tuple[Any, str | None, Callable[[str], None]]:
    """`stream`, its encoding, and the function that writes a line there under its sink."""
    if stream is None:
        return stream, None, _no_writer
    encoding = getattr(stream, "encoding", None)
    file = _plain_file(stream)
    if file is None or file.closed or not isinstance(encoding, str):
        return stream, encoding, functools.partial(_stream_sink(stream).write_stream, stream)
    write = _descriptor_sink(file.fileno()).write_descriptor
    return stream, encoding, functools.partial(write, stream, file, encoding)


def _no_writer(text: str) -> None:
    raise ValueError("there is no stream to write to (the destination is None)")


def _chunks(data: bytes) -> list[bytes]:
    """`data` (whole lines) in pieces of at most PIPE_BUF bytes, cut only after a newline."""
    if len(data) <= _PIPE_BUF:
        return [data]
    pieces, start = [], 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + _PIPE_BUF) + 1
        if end <= start:  # one line longer than PIPE_BUF (not written by `emit`)
            end = min(len(data), start + _PIPE_BUF)
        pieces.append(data[start:end])
        start = end
    return pieces


_PIPE_BUF = 4096
_SINKS: weakref.WeakSet[_Sink] = weakref.WeakSet()
#: One sink per file descriptor, and one per other stream, shared by every `AuditLog`
#: writing there: their lines never interleave.
_DESCRIPTOR_SINKS: dict[int, _Sink] = {}
_STREAM_SINKS: weakref.WeakKeyDictionary[Any, _Sink] = weakref.WeakKeyDictionary()
_SINKS_LOCK = threading.Lock()


def _descriptor_sink(descriptor: int) -> _Sink:
    sink = _DESCRIPTOR_SINKS.get(descriptor)
    if sink is None:
        with _SINKS_LOCK:
            sink = _DESCRIPTOR_SINKS.setdefault(descriptor, _Sink())
    return sink


def _stream_sink(stream: Any) -> _Sink:
    with _SINKS_LOCK:
        try:
            sink = _STREAM_SINKS.get(stream)
            if sink is None:
                sink = _STREAM_SINKS[stream] = _Sink()
        except TypeError:  # a stream that takes no weak reference or no hash
            sink = _UNSHAREABLE
    return sink


#: The sink of streams that cannot be told apart (no weak reference): one lock for all.
_UNSHAREABLE = _Sink()


def _new_locks_after_fork() -> None:
    """In a forked child, locks another thread of the parent held stay held: replace them."""
    global _SINKS_LOCK
    _SINKS_LOCK = threading.Lock()
    for sink in list(_SINKS):
        sink.lock = threading.Lock()


os.register_at_fork(after_in_child=_new_locks_after_fork)


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
    "AUDIT_DESTINATIONS",
    "AUDIT_LOGGER_NAME",
    "AUDIT_UNAVAILABLE",
    "AuditLog",
    "AuditRecord",
    "audit_line",
    "quote",
    "quote_repeated",
]
