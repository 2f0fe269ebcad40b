"""The one detector of secret-looking variable names and values.

The spec loader uses it to reject plain catalog environment values that look secret, and the
CrossGuard pack uses it on ECS container definitions, so both draw the line in one place.

Two questions are answered:

- does a *value* look like a credential whatever its name? (AWS access key ids, PEM private
  keys, ``user:password@`` in a URL or a scheme-less DSN, a ``password=`` parameter, bearer
  tokens, JWT-like tokens, well-known API token prefixes, long hex keys);
- does a *name* say it holds a secret (``DB_PASSWORD``, ``apiKey``, ``CLIENT_SECRET``) while
  its value is a real value rather than a reference?

References are never findings: ARNs, SSM parameter paths and other absolute paths (including
the ``*_FILE`` convention), Secrets Manager secret names such as
``latticework/dev/orders/database``, ``{{resolve:...}}`` and ``${...}`` placeholders,
booleans, numbers of fewer than `SECRET_NUMBER_DIGITS` digits, URLs without a password, and
empty values. Under a name that says it holds a secret (`API_TOKEN`, `aws:secretKey`), a
longer number is the secret itself, quoted or not.

Every function here is pure. A result describes *what kind* of secret a value looks like and
never carries the value itself, so it is safe to put in an error message or a report.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

# --- values that look like credentials under any name ------------------------------------

_AWS_ACCESS_KEY_ID: Final = re.compile(
    r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])"
)
_PEM_PRIVATE_KEY: Final = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
# scheme://user:password@host; an empty password or a `${...}` placeholder is no credential.
# The password may hold `/` (base64); `host:8443/path/@x` is a port, not a password. The
# scheme starts at a word boundary and the parts are bounded, so a search stays linear.
_URL_WITH_PASSWORD: Final = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/\s:@]{0,256}:(?!\$\{)"
    r"(?![0-9]*(?:[/?#]|$))[^\s@]{1,256}@[^\s/@]"
)
# user:password@host without a scheme: a DSN (`admin:pw@db:5432/app`) or a registry login.
# It starts the value or follows a space, `=`, `,`, `;`, a quote or `(`; the password may hold
# `/` and `:`. Not a credential: `mailto:`/`sip:`/`xmpp:` addresses, ARNs and URNs (a role
# session named after an e-mail address), `host:port/...@`, and an image digest after the `@`.
_USERINFO_WITH_PASSWORD: Final = re.compile(
    r"(?<![^\s=,;\"'(])(?!(?i:mailto|sips?|xmpp|arn|urn):)[^\s/:@=,;\"'(]{0,256}:(?!\$\{)"
    r"(?![0-9]*(?:[/?#]|$))[^\s@]{1,256}@"
    r"(?![A-Za-z0-9]+(?:[+._-][A-Za-z0-9]+)*:[0-9A-Fa-f]{32,})[A-Za-z0-9\[]"
)
# `Authorization: Bearer <t>`, and the `Token <t>` scheme some APIs use.
_BEARER_TOKEN: Final = re.compile(r"(?i)\b(?:bearer|token)\s+([A-Za-z0-9._~+/=-]{16,})")
_BASIC_CREDENTIALS: Final = re.compile(r"(?i)\bbasic\s+([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")
# `?password=...` and friends in a connection string or URL query.
_QUERY_CREDENTIAL: Final = re.compile(
    r"(?i)[?&;](?:password|passwd|pwd|secret|token|access_token|api_key|apikey|client_secret"
    r"|accountkey|sharedaccesskey|sig)"
    r"=(?!\$\{)[^&;\s]+"
)
_JWT_LIKE: Final = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
)
_VENDOR_TOKEN: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk_live_[A-Za-z0-9]{16,}|AIza[A-Za-z0-9_-]{35})"
)
_LONG_HEX: Final = re.compile(r"[0-9a-fA-F]{32,}")

# Names whose long hex values are digests or revisions, not keys.
_DIGEST_TOKENS: Final = frozenset({"SHA", "COMMIT", "DIGEST", "CHECKSUM", "HASH", "REVISION"})

# --- names that say they hold a secret ---------------------------------------------------

# Words that name a secret wherever they sit, so `MYSQLPASSWORD` and `githubToken` count as
# surely as `DB_PASSWORD`: they are searched for in the upper-cased name, separators or not.
_STRONG_SECRET_WORDS: Final = (
    "APIKEY",
    "CREDENTIAL",
    "PASSPHRASE",
    "PASSWD",
    "PASSWORD",
    "PRIVATEKEY",
    "SECRET",
    "TOKEN",
)
# Words that contain a strong word but name no secret; removed before the search, so
# `TOKENIZER_MODEL` is plain while `TOKENIZER_API_TOKEN` is still a secret. (SECRETSMANAGER
# names the service; PASSWORDLESS a way to sign in without one.)
_LOOKALIKE_WORDS: Final = re.compile(
    r"TOKENI[SZ](?:E|AT|ING)|SECRETAR(?:Y|IAT)|SECRETSMANAGER|SECRETION|"
    r"PASSWORDLESS|CREDENTIALING"
)
# Short words that name a secret only as a word of their own: `DB_PASS`, not `BYPASS`.
_SECRET_TOKENS: Final = frozenset({"CREDS", "PASS", "PWD"})
_SECRET_TOKEN_PAIRS: Final = frozenset(
    {
        ("ACCESS", "KEY"),
        ("API", "KEY"),
        ("AUTH", "KEY"),
        ("CLIENT", "SECRET"),
        ("ENCRYPTION", "KEY"),
        ("HMAC", "KEY"),
        ("MASTER", "KEY"),
        ("PRIVATE", "KEY"),
        ("SESSION", "KEY"),
        ("SHARED", "KEY"),
        ("SIGNING", "KEY"),
    }
)
# A last word that makes the variable *describe* a secret rather than hold one:
# `DB_PASSWORD_FILE`, `LATTICEWORK_SECRET_DATABASE_ARN`, `TOKEN_TTL`, `AWS_ACCESS_KEY_ID`.
_DESCRIPTOR_TOKENS: Final = frozenset(
    {
        "ALGORITHM",
        "ARN",
        "AUDIENCE",
        "CAPACITY",
        "DAYS",
        "ENABLED",
        "ENDPOINT",
        "EXPIRY",
        "FILE",
        "FILES",
        "FORMAT",
        "HEADER",
        "ID",
        "ISSUER",
        "LENGTH",
        "MODE",
        "NAME",
        "PARAM",
        "PARAMETER",
        "PATH",
        "POLICY",
        "PREFIX",
        "REF",
        "REGION",
        "REQUIRED",
        "ROTATION",
        "SECONDS",
        "STAGE",
        "TIMEOUT",
        "TTL",
        "TYPE",
        "URL",
        "VALIDATION",
        "VERSION",
    }
)
_NAME_WORDS: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# --- values that are references or plainly not secret ------------------------------------

_ARN: Final = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:\S+")
_ABSOLUTE_PATH: Final = re.compile(r"(?:/|\./|~/)[A-Za-z0-9_.+=@/-]*")
# NOTE: a Secrets Manager name is told from a password by shape only: two or more lowercase
# path segments (`latticework/dev/orders/database`). A lowercase password containing `/`
# would pass as a name; mixed case, spaces or punctuation do not.
_SECRET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.+=@-]*(?:/[a-z0-9][a-z0-9_.+=@-]*)+")
_PLACEHOLDER: Final = re.compile(r"\{\{resolve:[^}]+\}\}|\$\{[^}]+\}")
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLEANS: Final = frozenset({"true", "false", "yes", "no", "on", "off"})
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")

#: Environment variables that hold static AWS credentials; next to a task role they shadow it.
AWS_CREDENTIAL_VARIABLES: Final = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
)


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """What a variable looks like: a stable `kind` id and a description safe to print.

    Neither field ever contains the value that was inspected.
    """

    kind: str
    description: str


AWS_ACCESS_KEY: Final = SecretMatch(
    "aws-access-key", "a value that looks like an AWS access key id"
)
PEM_PRIVATE_KEY: Final = SecretMatch("pem-private-key", "a value that contains a PEM private key")
URL_WITH_PASSWORD: Final = SecretMatch(
    "url-with-password", "a URL that embeds a user name and password"
)
USERINFO_WITH_PASSWORD: Final = SecretMatch(
    "userinfo-with-password",
    "a value that embeds a user name and password (user:password@host)",
)
QUERY_CREDENTIAL: Final = SecretMatch(
    "query-credential", "a URL or connection string that carries a credential parameter"
)
BEARER_TOKEN: Final = SecretMatch("bearer-token", "a value that looks like an authorization token")
JWT_TOKEN: Final = SecretMatch("jwt-token", "a value that looks like a JSON Web Token")
VENDOR_TOKEN: Final = SecretMatch("api-token", "a value that looks like a vendor API token")
HEX_KEY: Final = SecretMatch("hex-key", "a value that looks like a long hexadecimal key")
SECRET_NAME_WITH_VALUE: Final = SecretMatch(
    "secret-like-name", "a plain value under a name that says it holds a secret"
)
#: Under a secret-like name, a number of this many digits or more is taken for the secret.
SECRET_NUMBER_DIGITS: Final = 8
#: The same words, for findings that say what the value is instead of "a plain value".
_UNDER_NAME: Final = SECRET_NAME_WITH_VALUE.description.removeprefix("a plain value ")


def name_words(name: str) -> tuple[str, ...]:
    """Split a variable name into upper-cased words (`dbPassword` -> `DB`, `PASSWORD`)."""
    return tuple(word.upper() for word in _NAME_WORDS.findall(name))


def compile_name_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """Compile extra secret-name patterns (regular expressions, case-insensitive).

    Raises `ValueError` naming the pattern that does not compile.
    """
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            message = f"secret-name pattern {pattern!r} is not a valid regular expression: {exc}"
            raise ValueError(message) from exc
    return tuple(compiled)


def is_secret_name(name: str, extra_patterns: Sequence[re.Pattern[str]] = ()) -> bool:
    """Whether a variable name says it holds a secret.

    PASSWORD, PASSWD, PASSPHRASE, SECRET, TOKEN, CREDENTIAL, APIKEY and PRIVATEKEY count
    anywhere in the name, in any case (`MYSQLPASSWORD`, `githubToken`), except inside
    TOKENIZE/TOKENISE and SECRETARY/SECRETARIAT. PASS, PWD and CREDS count only as words of
    their own, KEY only after ACCESS, API, PRIVATE, SIGNING, ... (`API_KEY`, not `MONKEY`).
    A name whose last word describes the secret (`*_ARN`, `*_FILE`, `*_ID`, `*_TTL`, ...) is
    not secret-like: its value is a reference or a setting. `extra_patterns` (from
    `compile_name_patterns`) match anywhere in the name and win over that rule.
    """
    if any(pattern.search(name) for pattern in extra_patterns):
        return True

    words = name_words(name)
    if not words or words[-1] in _DESCRIPTOR_TOKENS:
        return False

    upper_name = _LOOKALIKE_WORDS.sub(" ", name.upper())
    if any(word in upper_name for word in _STRONG_SECRET_WORDS):
        return True
    if any(word in _SECRET_TOKENS for word in words):
        return True
    return any(pair in _SECRET_TOKEN_PAIRS for pair in pairwise(words))


def match_secret_value(value: str, *, name: str = "") -> SecretMatch | None:
    """What kind of credential `value` looks like under any name, or None.

    `name` only exempts long hex digests (`GIT_SHA`, `IMAGE_DIGEST`) from the hex-key rule.
    """
    stripped = value.strip()
    if not stripped:
        return None

    if _PEM_PRIVATE_KEY.search(stripped):
        return PEM_PRIVATE_KEY
    if _AWS_ACCESS_KEY_ID.search(stripped):
        return AWS_ACCESS_KEY
    if _URL_WITH_PASSWORD.search(stripped):
        return URL_WITH_PASSWORD
    if _USERINFO_WITH_PASSWORD.search(stripped):
        return USERINFO_WITH_PASSWORD
    if _QUERY_CREDENTIAL.search(stripped):
        return QUERY_CREDENTIAL
    if _JWT_LIKE.search(stripped):
        return JWT_TOKEN
    if _is_bearer_token(stripped) or _is_basic_credentials(stripped):
        return BEARER_TOKEN
    if _VENDOR_TOKEN.search(stripped):
        return VENDOR_TOKEN

    is_digest = any(word in _DIGEST_TOKENS for word in name_words(name))
    if _LONG_HEX.fullmatch(stripped) and not stripped.isdigit() and not is_digest:
        return HEX_KEY
    return None


def is_safe_to_quote(text: str) -> bool:
    """Whether an error message may quote `text` to show what was found.

    False when it looks like a credential, and, broader than any finding, when a word of it
    has a `:` before an `@` as `user:password@host` does (`registry/user:pw@name:1.0`): a
    refused value is only quoted to help, so one that might carry a password is described.
    """
    if match_secret_value(text) is not None:
        return False
    return not any(":" in word[: word.rfind("@")] for word in text.split() if "@" in word)


def _is_bearer_token(value: str) -> bool:
    # A real token mixes letters and digits; `Bearer authentication-required` does not.
    for match in _BEARER_TOKEN.finditer(value):
        token = match.group(1)
        if any(char.isdigit() for char in token) and any(char.isalpha() for char in token):
            return True
    return False


def _is_basic_credentials(value: str) -> bool:
    # `Basic <base64 of user:password>`; `Basic realm` or `basic auth` decode to no colon.
    for match in _BASIC_CREDENTIALS.finditer(value):
        try:
            decoded = base64.b64decode(match.group(1), validate=True)
        except (binascii.Error, ValueError):
            continue
        if b":" in decoded:
            return True
    return False


def is_reference_or_plain(value: str) -> bool:
    """Whether a value is a reference or a setting rather than a secret.

    True for empty values, numbers (`classify_variable` judges long ones under secret names
    first), booleans, ARNs, absolute paths (SSM parameters, files),
    Secrets Manager secret names, `{{resolve:...}}` / `${...}` placeholders, and URLs that
    carry no password. Callers check `match_secret_value` first: a URL with a password is
    never plain.
    """
    stripped = value.strip()
    if not stripped or stripped.lower() in _BOOLEANS or _NUMBER.fullmatch(stripped):
        return True

    if _PLACEHOLDER.fullmatch(stripped) or _ARN.fullmatch(stripped):
        return True
    if _URL.fullmatch(stripped) and not _URL_WITH_PASSWORD.search(stripped):
        return True
    return bool(_ABSOLUTE_PATH.fullmatch(stripped) or _SECRET_NAME.fullmatch(stripped))


def classify_variable(
    name: str, value: str, *, extra_name_patterns: Sequence[re.Pattern[str]] = ()
) -> SecretMatch | None:
    """Whether an environment variable holds a plaintext secret, and what kind.

    A secret-looking value is a finding under any name; a secret-like name is a finding when
    its value is a real value rather than a reference (see `is_reference_or_plain`), or
    `SECRET_NUMBER_DIGITS` digits or more (a numeric token is still the secret; it is
    described by its length). Shorter numbers are limits, counts and durations (`MAX_TOKENS:
    4096`, `SESSION_TOKEN_LIFETIME: 900`).
    """
    value_match = match_secret_value(value, name=name)
    if value_match is not None:
        return value_match

    if not is_secret_name(name, extra_name_patterns):
        return None
    digits = value.strip()
    if digits.isdigit() and digits.isascii() and len(digits) >= SECRET_NUMBER_DIGITS:
        return SecretMatch(SECRET_NAME_WITH_VALUE.kind, f"{describe_number(digits)} {_UNDER_NAME}")
    return None if is_reference_or_plain(value) else SECRET_NAME_WITH_VALUE


def classify_setting(name: str, value: object) -> SecretMatch | None:
    """Whether a stack setting (a YAML scalar of a config file) holds a plaintext secret.

    `classify_variable` on the value as text, so that an unquoted number is judged as its
    quoted form (`secretKey: 987654321987` like `"987654321987"`). Nothing at all passes.
    The description gives the kind and, for a number, how many digits it has; never the
    value.
    """
    if value is None or isinstance(value, bytes | bytearray):
        return None
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return classify_variable(name, text)


def describe_number(value: object) -> str:
    """A number described without its digits: "a number of 12 digits", or "a number" when
    it is not a plain integer (a float, or a numeric string with a sign, point or exponent)."""
    text = str(value).strip()
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(abs(value))
    if text.isdigit():
        return f"a number of {len(text)} digit{'s' if len(text) != 1 else ''}"
    return "a number"


_ARGUMENT: Final = re.compile(r"(-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)=(.*)")


def match_command_arguments(
    words: Sequence[str], *, extra_name_patterns: Sequence[re.Pattern[str]] = ()
) -> list[tuple[str, SecretMatch]]:
    """(argument, match) for each secret passed by name on a command line.

    ``--db-password=x``, ``DB_PASSWORD=x`` and ``--db-password x`` count when
    `classify_variable` finds the value secret under that name. A word `match_secret_value`
    already flags on its own (``--token <a JWT>``) is left to that check, so it is reported
    once. The argument returned is the flag or variable name, never the value.
    """
    found: list[tuple[str, SecretMatch]] = []
    for index, word in enumerate(words):
        assignment = _ARGUMENT.fullmatch(word)
        if assignment is not None:
            argument, value = assignment.groups()
        elif word.startswith("--") and index + 1 < len(words):
            argument, value = word, words[index + 1]
            if value.startswith("-"):
                continue
        else:
            continue
        if match_secret_value(word if assignment is not None else value) is not None:
            continue
        match = classify_variable(
            argument.lstrip("-"), value, extra_name_patterns=extra_name_patterns
        )
        if match is not None:
            found.append((argument, match))
    return found


__all__ = [
    "AWS_ACCESS_KEY",
    "AWS_CREDENTIAL_VARIABLES",
    "BEARER_TOKEN",
    "HEX_KEY",
    "JWT_TOKEN",
    "PEM_PRIVATE_KEY",
    "QUERY_CREDENTIAL",
    "SECRET_NAME_WITH_VALUE",
    "URL_WITH_PASSWORD",
    "USERINFO_WITH_PASSWORD",
    "VENDOR_TOKEN",
    "SecretMatch",
    "classify_setting",
    "classify_variable",
    "compile_name_patterns",
    "describe_number",
    "is_reference_or_plain",
    "is_safe_to_quote",
    "is_secret_name",
    "match_command_arguments",
    "match_secret_value",
    "name_words",
]
