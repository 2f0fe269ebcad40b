"""`latticework dev`: the request path of an environment, run end to end on loopback.

The local gateway stands in for VPC Lattice (SigV4 check, auth policy, identity headers),
moto stands in for Secrets Manager, and the example services run with the PEP in local
Cedar mode on `authz/`.
"""

from __future__ import annotations

from latticework.dev._auth_policy import Decision, evaluate_auth_policy
from latticework.dev._gateway import GatewayConfig, LatticeGateway, ServiceRoute, open_listener
from latticework.dev._launcher import DevEnvironment, DevPaths, generate_secret_value
from latticework.dev._sigv4 import LocalCredential, SignatureError, verify_signature
from latticework.dev._topology import (
    DEFAULT_BASE_PORT,
    LocalService,
    LocalTopology,
    build_topology,
    check_ports_free,
)

__all__ = [
    "DEFAULT_BASE_PORT",
    "Decision",
    "DevEnvironment",
    "DevPaths",
    "GatewayConfig",
    "LatticeGateway",
    "LocalCredential",
    "LocalService",
    "LocalTopology",
    "ServiceRoute",
    "SignatureError",
    "build_topology",
    "check_ports_free",
    "evaluate_auth_policy",
    "generate_secret_value",
    "open_listener",
    "verify_signature",
]
