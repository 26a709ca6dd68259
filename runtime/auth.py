"""Who is calling: roles, principals, access tokens, and how credentials travel in metadata."""

from __future__ import annotations

import contextvars
import enum
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import jwt

from runtime.errors import PermissionDenied, Unauthenticated
from runtime.ids import new_id

# Pinned: tokens are verified with this algorithm only, whatever their header claims.
JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "opx_"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret


class Role(enum.IntEnum):
    """Same numbers as omnipricex.identity.v1.Role; each role includes the rights of lower ones."""

    VIEWER = 1
    ANALYST = 2
    PRICING_MANAGER = 3
    ADMIN = 4
    OWNER = 5


class CredentialKind(enum.IntEnum):
    ACCESS_TOKEN = 1
    API_KEY = 2


@dataclass(frozen=True, slots=True)
class Principal:
    organization_id: str
    subject_id: str
    role: Role
    credential_kind: CredentialKind

    def require(self, role: Role) -> None:
        if self.role < role:
            raise PermissionDenied(f"this needs the {role.name.lower()} role or higher")


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("credentials are required")
    return principal


def optional_principal() -> Principal | None:
    return _current.get()


def bind_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def unbind_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


class AccessTokens:
    """Short-lived signed access tokens with issuer and audience checked on every use."""

    def __init__(self, secret: str, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds

    def issue(self, *, user_id: str, organization_id: str, role: Role) -> IssuedToken:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "org": organization_id,
            "role": role.name.lower(),
            "typ": ACCESS_TOKEN_TYPE,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl,
            "jti": new_id(),
        }
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM), self._ttl)

    def expiry_of(self, token: str) -> float:
        """The `exp` of a token that has already been verified."""
        claims = jwt.decode(token, options={"verify_signature": False})
        return float(claims["exp"])

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss", "typ", "org", "role"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token has expired") from None
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"access token is not valid: {error}") from None
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthenticated("not an access token")
        try:
            role = Role[str(claims["role"]).upper()]
        except KeyError:
            raise Unauthenticated("access token names an unknown role") from None
        return Principal(str(claims["org"]), str(claims["sub"]), role, CredentialKind.ACCESS_TOKEN)


def credential_from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    """The bearer token or API key a caller sent: `authorization: Bearer …` or `x-api-key: …`."""
    for key, value in metadata:
        text = value.decode() if isinstance(value, bytes) else value
        if key == "authorization":
            scheme, _, credential = text.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise Unauthenticated("authorization must be 'Bearer <token>'")
            return credential.strip()
        if key == "x-api-key":
            return text.strip() or None
    return None


def is_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


ApiKeyResolver = Callable[[str], Awaitable[Principal]]


class Authenticator:
    """Turns a credential into a principal: tokens locally, API keys through a (cached) resolver."""

    def __init__(self, tokens: AccessTokens, resolve_api_key: ApiKeyResolver, *, cache_seconds: float) -> None:
        self._tokens = tokens
        self._resolve_api_key = resolve_api_key
        self._cache_seconds = cache_seconds
        self._api_key_cache: dict[str, tuple[float, Principal]] = {}
        self._token_cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, credential: str) -> Principal:
        if not is_api_key(credential):
            return self._verified_token(credential)
        now = time.monotonic()
        cached = self._api_key_cache.get(credential)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = await self._resolve_api_key(credential)
        if self._cache_seconds > 0:
            if len(self._api_key_cache) > 10_000:
                self._api_key_cache.clear()
            self._api_key_cache[credential] = (now + self._cache_seconds, principal)
        return principal

    def _verified_token(self, token: str) -> Principal:
        # A signature check costs ~50 µs; a token that verified once stays valid until it expires.
        now = time.time()
        cached = self._token_cache.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._tokens.verify(token)
        if len(self._token_cache) > 10_000:
            self._token_cache.clear()
        self._token_cache[token] = (self._tokens.expiry_of(token), principal)
        return principal
