"""A loopback HTTP server that checks SigV4 signatures on its own, with botocore.

The server parses the Authorization header, rebuilds the canonical request from the signed
headers it received, recomputes the signature with botocore's SigV4Auth and the secret key
it knows for the access key, and compares. It answers 403 to anything that does not verify,
including a request whose payload hash is not UNSIGNED-PAYLOAD. Failures can be scripted:
a 503, a dropped connection, or a slow answer.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

REGION = "eu-west-1"
SERVICE = "vpc-lattice-svcs"
ACCESS_KEY = "ASIAEXAMPLEKEY"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token"


@dataclass
class Seen:
    """One request as the server received and judged it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verdict: str
    access_key: str | None


@dataclass
class LatticeStub:
    """The server's state: known keys, scripted failures and what it saw."""

    keys: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    slow_seconds: float = 0.0
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_action(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"


def verify(
    method: str, path: str, headers: dict[str, str], stub: LatticeStub
) -> tuple[str, str | None]:
    """'ok' and the access key when the signature verifies, else the reason it does not."""
    authorization = headers.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return "no sigv4 authorization", None

    parts = dict(
        item.strip().split("=", 1) for item in authorization[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    access_key, date, region, service, terminator = parts["Credential"].split("/")
    signed_headers = parts["SignedHeaders"].split(";")
    if (region, service, terminator) != (REGION, SERVICE, "aws4_request"):
        return f"wrong scope {region}/{service}", access_key
    if access_key not in stub.keys:
        return "unknown access key", access_key

    secret_key, token = stub.keys[access_key]
    if headers.get("x-amz-content-sha256") != UNSIGNED_PAYLOAD:
        return "payload hash is not UNSIGNED-PAYLOAD", access_key
    required = {"host", "x-amz-date", "x-amz-content-sha256"}
    if token is not None:
        required.add("x-amz-security-token")
        if headers.get("x-amz-security-token") != token:
            return "wrong session token", access_key
    if not required <= set(signed_headers):
        return f"unsigned required headers {sorted(required - set(signed_headers))}", access_key

    amz_date = headers.get("x-amz-date", "")
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > 300 or amz_date[:8] != date:
        return "stale or inconsistent date", access_key

    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{path}",
        headers={name: headers[name] for name in signed_headers},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(ReadOnlyCredentials(access_key, secret_key, token), SERVICE, REGION)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, parts["Signature"]):
        return "signature mismatch", access_key
    return "ok", access_key


def make_handler(stub: LatticeStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def handle_any(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            body = self.rfile.read(int(headers.get("content-length", "0") or 0))
            verdict, access_key = verify(self.command, self.path, headers, stub)
            with stub.lock:
                stub.seen.append(Seen(self.command, self.path, headers, body, verdict, access_key))

            action = stub.next_action()
            if action == "drop":
                self.close_connection = True
                return
            if stub.slow_seconds:
                time.sleep(stub.slow_seconds)

            status = 200 if verdict == "ok" else 403
            if action.isdigit():
                status = int(action)
            answer = json.dumps(
                {"verdict": verdict, "request_id": headers.get("x-request-id")}
            ).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = handle_any  # noqa: N815 - http.server API

    return Handler


@pytest.fixture
def lattice() -> Iterator[LatticeStub]:
    """The verifying server on 127.0.0.1, knowing the test credentials."""
    stub = LatticeStub(keys={ACCESS_KEY: (SECRET_KEY, SESSION_TOKEN)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(stub))
    server.daemon_threads = True
    stub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def credentials() -> Credentials:
    """Temporary credentials, as a task role has."""
    return Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
