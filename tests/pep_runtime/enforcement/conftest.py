"""Shared fixtures: the fixture authz/ files, a route table and config builders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pep_runtime.enforcement.config import EnforcementConfig, config_from_document

FIXTURE_AUTHZ = Path(__file__).parent / "fixtures" / "authz"
FRONTEND_ROLE_ARN = "arn:aws:iam::111122223333:role/latticework/latticework-dev-frontend-task"
FRONTEND_IDENTITY = (
    "Principal=arn:aws:sts::111122223333:assumed-role/latticework-dev-frontend-task/0a1b2c3d; "
    "PrincipalOrgID=o-abc123def4; SessionName=0a1b2c3d; Type=AWS_IAM"
)
PARTNER_IDENTITY = (
    "Principal=arn:aws:sts::444455556666:assumed-role/partner-reader/session-1; Type=AWS_IAM"
)
STRANGER_IDENTITY = (
    "Principal=arn:aws:sts::777788889999:assumed-role/stranger/session-1; Type=AWS_IAM"
)

ROUTES: list[dict[str, Any]] = [
    {
        "method": "GET",
        "path": "/orders/{orderId}",
        "action": "GetOrder",
        "resource": {"type": "Order", "id": "{orderId}"},
    },
    {
        "method": "POST",
        "path": "/orders/{orderId}/cancel",
        "action": "CancelOrder",
        "resource": {"type": "Order", "id": "{orderId}"},
    },
    {
        "method": "GET",
        "path": "/catalog/{section}",
        "action": "ReadCatalog",
        "resource": {"type": "Catalog", "id": "catalog-{section}"},
    },
    {"method": "GET", "path": "/health", "public": True},
]


def audit_lines(output: str) -> list[dict[str, Any]]:
    """The audit lines in captured standard output (the default destination), parsed."""
    return [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith('{"event":"authorization"')
    ]


def environment(**overrides: str) -> dict[str, str]:
    """The variables the infrastructure sets, for local mode behind Lattice."""
    environ = {
        "LATTICEWORK_SERVICE_NAME": "orders",
        "LATTICEWORK_PEP_MODE": "local",
        "LATTICEWORK_BEHIND_LATTICE": "true",
        "LATTICEWORK_CALLER_ROLES": json.dumps({FRONTEND_ROLE_ARN: "frontend"}),
        "AWS_REGION": "eu-west-1",
        "LATTICEWORK_POLICY_STORE_ID": "PSEXAMPLEabcdefg111111",
    }
    environ.update(overrides)
    return environ


def make_config(
    *,
    document: Mapping[str, Any] | None = None,
    authz_dir: Path = FIXTURE_AUTHZ,
    env: Mapping[str, str] | None = None,
) -> EnforcementConfig:
    """A validated config from a document (default: ROUTES, local mode on `authz_dir`)."""
    body: dict[str, Any] = {"routes": ROUTES, "local": {"authzDir": str(authz_dir)}}
    if document is not None:
        body.update(document)
    return config_from_document(
        body,
        source="test-config.yaml",
        base_dir=authz_dir.parent,
        environ=environment(**(env or {})),
    )


@pytest.fixture
def authz_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture authz/ directory."""
    target = tmp_path / "authz"
    shutil.copytree(FIXTURE_AUTHZ, target)
    return target
