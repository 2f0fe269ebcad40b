"""Errors of the secrets client.

Hierarchy::

    PepRuntimeError                      (pep_runtime.errors)
    +-- SecretsError                     base of everything below; carries `name`
        +-- SecretConfigError            no ARN for a logical name, a malformed ARN or no region;
        |                                a deployment problem, raised before any AWS call
        +-- SecretLookupError            a Secrets Manager call failed; carries `secret_id`,
        |   |                            `stage`, `version_id` and the AWS `error_code`
        |   +-- SecretNotFoundError      no such secret, or no value at the asked stage or
        |   |                            version (a pending version without a value included)
        |   +-- SecretAccessDeniedError  the role may not read the secret or use its KMS key
        |   +-- SecretUnavailableError   throttled after the bounded retries, network failure
        |                                or a Secrets Manager fault, with no cached value young
        |                                enough to serve instead
        +-- SecretFormatError            the value is not what the caller asked for: text vs
                                         binary, not JSON, a missing or mistyped JSON field

None of them is ever cached: the next call asks Secrets Manager again. No message, attribute
or chained exception carries a secret value.
"""

from __future__ import annotations

from pep_runtime.errors import PepRuntimeError


class SecretsError(PepRuntimeError):
    """Base of the errors of `pep_runtime.secrets`."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class SecretConfigError(SecretsError):
    """The environment does not say where a secret is, or says it wrongly."""

    def __init__(self, message: str, *, name: str, variable: str) -> None:
        super().__init__(message, name=name)
        self.variable = variable


class SecretLookupError(SecretsError):
    """A Secrets Manager call for one secret, stage or version failed."""

    def __init__(
        self,
        message: str,
        *,
        name: str,
        secret_id: str,
        stage: str | None,
        version_id: str | None,
        error_code: str | None,
    ) -> None:
        super().__init__(message, name=name)
        self.secret_id = secret_id
        self.stage = stage
        self.version_id = version_id
        self.error_code = error_code


class SecretNotFoundError(SecretLookupError):
    """The secret, or a value at the asked stage or version, does not exist."""


class SecretAccessDeniedError(SecretLookupError):
    """The caller's role may not read the secret or decrypt it with its KMS key."""


class SecretUnavailableError(SecretLookupError):
    """Secrets Manager could not answer now and no cached value was young enough to serve."""


class SecretFormatError(SecretsError):
    """The value does not have the shape the caller asked for."""

    def __init__(self, message: str, *, name: str, field: str | None = None) -> None:
        super().__init__(message, name=name)
        self.field = field


__all__ = [
    "SecretAccessDeniedError",
    "SecretConfigError",
    "SecretFormatError",
    "SecretLookupError",
    "SecretNotFoundError",
    "SecretUnavailableError",
    "SecretsError",
]
