"""The audit trail: one whole line per decision, where the config says, or no decision."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import logging
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from pep_runtime.enforcement import (
    AuditLog,
    AuditRecord,
    DecisionUnavailableError,
    Enforcer,
    HttpRequest,
    LocalCedarDecisionPoint,
)
from pep_runtime.services import bind_request_id

from .apps import Calls, flask_app, starlette_app
from .conftest import FIXTURE_AUTHZ, FRONTEND_IDENTITY, audit_lines, make_config

IDENTITY = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}


def _enforcer(log: AuditLog | None = None, document: dict[str, Any] | None = None) -> Enforcer:
    return Enforcer(
        make_config(document=document),
        LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"),
        audit=log,
    )


def _request(request_id: str = "r-1") -> HttpRequest:
    return HttpRequest("GET", b"/orders/o-1", {**IDENTITY, "x-request-id": [request_id]})


def test_one_line_per_request_with_the_same_fields_on_a_cache_hit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A repeated request (served from the memo and the cache) writes a full line each time."""
    enforcer = _enforcer()

    for request_id in ("r-1", "r-2"):
        enforcer.check(_request(request_id))

    lines = audit_lines(capsys.readouterr().out)
    assert [(line["request_id"], line["cache_hit"]) for line in lines] == [
        ("r-1", False),
        ("r-2", True),
    ]
    for line in lines:
        line.pop("request_id"), line.pop("cache_hit"), line.pop("latency_ms")
    assert (
        lines[0]
        == lines[1]
        == {
            "event": "authorization",
            "service": "orders",
            "method": "GET",
            "path": "/orders/o-1",
            "status": 200,
            "decision": "ALLOW",
            "reason": "allow",
            "principal": 'Latticework::Service::"frontend"',
            "action": "GetOrder",
            "resource": 'Latticework::Order::"o-1"',
            "determining_policies": ["frontend-reads-orders"],
            "evaluation_errors": 0,
        }
    )


def test_the_applications_logging_level_cannot_silence_the_trail(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Standard output is written directly: logging levels apply to logs, not to the trail."""
    caplog.set_level(logging.CRITICAL)
    logging.getLogger("pep_runtime").setLevel(logging.CRITICAL)
    try:
        _enforcer().check(_request())
    finally:
        logging.getLogger("pep_runtime").setLevel(logging.NOTSET)

    assert [line["decision"] for line in audit_lines(capsys.readouterr().out)] == ["ALLOW"]


def test_stderr_is_a_destination(capsys: pytest.CaptureFixture[str]) -> None:
    """`audit.destination: stderr` writes there and not to standard output."""
    _enforcer(document={"audit": {"destination": "stderr"}}).check(_request())

    captured = capsys.readouterr()
    assert audit_lines(captured.out) == []
    assert [line["request_id"] for line in audit_lines(captured.err)] == ["r-1"]


def test_logging_is_a_destination(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """`audit.destination: logging` hands each line to the `pep_runtime.audit` logger at INFO."""
    caplog.set_level(logging.INFO, logger="pep_runtime.audit")

    _enforcer(document={"audit": {"destination": "logging"}}).check(_request())

    records = [r for r in caplog.records if r.name == "pep_runtime.audit"]
    assert [(r.levelno, json.loads(r.getMessage())["request_id"]) for r in records] == [
        (logging.INFO, "r-1")
    ]
    assert audit_lines(capsys.readouterr().out) == []


def test_a_stream_gets_whole_lines_from_many_threads() -> None:
    """Lines written at once from several threads never interleave."""
    stream = io.StringIO()
    enforcer = _enforcer(AuditLog(stream))

    def work(thread: int) -> None:
        for index in range(50):
            enforcer.check(_request(f"t{thread}-{index}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted(line["request_id"] for line in lines) == sorted(
        f"t{thread}-{index}" for thread in range(8) for index in range(50)
    )


def test_write_renders_a_record() -> None:
    """`AuditLog.write` renders an `AuditRecord` as the same JSON line."""
    stream = io.StringIO()
    record = AuditRecord(
        request_id="r-9",
        service="orders",
        method="GET",
        path="/orders/o-\u00e9",
        status=403,
        decision="DENY",
        reason="deny",
        principal='Latticework::Service::"frontend"',
        determining_policies=("never-order-locked",),
    )

    AuditLog(stream).write(record)

    text = stream.getvalue()
    assert text.isascii()
    assert text.endswith("}\n")
    assert text.count("\n") == 1
    line = json.loads(text)
    assert (line["path"], line["determining_policies"], line["action"]) == (
        "/orders/o-\u00e9",
        ["never-order-locked"],
        None,
    )


def _closed_stream() -> io.StringIO:
    stream = io.StringIO()
    stream.close()
    return stream


class _FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


class _Reentrant(io.StringIO):
    def write(self, text: str) -> int:
        raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stdout>'>")


@pytest.mark.parametrize(
    "stream",
    [_closed_stream(), _FullDisk(), _Reentrant(), io.BytesIO()],
    ids=["closed", "disk full", "reentrant", "binary"],
)
@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_an_unwritable_trail_denies_the_request(
    stream: Any, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No decision goes unrecorded: any failed write turns even an Allow into a bare 503."""
    calls = Calls()
    enforcer = _enforcer(AuditLog(stream))
    app = starlette_app(enforcer, calls) if kind == "asgi" else flask_app(enforcer, calls)
    client: Any = TestClient(app) if kind == "asgi" else app.test_client()

    response = client.get("/orders/o-1", headers={"x-amzn-lattice-identity": FRONTEND_IDENTITY})

    assert response.status_code == 503
    assert calls.handled == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("audit line could not be written" in r.getMessage() for r in errors)


class _FlushFailsOnce(io.StringIO):
    """A buffered stream whose flush fails once: the written text stays, to go out later."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def flush(self) -> None:
        if not self.failed:
            self.failed = True
            raise BlockingIOError(11, "Resource temporarily unavailable")


def test_a_line_that_goes_out_late_is_followed_by_the_denial() -> None:
    """If the failed line still reaches the log, the 503 that was sent is the last word."""
    stream = _FlushFailsOnce()
    enforcer = _enforcer(AuditLog(stream))

    first = enforcer.check(_request("r-1"))
    second = enforcer.check(_request("r-2"))

    assert (first.status, second.status) == (503, 200)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    assert [(line["request_id"], line["status"], line["reason"]) for line in lines] == [
        ("r-1", 200, "allow"),
        ("r-1", 503, "audit-unavailable"),
        ("r-2", 200, "allow"),
    ]


def _full_pipe(free: int = 0) -> tuple[int, int]:
    """A non-blocking pipe filled up but for `free` bytes: (read end, write end)."""
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    os.set_blocking(reader, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(writer, b"x" * 4096)
    os.read(reader, free)
    return reader, writer


def _drain(reader: int) -> bytes:
    data = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(reader, 1 << 16):
            data += chunk
    return data


def _records(data: bytes) -> list[dict[str, Any]]:
    """The whole audit lines in what a pipe carried (filler and cut fragments left out)."""
    return [
        json.loads(line)
        for line in data.decode().splitlines()
        if line.startswith('{"event"') and line.endswith("}")
    ]


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "write-through (-u)"])
def test_a_full_pipe_denies_and_never_records_an_allow_later(buffered: bool) -> None:
    """Standard output as Python opens it on a pipe, or as `python -u` does: a refused
    write denies, and no line for the denied request reaches the log once the pipe drains."""
    reader, writer = _full_pipe()
    raw = io.FileIO(writer, "w", closefd=False)
    binary: Any = io.BufferedWriter(raw) if buffered else raw
    enforcer = _enforcer(AuditLog(io.TextIOWrapper(binary, write_through=not buffered)))

    denied = enforcer.check(_request("r-full"))
    _drain(reader)
    allowed = enforcer.check(_request("r-next"))

    assert (denied.status, denied.reason, allowed.status) == (503, "audit-unavailable", 200)
    records = _records(_drain(reader))
    assert [(r["request_id"], r["status"]) for r in records] == [("r-next", 200)]
    os.close(reader), os.close(writer)


def test_a_batch_goes_out_in_whole_lines_of_at_most_a_pipe_buffer() -> None:
    """A batch larger than the pipe's room is written in pieces that end on a newline, each
    whole or not at all: whatever gets out is whole lines, and so is everything after."""
    reader, writer = _full_pipe(free=6000)
    enforcer = _enforcer(AuditLog(open(writer, "w", closefd=False)))  # noqa: SIM115
    principal = enforcer.resolve_principal(IDENTITY)
    orders = [f"o-{index}" for index in range(60)]

    with bind_request_id("batch-2"), pytest.raises(DecisionUnavailableError):
        enforcer.filter_authorized(
            principal, "GetOrder", orders, lambda item: enforcer.resource("Order", item)
        )
    carried = _drain(reader)
    enforcer.check(_request("r-after"))
    carried += _drain(reader)

    lines = [line for line in carried.decode().split("\n") if line and "x" * 64 not in line]
    records = [json.loads(line) for line in lines]
    assert 0 < len(records) - 1 < len(orders)
    assert records[-1]["request_id"] == "r-after"


def test_after_a_write_cut_mid_line_the_next_line_starts_afresh(tmp_path: Path) -> None:
    """A file that stops growing mid-line (here a file size limit, as a full disk would)
    leaves a fragment; the next line, once there is room, starts on a line of its own."""
    path = tmp_path / "audit.log"
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which answers by its exit code
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            enforcer = _enforcer(AuditLog(open(path, "w")))  # noqa: SIM115
            enforcer.check(_request("r-1"))
            resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 100, hard))
            cut = enforcer.check(_request("r-cut"))
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            enforcer.check(_request("r-2"))
            os._exit(0 if cut.status == 503 else 3)
        finally:
            os._exit(4)
    _, status = os.waitpid(child, 0)

    assert os.WEXITSTATUS(status) == 0
    lines = path.read_text().split("\n")
    assert json.loads(lines[0])["request_id"] == "r-1"
    assert lines[1].startswith('{"event"')
    assert not lines[1].endswith("}")  # the fragment
    # The 503's own line found no room either; the next request's line is whole.
    assert [json.loads(line)["request_id"] for line in lines[2:] if line] == ["r-2"]


def test_a_huge_path_makes_a_truncated_line_that_a_pipe_takes_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The caller picks the resource id: a 5,000-character one still gives a line under
    4 KiB (one piece on a pipe, even with other processes writing), marked truncated."""
    order_id = "\u00e9" * 5000
    request = HttpRequest("GET", "/orders/" + quote(order_id), IDENTITY)

    outcome = _enforcer().check(request)

    (line,) = [text for text in capsys.readouterr().out.splitlines() if text]
    record = json.loads(line)
    assert outcome.status == 200
    assert len(line.encode()) <= 4000
    assert record["truncated"] is True
    assert record["resource"].startswith('Latticework::Order::"\u00e9')
    assert record["resource"].endswith("...")
    assert (record["request_id"], record["status"]) == (outcome.request_id, 200)


def test_application_output_already_buffered_stays_before_the_line(tmp_path: Path) -> None:
    """The stream's buffer is flushed before the line goes out past it, so the order of
    what the application wrote earlier and the audit line is kept."""
    path = tmp_path / "out.log"
    with open(path, "w") as stream:
        stream.write("app: starting\n")  # still in the buffer
        _enforcer(AuditLog(stream)).check(_request("r-1"))

    first, second = path.read_text().splitlines()
    assert first == "app: starting"
    assert json.loads(second)["request_id"] == "r-1"


def _utf16(path: Path, mode: str) -> Any:
    return open(path, mode, encoding="utf-16")


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, _utf16], ids=["gzip", "bz2", "utf-16"])
def test_a_stream_that_transforms_its_text_is_written_through_its_methods(
    opener: Any, tmp_path: Path
) -> None:
    """Only a plain text file is written past its buffer; a compressing or re-encoding
    stream gets its own `write`, so what it stores reads back as the line."""
    path = tmp_path / "audit.out"
    with opener(path, "wt") as stream:
        stream.write("header\n")
        _enforcer(AuditLog(stream)).check(_request("r-1"))

    with opener(path, "rt") as stream:
        header, line = stream.read().splitlines()
    assert header == "header"
    assert json.loads(line)["request_id"] == "r-1"


class _Overlapping(io.StringIO):
    """Notes whether two writes were ever under way at once."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.overlapped = False

    def write(self, text: str) -> int:
        self.overlapped |= self.busy
        self.busy = True
        time.sleep(0.0005)
        self.busy = False
        return super().write(text)


def test_two_logs_on_one_stream_take_turns() -> None:
    """Two enforcers given the same (non-file) stream share its lock."""
    stream = _Overlapping()
    logs = [AuditLog(stream), AuditLog(stream)]

    def work(log: AuditLog) -> None:
        for _ in range(20):
            log.emit('{"event":"authorization"}')

    threads = [threading.Thread(target=work, args=(logs[n % 2],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not stream.overlapped
    assert stream.getvalue().count("\n") == 80


class _DuckFile:
    """A text stream over a real file with `encoding` but no `errors` attribute."""

    def __init__(self, path: Path) -> None:
        self.buffer = open(path, "wb")  # noqa: SIM115 - closed by the test
        self.encoding = "utf-8"

    def write(self, text: str) -> int:
        return self.buffer.write(text.encode())

    def flush(self) -> None:
        self.buffer.flush()


def test_a_file_stream_without_errors_attribute_is_written(tmp_path: Path) -> None:
    """A duck-typed stream over a file, missing `errors`, still gets whole lines."""
    stream = _DuckFile(tmp_path / "audit.log")

    outcome = _enforcer(AuditLog(stream)).check(_request("r-1"))
    stream.buffer.close()

    assert outcome.status == 200
    assert json.loads((tmp_path / "audit.log").read_text())["request_id"] == "r-1"


def test_a_stream_switched_to_another_encoding_is_checked_again(tmp_path: Path) -> None:
    """A stream reconfigured to UTF-16 after its first line is no longer written past its
    text layer: every later line is in the stream's own encoding."""
    path = tmp_path / "audit.log"
    with open(path, "w", encoding="utf-8") as stream:
        log = AuditLog(stream)
        log.emit('{"n":1}')
        stream.reconfigure(encoding="utf-16")
        log.emit('{"n":2}')
        log.emit('{"n":3}')

    data = path.read_bytes()
    assert data.startswith(b'{"n":1}\n')
    assert data[len(b'{"n":1}\n') :].decode("utf-16").splitlines() == ['{"n":2}', '{"n":3}']


def test_a_closed_stream_denies_and_its_reused_descriptor_gets_nothing(tmp_path: Path) -> None:
    """A closed stream refuses the line, and a file that took over its number gets nothing."""
    stream = open(tmp_path / "audit.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    log = AuditLog(stream)
    log.emit('{"n":1}')
    descriptor = stream.fileno()
    stream.close()

    with open(tmp_path / "other.log", "w", encoding="utf-8") as other:
        reused = other.fileno() == descriptor
        with pytest.raises(DecisionUnavailableError):
            log.emit('{"n":2}')

    assert reused
    assert (tmp_path / "audit.log").read_text() == '{"n":1}\n'
    assert (tmp_path / "other.log").read_text() == ""


def test_long_text_is_cut_to_the_limit_in_bytes(tmp_path: Path) -> None:
    """`emit` of text that is not an audit record, with multi-byte characters, is cut to
    4,000 bytes so that it still goes out in one piece."""
    path = tmp_path / "audit.log"
    with open(path, "w", encoding="utf-8") as stream:
        AuditLog(stream).emit("\u00e9" * 3000)

    (line,) = path.read_bytes().splitlines()
    assert len(line) <= 4000
    assert line.decode().endswith("...")


class _Refusing(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise ConnectionError("collector down")


def test_a_logger_that_raises_denies_too(caplog: pytest.LogCaptureFixture) -> None:
    """An exception out of the audit logger's handlers or filters is a failed write."""
    audit_logger = logging.getLogger("tests.pep.audit.refusing")
    audit_logger.propagate = False
    audit_logger.setLevel(logging.INFO)
    audit_logger.addHandler(_Refusing())
    enforcer = _enforcer(AuditLog(audit_logger))
    principal = enforcer.resolve_principal(IDENTITY)

    outcome = enforcer.check(_request())

    assert (outcome.status, outcome.reason) == (503, "audit-unavailable")
    with pytest.raises(DecisionUnavailableError):
        enforcer.authorize(principal, "GetOrder", enforcer.resource("Order", "o-1"))


def test_the_denials_line_names_the_caller_and_the_target() -> None:
    """The 503 line that follows a failed one keeps principal, action and resource."""
    stream = _FlushFailsOnce()
    _enforcer(AuditLog(stream)).check(_request("r-1"))

    last = [json.loads(line) for line in stream.getvalue().splitlines() if line][-1]
    assert (last["status"], last["decision"], last["determining_policies"]) == (503, "DENY", [])
    assert (last["principal"], last["action"], last["resource"]) == (
        'Latticework::Service::"frontend"',
        "GetOrder",
        'Latticework::Order::"o-1"',
    )


def test_no_standard_output_at_all_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process without standard output (sys.stdout is None) cannot audit, so it denies."""
    monkeypatch.setattr(sys, "stdout", None)

    outcome = _enforcer().check(_request())

    assert (outcome.status, outcome.reason) == (503, "audit-unavailable")


@pytest.mark.parametrize("stream", [_closed_stream(), io.BytesIO()], ids=["closed", "binary"])
def test_authorize_raises_when_the_trail_is_unwritable(stream: Any) -> None:
    """Outside the middleware an unrecorded decision is no decision: it raises."""
    enforcer = _enforcer(AuditLog(stream))
    principal = enforcer.resolve_principal(IDENTITY)

    with pytest.raises(DecisionUnavailableError) as caught:
        enforcer.authorize(principal, "GetOrder", enforcer.resource("Order", "o-1"))
    with pytest.raises(DecisionUnavailableError):
        enforcer.filter_authorized(
            principal, "GetOrder", ["o-2"], lambda item: enforcer.resource("Order", item)
        )

    assert caught.value.reason == "audit-unavailable"


def test_a_batch_is_one_write_and_its_denial_covers_every_item() -> None:
    """filter_authorized writes its lines at once; if that fails, each item's 503 follows."""
    stream = _FlushFailsOnce()
    enforcer = _enforcer(AuditLog(stream))
    principal = enforcer.resolve_principal(IDENTITY)
    orders = ["o-1", "locked", "o-2"]

    with bind_request_id("batch-1"), pytest.raises(DecisionUnavailableError):
        enforcer.filter_authorized(
            principal, "GetOrder", orders, lambda item: enforcer.resource("Order", item)
        )
    kept = enforcer.filter_authorized(
        principal, "GetOrder", orders, lambda item: enforcer.resource("Order", item)
    )

    assert kept == ["o-1", "o-2"]
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    failed = [(line["resource"], line["status"]) for line in lines[:6]]
    assert failed == [
        ('Latticework::Order::"o-1"', 200),
        ('Latticework::Order::"locked"', 403),
        ('Latticework::Order::"o-2"', 200),
        ('Latticework::Order::"o-1"', 503),
        ('Latticework::Order::"locked"', 503),
        ('Latticework::Order::"o-2"', 503),
    ]
    assert {line["request_id"] for line in lines[:6]} == {"batch-1"}
    assert [line["cache_hit"] for line in lines[6:]] == [True, True, True]


class _Stalling(io.StringIO):
    """A stream whose first write waits until released, like a log reader that stalls."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.stalled = False

    def write(self, text: str) -> int:
        if not self.stalled:
            self.stalled = True
            self.entered.set()
            self.release.wait(10)
        return super().write(text)


@pytest.mark.parametrize("destination", ["stdout", "stream"])
def test_a_forked_child_does_not_inherit_a_held_lock(
    destination: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread mid-write when the process forks leaves its lock held in the child; the
    child's first audit line must not wait for it forever."""
    stream = _Stalling()
    if destination == "stdout":
        monkeypatch.setattr(sys, "stdout", stream)
        log = AuditLog("stdout")
    else:
        log = AuditLog(stream)
    writer = threading.Thread(target=log.emit, args=('{"n":1}',))
    writer.start()
    assert stream.entered.wait(10)

    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which answers by its exit code
        signal.alarm(5)
        log.emit('{"n":2}')
        os._exit(0)
    stream.release.set()
    writer.join()
    _, status = os.waitpid(child, 0)

    assert os.WIFEXITED(status), "the child hung on the audit lock"
    assert os.WEXITSTATUS(status) == 0


def test_the_logging_destination_takes_a_name_and_logs_a_record_per_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`AuditLog("logging")` is the `pep_runtime.audit` logger; a batch is a record a line."""
    caplog.set_level(logging.INFO, logger="pep_runtime.audit")

    AuditLog("logging").emit('{"n":1}\n{"n":2}')

    assert [r.getMessage() for r in caplog.records if r.name == "pep_runtime.audit"] == [
        '{"n":1}',
        '{"n":2}',
    ]


def test_an_unknown_destination_is_refused() -> None:
    """A destination name other than stdout, stderr or logging is refused at once."""
    with pytest.raises(ValueError, match="'stdout', 'stderr' or 'logging'"):
        AuditLog("syslog")


def test_from_config_takes_the_callers_audit_log() -> None:
    """`Enforcer.from_config(config, audit=...)` writes there instead of the configured one."""
    stream = io.StringIO()

    Enforcer.from_config(make_config(), audit=AuditLog(stream)).check(_request("r-7"))

    assert [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()] == ["r-7"]
