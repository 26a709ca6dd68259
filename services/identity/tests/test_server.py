"""Identity over real gRPC: the shared bootstrap's interceptors with identity's own authenticator and audit sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import jwt
import pytest
from pydantic import SecretStr

from omnipricex.identity.v1 import identity_pb2 as pb
from omnipricex.identity.v1 import identity_pb2_grpc as pb_grpc
from runtime.audit import AuditRecord
from runtime.auth import AccessTokens, CredentialKind, Role
from runtime.clock import utcnow
from runtime.errors import Unauthenticated
from runtime.grpc_server import start_server
from runtime.identity_client import RemoteAuditSink, remote_authenticator
from runtime.settings import Settings
from services.identity.local import LocalAuditSink, LocalAuthenticator
from services.identity.passwords import Passwords
from services.identity.repository.sqlite import SqliteIdentityRepository
from services.identity.server import PUBLIC_METHODS, SERVICE_NAMES, build_definition
from services.identity.tests.support import AUDIENCE, BOOTSTRAP_TOKEN, ISSUER, JWT_SECRET, PASSWORD, cheap_hasher
from services.identity.use_cases import build_use_cases

Metadata = Sequence[tuple[str, str]]


@dataclass
class Identity:
    channel: grpc.aio.Channel
    settings: Settings

    @property
    def auth(self) -> pb_grpc.AuthServiceAsyncStub:
        return pb_grpc.AuthServiceStub(self.channel)

    @property
    def organizations(self) -> pb_grpc.OrganizationServiceAsyncStub:
        return pb_grpc.OrganizationServiceStub(self.channel)

    @property
    def users(self) -> pb_grpc.UserServiceAsyncStub:
        return pb_grpc.UserServiceStub(self.channel)

    @property
    def api_keys(self) -> pb_grpc.ApiKeyServiceAsyncStub:
        return pb_grpc.ApiKeyServiceStub(self.channel)

    @property
    def audit(self) -> pb_grpc.AuditServiceAsyncStub:
        return pb_grpc.AuditServiceStub(self.channel)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def identity(tmp_path: Path) -> AsyncIterator[Identity]:
    settings = Settings(
        data_dir=tmp_path,
        jwt_secret=SecretStr(JWT_SECRET),
        bootstrap_token=SecretStr(BOOTSTRAP_TOKEN),
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        api_key_cache_seconds=0,
    )
    repository = SqliteIdentityRepository(settings.sqlite_path("identity"))
    await repository.open()
    tokens = AccessTokens(JWT_SECRET, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=900)
    use_cases = build_use_cases(
        repository,
        passwords=Passwords(cheap_hasher()),
        access_tokens=tokens,
        refresh_ttl=timedelta(days=1),
        bootstrap_token=BOOTSTRAP_TOKEN,
    )
    running = await start_server(
        build_definition(use_cases, on_stop=repository.close),
        address="127.0.0.1:0",
        authenticator=LocalAuthenticator(tokens, use_cases.auth),
        audit_sink=LocalAuditSink(use_cases.audit),
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Identity(channel, settings)
    finally:
        await channel.close()
        await running.stop(0)


async def _bootstrap(identity: Identity, email: str = "admin@demo.local") -> pb.CreateOrganizationResponse:
    response: pb.CreateOrganizationResponse = await identity.organizations.CreateOrganization(
        pb.CreateOrganizationRequest(name="Demo Retail", owner_email=email, owner_password=PASSWORD),
        metadata=(("x-bootstrap-token", BOOTSTRAP_TOKEN),),
    )
    return response


async def _login(identity: Identity, email: str = "admin@demo.local") -> pb.TokenPair:
    response: pb.LoginResponse = await identity.auth.Login(pb.LoginRequest(email=email, password=PASSWORD))
    return response.tokens


async def _code_of(call: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    code: grpc.StatusCode = failed.value.code()
    return code


def test_every_identity_service_is_served_and_only_credential_methods_are_public() -> None:
    assert SERVICE_NAMES == (
        "omnipricex.identity.v1.AuthService",
        "omnipricex.identity.v1.OrganizationService",
        "omnipricex.identity.v1.UserService",
        "omnipricex.identity.v1.ApiKeyService",
        "omnipricex.identity.v1.AuditService",
    )
    methods = {
        f"/{service.full_name}/{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert methods >= PUBLIC_METHODS
    assert {m.rsplit("/", 1)[-1] for m in PUBLIC_METHODS} == {
        "Login",
        "RefreshToken",
        "Logout",
        "Authenticate",
        "CreateOrganization",
    }


async def test_an_operator_seeds_an_organisation_and_its_owner_logs_in(identity: Identity) -> None:
    request = pb.CreateOrganizationRequest(name="Demo Retail", owner_email="admin@demo.local", owner_password=PASSWORD)
    assert await _code_of(identity.organizations.CreateOrganization(request)) == grpc.StatusCode.UNAUTHENTICATED
    created = await _bootstrap(identity)
    assert (
        await _code_of(
            identity.organizations.CreateOrganization(request, metadata=(("x-bootstrap-token", BOOTSTRAP_TOKEN),))
        )
        == grpc.StatusCode.ALREADY_EXISTS
    )

    tokens = await _login(identity)
    assert tokens.token_type == "Bearer"
    me: pb.GetCurrentUserResponse = await identity.users.GetCurrentUser(
        pb.GetCurrentUserRequest(), metadata=bearer(tokens.access_token)
    )
    assert (me.user.id, me.user.role, me.principal.credential_kind) == (
        created.owner.id,
        pb.ROLE_OWNER,
        pb.CREDENTIAL_KIND_ACCESS_TOKEN,
    )
    org: pb.GetOrganizationResponse = await identity.organizations.GetOrganization(
        pb.GetOrganizationRequest(), metadata=bearer(tokens.access_token)
    )
    assert org.organization.name == "Demo Retail"


async def test_calls_without_valid_credentials_are_unauthenticated(identity: Identity) -> None:
    await _bootstrap(identity)
    tokens = await _login(identity)
    unsigned = jwt.encode({"sub": "x", "org": "y", "role": "owner", "typ": "access"}, key="", algorithm="none")
    for metadata in [(), bearer(tokens.refresh_token), bearer(unsigned), (("x-api-key", "opx_nope_nope"),)]:
        call = identity.users.ListUsers(pb.ListUsersRequest(), metadata=metadata)
        assert await _code_of(call) == grpc.StatusCode.UNAUTHENTICATED
    refused = identity.auth.Authenticate(pb.AuthenticateRequest(credential=tokens.refresh_token))
    assert await _code_of(refused) == grpc.StatusCode.UNAUTHENTICATED


async def test_refresh_token_reuse_over_grpc_signs_the_family_out(identity: Identity) -> None:
    await _bootstrap(identity)
    first = await _login(identity)
    second: pb.RefreshTokenResponse = await identity.auth.RefreshToken(
        pb.RefreshTokenRequest(refresh_token=first.refresh_token)
    )
    reuse = identity.auth.RefreshToken(pb.RefreshTokenRequest(refresh_token=first.refresh_token))
    assert await _code_of(reuse) == grpc.StatusCode.UNAUTHENTICATED
    newest = identity.auth.RefreshToken(pb.RefreshTokenRequest(refresh_token=second.tokens.refresh_token))
    assert await _code_of(newest) == grpc.StatusCode.UNAUTHENTICATED


async def test_logout_ends_the_session(identity: Identity) -> None:
    await _bootstrap(identity)
    tokens = await _login(identity)
    await identity.auth.Logout(pb.LogoutRequest(refresh_token=tokens.refresh_token))
    again = identity.auth.RefreshToken(pb.RefreshTokenRequest(refresh_token=tokens.refresh_token))
    assert await _code_of(again) == grpc.StatusCode.UNAUTHENTICATED


async def test_api_keys_work_as_credentials_until_revoked(identity: Identity) -> None:
    await _bootstrap(identity)
    admin = bearer((await _login(identity)).access_token)
    created: pb.CreateApiKeyResponse = await identity.api_keys.CreateApiKey(
        pb.CreateApiKeyRequest(name="price feed", role=pb.ROLE_ADMIN), metadata=admin
    )
    as_key = (("x-api-key", created.secret),)
    users: pb.ListUsersResponse = await identity.users.ListUsers(pb.ListUsersRequest(), metadata=as_key)
    assert [u.email for u in users.users] == ["admin@demo.local"]
    me: pb.GetCurrentUserResponse = await identity.users.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=as_key)
    assert (me.principal.subject_id, me.HasField("user")) == (created.api_key.id, False)

    listed: pb.ListApiKeysResponse = await identity.api_keys.ListApiKeys(pb.ListApiKeysRequest(), metadata=admin)
    assert [(k.id, k.display_prefix, k.HasField("revoke_time")) for k in listed.api_keys] == [
        (created.api_key.id, created.api_key.display_prefix, False)
    ]
    assert created.secret not in str(listed)

    revoked: pb.RevokeApiKeyResponse = await identity.api_keys.RevokeApiKey(
        pb.RevokeApiKeyRequest(api_key_id=created.api_key.id), metadata=admin
    )
    assert revoked.api_key.HasField("revoke_time")
    assert await _code_of(identity.users.ListUsers(pb.ListUsersRequest(), metadata=as_key)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


async def test_other_services_resolve_api_keys_through_authenticate(identity: Identity) -> None:
    created_org = await _bootstrap(identity)
    admin = bearer((await _login(identity)).access_token)
    created: pb.CreateApiKeyResponse = await identity.api_keys.CreateApiKey(
        pb.CreateApiKeyRequest(name="feed", role=pb.ROLE_ANALYST), metadata=admin
    )
    authenticator = remote_authenticator(identity.settings, identity.channel)
    principal = await authenticator.authenticate(created.secret)
    assert (principal.organization_id, principal.subject_id, principal.role, principal.credential_kind) == (
        created_org.organization.id,
        created.api_key.id,
        Role.ANALYST,
        CredentialKind.API_KEY,
    )
    with pytest.raises(Unauthenticated):
        await authenticator.authenticate(f"opx_{created.api_key.id}_wrong")


async def test_changes_made_here_are_in_the_audit_log_refusals_included(identity: Identity) -> None:
    created = await _bootstrap(identity)
    owner = bearer((await _login(identity)).access_token)
    await identity.users.CreateUser(
        pb.CreateUserRequest(email="viewer@demo.local", password=PASSWORD, role=pb.ROLE_VIEWER), metadata=owner
    )
    viewer = bearer((await _login(identity, "viewer@demo.local")).access_token)
    refused = identity.users.CreateUser(
        pb.CreateUserRequest(email="x@demo.local", password=PASSWORD, role=pb.ROLE_VIEWER), metadata=viewer
    )
    assert await _code_of(refused) == grpc.StatusCode.PERMISSION_DENIED

    log: pb.ListAuditEntriesResponse = await identity.audit.ListAuditEntries(
        pb.ListAuditEntriesRequest(), metadata=owner
    )
    assert [(e.action, e.outcome, e.actor_id == created.owner.id) for e in log.entries] == [
        ("/omnipricex.identity.v1.UserService/CreateUser", "PERMISSION_DENIED", False),
        ("/omnipricex.identity.v1.UserService/CreateUser", "OK", True),
    ]
    assert all(e.organization_id == created.organization.id for e in log.entries)


async def test_other_services_record_audit_entries_for_their_caller_only(identity: Identity) -> None:
    created = await _bootstrap(identity)
    token = (await _login(identity)).access_token
    sink = RemoteAuditSink(identity.channel, deadline_seconds=5)

    def record(organization_id: str) -> AuditRecord:
        return AuditRecord(
            organization_id=organization_id,
            actor_id=created.owner.id,
            action="/omnipricex.product.v1.ProductService/UpdateProduct",
            resource="product/SKU-1",
            outcome="OK",
            trace_id="",
            time=utcnow(),
        )

    await sink.record([record(created.organization.id)], token)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await sink.record([record("another-organisation")], token)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    log: pb.ListAuditEntriesResponse = await identity.audit.ListAuditEntries(
        pb.ListAuditEntriesRequest(actor_id=created.owner.id), metadata=bearer(token)
    )
    assert [(e.action, e.resource) for e in log.entries] == [
        ("/omnipricex.product.v1.ProductService/UpdateProduct", "product/SKU-1")
    ]
