"""One service definition served over real gRPC on a free port, with the tokens its tests sign calls with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import grpc
import pytest

from runtime.audit import AuditSink
from runtime.auth import AccessTokens, Role
from runtime.clients import auth_metadata
from runtime.grpc_server import ServiceDefinition, start_server
from runtime.testing.auth import RecordingAuditSink, token_authenticator

_SECRET = "test-secret-" + "x" * 40


def access_tokens() -> AccessTokens:
    """Tokens with the issuer and audience the services expect, signed with a secret only tests use."""
    return AccessTokens(_SECRET, issuer="omnipricex", audience="omnipricex-api", ttl_seconds=300)


def metadata_as(
    tokens: AccessTokens, role: Role, organization_id: str, subject: str | None = None
) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying a fresh token for `subject` (by default one user per role) in that organisation."""
    user_id = subject if subject is not None else f"usr_{role.name.lower()}"
    issued = tokens.issue(user_id=user_id, organization_id=organization_id, role=role)
    return auth_metadata(issued.token)


@asynccontextmanager
async def serving(
    definition: ServiceDefinition, tokens: AccessTokens, audit_sink: AuditSink | None = None
) -> AsyncIterator[grpc.aio.Channel]:
    """Starts `definition` on a free local port, trusting `tokens` and refusing API keys, and yields a channel
    to it; on exit closes the channel and stops the server (which runs the definition's on_stop)."""
    running = await start_server(
        definition,
        address="127.0.0.1:0",
        authenticator=token_authenticator(tokens),
        audit_sink=audit_sink if audit_sink is not None else RecordingAuditSink(),
    )
    try:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            yield channel
        finally:
            await channel.close()
    finally:
        await running.stop(0)


async def rpc_refusal(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    """The status code and details a call fails with; the test fails if the call succeeds."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), caught.value.details() or ""
