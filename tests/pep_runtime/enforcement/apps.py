"""The same small service as a Starlette (ASGI) and a Flask (WSGI) app, behind the PEP."""

from __future__ import annotations

from typing import Any

import flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pep_runtime.enforcement import (
    PRINCIPAL_ENVIRON_KEY,
    EnforcementMiddleware,
    Enforcer,
    WsgiEnforcementMiddleware,
    current_principal,
)
from pep_runtime.services import current_request_id


class Calls:
    """Records every handler run, to prove a denied request never reached the app."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        #: The request id service calls made by `get_order` would forward.
        self.request_ids: list[str | None] = []


def _describe(name: str, principal: Any) -> dict[str, Any]:
    current = current_principal()
    return {
        "handler": name,
        "principal": str(principal.uid) if principal else None,
        "current": str(current.uid) if current else None,
    }


def starlette_app(enforcer: Enforcer, calls: Calls) -> Any:
    """A Starlette app wrapped in `EnforcementMiddleware`."""

    async def get_order(request: Request) -> JSONResponse:
        calls.handled.append("get_order")
        calls.request_ids.append(current_request_id())
        body = _describe("get_order", request.state.principal)
        body["orderId"] = request.path_params["orderId"]
        return JSONResponse(body)

    def cancel_order(request: Request) -> JSONResponse:
        calls.handled.append("cancel_order")
        return JSONResponse(_describe("cancel_order", request.state.principal))

    async def catalog(request: Request) -> JSONResponse:
        calls.handled.append("catalog")
        return JSONResponse(_describe("catalog", request.state.principal))

    async def health(request: Request) -> JSONResponse:
        calls.handled.append("health")
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/orders/{orderId}", get_order),
            Route("/orders/{orderId}/cancel", cancel_order, methods=["POST"]),
            Route("/catalog/{section}", catalog),
            Route("/health", health),
            Route("/admin", health),
        ]
    )
    return EnforcementMiddleware(app, enforcer=enforcer)


def flask_app(enforcer: Enforcer, calls: Calls) -> flask.Flask:
    """A Flask app whose `wsgi_app` is wrapped in `WsgiEnforcementMiddleware`."""
    app = flask.Flask("orders")

    @app.get("/orders/<order_id>")
    def get_order(order_id: str) -> Any:
        calls.handled.append("get_order")
        calls.request_ids.append(current_request_id())
        body = _describe("get_order", flask.request.environ[PRINCIPAL_ENVIRON_KEY])
        body["orderId"] = order_id
        return body

    @app.post("/orders/<order_id>/cancel")
    def cancel_order(order_id: str) -> Any:
        calls.handled.append("cancel_order")
        return _describe("cancel_order", flask.request.environ[PRINCIPAL_ENVIRON_KEY])

    @app.get("/catalog/<section>")
    def catalog(section: str) -> Any:
        calls.handled.append("catalog")
        return _describe("catalog", flask.request.environ[PRINCIPAL_ENVIRON_KEY])

    @app.get("/health")
    def health() -> Any:
        calls.handled.append("health")
        return {"ok": True}

    @app.get("/admin")
    def admin() -> Any:
        calls.handled.append("admin")
        return {"ok": True}

    wrapped = WsgiEnforcementMiddleware(app.wsgi_app, enforcer=enforcer)
    app.wsgi_app = wrapped  # type: ignore[method-assign]
    return app
