"""Config file + environment loading, and the errors it gives for bad input."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from pep_runtime.enforcement import Enforcer
from pep_runtime.enforcement.config import config_path_from_environment, load_config
from pep_runtime.enforcement.exceptions import EnforcementConfigError
from pep_runtime.enforcement.routes import RouteTable

from .conftest import FIXTURE_AUTHZ, ROUTES, environment, make_config


def _write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "pep.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_load_config_reads_file_and_environment(tmp_path: Path) -> None:
    """The file gives routes, cache and identity source; the environment the rest."""
    path = _write(
        tmp_path,
        {
            "routes": ROUTES,
            "cache": {"ttlSeconds": 2, "maxEntries": 50},
            "identitySource": {
                "jwksUrl": "https://cognito-idp.eu-west-1.amazonaws.com/pool/.well-known/jwks.json",
                "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/pool",
                "clientIds": ["client-1"],
            },
        },
    )

    config = load_config(path, environment(LATTICEWORK_PEP_MODE="verified-permissions"))

    assert config.service_name == "orders"
    assert config.mode == "verified-permissions"
    assert config.verified_permissions is not None
    assert config.verified_permissions.policy_store_id == "PSEXAMPLEabcdefg111111"
    assert config.verified_permissions.region == "eu-west-1"
    assert config.behind_lattice is True
    assert config.caller_roles == {
        ("aws", "111122223333", "latticework-dev-frontend-task"): "frontend"
    }
    assert config.cache.ttl_seconds == 2
    assert config.cache.max_entries == 50
    assert config.identity_source is not None
    assert config.identity_source.algorithms == ("RS256",)
    assert config.routes[0].resource is not None
    assert config.routes[0].resource.type == "Latticework::Order"
    assert config.routes[3].public is True
    assert config.audit.destination == "stdout"


def test_local_mode_resolves_authz_dir_relative_to_the_file(tmp_path: Path) -> None:
    """A relative authzDir is read next to the config file."""
    (tmp_path / "authz").symlink_to(FIXTURE_AUTHZ)
    path = _write(tmp_path, {"routes": ROUTES, "local": {"authzDir": "authz"}})

    config = load_config(path, environment())

    assert config.local is not None
    assert config.local.authz_dir == tmp_path / "authz"


@pytest.mark.parametrize(
    ("document", "env", "field"),
    [
        ({"routes": []}, {}, "routes"),
        ({"routes": [{"method": "GOT", "path": "/x", "public": True}]}, {}, "routes[0].method"),
        ({"routes": [{"method": "GET", "path": "x", "public": True}]}, {}, "routes[0].path"),
        (
            {"routes": [{"method": "GET", "path": "/a/../b", "public": True}]},
            {},
            "routes[0].path",
        ),
        (
            {"routes": [{"method": "GET", "path": "/a/{id}/{id}", "public": True}]},
            {},
            "routes[0].path",
        ),
        (
            {
                "routes": [
                    {"method": "GET", "path": "/a/{x}", "public": True},
                    {"method": "get", "path": "/a/{y}", "public": True},
                ]
            },
            {},
            "routes[1].path",
        ),
        (
            {
                "routes": [
                    {
                        "method": "GET",
                        "path": "/a/{x}",
                        "action": "A",
                        "resource": {"type": "T", "id": "{y}"},
                    }
                ]
            },
            {},
            "routes[0].resource.id",
        ),
        (
            {"routes": [{"method": "GET", "path": "/a", "action": "A"}]},
            {},
            "routes[0].resource",
        ),
        ({"routes": ROUTES, "extra": 1}, {}, "extra"),
        ({"routes": ROUTES, "cache": {"ttlSeconds": -1}}, {}, "cache.ttlSeconds"),
        (
            {
                "routes": ROUTES,
                "identitySource": {
                    "jwksUrl": "https://x/jwks",
                    "issuer": "https://x",
                    "clientIds": ["c"],
                    "algorithms": ["HS256"],
                },
            },
            {},
            "identitySource.algorithms",
        ),
        (
            {
                "routes": ROUTES,
                "identitySource": {"jwksUrl": "https://x/jwks", "issuer": "https://x"},
            },
            {},
            "identitySource",
        ),
        (
            {
                "routes": ROUTES,
                "identitySource": {
                    "jwksUrl": "https://x/jwks",
                    "issuer": "https://x",
                    "clientIds": ["c"],
                    "tokenUse": ["access"],
                },
            },
            {},
            "identitySource.tokenUse",
        ),
        (
            {
                "routes": ROUTES,
                "identitySource": {
                    "jwksUrl": "https://x/jwks",
                    "issuer": "https://x",
                    "clientIds": ["c"],
                    "algorithms": [],
                },
            },
            {},
            "identitySource.algorithms",
        ),
        ({"routes": ROUTES}, {"LATTICEWORK_SERVICE_NAME": ""}, "LATTICEWORK_SERVICE_NAME"),
        ({"routes": ROUTES}, {"LATTICEWORK_SERVICE_NAME": "  "}, "LATTICEWORK_SERVICE_NAME"),
        (
            {"routes": ROUTES},
            {"LATTICEWORK_SERVICE_NAME": "orders\n"},
            "LATTICEWORK_SERVICE_NAME",
        ),
        (
            {"routes": ROUTES},
            {
                "LATTICEWORK_CALLER_ROLES": '{"arn:aws:iam::111122223333:role/a": "x", '
                '"arn:aws:iam::111122223333:role/a": "y"}'
            },
            "LATTICEWORK_CALLER_ROLES['arn:aws:iam::111122223333:role/a']",
        ),
        (
            {"routes": ROUTES},
            {
                "LATTICEWORK_CALLER_ROLES": '{"arn:aws:iam::111122223333:role/p1/a": "x", '
                '"arn:aws:iam::111122223333:role/p2/a": "y"}'
            },
            "LATTICEWORK_CALLER_ROLES['arn:aws:iam::111122223333:role/p2/a']",
        ),
        (
            {"routes": ROUTES},
            {
                "LATTICEWORK_CALLER_ROLES": '{"arn:aws:iam::\u0661\u0661\u0661\u0661\u0662\u0662'
                '\u0662\u0662\u0663\u0663\u0663\u0663:role/a": "x"}'
            },
            "LATTICEWORK_CALLER_ROLES['arn:aws:iam::\u0661\u0661\u0661\u0661\u0662\u0662"
            "\u0662\u0662\u0663\u0663\u0663\u0663:role/a']",
        ),
        ({"routes": ROUTES}, {"LATTICEWORK_PEP_MODE": "open"}, "LATTICEWORK_PEP_MODE"),
        ({"routes": ROUTES}, {"LATTICEWORK_BEHIND_LATTICE": "maybe"}, "LATTICEWORK_BEHIND_LATTICE"),
        ({"routes": ROUTES}, {"LATTICEWORK_CALLER_ROLES": "{"}, "LATTICEWORK_CALLER_ROLES"),
        (
            {"routes": ROUTES},
            {"LATTICEWORK_CALLER_ROLES": "[" * 100_000},
            "LATTICEWORK_CALLER_ROLES",
        ),
        (
            {"routes": ROUTES},
            {
                "LATTICEWORK_CALLER_ROLES": '{"arn:aws:iam::111122223333:role/a": 1'
                + "0" * 5000
                + "}"
            },
            "LATTICEWORK_CALLER_ROLES",
        ),
        (
            {"routes": ROUTES},
            {"LATTICEWORK_CALLER_ROLES": '{"arn:aws:iam::111122223333:role/a b/x": "a"}'},
            "LATTICEWORK_CALLER_ROLES['arn:aws:iam::111122223333:role/a b/x']",
        ),
        (
            {"routes": ROUTES},
            {"LATTICEWORK_CALLER_ROLES": '{"arn:aws:iam::1:role/x": "a"}'},
            "LATTICEWORK_CALLER_ROLES['arn:aws:iam::1:role/x']",
        ),
        (
            {"routes": ROUTES},
            {"LATTICEWORK_PEP_MODE": "verified-permissions", "LATTICEWORK_POLICY_STORE_ID": ""},
            "LATTICEWORK_POLICY_STORE_ID",
        ),
        (
            {"routes": ROUTES},
            {"LATTICEWORK_PEP_MODE": "verified-permissions", "AWS_REGION": ""},
            "AWS_REGION",
        ),
        (
            {"routes": ROUTES},
            {
                "LATTICEWORK_CALLER_ROLES": '{"arn:aws:iam::111122223333:role/Orders": "a", '
                '"arn:aws:iam::111122223333:role/orders": "b"}'
            },
            "LATTICEWORK_CALLER_ROLES['arn:aws:iam::111122223333:role/orders']",
        ),
        (
            {
                "routes": ROUTES,
                "identitySource": {
                    "jwksUrl": "https://example.com/jwks",
                    "issuer": " https://issuer.example.com ",
                    "clientIds": ["c"],
                },
            },
            {},
            "identitySource.issuer",
        ),
        (
            {"routes": ROUTES, "verifiedPermissions": {"maxAttempts": 1_000_000}},
            {},
            "verifiedPermissions.maxAttempts",
        ),
        (
            {"routes": ROUTES, "verifiedPermissions": {"readTimeoutSeconds": 1e9}},
            {},
            "verifiedPermissions.readTimeoutSeconds",
        ),
        (
            {"routes": ROUTES, "verifiedPermissions": {"connectTimeoutSeconds": 1e9}},
            {},
            "verifiedPermissions.connectTimeoutSeconds",
        ),
        ({"routes": ROUTES, "local": {"authzDir": "/nonexistent"}}, {}, "local.authzDir"),
        ({"routes": ROUTES, "audit": {"destination": "syslog"}}, {}, "audit.destination"),
        ({"routes": ROUTES, "audit": {"destination": 1}}, {}, "audit.destination"),
        ({"routes": ROUTES, "audit": {"dest": "stdout"}}, {}, "audit.dest"),
        ({"routes": ROUTES, "audit": "stdout"}, {}, "audit"),
    ],
)
def test_bad_config_names_the_field(
    document: dict[str, Any], env: dict[str, str], field: str
) -> None:
    """Each bad value raises an error naming the file or variable, the field and what was found."""
    body = {"local": {"authzDir": str(FIXTURE_AUTHZ)}} | document

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document=body, env=env)

    assert caught.value.field == field
    assert "expected" in str(caught.value)
    assert "found" in str(caught.value)


@pytest.mark.parametrize(
    ("audit", "found"),
    [
        ("stdout", "found stdout"),
        ({"destination": "stdout\u200b"}, "found 'stdout\\u200b'"),
        ({"destination": "std\tout"}, "found 'std\\tout'"),
        ({"destination": ""}, "found ''"),
        ({"destination": None}, "found null"),
        ({"destination": True}, "found true"),
        ({"destination": {"a": 1}}, "found a mapping"),
        ({"destination": ["stdout"]}, "found a list"),
        ({"destination": 5}, "found 5"),
        ({"destination": "stdout "}, "found 'stdout '"),
        ({"destination": "syslog"}, "found syslog"),
    ],
)
def test_a_bad_audit_section_says_what_was_found_and_the_fix(audit: Any, found: str) -> None:
    """Every audit error shows the value (blank space visible) and how to write it."""
    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"audit": audit})

    message = str(caught.value)
    assert message.startswith("test-config.yaml: audit")
    assert found in message
    assert "write audit: {destination: stdout}" in message.partition("; ")[2]


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (float("nan"), "found .nan;"),
        (float("inf"), "found .inf;"),
        ("5", "found the string '5';"),
        (True, "found true;"),
        (None, "found null;"),
        (-1, "found -1;"),
        pytest.param(10**400, "found a number of more than 20 digits;", id="400-digits"),
    ],
)
@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("cache", "ttlSeconds"),
        ("cache", "maxEntries"),
        ("local", "reloadCheckSeconds"),
        ("verifiedPermissions", "readTimeoutSeconds"),
    ],
)
def test_numbers_must_be_finite_and_in_range(
    section: str, key: str, value: Any, found: str
) -> None:
    """NaN, infinity and integers too large for a float are refused like any bad number (NaN
    passed every bound before, so a reload interval of NaN silently never reloaded), naming
    the field, the value as YAML writes it and a fix."""
    body: dict[str, Any] = {"local": {"authzDir": str(FIXTURE_AUTHZ)}}
    body.setdefault(section, {})[key] = value

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document=body, env={"LATTICEWORK_PEP_MODE": "verified-permissions"})

    assert caught.value.field == f"{section}.{key}"
    assert "a finite number" in str(caught.value)
    assert found in str(caught.value)
    assert "; such as" in str(caught.value)


@pytest.mark.parametrize(
    ("leeway", "accepted"), [(0, True), (300, True), (301, False), (1e12, False)]
)
def test_token_leeway_is_at_most_five_minutes(leeway: float, accepted: bool) -> None:
    """A leeway is for clock skew: a larger one would accept tokens long expired."""
    source = {"jwksUrl": "https://x/jwks", "issuer": "https://x", "clientIds": ["c"]}
    document = {"identitySource": source | {"leewaySeconds": leeway}}

    if accepted:
        config = make_config(document=document)
        assert config.identity_source is not None
        assert config.identity_source.leeway_seconds == leeway
        return
    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document=document)
    assert caught.value.field == "identitySource.leewaySeconds"
    assert "a finite number from 0 to 300" in str(caught.value)


@pytest.mark.parametrize(
    ("section", "key", "largest"),
    [
        ("cache", "ttlSeconds", 3600),
        ("local", "reloadCheckSeconds", 3600),
        ("identitySource", "jwksCacheSeconds", 86400),
    ],
)
def test_intervals_that_would_never_renew_are_refused(section: str, key: str, largest: int) -> None:
    """A decision, a policy set or a key set kept for ever would never see a revoke: each
    interval has a ceiling, and the error gives it."""
    body: dict[str, Any] = {
        "identitySource": {"jwksUrl": "https://x/jwks", "issuer": "https://x", "clientIds": ["c"]}
    }
    body.setdefault(section, {"authzDir": str(FIXTURE_AUTHZ)} if section == "local" else {})
    body[section] = body[section] | {key: largest}
    accepted = make_config(document=body)
    body[section] = body[section] | {key: 1e15}

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document=body)

    assert accepted.service_name == "orders"
    assert caught.value.field == f"{section}.{key}"
    assert f"to {largest}" in str(caught.value)


def test_a_quoted_flag_is_shown_as_the_string_it_is() -> None:
    """`public: 'yes'` is a string, not YAML's true: the error says so."""
    route = {"method": "GET", "path": "/health", "public": "yes"}

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"routes": [route]})

    assert caught.value.field == "routes[0].public"
    assert "found the string 'yes'; write true or false without quotes" in str(caught.value)


def _with_jwks_url(jwks_url: str) -> dict[str, Any]:
    identity_source = {"jwksUrl": jwks_url, "issuer": "https://x", "clientIds": ["c"]}
    return {"routes": ROUTES, "identitySource": identity_source}


@pytest.mark.parametrize(
    "jwks_url",
    [
        "http://localhost.evil.example/jwks",
        "http://127.0.0.1.nip.io@evil.example/jwks",
        "http://localhost@evil.example/jwks",
        "http://evil.example/jwks",
        "http://127.0.0.2/jwks",
        "ftp://localhost/jwks",
        "https:///jwks",
        "https://[::1/jwks",
        "https://idp.example:99999/jwks",
        "jwks.json",
        " https://idp.example/jwks",
        "https://idp.example/jwks\n",
        "https://idp.ex\tample/jwks",
        "https://idp.example/my jwks",
        "https://idp.example/jwks\x00",
    ],
)
def test_jwks_url_must_be_https_but_on_loopback(jwks_url: str) -> None:
    """Plain http is refused unless the parsed host is localhost, 127.0.0.1 or ::1."""
    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document=_with_jwks_url(jwks_url))

    message = str(caught.value)
    assert caught.value.field == "identitySource.jwksUrl"
    assert message.startswith("test-config.yaml: identitySource.jwksUrl: expected an https://")
    assert "found" in message
    assert "; " in message


@pytest.mark.parametrize(
    "jwks_url", ["https://alice:hunter2@idp.example/jwks", "https://hunter2@idp.example/jwks"]
)
def test_jwks_url_with_user_info_is_refused_without_echoing_it(jwks_url: str) -> None:
    """A user name or password in the URL is refused, and the error does not repeat it."""
    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document=_with_jwks_url(jwks_url))

    assert caught.value.field == "identitySource.jwksUrl"
    assert "hunter2" not in str(caught.value)
    assert "remove" in str(caught.value)


@pytest.mark.parametrize(
    "jwks_url",
    [
        "https://cognito-idp.eu-west-1.amazonaws.com/pool/.well-known/jwks.json",
        "http://localhost/jwks",
        "http://LOCALHOST:8080/jwks",
        "http://127.0.0.1:9/jwks.json",
        "http://[::1]:8080/jwks",
    ],
)
def test_jwks_url_accepted(jwks_url: str) -> None:
    """https anywhere, and plain http on the loopback host the dev tools and tests serve."""
    config = make_config(document=_with_jwks_url(jwks_url))

    assert config.identity_source is not None
    assert config.identity_source.jwks_url == jwks_url


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    """A key given twice in the file is an error naming the file and the line."""
    path = tmp_path / "pep.yaml"
    path.write_text("routes: []\nroutes: []\n")

    with pytest.raises(EnforcementConfigError, match=r"pep\.yaml.*duplicate key 'routes'"):
        load_config(path, environment())


def test_yaml_merge_keys_share_a_route_s_fields(tmp_path: Path) -> None:
    """`<<: *anchor` takes another route's fields, and a key given beside it overrides one."""
    path = tmp_path / "pep.yaml"
    path.write_text(
        f"local: {{authzDir: {FIXTURE_AUTHZ}}}\n"
        "routes:\n"
        "  - &read {method: GET, path: '/orders/{id}', action: GetOrder,"
        " resource: {type: Order, id: '{id}'}}\n"
        "  - <<: *read\n"
        "    method: POST\n"
        "    path: '/orders/{id}/cancel'\n"
        "    action: CancelOrder\n"
    )

    config = load_config(path, environment())

    assert [(rule.method, rule.path, rule.action) for rule in config.routes] == [
        ("GET", "/orders/{id}", "GetOrder"),
        ("POST", "/orders/{id}/cancel", "CancelOrder"),
    ]
    assert config.routes[1].resource == config.routes[0].resource


def test_a_key_given_twice_beside_a_merge_is_still_refused(tmp_path: Path) -> None:
    """A merge does not hide a key written twice in one mapping."""
    path = tmp_path / "pep.yaml"
    path.write_text("routes:\n  - &r {method: GET}\n  - <<: *r\n    path: /a\n    path: /b\n")

    with pytest.raises(EnforcementConfigError, match="duplicate key 'path' at line 5"):
        load_config(path, environment())


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"routes: []\n# caf\xe9\n", r"pep\.yaml: not UTF-8 text \(byte 0xe9 at offset 16\)"),
        (b"? [a, b]\n: 1\n", r"pep\.yaml: not valid YAML: .*a key must be a plain value"),
        (b"[" * 5000 + b"]" * 5000, r"pep\.yaml: not valid YAML: nested too deeply"),
        (b"cache: {maxEntries: " + b"9" * 5000 + b"}", r"pep\.yaml: not valid YAML: .*digits"),
        (b"issuer: 2024-02-30\n", r"pep\.yaml: not valid YAML: .*day is out of range"),
    ],
    ids=["not-utf8", "unhashable-key", "deep-nesting", "long-number", "no-such-date"],
)
def test_unreadable_yaml_is_a_config_error_naming_the_file(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    """Bytes no YAML reader can turn into a config are refused as a config error, not a
    crash with a bare Python exception."""
    path = tmp_path / "pep.yaml"
    path.write_bytes(content)

    with pytest.raises(EnforcementConfigError, match=expected) as caught:
        load_config(path, environment())

    assert caught.value.source == str(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing config file is a config error naming it."""
    with pytest.raises(EnforcementConfigError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml", environment())


def test_the_enforcer_is_built_from_the_file_the_environment_names(tmp_path: Path) -> None:
    """LATTICEWORK_PEP_CONFIG names the config file the enforcer is built from."""
    path = tmp_path / "service-pep.yaml"
    path.write_text(yaml.safe_dump({"routes": ROUTES, "local": {"authzDir": str(FIXTURE_AUTHZ)}}))

    enforcer = Enforcer.from_environment(environment(LATTICEWORK_PEP_CONFIG=str(path)))

    assert [rule.path for rule in enforcer.routes.rules] == [route["path"] for route in ROUTES]


def test_without_the_variable_pep_yaml_in_the_working_directory_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With LATTICEWORK_PEP_CONFIG unset, pep.yaml in the working directory is read."""
    (tmp_path / "pep.yaml").write_text(
        yaml.safe_dump({"routes": ROUTES, "local": {"authzDir": str(FIXTURE_AUTHZ)}})
    )
    monkeypatch.chdir(tmp_path)

    path = config_path_from_environment(environment())

    assert path == Path("pep.yaml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/nowhere/pep.yaml", r"/nowhere/pep\.yaml does not exist \(LATTICEWORK_PEP_CONFIG="),
        ("", r"pep\.yaml does not exist \(LATTICEWORK_PEP_CONFIG is not set"),
    ],
)
def test_a_missing_config_file_names_the_variable(
    value: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config file that is not there is an error naming the variable and the fix."""
    monkeypatch.chdir(tmp_path)

    with pytest.raises(EnforcementConfigError, match=expected) as caught:
        Enforcer.from_environment(environment(LATTICEWORK_PEP_CONFIG=value))

    assert caught.value.source == "LATTICEWORK_PEP_CONFIG"
    assert "set LATTICEWORK_PEP_CONFIG to the path" in str(caught.value)


def _public(method: str, path: str) -> dict[str, Any]:
    return {"method": method, "path": path, "public": True}


def test_a_head_rule_is_refused_as_the_get_rule_decides_head() -> None:
    """A HEAD rule could be weaker than the GET rule whose handler the framework runs."""
    head = {"method": "head", "path": "/orders/{orderId}", "public": True}

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"routes": [*ROUTES, head]})

    assert caught.value.field == f"routes[{len(ROUTES)}].method"
    assert "the GET rule of its path decides HEAD" in str(caught.value)
    assert "remove this rule" in str(caught.value)


def test_ambiguously_overlapping_routes_are_refused_naming_both() -> None:
    """Two routes one request can match, each more specific at one segment, are refused with
    both fields, the path they share and the fix (the framework could pick the other one)."""
    routes = [
        {
            "method": "GET",
            "path": "/{orderId}/cancel",
            "action": "CancelOrder",
            "resource": {"type": "Order", "id": "{orderId}"},
        },
        _public("GET", "/health"),
        _public("POST", "/catalog/{section}"),
        {
            "method": "GET",
            "path": "/catalog/{section}",
            "action": "ReadCatalog",
            "resource": {"type": "Catalog", "id": "{section}"},
        },
    ]

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"routes": routes})

    message = str(caught.value)
    assert caught.value.field == "routes[3].path"
    assert message.startswith("test-config.yaml: routes[3].path: expected ")
    assert "routes[0] (GET /{orderId}/cancel)" in message
    assert "routes[3] (GET /catalog/{section})" in message
    assert "both match GET /catalog/cancel" in message
    assert "declare it first in the app" in message.partition("; ")[2]


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        ("/{orderId}/cancel", "/catalog/{section}", "/catalog/cancel"),
        ("/catalog/{section}", "/{orderId}/cancel", "/catalog/cancel"),
        ("/a/{x}/c", "/{y}/b/c", "/a/b/c"),
        ("/a/{x}/{y}", "/{z}/b/c", "/a/b/c"),
        ("/{x}/b/{y}", "/a/{z}/{w}", "/a/b/{y}"),
    ],
)
def test_each_more_specific_somewhere_is_ambiguous(first: str, second: str, shared: str) -> None:
    """Neither route at least as specific at every segment: refused, whichever comes first."""
    routes = [_public("GET", first), _public("GET", second)]

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"routes": routes})

    assert caught.value.field == "routes[1].path"
    assert f"both match GET {shared}," in str(caught.value)


@pytest.mark.parametrize(
    ("first", "second", "request_path", "winner"),
    [
        ("/orders/special", "/orders/{id}", "/orders/special", 0),
        ("/orders/{id}", "/orders/special", "/orders/special", 1),
        ("/a/b/{c}", "/a/{x}/{y}", "/a/b/c", 0),
        ("/{a}/cancel", "/orders/cancel", "/orders/cancel", 1),
        ("/{x}/cancel", "/catalog/list", "/catalog/cancel", 0),
        ("/a/{x}", "/b/{y}", "/b/c", 1),
        ("/a/{x}", "/a/{x}/b", "/a/b", 0),
    ],
)
def test_nested_or_disjoint_routes_are_accepted(
    first: str, second: str, request_path: str, winner: int
) -> None:
    """One route at least as specific at every segment (it wins), or no shared path: kept."""
    routes = [_public("GET", first), _public("GET", second)]

    config = make_config(document={"routes": routes})
    match = Enforcer.from_config(config).routes.match("GET", request_path)

    assert match is not None
    assert match.rule.path == routes[winner]["path"]


def test_routes_of_different_methods_never_conflict() -> None:
    """The overlap check looks at rules of one method only, as the route table does."""
    routes = [_public("GET", "/{orderId}/cancel"), _public("POST", "/catalog/{section}")]

    config = make_config(document={"routes": routes})

    assert [rule.method for rule in config.routes] == ["GET", "POST"]


_SEGMENTS = st.sampled_from(["a", "b", None])


@settings(max_examples=300, deadline=None)
@given(
    first=st.lists(_SEGMENTS, min_size=1, max_size=3),
    second=st.lists(_SEGMENTS, min_size=1, max_size=3),
)
def test_a_loaded_table_has_one_most_specific_rule_for_every_path(
    first: list[str | None], second: list[str | None]
) -> None:
    """Checked against brute force: two templates load unless some path matches both and
    neither is at least as specific at every segment; loaded, the table picks the one that is."""

    def template(segments: list[str | None]) -> str:
        return "".join(
            f"/{{p{index}}}" if segment is None else f"/{segment}"
            for index, segment in enumerate(segments)
        )

    def dominates(mine: list[str | None], theirs: list[str | None]) -> bool:
        if len(mine) != len(theirs):
            return False
        pairs = zip(mine, theirs, strict=True)
        return all(literal is not None or other is None for literal, other in pairs)

    assume(first != second)
    routes = [_public("GET", template(first)), _public("GET", template(second))]
    paths = [
        "/" + "/".join(values)
        for values in itertools.product("abc", repeat=len(first))
        if len(first) == len(second)
        and all(part in {None, value} for part, value in zip(first, values, strict=True))
        and all(part in {None, value} for part, value in zip(second, values, strict=True))
    ]
    ambiguous = bool(paths) and not dominates(first, second) and not dominates(second, first)

    try:
        config = make_config(document={"routes": routes})
    except EnforcementConfigError:
        assert ambiguous
        return

    assert not ambiguous
    table = Enforcer.from_config(config).routes
    winner = template(first if dominates(first, second) else second)
    for path in paths:
        match = table.match("GET", path)
        assert match is not None
        assert match.rule.path == winner


def _tenant_order(id_template: str) -> list[dict[str, Any]]:
    return [
        _public("GET", "/health"),
        _public("GET", "/tenants"),
        {
            "method": "GET",
            "path": "/tenants/{t}/orders/{o}",
            "action": "GetOrder",
            "resource": {"type": "Order", "id": id_template},
        },
    ]


@pytest.mark.parametrize(
    "id_template", ["{t}-{o}", "{t}{o}", "{t}.{o}", "{t}:{o}", "x{t} {o}y", "{t}/x/{o}-{t}"]
)
def test_an_id_whose_placeholders_a_path_value_could_blur_is_refused(id_template: str) -> None:
    """Two placeholders apart by text a path value can hold would give two paths one id
    (`acme-corp` + `1` and `acme` + `corp-1`), so the template is refused with the fix."""
    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"routes": _tenant_order(id_template)})

    message = str(caught.value)
    assert caught.value.field == "routes[2].resource.id"
    assert message.startswith("test-config.yaml: routes[2].resource.id: expected ")
    assert "a path value can hold" in message
    assert "{tenantId}/{orderId}" in message.partition("; ")[2]


@pytest.mark.parametrize(
    ("id_template", "paths_and_ids"),
    [
        (
            "{t}/{o}",
            [
                ("/tenants/acme-corp/orders/1", "acme-corp/1"),
                ("/tenants/acme/orders/corp-1", "acme/corp-1"),
            ],
        ),
        (
            "tenant/{t}/order/{o}",
            [
                ("/tenants/a/orders/b", "tenant/a/order/b"),
                ("/tenants/b/orders/a", "tenant/b/order/a"),
            ],
        ),
        ("order-{o}", [("/tenants/a/orders/1", "order-1"), ("/tenants/a/orders/2", "order-2")]),
    ],
)
def test_ids_with_a_slash_between_placeholders_keep_paths_apart(
    id_template: str, paths_and_ids: list[tuple[str, str]]
) -> None:
    """A `/` between placeholders cannot come from a decoded segment, so each path keeps its id."""
    config = make_config(document={"routes": _tenant_order(id_template)})
    table = Enforcer.from_config(config).routes

    ids = []
    for path, _ in paths_and_ids:
        match = table.match("GET", path)
        assert match is not None
        ids.append(match.resource().id)

    assert ids == [expected for _, expected in paths_and_ids]


_ID_TEXT = st.sampled_from(["", "-", ".", "/", "a/", "-/-", "x"])


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.tuples(_ID_TEXT, st.sampled_from(["{t}", "{o}"])), min_size=1, max_size=3),
    tail=_ID_TEXT,
)
@example(pieces=[("", "{t}"), ("-", "{o}")], tail="")
def test_every_accepted_id_template_gives_each_pair_of_values_its_own_id(
    pieces: list[tuple[str, str]], tail: str
) -> None:
    """Exhaustively over short path values: values differing in a placeholder the template
    uses never share an id."""
    id_template = "".join(text + placeholder for text, placeholder in pieces) + tail
    try:
        config = make_config(document={"routes": _tenant_order(id_template)})
    except EnforcementConfigError:
        return
    table = Enforcer.from_config(config).routes
    values = [
        "".join(letters) for size in (1, 2) for letters in itertools.product("a-.", repeat=size)
    ]
    values = [value for value in values if value not in {".", ".."}]

    used = sorted({placeholder[1:-1] for _, placeholder in pieces})

    owners: dict[str, tuple[str, ...]] = {}
    for tenant, order in itertools.product(values, repeat=2):
        match = table.match("GET", f"/tenants/{tenant}/orders/{order}")
        assert match is not None
        owner = tuple(match.params[name] for name in used)
        assert owners.setdefault(match.resource().id, owner) == owner, id_template


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("identitySource", "leewaySeconds", 0.5),
        ("identitySource", "jwksCacheSeconds", 1.5),
        ("verifiedPermissions", "maxAttempts", 2.5),
        ("cache", "maxEntries", 1.5),
    ],
)
def test_counts_of_seconds_and_attempts_must_be_whole(section: str, key: str, value: float) -> None:
    """A fraction is refused, never cut down (a leeway of 0.5 s would silently be 0)."""
    body: dict[str, Any] = {section: {key: value}}
    if section == "identitySource":
        body[section] |= {"jwksUrl": "https://example.com/jwks", "issuer": "i", "clientIds": ["c"]}

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document=body)

    assert caught.value.field == f"{section}.{key}"
    assert "expected a whole number" in str(caught.value)
    assert f"found {value}" in str(caught.value)


def test_the_verified_permissions_block_is_checked_in_local_mode() -> None:
    """A bad setting fails where it is written, not first in production after a mode switch."""
    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"verifiedPermissions": {"maxAttempts": 0}})

    assert caught.value.field == "verifiedPermissions.maxAttempts"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", "an empty file"),
        ("# nothing\n", "an empty file"),
        ("[]\n", "an empty list"),
        ("[1]\n", "a list"),
    ],
)
def test_a_file_that_is_no_mapping_says_what_it_is(tmp_path: Path, text: str, found: str) -> None:
    """The error names what the file holds in words, not a Python type."""
    path = tmp_path / "pep.yaml"
    path.write_text(text)

    with pytest.raises(EnforcementConfigError) as caught:
        load_config(path, environment())

    assert f"found {found}" in str(caught.value)
    assert "Type" not in str(caught.value)


@pytest.mark.parametrize(
    ("route", "fix"),
    [
        ({"method": "TRACE", "path": "/x", "public": True}, "use one of them"),
        ({"method": "GET", "path": "/x/{a}.json", "public": True}, "a whole segment"),
        (
            {
                "method": "GET",
                "path": "/x",
                "action": "Get Order",
                "resource": ROUTES[0]["resource"],
            },
            "such as GetOrder",
        ),
        (
            {
                "method": "GET",
                "path": "/x",
                "action": "A",
                "resource": {"type": "Or der", "id": "1"},
            },
            "such as Order",
        ),
    ],
)
def test_a_bad_route_says_how_to_fix_it(route: dict[str, Any], fix: str) -> None:
    """Route errors end with the fix, as every other config error does."""
    with pytest.raises(EnforcementConfigError, match=fix):
        make_config(document={"routes": [*ROUTES, route]})


def test_a_repeated_route_says_to_remove_one() -> None:
    """The second of two equal routes is named with the first, and the fix."""
    with pytest.raises(EnforcementConfigError, match="remove one of the two"):
        make_config(document={"routes": [*ROUTES, ROUTES[0]]})


@pytest.mark.parametrize(("service", "found"), [({"a": 1}, "a JSON object"), ([1], "a JSON array")])
def test_caller_roles_name_a_wrong_value_in_json_terms(service: Any, found: str) -> None:
    """A service name given as an object or array is shown as what JSON calls it."""
    roles = json.dumps({"arn:aws:iam::111122223333:role/frontend-task": service})

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(env={"LATTICEWORK_CALLER_ROLES": roles})

    assert f"found {found}" in str(caught.value)


def test_a_role_given_twice_is_named_with_its_partition_account_and_name() -> None:
    """Roles are told apart by partition, account and name, so the error names all three."""
    roles = (
        '{"arn:aws-cn:iam::111122223333:role/p1/a": "x", '
        '"arn:aws-cn:iam::111122223333:role/p2/a": "y"}'
    )

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(env={"LATTICEWORK_CALLER_ROLES": roles})

    assert "(partition aws-cn, account 111122223333, role a)" in str(caught.value)


def test_a_directory_as_the_config_file_is_named_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory is not said to be missing: it is there, and it is not a file."""
    with pytest.raises(EnforcementConfigError, match="is a directory, not a file"):
        Enforcer.from_environment(environment(LATTICEWORK_PEP_CONFIG=str(tmp_path)))


def test_a_route_may_end_in_a_slash() -> None:
    """`/reports/` (as Flask and FastAPI apps declare some routes) is its own route; the path
    without the slash is not it."""
    reports = {
        "method": "GET",
        "path": "/reports/{year}/",
        "action": "A",
        "resource": ROUTES[0]["resource"] | {"id": "{year}"},
    }

    table = RouteTable(make_config(document={"routes": [*ROUTES, reports]}).routes)

    match = table.match("GET", "/reports/2026/")
    assert match is not None
    assert match.params == {"year": "2026"}
    assert table.match("GET", "/reports/2026") is None


@pytest.mark.parametrize("path", ["/reports//", "/reports//x", "//"])
def test_an_empty_segment_before_the_end_is_refused(path: str) -> None:
    """Only the last segment may be empty: `//` inside a path is refused."""
    route = {"method": "GET", "path": path, "public": True}

    with pytest.raises(EnforcementConfigError, match="no empty segment"):
        make_config(document={"routes": [*ROUTES, route]})


def test_a_bad_namespace_says_what_a_namespace_looks_like() -> None:
    """The namespace error describes a Cedar namespace and the fix, not a regular expression."""
    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document={"namespace": "Lattice work"})

    message = str(caught.value)
    assert caught.value.field == "namespace"
    assert "expected a Cedar namespace such as Latticework" in message
    assert "found Lattice work; " in message
    assert "[A-Za-z" not in message


@pytest.mark.parametrize(
    ("document", "field", "found"),
    [
        ({"routes": None}, "routes", "found nothing;"),
        ({"routes": []}, "routes", "found an empty list;"),
        ({"routes": {"a": 1}}, "routes", "found a mapping;"),
        ({"routes": [{"method": "GET", "path": "/x", "public": None}]}, "routes[0].public", "null"),
        ({"requestContext": ["sourceIp", "userAgent"]}, "requestContext", "found userAgent"),
        ({"requestContext": ["sourceIp", None]}, "requestContext[1]", "found null"),
        ({"requestContext": "sourceIp"}, "requestContext", "found the string 'sourceIp'"),
    ],
)
def test_what_was_found_is_told_in_yaml_terms(
    document: dict[str, Any], field: str, found: str
) -> None:
    """A bad value is shown as YAML writes it or by its kind, never as a Python repr."""
    body = {"routes": ROUTES, "local": {"authzDir": str(FIXTURE_AUTHZ)}} | document

    with pytest.raises(EnforcementConfigError) as caught:
        make_config(document=body)

    assert caught.value.field == field
    assert found in str(caught.value)
