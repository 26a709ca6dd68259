"""What identity needs from storage; the SQLite and MongoDB engines both pass one contract suite.

Every read of a tenant's data takes the organisation id. The only lookups without one are the
ones that find the tenant in the first place: a user by (globally unique) email at login, a refresh
token by its hash, and an API key by its id while authenticating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.identity.domain import ApiKey, AuditEntry, Organization, RefreshToken, User


@dataclass(frozen=True, slots=True)
class AuditPosition:
    """Where a newest-first page of audit entries ended."""

    time: datetime
    id: str


class Organizations(Protocol):
    async def create_organization(self, organization: Organization, owner: User) -> None:
        """Both or neither; AlreadyExists when the owner's email is taken."""

    async def get_organization(self, organization_id: str) -> Organization | None: ...


class Users(Protocol):
    async def add_user(self, user: User) -> None:
        """AlreadyExists when the email is taken (emails are unique across organisations)."""

    async def get_user(self, organization_id: str, user_id: str) -> User | None: ...

    async def find_user_by_email(self, email: str) -> User | None: ...

    async def list_users(self, organization_id: str, *, after_id: str, limit: int) -> list[User]:
        """Users in id (creation) order, starting after `after_id` ("" for the first page)."""

    async def save_user(self, user: User) -> User:
        """Store role and status if the stored version still equals user.version; returns the new version.

        Conflict when someone else changed the user since it was read; FailedPrecondition when the change
        would leave the organisation without an enabled owner (checked atomically with the write).
        """

    async def set_password_hash(self, organization_id: str, user_id: str, password_hash: str) -> None: ...


class RefreshTokens(Protocol):
    async def add_refresh_token(self, token: RefreshToken) -> None: ...

    async def find_refresh_token(self, token_hash: str) -> RefreshToken | None: ...

    async def rotate_refresh_token(self, presented_id: str, successor: RefreshToken, now: datetime) -> bool:
        """Mark the presented token used and store its successor, atomically.

        False, with nothing written, when the presented token was already used or revoked, or its family
        was revoked: of two concurrent rotations of one token, exactly one succeeds.
        """

    async def revoke_refresh_family(self, family_id: str, now: datetime) -> None:
        """Revoke every token of the family, including any successor a concurrent rotation adds."""

    async def revoke_user_refresh_tokens(self, organization_id: str, user_id: str, now: datetime) -> None: ...

    async def refresh_family(self, family_id: str) -> list[RefreshToken]:
        """Every token of a family, oldest first."""

    async def delete_expired_refresh_families(self, now: datetime) -> int:
        """Forget families whose newest token has expired (none of them can be used any more)."""


class ApiKeys(Protocol):
    async def add_api_key(self, key: ApiKey) -> None: ...

    async def find_api_key(self, key_id: str) -> ApiKey | None:
        """Any organisation's key: only for authenticating the key itself."""

    async def get_api_key(self, organization_id: str, key_id: str) -> ApiKey | None: ...

    async def list_api_keys(self, organization_id: str, *, after_id: str, limit: int) -> list[ApiKey]: ...

    async def revoke_api_key(self, organization_id: str, key_id: str, now: datetime) -> ApiKey | None:
        """Revoke once (a second revocation keeps the first time); None when there is no such key."""


class AuditLog(Protocol):
    async def add_audit_entries(self, entries: Sequence[AuditEntry]) -> None:
        """Idempotent on (organization_id, id): a retried batch does not duplicate entries."""

    async def list_audit_entries(
        self, organization_id: str, *, actor_id: str, before: AuditPosition | None, limit: int
    ) -> list[AuditEntry]:
        """Newest first (time, then id); only `actor_id`'s entries when it is not empty."""


class IdentityRepository(Organizations, Users, RefreshTokens, ApiKeys, AuditLog, Protocol):
    async def close(self) -> None: ...
