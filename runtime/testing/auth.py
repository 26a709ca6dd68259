"""What service tests put where identity would be: a token-only authenticator and an audit sink in a list."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.audit import AuditRecord
from runtime.auth import AccessTokens, Authenticator, Principal
from runtime.errors import Unauthenticated


class RecordingAuditSink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def record(self, records: Sequence[AuditRecord], credential: str) -> None:
        self.records.extend(records)


def token_authenticator(tokens: AccessTokens) -> Authenticator:
    """Verifies access tokens; refuses every API key (resolving those is identity's job)."""

    async def no_api_keys(credential: str) -> Principal:
        raise Unauthenticated("API key is not valid")

    return Authenticator(tokens, no_api_keys, cache_seconds=0)
