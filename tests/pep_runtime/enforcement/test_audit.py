"""The audit line's log record: what `makeRecord` would build, through the same handlers."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from pep_runtime.enforcement import Enforcer, HttpRequest, LocalCedarDecisionPoint
from pep_runtime.enforcement.audit import AuditLog

from .conftest import FIXTURE_AUTHZ, FRONTEND_IDENTITY, make_config


class Keep(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[tuple[logging.Logger, Keep]]:
    """A logger of its own with a handler that keeps records."""
    logger = logging.getLogger("tests.pep.audit")
    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


def test_record_has_every_attribute_make_record_sets(
    kept: tuple[logging.Logger, Keep],
) -> None:
    """The record handed to the handlers carries makeRecord's attributes with its values."""
    logger, handler = kept
    logger.info("line")  # through makeRecord, to the same handlers

    AuditLog(logger).emit('{"event":"authorization"}')

    reference, record = handler.records
    assert set(vars(record)) == set(vars(reference))
    same = ("name", "levelno", "levelname", "process", "processName", "thread", "threadName")
    assert {key: getattr(record, key) for key in same} == {
        key: getattr(reference, key) for key in same
    }
    assert record.getMessage() == '{"event":"authorization"}'
    assert abs(record.created - reference.created) < 5
    assert logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s").format(record)


def test_a_custom_record_factory_is_used(
    kept: tuple[logging.Logger, Keep], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An application's record factory still builds the audit record."""
    logger, handler = kept
    original = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(*args, **kwargs)
        record.deployment = "blue"
        return record

    monkeypatch.setattr(logging, "_logRecordFactory", factory)

    AuditLog(logger).emit("{}")

    assert handler.records[0].deployment == "blue"  # type: ignore[attr-defined]


def test_filters_still_apply(kept: tuple[logging.Logger, Keep]) -> None:
    """A filter on the audit logger can still drop lines."""
    logger, handler = kept
    logger.addFilter(lambda record: False)

    try:
        AuditLog(logger).emit("{}")
    finally:
        logger.filters.clear()

    assert handler.records == []


def test_one_line_per_request_with_the_same_fields_on_a_cache_hit(
    kept: tuple[logging.Logger, Keep],
) -> None:
    """A repeated request (served from the memo and the cache) writes a full line each time."""
    logger, handler = kept
    enforcer = Enforcer(
        make_config(),
        LocalCedarDecisionPoint(FIXTURE_AUTHZ, namespace="Latticework"),
        audit=AuditLog(logger),
    )
    headers = {"x-amzn-lattice-identity": [FRONTEND_IDENTITY]}

    for request_id in ("r-1", "r-2"):
        enforcer.check(
            HttpRequest("GET", b"/orders/o-1", {**headers, "x-request-id": [request_id]})
        )

    lines = [json.loads(record.getMessage()) for record in handler.records]
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


def test_a_forked_child_audits_under_its_own_process_id(
    kept: tuple[logging.Logger, Keep],
) -> None:
    """The process id read once per process is read again in a forked child."""
    logger, handler = kept
    reader, writer = os.pipe()

    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which reports through the pipe
        try:
            AuditLog(logger).emit("{}")
            os.write(writer, f"{handler.records[-1].process} {os.getpid()}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as answer:
        reported = answer.read()
    os.waitpid(child, 0)

    audited, actual = reported.split()
    assert audited == actual == str(child)
