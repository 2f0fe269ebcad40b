"""Bearer JWTs checked against the identity source, with its JWKS cached.

A token is accepted only with a signature by a key of the JWKS, an algorithm from the
allow-list, the configured issuer, an unexpired `exp`, the expected token use and a
configured audience (`aud`) or client id (`aud` of id tokens, `client_id` of access tokens).
"""

from __future__ import annotations

import logging
from typing import Any

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


class TokenVerifier:
    """Verifies bearer JWTs and turns their claims into a `User` principal."""

    def __init__(
        self,
        source: IdentitySourceConfig,
        *,
        namespace: str,
        jwk_client: jwt.PyJWKClient | None = None,
    ) -> None:
        self._source = source
        self._namespace = namespace
        self._jwk_client = jwk_client or jwt.PyJWKClient(
            source.jwks_url,
            cache_jwk_set=True,
            lifespan=source.jwks_cache_seconds,
            timeout=5,
        )

    def verify(self, token: str) -> Principal:
        """Check `token` and return its principal; 401 on any defect, 503 if the JWKS is down."""
        claims = self._verified_claims(token)

        token_use = claims.get("token_use", self._source.token_use)
        if self._source.token_use is not None and token_use != self._source.token_use:
            raise _invalid(f"the token's token_use is not {self._source.token_use!r}")
        if token_use not in {"id", "access"}:
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
        try:
            signing_key = self._jwk_client.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            logger.warning("the identity source's JWKS could not be fetched: %s", exc)
            message = "the identity source's JWKS could not be fetched"
            raise DecisionUnavailableError(message, reason="jwks-unavailable") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            # The text of these quotes the token's header (its kid): name the error only.
            raise _invalid(f"no key of the identity source signs it ({_kind(exc)})") from exc
        except Exception as exc:
            raise _invalid(f"unreadable token ({type(exc).__name__})") from exc

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

    def _check_client_id(self, claims: dict[str, Any], token_use: str) -> None:
        if token_use == ACCESS_TOKEN_USE:
            client_ids = [claims.get("client_id")]
        else:
            audience = claims.get("aud")
            client_ids = audience if isinstance(audience, list) else [audience]
        if not any(client_id in self._source.client_ids for client_id in client_ids):
            raise _invalid("the token is for none of identitySource.clientIds")


def _kind(exc: Exception) -> str:
    """What PyJWT found wrong, by the name of its error: its text can quote the token."""
    return type(exc).__name__


def _invalid(detail: str) -> AuthenticationError:
    return AuthenticationError(f"invalid bearer token: {detail}", reason="invalid-token")


__all__ = ["TokenVerifier", "bearer_token"]
