"""Retries under failures injected by the loopback server: which, how many, and re-signed."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from botocore.credentials import Credentials

from pep_runtime.services import (
    AsyncServiceClient,
    RetryPolicy,
    ServiceClient,
    ServiceConnectionError,
    ServiceTimeoutError,
)
from tests.pep_runtime.services.conftest import REGION, SECRET_KEY, SESSION_TOKEN, LatticeStub

FAST = RetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)


def client_for(lattice: LatticeStub, credentials: Credentials, **options: object) -> ServiceClient:
    options.setdefault("retry", FAST)
    return ServiceClient(
        "orders",
        lattice.base_url,
        region=REGION,
        credentials=credentials,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("status", ["502", "503", "504"])
def test_gateway_failures_of_a_get_are_retried_and_re_signed(
    lattice: LatticeStub, credentials: Credentials, status: str
) -> None:
    """Two gateway failures are retried; every attempt carries a valid signature and one id."""
    lattice.script = [status, status]

    with client_for(lattice, credentials) as orders:
        response = orders.get("/orders/42")

    assert response.status_code == 200
    assert [seen.verdict for seen in lattice.seen] == ["ok", "ok", "ok"]
    assert len({seen.headers["x-request-id"] for seen in lattice.seen}) == 1


def test_retries_are_bounded(lattice: LatticeStub, credentials: Credentials) -> None:
    """A service that keeps answering 503 gets max_attempts tries, then its 503 is returned."""
    lattice.script = ["503"] * 10

    with client_for(lattice, credentials) as orders:
        response = orders.get("/orders/42")

    assert response.status_code == 503
    assert len(lattice.seen) == 3


def test_a_post_is_not_retried(lattice: LatticeStub, credentials: Credentials) -> None:
    """A 503 to a POST is returned after one attempt: the POST may have taken effect."""
    lattice.script = ["503"]

    with client_for(lattice, credentials) as orders:
        response = orders.post("/orders", json={"item": "book"})

    assert response.status_code == 503
    assert len(lattice.seen) == 1


def test_a_post_declared_idempotent_is_retried(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """idempotent=True (a POST with an idempotency key) opts a POST into retries."""
    lattice.script = ["503"]

    with client_for(lattice, credentials) as orders:
        response = orders.post(
            "/orders", json={"item": "book"}, headers={"idempotency-key": "k1"}, idempotent=True
        )

    assert response.status_code == 200
    assert len(lattice.seen) == 2


def test_a_500_is_not_retried(lattice: LatticeStub, credentials: Credentials) -> None:
    """Only 502, 503 and 504 are gateway failures; a 500 is the service's own answer."""
    lattice.script = ["500"]

    with client_for(lattice, credentials) as orders:
        response = orders.get("/orders/42")

    assert response.status_code == 500
    assert len(lattice.seen) == 1


def test_a_dropped_connection_is_retried(lattice: LatticeStub, credentials: Credentials) -> None:
    """A connection closed without a response is retried for a GET."""
    lattice.script = ["drop"]

    with client_for(lattice, credentials) as orders:
        response = orders.get("/orders/42")

    assert response.status_code == 200
    assert len(lattice.seen) == 2


def test_a_dropped_connection_fails_a_post(lattice: LatticeStub, credentials: Credentials) -> None:
    """A POST whose connection dropped is not repeated; the error says so."""
    lattice.script = ["drop"]

    with (
        client_for(lattice, credentials) as orders,
        pytest.raises(ServiceConnectionError) as raised,
    ):
        orders.post("/orders", json={"item": "book"})

    assert raised.value.attempts == 1
    assert len(lattice.seen) == 1


def test_an_unreachable_service_fails_after_the_bounded_retries(credentials: Credentials) -> None:
    """Connection refused on every attempt ends in ServiceConnectionError after max_attempts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    orders = ServiceClient(
        "orders",
        f"http://127.0.0.1:{closed_port}",
        region=REGION,
        credentials=credentials,
        retry=FAST,
    )

    with orders, pytest.raises(ServiceConnectionError) as raised:
        orders.get("/orders/42", request_id="req-1")

    assert raised.value.attempts == 3
    assert raised.value.request_id == "req-1"
    assert SECRET_KEY not in str(raised.value)
    assert SESSION_TOKEN not in str(raised.value)


def test_a_read_timeout_is_not_retried(lattice: LatticeStub, credentials: Credentials) -> None:
    """A slow answer raises ServiceTimeoutError after one attempt instead of waiting again."""
    lattice.slow_seconds = 0.5

    with (
        client_for(lattice, credentials, timeout=httpx.Timeout(0.1)) as orders,
        pytest.raises(ServiceTimeoutError) as raised,
    ):
        orders.get("/orders/42")

    assert raised.value.attempts == 1
    assert len(lattice.seen) == 1


async def test_the_async_client_retries_the_same_way(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """The async client retries a dropped connection and a 503 and stops at the bound."""
    lattice.script = ["drop", "503", "503", "503"]

    async with AsyncServiceClient(
        "orders", lattice.base_url, region=REGION, credentials=credentials, retry=FAST
    ) as orders:
        exhausted = await orders.get("/orders/42")
        recovered = await orders.get("/orders/42")

    assert (exhausted.status_code, recovered.status_code) == (503, 200)
    assert len(lattice.seen) == 5
    assert all(seen.verdict == "ok" for seen in lattice.seen)


class FixedDelay(RetryPolicy):
    """The default policy with a known wait, so that a test can see it being waited."""

    def delay_seconds(self, attempt: int) -> float:
        return 0.15


async def test_both_clients_wait_the_policys_delay_between_attempts(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """Two retries cost the two delays the policy asks for, sync and async."""
    policy = FixedDelay(max_attempts=3)
    lattice.script = ["503"] * 6
    sync_client = client_for(lattice, credentials, retry=policy)
    async_client = AsyncServiceClient(
        "orders", lattice.base_url, region=REGION, credentials=credentials, retry=policy
    )

    started = time.monotonic()
    with sync_client:
        sync_client.get("/orders/42")
    sync_seconds = time.monotonic() - started
    started = time.monotonic()
    async with async_client:
        await async_client.get("/orders/42")
    async_seconds = time.monotonic() - started

    assert len(lattice.seen) == 6
    assert sync_seconds >= 0.3
    assert async_seconds >= 0.3


def test_delays_are_jittered_within_the_exponential_ceiling() -> None:
    """Each delay is random, at most min(max_delay, base * 2**(attempt-1))."""
    policy = RetryPolicy(max_attempts=5, base_delay_seconds=0.1, max_delay_seconds=0.3)

    delays = {attempt: [policy.delay_seconds(attempt) for _ in range(200)] for attempt in (1, 2, 3)}

    assert max(delays[1]) <= 0.1
    assert max(delays[2]) <= 0.2
    assert max(delays[3]) <= 0.3
    assert len(set(delays[3])) > 100


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("max_attempts", 0),
        ("max_attempts", 2.5),
        ("base_delay_seconds", float("nan")),
        ("max_delay_seconds", -1.0),
        ("max_delay_seconds", "2"),
    ],
)
def test_a_policy_that_is_no_count_of_attempts_or_seconds_is_refused(
    setting: str, value: object
) -> None:
    """Each setting is checked up front, naming it and the value found."""
    with pytest.raises(ValueError, match=f"RetryPolicy.{setting} must be") as raised:
        RetryPolicy(**{setting: value})  # type: ignore[arg-type]

    assert repr(value) in str(raised.value)
