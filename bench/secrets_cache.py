"""Cached secret gets against direct GetSecretValue calls, on moto, in one run.

Run: .venv/bin/python bench/secrets_cache.py

Three measurements against the same in-process Secrets Manager (moto):

- throughput: gets per second through `SecretsClient` with a warm cache, side by side with
  direct `GetSecretValue` calls on a botocore client, and their ratio;
- 100 gets of one secret inside the TTL, from a cold client: upstream GetSecretValue calls;
- 50 threads getting one cold secret at once: upstream GetSecretValue calls. Each upstream
  call is given 20 ms of latency (moto answers in about 1 ms, a real endpoint in several), so
  all 50 threads arrive while the first call is in flight.

For comparison the same three are run on aws-secretsmanager-caching's `SecretCache` (which
calls DescribeSecret, then GetSecretValue by version id; both are counted for it). Only
`SecretsClient` decides PASS/FAIL.

Upstream calls are counted with botocore's `before-call.secrets-manager.GetSecretValue`
event, which fires once per API call. It prints PASS when both counts are 1 and the cache
is at least 100 times faster than the direct call; exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from aws_secretsmanager_caching import SecretCache
from moto import mock_aws

from pep_runtime.secrets import SecretsClient, SecretsConfig, secretsmanager_client

REGION = "eu-west-1"
TIME_BUDGET_S = 1.0
UPSTREAM_LATENCY_S = 0.02
MIN_SPEEDUP = 100.0


class CallCounter:
    """Counts GetSecretValue API calls on one botocore client, optionally adding latency."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.calls = 0
        self._latency_s = latency_s
        self._lock = threading.Lock()

    def __call__(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1
        if self._latency_s:
            time.sleep(self._latency_s)


def counted_client(counter: CallCounter) -> Any:
    client = secretsmanager_client(REGION, SecretsConfig())
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", counter)
    return client


def library_cache(counter: CallCounter) -> SecretCache:
    """aws-secretsmanager-caching on a client whose every Secrets Manager call is counted."""
    client = secretsmanager_client(REGION, SecretsConfig())
    client.meta.events.register("before-call.secrets-manager", counter)
    return SecretCache(client=client)


def per_second(operation: Callable[[], object]) -> float:
    """Calls of `operation` per second, run for about TIME_BUDGET_S."""
    operation()
    calls = 0
    started = time.perf_counter()
    deadline = started + TIME_BUDGET_S
    while time.perf_counter() < deadline:
        for _ in range(50):
            operation()
        calls += 50
    return calls / (time.perf_counter() - started)


def run_concurrently(threads: int, operation: Callable[[], object]) -> None:
    """Run `operation` on `threads` threads released at the same instant."""
    barrier = threading.Barrier(threads)

    def run() -> None:
        barrier.wait()
        operation()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with mock_aws():
        admin = boto3.client("secretsmanager", region_name=REGION)
        arn = admin.create_secret(Name="bench/database", SecretString='{"password": "x"}')["ARN"]

        direct = counted_client(CallCounter())
        cached = SecretsClient({"database": arn}, secretsmanager=counted_client(CallCounter()))
        direct_rate = per_second(lambda: direct.get_secret_value(SecretId=arn))
        cached_rate = per_second(lambda: cached.get("database"))
        library = library_cache(CallCounter())
        library_rate = per_second(lambda: library.get_secret_string(arn))

        within_ttl = CallCounter()
        fresh = SecretsClient({"database": arn}, secretsmanager=counted_client(within_ttl))
        library_within_ttl = CallCounter()
        library_fresh = library_cache(library_within_ttl)
        for _ in range(100):
            fresh.get("database")
            library_fresh.get_secret_string(arn)

        cold = CallCounter(latency_s=UPSTREAM_LATENCY_S)
        concurrent = SecretsClient({"database": arn}, secretsmanager=counted_client(cold))
        run_concurrently(50, lambda: concurrent.get("database"))
        library_cold = CallCounter(latency_s=UPSTREAM_LATENCY_S)
        library_concurrent = library_cache(library_cold)
        run_concurrently(50, lambda: library_concurrent.get_secret_string(arn))

    speedup = cached_rate / direct_rate
    print("secrets cache on moto (in-process Secrets Manager), one run")
    print(f"{'':34}{'gets/s':>12}{'ratio':>10}")
    print(f"{'direct GetSecretValue':34}{direct_rate:>12,.0f}{1.0:>9.1f}x")
    print(f"{'SecretsClient.get (warm cache)':34}{cached_rate:>12,.0f}{speedup:>9.1f}x")
    library_label = "aws-secretsmanager-caching (warm)"
    print(f"{library_label:34}{library_rate:>12,.0f}{library_rate / direct_rate:>9.1f}x")
    print()
    print(f"{'upstream calls':50}{'SecretsClient':>15}{'library':>9}{'target':>8}")
    print(
        f"{'100 gets inside the TTL':50}{within_ttl.calls:>15}{library_within_ttl.calls:>9}{1:>8}"
    )
    concurrent_label = f"50 concurrent cold gets ({UPSTREAM_LATENCY_S * 1000:.0f} ms upstream)"
    print(f"{concurrent_label:50}{cold.calls:>15}{library_cold.calls:>9}{1:>8}")
    print("(library: DescribeSecret + GetSecretValue, both counted)")

    passed = within_ttl.calls == 1 and cold.calls == 1 and speedup >= MIN_SPEEDUP
    print()
    verdict = "PASS" if passed else "FAIL"
    print(f"{verdict}: one upstream call each, cache >= {MIN_SPEEDUP:.0f}x direct")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
