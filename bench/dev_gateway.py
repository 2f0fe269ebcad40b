"""What the local Lattice gateway adds to a request, measured side by side in one run.

Two servers run in their own processes, as under `latticework dev`: a minimal ASGI service
on a unix socket, and the gateway (on a loopback port) in front of it with the service
network and service auth policies `components.iam_documents` builds. The same signed GET is
sent (one keep-alive connection each, sequentially) directly to the service and through the
gateway; the script prints p50/p99 latency of both and their ratio. It also times the
gateway's own check (SigV4 verification with botocore plus both auth policy evaluations)
against what the caller spends signing the same request with botocore.

Run: .venv/bin/python bench/dev_gateway.py [--requests N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import httpx
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from components.iam_documents import service_auth_policy, service_network_auth_policy
from latticework.dev import (
    GatewayConfig,
    LatticeGateway,
    LocalCredential,
    ServiceRoute,
    evaluate_auth_policy,
    open_listener,
    verify_signature,
)
from latticework.dev._auth_policy import CallerIdentity, InvokeRequest
from latticework.dev._sigv4 import SignedRequest

REGION = "eu-west-1"
SERVICE_ARN = "arn:aws:vpc-lattice:eu-west-1:111122223333:service/svc-0123456789abcdef0"
CALLER = LocalCredential(
    "LWDVBENCH00000000001",
    "bench-local-secret",
    "arn:aws:iam::111122223333:role/latticework-dev-orders-task",
    "orders-local",
)
NETWORK_ARN = "arn:aws:vpc-lattice:eu-west-1:111122223333:servicenetwork/sn-1"
POLICY = service_auth_policy(
    service_arn=SERVICE_ARN, caller_role_arns=[CALLER.role_arn], allowed_principals=[]
)
NETWORK_POLICY = service_network_auth_policy(
    service_network_arn=NETWORK_ARN, organization_id=None, account_ids=["111122223333"]
)


async def _service(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})


def _run(app: Any, port: int) -> None:
    """Serve `app` on `port` until terminated (the body of a server process)."""
    listener = open_listener(port, "bench server")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[listener])


def _run_on_socket(app: Any, socket_path: str) -> None:
    """Serve `app` on a unix socket until terminated, as a service under `latticework dev`."""
    server = uvicorn.Server(
        uvicorn.Config(app, uds=socket_path, log_level="warning", lifespan="on")
    )
    server.run()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _gateway_config(gateway_port: int, service_socket: str) -> GatewayConfig:
    route = ServiceRoute(
        "payments",
        gateway_port,
        "http://payments",
        SERVICE_ARN,
        SERVICE_ARN.replace("service/svc", "targetgroup/tg"),
        POLICY,
        upstream_socket=service_socket,
    )
    return GatewayConfig(
        region=REGION,
        service_network_arn=NETWORK_ARN,
        source_vpc_arn="arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-1",
        routes=(route,),
        network_auth_policy=NETWORK_POLICY,
        credentials={CALLER.access_key_id: CALLER},
        account_id="111122223333",
    )


def _wait_until_up(client: httpx.Client, url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            client.get(url, headers=_signed_headers(url))
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        return
    raise SystemExit(f"{url} did not come up within 20 s")


def _signed_headers(url: str) -> dict[str, str]:
    request = AWSRequest(
        method="GET", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    )
    SigV4Auth(
        Credentials(CALLER.access_key_id, CALLER.secret_access_key), "vpc-lattice-svcs", REGION
    ).add_auth(request)
    return dict(request.headers.items())


def _latencies(client: httpx.Client, url: str, requests: int) -> list[float]:
    samples = []
    for _ in range(requests):
        headers = _signed_headers(url)
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.text}")
    return samples


def _per_call(action: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        action()
    return (time.perf_counter() - started) / calls


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    arguments = parser.parse_args()

    socket_dir = tempfile.mkdtemp(prefix="latticework-bench-")
    service_socket, gateway_port = f"{socket_dir}/payments.sock", _free_port()
    config = _gateway_config(gateway_port, service_socket)
    servers = [
        multiprocessing.Process(
            target=_run_on_socket, args=(_service, service_socket), daemon=True
        ),
        multiprocessing.Process(
            target=_run, args=(LatticeGateway(config), gateway_port), daemon=True
        ),
    ]
    for server in servers:
        server.start()

    direct_url = "http://payments/payments/p-1"
    gateway_url = f"http://127.0.0.1:{gateway_port}/payments/p-1"
    try:
        with (
            httpx.Client(transport=httpx.HTTPTransport(uds=service_socket)) as direct_client,
            httpx.Client() as client,
        ):
            _wait_until_up(direct_client, direct_url)
            _wait_until_up(client, gateway_url)
            _latencies(direct_client, direct_url, 20)
            _latencies(client, gateway_url, 20)
            direct = _latencies(direct_client, direct_url, arguments.requests)
            through = _latencies(client, gateway_url, arguments.requests)
    finally:
        for server in servers:
            server.terminate()
            server.join(timeout=10)
        shutil.rmtree(socket_dir, ignore_errors=True)

    headers = _signed_headers(gateway_url)
    headers["host"] = f"127.0.0.1:{gateway_port}"
    signed = SignedRequest("GET", gateway_url, tuple(headers.items()), b"")
    request = InvokeRequest(
        caller=CallerIdentity(CALLER.role_arn, "111122223333", None),
        service_arn=SERVICE_ARN,
        service_network_arn=config.service_network_arn,
        source_vpc_id="vpc-1",
        method="GET",
        path="/payments/p-1",
        port=gateway_port,
    )
    calls = arguments.requests * 5
    check = _per_call(
        lambda: (
            verify_signature(signed, config.credentials, region=REGION),
            evaluate_auth_policy(NETWORK_POLICY, request),
            evaluate_auth_policy(POLICY, request),
        ),
        calls,
    )
    sign = _per_call(lambda: _signed_headers(gateway_url), calls)

    print(f"requests per path: {arguments.requests} (sequential, one keep-alive connection)")
    print(f"{'path':<22}{'p50 ms':>10}{'p99 ms':>10}")
    for name, samples in (("direct to service", direct), ("through the gateway", through)):
        # direct: over the service's unix socket; through: TCP to the gateway, then the socket.
        print(
            f"{name:<22}{_percentile(samples, 0.5) * 1e3:>10.3f}"
            f"{_percentile(samples, 0.99) * 1e3:>10.3f}"
        )
    print(
        f"gateway / direct: p50 {statistics.median(through) / statistics.median(direct):.2f}x, "
        f"p99 {_percentile(through, 0.99) / _percentile(direct, 0.99):.2f}x"
    )
    print(
        f"gateway check (SigV4 verify + both auth policies): {check * 1e6:.1f} us; "
        f"client signing: {sign * 1e6:.1f} us; check / signing: {check / sign:.2f}x"
    )


if __name__ == "__main__":
    main()
