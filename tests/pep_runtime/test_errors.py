"""The runtime's errors survive pickling, so they can cross a process pool's boundary."""

from __future__ import annotations

import pickle

import pytest

from pep_runtime.errors import PepRuntimeError
from pep_runtime.secrets.exceptions import SecretConfigError, SecretNotFoundError


@pytest.mark.parametrize(
    "error",
    [
        PepRuntimeError("plain"),
        SecretConfigError("bad arn", name="database", variable="LATTICEWORK_SECRET_DATABASE_ARN"),
        SecretNotFoundError(
            "no such secret",
            name="database",
            secret_id="arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf",
            stage="AWSPENDING",
            version_id=None,
            error_code="ResourceNotFoundException",
        ),
    ],
    ids=["base", "keyword-only attributes", "lookup"],
)
def test_errors_round_trip_through_pickle(error: PepRuntimeError) -> None:
    """An error with keyword-only constructor arguments unpickles with its message and context."""
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, made just above

    assert type(restored) is type(error)
    assert str(restored) == str(error)
    assert vars(restored) == vars(error)
