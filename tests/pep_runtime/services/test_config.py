"""Where calls go: environment contract, request ids, refused configurations."""

from __future__ import annotations

import json
import re

import pytest
from botocore.credentials import Credentials

from pep_runtime.services import (
    AsyncServiceClient,
    ServiceClient,
    ServiceConfigError,
    ServiceCredentialsError,
    bind_request_id,
    chain_credentials,
    current_request_id,
    environment_variable,
    reset_request_id,
    service_url,
    set_request_id,
)
from tests.pep_runtime.services.conftest import REGION, LatticeStub


def test_the_url_variable_follows_the_contract() -> None:
    """`order-history` is found in LATTICEWORK_SERVICE_ORDER_HISTORY_URL."""
    environ = {"LATTICEWORK_SERVICE_ORDER_HISTORY_URL": "https://svc-0a1.lattice.example.com/"}

    url = service_url("order-history", environ)

    assert environment_variable("order-history") == "LATTICEWORK_SERVICE_ORDER_HISTORY_URL"
    assert url == "https://svc-0a1.lattice.example.com"


def test_a_missing_url_names_the_variable_and_the_fix() -> None:
    """Without the variable the error names it and the catalog field that produces it."""
    with pytest.raises(ServiceConfigError) as raised:
        service_url("orders", {})

    assert raised.value.variable == "LATTICEWORK_SERVICE_ORDERS_URL"
    assert "callers.services" in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://svc.lattice.example.com",
        "ftp://svc.lattice.example.com",
        "https://user:hunter2@svc.lattice.example.com",
        "https://svc.lattice.example.com/?debug=1",
        "not a url",
    ],
)
def test_unsafe_urls_are_refused_without_echoing_them(url: str) -> None:
    """Plain http off loopback, other schemes, credentials and queries are refused."""
    environ = {"LATTICEWORK_SERVICE_ORDERS_URL": url}

    with pytest.raises(ServiceConfigError) as raised:
        service_url("orders", environ)

    assert "must be https://" in str(raised.value)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://svc.lattice.example.com/prefix?", "a query or fragment"),
        ("https://svc.lattice.example.com#", "a query or fragment"),
        ("https://svc lattice.example.com", "not a DNS name or IP address"),
        ("https://svc_1.lattice.example.com", "not a DNS name or IP address"),
        ("https://svc.lattice.example.com:99999", "port 99999 outside 1-65535"),
        ("https://svc.lattice.example.com:0", "port 0 outside 1-65535"),
    ],
)
def test_ill_formed_urls_are_refused_naming_the_variable(url: str, problem: str) -> None:
    """A URL httpx would parse but that cannot reach a Lattice service fails at startup."""
    environ = {"LATTICEWORK_SERVICE_ORDERS_URL": url}

    with pytest.raises(ServiceConfigError) as raised:
        service_url("orders", environ)

    assert raised.value.variable == "LATTICEWORK_SERVICE_ORDERS_URL"
    assert str(raised.value).startswith("LATTICEWORK_SERVICE_ORDERS_URL must be https://")
    assert problem in str(raised.value)


def test_plain_http_is_accepted_on_loopback() -> None:
    """Local runs may use http:// on 127.0.0.1."""
    environ = {"LATTICEWORK_SERVICE_ORDERS_URL": "http://127.0.0.1:8081"}

    assert service_url("orders", environ) == "http://127.0.0.1:8081"


def test_a_missing_region_is_named(credentials: Credentials) -> None:
    """The signature needs a region: AWS_REGION is named when it is missing."""
    environ = {"LATTICEWORK_SERVICE_ORDERS_URL": "https://svc.lattice.example.com"}

    with pytest.raises(ServiceConfigError) as raised:
        ServiceClient.from_environment("orders", environ, credentials=credentials)

    assert raised.value.variable == "AWS_REGION"


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """An empty credential chain raises ServiceCredentialsError naming what to set."""
    for variable in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)

    with pytest.raises(ServiceCredentialsError, match="task role"):
        chain_credentials("orders")


@pytest.mark.parametrize("path", ["orders/42", "//evil.example.com/x", "https://evil.example.com/"])
def test_only_paths_relative_to_the_service_are_sent(
    lattice: LatticeStub, credentials: Credentials, path: str
) -> None:
    """An absolute URL would carry a signed request elsewhere: it is refused before sending."""
    with (
        ServiceClient("orders", lattice.base_url, region=REGION, credentials=credentials) as orders,
        pytest.raises(ServiceConfigError, match="must be relative"),
    ):
        orders.get(path)

    assert lattice.seen == []


@pytest.mark.parametrize("path", ["/orders/4\r\nx-evil: 1", "/orders/\x00"])
async def test_a_path_with_control_characters_is_a_config_error(
    lattice: LatticeStub, credentials: Credentials, path: str
) -> None:
    """A path httpx cannot put in a request line fails as ServiceConfigError, sync and async."""
    sync_client = ServiceClient("orders", lattice.base_url, region=REGION, credentials=credentials)
    async_client = AsyncServiceClient(
        "orders", lattice.base_url, region=REGION, credentials=credentials
    )

    with sync_client, pytest.raises(ServiceConfigError, match="not a valid URL path"):
        sync_client.get(path)
    async with async_client:
        with pytest.raises(ServiceConfigError, match="not a valid URL path"):
            await async_client.get(path)

    assert lattice.seen == []


def test_a_bound_request_id_is_forwarded(lattice: LatticeStub, credentials: Credentials) -> None:
    """The id bound for the incoming request travels on every call made while handling it."""
    with (
        ServiceClient("orders", lattice.base_url, region=REGION, credentials=credentials) as orders,
        bind_request_id("incoming-7f3a"),
    ):
        first = orders.get("/orders/1")
        second = orders.get("/orders/2")

    assert json.loads(first.content)["request_id"] == "incoming-7f3a"
    assert json.loads(second.content)["request_id"] == "incoming-7f3a"


def test_without_an_incoming_id_each_call_gets_a_new_one(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """Outside a bound request, every call generates its own id."""
    with ServiceClient(
        "orders", lattice.base_url, region=REGION, credentials=credentials
    ) as orders:
        ids = [json.loads(orders.get("/orders/1").content)["request_id"] for _ in range(2)]

    assert ids[0] != ids[1]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)


def test_an_unsafe_incoming_id_is_replaced(lattice: LatticeStub, credentials: Credentials) -> None:
    """An incoming id that is not a safe header value is replaced by a generated one."""
    with (
        ServiceClient("orders", lattice.base_url, region=REGION, credentials=credentials) as orders,
        bind_request_id("two words") as bound,
    ):
        forwarded = json.loads(orders.get("/orders/1").content)["request_id"]

    assert forwarded == bound
    assert re.fullmatch(r"[0-9a-f]{32}", forwarded)


def test_set_and_reset_bind_like_the_context_manager(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """`set_request_id` binds (unsafe ids replaced) until `reset_request_id` restores the outer."""
    with bind_request_id("outer-1"):
        token = set_request_id("inner-2")
        try:
            with ServiceClient(
                "orders", lattice.base_url, region=REGION, credentials=credentials
            ) as orders:
                forwarded = json.loads(orders.get("/orders/1").content)["request_id"]
        finally:
            reset_request_id(token)
        restored = current_request_id()
        unsafe = set_request_id("two words")
        replaced = current_request_id()
        reset_request_id(unsafe)

    assert (forwarded, restored) == ("inner-2", "outer-1")
    assert replaced is not None
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert current_request_id() is None


def test_an_explicit_id_header_wins(lattice: LatticeStub, credentials: Credentials) -> None:
    """A caller that sets x-request-id itself keeps its value."""
    with (
        ServiceClient("orders", lattice.base_url, region=REGION, credentials=credentials) as orders,
        bind_request_id("incoming"),
    ):
        response = orders.get("/orders/1", headers={"X-Request-Id": "explicit-1"})

    assert json.loads(response.content)["request_id"] == "explicit-1"
