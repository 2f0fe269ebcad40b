"""Bind each incoming request's id, so that the calls its handler makes forward it.

Put the middleware outermost (around the PEP middleware too): a request without an id gets
one here, written into the request headers the inner layers see and onto the response, so
the audit record, the logs, the peer calls and the caller all carry the same id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from pep_runtime.services._request_id import REQUEST_ID_HEADER, bind_request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_HEADER = REQUEST_ID_HEADER.encode("latin-1")
_WSGI_KEY = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")


class RequestIdMiddleware:
    """ASGI: bind the request's `x-request-id` (or a new one) and echo it on the response."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        incoming = next(
            (value.decode("latin-1") for name, value in headers if name.lower() == _HEADER),
            None,
        )
        with bind_request_id(incoming) as request_id:
            encoded = request_id.encode("latin-1")
            inner_headers = [(name, value) for name, value in headers if name.lower() != _HEADER]
            inner_headers.append((_HEADER, encoded))

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    response_headers = list(message.get("headers", []))
                    if not any(name.lower() == _HEADER for name, _ in response_headers):
                        response_headers.append((_HEADER, encoded))
                    message = {**message, "headers": response_headers}
                await send(message)

            await self.app({**scope, "headers": inner_headers}, receive, send_with_id)


class WsgiRequestIdMiddleware:
    """WSGI: bind the request's `x-request-id` (or a new one) and echo it on the response.

    The id is bound while the application is called; work a response iterator does after
    the call returns (a streamed body) runs without it.
    """

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with bind_request_id(environ.get(_WSGI_KEY)) as request_id:
            environ[_WSGI_KEY] = request_id

            def start_with_id(
                status: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> Any:
                if not any(name.lower() == REQUEST_ID_HEADER for name, _ in headers):
                    headers = [*headers, (REQUEST_ID_HEADER, request_id)]
                return start_response(status, headers, exc_info)

            return self.app(environ, start_with_id)


__all__ = ["RequestIdMiddleware", "WsgiRequestIdMiddleware"]
