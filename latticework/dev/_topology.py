"""The local stand-in of one environment: ports, role ARNs, credentials, ARNs, auth policies.

Everything here is derived from the stack spec the way the components derive the real
thing: task role names, secret names, who may call whom, and the auth policy documents
(from `components.iam_documents`, the same builder the components use). Only the ports,
the local credentials and the resource ids are local inventions.
"""

from __future__ import annotations

import hashlib
import secrets
import socket
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.iam_documents import service_auth_policy, service_network_auth_policy
from components.naming import partition_of, role_arn, secret_name, task_role_name
from components.spec import ServiceSpec, StackSpec
from latticework.dev._sigv4 import LocalCredential
from latticework.errors import UsageError

LOOPBACK = "127.0.0.1"
DEFAULT_BASE_PORT = 8400
# The gateway port of the i-th service is base + 1 + i; services listen on unix sockets.
_GATEWAY_OFFSET = 1
_OUTSIDER = "outsider"
_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class LocalService:
    """One catalog service as it runs on loopback."""

    spec: ServiceSpec
    gateway_port: int
    task_role_arn: str
    credential: LocalCredential
    service_arn: str
    target_group_arn: str
    secret_names: Mapping[str, str]
    peers: tuple[str, ...]
    auth_policy: Mapping[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        """The catalog name of the service."""
        return self.spec.name

    @property
    def gateway_url(self) -> str:
        """The loopback URL callers use: the local stand-in for its Lattice DNS name."""
        return f"http://{LOOPBACK}:{self.gateway_port}"

    @property
    def health_path(self) -> str:
        """The public route the launcher polls until the service is up."""
        return self.spec.health_check_path


@dataclass(frozen=True, slots=True)
class LocalTopology:
    """The whole local environment."""

    env: str
    region: str
    account_id: str
    org_id: str | None
    secrets_port: int
    service_network_arn: str
    source_vpc_arn: str
    services: tuple[LocalService, ...]
    network_auth_policy: Mapping[str, Any] = field(repr=False)
    callers: Mapping[str, LocalCredential] = field(repr=False)
    """Every identity the gateway knows, by a short name: each service's task role, each
    external principal the catalog names (by role name), and `outsider`, a role in the
    environment's account that no auth policy names."""

    @property
    def secrets_endpoint(self) -> str:
        """The URL of the local Secrets Manager (moto)."""
        return f"http://{LOOPBACK}:{self.secrets_port}"

    def caller_roles(self, service: LocalService) -> dict[str, str]:
        """`LATTICEWORK_CALLER_ROLES` of `service`: its catalog callers' task role ARN -> name.

        The same map `MeshService` gives the container: only the services that call it.
        """
        return {
            self.service(caller).task_role_arn: caller for caller in service.spec.callers.services
        }

    def service(self, name: str) -> LocalService:
        """The local service called `name`."""
        for service in self.services:
            if service.name == name:
                return service

        known = ", ".join(service.name for service in self.services)
        raise UsageError(f"no service {name!r} in the catalog; known: {known}")

    def ports(self) -> list[tuple[int, str]]:
        """Every port the environment listens on, with what listens there."""
        ports = [(self.secrets_port, "local Secrets Manager (moto)")]
        for service in self.services:
            ports.append((service.gateway_port, f"gateway for {service.name}"))
        return ports


def build_topology(spec: StackSpec, *, base_port: int = DEFAULT_BASE_PORT) -> LocalTopology:
    """Derive the local environment of `spec`; `base_port` 0 picks free ports."""
    account_id = spec.settings.account_id
    catalog = spec.catalog.services
    ports = _ports(base_port, len(catalog))
    partition = partition_of(spec.region)
    task_roles = {
        service.name: role_arn(
            partition=partition,
            account_id=account_id,
            role_name=task_role_name(spec.env, service.name),
        )
        for service in catalog
    }
    callers = {
        name: _credential(role_arn, f"{name}-local") for name, role_arn in task_roles.items()
    }
    for service in catalog:
        for principal_arn in service.callers.iam_principals:
            role_name = principal_arn.rsplit("/", 1)[-1]
            callers.setdefault(role_name, _credential(principal_arn, f"{role_name}-local"))
    outsider_arn = role_arn(
        partition=partition, account_id=account_id, role_name=f"latticework-{spec.env}-{_OUTSIDER}"
    )
    callers[_OUTSIDER] = _credential(outsider_arn, f"{_OUTSIDER}-local")

    services = []
    for index, service in enumerate(catalog):
        service_arn = _lattice_arn(spec, account_id, "service", "svc", service.name)
        caller_role_arns = [task_roles[caller] for caller in service.callers.services]
        services.append(
            LocalService(
                spec=service,
                gateway_port=ports[1 + index],
                task_role_arn=task_roles[service.name],
                credential=callers[service.name],
                service_arn=service_arn,
                target_group_arn=_lattice_arn(spec, account_id, "targetgroup", "tg", service.name),
                secret_names={
                    secret.name: secret_name(spec.env, service.name, secret.name)
                    for secret in service.secrets
                },
                peers=tuple(peer.name for peer in catalog if service.name in peer.callers.services),
                auth_policy=service_auth_policy(
                    service_arn=service_arn,
                    caller_role_arns=caller_role_arns,
                    allowed_principals=service.callers.iam_principals,
                ),
            )
        )

    allowed_principals = spec.settings.allowed_principals
    service_network_arn = _lattice_arn(spec, account_id, "servicenetwork", "sn", spec.env)
    return LocalTopology(
        env=spec.env,
        region=spec.region,
        account_id=account_id,
        org_id=allowed_principals.organization_id,
        secrets_port=ports[0],
        service_network_arn=service_network_arn,
        source_vpc_arn=f"arn:aws:ec2:{spec.region}:{account_id}:vpc/vpc-{_hex_id('vpc', spec.env)}",
        services=tuple(services),
        # The same arguments `Environment` gives the ServiceNetwork component.
        network_auth_policy=service_network_auth_policy(
            service_network_arn=service_network_arn,
            organization_id=allowed_principals.organization_id,
            account_ids=allowed_principals.account_ids,
            external_principals=sorted(
                {principal for service in catalog for principal in service.callers.iam_principals}
            ),
        ),
        callers=callers,
    )


def check_ports_free(topology: LocalTopology) -> None:
    """Raise `UsageError` naming the first port already in use on loopback."""
    for port, purpose in topology.ports():
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            message = (
                f"port {port} on {LOOPBACK} ({purpose}) is already in use ({exc.strerror}); "
                "stop whatever listens there (an earlier `latticework dev`?) or choose other "
                "ports with --base-port"
            )
            raise UsageError(message) from None
        finally:
            probe.close()


def _ports(base_port: int, service_count: int) -> list[int]:
    """Ports in the order: secrets, then the gateway port of each service."""
    if base_port == 0:
        return [_free_port() for _ in range(1 + service_count)]

    last = base_port + _GATEWAY_OFFSET + service_count - 1
    if base_port < 1024 or base_port > 65000 or last > 65535:
        message = (
            f"--base-port {base_port} gives ports {base_port}-{last}; expected a base port "
            "from 1024 to 65000 so every port is valid and unprivileged"
        )
        raise UsageError(message)

    return [base_port] + [base_port + _GATEWAY_OFFSET + index for index in range(service_count)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _credential(role_arn: str, session_name: str) -> LocalCredential:
    access_key_id = "LWDV" + "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(16))
    return LocalCredential(
        access_key_id=access_key_id,
        secret_access_key=secrets.token_urlsafe(30),
        role_arn=role_arn,
        session_name=session_name,
    )


def _lattice_arn(spec: StackSpec, account_id: str, kind: str, prefix: str, name: str) -> str:
    resource_id = f"{prefix}-{_hex_id(kind, name)}"
    return f"arn:aws:vpc-lattice:{spec.region}:{account_id}:{kind}/{resource_id}"


def _hex_id(kind: str, name: str) -> str:
    """A stable 17-hex-digit id, the shape AWS uses for Lattice and VPC ids."""
    return hashlib.sha256(f"{kind}/{name}".encode()).hexdigest()[:17]


__all__ = [
    "DEFAULT_BASE_PORT",
    "LOOPBACK",
    "LocalService",
    "LocalTopology",
    "build_topology",
    "check_ports_free",
]
