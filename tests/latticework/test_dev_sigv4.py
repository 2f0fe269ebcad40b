"""The gateway's SigV4 check accepts what botocore signs and rejects every kind of tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from latticework.dev._sigv4 import LocalCredential, SignatureError, SignedRequest, verify_signature

REGION = "eu-west-1"
ORDERS = LocalCredential(
    access_key_id="LWDVORDERS0000000001",
    secret_access_key="orders-local-secret",
    role_arn="arn:aws:iam::111122223333:role/latticework-dev-orders-task",
    session_name="orders-local",
)
KNOWN = {ORDERS.access_key_id: ORDERS}
URL = "http://127.0.0.1:8402/payments/p-1?a=1&b=2"


def _signed(
    method: str = "GET",
    url: str = URL,
    body: bytes = b"",
    *,
    credential: LocalCredential = ORDERS,
    service: str = "vpc-lattice-svcs",
    region: str = REGION,
    unsigned_payload: bool = True,
) -> SignedRequest:
    request = AWSRequest(method=method, url=url, data=body)
    if unsigned_payload:
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    credentials = Credentials(credential.access_key_id, credential.secret_access_key)
    SigV4Auth(credentials, service, region).add_auth(request)
    headers = [("host", "127.0.0.1:8402")]
    headers.extend((name.lower(), value) for name, value in request.headers.items())
    return SignedRequest(method, url, tuple(headers), body)


def _replace_header(request: SignedRequest, name: str, value: str) -> SignedRequest:
    headers = tuple((key, value if key == name else old) for key, old in request.headers)
    return SignedRequest(request.method, request.url, headers, request.body)


def test_accepts_a_botocore_signed_request_with_unsigned_payload() -> None:
    """A request signed by botocore for vpc-lattice-svcs verifies as its role's credential."""
    request = _signed()

    credential = verify_signature(request, KNOWN, region=REGION)

    assert credential == ORDERS


def test_accepts_a_signed_body_hash() -> None:
    """A request whose payload hash is part of the signature verifies with its own body."""
    request = _signed("POST", body=b'{"amount": 5}', unsigned_payload=False)

    credential = verify_signature(request, KNOWN, region=REGION)

    assert credential.role_arn == ORDERS.role_arn


def test_rejects_a_changed_body_under_a_signed_hash() -> None:
    """Changing the body after signing its hash is a signature failure."""
    signed = _signed("POST", body=b'{"amount": 5}', unsigned_payload=False)
    tampered = SignedRequest(signed.method, signed.url, signed.headers, b'{"amount": 500}')

    with pytest.raises(SignatureError, match="signature does not match"):
        verify_signature(tampered, KNOWN, region=REGION)


def test_rejects_a_changed_path() -> None:
    """A signature made for one path does not verify for another."""
    signed = _signed()
    moved = SignedRequest(
        signed.method, "http://127.0.0.1:8402/payments/p-2?a=1&b=2", signed.headers, b""
    )

    with pytest.raises(SignatureError, match="signature does not match"):
        verify_signature(moved, KNOWN, region=REGION)


def test_rejects_a_changed_signed_header() -> None:
    """Changing the value of a signed header breaks the signature."""
    signed = _signed()
    tampered = _replace_header(signed, "host", "127.0.0.1:8403")

    with pytest.raises(SignatureError, match="signature does not match"):
        verify_signature(tampered, KNOWN, region=REGION)


def test_rejects_an_unknown_access_key() -> None:
    """Credentials the gateway does not know are rejected, naming the key id only."""
    stranger = LocalCredential("LWDVSTRANGER00000001", "other", ORDERS.role_arn, "x-local")

    with pytest.raises(SignatureError, match="LWDVSTRANGER00000001") as raised:
        verify_signature(_signed(credential=stranger), KNOWN, region=REGION)

    assert "other" not in str(raised.value)


def test_rejects_a_wrong_secret_for_a_known_key() -> None:
    """The right key id with the wrong secret key does not verify."""
    impostor = LocalCredential(ORDERS.access_key_id, "guessed", ORDERS.role_arn, "x-local")

    with pytest.raises(SignatureError, match="signature does not match"):
        verify_signature(_signed(credential=impostor), KNOWN, region=REGION)


@pytest.mark.parametrize(
    ("service", "region", "message"),
    [("execute-api", REGION, "service 'execute-api'"), ("vpc-lattice-svcs", "us-east-1", "region")],
)
def test_rejects_a_signature_for_another_scope(service: str, region: str, message: str) -> None:
    """A signature scoped to another service or region is rejected before any HMAC."""
    request = _signed(service=service, region=region)

    with pytest.raises(SignatureError, match=message):
        verify_signature(request, KNOWN, region=REGION)


def test_rejects_a_stale_timestamp() -> None:
    """A request signed more than five minutes ago is rejected as a replay."""
    request = _signed()
    later = datetime.now(UTC) + timedelta(minutes=6)

    with pytest.raises(SignatureError, match="more than 5 minutes"):
        verify_signature(request, KNOWN, region=REGION, now=later)


def test_rejects_an_unsigned_request() -> None:
    """No Authorization header is a signature failure, not an anonymous pass."""
    request = SignedRequest("GET", URL, (("host", "127.0.0.1:8402"),), b"")

    with pytest.raises(SignatureError, match="no Authorization header"):
        verify_signature(request, KNOWN, region=REGION)


def test_rejects_a_signature_without_the_host_header() -> None:
    """Host must be signed, or the signature could be replayed against another service."""
    signed = _signed()
    authorization = dict(signed.headers)["authorization"]
    without_host = authorization.replace("SignedHeaders=host;", "SignedHeaders=")
    tampered = _replace_header(signed, "authorization", without_host)

    with pytest.raises(SignatureError, match="'host'"):
        verify_signature(tampered, KNOWN, region=REGION)


def test_rejects_a_malformed_authorization_header() -> None:
    """An Authorization header that is not SigV4 is rejected with what was expected."""
    request = _replace_header(_signed(), "authorization", "Bearer abc")

    with pytest.raises(SignatureError, match="AWS4-HMAC-SHA256"):
        verify_signature(request, KNOWN, region=REGION)


def test_credential_repr_hides_the_secret_key() -> None:
    """Logging a credential never shows its secret key."""
    text = repr(ORDERS)

    assert "orders-local-secret" not in text
    assert ORDERS.access_key_id in text


def test_assumed_role_arn_is_the_sts_session_arn() -> None:
    """The principal Lattice reports is the STS assumed-role ARN of the session."""
    arn = ORDERS.assumed_role_arn

    assert arn == "arn:aws:sts::111122223333:assumed-role/latticework-dev-orders-task/orders-local"
