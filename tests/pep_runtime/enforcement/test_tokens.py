"""Bearer JWTs verified against a (loopback) identity source."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pep_runtime.enforcement import tokens
from pep_runtime.enforcement.config import IdentitySourceConfig
from pep_runtime.enforcement.exceptions import AuthenticationError, DecisionUnavailableError
from pep_runtime.enforcement.model import EntityUid
from pep_runtime.enforcement.tokens import TokenVerifier, bearer_token

from .jwks_server import (
    CLIENT_ID,
    ISSUER,
    TokenMinter,
    serve_jwks,
    stalled_jwks,
    trickling_jwks,
)


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    """One signing key for the module (RSA key generation is slow)."""
    return TokenMinter()


@pytest.fixture(scope="module")
def jwks_url(minter: TokenMinter) -> Iterator[str]:
    """The loopback JWKS URL."""
    with serve_jwks(minter) as url:
        yield url


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _verifier(
    jwks_url: str,
    *,
    fetch_timeout_seconds: float = 5.0,
    retry_seconds: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    **overrides: Any,
) -> TokenVerifier:
    settings: dict[str, Any] = {"jwks_url": jwks_url, "issuer": ISSUER, "client_ids": (CLIENT_ID,)}
    settings.update(overrides)
    return TokenVerifier(
        IdentitySourceConfig(**settings),
        namespace="Latticework",
        fetch_timeout_seconds=fetch_timeout_seconds,
        retry_seconds=retry_seconds,
        clock=clock,
    )


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
        ({"token_use": ["id"]}, {}),
        ({"token_use": {"id": True}}, {}),
        ({"token_use": "access", "client_id": [CLIENT_ID]}, {}),
        ({"aud": [[CLIENT_ID]]}, {}),
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


@pytest.fixture
def own_minter() -> TokenMinter:
    """A minter whose JWKS endpoint a test may break, separate from the module's."""
    return TokenMinter()


@pytest.mark.parametrize(
    "answer",
    [
        (200, b"<html>maintenance</html>"),
        (200, b'{"keys": ['),
        (200, b'{"keys": []}'),
        (200, b"[]"),
        (200, b'{"keys": [{"kty": "RSA", "kid": "key-1"}]}'),
        (500, b"internal error"),
    ],
)
def test_a_jwks_without_usable_keys_is_unavailable(
    own_minter: TokenMinter, answer: tuple[int, bytes]
) -> None:
    """An unreadable JWKS, or one holding no usable key, is the identity source's failure: 503."""
    own_minter.answer = answer

    with serve_jwks(own_minter) as url, pytest.raises(DecisionUnavailableError) as caught:
        _verifier(url).verify(own_minter.mint())

    assert caught.value.reason == "jwks-unavailable"


def test_a_jwks_of_encryption_keys_only_is_unavailable(own_minter: TokenMinter) -> None:
    """A key set with no signing key (only `use: enc`) cannot verify anything: 503."""
    jwks = own_minter.jwks()
    jwks["keys"][0]["use"] = "enc"
    own_minter.answer = (200, json.dumps(jwks).encode())

    with serve_jwks(own_minter) as url, pytest.raises(DecisionUnavailableError):
        _verifier(url).verify(own_minter.mint())


def test_an_unknown_key_id_in_a_good_key_set_is_invalid(minter: TokenMinter, jwks_url: str) -> None:
    """A token naming a key the (non-empty, readable) JWKS does not hold is the caller's: 401."""
    stranger = TokenMinter(kid="key-unknown").mint()

    with pytest.raises(AuthenticationError) as caught:
        _verifier(jwks_url).verify(stranger)

    assert caught.value.reason == "invalid-token"


def test_a_hung_jwks_is_fetched_once_per_back_off() -> None:
    """After a failed fetch, tokens that need the JWKS fail fast (503) without fetching again."""
    token = TokenMinter().mint()

    with stalled_jwks() as endpoint:
        verifier = _verifier(endpoint.url, fetch_timeout_seconds=0.5, retry_seconds=30)
        with pytest.raises(DecisionUnavailableError):
            verifier.verify(token)
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(DecisionUnavailableError) as caught:
                verifier.verify(token)
        elapsed = time.monotonic() - started

    assert caught.value.reason == "jwks-unavailable"
    assert elapsed < 0.2
    assert endpoint.connections == 1


def test_a_recovered_jwks_is_used_once_the_back_off_ends(own_minter: TokenMinter) -> None:
    """The back-off is short: the first request after it fetches again and verifies."""
    token = own_minter.mint()
    own_minter.answer = (503, b"down")

    with serve_jwks(own_minter) as url:
        verifier = _verifier(url, retry_seconds=0.3)
        with pytest.raises(DecisionUnavailableError):
            verifier.verify(token)
        own_minter.answer = None
        with pytest.raises(DecisionUnavailableError):
            verifier.verify(token)
        time.sleep(0.35)

        principal = verifier.verify(token)

    assert principal.uid == EntityUid("Latticework::User", "alice")
    assert own_minter.requests == 2


def test_fetch_needed_says_when_verifying_could_wait_on_the_network(
    minter: TokenMinter, jwks_url: str
) -> None:
    """Cold: a fetch is needed; warm, for a known or a just-refetched unknown key: none."""
    verifier = _verifier(jwks_url)
    token = minter.mint()
    stranger = TokenMinter(kid="key-unknown").mint()

    cold = verifier.fetch_needed(token)
    verifier.verify(token)

    assert cold
    assert not verifier.fetch_needed(token)
    assert not verifier.fetch_needed(stranger)
    assert not verifier.fetch_needed("not a token")


def test_an_expired_key_set_is_fetched_again(minter: TokenMinter, jwks_url: str) -> None:
    """Once `jwksCacheSeconds` pass, the next token needs (and gets) a fresh key set."""
    verifier = _verifier(jwks_url, jwks_cache_seconds=1)
    token = minter.mint()
    verifier.verify(token)
    before = minter.requests
    time.sleep(1.05)

    needed = verifier.fetch_needed(token)
    verifier.verify(token)

    assert needed
    assert minter.requests - before == 1


def test_a_rotated_key_is_fetched_for_its_first_token(
    own_minter: TokenMinter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token naming a key id the set lacks fetches the set again (when the interval allows)."""
    monkeypatch.setattr(tokens, "_UNKNOWN_KEY_REFETCH_SECONDS", 0.0)

    with serve_jwks(own_minter) as url:
        verifier = _verifier(url)
        verifier.verify(own_minter.mint())
        own_minter.kid = "key-2"

        principal = verifier.verify(own_minter.mint())

    assert principal.uid == EntityUid("Latticework::User", "alice")
    assert own_minter.requests == 2


def test_a_failed_refetch_keeps_the_fresh_key_set(
    own_minter: TokenMinter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown key id during an outage is a 503, but tokens of known keys still verify."""
    monkeypatch.setattr(tokens, "_UNKNOWN_KEY_REFETCH_SECONDS", 0.0)
    known = own_minter.mint()
    stranger = TokenMinter(kid="key-unknown").mint()

    with serve_jwks(own_minter) as url:
        verifier = _verifier(url)
        verifier.verify(known)
        own_minter.answer = (500, b"down")
        with pytest.raises(DecisionUnavailableError):
            verifier.verify(stranger)

        principal = verifier.verify(known)

    assert principal.uid == EntityUid("Latticework::User", "alice")


def test_a_trickling_jwks_is_given_up_on_within_the_fetch_timeout() -> None:
    """The fetch timeout bounds the whole fetch, not each read: an endpoint that sends a byte
    every 0.1 s never lets a read time out, and is still given up on (503) in time."""
    with trickling_jwks(byte_every_seconds=0.1) as url:
        verifier = _verifier(url, fetch_timeout_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(DecisionUnavailableError) as caught:
            verifier.verify(TokenMinter().mint())
        elapsed = time.monotonic() - started

    assert caught.value.reason == "jwks-unavailable"
    assert elapsed < 3.0  # a trickle of 1,000,000 bytes would take over a day


def test_made_up_key_ids_refetch_at_most_once_per_interval_during_an_outage(
    own_minter: TokenMinter,
) -> None:
    """A failed fetch counts as a fetch for the unknown-key-id rule: while the endpoint is
    down, tokens with made-up key ids cannot drive a fetch at each end of the back-off."""
    clock = FakeClock()
    with serve_jwks(own_minter) as url:
        verifier = _verifier(url, clock=clock)
        verifier.verify(own_minter.mint())
        own_minter.answer = (500, b"down")
        clock.now = 31.0
        for second in range(30):
            clock.now = 31.0 + second
            with pytest.raises((AuthenticationError, DecisionUnavailableError)):
                verifier.verify(TokenMinter(kid=f"made-up-{second}").mint())

    assert own_minter.requests == 2  # the first fetch, and one for the made-up key ids


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
