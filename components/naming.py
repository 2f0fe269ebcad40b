"""The physical names latticework gives AWS resources, in one place (docs/contracts.md).

Some names must be known before the resource exists: a service's auth policy names the task
roles of its callers, and a caller is deployed after the services it calls, so the role ARN is
derived from the contract's naming rule rather than read from the role.
"""

from __future__ import annotations


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def task_role_name(env: str, service: str) -> str:
    """``latticework-<env>-<service>-task``: the role the service's code runs as."""
    return f"latticework-{env}-{service}-task"


def execution_role_name(env: str, service: str) -> str:
    """``latticework-<env>-<service>-exec``: the role ECS uses to start the task."""
    return f"latticework-{env}-{service}-exec"


def infrastructure_role_name(env: str, service: str) -> str:
    """``latticework-<env>-<service>-infra``: the role ECS uses to register Lattice targets."""
    return f"latticework-{env}-{service}-infra"


def role_arn(*, partition: str, account_id: str, role_name: str) -> str:
    """The ARN of an IAM role without a path."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def secret_name(env: str, service: str, secret: str) -> str:
    """``latticework/<env>/<service>/<secret>``: the Secrets Manager name of a secret."""
    return f"latticework/{env}/{service}/{secret}"


def lattice_service_name(env: str, service: str) -> str:
    """``<env>-<service>``: the Lattice service name (Lattice allows 3-40 characters)."""
    return f"{env}-{service}"


def service_log_group_name(env: str, service: str) -> str:
    """The CloudWatch log group of a service's containers."""
    return f"/latticework/{env}/services/{service}"


def secret_env_var(secret: str) -> str:
    """``LATTICEWORK_SECRET_<NAME>_ARN`` for a secret's logical name."""
    return f"LATTICEWORK_SECRET_{_env_suffix(secret)}_ARN"


def service_url_env_var(service: str) -> str:
    """``LATTICEWORK_SERVICE_<NAME>_URL`` for a peer service."""
    return f"LATTICEWORK_SERVICE_{_env_suffix(service)}_URL"


def _env_suffix(name: str) -> str:
    return name.upper().replace("-", "_")


__all__ = [
    "execution_role_name",
    "infrastructure_role_name",
    "lattice_service_name",
    "partition_of",
    "role_arn",
    "secret_env_var",
    "secret_name",
    "service_log_group_name",
    "service_url_env_var",
    "task_role_name",
]
