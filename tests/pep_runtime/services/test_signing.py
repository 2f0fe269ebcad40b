"""Signatures checked by an independent botocore verifier on a loopback server."""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import CredentialRetrievalError

from pep_runtime.services import (
    AsyncServiceClient,
    ServiceClient,
    ServiceCredentialsError,
    chain_credentials,
)
from tests.pep_runtime.services.conftest import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    SERVICE,
    SESSION_TOKEN,
    LatticeStub,
)


def client_for(lattice: LatticeStub, credentials: Credentials) -> ServiceClient:
    return ServiceClient("orders", lattice.base_url, region=REGION, credentials=credentials)


def test_a_signed_get_verifies(lattice: LatticeStub, credentials: Credentials) -> None:
    """A GET is signed for vpc-lattice-svcs with an unsigned payload and the session token."""
    with client_for(lattice, credentials) as orders:
        response = orders.get("/orders/42", params={"expand": "items", "a": "b c"})

    seen = lattice.seen[0]
    signed = seen.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert response.status_code == 200
    assert seen.verdict == "ok"
    assert seen.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert seen.headers["x-amz-security-token"] == SESSION_TOKEN
    assert {"host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"} <= set(signed)
    assert f"/{REGION}/{SERVICE}/aws4_request" in seen.headers["authorization"]


def test_a_signed_post_with_a_body_verifies(lattice: LatticeStub, credentials: Credentials) -> None:
    """A POST body travels intact and unhashed; the signature still verifies."""
    with client_for(lattice, credentials) as orders:
        response = orders.post("/orders", json={"item": "book", "quantity": 2})

    seen = lattice.seen[0]
    assert response.status_code == 200
    assert seen.verdict == "ok"
    assert seen.body == b'{"item":"book","quantity":2}'
    assert "content-type;host;" in seen.headers["authorization"]


def test_the_verifier_rejects_a_signed_payload_variant(lattice: LatticeStub) -> None:
    """A request signed with the body's SHA-256 instead of UNSIGNED-PAYLOAD is refused."""
    url = f"{lattice.base_url}/orders"
    body = b'{"item": "book"}'
    aws_request = AWSRequest(
        method="POST", url=url, data=body, headers={"host": f"127.0.0.1:{lattice.port}"}
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), SERVICE, REGION).add_auth(
        aws_request
    )

    response = httpx.post(url, content=body, headers=dict(aws_request.headers.items()))

    assert response.status_code == 403
    assert lattice.seen[0].verdict == "payload hash is not UNSIGNED-PAYLOAD"


def test_the_verifier_rejects_a_wrong_secret_key(lattice: LatticeStub) -> None:
    """A signature made with another secret key does not verify."""
    forged = Credentials(ACCESS_KEY, "not-the-secret-key", SESSION_TOKEN)

    with client_for(lattice, forged) as orders:
        response = orders.get("/orders/42")

    assert response.status_code == 403
    assert lattice.seen[0].verdict == "signature mismatch"


def test_the_verifier_rejects_a_path_changed_after_signing(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """The path is part of the signature: changing it after signing breaks it."""
    with client_for(lattice, credentials) as orders:
        request = orders._http.build_request("GET", "/orders/42")
        orders._auth.sign(request)
        tampered = httpx.Request("GET", f"{lattice.base_url}/orders/43", headers=request.headers)

        response = httpx.Client().send(tampered)

    assert response.status_code == 403
    assert lattice.seen[0].verdict == "signature mismatch"


def test_credentials_are_refreshed_before_they_expire(lattice: LatticeStub) -> None:
    """Refreshable credentials near expiry are renewed and the new key signs the next call."""
    lattice.keys["ASIANEWKEY"] = ("new-secret-key", "new-token")
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    renewals: list[int] = []

    def renew() -> dict[str, str]:
        renewals.append(1)
        return {
            "access_key": "ASIANEWKEY",
            "secret_key": "new-secret-key",
            "token": "new-token",
            "expiry_time": later.isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        {
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "token": SESSION_TOKEN,
            "expiry_time": soon.isoformat(),
        },
        refresh_using=renew,
        method="test",
    )

    with client_for(lattice, credentials) as orders:
        first = orders.get("/orders/1")
        second = orders.get("/orders/2")

    assert (first.status_code, second.status_code) == (200, 200)
    assert [seen.access_key for seen in lattice.seen] == ["ASIANEWKEY", "ASIANEWKEY"]
    assert len(renewals) == 1


def test_a_failed_credential_refresh_is_a_credentials_error(lattice: LatticeStub) -> None:
    """Expiring credentials whose provider fails raise ServiceCredentialsError, nothing is sent."""

    def endpoint_down() -> dict[str, str]:
        raise CredentialRetrievalError(provider="container-role", error_msg="connection refused")

    expiring = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    credentials = RefreshableCredentials.create_from_metadata(
        {
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "token": SESSION_TOKEN,
            "expiry_time": expiring.isoformat(),
        },
        refresh_using=endpoint_down,
        method="container-role",
    )

    with (
        client_for(lattice, credentials) as orders,
        pytest.raises(ServiceCredentialsError) as raised,
    ):
        orders.get("/orders/1")

    assert raised.value.service == "orders"
    assert "GET orders /orders/1" in str(raised.value)
    assert "container-role" in str(raised.value)
    assert SECRET_KEY not in str(raised.value)
    assert lattice.seen == []


def test_from_environment_signs_with_the_credential_chain(
    lattice: LatticeStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default credentials come from botocore's chain (here its environment provider)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    environ = {"LATTICEWORK_SERVICE_ORDERS_URL": lattice.base_url, "AWS_REGION": REGION}

    with ServiceClient.from_environment("orders", environ) as orders:
        response = orders.get("/orders/42")

    assert response.status_code == 200
    assert lattice.seen[0].verdict == "ok"
    assert chain_credentials("orders").get_frozen_credentials().token == SESSION_TOKEN


async def test_the_async_client_signs_the_same_way(
    lattice: LatticeStub, credentials: Credentials
) -> None:
    """The async client's GET and POST verify like the sync client's."""
    async with AsyncServiceClient(
        "orders", lattice.base_url, region=REGION, credentials=credentials
    ) as orders:
        got = await orders.get("/orders/42")
        posted = await orders.post("/orders", content=b"raw body")

    assert (got.status_code, posted.status_code) == (200, 200)
    assert [seen.verdict for seen in lattice.seen] == ["ok", "ok"]


def test_no_credential_reaches_the_logs(
    lattice: LatticeStub, credentials: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, neither the secret key nor the session token appears in any log record."""
    caplog.set_level(logging.DEBUG)

    with client_for(lattice, credentials) as orders:
        orders.get("/orders/42")

    logged = "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    assert "GET orders /orders/42 -> 200" in logged
    assert SECRET_KEY not in logged
    assert SESSION_TOKEN not in logged
