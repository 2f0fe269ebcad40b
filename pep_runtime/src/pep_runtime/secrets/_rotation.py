"""Refresh a secret once when the system it unlocks says it is wrong (after a rotation)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pep_runtime.secrets._client import SecretsClient
from pep_runtime.secrets._value import SecretValue

logger = logging.getLogger(__name__)

_Result = TypeVar("_Result")


def with_refresh_on_auth_failure(
    secrets: SecretsClient,
    name: str,
    operation: Callable[[SecretValue], _Result],
    *,
    is_auth_failure: Callable[[Exception], bool],
) -> _Result:
    """Run `operation` with secret `name`; on an authentication failure refresh it and retry once.

    Meant for logins after a rotation: the cached value may be the one just replaced.
    `is_auth_failure` says which errors of `operation` mean "wrong credentials" (for
    psycopg, `lambda exc: isinstance(exc, psycopg.OperationalError) and exc.sqlstate ==
    "28P01"`). Any other error, and a second failure of any kind, propagates: there is no
    loop.
    """
    secret = secrets.get(name)
    try:
        return operation(secret)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
        _warn_refreshing(name, secret, exc)

    refreshed = secrets.refresh(name)
    return operation(refreshed)


async def with_refresh_on_auth_failure_async(
    secrets: SecretsClient,
    name: str,
    operation: Callable[[SecretValue], Awaitable[_Result]],
    *,
    is_auth_failure: Callable[[Exception], bool],
) -> _Result:
    """The `async` form of `with_refresh_on_auth_failure`; Secrets Manager runs in a thread."""
    secret = await secrets.aget(name)
    try:
        return await operation(secret)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
        _warn_refreshing(name, secret, exc)

    refreshed = await secrets.arefresh(name)
    return await operation(refreshed)


def _warn_refreshing(name: str, secret: SecretValue, exc: Exception) -> None:
    logger.warning(
        "authentication with secret %r (version %s) failed (%s); refreshing it and retrying once",
        name,
        secret.version_id,
        type(exc).__name__,
    )


__all__ = ["with_refresh_on_auth_failure", "with_refresh_on_auth_failure_async"]
