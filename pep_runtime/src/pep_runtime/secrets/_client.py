"""The secrets client: Secrets Manager values by logical name, cached and rotation-aware."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from pep_runtime._botocore_logs import install_botocore_log_filter
from pep_runtime.secrets._cache import SingleFlightCache
from pep_runtime.secrets._value import SecretValue
from pep_runtime.secrets.exceptions import (
    SecretAccessDeniedError,
    SecretConfigError,
    SecretLookupError,
    SecretNotFoundError,
    SecretUnavailableError,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = logging.getLogger(__name__)

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
PREVIOUS = "AWSPREVIOUS"

_ENV_PREFIX = "LATTICEWORK_SECRET_"
_ENV_SUFFIX = "_ARN"
_LOGICAL_NAME = re.compile(r"[a-z][a-z0-9-]*")
_SECRET_ARN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+"
)

_NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "InvalidRequestException"})
_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDeniedException",
        "DecryptionFailure",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)


@dataclass(frozen=True, slots=True)
class SecretsConfig:
    """How long values live in the cache and how hard Secrets Manager is tried.

    `ttl_seconds`: a value is served from the cache this long after it was fetched.
    `max_stale_seconds`: when a refresh fails transiently (throttled after the retries, a
    network error, a Secrets Manager fault), a cached value at most this old is served with a
    warning; the refresh is tried again after `stale_retry_seconds`.
    `max_attempts`: total attempts per call for throttling and transient faults, with
    botocore's jittered exponential backoff ("standard" retry mode).
    """

    ttl_seconds: float = 300.0
    max_stale_seconds: float = 3600.0
    stale_retry_seconds: float = 30.0
    max_entries: int = 256
    max_attempts: int = 3
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        for field_name in (
            "ttl_seconds",
            "max_stale_seconds",
            "stale_retry_seconds",
            "connect_timeout_seconds",
            "read_timeout_seconds",
        ):
            value = getattr(self, field_name)
            # `not value >= 0` also refuses NaN, which float() reads from an environment variable.
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                message = (
                    f"SecretsConfig.{field_name} must be a number of seconds, zero or more; "
                    f"found {value!r}"
                )
                raise ValueError(message)

        for field_name in ("max_entries", "max_attempts"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                message = (
                    f"SecretsConfig.{field_name} must be a whole number, at least 1; "
                    f"found {value!r}"
                )
                raise ValueError(message)


@dataclass(frozen=True, slots=True)
class _SecretKey:
    name: str
    secret_id: str
    stage: str | None
    version_id: str | None

    def __str__(self) -> str:
        where = f"version {self.version_id}" if self.version_id else f"stage {self.stage}"
        return f"secret {self.name!r} ({where})"


def secretsmanager_client(region: str, config: SecretsConfig) -> SecretsManagerClient:
    """A Secrets Manager client with the retries and timeouts of `config`.

    Credentials come from botocore's chain (the task role's on ECS). Throttling and
    transient faults get botocore's "standard" retries: at most `config.max_attempts`
    attempts in all, with jittered exponential backoff; other errors are not retried.
    """
    boto_config = Config(
        retries={"mode": "standard", "total_max_attempts": config.max_attempts},
        connect_timeout=config.connect_timeout_seconds,
        read_timeout=config.read_timeout_seconds,
    )
    session = boto3.session.Session(region_name=region)
    return session.client("secretsmanager", config=boto_config)


def environment_variable(name: str) -> str:
    """The variable that holds the ARN of the secret with logical name `name`."""
    return f"{_ENV_PREFIX}{name.upper().replace('-', '_')}{_ENV_SUFFIX}"


class SecretsClient:
    """Secrets by logical name: cached per secret and stage or version, stages explicit.

    `get("database")` reads AWSCURRENT; `get("database", stage="AWSPENDING")` reads exactly
    that stage and never falls back to another. Missing secrets and denied reads raise at
    once (`SecretNotFoundError`, `SecretAccessDeniedError`); nothing returns None. Safe to
    share between threads; `aget` and `arefresh` serve async code.
    """

    def __init__(
        self,
        secret_ids: Mapping[str, str],
        *,
        secretsmanager: SecretsManagerClient | None = None,
        region: str | None = None,
        config: SecretsConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config or SecretsConfig()
        self._secret_ids = {_check_name(name): secret_id for name, secret_id in secret_ids.items()}
        self._region = region
        self._secretsmanager = secretsmanager
        self._client_lock = threading.Lock()
        self._cache: SingleFlightCache[_SecretKey, SecretValue] = SingleFlightCache(
            ttl=self._config.ttl_seconds,
            max_stale=self._config.max_stale_seconds,
            stale_retry=self._config.stale_retry_seconds,
            max_entries=self._config.max_entries,
            is_transient=lambda exc: isinstance(exc, SecretUnavailableError),
            clock=clock,
        )
        install_botocore_log_filter()

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        secretsmanager: SecretsManagerClient | None = None,
        config: SecretsConfig | None = None,
    ) -> SecretsClient:
        """A client for the secrets the infrastructure named in `LATTICEWORK_SECRET_*_ARN`."""
        environ = os.environ if environ is None else environ
        secret_ids: dict[str, str] = {}
        for variable, arn in environ.items():
            if not (variable.startswith(_ENV_PREFIX) and variable.endswith(_ENV_SUFFIX)):
                continue

            middle = variable[len(_ENV_PREFIX) : -len(_ENV_SUFFIX)]
            name = middle.lower().replace("_", "-")
            if not _LOGICAL_NAME.fullmatch(name):
                message = (
                    f"environment variable {variable}: {name!r} is not a logical secret name; "
                    f"expected {_ENV_PREFIX}<NAME>{_ENV_SUFFIX} with <NAME> upper-case letters, "
                    "digits and '_', starting with a letter (the secret's name under `secrets:` "
                    "in stacks/services.yaml, upper-cased, '-' -> '_')"
                )
                raise SecretConfigError(message, name=name, variable=variable)

            if not _SECRET_ARN.fullmatch(arn):
                message = (
                    f"environment variable {variable} must hold a Secrets Manager secret ARN "
                    "(arn:aws:secretsmanager:<region>:<account>:secret:<name>); it holds "
                    "something else (not shown: it may be a secret value). Secret values never "
                    "go in the environment: put the ARN there and the value in Secrets Manager"
                )
                raise SecretConfigError(message, name=name, variable=variable)

            secret_ids[name] = arn

        region = environ.get("AWS_REGION") or None
        return cls(secret_ids, secretsmanager=secretsmanager, region=region, config=config)

    def secret_id(self, name: str) -> str:
        """The ARN (or id) of the secret with logical name `name`."""
        try:
            return self._secret_ids[_check_name(name)]
        except KeyError:
            known = ", ".join(sorted(self._secret_ids)) or "none"
            message = (
                f"no ARN for secret {name!r}: environment variable {environment_variable(name)} "
                f"is not set (secrets configured: {known}); list the secret under `secrets:` of "
                "this service in stacks/services.yaml, or fix the name"
            )
            raise SecretConfigError(
                message, name=name, variable=environment_variable(name)
            ) from None

    def get(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> SecretValue:
        """The value of secret `name` at `stage` (AWSCURRENT by default) or `version_id`."""
        key = self._key(name, stage, version_id)
        return self._cache.get(key, lambda: self._fetch(key))

    def refresh(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> SecretValue:
        """Fetch secret `name` now, bypassing the cache, and cache the result."""
        key = self._key(name, stage, version_id)
        return self._cache.get(key, lambda: self._fetch(key), force=True)

    async def aget(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> SecretValue:
        """`get` for async code: a fresh cached value at once, a load in a worker thread."""
        key = self._key(name, stage, version_id)
        cached = self._cache.peek(key)
        if cached is not None:
            return cached

        return await asyncio.to_thread(self._cache.get, key, lambda: self._fetch(key))

    async def arefresh(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> SecretValue:
        """`refresh` for async code: the Secrets Manager call runs in a worker thread."""
        return await asyncio.to_thread(self.refresh, name, stage=stage, version_id=version_id)

    def _key(self, name: str, stage: str | None, version_id: str | None) -> _SecretKey:
        if stage is not None and version_id is not None:
            message = f"secret {name!r}: ask for a stage or a version_id, not both"
            raise ValueError(message)
        if stage == "" or version_id == "":
            message = f"secret {name!r}: stage and version_id must not be empty strings"
            raise ValueError(message)

        if version_id is None and stage is None:
            stage = CURRENT
        return _SecretKey(name, self.secret_id(name), stage, version_id)

    def _client(self) -> SecretsManagerClient:
        if self._secretsmanager is not None:
            return self._secretsmanager

        if self._region is None:
            message = (
                "AWS_REGION is not set; the infrastructure sets it for every service, set it "
                "to the environment's region when running elsewhere"
            )
            raise SecretConfigError(message, name="*", variable="AWS_REGION")

        with self._client_lock:
            if self._secretsmanager is None:
                self._secretsmanager = secretsmanager_client(self._region, self._config)
            return self._secretsmanager

    def _fetch(self, key: _SecretKey) -> SecretValue:
        request: dict[str, Any] = {"SecretId": key.secret_id}
        if key.version_id is not None:
            request["VersionId"] = key.version_id
        else:
            request["VersionStage"] = key.stage

        try:
            response = self._client().get_secret_value(**request)
        except ClientError as exc:
            _raise_lookup_error(key, exc)
        except (NoCredentialsError, PartialCredentialsError) as exc:
            message = f"{key}: no AWS credentials to call Secrets Manager with ({exc})"
            raise _lookup_error(SecretAccessDeniedError, message, key, "NoCredentials") from exc
        except (BotoConnectionError, HTTPClientError, ConnectionClosedError) as exc:
            message = f"{key}: Secrets Manager is unreachable ({type(exc).__name__})"
            raise _lookup_error(SecretUnavailableError, message, key, None) from exc
        except ParamValidationError as exc:
            # Raised before sending, about our own SecretId, VersionId or VersionStage.
            message = f"{key}: botocore refused the request: {exc}"
            raise _lookup_error(SecretLookupError, message, key, None) from exc
        except BotoCoreError as exc:
            message = f"{key}: the Secrets Manager call failed ({type(exc).__name__})"
            raise _lookup_error(SecretLookupError, message, key, None) from exc

        logger.debug("fetched %s, version %s", key, response.get("VersionId"))
        return _secret_value(key, response)


def _secret_value(key: _SecretKey, response: Mapping[str, Any]) -> SecretValue:
    value: str | bytes
    if "SecretString" in response:
        value = response["SecretString"]
    elif "SecretBinary" in response:
        value = response["SecretBinary"]
    else:
        message = (
            f"{key} has no value yet: the version exists without SecretString or "
            "SecretBinary (a rotation that has not written it); ask again after the rotation"
        )
        raise _lookup_error(SecretNotFoundError, message, key, None)

    return SecretValue(
        value,
        name=key.name,
        version_id=response["VersionId"],
        stages=tuple(response.get("VersionStages", ())),
        created_date=response.get("CreatedDate"),
    )


def _raise_lookup_error(key: _SecretKey, exc: ClientError) -> NoReturn:
    error = exc.response.get("Error", {})
    code = error.get("Code", "Unknown")
    aws_message = error.get("Message", "")
    if code in _NOT_FOUND_CODES:
        message = f"{key} not found: {code}: {aws_message} ({_not_found_hint(key)})"
        raise _lookup_error(SecretNotFoundError, message, key, code) from exc

    if code in _ACCESS_DENIED_CODES:
        message = (
            f"{key}: access denied: {code}: {aws_message} (the task role needs "
            "secretsmanager:GetSecretValue on the secret and kms:Decrypt on its key)"
        )
        raise _lookup_error(SecretAccessDeniedError, message, key, code) from exc

    if code in _TRANSIENT_CODES or _status(exc) >= 500:
        message = f"{key}: Secrets Manager did not answer after the retries: {code}"
        raise _lookup_error(SecretUnavailableError, message, key, code) from exc

    message = f"{key}: Secrets Manager refused the request: {code}: {aws_message}"
    raise _lookup_error(SecretLookupError, message, key, code) from exc


def _not_found_hint(key: _SecretKey) -> str:
    if key.version_id is not None:
        return "check the version id; Secrets Manager deletes old versions without a stage label"
    if key.stage == PENDING:
        return "AWSPENDING exists only during a rotation"
    if key.stage == PREVIOUS:
        return "AWSPREVIOUS exists only after a rotation"
    if key.stage != CURRENT:
        return f"no version carries stage label {key.stage!r}; check the label"
    return "check the ARN and region"


def _status(exc: ClientError) -> int:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return int(status)


def _lookup_error(
    kind: type[SecretLookupError], message: str, key: _SecretKey, code: str | None
) -> SecretLookupError:
    return kind(
        message,
        name=key.name,
        secret_id=key.secret_id,
        stage=key.stage,
        version_id=key.version_id,
        error_code=code,
    )


def _check_name(name: str) -> str:
    if not _LOGICAL_NAME.fullmatch(name):
        message = (
            f"{name!r} is not a logical secret name: expected lower-case letters, digits and "
            "'-', starting with a letter, as under `secrets:` in stacks/services.yaml"
        )
        raise SecretConfigError(message, name=name, variable=environment_variable(name))
    return name


__all__ = [
    "CURRENT",
    "PENDING",
    "PREVIOUS",
    "SecretsClient",
    "SecretsConfig",
    "environment_variable",
    "secretsmanager_client",
]
