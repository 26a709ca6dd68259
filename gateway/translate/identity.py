"""Login, users, API keys and audit entries: omnipricex.identity.v1 messages → REST JSON."""

from __future__ import annotations

from typing import Any

from gateway.translate.common import ROLE_NAMES, rfc3339
from omnipricex.identity.v1 import identity_pb2

CREDENTIAL_KIND_NAMES: dict[int, str] = {
    identity_pb2.CREDENTIAL_KIND_ACCESS_TOKEN: "access_token",
    identity_pb2.CREDENTIAL_KIND_API_KEY: "api_key",
}


def tokens_json(tokens: identity_pb2.TokenPair) -> dict[str, Any]:
    return {
        "access_token": tokens.access_token,
        "token_type": "bearer",
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
        "refresh_expires_in": tokens.refresh_expires_in,
    }


def user_json(user: identity_pb2.User) -> dict[str, Any]:
    return {
        "id": user.id,
        "organization_id": user.organization_id,
        "email": user.email,
        "role": ROLE_NAMES[user.role],
        "disabled": user.disabled,
        "create_time": rfc3339(user.create_time),
    }


def me_json(response: identity_pb2.GetCurrentUserResponse) -> dict[str, Any]:
    principal = response.principal
    return {
        "organization_id": principal.organization_id,
        "subject_id": principal.subject_id,
        "role": ROLE_NAMES[principal.role],
        "credential_kind": CREDENTIAL_KIND_NAMES[principal.credential_kind],
        "user": user_json(response.user) if response.HasField("user") else None,
    }


def api_key_json(key: identity_pb2.ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "organization_id": key.organization_id,
        "name": key.name,
        "role": ROLE_NAMES[key.role],
        "display_prefix": key.display_prefix,
        "created_by": key.created_by,
        "create_time": rfc3339(key.create_time),
        "revoke_time": rfc3339(key.revoke_time) if key.HasField("revoke_time") else None,
    }


def audit_entry_json(entry: identity_pb2.AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "organization_id": entry.organization_id,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "resource": entry.resource,
        "outcome": entry.outcome,
        "trace_id": entry.trace_id,
        "time": rfc3339(entry.time),
    }
