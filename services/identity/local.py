"""Identity's own credential checks and audit writes: straight to its use cases, never over gRPC."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.audit import AuditRecord
from runtime.auth import AccessTokens, Authenticator, Principal
from services.identity.use_cases import AuditUseCases, AuthUseCases, NewAuditEntry


class LocalAuthenticator(Authenticator):
    """Stricter than other services' authenticators, and uncached.

    Identity manages credentials, so a disabled user's still-unexpired access token, or a key revoked a
    second ago, must not be able to create users or keys here.
    """

    def __init__(self, tokens: AccessTokens, auth: AuthUseCases) -> None:
        super().__init__(tokens, auth.resolve_api_key, cache_seconds=0)
        self._auth = auth

    async def authenticate(self, credential: str) -> Principal:
        return await self._auth.authenticate(credential)


class LocalAuditSink:
    """runtime.audit.AuditSink that writes identity's own audit records to its repository."""

    def __init__(self, audit: AuditUseCases) -> None:
        self._audit = audit

    async def record(self, records: Sequence[AuditRecord], credential: str) -> None:
        # The credential is how remote sinks prove who they write for; here the interceptor already knows.
        del credential
        await self._audit.append(
            [
                NewAuditEntry(
                    organization_id=record.organization_id,
                    actor_id=record.actor_id,
                    action=record.action,
                    resource=record.resource,
                    outcome=record.outcome,
                    trace_id=record.trace_id,
                    time=record.time,
                )
                for record in records
            ]
        )
