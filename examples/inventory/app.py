"""inventory: stock levels and reservations; only orders may call it.

Authorization, the caller's identity and nothing else come from `pep_runtime`: the
middleware decides every request against the route table in pep.yaml before a handler
runs, so the handlers below contain no security code at all.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pep_runtime.enforcement import EnforcementMiddleware, Enforcer

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper())

_stock_lock = threading.Lock()
_stock: dict[str, int] = {"sku-espresso": 25, "sku-grinder": 3, "sku-filter": 0}


async def health(request: Request) -> JSONResponse:
    """Liveness: public in pep.yaml."""
    return JSONResponse({"status": "ok"})


async def get_item(request: Request) -> JSONResponse:
    """GetItem: how many of one SKU are available."""
    sku = request.path_params["sku"]
    with _stock_lock:
        available = _stock.get(sku)
    if available is None:
        return JSONResponse({"error": f"unknown sku {sku!r}"}, status_code=404)

    return JSONResponse({"sku": sku, "available": available})


async def reserve_item(request: Request) -> JSONResponse:
    """ReserveItem: take `quantity` of one SKU out of stock for an order."""
    sku = request.path_params["sku"]
    body = await _json_object(request)
    quantity = body.get("quantity") if body else None
    if not isinstance(quantity, int) or not 1 <= quantity <= 100:
        message = "quantity must be an integer from 1 to 100"
        return JSONResponse({"error": message}, status_code=400)

    with _stock_lock:
        available = _stock.get(sku)
        if available is None:
            return JSONResponse({"error": f"unknown sku {sku!r}"}, status_code=404)
        if available < quantity:
            message = f"only {available} of {sku} left, {quantity} asked"
            return JSONResponse({"error": message}, status_code=409)
        _stock[sku] = available - quantity

    reservation = {
        "reservationId": f"res-{uuid.uuid4().hex[:12]}",
        "sku": sku,
        "quantity": quantity,
    }
    return JSONResponse(reservation, status_code=201)


async def _json_object(request: Request) -> dict[str, object] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


routes = [
    Route("/health", health),
    Route("/items/{sku}", get_item),
    Route("/items/{sku}/reservations", reserve_item, methods=["POST"]),
]
app = EnforcementMiddleware(Starlette(routes=routes), enforcer=Enforcer.from_environment())
