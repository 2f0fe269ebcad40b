"""Tests for the one detector of secret-looking names and values."""

from __future__ import annotations

import base64
import time

import pytest

from components import secret_patterns
from components.secret_patterns import (
    AWS_ACCESS_KEY,
    BEARER_TOKEN,
    HEX_KEY,
    JWT_TOKEN,
    PEM_PRIVATE_KEY,
    QUERY_CREDENTIAL,
    SECRET_NAME_WITH_VALUE,
    URL_WITH_PASSWORD,
    USERINFO_WITH_PASSWORD,
    VENDOR_TOKEN,
    SecretMatch,
    classify_setting,
    classify_variable,
    compile_name_patterns,
    is_reference_or_plain,
    is_safe_to_quote,
    is_secret_name,
    match_secret_value,
    name_words,
)

# Built from pieces so no scanner mistakes this test file for a leaked key.
FAKE_ACCESS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
FAKE_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0In0." + "c2lnbmF0dXJlLWJ5dGVz"
FAKE_BASIC = base64.b64encode(b"admin:hunter2").decode()
FAKE_HEX = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (FAKE_ACCESS_KEY, AWS_ACCESS_KEY),
        ("ASIA" + "Y34FZKBOKMUTVV7A", AWS_ACCESS_KEY),
        (f"-Daws.key={FAKE_ACCESS_KEY} -Xmx512m", AWS_ACCESS_KEY),
        (FAKE_PEM, PEM_PRIVATE_KEY),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==", PEM_PRIVATE_KEY),
        ("-----BEGIN PRIVATE KEY-----", PEM_PRIVATE_KEY),
        ("postgres://orders:s3cr3t-pw@db.internal:5432/orders", URL_WITH_PASSWORD),
        ("https://user:pass@example.com/", URL_WITH_PASSWORD),
        ("amqp://guest:guest@rabbit/", URL_WITH_PASSWORD),
        ("jdbc:postgresql://db:5432/orders?user=orders&password=s3cr3t", QUERY_CREDENTIAL),
        ("Server=db;Database=orders;Pwd=s3cr3t", QUERY_CREDENTIAL),
        (FAKE_JWT, JWT_TOKEN),
        ("Bearer abcdef0123456789abcdefXYZ", BEARER_TOKEN),
        (f"Basic {FAKE_BASIC}", BEARER_TOKEN),
        ("ghp_" + "a" * 36, VENDOR_TOKEN),
        ("xoxb-" + "1234567890-abcdefghij", VENDOR_TOKEN),
        ("sk_live_" + "abcdefghijklmnop1234", VENDOR_TOKEN),
        (FAKE_HEX, HEX_KEY),
        ("0123456789ABCDEF0123456789ABCDEF", HEX_KEY),
    ],
)
def test_secret_values_are_detected_under_any_name(value: str, expected: SecretMatch) -> None:
    """A credential-shaped value is reported with its kind whatever the variable is called."""

    match = classify_variable("SOME_SETTING", value)

    assert match == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "info",
        "8080",
        "0.25",
        "true",
        "OFF",
        "https://orders.example.com/api",
        "redis://cache.internal:6379/0",
        "https://user@example.com/",
        "postgres://orders:${DB_PASSWORD}@db/orders",
        "https://api.example.com/v1?token=${API_TOKEN}",
        "https://example.com/search?q=password",
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:latticework/dev/orders/db-AbCdEf",
        "/latticework/dev/orders/database",
        "Bearer authentication-required",
        "basic authentication",
        "12345678901234567890123456789012345",
        "eu-west-1",
    ],
)
def test_plain_values_under_plain_names_are_not_secrets(value: str) -> None:
    """Settings, public URLs, ARNs, paths, numbers and prose are no finding under a plain name."""

    match = classify_variable("SOME_SETTING", value)

    assert match is None


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "dbPassword",
        "API_KEY",
        "apiKey",
        "APIKey",
        "CLIENT_SECRET",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "SIGNING_KEY",
        "passwd",
        "SERVICE_CREDENTIALS",
        "private-key",
    ],
)
def test_secret_like_names_are_recognised(name: str) -> None:
    """Names that say they hold a password, key, token or credential are secret-like."""

    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "LOG_LEVEL",
        "LATTICEWORK_SECRET_DATABASE_ARN",
        "DB_PASSWORD_FILE",
        "AWS_ACCESS_KEY_ID",
        "TOKEN_TTL",
        "PASSWORD_POLICY",
        "CACHE_KEY",
        "KEYBOARD_LAYOUT",
        "BYPASS_CACHE",
        "TOKEN_ENDPOINT",
        "PASSWORD_REQUIRED",
        "passwordRequired",
        "skipCredentialsValidation",
        "sharedCredentialsFiles",
        "tokenBucketRateLimiterCapacity",
        "",
    ],
)
def test_names_that_describe_secrets_or_are_plain_are_not_secret_like(name: str) -> None:
    """References (`*_ARN`, `*_FILE`, `*_ID`), settings about secrets and plain names pass."""

    assert not is_secret_name(name)


@pytest.mark.parametrize(
    "value",
    [
        "hunter2",
        "Tr0ub4dor&3",
        "correct horse battery staple",
        "s3cr3t/Value",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ],
)
def test_real_values_under_secret_names_are_findings(value: str) -> None:
    """A secret-like name with a real value is reported without repeating the value."""

    match = classify_variable("DB_PASSWORD", value)

    assert match == SECRET_NAME_WITH_VALUE
    assert value not in match.description
    assert value not in repr(match)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_PASSWORD", ""),
        ("DB_PASSWORD", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf"),
        ("DB_PASSWORD", "/run/secrets/db-password"),
        ("DB_PASSWORD", "latticework/dev/orders/database"),
        ("API_TOKEN", "{{resolve:secretsmanager:latticework/dev/orders/api}}"),
        ("API_TOKEN", "${API_TOKEN}"),
        ("SECRET_ROTATION_ENABLED", "true"),
        ("ENABLE_SECRETS", "false"),
        ("AUTH_TOKEN", "https://auth.example.com/token"),
        ("API_KEY", "/latticework/dev/orders/api-key"),
        ("DB_PASSWORD_FILE", "./secrets/db"),
    ],
)
def test_references_under_secret_names_are_not_findings(name: str, value: str) -> None:
    """ARNs, SSM paths, secret names, placeholders, booleans and URLs are references."""

    match = classify_variable(name, value)

    assert match is None


@pytest.mark.parametrize(
    ("name", "value", "described"),
    [
        ("API_TOKEN", "987654321987", "a number of 12 digits"),
        ("DB_PASSWORD", "12345678", "a number of 8 digits"),
    ],
)
def test_long_numbers_under_secret_names_are_findings(
    name: str, value: str, described: str
) -> None:
    """A numeric token is still the secret: eight digits or more under a name that says it
    holds a secret is reported, by its length, never its digits."""
    match = classify_variable(name, value)

    assert match is not None
    assert match.kind == SECRET_NAME_WITH_VALUE.kind
    assert match.description.startswith(f"{described} under a name")
    assert value not in match.description


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_SECRET", "42"),
        ("MAX_TOKENS", "4096"),
        ("JWT_TOKEN_EXPIRY_MINUTES", "15"),
        ("PASSWORD_HASH_ROUNDS", "12"),
        ("SESSION_TOKEN_LIFETIME", "900"),
        ("SECRETS_REFRESH_INTERVAL", "300"),
        ("TOKEN_LIMIT", "1048576"),
        ("DB_PASSWORD", "-1.5e3"),
    ],
)
def test_short_numbers_under_secret_like_names_are_settings(name: str, value: str) -> None:
    """Limits, counts and durations are numbers of fewer than eight digits under names that
    mention tokens or secrets; they are settings, not secrets."""
    assert classify_variable(name, value) is None


def test_hex_digests_under_digest_names_are_not_keys() -> None:
    """A long hex value named as a commit or digest is a revision, not a key."""

    assert classify_variable("GIT_COMMIT_SHA", FAKE_HEX) is None
    assert classify_variable("IMAGE_DIGEST", FAKE_HEX) is None


def test_digest_exemption_does_not_override_a_secret_name() -> None:
    """A secret-like name with a hex value stays a finding even when it also says digest."""

    match = classify_variable("SIGNING_KEY_SHA", FAKE_HEX)

    assert match == SECRET_NAME_WITH_VALUE


def test_extra_name_patterns_extend_the_secret_names() -> None:
    """A configured pattern makes an otherwise plain name secret-like, case-insensitively."""
    patterns = compile_name_patterns([r"^license_", r"pin$"])

    assert classify_variable("LICENSE_BLOB", "abc-def-ghi", extra_name_patterns=patterns) == (
        SECRET_NAME_WITH_VALUE
    )
    assert classify_variable("CARD_PIN", "abcd", extra_name_patterns=patterns) is not None
    assert classify_variable("LICENSE_BLOB", "abc-def-ghi") is None


def test_invalid_extra_name_pattern_is_a_clear_error() -> None:
    """A pattern that is not a regular expression is rejected with the pattern named."""

    with pytest.raises(ValueError, match=r"secret-name pattern '\(unclosed'"):
        compile_name_patterns(["(unclosed"])


def test_value_patterns_do_not_depend_on_reference_rules() -> None:
    """A URL with a password is a finding even though other URLs are plain."""

    assert match_secret_value("https://a:b@host/") == URL_WITH_PASSWORD
    assert not is_reference_or_plain("https://a:b@host/")
    assert is_reference_or_plain("https://host/")


def test_name_words_split_snake_kebab_and_camel_case() -> None:
    """Names are split into words the same way whatever their case convention."""

    assert name_words("dbPassword") == ("DB", "PASSWORD")
    assert name_words("APIKey") == ("API", "KEY")
    assert name_words("aws-secret_access.KEY2") == ("AWS", "SECRET", "ACCESS", "KEY", "2")


def test_module_has_no_pulumi_dependency() -> None:
    """The detector is importable by the spec loader and the pack without the Pulumi SDK."""

    source = secret_patterns.__file__

    with open(source, encoding="utf-8") as module_file:
        text = module_file.read()
    assert "import pulumi" not in text


@pytest.mark.parametrize(
    "value",
    [
        "postgres://orders:Zx9/kP+q2w==@db.internal:5432/orders",
        "redis://:a/b/c@cache.internal:6379/0",
        "mongodb://orders:pw/34+x@mongo/orders?tls=true",
    ],
)
def test_url_password_containing_a_slash_is_detected(value: str) -> None:
    """Base64-generated passwords often hold `/`; the URL still embeds a credential."""

    match = classify_variable("DATABASE_URL", value)

    assert match == URL_WITH_PASSWORD


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com:8443/users/@me",
        "https://cdn.example.com:443/@scope/package",
        "http://proxy.internal:3128",
    ],
)
def test_url_with_a_port_and_an_at_sign_in_its_path_is_not_a_password(value: str) -> None:
    """A port followed by a path that contains `@` is a public URL, not user:password@."""

    match = classify_variable("PUBLIC_URL", value)

    assert match is None


@pytest.mark.parametrize("name", ["DB_PASS", "redisPass", "PGPASSWORD", "MYSQL_ROOT_PASS"])
def test_common_short_password_names_are_secret_like(name: str) -> None:
    """`*_PASS` and libpq's `PGPASSWORD` name passwords as surely as `*_PASSWORD` does."""

    assert is_secret_name(name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Token 9f8e7d6c5b4a39281706f5e4d3c2b1a0", BEARER_TOKEN),
        ("DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abcDEF123+/=", QUERY_CREDENTIAL),
        ("Endpoint=sb://x/;SharedAccessKeyName=r;SharedAccessKey=abcDEF123=", QUERY_CREDENTIAL),
        ("https://x.blob.core.windows.net/c?sv=2024-01-01&sig=abcDEF123%2B", QUERY_CREDENTIAL),
    ],
)
def test_token_scheme_and_cloud_connection_string_keys_are_detected(
    value: str, expected: SecretMatch
) -> None:
    """`Token <t>` headers, storage account keys and SAS signatures are credentials."""

    match = classify_variable("SOME_SETTING", value)

    assert match == expected


@pytest.mark.parametrize(
    "value",
    [
        "ab" * 50_000,
        "a://b:" * 15_000,
        "x" * 50_000 + "://u:p",
        "=a:" * 30_000,
        " u:" * 30_000 + "@",
    ],
)
def test_long_values_are_classified_in_linear_time(value: str) -> None:
    """A 100 kB value takes milliseconds, not minutes: no pattern backtracks quadratically."""
    # NOTE: a complexity guard, not a speed target: the quadratic patterns took minutes here.
    started = time.perf_counter()

    classify_variable("SOME_SETTING", value)

    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    "name",
    [
        "MYSQLPASSWORD",
        "mysqlpassword",
        "ADMINPASSWORD",
        "DBPASSWD",
        "GPGPASSPHRASE",
        "APPSECRET",
        "GITHUBTOKEN",
        "OAUTHTOKENS",
        "DBCREDENTIALS",
        "STRIPEAPIKEY",
        "JWTPRIVATEKEY",
        "TOKENIZER_API_TOKEN",
        "PASSWORDPOLICY",
    ],
)
def test_strong_secret_words_count_without_separators(name: str) -> None:
    """PASSWORD, SECRET, TOKEN and their kin name a secret wherever they sit in the name."""

    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "MONKEY",
        "TURNKEY_MODE_X",
        "KEYBOARD_LAYOUT",
        "TOKENIZER",
        "TOKENISATION",
        "SECRETARY",
        "PASSWORDLESS_CONNECTION",
        "AUTH_PASSWORDLESS_PROVIDER",
        "SECRETSMANAGER_HOST",
        "SECRETION_RATE",
        "CREDENTIALING_BODY",
    ],
)
def test_weak_words_and_lookalikes_stay_plain(name: str) -> None:
    """KEY counts only as a word of its own, and words that merely contain a strong one
    (TOKENIZER, SECRETARY, PASSWORDLESS, SECRETSMANAGER, ...) name no secret."""

    assert not is_secret_name(name)


@pytest.mark.parametrize(
    "value",
    [
        "admin:hunter2xyz@db:5432/app",
        "user:hunter2xyz@registry.example.com/a:1.0",
        "orders:Zx9/kP+q2w==@db.internal:5432/orders",
        "deploy:pa:ss@db",
        ":hunter2xyz@cache.internal:6379",
        "--dsn admin:hunter2xyz@db/app",
        "DSN=admin:hunter2xyz@db/app",
    ],
)
def test_user_password_without_a_scheme_is_a_credential(value: str) -> None:
    """A scheme-less `user:password@host` (a DSN, a registry login) embeds a credential."""

    match = classify_variable("SOME_SETTING", value)

    assert match == USERINFO_WITH_PASSWORD
    assert "hunter2xyz" not in repr(match)


@pytest.mark.parametrize(
    "value",
    [
        "ops@example.com",
        "mailto:ops@example.com",
        "git@github.com:latticework/orders.git",
        "nginx:1.27@sha256:" + "a" * 64,
        "localhost:5000/orders@sha256:" + "0" * 64,
        "ghcr.io/latticework/orders:1.0.0@sha256:" + "0" * 64,
        "arn:aws:sts::111122223333:assumed-role/support/jane@example.com",
        "orders:${DB_PASSWORD}@db:5432/orders",
        "orders:@db",
        "example.com:8443/users/@me",
    ],
)
def test_at_signs_that_carry_no_password_are_not_credentials(value: str) -> None:
    """E-mail addresses, SSH remotes, image digests, ARNs and placeholders are no credential."""

    assert match_secret_value(value) is None


@pytest.mark.parametrize(
    ("text", "quotable"),
    [
        ("public.ecr.aws/latticework/orders", True),
        ("ops@example.com", True),
        ("'90'", True),
        (FAKE_ACCESS_KEY, False),
        ("registry.example.com/user:hunter2xyz@a:1.0", False),
        ("['admin:hunter2xyz@db']", False),
        ("ops:hunter2xyz@", False),
    ],
)
def test_only_text_that_cannot_hold_a_password_is_safe_to_quote(text: str, quotable: bool) -> None:
    """Credentials, and any word with a `:` before an `@`, are never quoted in a message."""

    assert is_safe_to_quote(text) is quotable


@pytest.mark.parametrize(
    ("name", "value", "description"),
    [
        ("secretKey", 987654321987, "a number of 12 digits under a name that says it holds"),
        ("dbPassword", "987654321987", "a number of 12 digits under a name that says it holds"),
        ("dbPassword", "hunter2-horse", "a plain value under a name that says it holds"),
        ("note", FAKE_ACCESS_KEY, "AWS access key id"),
    ],
)
def test_a_setting_under_a_secret_name_is_a_finding_whatever_its_type(
    name: str, value: object, description: str
) -> None:
    """A stack setting named like a secret holds the secret itself: a long number there
    (typed or quoted) is a finding, described without its value."""

    match = classify_setting(name, value)

    assert match is not None
    assert description in match.description
    assert str(value) not in match.description


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("dbPassword", None),
        ("dbPassword", ""),
        ("dbPassword", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf"),
        ("apiTokenTtl", 3600),
        ("passwordRequired", True),
        ("region", 12),
        ("maxItems", "50"),
        ("API_TOKEN", 12.5),
        ("dbPassword", True),
        ("HasSecrets", "true"),
        ("secret", "false"),
        ("token-count", "5"),
        ("TokenBudget", "100"),
    ],
)
def test_references_and_settings_that_are_no_secret_pass_as_settings(
    name: str, value: object
) -> None:
    """Nothing, references, booleans, short numbers and numbers under names that hold no
    secret pass: a tag such as TokenBudget: "100" is a setting."""

    assert classify_setting(name, value) is None
