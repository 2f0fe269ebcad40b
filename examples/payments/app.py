"""payments: takes payments for orders and records them in its ledger database.

It shows the three things `pep_runtime` gives a service: the middleware decides every
request from pep.yaml's route table, a handler asks one finer question with the request's
amount (the `payments-amount-limit` guard rail), and the ledger database's credentials come
from Secrets Manager through the cached, rotation-aware client, never from the environment.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pep_runtime.enforcement import EnforcementMiddleware, Enforcer, Principal
from pep_runtime.secrets import SecretsClient, SecretsConfig, SecretsError, SecretValue

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper())
logger = logging.getLogger("payments")

_AMOUNT = re.compile(r"\d{1,9}(\.\d{1,2})?")
_DATABASE_FIELDS = frozenset({"username", "password"})

enforcer = Enforcer.from_environment()
# How long a secret value is reused before Secrets Manager is asked again; a rotation is
# picked up at the latest this long after it happened.
secrets = SecretsClient.from_environment(
    config=SecretsConfig(ttl_seconds=float(os.environ.get("SECRETS_TTL_SECONDS", "300")))
)
_ledger_lock = threading.Lock()
_ledger: dict[str, dict[str, str]] = {}


def _ledger_database() -> SecretValue | None:
    """The ledger database's credentials from Secrets Manager, cached and rotation-aware.

    None when it cannot be read or lacks the fields a driver needs. A real service would
    connect with `reveal_field("password", str)` and, when the database refuses the
    password, call `secrets.refresh("database")` (see
    `pep_runtime.secrets.with_refresh_on_auth_failure`).
    """
    try:
        database = secrets.get("database")
        has_fields = database.field_names() >= _DATABASE_FIELDS
    except SecretsError as exc:
        # The error names the secret and what went wrong, never its value.
        logger.error("cannot read the ledger database secret: %s", exc)
        return None

    if not has_fields:
        logger.error("the ledger database secret lacks a username or a password field")
        return None

    return database


async def health(request: Request) -> JSONResponse:
    """Liveness: public in pep.yaml."""
    return JSONResponse({"status": "ok"})


async def create_payment(request: Request) -> JSONResponse:
    """CreatePayment: record a payment for an order, within the amount limit."""
    body = await _json_object(request)
    order_id = body.get("orderId") if body else None
    amount = body.get("amount") if body else None
    if (
        not isinstance(order_id, str)
        or not isinstance(amount, str)
        or not _AMOUNT.fullmatch(amount)
    ):
        message = "expected JSON {orderId: string, amount: decimal string such as '12.50'}"
        return JSONResponse({"error": message}, status_code=400)

    principal: Principal = request.state.principal
    decision = await run_in_threadpool(
        enforcer.authorize,
        principal,
        "CreatePayment",
        enforcer.resource("PaymentLedger", "default"),
        {"amount": {"__extn": {"fn": "decimal", "arg": _cedar_decimal(amount)}}},
    )
    if not decision.allowed:
        return JSONResponse({"error": "forbidden"}, status_code=403)

    database = await run_in_threadpool(_ledger_database)
    if database is None:
        return _ledger_unavailable()

    payment = {
        "paymentId": f"pay-{uuid.uuid4().hex[:12]}",
        "orderId": order_id,
        "amount": amount,
        "status": "captured",
    }
    with _ledger_lock:
        _ledger[payment["paymentId"]] = payment
    return JSONResponse({**payment, "ledgerSecretVersion": database.version_id}, status_code=201)


async def get_payment(request: Request) -> JSONResponse:
    """GetPayment: one payment as the ledger has it."""
    with _ledger_lock:
        payment = _ledger.get(request.path_params["paymentId"])
    if payment is None:
        return JSONResponse({"error": "no such payment"}, status_code=404)

    database = await run_in_threadpool(_ledger_database)
    if database is None:
        return _ledger_unavailable()

    return JSONResponse({**payment, "ledgerSecretVersion": database.version_id})


def _ledger_unavailable() -> JSONResponse:
    return JSONResponse({"error": "the ledger is unavailable"}, status_code=503)


def _cedar_decimal(amount: str) -> str:
    """Cedar's decimal takes at most four places and needs at least one."""
    whole, _, fraction = amount.partition(".")
    return f"{whole}.{fraction or '0'}"


async def _json_object(request: Request) -> dict[str, object] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


routes = [
    Route("/healthz", health),
    Route("/payments", create_payment, methods=["POST"]),
    Route("/payments/{paymentId}", get_payment),
]
app = EnforcementMiddleware(Starlette(routes=routes), enforcer=enforcer)
