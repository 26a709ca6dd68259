"""Identity's domain: organisations, users, credentials, audit entries and the rules between them.

Pure: no I/O, no clock, no randomness. Callers pass the time and the generated values in.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from runtime.auth import API_KEY_PREFIX, Principal, Role
from runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied

MAX_EMAIL_LENGTH = 254
MAX_EMAIL_LOCAL_LENGTH = 64
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_ORGANIZATION_NAME_LENGTH = 200
MAX_API_KEY_NAME_LENGTH = 100
MAX_AUDIT_ENTRIES_PER_CALL = 1000
MAX_AUDIT_ACTION_LENGTH = 256
MAX_AUDIT_RESOURCE_LENGTH = 1024
MAX_AUDIT_OUTCOME_LENGTH = 64
MAX_AUDIT_TRACE_ID_LENGTH = 64
MAX_AUDIT_ID_LENGTH = 64
# Longer than any credential this service issues; refused before any work is done on it.
MAX_CREDENTIAL_LENGTH = 4096

LAST_OWNER_MESSAGE = "an organisation must keep at least one enabled owner"

_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    id: str
    organization_id: str
    email: str
    role: Role
    disabled: bool
    password_hash: str
    created_at: datetime
    # Bumped by every role or status change so concurrent changes cannot overwrite each other.
    version: int = 1

    @property
    def is_enabled_owner(self) -> bool:
        return self.role is Role.OWNER and not self.disabled


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One link of a refresh-token family; only the hash of the token itself is ever stored."""

    id: str
    family_id: str
    user_id: str
    organization_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def retired(self) -> bool:
        """Already exchanged or revoked: presenting it again means it was stolen or replayed."""
        return self.used_at is not None or self.revoked_at is not None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    organization_id: str
    name: str
    role: Role
    display_prefix: str
    secret_hash: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    organization_id: str
    actor_id: str
    action: str
    resource: str
    outcome: str
    trace_id: str
    time: datetime


# --- input rules ----------------------------------------------------------------------------------


def normalise_email(raw: str, *, field: str = "email") -> str:
    if len(raw) > 4 * MAX_EMAIL_LENGTH:  # refused before any work is spent on it
        raise InvalidArgument(f"email addresses are at most {MAX_EMAIL_LENGTH} characters", field=field)
    email = raw.strip().lower()
    if not email:
        raise InvalidArgument("an email address is required", field=field)
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidArgument(f"email addresses are at most {MAX_EMAIL_LENGTH} characters", field=field)
    local, _, _ = email.partition("@")
    if len(local) > MAX_EMAIL_LOCAL_LENGTH or not _EMAIL.match(email):
        raise InvalidArgument("not a valid email address (name@example.com, ASCII only)", field=field)
    return email


def normalise_password(raw: str, *, field: str = "password") -> str:
    """NFKC so that the same password typed on different keyboards hashes the same way."""
    if len(raw) > MAX_PASSWORD_LENGTH:  # refused before any work is spent on it
        raise InvalidArgument(f"passwords are at most {MAX_PASSWORD_LENGTH} characters", field=field)
    return unicodedata.normalize("NFKC", raw)


def check_password_policy(password: str, *, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(f"passwords need at least {MIN_PASSWORD_LENGTH} characters", field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidArgument(f"passwords are at most {MAX_PASSWORD_LENGTH} characters", field=field)
    if not password.strip():
        raise InvalidArgument("a password cannot be only spaces", field=field)


def clean_name(raw: str, *, field: str, max_length: int) -> str:
    name = " ".join(raw.split())
    if not name:
        raise InvalidArgument("a name is required", field=field)
    if len(name) > max_length:
        raise InvalidArgument(f"at most {max_length} characters", field=field)
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidArgument("control characters are not allowed", field=field)
    return name


def role_from_number(value: int, *, field: str = "role") -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidArgument(
            "a role is required: viewer, analyst, pricing manager, admin or owner", field=field
        ) from None


# --- role rules -----------------------------------------------------------------------------------


def check_can_grant(caller: Principal, role: Role) -> None:
    """A caller grants at most its own role, so only an owner can make another owner."""
    if role > caller.role:
        raise PermissionDenied(f"you cannot grant the {role.name.lower()} role, which is above your own")


def check_can_manage(caller: Principal, target: User) -> None:
    if target.organization_id != caller.organization_id:
        raise PermissionDenied("that user belongs to another organisation")
    if target.id == caller.subject_id:
        raise FailedPrecondition("you cannot change your own role or status; ask another administrator")
    if target.role > caller.role:
        raise PermissionDenied("you cannot change a user whose role is above your own")


def check_can_revoke(caller: Principal, key: ApiKey) -> None:
    if key.role > caller.role:
        raise PermissionDenied("you cannot revoke an API key whose role is above your own")


def with_role(user: User, role: Role) -> User:
    return replace(user, role=role)


def disabled(user: User) -> User:
    return replace(user, disabled=True)


def loses_an_owner(before: User, after: User) -> bool:
    """True when a change takes away one of the organisation's enabled owners."""
    return before.is_enabled_owner and not after.is_enabled_owner


# --- credentials ----------------------------------------------------------------------------------


def sha256_hex(secret: str) -> str:
    """Hash of a high-entropy secret: a fast hash is right, there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


def refresh_token(
    *, token: str, token_id: str, family_id: str, user: User, now: datetime, ttl: timedelta
) -> RefreshToken:
    return RefreshToken(
        id=token_id,
        family_id=family_id,
        user_id=user.id,
        organization_id=user.organization_id,
        token_hash=sha256_hex(token),
        created_at=now,
        expires_at=now + ttl,
    )


def api_key_text(key_id: str, secret: str) -> str:
    return f"{API_KEY_PREFIX}{key_id}_{secret}"


def api_key_display_prefix(key_id: str, secret: str) -> str:
    return f"{API_KEY_PREFIX}{key_id}_{secret[:4]}"


def split_api_key(credential: str) -> tuple[str, str] | None:
    """(key id, secret) of an `opx_<id>_<secret>` key, or None when it does not have that shape."""
    if not credential.startswith(API_KEY_PREFIX):
        return None
    key_id, separator, secret = credential[len(API_KEY_PREFIX) :].partition("_")
    if not separator or not key_id or not secret:
        return None
    return key_id, secret


# --- audit ----------------------------------------------------------------------------------------


def check_audit_entry(entry: AuditEntry, caller: Principal, index: int) -> None:
    field = f"entries[{index}]"
    if entry.organization_id != caller.organization_id or entry.actor_id != caller.subject_id:
        raise PermissionDenied(f"{field}: audit entries can only be recorded for your own organisation and subject")
    if not entry.action or len(entry.action) > MAX_AUDIT_ACTION_LENGTH:
        raise InvalidArgument(f"an action of 1 to {MAX_AUDIT_ACTION_LENGTH} characters is required", field=field)
    if len(entry.resource) > MAX_AUDIT_RESOURCE_LENGTH:
        raise InvalidArgument(f"resource is at most {MAX_AUDIT_RESOURCE_LENGTH} characters", field=field)
    if not entry.outcome or len(entry.outcome) > MAX_AUDIT_OUTCOME_LENGTH:
        raise InvalidArgument(f"an outcome of 1 to {MAX_AUDIT_OUTCOME_LENGTH} characters is required", field=field)
    if len(entry.trace_id) > MAX_AUDIT_TRACE_ID_LENGTH:
        raise InvalidArgument(f"trace_id is at most {MAX_AUDIT_TRACE_ID_LENGTH} characters", field=field)
    if len(entry.id) > MAX_AUDIT_ID_LENGTH:
        raise InvalidArgument(f"id is at most {MAX_AUDIT_ID_LENGTH} characters", field=field)
