"""The latticework guardrails: CrossGuard policies that enforce the architecture.

The same policy objects run in a real preview (Pulumi loads this directory as a policy pack
through `__main__.py`) and offline (`latticework.policy_eval` imports `POLICIES`). Importing
this package never constructs a `PolicyPack`: that starts a gRPC server and never returns.
"""

from __future__ import annotations

from typing import Any, Final

from policy_packs.latticework_guardrails import (
    ecs_services,
    iam_roles,
    lattice,
    policy_store,
    secret_rotation,
    task_definitions,
)

POLICY_PACK_NAME: Final = "latticework-guardrails"
POLICY_PACK_DESCRIPTION: Final = (
    "Guard rails for latticework: IAM-authenticated VPC Lattice, scoped auth policies, no "
    "plaintext secrets, rotated secrets, a STRICT policy store and least-privilege roles."
)

POLICIES: Final[tuple[Any, ...]] = (
    *lattice.POLICIES,
    *task_definitions.POLICIES,
    *secret_rotation.POLICIES,
    *policy_store.POLICIES,
    *ecs_services.POLICIES,
    *iam_roles.POLICIES,
)
"""Every policy of the pack, in report order (pulumi-policy `Policy` objects)."""


def policy_names() -> tuple[str, ...]:
    """The names of every policy in the pack."""
    return tuple(policy.name for policy in POLICIES)


__all__ = ["POLICIES", "POLICY_PACK_DESCRIPTION", "POLICY_PACK_NAME", "policy_names"]
