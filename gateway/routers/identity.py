"""/v1/users, /v1/api-keys and /v1/audit-entries → omnipricex.identity.v1 (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from gateway.deps import Admin
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.common import PageQuery
from gateway.schemas.identity import (
    ApiKey,
    ApiKeyPage,
    AuditEntryPage,
    AuditQuery,
    CreatedApiKey,
    NewApiKey,
    NewUser,
    User,
    UserPage,
    UserPatch,
)
from gateway.translate.common import ROLES_BY_NAME, next_cursor, page_request
from gateway.translate.identity import api_key_json, audit_entry_json, user_json
from omnipricex.identity.v1 import identity_pb2

router = APIRouter(prefix="/v1", tags=["identity"], responses=PROTECTED, default_response_class=JsonResponse)
ResourceId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/users", response_model=UserPage, summary="Users of the organisation (admin)")
async def list_users(query: Annotated[PageQuery, Query()], caller: Admin) -> Response:
    response = await caller.stubs.users.ListUsers(
        identity_pb2.ListUsersRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [user_json(user) for user in response.users], "next_cursor": next_cursor(response.page)}
    )


@router.post("/users", response_model=User, status_code=201, responses=problems(409), summary="Add a user (admin)")
async def create_user(body: NewUser, caller: Admin) -> Response:
    response = await caller.stubs.users.CreateUser(
        identity_pb2.CreateUserRequest(email=body.email, password=body.password, role=ROLES_BY_NAME[body.role]),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(user_json(response.user), status_code=201)


@router.patch("/users/{user_id}", response_model=User, responses=problems(404), summary="Change a user's role (admin)")
async def update_user(user_id: ResourceId, body: UserPatch, caller: Admin) -> Response:
    response = await caller.stubs.users.UpdateUserRole(
        identity_pb2.UpdateUserRoleRequest(user_id=user_id, role=ROLES_BY_NAME[body.role]),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(user_json(response.user))


@router.post("/users/{user_id}/disable", response_model=User, responses=problems(404), summary="Disable a user (admin)")
async def disable_user(user_id: ResourceId, caller: Admin) -> Response:
    response = await caller.stubs.users.DisableUser(
        identity_pb2.DisableUserRequest(user_id=user_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(user_json(response.user))


@router.get("/api-keys", response_model=ApiKeyPage, summary="API keys of the organisation (admin)")
async def list_api_keys(query: Annotated[PageQuery, Query()], caller: Admin) -> Response:
    response = await caller.stubs.api_keys.ListApiKeys(
        identity_pb2.ListApiKeysRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [api_key_json(key) for key in response.api_keys], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/api-keys",
    response_model=CreatedApiKey,
    status_code=201,
    summary="Create an API key (admin); its secret is shown only in this response",
)
async def create_api_key(body: NewApiKey, caller: Admin) -> Response:
    response = await caller.stubs.api_keys.CreateApiKey(
        identity_pb2.CreateApiKeyRequest(name=body.name, role=ROLES_BY_NAME[body.role]),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"api_key": api_key_json(response.api_key), "secret": response.secret},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.delete(
    "/api-keys/{api_key_id}",
    response_model=ApiKey,
    responses=problems(404),
    summary="Revoke an API key (admin); it never authenticates again",
)
async def revoke_api_key(api_key_id: ResourceId, caller: Admin) -> Response:
    response = await caller.stubs.api_keys.RevokeApiKey(
        identity_pb2.RevokeApiKeyRequest(api_key_id=api_key_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(api_key_json(response.api_key))


@router.get("/audit-entries", response_model=AuditEntryPage, summary="The audit log, newest first (admin)")
async def list_audit_entries(query: Annotated[AuditQuery, Query()], caller: Admin) -> Response:
    response = await caller.stubs.audit.ListAuditEntries(
        identity_pb2.ListAuditEntriesRequest(
            page=page_request(query.limit, query.cursor), actor_id=query.actor_id or ""
        ),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [audit_entry_json(entry) for entry in response.entries], "next_cursor": next_cursor(response.page)}
    )
