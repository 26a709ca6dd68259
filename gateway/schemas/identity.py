"""The REST shape of login, users, API keys and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateway.schemas.common import PageQuery, RequestModel, RoleName


class LoginBody(RequestModel):
    email: str = Field(max_length=320, examples=["admin@demo.local"])
    password: str = Field(max_length=1024)


class RefreshBody(RequestModel):
    refresh_token: str = Field(max_length=4096)


class Tokens(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Single use: each refresh returns a new one.")
    refresh_expires_in: int


class User(BaseModel):
    id: str
    organization_id: str
    email: str
    role: RoleName
    disabled: bool
    create_time: datetime


class UserPage(BaseModel):
    items: list[User]
    next_cursor: str | None


class NewUser(RequestModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    role: RoleName


class UserPatch(RequestModel):
    role: RoleName


class Me(BaseModel):
    organization_id: str
    subject_id: str = Field(description="User id for access tokens, API key id for API keys.")
    role: RoleName
    credential_kind: Literal["access_token", "api_key"]
    user: User | None = Field(description="Null when the caller is an API key.")


class ApiKey(BaseModel):
    id: str
    organization_id: str
    name: str
    role: RoleName
    display_prefix: str = Field(description="Non-secret start of the key, to tell keys apart.")
    created_by: str
    create_time: datetime
    revoke_time: datetime | None


class ApiKeyPage(BaseModel):
    items: list[ApiKey]
    next_cursor: str | None


class NewApiKey(RequestModel):
    name: str = Field(max_length=200)
    role: RoleName


class CreatedApiKey(BaseModel):
    api_key: ApiKey
    secret: str = Field(description="The full key. It is shown only in this response.")


class AuditEntry(BaseModel):
    id: str
    organization_id: str
    actor_id: str
    action: str = Field(description="The RPC that made the change.")
    resource: str
    outcome: str = Field(description='"OK" or the gRPC status name of a refused change.')
    trace_id: str
    time: datetime


class AuditEntryPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


class AuditQuery(PageQuery):
    actor_id: str | None = Field(None, description="Only the changes made by this user or API key.")
