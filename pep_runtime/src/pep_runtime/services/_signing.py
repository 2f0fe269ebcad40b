"""SigV4 signing of httpx requests for VPC Lattice, with botocore's signer."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

LATTICE_SERVICE = "vpc-lattice-svcs"

# Headers an earlier signing (a retry re-sends the same request object) may have set.
_SIGNING_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")


class LatticeSigV4Auth(httpx.Auth):
    """Signs each request for `vpc-lattice-svcs` with an unsigned payload.

    The signed headers are `host`, `x-amz-date`, `x-amz-content-sha256: UNSIGNED-PAYLOAD`
    and, with temporary credentials, `x-amz-security-token`; other headers travel unsigned,
    as in AWS's Lattice examples, so a proxy adding one does not break the signature.
    Credentials are frozen per request: botocore's refreshable credentials renew themselves
    before they expire.
    """

    requires_request_body = False

    def __init__(
        self, credentials: Credentials, region: str, *, service: str = LATTICE_SERVICE
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign `request` (again, on a retry) and send it."""
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Add the SigV4 headers to `request`, replacing those of an earlier signing."""
        # NOTE: a refresh near expiry runs botocore's provider (an HTTP call to the container
        # credentials endpoint) on the calling thread, once an hour or so; in async code it
        # briefly blocks the event loop.
        frozen = self._credentials.get_frozen_credentials()
        for header in _SIGNING_HEADERS:
            request.headers.pop(header, None)

        aws_request = AWSRequest(
            method=request.method,
            url=str(request.url),
            headers={"host": request.headers["host"], "x-amz-content-sha256": UNSIGNED_PAYLOAD},
        )
        SigV4Auth(frozen, self._service, self._region).add_auth(aws_request)
        for name, value in aws_request.headers.items():
            request.headers[name] = value


__all__ = ["LATTICE_SERVICE", "LatticeSigV4Auth"]
