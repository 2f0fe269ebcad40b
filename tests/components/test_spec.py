"""The stack spec: the samples load, and every kind of bad input is one clear SpecError."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from components.errors import SpecError
from components.spec import FARGATE_TASK_SIZES, ServiceSpec, load_catalog, load_spec
from latticework.offline import plan_environment
from pep_runtime.enforcement import EnforcementConfigError
from pep_runtime.enforcement.config import config_from_document
from tests.components._samples import (
    ALIAS_BOMB,
    PROJECT_DIR,
    STACKS_DIR,
    Document,
    Mutation,
    sample_catalog,
    sample_stack,
    service,
    settings,
    write_yaml,
)


@dataclass(frozen=True)
class BadInput:
    """One broken file: how to break the sample, and what the error must say."""

    id: str
    mutate: Mutation
    key_path: str
    expected: str
    found: str = ""


def _set(path: list[str | int], value: object) -> Mutation:
    def mutate(document: Document) -> None:
        node: object = document
        for part in path[:-1]:
            node = node[part]  # type: ignore[index]
        node[path[-1]] = value  # type: ignore[index]

    return mutate


def _on_service(name: str, key: str, value: object) -> Mutation:
    def mutate(document: Document) -> None:
        service(document, name)[key] = value

    return mutate


def _drop_service_key(name: str, key: str) -> Mutation:
    def mutate(document: Document) -> None:
        del service(document, name)[key]

    return mutate


def _env_value(name: str, variable: str, value: object) -> Mutation:
    def mutate(document: Document) -> None:
        service(document, name).setdefault("environment", {})[variable] = value

    return mutate


def _duplicate_orders(document: Document) -> None:
    document["services"].append(dict(service(document, "orders")))


def _call_cycle(document: Document) -> None:
    service(document, "orders")["callers"]["services"] = ["payments"]


def _on_route(name: str, index: int, key: str, value: object) -> Mutation:
    def mutate(document: Document) -> None:
        service(document, name)["routes"][index][key] = value

    return mutate


def _drop_route_key(name: str, index: int, key: str) -> Mutation:
    def mutate(document: Document) -> None:
        del service(document, name)["routes"][index][key]

    return mutate


def _repeat_route(document: Document) -> None:
    routes = service(document, "inventory")["routes"]
    routes.append(dict(routes[1]))


def _same_route_shape(document: Document) -> None:
    routes = service(document, "inventory")["routes"]
    routes.append({**routes[1], "path": "/items/{itemId}", "resource": {"type": "Item", "id": "x"}})


def _add_route(name: str, route: Document) -> Mutation:
    def mutate(document: Document) -> None:
        service(document, name)["routes"].append(route)

    return mutate


def _set_environment(name: str, environment: dict[str, str]) -> Mutation:
    def mutate(document: Document) -> None:
        service(document, name)["environment"] = environment

    return mutate


def _large_environment(document: Document) -> None:
    service(document, "orders")["environment"] = {f"BANNER_{n}": "x" * 8000 for n in range(5)}


def _repeat_secret(document: Document) -> None:
    secrets = service(document, "payments")["secrets"]
    secrets.append({"name": "database"})


BAD_CATALOGS = [
    BadInput(
        "unknown-service-key",
        _on_service("orders", "replicaz", 2),
        "services[orders].replicaz",
        "one of the keys name, image, port",
        "unknown key 'replicaz'",
    ),
    BadInput("unknown-top-key", _set(["version"], 2), "version", "one of the keys services"),
    BadInput(
        "unknown-callers-key",
        _set(["services", 1, "callers", "roles"], []),
        "services[payments].callers.roles",
        "one of the keys services, iamPrincipals",
    ),
    BadInput(
        "missing-image",
        _drop_service_key("orders", "image"),
        "services[orders].image",
        "this required key",
        "nothing",
    ),
    BadInput(
        "missing-services", lambda document: document.clear(), "services", "this required key"
    ),
    BadInput("empty-services", _set(["services"], []), "services", "at least 1 entries"),
    BadInput(
        "port-as-string",
        _on_service("orders", "port", "8080"),
        "services[orders].port",
        "an integer",
        "the string '8080'",
    ),
    BadInput(
        "desired-count-as-bool",
        _on_service("orders", "desiredCount", True),
        "services[orders].desiredCount",
        "an integer",
        "the boolean true",
    ),
    BadInput(
        "secrets-as-mapping",
        _on_service("payments", "secrets", {"database": 30}),
        "services[payments].secrets",
        "a list",
        "a mapping",
    ),
    BadInput(
        "environment-value-number",
        _env_value("orders", "MAX_ITEMS", 50),
        "services[orders].environment.MAX_ITEMS",
        "a string",
        "the number 50",
    ),
    BadInput(
        "duplicate-service",
        _duplicate_orders,
        "services[orders].name",
        "each service name once",
        "'orders' again",
    ),
    BadInput(
        "unknown-caller",
        _set(["services", 2, "callers", "services"], ["orders", "billing"]),
        "services[inventory].callers.services[1]",
        "a service of the catalog: orders, payments, inventory",
        "unknown service 'billing'",
    ),
    BadInput(
        "own-caller",
        _set(["services", 2, "callers", "services"], ["inventory"]),
        "services[inventory].callers.services[0]",
        "another service of the catalog",
        "the service itself",
    ),
    BadInput(
        "repeated-caller",
        _set(["services", 2, "callers", "services"], ["orders", "orders"]),
        "services[inventory].callers.services[1]",
        "each caller once",
    ),
    BadInput(
        "call-cycle",
        _call_cycle,
        "services[orders].callers",
        "calls without a cycle",
        "orders -> payments -> orders",
    ),
    BadInput(
        "iam-principal-not-an-arn",
        _set(["services", 0, "callers", "iamPrincipals"], ["storefront"]),
        "services[orders].callers.iamPrincipals[0]",
        "an IAM role ARN",
    ),
    BadInput("port-zero", _on_service("orders", "port", 0), "services[orders].port", "1 to 65535"),
    BadInput(
        "port-too-high",
        _on_service("orders", "port", 70000),
        "services[orders].port",
        "an integer from 1 to 65535",
        "the number 70000",
    ),
    BadInput(
        "cpu-not-fargate",
        _on_service("orders", "cpu", 300),
        "services[orders].cpu",
        "cpu in Fargate CPU units",
        "cpu 300",
    ),
    BadInput(
        "memory-too-big-for-cpu",
        _on_service("inventory", "memory", 4096),
        "services[inventory].memory",
        "memory valid for cpu 256: 512, 1024, 2048 MiB",
        "memory 4096",
    ),
    BadInput(
        "memory-off-step-for-8-vcpu",
        lambda document: service(document, "orders").update(cpu=8192, memory=18432),
        "services[orders].memory",
        "16384 to 61440 in steps of 4096",
    ),
    BadInput(
        "negative-desired-count",
        _on_service("orders", "desiredCount", -1),
        "services[orders].desiredCount",
        "an integer from 0 to 1000",
    ),
    BadInput(
        "service-name-uppercase",
        _on_service("orders", "name", "Orders"),
        "services[Orders].name",
        "a lowercase name",
    ),
    BadInput(
        "service-name-trailing-hyphen",
        _on_service("inventory", "name", "inventory-"),
        "services[inventory-].name",
        "a lowercase name",
    ),
    BadInput(
        "service-name-double-hyphen",
        _on_service("inventory", "name", "stock--levels"),
        "services[stock--levels].name",
        "no '--'",
    ),
    BadInput(
        "image-without-tag",
        _on_service("orders", "image", "public.ecr.aws/latticework/orders"),
        "services[orders].image",
        "a container image reference with a tag or digest",
        "the string 'public.ecr.aws/latticework/orders'",
    ),
    BadInput(
        "image-with-credentials",
        _on_service("orders", "image", "deploy:hunter2@registry.example.com/orders:1.0"),
        "services[orders].image",
        "a container image reference with a tag or digest",
    ),
    BadInput(
        "health-path-relative",
        _on_service("orders", "healthCheckPath", "health"),
        "services[orders].healthCheckPath",
        "a path starting with '/'",
    ),
    BadInput(
        "rotation-days-zero",
        _set(["services", 1, "secrets", 0, "rotationDays"], 0),
        "services[payments].secrets[database].rotationDays",
        "an integer from 1 to 1000",
    ),
    BadInput(
        "secret-name-invalid",
        _set(["services", 1, "secrets", 0, "name"], "DB_PASSWORD"),
        "services[payments].secrets[DB_PASSWORD].name",
        "a lowercase name",
    ),
    BadInput(
        "duplicate-secret",
        _repeat_secret,
        "services[payments].secrets[2]",
        "each secret name once",
    ),
    BadInput(
        "route-without-action",
        _drop_route_key("orders", 1, "action"),
        "services[orders].routes[1]",
        "an action and a resource (or public: true)",
    ),
    BadInput(
        "public-route-with-action",
        _on_route("orders", 0, "action", "Health"),
        "services[orders].routes[0]",
        "a public route without action and resource",
    ),
    BadInput(
        "route-placeholder-not-in-path",
        _on_route("orders", 2, "resource", {"type": "Order", "id": "{id}"}),
        "services[orders].routes[2].resource.id",
        "placeholders taken from the path /orders/{orderId}",
        "{id}",
    ),
    BadInput(
        "route-method-unknown",
        _on_route("orders", 2, "method", "get"),
        "services[orders].routes[2].method",
        "one of 'GET'",
        "the string 'get'",
    ),
    BadInput(
        "route-method-head",
        _on_route("orders", 2, "method", "HEAD"),
        "services[orders].routes[2].method",
        "one of 'GET'",
        "the string 'HEAD'",
    ),
    BadInput(
        "duplicate-route", _repeat_route, "services[inventory].routes[3]", "each method and path"
    ),
    BadInput(
        "same-route-shape",
        _same_route_shape,
        "services[inventory].routes[3]",
        "each method and path shape",
        "'GET /items/{}' again",
    ),
    BadInput(
        "route-placeholder-twice",
        _on_route("orders", 2, "path", "/orders/{orderId}/lines/{orderId}"),
        "services[orders].routes[2].path",
        "each {placeholder} at most once",
    ),
    BadInput(
        "reserved-environment-name",
        _env_value("orders", "LATTICEWORK_PEP_MODE", "local"),
        "services[orders].environment.LATTICEWORK_PEP_MODE",
        "a name outside LATTICEWORK_*, AWS_* and ECS_*",
    ),
    BadInput(
        "sdk-endpoint-override",
        _env_value("orders", "AWS_ENDPOINT_URL_VERIFIEDPERMISSIONS", "https://pdp.example.com"),
        "services[orders].environment.AWS_ENDPOINT_URL_VERIFIEDPERMISSIONS",
        "a name outside LATTICEWORK_*, AWS_* and ECS_*",
    ),
    BadInput(
        "ecs-agent-variable",
        _env_value("orders", "ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/x"),
        "services[orders].environment.ECS_CONTAINER_METADATA_URI_V4",
        "a name outside LATTICEWORK_*, AWS_* and ECS_*",
    ),
    BadInput(
        "lowercase-environment-name",
        _env_value("orders", "log_level", "debug"),
        "services[orders].environment.log_level",
        "an upper-case variable name",
    ),
    BadInput(
        "health-path-query-and-space",
        _on_service("orders", "healthCheckPath", "/healthz?x=1 y\tz"),
        "services[orders].healthCheckPath",
        "a path starting with '/'",
        "a path holding a space and a tab",
    ),
    BadInput(
        "health-path-credential",
        _on_service("orders", "healthCheckPath", "/ghp_" + "Z7qW3rT5yU8iOp2LkJ9hG4fD1sA6xC0vB3nM"),
        "services[orders].healthCheckPath",
        "without credentials",
        "vendor API token",
    ),
    BadInput(
        "route-path-unclosed-brace",
        _on_route("payments", 2, "path", "/payments/{paymentId"),
        "services[payments].routes[2].path",
        "segments that are a {placeholder} or plain text",
        "the segment '{paymentId'",
    ),
    BadInput(
        "route-path-text-after-placeholder",
        _on_route("payments", 2, "path", "/payments/{paymentId}x"),
        "services[payments].routes[2].path",
        "segments that are a {placeholder} or plain text",
        "the segment '{paymentId}x'",
    ),
    BadInput(
        "route-path-dot-dot",
        _on_route("payments", 1, "path", "/payments/../admin"),
        "services[payments].routes[1].path",
        "segments that are a {placeholder} or plain text",
        "the segment '..'",
    ),
    BadInput(
        "route-path-empty-segment",
        _on_route("payments", 1, "path", "/payments//admin"),
        "services[payments].routes[1].path",
        "segments that are a {placeholder} or plain text",
        "an empty segment",
    ),
    BadInput(
        "route-path-two-slashes",
        _on_route("payments", 1, "path", "//"),
        "services[payments].routes[1].path",
        "segments that are a {placeholder} or plain text",
        "an empty segment",
    ),
    BadInput(
        "route-path-not-absolute",
        _on_route("payments", 1, "path", "payments"),
        "services[payments].routes[1].path",
        "a path template starting with '/'",
    ),
    BadInput(
        "route-id-stray-brace",
        _on_route("orders", 2, "resource", {"type": "Order", "id": "{orderId"}),
        "services[orders].routes[2].resource.id",
        "literal text and {placeholder}s of the path",
        "'{' is not a {name} placeholder",
    ),
    BadInput(
        "route-id-placeholders-without-slash",
        _add_route(
            "orders",
            {
                "method": "GET",
                "path": "/orders/{orderId}/lines/{lineId}",
                "action": "GetOrder",
                "resource": {"type": "Order", "id": "{orderId}-{lineId}"},
            },
        ),
        "services[orders].routes[4].resource.id",
        "a '/' between any two",
        "{orderId} and {lineId} apart by '-'",
    ),
    BadInput(
        "route-paths-overlap-ambiguously",
        _add_route(
            "orders",
            {
                "method": "GET",
                "path": "/{section}/latest",
                "action": "GetOrder",
                "resource": {"type": "Order", "id": "{section}"},
            },
        ),
        "services[orders].routes[4].path",
        "one most specific route for every request",
        "both match GET /orders/latest",
    ),
    BadInput(
        "environment-value-nul",
        _env_value("orders", "GREETING", "hello\x00world"),
        "services[orders].environment.GREETING",
        "a value without NUL characters",
        "a string of 11 characters with a NUL character",
    ),
    BadInput(
        "environment-value-too-long",
        _env_value("orders", "BANNER", "x" * 100_000),
        "services[orders].environment.BANNER",
        "a value of at most 8,192 bytes",
        "100,000 bytes",
    ),
    BadInput(
        "environment-value-emoji-too-long",
        _env_value("orders", "BANNER", "\N{GRINNING FACE}" * 8000),
        "services[orders].environment.BANNER",
        "a value of at most 8,192 bytes",
        "a string of 8000 characters, 96,000 bytes",
    ),
    BadInput(
        "environment-value-escapes-too-long",
        _env_value("orders", "BANNER", '"\\' * 2049),
        "services[orders].environment.BANNER",
        "a value of at most 8,192 bytes",
        "8,196 bytes",
    ),
    BadInput(
        "environment-too-large-in-total",
        _large_environment,
        "services[orders].environment",
        "at most 32,768 bytes of names and values in all",
        "40,040 bytes",
    ),
    BadInput(
        "environment-emoji-too-large-in-total",
        _set_environment("orders", {f"BANNER_{n}": "\N{GRINNING FACE}" * 600 for n in range(5)}),
        "services[orders].environment",
        "at most 32,768 bytes of names and values in all",
        "36,040 bytes",
    ),
]

SECRET_VALUES = [
    ("aws-access-key", "UPSTREAM_KEY_ID", "AKIAZ7QW3RT5YU8IOP2L", "AWS access key id"),
    ("password-under-secret-name", "DB_PASSWORD", "correct-horse-battery-9", "holds a secret"),
    ("url-with-password", "DATABASE_URL", "postgres://app:s3cr3t-pw@db:5432/x", "password"),
    ("fused-password-name", "MYSQLPASSWORD", "hunter2-fused-9", "holds a secret"),
    ("dsn-without-scheme", "DATABASE_DSN", "admin:hunter2xyz@db:5432/app", "password"),
    ("fused-secret-name", "APPSECRET", "hunter2-fused-9", "holds a secret"),
    ("quoted-number-under-secret-name", "API_TOKEN", "987654321987", "a number of 12 digits"),
    (
        "jwt",
        "SERVICE_HEADER",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcmRlcnMifQ.c2lnbmF0dXJlLXZhbHVl",
        "JSON Web Token",
    ),
]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_sample_stacks_load(env: str) -> None:
    """Each sample stack loads with the three sample services."""
    spec = load_spec(env, stacks_dir=STACKS_DIR)

    assert spec.env == env
    assert spec.catalog.names == ("orders", "payments", "inventory")
    assert spec.stack_file == STACKS_DIR / f"Pulumi.{env}.yaml"


def test_environments_differ_as_configured() -> None:
    """prod runs more replicas with deletion protection and approval; dev runs one of each."""
    dev = load_spec("dev", stacks_dir=STACKS_DIR)
    prod = load_spec("prod", stacks_dir=STACKS_DIR)

    dev_counts = [dev.desired_count(service) for service in dev.catalog.services]
    prod_counts = [prod.desired_count(service) for service in prod.catalog.services]
    assert dev_counts == [1, 1, 1]
    assert all(p > d for p, d in zip(prod_counts, dev_counts, strict=True))
    assert (dev.protected, prod.protected) == (False, True)
    assert prod.settings.rollout.require_approval
    assert not dev.settings.rollout.require_approval


def test_catalog_desired_count_applies_without_override() -> None:
    """staging sets no replica overrides, so the catalog's desired counts apply."""
    spec = load_spec("staging", stacks_dir=STACKS_DIR)

    counts = {service.name: spec.desired_count(service) for service in spec.catalog.services}

    assert counts == {"orders": 2, "payments": 2, "inventory": 1}


def test_peers_are_ordered_before_their_callers() -> None:
    """orders calls payments and inventory, so both come before it."""
    spec = load_spec("dev", stacks_dir=STACKS_DIR)

    order = [service.name for service in spec.catalog.callees_first()]

    assert order.index("orders") > order.index("payments")
    assert order.index("orders") > order.index("inventory")
    assert spec.catalog.callees_of("orders") == ("payments", "inventory")


@pytest.mark.parametrize("bad", BAD_CATALOGS, ids=lambda bad: bad.id)
def test_bad_catalog_is_one_clear_error(bad: BadInput, tmp_path: Path) -> None:
    """A broken catalog names the file, the key path, what was expected and what was found."""
    document = sample_catalog()
    bad.mutate(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    error = raised.value
    assert error.file == str(path)
    assert error.key_path == bad.key_path
    assert bad.expected in error.expected
    assert bad.found in error.found
    assert error.fix
    assert str(error).startswith(f"{path}: {bad.key_path}: expected ")


@pytest.mark.parametrize(
    ("variable", "value", "description"),
    [case[1:] for case in SECRET_VALUES],
    ids=[case[0] for case in SECRET_VALUES],
)
def test_secret_looking_environment_value_is_rejected_without_echo(
    variable: str, value: str, description: str, tmp_path: Path
) -> None:
    """A plain environment value that looks secret is refused, and the message never repeats it."""
    document = sample_catalog()
    _env_value("payments", variable, value)(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    error = raised.value
    assert error.key_path == f"services[payments].environment.{variable}"
    assert description in error.found
    assert "secrets" in error.fix
    assert value not in str(error)
    assert value not in repr(error.args)


def test_wrong_type_never_echoes_a_secret_looking_value(tmp_path: Path) -> None:
    """Even a type error describes a secret-looking value instead of quoting it."""
    document = sample_catalog()
    _on_service("orders", "image", "AKIAZ7QW3RT5YU8IOP2L")(document)
    _on_service("orders", "port", "AKIAZ7QW3RT5YU8IOP2L")(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert "AKIA" not in str(raised.value)
    assert "a string of 20 characters" in raised.value.found


def test_secret_looking_image_tag_is_rejected_without_echo(tmp_path: Path) -> None:
    """An image reference carrying a token is refused like an environment value, unrepeated."""
    token = "ghp_" + "Z7qW3rT5yU8iOp2LkJ9hG4fD1sA6xC0vB3nM"
    document = sample_catalog()
    _on_service("orders", "image", f"ghcr.io/latticework/orders:{token}")(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert raised.value.key_path == "services[orders].image"
    assert "token" in raised.value.found
    assert token not in str(raised.value)


@pytest.mark.parametrize(
    "health_check_path",
    ["/health?full=1", "/health:ready", "/@x", "/health%20check", "/status#top", "/a+b~c=d&e"],
)
def test_health_check_paths_lattice_accepts_are_accepted(
    health_check_path: str, tmp_path: Path
) -> None:
    """A query string, ':', '@', '%' escapes and the other characters VPC Lattice takes pass."""
    document = sample_catalog()
    _on_service("orders", "healthCheckPath", health_check_path)(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    catalog = load_catalog(path)

    assert catalog.service("orders").health_check_path == health_check_path


@pytest.mark.parametrize(
    "image",
    [
        "nginx:1.27",
        "localhost:5000/orders:1.0.0",
        "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/orders:1.2.3",
        "public.ecr.aws/latticework/orders@sha256:" + "a" * 64,
        "ghcr.io/latticework/orders:1.0.0@sha256:" + "0" * 64,
    ],
)
def test_image_references_with_tag_or_digest_are_accepted(image: str, tmp_path: Path) -> None:
    """Registry hosts with ports, ECR repositories, tags and digests all pass."""
    document = sample_catalog()
    _on_service("orders", "image", image)(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    catalog = load_catalog(path)

    assert catalog.service("orders").image == image


def test_plain_references_in_environment_are_accepted(tmp_path: Path) -> None:
    """URLs without passwords, secret names and ARNs are plain values, not secrets."""
    document = sample_catalog()
    _env_value("orders", "UPSTREAM_URL", "https://api.example.com/v1")(document)
    _env_value("orders", "TOKEN_TTL", "300")(document)
    _env_value("orders", "AUDIT_TOPIC_ARN", "arn:aws:sns:eu-west-1:111122223333:audit")(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    catalog = load_catalog(path)

    assert catalog.service("orders").environment["TOKEN_TTL"] == "300"


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(256, 512), (512, 4096), (4096, 30720), (8192, 16384), (8192, 61440), (16384, 122880)],
)
def test_valid_fargate_sizes_are_accepted(cpu: int, memory: int, tmp_path: Path) -> None:
    """Fargate's real task sizes, including 8 and 16 vCPU, pass."""
    document = sample_catalog()
    service(document, "orders").update(cpu=cpu, memory=memory)
    path = write_yaml(tmp_path / "services.yaml", document)

    catalog = load_catalog(path)

    assert catalog.service("orders").memory == memory


# Fargate's task sizes as the ECS developer guide states them: CPU units -> memory (MiB),
# written out independently of the loader's table so that a wrong step there fails here.
AWS_FARGATE_SIZES = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


def test_fargate_table_matches_aws_limits() -> None:
    """The loader's table is AWS's: seven CPU sizes, each with its exact memory steps."""
    table = {cpu: tuple(memories) for cpu, memories in FARGATE_TASK_SIZES.items()}

    assert table == AWS_FARGATE_SIZES


def test_duplicate_yaml_key_is_rejected(tmp_path: Path) -> None:
    """A key repeated in one mapping is an error naming both lines, not a silent override."""
    path = tmp_path / "services.yaml"
    path.write_text(
        "services:\n"
        "  - name: orders\n"
        "    image: public.ecr.aws/x/orders:1\n"
        "    port: 8080\n"
        "    port: 9090\n"
    )

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert raised.value.key_path == "line 5"
    assert "'port' again (first on line 4)" in raised.value.found


@pytest.mark.parametrize("key", ["? [a, b]", "? {a: b}"], ids=["sequence-key", "mapping-key"])
def test_complex_yaml_key_is_a_spec_error(key: str, tmp_path: Path) -> None:
    """A list or mapping used as a key is a SpecError naming its line, not a TypeError."""
    path = tmp_path / "services.yaml"
    path.write_text(f"services:\n  - name: orders\n    environment:\n      {key}\n      : x\n")

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert raised.value.key_path == "line 4"
    assert "a plain key" in raised.value.expected


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """Broken YAML syntax is a SpecError with the line and column."""
    path = tmp_path / "services.yaml"
    path.write_text("services:\n  - name: [orders\n")

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert raised.value.key_path.startswith("line ")
    assert raised.value.expected == "valid YAML"


def test_a_yaml_error_reads_as_one_sentence(tmp_path: Path) -> None:
    """PyYAML's own 'found ...' text is not preceded by a second 'found'."""
    path = tmp_path / "services.yaml"
    path.write_text("services:\n\t- name: orders\n")

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert "cannot start any token" in str(raised.value)
    assert "found found" not in str(raised.value)


def test_a_file_whose_aliases_expand_without_bound_is_refused(tmp_path: Path) -> None:
    """A kilobyte of nested aliases stands for a million values (a billion, a few lines on),
    which every later walk would visit: such a file is refused once it expands past 200,000."""
    path = tmp_path / "services.yaml"
    path.write_text(ALIAS_BOMB)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert raised.value.key_path == "(file)"
    assert raised.value.expected == "at most 200,000 values once its aliases are expanded"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("services: [a, b\nx: 1\n", "found a syntax error: did not find expected ',' or ']'."),
        ("a: b: c\n", "found a syntax error: mapping values are not allowed in this context."),
        ("services:\n\t- x\n", "found character that cannot start any token."),
    ],
)
def test_every_yaml_error_reads_as_a_sentence(tmp_path: Path, text: str, found: str) -> None:
    """Whatever PyYAML says, it follows 'found' as a sentence would."""
    path = tmp_path / "services.yaml"
    path.write_text(text)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert found in str(raised.value)


def test_values_nested_too_deeply_to_read_are_a_spec_error(tmp_path: Path) -> None:
    """Lists nested 600 deep overflow the YAML reader's recursion: an error naming the file,
    not a traceback."""
    path = tmp_path / "services.yaml"
    path.write_text("services: " + "[" * 600 + "]" * 600 + "\n")

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert (raised.value.key_path, raised.value.found) == (
        "(file)",
        "values nested too deeply to read",
    )


def test_an_oversized_catalog_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    """A file far beyond any real catalog (or a device such as /dev/zero) is refused after
    its first 8 MiB, instead of being read into memory without end."""
    path = tmp_path / "services.yaml"
    path.write_bytes(b"# padding\n" * (900 * 1024))

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert (raised.value.key_path, raised.value.expected) == ("(file)", "a file of at most 8 MiB")


def test_missing_catalog_file_is_a_spec_error(tmp_path: Path) -> None:
    """A catalog path that does not exist is reported as such."""
    with pytest.raises(SpecError) as raised:
        load_catalog(tmp_path / "nope.yaml")

    assert raised.value.found == "no such file"


# --- stack files -------------------------------------------------------------------------


def _settings_set(key: str, value: object) -> Mutation:
    def mutate(document: Document) -> None:
        settings(document)[key] = value

    return mutate


def _config_set(key: str, value: object) -> Mutation:
    def mutate(document: Document) -> None:
        document["config"][key] = value

    return mutate


def _config_drop(key: str) -> Mutation:
    def mutate(document: Document) -> None:
        del document["config"][key]

    return mutate


_SETTINGS = "config.latticework:settings"

BAD_STACKS = [
    BadInput("unknown-file-key", _set(["stack"], "dev"), "stack", "one of the stack file keys"),
    BadInput(
        "unknown-latticework-config-key",
        _config_set("latticework:setting", {}),
        "config.latticework:setting",
        "aws:* or pulumi:* keys, or one of latticework:settings",
    ),
    BadInput(
        "config-without-namespace",
        _config_set("settings", {}),
        "config.settings",
        "aws:* or pulumi:* keys",
        "unknown key 'settings'",
    ),
    BadInput(
        "missing-region",
        _config_drop("aws:region"),
        "config.aws:region",
        "an AWS region",
        "nothing",
    ),
    BadInput(
        "bad-region",
        _config_set("aws:region", "Ireland"),
        "config.aws:region",
        "an AWS region",
        "the string 'Ireland'",
    ),
    BadInput(
        "unknown-region",
        _config_set("aws:region", "eu-west-9"),
        "config.aws:region",
        "a region of the aws, aws-cn or aws-us-gov partition",
        "the string 'eu-west-9'",
    ),
    BadInput(
        "isolated-partition-region",
        _config_set("aws:region", "us-iso-east-1"),
        "config.aws:region",
        "a region of the aws, aws-cn or aws-us-gov partition",
        "the string 'us-iso-east-1'",
    ),
    BadInput(
        "vpc-cidr-loopback",
        _settings_set("network", {"vpcCidr": "127.0.0.0/16"}),
        f"{_SETTINGS}.network.vpcCidr",
        "an IPv4 network from /16 to /24 that AWS accepts for a VPC",
        "a loopback range",
    ),
    BadInput(
        "vpc-cidr-multicast",
        _settings_set("network", {"vpcCidr": "224.0.0.0/16"}),
        f"{_SETTINGS}.network.vpcCidr",
        "an IPv4 network from /16 to /24 that AWS accepts for a VPC",
        "a multicast range",
    ),
    BadInput(
        "vpc-cidr-link-local",
        _settings_set("network", {"vpcCidr": "169.254.0.0/16"}),
        f"{_SETTINGS}.network.vpcCidr",
        "an IPv4 network from /16 to /24 that AWS accepts for a VPC",
        "a link-local range",
    ),
    BadInput(
        "vpc-cidr-reserved",
        _settings_set("network", {"vpcCidr": "240.0.0.0/16"}),
        f"{_SETTINGS}.network.vpcCidr",
        "an IPv4 network from /16 to /24 that AWS accepts for a VPC",
        "a reserved range",
    ),
    BadInput(
        "vpc-cidr-this-network",
        _settings_set("network", {"vpcCidr": "0.0.0.0/16"}),
        f"{_SETTINGS}.network.vpcCidr",
        "an IPv4 network from /16 to /24 that AWS accepts for a VPC",
        "a reserved range",
    ),
    BadInput(
        "health-url-encrypted",
        _settings_set("rollout", {"healthUrls": [{"secure": "v1:Zm9vYmFy:YmF6"}]}),
        f"{_SETTINGS}.rollout.healthUrls[0]",
        "a string",
        "an encrypted value (secure:)",
    ),
    BadInput(
        "settings-encrypted-whole",
        _config_set("latticework:settings", {"secure": "v1:Zm9vYmFy:YmF6"}),
        _SETTINGS,
        "a mapping",
        "an encrypted value (secure:)",
    ),
    BadInput(
        "binary-region",
        _config_set("aws:region", b"eu-west-1"),
        "config.aws:region",
        "an AWS region",
        "binary data of 9 bytes",
    ),
    BadInput(
        "missing-settings",
        _config_drop("latticework:settings"),
        _SETTINGS,
        "the environment's settings",
    ),
    BadInput(
        "policies-not-mapping",
        _config_set("latticework:policies", ["strict"]),
        "config.latticework:policies",
        "a mapping",
    ),
    BadInput(
        "account-id-unquoted",
        _settings_set("accountId", 111122223333),
        f"{_SETTINGS}.accountId",
        "a 12-digit AWS account id in quotes",
        "the number 111122223333",
    ),
    BadInput(
        "account-id-short",
        _settings_set("accountId", "1111"),
        f"{_SETTINGS}.accountId",
        "a 12-digit AWS account id",
    ),
    BadInput(
        "unknown-settings-key",
        _settings_set("replica", {"orders": 2}),
        f"{_SETTINGS}.replica",
        "one of the keys accountId, network",
    ),
    BadInput(
        "missing-network",
        lambda document: settings(document).pop("network"),
        f"{_SETTINGS}.network",
        "this required key",
    ),
    BadInput(
        "network-both-kinds",
        _settings_set("network", {"vpcCidr": "10.0.0.0/16", "vpcId": "vpc-0a1b2c3d"}),
        f"{_SETTINGS}.network",
        "either {vpcCidr, availabilityZones} or {vpcId, privateSubnetIds}",
    ),
    BadInput(
        "network-neither-kind",
        _settings_set("network", {}),
        f"{_SETTINGS}.network",
        "vpcCidr (new VPC) or vpcId",
    ),
    BadInput(
        "existing-network-one-subnet",
        _settings_set(
            "network", {"vpcId": "vpc-0a1b2c3d", "privateSubnetIds": ["subnet-0a1b2c3d"]}
        ),
        f"{_SETTINGS}.network",
        "at least two privateSubnetIds",
    ),
    BadInput(
        "existing-network-one-subnet-twice",
        _settings_set(
            "network",
            {"vpcId": "vpc-0a1b2c3d", "privateSubnetIds": ["subnet-0a1b2c3d", "subnet-0a1b2c3d"]},
        ),
        f"{_SETTINGS}.network.privateSubnetIds[1]",
        "each subnet once",
        "'subnet-0a1b2c3d' again",
    ),
    BadInput(
        "cidr-with-host-bits",
        _settings_set("network", {"vpcCidr": "10.20.1.0/16"}),
        f"{_SETTINGS}.network.vpcCidr",
        "an IPv4 network from /16 to /24",
        "the string '10.20.1.0/16'",
    ),
    BadInput(
        "cidr-too-small",
        _settings_set("network", {"vpcCidr": "10.20.0.0/28"}),
        f"{_SETTINGS}.network.vpcCidr",
        "an IPv4 network from /16 to /24",
    ),
    BadInput(
        "one-availability-zone",
        _settings_set("network", {"vpcCidr": "10.20.0.0/16", "availabilityZones": 1}),
        f"{_SETTINGS}.network.availabilityZones",
        "an integer from 2 to 6",
    ),
    BadInput(
        "allowed-principals-empty",
        _settings_set("allowedPrincipals", {}),
        f"{_SETTINGS}.allowedPrincipals",
        "organizationId and/or accountIds",
    ),
    BadInput(
        "allowed-account-twice",
        _settings_set("allowedPrincipals", {"accountIds": ["111122223333", "111122223333"]}),
        f"{_SETTINGS}.allowedPrincipals.accountIds[1]",
        "each account once",
        "'111122223333' again",
    ),
    BadInput(
        "own-account-not-allowed",
        _settings_set("allowedPrincipals", {"accountIds": ["444455556666"]}),
        f"{_SETTINGS}.allowedPrincipals.accountIds",
        "the environment's own account 111122223333 among them",
        "444455556666",
    ),
    BadInput(
        "organization-id-invalid",
        _settings_set("allowedPrincipals", {"organizationId": "my-org"}),
        f"{_SETTINGS}.allowedPrincipals.organizationId",
        "an AWS Organizations id",
    ),
    BadInput(
        "replicas-unknown-service",
        _settings_set("replicas", {"billing": 2}),
        f"{_SETTINGS}.replicas.billing",
        "a service of the catalog",
        "unknown service 'billing'",
    ),
    BadInput(
        "replicas-negative",
        _settings_set("replicas", {"orders": -2}),
        f"{_SETTINGS}.replicas.orders",
        "an integer from 0 to 1000",
    ),
    BadInput(
        "rotation-function-not-lambda",
        _settings_set("rotationFunctionArn", "arn:aws:s3:::bucket"),
        f"{_SETTINGS}.rotationFunctionArn",
        "a Lambda function ARN",
    ),
    BadInput(
        "deletion-protection-string",
        _settings_set("deletionProtection", "maybe"),
        f"{_SETTINGS}.deletionProtection",
        "true or false",
    ),
    BadInput(
        "identity-source-both",
        _settings_set(
            "identitySource",
            {
                "cognitoUserPoolArn": (
                    "arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_Abc123"
                ),
                "oidcIssuer": "https://login.example.com",
                "clientIds": ["app"],
            },
        ),
        f"{_SETTINGS}.identitySource",
        "exactly one of cognitoUserPoolArn and oidcIssuer",
        "both",
    ),
    BadInput(
        "identity-source-no-clients",
        _settings_set(
            "identitySource", {"oidcIssuer": "https://login.example.com", "clientIds": []}
        ),
        f"{_SETTINGS}.identitySource.clientIds",
        "at least 1 entries",
    ),
    BadInput(
        "identity-source-clients-missing",
        _settings_set("identitySource", {"oidcIssuer": "https://login.example.com"}),
        f"{_SETTINGS}.identitySource.clientIds",
        "this required key",
    ),
    BadInput(
        "rollout-unknown-key",
        _settings_set("rollout", {"approval": True}),
        f"{_SETTINGS}.rollout.approval",
        "one of the keys requireApproval, healthUrls",
    ),
]


def _write_dev_stack(stacks_dir: Path, stack: Document) -> Path:
    """Write `stack` as Pulumi.dev.yaml next to the sample catalog; return the stack file."""
    write_yaml(stacks_dir / "services.yaml", sample_catalog())
    return write_yaml(stacks_dir / "Pulumi.dev.yaml", stack)


def _dev_stack_error(stacks_dir: Path, stack: Document) -> tuple[Path, SpecError]:
    """Load `stack` as the dev stack, expecting it to fail; the stack file and the error."""
    stack_file = _write_dev_stack(stacks_dir, stack)

    with pytest.raises(SpecError) as raised:
        load_spec("dev", stacks_dir=stacks_dir)

    return stack_file, raised.value


@pytest.mark.parametrize("bad", BAD_STACKS, ids=lambda bad: bad.id)
def test_bad_stack_is_one_clear_error(bad: BadInput, tmp_path: Path) -> None:
    """A broken stack file names the file, the key path, what was expected and what was found."""
    document = sample_stack("dev")
    bad.mutate(document)

    stack_file, error = _dev_stack_error(tmp_path, document)

    assert error.file == str(stack_file)
    assert error.key_path == bad.key_path
    assert bad.expected in error.expected
    assert bad.found in error.found
    assert error.fix


_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZXBsb3llciJ9.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("aws:secretKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"),
        ("aws:accessKey", "AKIAZ7QW3RT5YU8IOP2L"),
        (
            "aws:assumeRoleWithWebIdentity",
            {"roleArn": "arn:aws:iam::111122223333:role/deployer", "webIdentityToken": _JWT},
        ),
        ("aws:secretKey", 987654321987),
        ("aws:secretKey", "987654321987"),
    ],
    ids=["secret-key", "access-key", "nested", "number", "quoted-number"],
)
def test_plain_secret_in_provider_config_is_rejected_without_echo(
    key: str, value: object, tmp_path: Path
) -> None:
    """A plaintext credential under aws:* would reach the plan; it is refused, never repeated."""
    stack = sample_stack("dev")
    stack["config"][key] = value

    stack_file, error = _dev_stack_error(tmp_path, stack)

    assert error.file == str(stack_file)
    assert error.key_path.startswith(f"config.{key}")
    assert "encrypted" in error.expected
    assert "--secret" in error.fix
    assert str(value) not in str(error)
    assert "AKIA" not in str(error)
    assert _JWT not in str(error)


def test_encrypted_provider_config_is_accepted(tmp_path: Path) -> None:
    """A `secure:` value is Pulumi's ciphertext, not a plaintext credential."""
    stack = sample_stack("dev")
    stack["config"]["aws:secretKey"] = {"secure": "v1:Zm9vYmFyYmF6:cXV4cXV1eA=="}
    stack["config"]["aws:profile"] = "latticework-dev"
    _write_dev_stack(tmp_path, stack)

    spec = load_spec("dev", stacks_dir=tmp_path)

    assert spec.env == "dev"


@pytest.mark.parametrize(
    ("key", "value", "key_path"),
    [
        (
            "rollout",
            {"healthUrls": ["https://ops:Sup3rS3cret-pw@status.example.com/health"]},
            "rollout.healthUrls[0]",
        ),
        (
            "identitySource",
            {"oidcIssuer": "https://login.example.com/?token=Sup3rS3cret-pw", "clientIds": ["a"]},
            "identitySource.oidcIssuer",
        ),
    ],
    ids=["health-url-password", "issuer-token"],
)
def test_url_settings_refuse_credentials_without_echo(
    key: str, value: object, key_path: str, tmp_path: Path
) -> None:
    """A URL setting with a password or token in it is refused; plans would show it."""
    stack = sample_stack("dev")
    settings(stack)[key] = value

    _, error = _dev_stack_error(tmp_path, stack)

    assert error.key_path == f"{_SETTINGS}.{key_path}"
    assert "URL" in error.found
    assert "Sup3rS3cret" not in str(error)


def test_missing_stack_file_is_a_spec_error(tmp_path: Path) -> None:
    """Planning an environment without a stack file names the missing file."""
    with pytest.raises(SpecError) as raised:
        load_spec("qa", stacks_dir=tmp_path)

    assert raised.value.file == str(tmp_path / "Pulumi.qa.yaml")
    assert raised.value.found == "no such file"


@pytest.mark.parametrize("env", ["Prod", "dev-", "pre--prod", "environment1"])
def test_invalid_environment_name_is_a_spec_error(env: str) -> None:
    """An environment name that cannot prefix Lattice and IAM names is refused up front."""
    with pytest.raises(SpecError) as raised:
        load_spec(env, stacks_dir=STACKS_DIR)

    assert raised.value.key_path == "(stack name)"


def _call_chain(length: int, *, closed: bool) -> Document:
    """s0 <- s1 <- ... (each service called by the next); `closed`: s0 is called by the last."""
    services = []
    for index in range(length):
        entry = {"name": f"s{index}", "image": "public.ecr.aws/x/a:1.0", "port": 8080}
        caller = index + 1 if index + 1 < length else (0 if closed else None)
        if caller is not None:
            entry["callers"] = {"services": [f"s{caller}"]}
        services.append(entry | {"cpu": 256, "memory": 512})
    return {"services": services}


def test_a_long_call_chain_is_checked_without_recursion(tmp_path: Path) -> None:
    """A chain of 2,000 calls loads, and closing it into a cycle is the usual clear error,
    not a crash of the checker's own stack."""
    chain = write_yaml(tmp_path / "chain.yaml", _call_chain(2000, closed=False))
    cycle = write_yaml(tmp_path / "cycle.yaml", _call_chain(2000, closed=True))

    catalog = load_catalog(chain)
    with pytest.raises(SpecError) as caught:
        load_catalog(cycle)

    message = str(caught.value)
    assert catalog.callees_first()[0].name == "s0"
    assert "calls without a cycle" in message
    assert "the call cycle s0 -> s1999 -> s1998 -> s1997 -> s1996 -> ... 1991 more ... " in message
    assert message.count(" -> ") == 10


def test_services_file_argument_replaces_the_catalog(tmp_path: Path) -> None:
    """An explicit catalog file is used instead of stacks/services.yaml."""
    document = sample_catalog()
    document["services"] = [service(document, "inventory")]
    document["services"][0]["callers"] = {}
    other = write_yaml(tmp_path / "only-inventory.yaml", document)
    write_yaml(tmp_path / "Pulumi.dev.yaml", sample_stack("staging"))

    spec = load_spec("dev", stacks_dir=tmp_path, services_file=other)

    assert spec.catalog.names == ("inventory",)
    assert spec.services_file == other


def test_services_file_config_key_replaces_the_catalog(tmp_path: Path) -> None:
    """latticework:servicesFile in the stack selects the catalog, relative to the project."""
    stacks_dir = tmp_path / "stacks"
    stacks_dir.mkdir()
    document = sample_catalog()
    document["services"] = [service(document, "inventory")]
    document["services"][0]["callers"] = {}
    write_yaml(tmp_path / "small.yaml", document)
    stack = sample_stack("staging")
    stack["config"]["latticework:servicesFile"] = "small.yaml"
    write_yaml(stacks_dir / "Pulumi.staging.yaml", stack)

    spec = load_spec("staging", stacks_dir=stacks_dir)

    assert spec.catalog.names == ("inventory",)
    assert spec.services_file == tmp_path / "small.yaml"


def test_spec_models_are_frozen() -> None:
    """The loaded spec cannot be changed after validation."""
    spec = load_spec("dev", stacks_dir=STACKS_DIR)

    with pytest.raises(ValueError, match="frozen"):
        spec.catalog.service("orders").port = 1


def test_policies_block_is_passed_through_untouched(tmp_path: Path) -> None:
    """latticework:policies is the policy pack's to validate; the spec keeps it as given."""
    stack = sample_stack("dev")
    stack["config"]["latticework:policies"] = {"rotationMaxDays": 90, "anything": ["goes"]}
    _write_dev_stack(tmp_path, stack)

    spec = load_spec("dev", stacks_dir=tmp_path)

    assert spec.policies == {"rotationMaxDays": 90, "anything": ["goes"]}


def test_replica_overrides_do_not_block_another_catalog(tmp_path: Path) -> None:
    """With another catalog, the stack's overrides for services it lacks simply do not apply."""
    document = sample_catalog()
    document["services"] = [service(document, "inventory")]
    document["services"][0]["callers"] = {}
    other = write_yaml(tmp_path / "only-inventory.yaml", document)
    write_yaml(tmp_path / "Pulumi.prod.yaml", sample_stack("prod"))

    spec = load_spec("prod", stacks_dir=tmp_path, services_file=other)

    assert spec.desired_count(spec.catalog.service("inventory")) == 3


def test_yaml_error_does_not_carry_the_offending_line(tmp_path: Path) -> None:
    """A syntax error near a secret reports the position, not the text of the line."""
    path = tmp_path / "services.yaml"
    path.write_text(
        'services:\n  - name: orders\n    environment: {API_KEY: "AKIAZ7QW3RT5YU8IOP2L\n'
    )

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert "AKIA" not in str(raised.value)


def _service_entry(cpu: int, memory: int) -> dict[str, object]:
    return {"name": "orders", "image": "public.ecr.aws/x/orders:1", "port": 8080} | {
        "cpu": cpu,
        "memory": memory,
    }


@given(
    cpu=st.sampled_from([128, *AWS_FARGATE_SIZES, 32768]),
    memory=st.integers(min_value=256, max_value=131072).map(lambda mib: mib - mib % 512),
)
def test_fargate_pairs_are_accepted_exactly_when_aws_offers_them(cpu: int, memory: int) -> None:
    """Any cpu/memory pair validates if and only if it is in Fargate's table."""
    offered = memory in AWS_FARGATE_SIZES.get(cpu, ())

    try:
        ServiceSpec.model_validate(_service_entry(cpu, memory))
        accepted = True
    except ValidationError:
        accepted = False

    assert accepted == offered


def test_bad_catalog_surfaces_through_the_program(project_copy: Path) -> None:
    """The program loads the spec itself, so a bad catalog stops the plan with the same error."""
    document = sample_catalog()
    _on_service("orders", "port", 0)(document)
    catalog = write_yaml(project_copy / "stacks" / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        plan_environment("dev", project_dir=project_copy)

    assert raised.value.file == str(catalog)
    assert raised.value.key_path == "services[orders].port"


def test_a_misspelt_required_key_is_reported_as_the_typo(tmp_path: Path) -> None:
    """`prot:` for `port:` names the unknown key and suggests `port`, not only "port missing"."""
    document = sample_catalog()
    orders = service(document, "orders")
    orders["prot"] = orders.pop("port")
    path = write_yaml(tmp_path / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    error = raised.value
    assert error.key_path == "services[orders].prot"
    assert error.found == "unknown key 'prot'"
    assert "Did you mean 'port'?" in error.fix


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", "user:hunter2xyz@registry.example.com/a:1.0"),
        ("image", "registry.example.com/user:hunter2xyz@a:1.0"),
        ("healthCheckPath", "ops:hunter2xyz@"),
        ("healthCheckPath", "/ops:hunter2xyz@db"),
    ],
    ids=[
        "image-userinfo",
        "image-userinfo-after-registry",
        "userinfo-without-host",
        "health-path-userinfo",
    ],
)
def test_a_user_password_part_without_a_scheme_is_never_echoed(
    key: str, value: str, tmp_path: Path
) -> None:
    """A refused value with `user:password@` in it is described, with or without a scheme."""
    document = sample_catalog()
    _on_service("orders", key, value)(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert raised.value.key_path == f"services[orders].{key}"
    assert f"a string of {len(value)} characters" in raised.value.found
    assert "hunter2xyz" not in str(raised.value)
    assert "hunter2xyz" not in repr(raised.value.args)


def test_an_issuer_with_a_user_password_part_is_never_echoed(tmp_path: Path) -> None:
    """A scheme-less `u:password@host` issuer is refused without repeating the password."""
    stack = sample_stack("dev")
    settings(stack)["identitySource"] = {
        "oidcIssuer": "u:hunter2xyz@idp.example.com",
        "clientIds": ["a"],
    }

    _, error = _dev_stack_error(tmp_path, stack)

    assert error.key_path == f"{_SETTINGS}.identitySource.oidcIssuer"
    assert "hunter2xyz" not in str(error)
    assert "hunter2xyz" not in repr(error.args)


_TOKEN = "ghp_" + "Z7qW3rT5yU8iOp2LkJ9hG4fD1sA6xC0vB3nM"
_FAKE_ACCESS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("API_TOKEN", 987654321987), ("DB_PASSWORD", 12345678)],
    ids=["12-digits", "8-digits"],
)
def test_a_number_under_a_secret_environment_name_is_described_not_printed(
    variable: str, value: float, tmp_path: Path
) -> None:
    """YAML reads an unquoted numeric token as a number; the error describes it, never
    prints it, and points at services[].secrets rather than only at quoting."""
    document = sample_catalog()
    _env_value("payments", variable, value)(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    error = raised.value
    assert error.key_path == f"services[payments].environment.{variable}"
    assert "a number" in error.found
    assert "under a name that says it holds a secret" in error.found
    assert "services[payments].secrets" in error.fix
    assert str(value) not in str(error)
    assert str(int(value)) not in str(error)


def test_an_environment_name_that_is_a_credential_is_refused_unrepeated(tmp_path: Path) -> None:
    """A credential pasted as a variable name is refused by the loader; neither the key path
    nor the message repeats it."""
    document = sample_catalog()
    _env_value("orders", _FAKE_ACCESS_KEY, "x")(document)
    path = write_yaml(tmp_path / "services.yaml", document)

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    error = raised.value
    assert error.key_path == "services[orders].environment.<a key that looks like a credential>"
    assert "AWS access key id" in error.found
    assert "AKIA" not in str(error)
    assert "AKIA" not in repr(error.args)


def _token_key_in_catalog(document: Document) -> None:
    service(document, "orders")[_TOKEN] = 1


def _token_env_name(document: Document) -> None:
    service(document, "orders")["environment"][_TOKEN] = "x"


def _token_key_in_settings(document: Document) -> None:
    settings(document)[_TOKEN] = 1


def _token_key_in_replicas(document: Document) -> None:
    settings(document)["replicas"] = {_TOKEN: 1}


def _token_key_in_config(document: Document) -> None:
    document["config"][_TOKEN] = 1


def _token_key_in_provider_config(document: Document) -> None:
    document["config"]["aws:defaultTags"] = {"tags": {_TOKEN: "x"}}


def _token_key_at_top(document: Document) -> None:
    document[_TOKEN] = 1


@pytest.mark.parametrize(
    ("mutate", "is_catalog"),
    [
        (_token_key_in_catalog, True),
        (_token_env_name, True),
        (_token_key_in_settings, False),
        (_token_key_in_replicas, False),
        (_token_key_in_config, False),
        (_token_key_in_provider_config, False),
        (_token_key_at_top, False),
    ],
    ids=["service", "environment", "settings", "replicas", "config", "provider", "top"],
)
def test_a_key_that_looks_like_a_credential_is_described_not_echoed(
    mutate: Mutation, is_catalog: bool, tmp_path: Path
) -> None:
    """An unknown or invalid key shaped like a token is refused without being repeated,
    in the key path as in the message."""
    document = sample_catalog() if is_catalog else sample_stack("dev")
    mutate(document)

    if is_catalog:
        path = write_yaml(tmp_path / "services.yaml", document)
        with pytest.raises(SpecError) as raised:
            load_catalog(path)
        error = raised.value
    else:
        _, error = _dev_stack_error(tmp_path, document)

    assert "<a key that looks like a credential>" in f"{error.key_path} {error.found}"
    assert "ghp_" not in str(error)
    assert "ghp_" not in repr(error.args)


def test_a_repeated_key_that_looks_like_a_credential_is_not_echoed(tmp_path: Path) -> None:
    """The duplicate-key error describes a token-shaped key instead of quoting it."""
    path = tmp_path / "services.yaml"
    path.write_text(f"services: []\n{_TOKEN}: 1\n{_TOKEN}: 2\n")

    with pytest.raises(SpecError) as raised:
        load_catalog(path)

    assert raised.value.key_path == "line 3"
    assert "a key that looks like a credential again" in raised.value.found
    assert "ghp_" not in str(raised.value)


#: An unquoted account id as written, where it is, and the quoted form the fix may offer:
#: only a literal that is itself 12 digits tells what the account id was meant to be.
UNQUOTED_ACCOUNT_IDS = [
    ("accountId: 011122223333", "accountId", '"011122223333"'),
    ("accountId: 111122223333", "accountId", '"111122223333"'),
    ("accountId: 0x1A", "accountId", None),
    ("accountId: 111_122_223_333", "accountId", None),
    ("accountIds: [0777777777777]", "allowedPrincipals.accountIds[0]", None),
    ("accountIds: [01]", "allowedPrincipals.accountIds[0]", None),
]


@pytest.mark.parametrize(("written", "key", "quoted"), UNQUOTED_ACCOUNT_IDS)
def test_an_unquoted_account_id_is_explained_by_what_was_written(
    written: str, key: str, quoted: str | None, tmp_path: Path
) -> None:
    """YAML reads an unquoted account id as a number (with a leading 0 as an octal one); the
    fix shows the quoted id only when the literal was 12 digits, and never a guessed one."""
    text = (STACKS_DIR / "Pulumi.dev.yaml").read_text()
    field = written.split(":")[0]
    text = text.replace(f'{field}: "111122223333"', written)
    text = text.replace(f'{field}: ["111122223333"]', written)
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(text)
    write_yaml(tmp_path / "services.yaml", sample_catalog())

    with pytest.raises(SpecError) as raised:
        load_spec("dev", stacks_dir=tmp_path)

    error = raised.value
    assert error.key_path == f"{_SETTINGS}.{key}"
    assert "YAML read the unquoted value as a number" in error.found
    is_octal = written.endswith(": 011122223333")
    assert ("as an octal one because of its leading 0" in error.found) == is_octal
    suggested = re.findall(r'"\d+"', f"{error.found} {error.fix}")
    assert suggested == ([quoted] if quoted else [])
    if quoted is None:
        assert "12-digit account id in quotes" in error.fix


@pytest.mark.parametrize("file_name", ["services.yaml", "Pulumi.dev.yaml"])
def test_a_named_pipe_in_place_of_a_stack_file_is_refused_without_waiting(
    file_name: str, tmp_path: Path
) -> None:
    """Opening a FIFO for reading blocks until a writer comes: a file that is not a regular
    file is refused at once instead."""
    write_yaml(tmp_path / "services.yaml", sample_catalog())
    write_yaml(tmp_path / "Pulumi.dev.yaml", sample_stack("dev"))
    (tmp_path / file_name).unlink()
    os.mkfifo(tmp_path / file_name)

    with pytest.raises(SpecError) as raised:
        load_spec("dev", stacks_dir=tmp_path)

    assert raised.value.file == str(tmp_path / file_name)
    assert (raised.value.expected, raised.value.found) == ("a regular file", "a named pipe")


def test_a_directory_in_place_of_the_catalog_is_named_as_such(tmp_path: Path) -> None:
    """A directory where the catalog should be is reported as a directory."""
    with pytest.raises(SpecError) as raised:
        load_catalog(tmp_path)

    assert (raised.value.expected, raised.value.found) == ("a regular file", "a directory")


@pytest.mark.parametrize("region", ["us-gov-west-1", "cn-north-1", "ap-southeast-7", "eu-west-1"])
def test_regions_of_the_supported_partitions_are_accepted(region: str, tmp_path: Path) -> None:
    """Any region botocore lists in the aws, aws-cn or aws-us-gov partition loads."""
    stack = sample_stack("dev")
    stack["config"]["aws:region"] = region
    _write_dev_stack(tmp_path, stack)

    spec = load_spec("dev", stacks_dir=tmp_path)

    assert spec.region == region


#: Route paths and whether the PEP's config loader accepts them: the catalog must agree.
ROUTE_PATH_VERDICTS = [
    ("/", True),
    ("/reports/", True),
    ("/reports/{reportId}/", True),
    ("/orders/{orderId}/lines/{lineId}", True),
    ("/a.b/~c_d", True),
    ("/v1/orders:batchGet", True),
    ("/users/@me", True),
    ("/files/it's!$&'()*+,=:@-", True),
    ("/a/.../b", True),
    ("//", False),
    ("/reports//", False),
    ("/a//b", False),
    ("/a/./b", False),
    ("/a/..", False),
    ("/a/b%20c", False),
    ("/a b", False),
    ("/search?q=1", False),
    ("/a;b", False),
    ("/a#b", False),
    ("/café", False),
    ("/files/{name}.json", False),
    ("/{a}/{a}", False),
    ("reports", False),
]


def _pep_accepts(path: str) -> bool:
    """Whether the PEP's own config loader takes a public route with this path."""
    document = {"routes": [{"method": "GET", "path": path, "public": True}]}
    environ = {"LATTICEWORK_SERVICE_NAME": "inventory", "LATTICEWORK_PEP_MODE": "local"}
    try:
        config_from_document(document, source="pep.yaml", base_dir=PROJECT_DIR, environ=environ)
    except EnforcementConfigError as exc:
        return "routes[0].path" not in str(exc)
    return True


@pytest.mark.parametrize(("path", "accepted"), ROUTE_PATH_VERDICTS)
def test_route_paths_are_judged_as_the_pep_judges_them(
    path: str, accepted: bool, tmp_path: Path
) -> None:
    """A route path loads exactly when the PEP's config loader accepts it too."""
    document = sample_catalog()
    _add_route("inventory", {"method": "GET", "path": path, "public": True})(document)
    catalog_file = write_yaml(tmp_path / "services.yaml", document)

    refused_at: str | None = None
    try:
        load_catalog(catalog_file)
    except SpecError as exc:
        refused_at = exc.key_path

    expected_refusal = None if accepted else "services[inventory].routes[3].path"
    assert (refused_at, _pep_accepts(path)) == (expected_refusal, accepted)
