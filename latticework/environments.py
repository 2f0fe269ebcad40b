"""The environments a project deploys, shared by the CLI and the rollout without either
importing the other."""

from __future__ import annotations

ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
"""The environments, in rollout order; each is a stack with `stacks/Pulumi.<env>.yaml`."""

__all__ = ["ENVIRONMENTS"]
