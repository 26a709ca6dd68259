"""How services other than identity check API keys and write the audit log: over gRPC to identity."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from omnipricex.identity.v1 import identity_pb2, identity_pb2_grpc
from runtime.audit import AuditRecord
from runtime.auth import AccessTokens, Authenticator, CredentialKind, Principal, Role
from runtime.clients import auth_metadata
from runtime.errors import Unauthenticated, Unavailable
from runtime.settings import Settings
from runtime.timestamps import to_timestamp


def access_tokens(settings: Settings) -> AccessTokens:
    return AccessTokens(
        settings.require_jwt_secret(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )


def principal_from_proto(message: identity_pb2.Principal) -> Principal:
    return Principal(
        organization_id=message.organization_id,
        subject_id=message.subject_id,
        role=Role(message.role),
        credential_kind=CredentialKind(message.credential_kind),
    )


def remote_authenticator(settings: Settings, identity_channel: grpc.aio.Channel) -> Authenticator:
    stub = identity_pb2_grpc.AuthServiceStub(identity_channel)

    async def resolve_api_key(credential: str) -> Principal:
        try:
            response = await stub.Authenticate(
                identity_pb2.AuthenticateRequest(credential=credential), timeout=settings.rpc_deadline_seconds
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise Unauthenticated(error.details() or "API key is not valid") from None
            raise Unavailable("identity service cannot check API keys right now") from None
        return principal_from_proto(response.principal)

    return Authenticator(access_tokens(settings), resolve_api_key, cache_seconds=settings.api_key_cache_seconds)


class RemoteAuditSink:
    def __init__(self, identity_channel: grpc.aio.Channel, *, deadline_seconds: float) -> None:
        self._stub = identity_pb2_grpc.AuditServiceStub(identity_channel)
        self._deadline = deadline_seconds

    async def record(self, records: Sequence[AuditRecord], credential: str) -> None:
        entries = []
        for record in records:
            entries.append(
                identity_pb2.AuditEntry(
                    organization_id=record.organization_id,
                    actor_id=record.actor_id,
                    action=record.action,
                    resource=record.resource,
                    outcome=record.outcome,
                    trace_id=record.trace_id,
                    time=to_timestamp(record.time),
                )
            )
        await self._stub.RecordAuditEntries(
            identity_pb2.RecordAuditEntriesRequest(entries=entries),
            metadata=auth_metadata(credential),
            timeout=self._deadline,
        )
