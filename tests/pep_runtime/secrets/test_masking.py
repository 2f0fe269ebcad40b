"""No secret value reaches a log record, a repr or an exception, whatever the path."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

import pytest

from pep_runtime._botocore_logs import BotocoreLogFilter
from pep_runtime.secrets import (
    PENDING,
    SecretFormatError,
    SecretNotFoundError,
    SecretsClient,
    SecretsConfig,
    SecretUnavailableError,
)
from tests.pep_runtime.secrets.conftest import Upstream, make_secretsmanager

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

PASSWORD = "Zq8-masked-value-42"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE-task-role-token"


def every_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the captured records would print, arguments and tracebacks included."""
    return "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )


def test_no_value_in_logs_at_debug_through_a_whole_life(
    admin: SecretsManagerClient,
    secretsmanager: SecretsManagerClient,
    upstream: Upstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fetch, cache, stale serving and errors log nothing of the value, botocore included."""
    arn = admin.create_secret(Name="orders/database", SecretString=PASSWORD)["ARN"]
    now = [0.0]
    secrets = SecretsClient(
        {"database": arn},
        secretsmanager=secretsmanager,
        config=SecretsConfig(ttl_seconds=1, max_stale_seconds=100),
        clock=lambda: now[0],
    )
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    value = secrets.get("database")
    secrets.get("database")
    with pytest.raises(SecretNotFoundError):
        secrets.get("database", stage=PENDING)
    now[0] = 5
    upstream.fail_always = (500, "InternalServiceError")
    stale = secrets.get("database")
    logging.getLogger("service").info("got %s / %r", value, value)

    assert stale.reveal() == PASSWORD
    assert any(record.name.startswith("botocore") for record in caplog.records)
    assert "serving the cached value" in caplog.text
    assert PASSWORD not in every_text(caplog)


def test_no_session_token_in_logs_at_debug(
    admin: SecretsManagerClient,
    upstream: Upstream,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a task role's temporary credentials, botocore's request logs show no session token."""
    arn = admin.create_secret(Name="orders/database", SecretString=PASSWORD)["ARN"]
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    secrets = SecretsClient({"database": arn}, secretsmanager=make_secretsmanager(upstream))
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    secrets.get("database")

    assert any(record.name == "botocore.endpoint" for record in caplog.records)
    assert SESSION_TOKEN not in every_text(caplog)


def test_the_botocore_body_filter_is_what_keeps_the_value_out() -> None:
    """The filter drops a record carrying a GetSecretValue body and keeps others."""
    body = b'{"ARN": "arn", "SecretString": "' + PASSWORD.encode() + b'"}'
    carrying = logging.LogRecord(
        "botocore.parsers", 10, "p", 1, "Response body:\n%r", (body,), None
    )
    harmless = logging.LogRecord(
        "botocore.parsers", 10, "p", 1, "Response headers: %r", ({},), None
    )

    keeps = BotocoreLogFilter()

    assert not keeps.filter(carrying)
    assert keeps.filter(harmless)


def test_exceptions_carry_no_value(
    admin: SecretsManagerClient, aws: None, upstream: Upstream
) -> None:
    """Format errors and lookup errors, with their whole chains, never contain the value."""
    arn = admin.create_secret(Name="orders/database", SecretString="{" + PASSWORD)["ARN"]
    secrets = SecretsClient(
        {"database": arn},
        secretsmanager=make_secretsmanager(upstream, max_attempts=1),
        config=SecretsConfig(ttl_seconds=0, max_stale_seconds=0),
    )
    value = secrets.get("database")
    raised: list[BaseException] = []

    try:
        value.reveal_field("password", str)
    except SecretFormatError as exc:
        raised.append(exc)
    upstream.fail_always = (500, "InternalServiceError")
    try:
        secrets.get("database")
    except SecretUnavailableError as exc:
        raised.append(exc)

    assert len(raised) == 2
    for error in raised:
        rendered = "".join(traceback.format_exception(error))
        assert PASSWORD not in rendered
        assert PASSWORD not in repr(error)
