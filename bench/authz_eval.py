"""Microseconds per Cedar decision: policy set parsed once versus parsed on every call.

Run: .venv/bin/python bench/authz_eval.py

For 10, 100 and 1000 policies (the sample authz/ plus generated service grants, all valid
against authz/schema.json) the same requests are decided three ways, side by side:

- per call: policies as Cedar text, parsed by every `is_authorized` call (schema and
  entities too), which is what a naive local decision point does;
- policies per call: policies still re-parsed, schema and entities parsed once;
- parsed once: `PolicySet`, `Schema` and `Entities` handles built once and reused (what
  `latticework authz test` and a well-built local PEP do).

It prints CPU microseconds per decision (thread CPU time, the three ways taking turns) and
the ratios to "parsed once".
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

from components.authz_files import load_authz

AUTHZ_DIR = Path(__file__).resolve().parents[1] / "authz"
SIZES = (10, 100, 1000)
TIME_BUDGET_S = 0.4
MIN_ROUNDS = 3

ENTITIES: list[dict[str, Any]] = [
    {
        "uid": {"type": "Latticework::User", "id": "bob"},
        "attrs": {},
        "parents": [{"type": "Latticework::UserGroup", "id": "staff"}],
    },
    {"uid": {"type": "Latticework::UserGroup", "id": "staff"}, "attrs": {}, "parents": []},
]
REQUESTS: list[dict[str, Any]] = [
    {
        "principal": {"type": "Latticework::Service", "id": "orders"},
        "action": {"type": "Latticework::Action", "id": "ReserveItem"},
        "resource": {"type": "Latticework::Item", "id": "sku-1"},
        "context": {},
    },
    {
        "principal": {"type": "Latticework::Service", "id": "svc-0"},
        "action": {"type": "Latticework::Action", "id": "GetItem"},
        "resource": {"type": "Latticework::Item", "id": "sku-0"},
        "context": {},
    },
    {
        "principal": {"type": "Latticework::User", "id": "bob"},
        "action": {"type": "Latticework::Action", "id": "GetPayment"},
        "resource": {"type": "Latticework::Payment", "id": "p-1"},
        "context": {"sourceIp": {"__extn": {"fn": "ip", "arg": "10.0.0.5"}}},
    },
    {
        "principal": {"type": "Latticework::Service", "id": "nobody"},
        "action": {"type": "Latticework::Action", "id": "CreatePayment"},
        "resource": {"type": "Latticework::PaymentLedger", "id": "default"},
        "context": {"amount": {"__extn": {"fn": "decimal", "arg": "12.50"}}},
    },
]


def policy_text(count: int) -> str:
    """The sample static policies plus generated grants, `count` policies in all."""
    authz = load_authz(AUTHZ_DIR)
    sample = [policy.statement for policy in authz.policies][:count]
    generated = [
        f'@id("svc-{index}-reads-items")\n'
        f'permit (principal == Latticework::Service::"svc-{index}", '
        f'action in [Latticework::Action::"GetItem"], resource is Latticework::Item)\n'
        f'when {{ resource != Latticework::Item::"blocked-{index}" }};'
        for index in range(count - len(sample))
    ]
    return "\n".join([*sample, *generated])


def per_decision_us(*deciders: Callable[[dict[str, Any]], bool]) -> list[float]:
    """CPU microseconds per decision of each decider, measured in alternating rounds.

    Thread CPU time, not wall time, and the deciders take turns round by round, so other
    processes on a shared machine shift neither the figures nor their ratios.
    """
    spent = [0.0] * len(deciders)
    rounds = 0
    while rounds < MIN_ROUNDS or sum(spent) < TIME_BUDGET_S * len(deciders):
        for index, decide in enumerate(deciders):
            started = time.thread_time()
            for request in REQUESTS:
                decide(request)
            spent[index] += time.thread_time() - started
        rounds += 1
    return [seconds / (rounds * len(REQUESTS)) * 1e6 for seconds in spent]


def measure(count: int) -> tuple[float, float, float]:
    text = policy_text(count)
    schema_text = (AUTHZ_DIR / "schema.json").read_text()
    entities_json = json.dumps(ENTITIES)
    schema = cedarpy.Schema.from_json_str(schema_text)
    policy_set = cedarpy.PolicySet.from_str(text)
    entities = cedarpy.Entities.from_json_str(entities_json, schema)
    if len(policy_set) != count:
        raise SystemExit(f"expected {count} policies, built {len(policy_set)}")

    expected = [cedarpy.is_authorized(r, policy_set, entities, schema).allowed for r in REQUESTS]
    if expected != [True, True, True, False]:
        raise SystemExit(f"unexpected decisions {expected}: the benchmark is not measuring")

    per_call, policies_per_call, once = per_decision_us(
        lambda r: cedarpy.is_authorized(r, text, entities_json, schema_text).allowed,
        lambda r: cedarpy.is_authorized(r, text, entities, schema).allowed,
        lambda r: cedarpy.is_authorized(r, policy_set, entities, schema).allowed,
    )
    return per_call, policies_per_call, once


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()

    print("Cedar decisions (cedarpy), CPU microseconds per decision; ratios to 'parsed once'")
    print(
        f"{'policies':>8}  {'per call':>10}  {'policies/call':>13}  {'parsed once':>11}  "
        f"{'per call/once':>13}  {'policies/call/once':>18}"
    )
    for count in SIZES:
        per_call, policies_per_call, once = measure(count)
        print(
            f"{count:>8}  {per_call:>10.1f}  {policies_per_call:>13.1f}  {once:>11.1f}  "
            f"{per_call / once:>12.1f}x  {policies_per_call / once:>17.1f}x"
        )


if __name__ == "__main__":
    main()
