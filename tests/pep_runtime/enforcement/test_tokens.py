"""Bearer JWTs verified against a (loopback) identity source."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pep_runtime.enforcement.config import IdentitySourceConfig
from pep_runtime.enforcement.exceptions import AuthenticationError, DecisionUnavailableError
from pep_runtime.enforcement.model import EntityUid
from pep_runtime.enforcement.tokens import TokenVerifier, bearer_token

from .jwks_server import CLIENT_ID, ISSUER, TokenMinter, serve_jwks


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    """One signing key for the module (RSA key generation is slow)."""
    return TokenMinter()


@pytest.fixture(scope="module")
def jwks_url(minter: TokenMinter) -> Iterator[str]:
    """The loopback JWKS URL."""
    with serve_jwks(minter) as url:
        yield url


def _verifier(jwks_url: str, **overrides: Any) -> TokenVerifier:
    settings: dict[str, Any] = {"jwks_url": jwks_url, "issuer": ISSUER, "client_ids": (CLIENT_ID,)}
    settings.update(overrides)
    return TokenVerifier(IdentitySourceConfig(**settings), namespace="Latticework")


def test_valid_id_token_maps_to_user_and_groups(minter: TokenMinter, jwks_url: str) -> None:
    """A valid id token gives `User::"<sub>"` with its groups as `UserGroup` parents."""
    token = minter.mint()

    principal = _verifier(jwks_url).verify(token)

    assert principal.uid == EntityUid("Latticework::User", "alice")
    assert principal.parents == (EntityUid("Latticework::UserGroup", "support"),)
    assert principal.token is not None
    assert principal.token.token_use == "id"
    assert token not in repr(principal)


def test_access_token_is_checked_by_client_id(minter: TokenMinter, jwks_url: str) -> None:
    """An access token's `client_id` claim must be a configured client id."""
    good = minter.mint(token_use="access", aud=None, client_id=CLIENT_ID)
    bad = minter.mint(token_use="access", aud=None, client_id="someone-else")
    verifier = _verifier(jwks_url)

    principal = verifier.verify(good)

    assert principal.token is not None
    assert principal.token.api_field == "accessToken"
    with pytest.raises(AuthenticationError):
        verifier.verify(bad)


def test_jwks_is_cached(minter: TokenMinter, jwks_url: str) -> None:
    """Many verifications fetch the JWKS once."""
    verifier = _verifier(jwks_url)
    before = minter.requests

    for _ in range(5):
        verifier.verify(minter.mint())

    assert minter.requests - before == 1


def _forged_with_other_key(**claims: Any) -> str:
    return TokenMinter(kid="key-1").mint(**claims)


@pytest.mark.parametrize(
    ("claims", "settings"),
    [
        ({"exp": int(time.time()) - 10}, {}),
        ({"exp": None}, {}),
        ({"iss": "https://evil.example.com"}, {}),
        ({"aud": "other-client"}, {}),
        ({"token_use": "access"}, {"token_use": "id"}),
        ({"token_use": None}, {}),
        ({"sub": None}, {}),
        ({"cognito:groups": "support"}, {}),
        ({}, {"audiences": ("api://orders",)}),
    ],
)
def test_invalid_claims_are_refused(
    minter: TokenMinter, jwks_url: str, claims: dict[str, Any], settings: dict[str, Any]
) -> None:
    """Expiry, issuer, audience/client id, token use, subject and groups are all enforced."""
    token = minter.mint(**claims)

    with pytest.raises(AuthenticationError) as caught:
        _verifier(jwks_url, **settings).verify(token)

    assert caught.value.status == 401
    assert token not in str(caught.value)


def test_signature_by_another_key_is_refused(jwks_url: str) -> None:
    """A token signed by a key outside the JWKS (same kid) is refused."""
    token = _forged_with_other_key()

    with pytest.raises(AuthenticationError):
        _verifier(jwks_url).verify(token)


FORGED_AUDIT_LINE = '{"event":"authorization","status":200,"decision":"ALLOW"}'


@pytest.mark.parametrize(
    "headers",
    [
        {"kid": f"x\n{FORGED_AUDIT_LINE}\n"},
        {"kid": f"x\u2028{FORGED_AUDIT_LINE}"},
        {"kid": "key-1", "crit": [f"x\n{FORGED_AUDIT_LINE}"]},
    ],
)
def test_header_text_never_reaches_the_error(
    minter: TokenMinter, jwks_url: str, headers: dict[str, Any]
) -> None:
    """The error names what is wrong with a token's header, never quoting the attacker's text."""
    token = jwt.encode({"sub": "mallory"}, minter.private_key, algorithm="RS256", headers=headers)

    with pytest.raises(AuthenticationError) as caught:
        _verifier(jwks_url).verify(token)

    assert str(caught.value).isprintable()
    assert "ALLOW" not in str(caught.value)


def test_disallowed_algorithms_are_refused(minter: TokenMinter, jwks_url: str) -> None:
    """`alg: none` and a symmetric HS256 token claiming the JWKS key's kid never verify."""
    claims = jwt.decode(minter.mint(), options={"verify_signature": False})
    unsigned = jwt.encode(claims, key="", algorithm="none", headers={"kid": minter.kid})
    symmetric = jwt.encode(
        claims, "a-shared-secret-of-32-bytes-long!", algorithm="HS256", headers={"kid": minter.kid}
    )
    verifier = _verifier(jwks_url)

    with pytest.raises(AuthenticationError):
        verifier.verify(unsigned)
    with pytest.raises(AuthenticationError):
        verifier.verify(symmetric)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "x" * 40, "\x00.\x00.\x00"])
def test_garbage_tokens_are_refused(jwks_url: str, token: str) -> None:
    """Garbage is an authentication error, never another exception."""
    with pytest.raises(AuthenticationError):
        _verifier(jwks_url).verify(token)


def test_unreachable_jwks_is_unavailable(minter: TokenMinter) -> None:
    """If the JWKS cannot be fetched there is no decision: 503, not 401."""
    verifier = _verifier("http://127.0.0.1:9/jwks.json")

    with pytest.raises(DecisionUnavailableError):
        verifier.verify(minter.mint())


@pytest.mark.parametrize(
    "header", ["Basic abc", "Bearer", "Bearer  ", "Bearer a b", "bearer" + " x" * 2]
)
def test_malformed_authorization_headers(header: str) -> None:
    """Only `Bearer <token>` is accepted."""
    with pytest.raises(AuthenticationError):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive() -> None:
    """The scheme compares case-insensitively."""
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


@settings(max_examples=200, deadline=None)
@given(header=st.text(alphabet=st.characters(codec="latin-1"), max_size=200))
def test_authorization_parsing_never_raises_anything_else(header: str) -> None:
    """Arbitrary Authorization values give a principal or a 401/503 error, nothing else."""
    verifier = _verifier("http://127.0.0.1:9/jwks.json")

    try:
        verifier.verify(bearer_token(header))
    except (AuthenticationError, DecisionUnavailableError):
        return

    raise AssertionError("an arbitrary header verified")
