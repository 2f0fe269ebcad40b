"""ASGI middleware (Starlette, FastAPI): nothing reaches the app without an Allow.

HTTP and WebSocket scopes are enforced (a WebSocket handshake is checked as a GET); other
scopes (lifespan) pass straight through. The handler reads the principal from
`request.state.principal` or `current_principal()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from pep_runtime.enforcement.denial import Denial, default_denial
from pep_runtime.enforcement.enforcer import (
    HEADERS_READ,
    Enforcer,
    HttpRequest,
    Outcome,
    bind_principal,
    unbind_principal,
)
from pep_runtime.services import reset_request_id, set_request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The key under `scope["state"]` (Starlette's `request.state`) holding the principal.
PRINCIPAL_STATE_KEY = "principal"
_WEBSOCKET_POLICY_VIOLATION = 1008


class EnforcementMiddleware:
    """Wraps an ASGI app with an `Enforcer`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        enforcer: Enforcer,
        denial: Callable[[int], Denial] = default_denial,
    ) -> None:
        self.app = app
        self.enforcer = enforcer
        self.denial = denial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return

        request = _http_request(scope)
        # Inline only when nothing can block: no network call for the decision or the token.
        enforcer = self.enforcer
        if enforcer.decides_inline and not enforcer.may_wait_on_identity_source(request):
            outcome = enforcer.check(request)
        else:
            # NOTE: imported here so that the WSGI side never needs anyio; Starlette brings it.
            import anyio.to_thread

            outcome = await anyio.to_thread.run_sync(enforcer.check, request)

        if not outcome.allowed:
            await self._deny(scope, send, outcome)
            return

        # A new state dict: one shared by requests (not ASGI's copy) must not carry a principal.
        # The scope itself is this request's alone, as the frameworks that write to it assume.
        scope["state"] = {**(scope.get("state") or {}), PRINCIPAL_STATE_KEY: outcome.principal}
        token = bind_principal(outcome.principal)
        # The id in the audit line is the one service calls from the handler forward.
        request_id_token = set_request_id(outcome.request_id)
        try:
            await self.app(scope, receive, send)
        finally:
            reset_request_id(request_id_token)
            unbind_principal(token)

    async def _deny(self, scope: Scope, send: Send, outcome: Outcome) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _WEBSOCKET_POLICY_VIOLATION})
            return
        denial = self.denial(outcome.status)
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in denial.headers
        ]
        await send({"type": "http.response.start", "status": denial.status, "headers": headers})
        await send({"type": "http.response.body", "body": denial.body})


#: The headers the enforcement point reads, by their lower-case name in bytes.
_HEADERS_READ_BY_BYTES = {name.encode("latin-1"): name for name in HEADERS_READ}


def _http_request(scope: Scope) -> HttpRequest:
    headers: dict[str, list[str]] = {}
    read = _HEADERS_READ_BY_BYTES.get
    for raw_name, raw_value in scope.get("headers", ()):
        name = read(raw_name.lower())
        if name is not None:
            headers.setdefault(name, []).append(raw_value.decode("latin-1"))

    path: str = scope.get("path", "")
    raw_path = scope.get("raw_path")
    if not raw_path:
        # NOTE: without raw_path (optional in ASGI) encoded slashes cannot be seen; the path
        # is re-encoded from the server's decoding, which the app routes on too.
        raw_path = quote(path, safe="/!$&'()*+,:=@~-._").encode("ascii")
    method = "GET" if scope["type"] == "websocket" else str(scope.get("method", ""))
    client = scope.get("client")
    client_address = str(client[0]) if client else None
    return HttpRequest(method, raw_path, headers, path, client_address)


__all__ = ["PRINCIPAL_STATE_KEY", "EnforcementMiddleware"]
