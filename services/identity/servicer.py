"""gRPC servicers of identity: proto in, use case, proto out. No decisions are made here."""

from __future__ import annotations

from typing import Any

import grpc

from omnipricex.common.v1 import paging_pb2
from omnipricex.identity.v1 import identity_pb2 as pb
from omnipricex.identity.v1 import identity_pb2_grpc as pb_grpc
from runtime.auth import Principal, current_principal
from runtime.timestamps import from_timestamp, to_timestamp
from services.identity.domain import ApiKey, AuditEntry, Organization, User
from services.identity.use_cases import IdentityUseCases, IssuedTokens, NewAuditEntry

Context = grpc.aio.ServicerContext[Any, Any]
BOOTSTRAP_TOKEN_METADATA = "x-bootstrap-token"  # noqa: S105 - a metadata key, not a secret


def _organization(organization: Organization) -> pb.Organization:
    return pb.Organization(
        id=organization.id, name=organization.name, create_time=to_timestamp(organization.created_at)
    )


def _user(user: User) -> pb.User:
    return pb.User(
        id=user.id,
        organization_id=user.organization_id,
        email=user.email,
        role=pb.Role.ValueType(user.role),
        disabled=user.disabled,
        create_time=to_timestamp(user.created_at),
    )


def _api_key(key: ApiKey) -> pb.ApiKey:
    message = pb.ApiKey(
        id=key.id,
        organization_id=key.organization_id,
        name=key.name,
        role=pb.Role.ValueType(key.role),
        display_prefix=key.display_prefix,
        create_time=to_timestamp(key.created_at),
        created_by=key.created_by,
    )
    if key.revoked_at is not None:
        message.revoke_time.CopyFrom(to_timestamp(key.revoked_at))
    return message


def _principal(principal: Principal) -> pb.Principal:
    return pb.Principal(
        organization_id=principal.organization_id,
        subject_id=principal.subject_id,
        role=pb.Role.ValueType(principal.role),
        credential_kind=pb.CredentialKind.ValueType(principal.credential_kind),
    )


def _audit_entry(entry: AuditEntry) -> pb.AuditEntry:
    return pb.AuditEntry(
        id=entry.id,
        organization_id=entry.organization_id,
        actor_id=entry.actor_id,
        action=entry.action,
        resource=entry.resource,
        outcome=entry.outcome,
        trace_id=entry.trace_id,
        time=to_timestamp(entry.time),
    )


def _new_audit_entry(message: pb.AuditEntry) -> NewAuditEntry:
    return NewAuditEntry(
        id=message.id,
        organization_id=message.organization_id,
        actor_id=message.actor_id,
        action=message.action,
        resource=message.resource,
        outcome=message.outcome,
        trace_id=message.trace_id,
        time=from_timestamp(message.time) if message.HasField("time") else None,
    )


def _token_pair(tokens: IssuedTokens) -> pb.TokenPair:
    return pb.TokenPair(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        refresh_expires_in=tokens.refresh_expires_in,
        token_type=tokens.token_type,
    )


def _page(next_page_token: str) -> paging_pb2.PageResponse:
    return paging_pb2.PageResponse(next_page_token=next_page_token)


def _metadata_value(context: Context, key: str) -> str:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else value
    return ""


class AuthServicer(pb_grpc.AuthServiceServicer):
    def __init__(self, use_cases: IdentityUseCases) -> None:
        self._auth = use_cases.auth

    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.LoginResponse:
        tokens, user = await self._auth.login(request.email, request.password)
        return pb.LoginResponse(tokens=_token_pair(tokens), user=_user(user))

    async def RefreshToken(self, request: pb.RefreshTokenRequest, context: Context) -> pb.RefreshTokenResponse:
        return pb.RefreshTokenResponse(tokens=_token_pair(await self._auth.refresh(request.refresh_token)))

    async def Logout(self, request: pb.LogoutRequest, context: Context) -> pb.LogoutResponse:
        await self._auth.logout(request.refresh_token)
        return pb.LogoutResponse()

    async def Authenticate(self, request: pb.AuthenticateRequest, context: Context) -> pb.AuthenticateResponse:
        return pb.AuthenticateResponse(principal=_principal(await self._auth.authenticate(request.credential)))


class OrganizationServicer(pb_grpc.OrganizationServiceServicer):
    def __init__(self, use_cases: IdentityUseCases) -> None:
        self._organizations = use_cases.organizations

    async def CreateOrganization(
        self, request: pb.CreateOrganizationRequest, context: Context
    ) -> pb.CreateOrganizationResponse:
        organization, owner = await self._organizations.create_organization(
            _metadata_value(context, BOOTSTRAP_TOKEN_METADATA),
            name=request.name,
            owner_email=request.owner_email,
            owner_password=request.owner_password,
        )
        return pb.CreateOrganizationResponse(organization=_organization(organization), owner=_user(owner))

    async def GetOrganization(self, request: pb.GetOrganizationRequest, context: Context) -> pb.GetOrganizationResponse:
        organization = await self._organizations.get_organization(current_principal())
        return pb.GetOrganizationResponse(organization=_organization(organization))


class UserServicer(pb_grpc.UserServiceServicer):
    def __init__(self, use_cases: IdentityUseCases) -> None:
        self._users = use_cases.users

    async def CreateUser(self, request: pb.CreateUserRequest, context: Context) -> pb.CreateUserResponse:
        user = await self._users.create_user(
            current_principal(), email=request.email, password=request.password, role=request.role
        )
        return pb.CreateUserResponse(user=_user(user))

    async def ListUsers(self, request: pb.ListUsersRequest, context: Context) -> pb.ListUsersResponse:
        page = await self._users.list_users(
            current_principal(), page_size=request.page.page_size, page_token=request.page.page_token
        )
        return pb.ListUsersResponse(users=[_user(u) for u in page.items], page=_page(page.next_page_token))

    async def UpdateUserRole(self, request: pb.UpdateUserRoleRequest, context: Context) -> pb.UpdateUserRoleResponse:
        user = await self._users.update_user_role(current_principal(), user_id=request.user_id, role=request.role)
        return pb.UpdateUserRoleResponse(user=_user(user))

    async def DisableUser(self, request: pb.DisableUserRequest, context: Context) -> pb.DisableUserResponse:
        user = await self._users.disable_user(current_principal(), user_id=request.user_id)
        return pb.DisableUserResponse(user=_user(user))

    async def GetCurrentUser(self, request: pb.GetCurrentUserRequest, context: Context) -> pb.GetCurrentUserResponse:
        principal = current_principal()
        user = await self._users.current_user(principal)
        response = pb.GetCurrentUserResponse(principal=_principal(principal))
        if user is not None:
            response.user.CopyFrom(_user(user))
        return response


class ApiKeyServicer(pb_grpc.ApiKeyServiceServicer):
    def __init__(self, use_cases: IdentityUseCases) -> None:
        self._api_keys = use_cases.api_keys

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: Context) -> pb.CreateApiKeyResponse:
        key, secret = await self._api_keys.create_api_key(current_principal(), name=request.name, role=request.role)
        return pb.CreateApiKeyResponse(api_key=_api_key(key), secret=secret)

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: Context) -> pb.ListApiKeysResponse:
        page = await self._api_keys.list_api_keys(
            current_principal(), page_size=request.page.page_size, page_token=request.page.page_token
        )
        return pb.ListApiKeysResponse(api_keys=[_api_key(k) for k in page.items], page=_page(page.next_page_token))

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: Context) -> pb.RevokeApiKeyResponse:
        key = await self._api_keys.revoke_api_key(current_principal(), api_key_id=request.api_key_id)
        return pb.RevokeApiKeyResponse(api_key=_api_key(key))


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, use_cases: IdentityUseCases) -> None:
        self._audit = use_cases.audit

    async def RecordAuditEntries(
        self, request: pb.RecordAuditEntriesRequest, context: Context
    ) -> pb.RecordAuditEntriesResponse:
        await self._audit.record(current_principal(), [_new_audit_entry(e) for e in request.entries])
        return pb.RecordAuditEntriesResponse()

    async def ListAuditEntries(
        self, request: pb.ListAuditEntriesRequest, context: Context
    ) -> pb.ListAuditEntriesResponse:
        page = await self._audit.list_entries(
            current_principal(),
            actor_id=request.actor_id,
            page_size=request.page.page_size,
            page_token=request.page.page_token,
        )
        return pb.ListAuditEntriesResponse(
            entries=[_audit_entry(e) for e in page.items], page=_page(page.next_page_token)
        )
