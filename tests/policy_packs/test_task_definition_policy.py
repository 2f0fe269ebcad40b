"""Tests for ecs-task-no-plaintext-secrets, called directly with constructed arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from policy_packs.latticework_guardrails._props import MASKED_VALUE
from policy_packs.latticework_guardrails.task_definitions import (
    TASK_DEFINITION,
    ecs_task_no_plaintext_secrets,
)
from tests.policy_packs._harness import ACCOUNT, UNKNOWN_STRING, check_resource

FAKE_ACCESS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
FAKE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
FAKE_PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
)
FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0In0." + "c2lnbmF0dXJlLWJ5dGVz"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/latticework-dev-orders-task"
SECRET_ARN = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:latticework/dev/orders/db-AbCdEf"


def _task(*environment: tuple[str, Any], **container: Any) -> dict[str, Any]:
    definition = {
        "name": "orders",
        "image": "public.ecr.aws/latticework/orders:1.0.0",
        "environment": [{"name": name, "value": value} for name, value in environment],
        **container,
    }
    return {"containerDefinitions": json.dumps([definition]), "taskRoleArn": TASK_ROLE}


def _secret_values(props: dict[str, Any]) -> list[str]:
    """Every environment value, label value and argument of the containers (never in a message)."""
    try:
        containers = json.loads(props.get("containerDefinitions", "[]"))
    except json.JSONDecodeError:
        return []
    values: list[str] = []
    for container in containers if isinstance(containers, list) else []:
        if not isinstance(container, dict):
            continue
        values += [str(entry["value"]) for entry in container.get("environment", [])]
        values += [str(value) for value in container.get("dockerLabels", {}).values()]
        values += [str(value) for value in container.get("command", [])]
    return [value for value in values if len(value) >= 6]


def _check(props: dict[str, Any], **config: Any) -> list[str]:
    return check_resource(
        ecs_task_no_plaintext_secrets, TASK_DEFINITION, props, name="orders-task", config=config
    )


@pytest.mark.parametrize(
    "props",
    [
        _task(("LATTICEWORK_SECRET_DATABASE_ARN", SECRET_ARN), ("LOG_LEVEL", "info")),
        _task(("DB_PASSWORD_FILE", "/run/secrets/db"), ("API_KEY", "/latticework/dev/api-key")),
        _task(("DB_PASSWORD", "latticework/dev/orders/database"), ("PORT", 8080)),
        _task(("FEATURE_SECRET_SCAN", "true"), ("AUTH_TOKEN", "")),
        _task(
            ("LATTICEWORK_SERVICE_PAYMENTS_URL", "https://payments.example.com"),
            secrets=[{"name": "DB_PASSWORD", "valueFrom": SECRET_ARN}],
            command=["serve", "--port", "8080"],
        ),
        _task(("SESSION_TOKEN_TTL", "3600"), dockerLabels={"team": "orders"}),
        {"containerDefinitions": json.dumps([])},
        {"family": "no-containers-yet"},
    ],
)
def test_no_plaintext_secrets_compliant(props: dict[str, Any]) -> None:
    """References, numbers, booleans, public URLs, empty values and secrets blocks pass."""

    messages = _check(props)

    assert messages == []


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (_task(("DB_PASSWORD", "hunter2-Prod")), "environment DB_PASSWORD holds a plain value"),
        (_task(("MYSQLPASSWORD", "hunter2-Prod")), "environment MYSQLPASSWORD holds a plain"),
        (_task(("githubtoken", "hunter2-Prod")), "environment githubtoken holds a plain value"),
        (_task(("SOME_SETTING", FAKE_ACCESS_KEY)), "looks like an AWS access key id"),
        (_task(("TLS_KEY", FAKE_PEM)), "contains a PEM private key"),
        (
            _task(("DATABASE_URL", "postgres://orders:s3cret@db:5432/orders")),
            "embeds a user name and password",
        ),
        (
            _task(("DATABASE_DSN", "orders:s3cret-dsn@db:5432/orders")),
            "embeds a user name and password",
        ),
        (_task(("UPSTREAM_AUTH", f"Bearer {FAKE_JWT}")), "JSON Web Token"),
        (
            _task(
                (
                    "CACHE_SIGNATURE",
                    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                )
            ),
            "long hexadecimal key",
        ),
        (_task(command=["serve", "--token", FAKE_JWT]), "command[2] holds"),
        (_task(dockerLabels={"api_key": "abc-def-ghi"}), "dockerLabels api_key holds"),
        ({"containerDefinitions": "[{not json"}, "is not valid JSON (line 1, column 3)"),
        ({"containerDefinitions": json.dumps({"name": "x"})}, "must be a JSON list"),
        ({"containerDefinitions": json.dumps(["x"])}, "containerDefinitions[0] is not an object"),
    ],
)
def test_no_plaintext_secrets_violations(props: dict[str, Any], expected: str) -> None:
    """Secret-like names and values, and malformed JSON, are reported once each."""

    messages = _check(props)

    assert len(messages) == 1
    assert messages[0].startswith("task definition 'orders-task': ")
    assert expected in messages[0]
    for value in _secret_values(props):
        assert value not in messages[0]


@pytest.mark.parametrize(
    "value", ["hunter2-Prod", FAKE_ACCESS_KEY, FAKE_PEM, FAKE_JWT, "postgres://u:p4ss@db/x"]
)
def test_messages_never_repeat_the_value(value: str) -> None:
    """No violation message contains the secret value or a recognisable part of it."""

    messages = _check(_task(("DB_PASSWORD", value)))

    assert messages
    for message in messages:
        assert value not in message
        assert value[:8] not in message


def test_static_aws_keys_next_to_a_task_role_are_called_out_as_shadowing() -> None:
    """AWS keys in the environment of a task with a task role are reported as shadowing it."""
    props = _task(
        ("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
    )

    messages = _check(props)

    shadowing = [message for message in messages if "shadow the task role" in message]
    assert len(messages) == 4
    assert len(shadowing) == 2
    assert "AWS_ACCESS_KEY_ID" in shadowing[0]
    assert "AWS_SECRET_ACCESS_KEY" in shadowing[1]


def test_static_aws_keys_without_a_task_role_are_secrets_but_not_shadowing() -> None:
    """Without a task role the keys are plaintext secrets and nothing is shadowed."""
    props = _task(("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY))
    del props["taskRoleArn"]

    messages = _check(props)

    assert len(messages) == 1
    assert "shadow" not in messages[0]


def test_extra_secret_name_patterns_come_from_the_pack_config() -> None:
    """A name matched by a configured pattern is treated as secret-like."""
    props = _task(("LICENSE_BLOB", "abc-def-ghi"))

    without = _check(props)
    with_pattern = _check(props, secretNamePatterns=["^license_"])

    assert without == []
    assert len(with_pattern) == 1
    assert "LICENSE_BLOB" in with_pattern[0]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (UNKNOWN_STRING, "is not known during preview"),
        (MASKED_VALUE, "is a secret in the offline plan"),
    ],
)
def test_unknown_container_definitions_are_checked_at_update(value: str, why: str) -> None:
    """An unknown or masked containerDefinitions is reported as checked at update, not passed."""

    with pytest.raises(UnknownValueError) as raised:
        _check({"containerDefinitions": value})

    assert raised.value.message == (
        f"task definition 'orders-task': containerDefinitions {why}; it is checked at update"
    )


def test_other_resource_types_are_ignored() -> None:
    """The policy only reads task definitions."""

    messages = check_resource(
        ecs_task_no_plaintext_secrets, "aws:ecs/service:Service", {"containerDefinitions": "x"}
    )

    assert messages == []


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        (
            {"logConfiguration": {"logDriver": "awsfirelens", "options": {"apikey": "abc-def-9"}}},
            "logConfiguration.options apikey holds a plain value under a name",
        ),
        (
            {"logConfiguration": {"logDriver": "splunk", "options": {"url": FAKE_JWT}}},
            "logConfiguration.options url holds a value that looks like a JSON Web Token",
        ),
        (
            {"firelensConfiguration": {"type": "fluentbit", "options": {"token": "abc-def-9"}}},
            "firelensConfiguration.options token holds a plain value",
        ),
        (
            {"healthCheck": {"command": ["CMD-SHELL", "curl https://u:p4ss@localhost/health"]}},
            "healthCheck.command[1] holds a URL that embeds a user name and password",
        ),
        (
            {"linuxParameters": {"tmpfs": [{"containerPath": FAKE_ACCESS_KEY}]}},
            "linuxParameters.tmpfs[0].containerPath holds a value that looks like an AWS access",
        ),
    ],
)
def test_secrets_in_other_container_fields_are_found(
    container: dict[str, Any], expected: str
) -> None:
    """Log driver options, health checks and any other string of a container are checked too."""

    messages = _check(_task(**container))

    assert len(messages) == 1
    assert expected in messages[0]


def _raw_container(**fields: Any) -> dict[str, Any]:
    return {"containerDefinitions": json.dumps([{"name": "orders", **fields}])}


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (
            _raw_container(environment={"DB_PASSWORD": "hunter2-Prod"}),
            'container \'orders\' environment must be a list of {"name", "value"} objects, '
            "found a dict",
        ),
        (
            _raw_container(environment=["DB_PASSWORD=hunter2-Prod"]),
            'container \'orders\' environment[0] must be a {"name", "value"} object, found a str',
        ),
        (
            _raw_container(environment=[{"name": "DB_PASSWORD", "value": {"v": "hunter2-Prod"}}]),
            "container 'orders' environment DB_PASSWORD value must be a string, found a dict",
        ),
        (
            _raw_container(dockerLabels=[["api_key", "hunter2-Prod"]]),
            "container 'orders' dockerLabels must be an object of names to values, found a list",
        ),
        (
            _raw_container(dockerLabels={"api_key": ["hunter2-Prod"]}),
            "container 'orders' dockerLabels api_key value must be a string, found a list",
        ),
    ],
)
def test_malformed_container_fields_are_reported_not_skipped(
    props: dict[str, Any], expected: str
) -> None:
    """An environment or label block the policy cannot read is a violation, never a pass."""

    messages = _check(props)

    assert len(messages) == 1
    assert expected in messages[0]
    assert "hunter2" not in messages[0]


@pytest.mark.parametrize(
    "container",
    [
        {"environment": [{"name": FAKE_ACCESS_KEY, "value": FAKE_SECRET_KEY}]},
        {"dockerLabels": {FAKE_JWT: "true"}},
        {"logConfiguration": {"logDriver": "awsfirelens", "options": {FAKE_ACCESS_KEY: "1"}}},
    ],
)
def test_a_credential_used_as_a_name_is_found_and_not_repeated(container: dict[str, Any]) -> None:
    """A key pasted as a variable or label name is a finding whose message omits that name."""

    messages = _check(_raw_container(**container))

    assert len(messages) == 1
    assert "has a name that looks like" in messages[0]
    assert FAKE_ACCESS_KEY[:8] not in messages[0]
    assert FAKE_JWT[:8] not in messages[0]


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({"command": ["serve", "--db-password=hunter2-Prod"]}, "command passes --db-password"),
        ({"command": ["serve", "--api-key", "hunter2-Prod"]}, "command passes --api-key"),
        (
            {"entryPoint": ["sh", "-c", "DB_PASSWORD=hunter2-Prod exec ./serve"]},
            "entryPoint passes DB_PASSWORD",
        ),
        (
            {"healthCheck": {"command": ["CMD-SHELL", "curl -H token=hunter2-Prod localhost"]}},
            "healthCheck.command passes token",
        ),
    ],
)
def test_secret_arguments_in_commands_are_found(container: dict[str, Any], expected: str) -> None:
    """A secret-like flag or NAME=value with a real value in a command line is a finding."""

    messages = _check(_task(**container))

    assert len(messages) == 1
    assert expected in messages[0]
    assert "hunter2" not in messages[0]


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "8080", "--log-level=info"],
        ["serve", "--db-password-file", "/run/secrets/db"],
        ["serve", "--token-ttl=3600", "--api-key", "/latticework/dev/api-key"],
        ["sh", "-c", "DB_PASSWORD=${DB_PASSWORD} exec ./serve --secret-arn arn:aws:x:y:1:z"],
        ["serve", "--password"],
    ],
)
def test_plain_arguments_in_commands_pass(command: list[str]) -> None:
    """Settings, file paths, references and placeholders in a command line are no finding."""

    messages = _check(_task(command=command))

    assert messages == []
