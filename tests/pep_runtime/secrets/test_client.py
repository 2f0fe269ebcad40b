"""The secrets client against moto: stages, cache, errors, retries and stale-on-error."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

import pytest
from moto.secretsmanager.models import secretsmanager_backends

from pep_runtime.secrets import (
    PENDING,
    PREVIOUS,
    SecretAccessDeniedError,
    SecretConfigError,
    SecretLookupError,
    SecretNotFoundError,
    SecretsClient,
    SecretsConfig,
    SecretUnavailableError,
    environment_variable,
)
from tests.pep_runtime.secrets.conftest import (
    CONNECTION_REFUSED,
    NO_VALUE,
    REGION,
    Upstream,
    make_secretsmanager,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(
    secretsmanager: SecretsManagerClient,
    secret_ids: dict[str, str],
    *,
    clock: FakeClock | None = None,
    config: SecretsConfig | None = None,
) -> SecretsClient:
    return SecretsClient(
        secret_ids,
        secretsmanager=secretsmanager,
        config=config or SecretsConfig(ttl_seconds=60, max_stale_seconds=300),
        clock=clock or FakeClock(),
    )


def test_get_reads_the_current_string_value(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> None:
    """A plain get returns the AWSCURRENT value with its version id and stages."""
    created = admin.create_secret(Name="orders/database", SecretString="s3cr3t-one")
    secrets = client_for(secretsmanager, {"database": created["ARN"]})

    value = secrets.get("database")

    assert value.reveal() == "s3cr3t-one"
    assert value.version_id == created["VersionId"]
    assert value.stages == ("AWSCURRENT",)
    assert value.name == "database"
    assert not value.is_binary


def test_get_reads_a_binary_value(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> None:
    """A SecretBinary secret comes back as bytes and is flagged binary."""
    arn = admin.create_secret(Name="orders/key", SecretBinary=b"\x00\x01raw")["ARN"]
    secrets = client_for(secretsmanager, {"signing-key": arn})

    value = secrets.get("signing-key")

    assert value.is_binary
    assert value.reveal_bytes() == b"\x00\x01raw"


def test_rotation_stages_are_read_exactly(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> None:
    """AWSCURRENT, AWSPENDING and AWSPREVIOUS each return their own version during a rotation."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    admin.put_secret_value(SecretId=arn, SecretString="v2")
    admin.put_secret_value(SecretId=arn, SecretString="v3", VersionStages=[PENDING])
    secrets = client_for(secretsmanager, {"database": arn})

    current = secrets.get("database")
    pending = secrets.get("database", stage=PENDING)
    previous = secrets.get("database", stage=PREVIOUS)

    assert (current.reveal(), pending.reveal(), previous.reveal()) == ("v2", "v3", "v1")
    assert pending.stages == (PENDING,)


@pytest.mark.parametrize("stage", [PENDING, PREVIOUS])
def test_a_missing_stage_never_falls_back_to_current(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, stage: str
) -> None:
    """Asking for a stage no version carries raises not-found instead of serving AWSCURRENT."""
    arn = admin.create_secret(Name="orders/database", SecretString="only-current")["ARN"]
    secrets = client_for(secretsmanager, {"database": arn})

    with pytest.raises(SecretNotFoundError) as raised:
        secrets.get("database", stage=stage)

    assert raised.value.stage == stage
    assert raised.value.error_code == "ResourceNotFoundException"


def test_a_pending_version_without_a_value_is_not_found(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> None:
    """A rotation that labelled AWSPENDING but has not written its value yet reads as not found."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    # RotateSecret creates this version before the rotation function's createSecret step
    # writes its value; moto reaches that state only through a Lambda, so it is set directly.
    secret = secretsmanager_backends["123456789012"][REGION].secrets[arn]
    secret.versions["pending-without-value"] = {
        "createdate": 1,
        "version_id": "pending-without-value",
        "version_stages": [PENDING],
    }
    secrets = client_for(secretsmanager, {"database": arn})

    with pytest.raises(SecretNotFoundError) as raised:
        secrets.get("database", stage=PENDING)

    assert raised.value.stage == PENDING
    assert secrets.get("database").reveal() == "v1"


def test_a_version_answered_without_a_value_is_not_found_and_not_cached(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """A GetSecretValue answer with neither SecretString nor SecretBinary raises not-found."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    admin.put_secret_value(SecretId=arn, SecretString="v2", VersionStages=[PENDING])
    upstream.failures = [(200, NO_VALUE)]
    secrets = client_for(secretsmanager, {"database": arn})

    with pytest.raises(SecretNotFoundError, match="has no value yet") as raised:
        secrets.get("database", stage=PENDING)
    pending = secrets.get("database", stage=PENDING)

    assert raised.value.stage == PENDING
    assert pending.reveal() == "v2"


def test_get_by_version_id(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> None:
    """A version id reads that version even after it lost every stage label."""
    created = admin.create_secret(Name="orders/database", SecretString="v1")
    admin.put_secret_value(SecretId=created["ARN"], SecretString="v2")
    admin.put_secret_value(SecretId=created["ARN"], SecretString="v3")
    secrets = client_for(secretsmanager, {"database": created["ARN"]})

    value = secrets.get("database", version_id=created["VersionId"])

    assert value.reveal() == "v1"
    assert value.version_id == created["VersionId"]


@pytest.mark.parametrize(
    ("ask", "hint"),
    [
        ({"version_id": "0a1b2c3d-0000-4000-8000-000000000000"}, "check the version id"),
        ({"stage": "BLUE"}, "no version carries stage label 'BLUE'"),
        ({"stage": PENDING}, "AWSPENDING exists only during a rotation"),
        ({"stage": PREVIOUS}, "AWSPREVIOUS exists only after a rotation"),
    ],
)
def test_a_not_found_version_or_stage_gets_its_own_hint(
    admin: SecretsManagerClient,
    secretsmanager: SecretsManagerClient,
    ask: dict[str, str],
    hint: str,
) -> None:
    """The not-found message's fix fits what was asked: a version id, a custom or AWS stage."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    secrets = client_for(secretsmanager, {"database": arn})

    with pytest.raises(SecretNotFoundError) as raised:
        secrets.get("database", **ask)

    assert hint in str(raised.value)
    assert "AWSPENDING" not in str(raised.value) or ask.get("stage") == PENDING


def test_gets_inside_the_ttl_make_one_upstream_call(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """A hundred gets of one key inside the TTL cost a single GetSecretValue."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    secrets = client_for(secretsmanager, {"database": arn})

    values = {secrets.get("database").reveal() for _ in range(100)}

    assert values == {"v1"}
    assert upstream.calls == 1


def test_stages_are_cached_separately(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """A cached AWSCURRENT does not answer for AWSPREVIOUS: each stage is its own key."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    admin.put_secret_value(SecretId=arn, SecretString="v2")
    secrets = client_for(secretsmanager, {"database": arn})

    secrets.get("database")
    previous = secrets.get("database", stage=PREVIOUS)
    secrets.get("database")

    assert previous.reveal() == "v1"
    assert upstream.calls == 2


def test_the_ttl_expires_and_the_rotated_value_is_read(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """After the TTL the next get asks again and sees the rotated AWSCURRENT."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    clock = FakeClock()
    secrets = client_for(secretsmanager, {"database": arn}, clock=clock)
    secrets.get("database")
    admin.put_secret_value(SecretId=arn, SecretString="v2")

    clock.now += 59
    before_expiry = secrets.get("database").reveal()
    clock.now += 2
    after_expiry = secrets.get("database").reveal()

    assert (before_expiry, after_expiry) == ("v1", "v2")
    assert upstream.calls == 2


def test_refresh_bypasses_the_cache(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """refresh() fetches now even inside the TTL, and caches what it fetched."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    secrets = client_for(secretsmanager, {"database": arn})
    secrets.get("database")
    admin.put_secret_value(SecretId=arn, SecretString="v2")

    refreshed = secrets.refresh("database")
    cached = secrets.get("database")

    assert (refreshed.reveal(), cached.reveal()) == ("v2", "v2")
    assert upstream.calls == 2


def test_fifty_threads_on_a_cold_key_make_one_upstream_call(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """Fifty concurrent misses of one key share a single GetSecretValue."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    secrets = client_for(secretsmanager, {"database": arn})
    # The upstream call is slowed so that every thread arrives while it is in flight.
    upstream.call_delay_seconds = 0.2
    start = threading.Barrier(50)
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        version = secrets.get("database").version_id
        with lock:
            results.append(version)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 50
    assert len(set(results)) == 1
    assert upstream.calls == 1


def test_not_found_is_raised_at_once_and_never_cached(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """A missing secret raises after one attempt, and is found as soon as it exists."""
    secrets = client_for(secretsmanager, {"database": "orders/later"})

    with pytest.raises(SecretNotFoundError) as raised:
        secrets.get("database")
    attempts_for_the_miss = upstream.attempts
    admin.create_secret(Name="orders/later", SecretString="now-here")
    value = secrets.get("database")

    assert attempts_for_the_miss == 1
    assert raised.value.secret_id == "orders/later"
    assert value.reveal() == "now-here"
    assert upstream.calls == 2


def test_access_denied_is_raised_at_once_and_never_cached(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """AccessDeniedException raises its own error after one attempt, and is asked again next get."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    upstream.failures = [(400, "AccessDeniedException")]
    secrets = client_for(secretsmanager, {"database": arn})

    with pytest.raises(SecretAccessDeniedError) as raised:
        secrets.get("database")
    attempts_for_the_denial = upstream.attempts
    value = secrets.get("database")

    assert attempts_for_the_denial == 1
    assert raised.value.error_code == "AccessDeniedException"
    assert not isinstance(raised.value, SecretNotFoundError)
    assert value.reveal() == "v1"


def test_kms_decryption_failure_is_access_denied(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """A KMS key the role may not use (DecryptionFailure) surfaces as access denied."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    upstream.fail_always = (400, "DecryptionFailure")
    secrets = client_for(secretsmanager, {"database": arn})

    with pytest.raises(SecretAccessDeniedError) as raised:
        secrets.get("database")

    assert raised.value.error_code == "DecryptionFailure"
    assert upstream.attempts == 1


def test_throttling_is_retried_with_a_bound(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """Two throttled attempts are retried and the third one's value is returned."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    upstream.failures = [(400, "ThrottlingException"), (400, "ThrottlingException")]
    secrets = client_for(secretsmanager, {"database": arn})

    value = secrets.get("database")

    assert value.reveal() == "v1"
    assert (upstream.calls, upstream.attempts) == (1, 3)


def test_throttling_beyond_the_bound_raises_unavailable(
    admin: SecretsManagerClient, aws: None, upstream: Upstream
) -> None:
    """Throttling on every attempt stops after max_attempts with SecretUnavailableError."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    upstream.fail_always = (400, "ThrottlingException")
    secrets = client_for(make_secretsmanager(upstream, max_attempts=2), {"database": arn})

    with pytest.raises(SecretUnavailableError) as raised:
        secrets.get("database")

    assert raised.value.error_code == "ThrottlingException"
    assert upstream.attempts == 2


@pytest.mark.parametrize(
    "failure",
    [(500, "InternalServiceError"), (400, "ThrottlingException"), (0, CONNECTION_REFUSED)],
)
def test_a_failed_refresh_serves_a_young_cached_value_with_a_warning(
    admin: SecretsManagerClient,
    aws: None,
    upstream: Upstream,
    caplog: pytest.LogCaptureFixture,
    failure: tuple[int, str],
) -> None:
    """A transient refresh failure serves the cached value while it is younger than the bound."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    clock = FakeClock()
    secrets = client_for(
        make_secretsmanager(upstream, max_attempts=1), {"database": arn}, clock=clock
    )
    secrets.get("database")
    upstream.fail_always = failure
    clock.now += 200

    with caplog.at_level(logging.WARNING, logger="pep_runtime"):
        stale = secrets.get("database")
    clock.now += 101

    with pytest.raises(SecretUnavailableError):
        secrets.get("database")
    assert stale.reveal() == "v1"
    assert "serving the cached value fetched 200 s ago" in caplog.text


def test_an_unreachable_endpoint_is_retried_then_unavailable(
    admin: SecretsManagerClient, aws: None, upstream: Upstream
) -> None:
    """Connection failures are retried up to max_attempts, then raise SecretUnavailableError."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    upstream.fail_always = (0, CONNECTION_REFUSED)
    secrets = client_for(make_secretsmanager(upstream, max_attempts=2), {"database": arn})

    with pytest.raises(SecretUnavailableError) as raised:
        secrets.get("database")

    assert raised.value.error_code is None
    assert upstream.attempts == 2


def test_a_stale_value_is_not_served_when_access_is_revoked(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """Access denied after the TTL raises instead of serving a value the role may not read."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    clock = FakeClock()
    secrets = client_for(secretsmanager, {"database": arn}, clock=clock)
    secrets.get("database")
    upstream.fail_always = (400, "AccessDeniedException")
    clock.now += 61

    with pytest.raises(SecretAccessDeniedError):
        secrets.get("database")


def test_a_stale_value_is_not_served_when_the_secret_is_gone(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> None:
    """A secret deleted since it was cached raises not-found instead of serving the old value."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    clock = FakeClock()
    secrets = client_for(secretsmanager, {"database": arn}, clock=clock)
    secrets.get("database")
    admin.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    clock.now += 61

    with pytest.raises(SecretNotFoundError):
        secrets.get("database")


def test_from_environment_resolves_logical_names(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> None:
    """`db-main` is read from LATTICEWORK_SECRET_DB_MAIN_ARN."""
    arn = admin.create_secret(Name="orders/db-main", SecretString="v1")["ARN"]
    environ = {"LATTICEWORK_SECRET_DB_MAIN_ARN": arn, "AWS_REGION": REGION}

    secrets = SecretsClient.from_environment(environ, secretsmanager=secretsmanager)

    assert environment_variable("db-main") == "LATTICEWORK_SECRET_DB_MAIN_ARN"
    assert secrets.secret_id("db-main") == arn
    assert secrets.get("db-main").reveal() == "v1"


def test_from_environment_creates_its_own_client_in_aws_region(
    admin: SecretsManagerClient,
) -> None:
    """Without an injected client, one is built for AWS_REGION through the credential chain."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]

    secrets = SecretsClient.from_environment(
        {"LATTICEWORK_SECRET_DATABASE_ARN": arn, "AWS_REGION": REGION}
    )

    assert secrets.get("database").reveal() == "v1"


def test_an_unknown_logical_name_names_the_variable_to_set(
    secretsmanager: SecretsManagerClient,
) -> None:
    """A name with no ARN variable fails before any call, naming the variable and the fix."""
    secrets = SecretsClient.from_environment({"AWS_REGION": REGION}, secretsmanager=secretsmanager)

    with pytest.raises(SecretConfigError) as raised:
        secrets.get("database")

    assert raised.value.variable == "LATTICEWORK_SECRET_DATABASE_ARN"
    assert "LATTICEWORK_SECRET_DATABASE_ARN is not set" in str(raised.value)
    assert "stacks/services.yaml" in str(raised.value)


def test_a_value_in_an_arn_variable_is_refused_without_echoing_it() -> None:
    """A secret value put where an ARN belongs is rejected and not repeated in the error."""
    environ = {"LATTICEWORK_SECRET_DATABASE_ARN": "hunter2-not-an-arn", "AWS_REGION": REGION}

    with pytest.raises(SecretConfigError) as raised:
        SecretsClient.from_environment(environ)

    assert raised.value.variable == "LATTICEWORK_SECRET_DATABASE_ARN"
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("variable", ["LATTICEWORK_SECRET_ARN", "LATTICEWORK_SECRET_9LIVES_ARN"])
def test_an_ill_named_arn_variable_is_named(variable: str) -> None:
    """A variable whose middle is no logical name is refused, naming that variable."""
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:orders/database-AbCdEf"

    with pytest.raises(SecretConfigError) as raised:
        SecretsClient.from_environment({variable: arn, "AWS_REGION": REGION})

    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"environment variable {variable}: ")


def test_a_missing_region_is_named(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without AWS_REGION and without an injected client, the error names AWS_REGION."""
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:orders/database-AbCdEf"
    secrets = SecretsClient.from_environment({"LATTICEWORK_SECRET_DATABASE_ARN": arn})

    with pytest.raises(SecretConfigError) as raised:
        secrets.get("database")

    assert raised.value.variable == "AWS_REGION"


@pytest.mark.parametrize("name", ["Database", "db_main", "", "9lives"])
def test_malformed_logical_names_are_refused(
    secretsmanager: SecretsManagerClient, name: str
) -> None:
    """Logical names follow the catalog's pattern: lower-case, digits and '-'."""
    secrets = client_for(secretsmanager, {})

    with pytest.raises(SecretConfigError, match="not a logical secret name"):
        secrets.get(name)


def test_a_malformed_version_id_names_the_parameter(secretsmanager: SecretsManagerClient) -> None:
    """A version id botocore refuses before sending says which parameter and why."""
    secrets = client_for(secretsmanager, {"database": "orders/database"})

    with pytest.raises(SecretLookupError) as raised:
        secrets.get("database", version_id="abc")

    assert "Invalid length for parameter VersionId" in str(raised.value)


def test_stage_and_version_id_together_are_refused(secretsmanager: SecretsManagerClient) -> None:
    """Asking for a stage and a version id at once is ambiguous and refused."""
    secrets = client_for(secretsmanager, {"database": "orders/database"})

    with pytest.raises(ValueError, match="not both"):
        secrets.get("database", stage=PENDING, version_id="abc")


async def test_aget_serves_async_code_with_one_call_for_concurrent_misses(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient, upstream: Upstream
) -> None:
    """Fifty tasks awaiting one cold key share one call; later awaits are served from cache."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    secrets = client_for(secretsmanager, {"database": arn})
    upstream.call_delay_seconds = 0.2

    values = await asyncio.gather(*(secrets.aget("database") for _ in range(50)))
    again = await secrets.aget("database")

    assert {value.reveal() for value in values} == {"v1"}
    assert again.reveal() == "v1"
    assert upstream.calls == 1


async def test_aget_raises_the_same_typed_errors(
    admin: SecretsManagerClient, secretsmanager: SecretsManagerClient
) -> None:
    """An awaited get of a missing stage raises SecretNotFoundError like the sync one."""
    arn = admin.create_secret(Name="orders/database", SecretString="v1")["ARN"]
    secrets = client_for(secretsmanager, {"database": arn})

    with pytest.raises(SecretNotFoundError):
        await secrets.aget("database", stage=PENDING)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("ttl_seconds", -1.0),
        ("ttl_seconds", float("nan")),
        ("max_stale_seconds", "300"),
        ("read_timeout_seconds", True),
        ("max_attempts", 0),
        ("max_entries", 2.5),
    ],
)
def test_settings_that_are_no_count_of_seconds_or_attempts_are_refused(
    setting: str, value: object
) -> None:
    """A NaN TTL (float("nan") parses from an environment variable) would silently never cache."""
    with pytest.raises(ValueError, match=f"SecretsConfig.{setting} must be") as raised:
        SecretsConfig(**{setting: value})  # type: ignore[arg-type]

    assert repr(value) in str(raised.value)
