"""Bearer JWTs checked against the identity source, with its JWKS cached.

A token is accepted only with a signature by a key of the JWKS, an algorithm from the
allow-list, the configured issuer, an unexpired `exp`, the expected token use and a
configured audience (`aud`) or client id (`aud` of id tokens, `client_id` of access tokens).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from pep_runtime.enforcement.config import IdentitySourceConfig
from pep_runtime.enforcement.exceptions import AuthenticationError, DecisionUnavailableError
from pep_runtime.enforcement.model import ACCESS_TOKEN_USE, BearerToken, EntityUid, Principal

logger = logging.getLogger(__name__)

_MAX_TOKEN_LENGTH = 16_384


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthenticationError("Authorization is not 'Bearer <token>'", reason="authorization")
    if len(token) > _MAX_TOKEN_LENGTH:
        raise AuthenticationError("the bearer token is too long", reason="authorization")
    return token


#: How long one fetch of the JWKS may take before the identity source counts as down.
JWKS_FETCH_TIMEOUT_SECONDS = 5.0
#: After a failed fetch, tokens that need the JWKS are refused (503) for this long without
#: fetching again: an outage costs no request a wait, and a recovered endpoint is used again
#: within this time.
JWKS_RETRY_SECONDS = 2.0
#: A token naming a key the set does not hold fetches the set again (a rotated key) at most
#: once in this long, so made-up key ids cannot drive a fetch per request.
_UNKNOWN_KEY_REFETCH_SECONDS = 30.0
#: A real key set is a few kilobytes.
_MAX_JWKS_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class _KeySet:
    """The signing keys of one good fetch of the JWKS, by key id."""

    keys: Mapping[str, jwt.PyJWK]
    fetched_at: float


class TokenVerifier:
    """Verifies bearer JWTs and turns their claims into a `User` principal. Thread-safe.

    The JWKS is fetched when first needed, again once `jwksCacheSeconds` have passed, and
    for a key id the set does not hold at most once in 30 s. One fetch runs at a time; after
    a failed one, tokens that need the JWKS get 503 for `retry_seconds` without a new fetch.
    """

    def __init__(
        self,
        source: IdentitySourceConfig,
        *,
        namespace: str,
        fetch_timeout_seconds: float = JWKS_FETCH_TIMEOUT_SECONDS,
        retry_seconds: float = JWKS_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._namespace = namespace
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._fetch_timeout_seconds = fetch_timeout_seconds
        # No redirects: the keys come from the configured URL or not at all.
        self._http = httpx.Client(follow_redirects=False, timeout=fetch_timeout_seconds)
        self._key_set: _KeySet | None = None
        self._failed_at: float | None = None
        self._fetch_lock = threading.Lock()

    def fetch_needed(self, token: str) -> bool:
        """True when verifying `token` could wait on a fetch of the JWKS: the key set is not
        fetched yet or expired, or it lacks the token's key id and may be fetched again.

        An event loop verifies on a worker thread when this is true. False when the answer
        is known without the network: a key at hand, an unreadable token, or a fetch that
        failed moments ago (503 at once).
        """
        key_id = _key_id_or_none(token)
        if key_id is None:
            return False

        return self._fetch_reason(key_id, self._clock()) is not None

    def verify(self, token: str) -> Principal:
        """Check `token` and return its principal; 401 on any defect, 503 if the JWKS is down."""
        claims = self._verified_claims(token)

        token_use = claims.get("token_use", self._source.token_use)
        if self._source.token_use is not None and token_use != self._source.token_use:
            raise _invalid(f"the token's token_use is not {self._source.token_use!r}")
        if token_use not in ("id", "access"):  # compared, not hashed: a claim may be a list
            raise _invalid("the token says no token_use; set identitySource.tokenUse")
        if self._source.client_ids:
            self._check_client_id(claims, token_use)

        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _invalid("the token has no subject")
        groups = claims.get(self._source.groups_claim, [])
        if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
            raise _invalid(f"claim {self._source.groups_claim} is not a list of strings")

        return Principal(
            uid=EntityUid(f"{self._namespace}::User", subject),
            parents=tuple(EntityUid(f"{self._namespace}::UserGroup", group) for group in groups),
            token=BearerToken(value=token, token_use=token_use),
            claims=claims,
        )

    def _verified_claims(self, token: str) -> dict[str, Any]:
        key_id = _key_id_or_none(token)
        if key_id is None:
            raise _invalid("its header is unreadable or names no key id (kid)")
        signing_key = self._signing_key(key_id)

        audiences = list(self._source.audiences) or None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=list(self._source.algorithms),
                issuer=self._source.issuer,
                audience=audiences,
                leeway=self._source.leeway_seconds,
                options={"require": ["exp", "iss", "sub"], "verify_aud": audiences is not None},
            )
        except jwt.InvalidTokenError as exc:
            raise _invalid(_kind(exc)) from exc
        except Exception as exc:
            raise _invalid(f"unreadable token ({type(exc).__name__})") from exc
        return claims

    def _signing_key(self, key_id: str) -> jwt.PyJWK:
        """The key of the JWKS named `key_id`, fetching the set when it is due; 401 if the
        set (good and non-empty) does not hold it, 503 if the set cannot be had."""
        key_set = self._key_set
        if self._fetch_reason(key_id, self._clock()) is not None:
            key_set = self._fetch(key_id)
        # An expired set is not trusted while it cannot be renewed (keys may be revoked).
        if key_set is None or self._expired(key_set, self._clock()):
            raise _unavailable()

        signing_key = key_set.keys.get(key_id)
        if signing_key is None:
            raise _invalid("no key of the identity source has its key id (kid)")
        return signing_key

    def _fetch_reason(self, key_id: str, now: float) -> str | None:
        """Why verifying a token of `key_id` must fetch the JWKS now, or None if it need not."""
        failed_at = self._failed_at
        if failed_at is not None and now - failed_at < self._retry_seconds:
            return None

        key_set = self._key_set
        if key_set is None:
            return "not fetched yet"
        if self._expired(key_set, now):
            return "expired"
        # A failed fetch counts too: an outage must not let made-up key ids fetch at each
        # end of the back-off.
        last_try = max(key_set.fetched_at, failed_at or key_set.fetched_at)
        if key_id not in key_set.keys and now - last_try >= _UNKNOWN_KEY_REFETCH_SECONDS:
            return "unknown key id"
        return None

    def _expired(self, key_set: _KeySet, now: float) -> bool:
        return now - key_set.fetched_at >= self._source.jwks_cache_seconds

    def _fetch(self, key_id: str) -> _KeySet | None:
        """Fetch the JWKS unless another thread just did (or just failed): one at a time."""
        with self._fetch_lock:
            reason = self._fetch_reason(key_id, self._clock())
            if reason is None:
                return self._key_set

            try:
                key_set = _KeySet(_signing_keys(self._fetch_document()), self._clock())
            except Exception as exc:
                # The set at hand, if any, stays: still fresh, it verifies the keys it holds.
                self._failed_at = self._clock()
                logger.warning(
                    "the identity source's JWKS could not be had (%s: %r); tokens get 503 for %s s",
                    type(exc).__name__,
                    str(exc),
                    self._retry_seconds,
                )
                raise _unavailable() from exc

            logger.debug("fetched the identity source's JWKS (%s)", reason)
            self._key_set = key_set
            self._failed_at = None
            return key_set

    def _fetch_document(self) -> Any:
        """GET the JWKS and parse it, given up on once the fetch timeout has passed overall:
        an endpoint that trickles its answer never lets a single read time out."""
        deadline = time.monotonic() + self._fetch_timeout_seconds
        body = bytearray()
        with self._http.stream("GET", self._source.jwks_url) as response:
            if response.status_code != 200:
                raise ValueError(f"the JWKS endpoint answered HTTP {response.status_code}")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _MAX_JWKS_BYTES:
                    raise ValueError(f"the JWKS is larger than {_MAX_JWKS_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the JWKS took over {self._fetch_timeout_seconds} s")
        return json.loads(body)

    def _check_client_id(self, claims: dict[str, Any], token_use: str) -> None:
        if token_use == ACCESS_TOKEN_USE:
            client_ids = [claims.get("client_id")]
        else:
            audience = claims.get("aud")
            client_ids = audience if isinstance(audience, list) else [audience]
        if not any(client_id in self._source.client_ids for client_id in client_ids):
            raise _invalid("the token is for none of identitySource.clientIds")


def _signing_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document by key id (the first of a repeated id);
    raises when there are none, which is the identity source's failure, not the caller's."""
    if not isinstance(document, dict):
        raise ValueError("the JWKS is not a JSON object")
    keys: dict[str, jwt.PyJWK] = {}
    for key in jwt.PyJWKSet.from_dict(document).keys:
        if key.public_key_use in {"sig", None} and isinstance(key.key_id, str):
            keys.setdefault(key.key_id, key)
    if not keys:
        raise ValueError("the JWKS holds no signing key with a key id")
    return keys


def _key_id_or_none(token: str) -> str | None:
    """The key id (`kid`) in the token's header, unverified; None if unreadable or absent."""
    try:
        key_id = jwt.get_unverified_header(token).get("kid")
    except Exception:
        return None
    return key_id if isinstance(key_id, str) else None


def _unavailable() -> DecisionUnavailableError:
    message = "the identity source's JWKS could not be had"
    return DecisionUnavailableError(message, reason="jwks-unavailable")


def _kind(exc: Exception) -> str:
    """What PyJWT found wrong, by the name of its error: its text can quote the token."""
    return type(exc).__name__


def _invalid(detail: str) -> AuthenticationError:
    return AuthenticationError(f"invalid bearer token: {detail}", reason="invalid-token")


__all__ = ["JWKS_FETCH_TIMEOUT_SECONDS", "JWKS_RETRY_SECONDS", "TokenVerifier", "bearer_token"]
