"""The whole request path on loopback: gateway, three services, local Cedar, moto secrets.

One environment is started for the module (about 3 s) and stopped by the fixture; every
wait is bounded.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from components.spec import load_spec
from latticework.dev import DevEnvironment, DevPaths, LocalCredential, build_topology
from latticework.errors import UsageError

PROJECT_DIR = Path(__file__).resolve().parents[2]
ROTATION_POLL_ATTEMPTS = 40
ROTATION_POLL_SECONDS = 0.1
SECRETS_TTL_SECONDS = 0.5


@dataclass
class RunningPath:
    """The started environment and every output line its services wrote."""

    environment: DevEnvironment
    service_lines: list[tuple[str, str]]

    def gateway(self, service: str) -> str:
        return self.environment.topology.service(service).gateway_url

    def caller(self, name: str) -> LocalCredential:
        return self.environment.topology.callers[name]

    def audit_records(self, service: str, request_id: str | None = None) -> list[dict[str, Any]]:
        """The audit lines `service` wrote (to its standard output, the default), of one
        request when `request_id` is given."""
        records = [
            json.loads(line)
            for name, line in list(self.service_lines)
            if name == service and line.startswith('{"event":"authorization"')
        ]
        return [r for r in records if request_id in {None, r["request_id"]}]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPath]:
    """The dev environment of the repository's own stack, on free loopback ports."""
    spec = load_spec("dev", stacks_dir=PROJECT_DIR / "stacks")
    topology = build_topology(spec, base_port=0)
    standard = DevPaths.for_project(PROJECT_DIR)
    paths = DevPaths(
        project_dir=standard.project_dir,
        examples_dir=standard.examples_dir,
        authz_dir=standard.authz_dir,
        state_dir=tmp_path_factory.mktemp("dev-state"),
    )
    lines: list[tuple[str, str]] = []
    environment = DevEnvironment(
        topology,
        paths,
        log_sink=lambda service, line: lines.append((service, line)),
        extra_service_env={"SECRETS_TTL_SECONDS": str(SECRETS_TTL_SECONDS)},
    )

    with environment:
        yield RunningPath(environment, lines)


def _signed_headers(
    credential: LocalCredential,
    method: str,
    url: str,
    body: bytes = b"",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(extra or {}))
    request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    if body:
        request.headers["content-type"] = "application/json"
    credentials = Credentials(credential.access_key_id, credential.secret_access_key)
    SigV4Auth(credentials, "vpc-lattice-svcs", "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def _call(
    credential: LocalCredential,
    method: str,
    url: str,
    payload: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    body = json.dumps(payload).encode() if payload is not None else b""
    headers = _signed_headers(credential, method, url, body, extra)
    return httpx.request(method, url, headers=headers, content=body, timeout=10.0)


def _place_order(running: RunningPath, amount: str = "12.50") -> httpx.Response:
    order = {"sku": "sku-espresso", "quantity": 1, "amount": amount}
    url = f"{running.gateway('orders')}/orders"
    return _call(running.caller("storefront-api"), "POST", url, order)


def _current_version(running: RunningPath, service: str, secret: str) -> str:
    client = running.environment.secrets_client()
    arn = running.environment.secret_arns[service][secret]
    stages_by_version: dict[str, list[str]] = client.describe_secret(SecretId=arn)[
        "VersionIdsToStages"
    ]
    current = [version for version, stages in stages_by_version.items() if "AWSCURRENT" in stages]
    return current[0]


def test_user_request_flows_through_orders_to_payments_and_its_secret(
    running: RunningPath,
) -> None:
    """A storefront order passes orders' PEP, reaches payments as the orders service, and comes
    back with the version of the database secret payments read."""
    response = _place_order(running)

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "placed"
    assert order["payment"]["status"] == "captured"
    assert order["payment"]["ledgerSecretVersion"] == _current_version(
        running, "payments", "database"
    )
    payments_audit = [
        record
        for record in running.audit_records("payments")
        if record["action"] == "CreatePayment" and record["path"] == "/payments"
    ]
    assert payments_audit
    assert payments_audit[-1]["principal"] == 'Latticework::Service::"orders"'
    assert payments_audit[-1]["decision"] == "ALLOW"


def test_secret_values_never_reach_the_service_output(running: RunningPath) -> None:
    """No line the services wrote contains a seeded secret value."""
    client = running.environment.secrets_client()
    values = [
        client.get_secret_value(SecretId=arn)["SecretString"]
        for arns in running.environment.secret_arns.values()
        for arn in arns.values()
    ]
    passwords = [
        json.loads(value)["password"] if value.startswith("{") else value for value in values
    ]

    _place_order(running)

    output = "\n".join(line for _, line in running.service_lines)
    assert passwords
    assert not any(password in output for password in passwords)


def test_unknown_access_key_is_rejected_by_the_gateway(running: RunningPath) -> None:
    """Credentials the gateway does not know never reach orders."""
    stranger = LocalCredential(
        "LWDVSTRANGER00000001", "not-a-known-secret", "arn:aws:iam::999988887777:role/x", "x-1"
    )

    response = _call(stranger, "GET", f"{running.gateway('orders')}/orders/ord-1")

    assert response.status_code == 403
    assert response.json()["message"].startswith("InvalidSignatureException")


def test_caller_not_named_by_the_auth_policy_is_rejected(running: RunningPath) -> None:
    """A validly signed role that no catalog entry names is denied by the auth policy."""
    response = _call(running.caller("outsider"), "GET", f"{running.gateway('orders')}/orders/x")

    assert response.status_code == 403
    assert response.json()["message"].startswith("AccessDeniedException")


def test_service_not_a_caller_of_payments_is_rejected(running: RunningPath) -> None:
    """inventory's role may not call payments: the catalog names only orders."""
    url = f"{running.gateway('payments')}/payments/pay-1"

    response = _call(running.caller("inventory"), "GET", url)

    assert response.status_code == 403
    assert response.json()["message"].startswith("AccessDeniedException")


def test_unsigned_request_is_rejected(running: RunningPath) -> None:
    """An anonymous request fails the auth policy before reaching the service."""
    response = httpx.get(f"{running.gateway('orders')}/orders/x", timeout=10.0)

    assert response.status_code == 403


def test_forbidden_action_is_denied_by_the_pep(running: RunningPath) -> None:
    """The storefront may place orders but Cedar gives it no CancelOrder: orders answers 403."""
    order_id = _place_order(running).json()["orderId"]

    url = f"{running.gateway('orders')}/orders/{order_id}/cancel"
    response = _call(running.caller("storefront-api"), "POST", url)

    assert response.status_code == 403
    assert response.json() == {"error": "forbidden"}


def test_amount_over_the_limit_is_refused_by_payments(running: RunningPath) -> None:
    """payments' in-handler check with the amount applies the payments-amount-limit forbid."""
    response = _place_order(running, amount="20000.00")

    assert response.status_code == 502
    assert response.json()["peerStatus"] == 403


def test_tampered_signature_is_rejected(running: RunningPath) -> None:
    """A request changed after signing (another order id) fails the signature check."""
    credential = running.caller("storefront-api")
    signed_url = f"{running.gateway('orders')}/orders/ord-signed"
    headers = _signed_headers(credential, "GET", signed_url)

    response = httpx.get(f"{running.gateway('orders')}/orders/ord-other", headers=headers)

    assert response.status_code == 403
    assert response.json()["message"].startswith("InvalidSignatureException")


def test_spoofed_identity_header_is_replaced_by_the_gateway(running: RunningPath) -> None:
    """A caller claiming to be orders in x-amzn-lattice-identity is still seen as itself."""
    order_id = _place_order(running).json()["orderId"]
    orders_role = running.environment.topology.service("orders").task_role_arn
    spoofed = orders_role.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/")
    request_id = f"spoof-{uuid.uuid4().hex[:8]}"
    extra = {
        "x-amzn-lattice-identity": f"Principal={spoofed}/s-1; SessionName=s-1; Type=AWS_IAM",
        "x-request-id": request_id,
    }

    url = f"{running.gateway('orders')}/orders/{order_id}"
    response = _call(running.caller("storefront-api"), "GET", url, extra=extra)

    assert response.status_code == 200
    records = running.audit_records("orders", request_id)
    assert [record["principal"] for record in records] == [
        'Latticework::IamRole::"arn:aws:iam::444455556666:role/storefront-api"'
    ]


def test_rotated_secret_is_picked_up_after_the_cache_refreshes(running: RunningPath) -> None:
    """After a rotation, payments serves the new AWSCURRENT version once its cache expires."""
    order_id = _place_order(running).json()["orderId"]
    arn = running.environment.secret_arns["payments"]["database"]
    before = _current_version(running, "payments", "database")
    rotated = running.environment.secrets_client().put_secret_value(
        SecretId=arn,
        SecretString=json.dumps({"username": "payments_app", "password": uuid.uuid4().hex}),
    )
    url = f"{running.gateway('orders')}/orders/{order_id}"

    seen = []
    for _ in range(ROTATION_POLL_ATTEMPTS):
        response = _call(running.caller("storefront-api"), "GET", url)
        seen.append(response.json()["payment"]["ledgerSecretVersion"])
        if seen[-1] == rotated["VersionId"]:
            break
        time.sleep(ROTATION_POLL_SECONDS)

    assert rotated["VersionId"] != before
    assert seen[-1] == rotated["VersionId"]


def test_caller_files_are_private_and_hold_the_callers_keys(running: RunningPath) -> None:
    """Each caller's env file is mode 0600 and exports exactly that caller's local keys."""
    files = dict(running.environment.caller_files())

    assert set(files) == set(running.environment.topology.callers)
    for name, path in files.items():
        credential = running.caller(name)
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in path.read_text().splitlines()
            if line.startswith("export ")
        )
        assert path.stat().st_mode & 0o777 == 0o600
        assert exported["AWS_ACCESS_KEY_ID"] == credential.access_key_id
        assert exported["AWS_SECRET_ACCESS_KEY"] == credential.secret_access_key


def test_secret_arns_name_the_environment_account(running: RunningPath) -> None:
    """The seeded secrets have the ARNs the environment would: its account, contract names."""
    arns = running.environment.secret_arns["payments"]

    assert set(arns) == {"database", "psp-api-key"}
    assert arns["database"].startswith(
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:latticework/dev/payments/database-"
    )


def test_a_second_run_in_the_same_project_is_refused(running: RunningPath) -> None:
    """Starting another environment on the same state directory fails before it starts
    anything, and leaves the running one's caller keys in place."""
    before = {name: path.read_text() for name, path in running.environment.caller_files()}
    spec = load_spec("dev", stacks_dir=PROJECT_DIR / "stacks")
    second = DevEnvironment(build_topology(spec, base_port=0), running.environment.paths)

    with pytest.raises(UsageError) as raised, second:
        pass

    after = {name: path.read_text() for name, path in running.environment.caller_files()}
    assert after == before
    assert f"process {os.getpid()}" in str(raised.value)
    assert "Ctrl-C" in str(raised.value)
    assert second.secret_arns == {}
    assert second.socket_dir is None


def _listening_tcp_inodes() -> set[str]:
    """The socket inodes of every TCP socket listening on this host (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A":  # TCP_LISTEN
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(descriptor)
        if target.startswith("socket:["):
            inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    return inodes


def test_services_listen_on_no_tcp_port_only_the_gateway_reaches_them(
    running: RunningPath,
) -> None:
    """No service process listens on TCP, so nothing on the host can skip the gateway and
    send its own x-amzn-lattice-* headers; the services still answer through it."""
    pids = running.environment.service_pids()
    listening = _listening_tcp_inodes()

    exposed = {name: _socket_inodes(pid) & listening for name, pid in pids.items()}

    assert set(pids) == {"orders", "payments", "inventory"}
    assert exposed == {"orders": set(), "payments": set(), "inventory": set()}
    assert _place_order(running).status_code == 201


def test_one_request_id_follows_the_order_through_every_service(running: RunningPath) -> None:
    """The caller's x-request-id is the audit record's id at orders and, forwarded by the
    signed client, at inventory and payments too."""
    request_id = f"trace-{uuid.uuid4().hex[:8]}"
    order = {"sku": "sku-espresso", "quantity": 1, "amount": "3.00"}
    url = f"{running.gateway('orders')}/orders"

    response = _call(
        running.caller("storefront-api"), "POST", url, order, extra={"x-request-id": request_id}
    )

    assert response.status_code == 201, response.text
    actions = {
        service: [record["action"] for record in running.audit_records(service, request_id)]
        for service in ("orders", "inventory", "payments")
    }
    assert actions == {
        "orders": ["CreateOrder"],
        "inventory": ["ReserveItem"],
        "payments": ["CreatePayment", "CreatePayment"],
    }
