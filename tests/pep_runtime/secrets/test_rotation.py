"""Refresh-on-authentication-failure: refresh once, retry once, no loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pep_runtime.secrets import (
    SecretsClient,
    SecretValue,
    with_refresh_on_auth_failure,
    with_refresh_on_auth_failure_async,
)
from tests.pep_runtime.secrets.conftest import Upstream

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class LoginRefusedError(Exception):
    """What a database driver raises for a wrong password."""


class Database:
    """A database whose password is whatever the test last set."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.logins: list[str] = []

    def login(self, secret: SecretValue) -> str:
        self.logins.append(secret.version_id)
        if secret.reveal() != self.password:
            raise LoginRefusedError("password authentication failed")
        return "session"


def is_login_refused(exc: Exception) -> bool:
    return isinstance(exc, LoginRefusedError)


@pytest.fixture
def rotated(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> tuple[SecretsClient, Database]:
    """A client holding the old password in its cache after the database moved to a new one."""
    arn = admin.create_secret(Name="orders/database", SecretString="old-password")["ARN"]
    secrets = SecretsClient({"database": arn}, secretsmanager=secretsmanager)
    secrets.get("database")
    admin.put_secret_value(SecretId=arn, SecretString="new-password")
    return secrets, Database("new-password")


def test_a_rotated_password_is_refreshed_and_the_login_retried(
    rotated: tuple[SecretsClient, Database], upstream: Upstream
) -> None:
    """The stale cached password fails, the secret is refreshed once, the retry succeeds."""
    secrets, database = rotated

    session = with_refresh_on_auth_failure(
        secrets, "database", database.login, is_auth_failure=is_login_refused
    )

    assert session == "session"
    assert len(database.logins) == 2
    assert database.logins[0] != database.logins[1]
    assert upstream.calls == 2


def test_a_second_failure_propagates_without_a_loop(
    rotated: tuple[SecretsClient, Database], upstream: Upstream
) -> None:
    """When the refreshed password fails too, the error is raised after exactly two logins."""
    secrets, database = rotated
    database.password = "neither"

    with pytest.raises(LoginRefusedError):
        with_refresh_on_auth_failure(
            secrets, "database", database.login, is_auth_failure=is_login_refused
        )

    assert len(database.logins) == 2
    assert upstream.calls == 2


def test_other_errors_propagate_without_a_refresh(
    rotated: tuple[SecretsClient, Database], upstream: Upstream
) -> None:
    """An error that is not an authentication failure is raised at once, no refresh."""
    secrets, _ = rotated

    def unreachable(secret: SecretValue) -> str:
        raise ConnectionRefusedError("database is down")

    with pytest.raises(ConnectionRefusedError):
        with_refresh_on_auth_failure(
            secrets, "database", unreachable, is_auth_failure=is_login_refused
        )

    assert upstream.calls == 1


async def test_the_async_helper_refreshes_and_retries_once(
    rotated: tuple[SecretsClient, Database], upstream: Upstream
) -> None:
    """The async form refreshes once and retries once, like the sync one."""
    secrets, database = rotated

    async def login(secret: SecretValue) -> str:
        return database.login(secret)

    session = await with_refresh_on_auth_failure_async(
        secrets, "database", login, is_auth_failure=is_login_refused
    )

    assert session == "session"
    assert len(database.logins) == 2
    assert upstream.calls == 2
