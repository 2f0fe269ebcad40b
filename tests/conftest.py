"""Fixtures every test package may use."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture
def never_waits() -> Iterator[None]:
    """Fail the test after 10 seconds instead of letting a blocked read hang the suite."""

    def give_up(signum: int, frame: object) -> None:
        raise TimeoutError("the test waited on a read for 10 seconds")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
