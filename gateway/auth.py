"""The credential a request presents: `Authorization: Bearer …` or `X-API-Key: …`."""

from __future__ import annotations

from runtime.errors import Unauthenticated


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
