"""SigV4 verification of requests to the local gateway, as VPC Lattice does it for IAM auth.

The gateway re-computes the signature with botocore's own SigV4 signer over exactly the
headers the caller says it signed, with the secret of the access key the caller names, and
compares the two in constant time. The checks are the ones Lattice applies to a
`vpc-lattice-svcs` request: the credential scope (date, region, service), the timestamp
window, `host` and `x-amz-date` among the signed headers, and the payload hash when the
caller sends one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

SIGNING_SERVICE = "vpc-lattice-svcs"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_CLOCK_SKEW = timedelta(minutes=5)

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class LocalCredential:
    """Local stand-in credentials of one IAM role, as the gateway knows them.

    The secret key is excluded from the repr, so logging a credential never shows it.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    role_arn: str
    session_name: str

    @property
    def assumed_role_arn(self) -> str:
        """The STS assumed-role ARN that Lattice reports for a session of this role."""
        prefix, _, role_path_and_name = self.role_arn.partition(":role/")
        account_prefix = prefix.replace(":iam::", ":sts::", 1)
        role_name = role_path_and_name.rsplit("/", 1)[-1]
        return f"{account_prefix}:assumed-role/{role_name}/{self.session_name}"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the gateway received, as the caller signed it."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the first header called `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


class SignatureError(Exception):
    """A request is unsigned, malformed, signed for something else, or signed wrongly.

    `reason` is safe to log: it never contains a secret or a signature.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class _ScopedSigner(SigV4Auth):
    """botocore's SigV4 signer restricted to the headers the caller listed as signed."""

    def __init__(
        self, credentials: Credentials, region: str, signed_header_names: tuple[str, ...]
    ) -> None:
        super().__init__(credentials, SIGNING_SERVICE, region)
        self._signed_header_names = signed_header_names

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        selected = HTTPHeaders()
        for name in self._signed_header_names:
            values = request.headers.get_all(name)
            if not values:
                message = f"header {name!r} is listed in SignedHeaders but was not sent"
                raise SignatureError(message)
            for value in values:
                selected.add_header(name, value)
        return selected


def verify_signature(
    request: SignedRequest,
    credentials: Mapping[str, LocalCredential],
    *,
    region: str,
    now: datetime | None = None,
) -> LocalCredential:
    """Return the credential that signed `request`, or raise `SignatureError`."""
    authorization = request.header("authorization")
    if authorization is None:
        raise SignatureError("the request has no Authorization header (unsigned)")

    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:
        message = (
            "the Authorization header is not AWS4-HMAC-SHA256 Credential/SignedHeaders/Signature"
        )
        raise SignatureError(message)

    access_key_id, scope_date, scope_region, scope_service = _credential_scope(match["credential"])
    credential = credentials.get(access_key_id)
    if credential is None:
        raise SignatureError(f"access key {access_key_id!r} is not known to the gateway")

    amz_date = _checked_amz_date(request, scope_date, now or datetime.now(UTC))
    if scope_region != region:
        raise SignatureError(f"credential scope region {scope_region!r} is not {region!r}")

    if scope_service != SIGNING_SERVICE:
        message = f"credential scope service {scope_service!r} is not {SIGNING_SERVICE!r}"
        raise SignatureError(message)

    signed_header_names = tuple(match["signed_headers"].split(";"))
    for required in ("host", "x-amz-date"):
        if required not in signed_header_names:
            raise SignatureError(f"SignedHeaders must include {required!r}")

    _check_payload_hash(request)
    expected = _expected_signature(request, credential, region, amz_date, signed_header_names)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError("the signature does not match the request")

    return credential


def _credential_scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        message = "Credential must be <access key>/<yyyymmdd>/<region>/<service>/aws4_request"
        raise SignatureError(message)

    return parts[0], parts[1], parts[2], parts[3]


def _checked_amz_date(request: SignedRequest, scope_date: str, now: datetime) -> str:
    amz_date = request.header("x-amz-date")
    if amz_date is None:
        raise SignatureError("the request has no x-amz-date header")

    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        message = f"x-amz-date {amz_date!r} is not in the form YYYYMMDDTHHMMSSZ"
        raise SignatureError(message) from None

    if amz_date[:8] != scope_date:
        raise SignatureError("the credential scope date differs from x-amz-date")

    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureError(f"x-amz-date {amz_date} is more than 5 minutes from now")

    return amz_date


def _check_payload_hash(request: SignedRequest) -> None:
    claimed = request.header("x-amz-content-sha256")
    if claimed is None or claimed == UNSIGNED_PAYLOAD:
        return

    if not _HEX_SHA256.match(claimed):
        message = "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a hex SHA-256 digest"
        raise SignatureError(message)

    if not hmac.compare_digest(claimed, hashlib.sha256(request.body).hexdigest()):
        raise SignatureError("x-amz-content-sha256 does not match the request body")


def _expected_signature(
    request: SignedRequest,
    credential: LocalCredential,
    region: str,
    amz_date: str,
    signed_header_names: tuple[str, ...],
) -> str:
    aws_request = AWSRequest(
        method=request.method, url=request.url, headers=None, data=request.body
    )
    for name, value in request.headers:
        aws_request.headers.add_header(name.lower(), value)
    aws_request.context["timestamp"] = amz_date

    signer = _ScopedSigner(
        Credentials(credential.access_key_id, credential.secret_access_key),
        region,
        signed_header_names,
    )
    canonical_request = signer.canonical_request(aws_request)
    string_to_sign = signer.string_to_sign(aws_request, canonical_request)
    signature: str = signer.signature(string_to_sign, aws_request)
    return signature


__all__ = [
    "MAX_CLOCK_SKEW",
    "SIGNING_SERVICE",
    "LocalCredential",
    "SignatureError",
    "SignedRequest",
    "verify_signature",
]
