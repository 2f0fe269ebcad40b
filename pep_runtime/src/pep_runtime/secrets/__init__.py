"""Secrets from AWS Secrets Manager by logical name, cached, rotation-aware and masked.

from pep_runtime.secrets import SecretsClient

secrets = SecretsClient.from_environment()      # LATTICEWORK_SECRET_<NAME>_ARN, AWS_REGION
database = secrets.get("database")              # AWSCURRENT, cached for ttl_seconds
password = database.reveal_field("password", str)
"""

from pep_runtime.secrets._client import (
    CURRENT,
    PENDING,
    PREVIOUS,
    SecretsClient,
    SecretsConfig,
    environment_variable,
    secretsmanager_client,
)
from pep_runtime.secrets._rotation import (
    with_refresh_on_auth_failure,
    with_refresh_on_auth_failure_async,
)
from pep_runtime.secrets._value import MASK, SecretValue
from pep_runtime.secrets.exceptions import (
    SecretAccessDeniedError,
    SecretConfigError,
    SecretFormatError,
    SecretLookupError,
    SecretNotFoundError,
    SecretsError,
    SecretUnavailableError,
)

__all__ = [
    "CURRENT",
    "MASK",
    "PENDING",
    "PREVIOUS",
    "SecretAccessDeniedError",
    "SecretConfigError",
    "SecretFormatError",
    "SecretLookupError",
    "SecretNotFoundError",
    "SecretUnavailableError",
    "SecretValue",
    "SecretsClient",
    "SecretsConfig",
    "SecretsError",
    "environment_variable",
    "secretsmanager_client",
    "with_refresh_on_auth_failure",
    "with_refresh_on_auth_failure_async",
]
