"""Secrets Manager emulated in-process by moto, with call counting and injected AWS errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from pep_runtime.secrets import SecretsConfig, secretsmanager_client

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

REGION = "eu-west-1"

# A failure code for `Upstream` that refuses the connection instead of answering.
CONNECTION_REFUSED = "connection-refused"
# A failure code for `Upstream` that answers 200 with a version that has no value yet.
NO_VALUE = "no-value"


class _RawBody(BytesIO):
    """The raw body botocore reads an AWSResponse from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


@dataclass
class Upstream:
    """What reached the emulated Secrets Manager: API calls, HTTP attempts, injected errors.

    `calls` counts GetSecretValue API calls (botocore's `before-call` event, once per call);
    `attempts` counts HTTP attempts (`before-send`, once per retry too). Errors queued in
    `failures` are answered, in order, before moto sees the attempt, exactly as Secrets
    Manager would answer them on the wire (or, for `CONNECTION_REFUSED`, refused as a dead
    endpoint would); `fail_always` answers every attempt.
    """

    calls: int = 0
    attempts: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    fail_always: tuple[int, str] | None = None
    call_delay_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_call(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1
        if self.call_delay_seconds:
            threading.Event().wait(self.call_delay_seconds)

    def on_send(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.attempts += 1
            failure = self.failures.pop(0) if self.failures else self.fail_always
        if failure is None:
            return None

        status, code = failure
        if code == CONNECTION_REFUSED:
            raise EndpointConnectionError(endpoint_url=request.url)
        if code == NO_VALUE:
            version = {"Name": "injected", "VersionId": "v-empty", "VersionStages": ["AWSPENDING"]}
            body = json.dumps(version).encode()
        else:
            body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
        # botocore reads any mapping here; its stubs ask for HTTPHeaders.
        return AWSResponse(request.url, status, cast(Any, headers), _RawBody(body))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and an in-process Secrets Manager."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-key")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def admin(aws: None) -> SecretsManagerClient:
    """A Secrets Manager client for arranging secrets (not the one under test)."""
    return boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def upstream() -> Upstream:
    """The counters and injected failures of the client under test."""
    return Upstream()


def make_secretsmanager(upstream: Upstream, *, max_attempts: int = 3) -> SecretsManagerClient:
    """The client `SecretsClient` builds for itself, instrumented by `upstream`."""
    client = secretsmanager_client(REGION, SecretsConfig(max_attempts=max_attempts))
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", upstream.on_call)
    # A before-send handler that returns a response answers the attempt (botocore's stubs
    # type handlers as returning None).
    client.meta.events.register_first(
        "before-send.secrets-manager.GetSecretValue", cast(Any, upstream.on_send)
    )
    return client


@pytest.fixture
def secretsmanager(aws: None, upstream: Upstream) -> SecretsManagerClient:
    """The instrumented client, three attempts per call as in production."""
    return make_secretsmanager(upstream)
