"""Who is calling: the credential a request presents, and its principal, verified once per token lifetime."""

from __future__ import annotations

import time

import jwt

from runtime.auth import Authenticator, Principal, is_api_key
from runtime.errors import Unauthenticated

_MAX_REMEMBERED_TOKENS = 10_000


def presented_credential(authorization: str | None, api_key: str | None) -> str:
    """The credential from `Authorization: Bearer …` or `X-API-Key: …`; refuses any other scheme."""
    if authorization is not None:
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthenticated("the Authorization header must be 'Bearer <access token or API key>'")
        return credential
    if api_key is not None and api_key.strip():
        return api_key.strip()
    raise Unauthenticated("credentials are required: send 'Authorization: Bearer <access token or API key>'")


class GatewayAuthenticator:
    """runtime's Authenticator, remembering each verified access token until it expires.

    Access tokens are stateless (valid until `exp`), so a token verified once stays valid for exactly
    as long; remembering it spares the signature check on every request. API keys are cached (briefly)
    by runtime's Authenticator itself, because they can be revoked.
    """

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator
        self._verified: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, credential: str) -> Principal:
        remembered = self._verified.get(credential)
        if remembered is not None:
            if remembered[0] > time.time():
                return remembered[1]
            del self._verified[credential]
        principal = await self._authenticator.authenticate(credential)
        if not is_api_key(credential):
            self._remember(credential, principal)
        return principal

    def _remember(self, token: str, principal: Principal) -> None:
        # The signature was just verified; this only reads the expiry out of the same token.
        expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
        if not isinstance(expires, int | float):
            return
        if len(self._verified) >= _MAX_REMEMBERED_TOKENS:
            self._verified.clear()
        self._verified[token] = (float(expires), principal)
