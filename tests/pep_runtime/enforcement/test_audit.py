"""The audit trail: one whole line per decision, where the config says, or no decision."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from typing import Any

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

from .apps import Calls, starlette_app
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


@pytest.mark.parametrize("stream", [_closed_stream(), _FullDisk()], ids=["closed", "disk full"])
def test_an_unwritable_trail_denies_the_request(
    stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    """No decision goes unrecorded: a failed write turns even an Allow into a 503."""
    calls = Calls()
    client = TestClient(starlette_app(_enforcer(AuditLog(stream)), calls))

    response = client.get("/orders/o-1", headers={"x-amzn-lattice-identity": FRONTEND_IDENTITY})

    assert response.status_code == 503
    assert calls.handled == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert ["audit line could not be written" in r.getMessage() for r in errors] == [True]


def test_no_standard_output_at_all_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process without standard output (sys.stdout is None) cannot audit, so it denies."""
    monkeypatch.setattr(sys, "stdout", None)

    outcome = _enforcer().check(_request())

    assert (outcome.status, outcome.reason) == (503, "audit-unavailable")


def test_authorize_raises_when_the_trail_is_unwritable() -> None:
    """Outside the middleware an unrecorded decision is no decision: it raises."""
    enforcer = _enforcer(AuditLog(_closed_stream()))
    principal = enforcer.resolve_principal(IDENTITY)

    with pytest.raises(DecisionUnavailableError) as caught:
        enforcer.authorize(principal, "GetOrder", enforcer.resource("Order", "o-1"))
    with pytest.raises(DecisionUnavailableError):
        enforcer.filter_authorized(
            principal, "GetOrder", ["o-2"], lambda item: enforcer.resource("Order", item)
        )

    assert caught.value.reason == "audit-unavailable"


def test_an_unknown_destination_is_refused() -> None:
    """A destination name other than stdout or stderr is a programming error, said at once."""
    with pytest.raises(ValueError, match="'stdout' or 'stderr'"):
        AuditLog("syslog")
