"""Identity's application logic: every entry point takes the caller's principal explicitly (or is public)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NoReturn, Protocol, TypeVar

from runtime import pagination
from runtime.auth import AccessTokens, CredentialKind, Principal, Role, is_api_key
from runtime.clock import utcnow
from runtime.errors import InvalidArgument, NotFound, Unauthenticated
from runtime.ids import new_id
from runtime.pagination import Page
from services.identity import domain, metrics
from services.identity.domain import ApiKey, AuditEntry, Organization, RefreshToken, User
from services.identity.passwords import Passwords
from services.identity.repository import AuditPosition, IdentityRepository

Clock = Callable[[], datetime]
TOKEN_TYPE = "Bearer"  # noqa: S105 - the OAuth token_type, not a secret
REFRESH_TOKEN_BYTES = 32
API_KEY_SECRET_BYTES = 32

BAD_LOGIN = "email or password is incorrect"
BAD_REFRESH = "refresh token is not valid; log in again"
REUSED_REFRESH = "refresh token was already used; every session of this login has been signed out"
BAD_API_KEY = "API key is not valid"

T = TypeVar("T")


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Identified = TypeVar("Identified", bound=_Identified)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    token_type: str = TOKEN_TYPE


@dataclass(frozen=True, slots=True)
class NewAuditEntry:
    """An audit entry as a caller reports it: no id means a new one, no time means now."""

    organization_id: str
    actor_id: str
    action: str
    resource: str
    outcome: str
    trace_id: str
    time: datetime | None
    id: str = ""


def _to_millisecond(moment: datetime) -> datetime:
    # Both engines keep milliseconds; truncating first makes what we return equal what we read back later.
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _millisecond_clock(clock: Clock) -> Clock:
    return lambda: _to_millisecond(clock())


def _credential_or_refuse(credential: str, message: str) -> str:
    if not credential or len(credential) > domain.MAX_CREDENTIAL_LENGTH:
        raise Unauthenticated(message)
    return credential


async def _page_by_id(
    fetch: Callable[[str, int], Awaitable[list[Identified]]], requested_size: int, page_token: str
) -> Page[Identified]:
    size = pagination.page_size(requested_size)
    after = pagination.decode_token(page_token).get("after", "")
    if not isinstance(after, str):
        raise InvalidArgument("page_token is not a token this API issued", field="page_token")
    items = await fetch(after, size + 1)
    if len(items) > size:
        return Page(items[:size], pagination.encode_token({"after": items[size - 1].id}))
    return Page(items, "")


class AuthUseCases:
    """Login, refresh-token rotation with reuse detection, logout, and credential resolution."""

    def __init__(
        self,
        repository: IdentityRepository,
        passwords: Passwords,
        access_tokens: AccessTokens,
        *,
        refresh_ttl: timedelta,
        clock: Clock = utcnow,
    ) -> None:
        self._repo = repository
        self._passwords = passwords
        self._tokens = access_tokens
        self._refresh_ttl = refresh_ttl
        self._now = _millisecond_clock(clock)

    async def login(self, email: str, password: str) -> tuple[IssuedTokens, User]:
        try:
            password = domain.normalise_password(password)
        except InvalidArgument:
            raise Unauthenticated(BAD_LOGIN) from None
        if not password:
            raise Unauthenticated(BAD_LOGIN)
        try:
            user = await self._repo.find_user_by_email(domain.normalise_email(email))
        except InvalidArgument:
            user = None
        if user is None:
            # As slow as a wrong password, so the answer does not tell which emails have accounts.
            await self._passwords.burn(password)
            metrics.LOGINS.labels("refused").inc()
            raise Unauthenticated(BAD_LOGIN)
        if not await self._passwords.verify(user.password_hash, password):
            metrics.LOGINS.labels("refused").inc()
            raise Unauthenticated(BAD_LOGIN)
        if user.disabled:
            metrics.LOGINS.labels("disabled").inc()
            raise Unauthenticated("this account is disabled")
        if self._passwords.needs_rehash(user.password_hash):
            await self._repo.set_password_hash(user.organization_id, user.id, await self._passwords.hash(password))
        refresh_text = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        first = self._refresh_token(refresh_text, family_id=new_id(), user=user)
        await self._repo.add_refresh_token(first)
        metrics.LOGINS.labels("ok").inc()
        return self._issue(user, refresh_text), user

    async def refresh(self, presented: str) -> IssuedTokens:
        token = await self._find_refresh_token(presented)
        now = self._now()
        if token.retired:
            await self._reused(token, now)
        if token.expired(now):
            raise Unauthenticated("refresh token has expired; log in again")
        user = await self._repo.get_user(token.organization_id, token.user_id)
        if user is None or user.disabled:
            await self._repo.revoke_refresh_family(token.family_id, now)
            raise Unauthenticated("this account is disabled")
        refresh_text = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        successor = self._refresh_token(refresh_text, family_id=token.family_id, user=user)
        if not await self._repo.rotate_refresh_token(token.id, successor, now):
            # Another request exchanged the same token first: one of the two holders is not its owner.
            await self._reused(token, now)
        return self._issue(user, refresh_text)

    async def _reused(self, token: RefreshToken, now: datetime) -> NoReturn:
        await self._repo.revoke_refresh_family(token.family_id, now)
        metrics.REFRESH_TOKEN_REUSE.inc()
        raise Unauthenticated(REUSED_REFRESH)

    async def logout(self, presented: str) -> None:
        """Revoke the token's family; unknown tokens are ignored, as OAuth token revocation does."""
        try:
            token = await self._find_refresh_token(presented)
        except Unauthenticated:
            return
        await self._repo.revoke_refresh_family(token.family_id, self._now())

    async def authenticate(self, credential: str) -> Principal:
        """An access token (whose user must still be enabled, with today's role) or an API key."""
        credential = _credential_or_refuse(credential, "credentials are required")
        if is_api_key(credential):
            return await self.resolve_api_key(credential)
        principal = self._tokens.verify(credential)
        user = await self._repo.get_user(principal.organization_id, principal.subject_id)
        if user is None or user.disabled:
            raise Unauthenticated("the account behind this access token is disabled")
        return replace(principal, role=user.role)

    async def resolve_api_key(self, credential: str) -> Principal:
        parts = domain.split_api_key(credential) if len(credential) <= domain.MAX_CREDENTIAL_LENGTH else None
        key = await self._repo.find_api_key(parts[0]) if parts is not None else None
        if parts is None or key is None or not hmac.compare_digest(key.secret_hash, domain.sha256_hex(parts[1])):
            metrics.API_KEY_AUTHENTICATIONS.labels("invalid").inc()
            raise Unauthenticated(BAD_API_KEY)
        if key.revoked:
            metrics.API_KEY_AUTHENTICATIONS.labels("revoked").inc()
            raise Unauthenticated("API key has been revoked")
        metrics.API_KEY_AUTHENTICATIONS.labels("ok").inc()
        return Principal(key.organization_id, key.id, key.role, CredentialKind.API_KEY)

    async def purge_expired_refresh_tokens(self) -> int:
        return await self._repo.delete_expired_refresh_families(self._now())

    async def _find_refresh_token(self, presented: str) -> RefreshToken:
        token = await self._repo.find_refresh_token(domain.sha256_hex(_credential_or_refuse(presented, BAD_REFRESH)))
        if token is None:
            raise Unauthenticated(BAD_REFRESH)
        return token

    def _refresh_token(self, text: str, *, family_id: str, user: User) -> RefreshToken:
        return domain.refresh_token(
            token=text, token_id=new_id(), family_id=family_id, user=user, now=self._now(), ttl=self._refresh_ttl
        )

    def _issue(self, user: User, refresh_text: str) -> IssuedTokens:
        access = self._tokens.issue(user_id=user.id, organization_id=user.organization_id, role=user.role)
        return IssuedTokens(
            access_token=access.token,
            expires_in=access.expires_in,
            refresh_token=refresh_text,
            refresh_expires_in=int(self._refresh_ttl.total_seconds()),
        )


class OrganizationUseCases:
    def __init__(
        self, repository: IdentityRepository, passwords: Passwords, *, bootstrap_token: str, clock: Clock = utcnow
    ) -> None:
        self._repo = repository
        self._passwords = passwords
        self._bootstrap_token = bootstrap_token.encode()
        self._now = _millisecond_clock(clock)

    async def create_organization(
        self, presented_bootstrap_token: str, *, name: str, owner_email: str, owner_password: str
    ) -> tuple[Organization, User]:
        """An operator action: the bootstrap token stands in for a user, who does not exist yet."""
        if not presented_bootstrap_token or not hmac.compare_digest(
            presented_bootstrap_token.encode(), self._bootstrap_token
        ):
            raise Unauthenticated("creating an organisation needs the operator's x-bootstrap-token")
        clean_name = domain.clean_name(name, field="name", max_length=domain.MAX_ORGANIZATION_NAME_LENGTH)
        email = domain.normalise_email(owner_email, field="owner_email")
        password = domain.normalise_password(owner_password, field="owner_password")
        domain.check_password_policy(password, field="owner_password")
        now = self._now()
        organization = Organization(id=new_id(), name=clean_name, created_at=now)
        owner = User(
            id=new_id(),
            organization_id=organization.id,
            email=email,
            role=Role.OWNER,
            disabled=False,
            password_hash=await self._passwords.hash(password),
            created_at=now,
        )
        await self._repo.create_organization(organization, owner)
        return organization, owner

    async def get_organization(self, principal: Principal) -> Organization:
        principal.require(Role.VIEWER)
        organization = await self._repo.get_organization(principal.organization_id)
        if organization is None:
            raise NotFound("your organisation no longer exists")
        return organization


class UserUseCases:
    def __init__(self, repository: IdentityRepository, passwords: Passwords, *, clock: Clock = utcnow) -> None:
        self._repo = repository
        self._passwords = passwords
        self._now = _millisecond_clock(clock)

    async def create_user(self, principal: Principal, *, email: str, password: str, role: int) -> User:
        principal.require(Role.ADMIN)
        granted = domain.role_from_number(role)
        domain.check_can_grant(principal, granted)
        normalised_email = domain.normalise_email(email)
        normalised_password = domain.normalise_password(password)
        domain.check_password_policy(normalised_password)
        user = User(
            id=new_id(),
            organization_id=principal.organization_id,
            email=normalised_email,
            role=granted,
            disabled=False,
            password_hash=await self._passwords.hash(normalised_password),
            created_at=self._now(),
        )
        await self._repo.add_user(user)
        return user

    async def list_users(self, principal: Principal, *, page_size: int, page_token: str) -> Page[User]:
        principal.require(Role.ADMIN)
        organization_id = principal.organization_id

        async def fetch(after_id: str, limit: int) -> list[User]:
            return await self._repo.list_users(organization_id, after_id=after_id, limit=limit)

        return await _page_by_id(fetch, page_size, page_token)

    async def update_user_role(self, principal: Principal, *, user_id: str, role: int) -> User:
        principal.require(Role.ADMIN)
        granted = domain.role_from_number(role)
        domain.check_can_grant(principal, granted)
        target = await self._get(principal, user_id)
        domain.check_can_manage(principal, target)
        if target.role is granted:
            return target
        return await self._repo.save_user(domain.with_role(target, granted))

    async def disable_user(self, principal: Principal, *, user_id: str) -> User:
        principal.require(Role.ADMIN)
        target = await self._get(principal, user_id)
        domain.check_can_manage(principal, target)
        if target.disabled:
            return target
        saved = await self._repo.save_user(domain.disabled(target))
        await self._repo.revoke_user_refresh_tokens(saved.organization_id, saved.id, self._now())
        return saved

    async def current_user(self, principal: Principal) -> User | None:
        """The caller's user record; None for API keys, which are not users."""
        principal.require(Role.VIEWER)
        if principal.credential_kind is CredentialKind.API_KEY:
            return None
        return await self._get(principal, principal.subject_id)

    async def _get(self, principal: Principal, user_id: str) -> User:
        user = await self._repo.get_user(principal.organization_id, user_id) if user_id else None
        if user is None:
            raise NotFound(f"no user {user_id!r} in your organisation", field="user_id")
        return user


class ApiKeyUseCases:
    def __init__(self, repository: IdentityRepository, *, clock: Clock = utcnow) -> None:
        self._repo = repository
        self._now = _millisecond_clock(clock)

    async def create_api_key(self, principal: Principal, *, name: str, role: int) -> tuple[ApiKey, str]:
        """The new key and its full text, which is never stored and cannot be shown again."""
        principal.require(Role.ADMIN)
        granted = domain.role_from_number(role)
        domain.check_can_grant(principal, granted)
        clean_name = domain.clean_name(name, field="name", max_length=domain.MAX_API_KEY_NAME_LENGTH)
        key_id = new_id()
        secret = secrets.token_urlsafe(API_KEY_SECRET_BYTES)
        key = ApiKey(
            id=key_id,
            organization_id=principal.organization_id,
            name=clean_name,
            role=granted,
            display_prefix=domain.api_key_display_prefix(key_id, secret),
            secret_hash=domain.sha256_hex(secret),
            created_by=principal.subject_id,
            created_at=self._now(),
        )
        await self._repo.add_api_key(key)
        return key, domain.api_key_text(key_id, secret)

    async def list_api_keys(self, principal: Principal, *, page_size: int, page_token: str) -> Page[ApiKey]:
        principal.require(Role.ADMIN)
        organization_id = principal.organization_id

        async def fetch(after_id: str, limit: int) -> list[ApiKey]:
            return await self._repo.list_api_keys(organization_id, after_id=after_id, limit=limit)

        return await _page_by_id(fetch, page_size, page_token)

    async def revoke_api_key(self, principal: Principal, *, api_key_id: str) -> ApiKey:
        principal.require(Role.ADMIN)
        key = await self._repo.get_api_key(principal.organization_id, api_key_id) if api_key_id else None
        if key is None:
            raise NotFound(f"no API key {api_key_id!r} in your organisation", field="api_key_id")
        domain.check_can_revoke(principal, key)
        revoked = await self._repo.revoke_api_key(principal.organization_id, api_key_id, self._now())
        if revoked is None:
            raise NotFound(f"no API key {api_key_id!r} in your organisation", field="api_key_id")
        return revoked


class AuditUseCases:
    def __init__(self, repository: IdentityRepository, *, clock: Clock = utcnow) -> None:
        self._repo = repository
        self._now = _millisecond_clock(clock)

    async def record(self, principal: Principal, entries: Sequence[NewAuditEntry]) -> None:
        """Entries another service reports for its caller, who must be the principal recording them."""
        if len(entries) > domain.MAX_AUDIT_ENTRIES_PER_CALL:
            raise InvalidArgument(f"at most {domain.MAX_AUDIT_ENTRIES_PER_CALL} entries per call", field="entries")
        complete = self._complete(entries)
        for index, entry in enumerate(complete):
            domain.check_audit_entry(entry, principal, index)
        await self._repo.add_audit_entries(complete)

    async def append(self, entries: Sequence[NewAuditEntry]) -> None:
        """Entries from identity's own audit interceptor, whose principal was already authenticated."""
        await self._repo.add_audit_entries(self._complete(entries))

    async def list_entries(
        self, principal: Principal, *, actor_id: str, page_size: int, page_token: str
    ) -> Page[AuditEntry]:
        principal.require(Role.ADMIN)
        size = pagination.page_size(page_size)
        before = _audit_position(page_token)
        entries = await self._repo.list_audit_entries(
            principal.organization_id, actor_id=actor_id, before=before, limit=size + 1
        )
        if len(entries) <= size:
            return Page(entries, "")
        last = entries[size - 1]
        token = pagination.encode_token({"t": last.time.isoformat(), "i": last.id})
        return Page(entries[:size], token)

    def _complete(self, entries: Sequence[NewAuditEntry]) -> list[AuditEntry]:
        now = self._now()
        return [
            AuditEntry(
                id=entry.id or new_id(),
                organization_id=entry.organization_id,
                actor_id=entry.actor_id,
                action=entry.action,
                resource=entry.resource,
                outcome=entry.outcome,
                trace_id=entry.trace_id,
                time=_to_millisecond(entry.time) if entry.time is not None else now,
            )
            for entry in entries
        ]


def _audit_position(page_token: str) -> AuditPosition | None:
    position = pagination.decode_token(page_token)
    if not position:
        return None
    time_text, entry_id = position.get("t"), position.get("i")
    if not isinstance(time_text, str) or not isinstance(entry_id, str):
        raise InvalidArgument("page_token is not a token this API issued", field="page_token")
    try:
        moment = datetime.fromisoformat(time_text)
    except ValueError:
        raise InvalidArgument("page_token is not a token this API issued", field="page_token") from None
    if moment.tzinfo is None:
        raise InvalidArgument("page_token is not a token this API issued", field="page_token")
    return AuditPosition(moment, entry_id)


@dataclass(frozen=True)
class IdentityUseCases:
    auth: AuthUseCases
    organizations: OrganizationUseCases
    users: UserUseCases
    api_keys: ApiKeyUseCases
    audit: AuditUseCases


def build_use_cases(
    repository: IdentityRepository,
    *,
    passwords: Passwords,
    access_tokens: AccessTokens,
    refresh_ttl: timedelta,
    bootstrap_token: str,
    clock: Clock = utcnow,
) -> IdentityUseCases:
    return IdentityUseCases(
        auth=AuthUseCases(repository, passwords, access_tokens, refresh_ttl=refresh_ttl, clock=clock),
        organizations=OrganizationUseCases(repository, passwords, bootstrap_token=bootstrap_token, clock=clock),
        users=UserUseCases(repository, passwords, clock=clock),
        api_keys=ApiKeyUseCases(repository, clock=clock),
        audit=AuditUseCases(repository, clock=clock),
    )
