"""orders: the partner storefront places and reads orders; orders reserves stock and pays.

Every call it makes goes through `pep_runtime.services`: SigV4-signed for VPC Lattice with
the task role's credentials, to the URL the infrastructure put in
`LATTICEWORK_SERVICE_<NAME>_URL`, with timeouts and retries. Every call it receives passes
the PEP middleware first.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pep_runtime.enforcement import EnforcementMiddleware, Enforcer
from pep_runtime.services import AsyncServiceClient, ServicesError

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper())
logger = logging.getLogger("orders")

_AMOUNT = re.compile(r"\d{1,9}(\.\d{1,2})?")
_orders_lock = threading.Lock()
_orders: dict[str, dict[str, Any]] = {}


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, AsyncServiceClient]]:
    """One signed client per peer for the life of the process."""
    async with (
        AsyncServiceClient.from_environment("payments") as payments,
        AsyncServiceClient.from_environment("inventory") as inventory,
    ):
        yield {"payments": payments, "inventory": inventory}


async def health(request: Request) -> JSONResponse:
    """Liveness: public in pep.yaml."""
    return JSONResponse({"status": "ok"})


async def create_order(request: Request) -> JSONResponse:
    """CreateOrder: reserve the items at inventory, take the payment at payments."""
    body = await _json_object(request)
    sku = body.get("sku") if body else None
    quantity = body.get("quantity") if body else None
    amount = body.get("amount") if body else None
    if (
        not isinstance(sku, str)
        or not isinstance(quantity, int)
        or not isinstance(amount, str)
        or not _AMOUNT.fullmatch(amount)
    ):
        message = "expected JSON {sku: string, quantity: integer, amount: decimal string}"
        return JSONResponse({"error": message}, status_code=400)

    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    inventory: AsyncServiceClient = request.state.inventory
    payments: AsyncServiceClient = request.state.payments
    try:
        reservation = await inventory.post(
            f"/items/{sku}/reservations", json={"quantity": quantity}
        )
        if reservation.status_code != 201:
            return _peer_refused("inventory", reservation.status_code, reservation.json())

        payment = await payments.post("/payments", json={"orderId": order_id, "amount": amount})
        if payment.status_code != 201:
            return _peer_refused("payments", payment.status_code, payment.json())
    except (ServicesError, ValueError) as exc:
        logger.warning("order %s: a peer call failed: %s", order_id, exc)
        return JSONResponse({"error": "a dependency is unavailable"}, status_code=503)

    order = {
        "orderId": order_id,
        "status": "placed",
        "sku": sku,
        "quantity": quantity,
        "amount": amount,
        "reservationId": reservation.json()["reservationId"],
        "paymentId": payment.json()["paymentId"],
    }
    with _orders_lock:
        _orders[order_id] = order
    return JSONResponse({**order, "payment": payment.json()}, status_code=201)


async def get_order(request: Request) -> JSONResponse:
    """GetOrder: the order with its payment as payments has it now."""
    with _orders_lock:
        order = _orders.get(request.path_params["orderId"])
    if order is None:
        return JSONResponse({"error": "no such order"}, status_code=404)

    payments: AsyncServiceClient = request.state.payments
    try:
        payment = await payments.get(f"/payments/{order['paymentId']}")
    except ServicesError as exc:
        logger.warning("order %s: payments unavailable: %s", order["orderId"], exc)
        return JSONResponse({"error": "a dependency is unavailable"}, status_code=503)

    if payment.status_code != 200:
        return _peer_refused("payments", payment.status_code, payment.json())

    return JSONResponse({**order, "payment": payment.json()})


async def cancel_order(request: Request) -> JSONResponse:
    """CancelOrder: mark the order cancelled."""
    with _orders_lock:
        order = _orders.get(request.path_params["orderId"])
        if order is None:
            return JSONResponse({"error": "no such order"}, status_code=404)
        order["status"] = "cancelled"
    return JSONResponse(order)


def _peer_refused(peer: str, status: int, detail: Any) -> JSONResponse:
    """Pass a peer's refusal on as 502, naming the peer and its status only."""
    logger.info("%s answered %d: %s", peer, status, detail)
    return JSONResponse({"error": f"{peer} answered {status}", "peerStatus": status}, 502)


async def _json_object(request: Request) -> dict[str, object] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


routes = [
    Route("/health", health),
    Route("/orders", create_order, methods=["POST"]),
    Route("/orders/{orderId}", get_order),
    Route("/orders/{orderId}/cancel", cancel_order, methods=["POST"]),
]
app = EnforcementMiddleware(
    Starlette(routes=routes, lifespan=lifespan), enforcer=Enforcer.from_environment()
)
