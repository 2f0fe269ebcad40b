"""SigV4 signing of httpx requests for VPC Lattice, with botocore's signer."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pep_runtime._botocore_logs import install_botocore_log_filter
from pep_runtime.services.exceptions import ServiceCredentialsError

LATTICE_SERVICE = "vpc-lattice-svcs"

# Headers an earlier signing (a retry re-sends the same request object) may have set.
_SIGNING_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")


class LatticeSigV4Auth(httpx.Auth):
    """Signs each request for `vpc-lattice-svcs` with an unsigned payload.

    The signed headers are `host`, `content-type` when there is one, `x-amz-date`,
    `x-amz-content-sha256: UNSIGNED-PAYLOAD` and, with temporary credentials,
    `x-amz-security-token`. As in AWS's Lattice example, the headers the HTTP library adds
    on its own (user-agent, accept, accept-encoding, content-length, connection) and the
    caller's other headers travel unsigned, so a proxy adjusting one does not break it.
    Credentials are frozen per request: botocore's refreshable credentials renew themselves
    before they expire.
    """

    requires_request_body = False

    def __init__(
        self,
        credentials: Credentials,
        region: str,
        *,
        service: str = LATTICE_SERVICE,
        peer: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        self._peer = peer
        # botocore's signer logs each canonical request at DEBUG, session token included.
        install_botocore_log_filter()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign `request` (again, on a retry) and send it."""
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Add the SigV4 headers to `request`, replacing those of an earlier signing."""
        # NOTE: a refresh near expiry runs botocore's provider (an HTTP call to the container
        # credentials endpoint) on the calling thread, once an hour or so; in async code it
        # briefly blocks the event loop.
        try:
            frozen = self._credentials.get_frozen_credentials()
        except Exception as exc:
            # botocore's refresh raises whatever its provider raised (a BotoCoreError, or a
            # RuntimeError for credentials still expired after a refresh).
            peer = self._peer or request.url.host
            message = (
                f"no AWS credentials to sign {request.method} {peer} {request.url.path}: "
                f"refreshing them failed ({type(exc).__name__}: {exc}); on ECS check the task "
                "role and that the container credentials endpoint answers"
            )
            raise ServiceCredentialsError(message, service=peer) from exc

        for header in _SIGNING_HEADERS:
            request.headers.pop(header, None)

        signed = {"host": request.headers["host"], "x-amz-content-sha256": UNSIGNED_PAYLOAD}
        if "content-type" in request.headers:
            signed["content-type"] = request.headers["content-type"]
        # NOTE: the query is signed as httpx encoded it (a space in `params=` is `+`, SigV4's
        # canonical form is `%20`); how Lattice reads that `+` is not verified offline.
        aws_request = AWSRequest(method=request.method, url=str(request.url), headers=signed)
        SigV4Auth(frozen, self._service, self._region).add_auth(aws_request)
        for name, value in aws_request.headers.items():
            request.headers[name] = value


__all__ = ["LATTICE_SERVICE", "LatticeSigV4Auth"]
