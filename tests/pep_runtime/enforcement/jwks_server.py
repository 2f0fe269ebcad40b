"""A loopback JWKS endpoint and a token minter for the identity-source tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_example"
CLIENT_ID = "client-orders"


class TokenMinter:
    """Holds an RSA key, publishes it as a JWKS and signs tokens with it."""

    def __init__(self, kid: str = "key-1") -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.requests = 0
        #: A status and body to answer instead of the JWKS (an outage), when set.
        self.answer: tuple[int, bytes] | None = None

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS document."""
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def mint(self, **overrides: Any) -> str:
        """An id token for `alice` in group `support`, with claims overridden as given."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "alice",
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "token_use": "id",
            "iat": now,
            "exp": now + 300,
            "cognito:groups": ["support"],
        }
        claims.update(overrides)
        claims = {key: value for key, value in claims.items() if value is not None}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})


@contextmanager
def serve_jwks(minter: TokenMinter) -> Iterator[str]:
    """Serve the minter's JWKS on 127.0.0.1; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            minter.requests += 1
            status, body = minter.answer or (200, json.dumps(minter.jwks()).encode())
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


class StalledJwks:
    """A loopback endpoint that accepts connections and never answers (a hung JWKS)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._connections: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/.well-known/jwks.json"
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connections(self) -> int:
        """How many fetches have connected so far."""
        return len(self._connections)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._listener.close()
        for connection in self._connections:
            connection.close()


@contextmanager
def stalled_jwks() -> Iterator[StalledJwks]:
    """A hung JWKS endpoint on 127.0.0.1, closed on exit."""
    endpoint = StalledJwks()
    try:
        yield endpoint
    finally:
        endpoint.close()


@contextmanager
def trickling_jwks(byte_every_seconds: float) -> Iterator[str]:
    """A loopback JWKS that answers its headers at once, then one body byte at a time, slowly
    (each read of the client returns, so a per-read timeout never fires); yields its URL."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "1000000")
            self.end_headers()
            while not stop.wait(byte_every_seconds):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
