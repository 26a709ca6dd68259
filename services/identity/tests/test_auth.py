"""Login, refresh-token rotation and reuse detection, logout, and which access tokens are refused."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
import pytest

from runtime.auth import AccessTokens, CredentialKind, Role
from runtime.errors import Unauthenticated
from services.identity.domain import sha256_hex
from services.identity.passwords import Passwords
from services.identity.repository import IdentityRepository
from services.identity.tests.support import (
    AUDIENCE,
    ISSUER,
    JWT_SECRET,
    PASSWORD,
    REFRESH_TTL,
    CountingPasswords,
    FakeClock,
    Org,
    add_member,
    cheap_hasher,
)
from services.identity.use_cases import BAD_LOGIN, REUSED_REFRESH, AuthUseCases, IdentityUseCases


async def test_login_returns_tokens_for_the_users_organisation_and_role(
    identity: IdentityUseCases, acme: Org, access_tokens: AccessTokens
) -> None:
    tokens, user = await identity.auth.login("owner@acme.test", PASSWORD)
    assert user.id == acme.owner.subject_id
    assert (tokens.token_type, tokens.expires_in, tokens.refresh_expires_in) == (
        "Bearer",
        900,
        REFRESH_TTL.days * 86400,
    )
    principal = access_tokens.verify(tokens.access_token)
    assert (principal.organization_id, principal.subject_id, principal.role) == (acme.id, user.id, Role.OWNER)
    assert tokens.refresh_token != tokens.access_token
    assert len(tokens.refresh_token) >= 43


async def test_login_ignores_email_case_and_surrounding_space(identity: IdentityUseCases, acme: Org) -> None:
    _, user = await identity.auth.login("  OWNER@Acme.Test ", PASSWORD)
    assert user.id == acme.owner.subject_id


async def test_a_wrong_password_and_an_unknown_email_are_refused_alike(
    identity: IdentityUseCases, acme: Org, passwords: CountingPasswords
) -> None:
    answers = []
    for email, password in [
        ("owner@acme.test", PASSWORD + "!"),
        ("nobody@acme.test", PASSWORD),
        ("not an email", PASSWORD),
    ]:
        before = passwords.verifications
        with pytest.raises(Unauthenticated) as refused:
            await identity.auth.login(email, password)
        answers.append((refused.value.message, passwords.verifications - before))
    # Same message, and each one cost exactly one argon2 verification (the unknown ones against a dummy hash).
    assert answers == [(BAD_LOGIN, 1)] * 3


async def test_a_disabled_user_cannot_log_in(identity: IdentityUseCases, acme: Org) -> None:
    member = await add_member(identity, acme, "jane@acme.test", Role.ANALYST)
    await identity.users.disable_user(acme.owner, user_id=member.subject_id)
    with pytest.raises(Unauthenticated, match="disabled"):
        await identity.auth.login("jane@acme.test", PASSWORD)


async def test_an_oversized_password_is_refused_without_hashing(
    identity: IdentityUseCases, acme: Org, passwords: CountingPasswords
) -> None:
    with pytest.raises(Unauthenticated):
        await identity.auth.login("owner@acme.test", "x" * 1_000_000)
    assert passwords.verifications == 0


async def test_a_hash_made_with_old_parameters_is_upgraded_at_login(
    identity: IdentityUseCases, acme: Org, repository: IdentityRepository, access_tokens: AccessTokens
) -> None:
    async def stored_hash() -> str:
        user = await repository.get_user(acme.id, acme.owner.subject_id)
        assert user is not None
        return user.password_hash

    stronger = Passwords(cheap_hasher(time_cost=2))
    old_hash = await stored_hash()
    assert stronger.needs_rehash(old_hash)
    upgraded_auth = AuthUseCases(repository, stronger, access_tokens, refresh_ttl=REFRESH_TTL)
    await upgraded_auth.login("owner@acme.test", PASSWORD)
    new_hash = await stored_hash()
    assert new_hash != old_hash
    assert not stronger.needs_rehash(new_hash)
    await upgraded_auth.login("owner@acme.test", PASSWORD)


# --- refresh tokens ---------------------------------------------------------------------------------


async def test_refreshing_rotates_the_refresh_token(
    identity: IdentityUseCases, acme: Org, access_tokens: AccessTokens
) -> None:
    first, _ = await identity.auth.login("owner@acme.test", PASSWORD)
    second = await identity.auth.refresh(first.refresh_token)
    third = await identity.auth.refresh(second.refresh_token)
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert access_tokens.verify(third.access_token).subject_id == acme.owner.subject_id


async def test_refresh_tokens_are_stored_only_as_hashes(
    identity: IdentityUseCases, acme: Org, repository: IdentityRepository
) -> None:
    tokens, _ = await identity.auth.login("owner@acme.test", PASSWORD)
    stored = await repository.find_refresh_token(sha256_hex(tokens.refresh_token))
    assert stored is not None
    assert tokens.refresh_token not in repr(stored)


async def test_reusing_a_refresh_token_revokes_the_whole_family(
    identity: IdentityUseCases, acme: Org, repository: IdentityRepository
) -> None:
    first, _ = await identity.auth.login("owner@acme.test", PASSWORD)
    second = await identity.auth.refresh(first.refresh_token)
    other_session, _ = await identity.auth.login("owner@acme.test", PASSWORD)

    with pytest.raises(Unauthenticated) as refused:
        await identity.auth.refresh(first.refresh_token)
    assert refused.value.message == REUSED_REFRESH
    # The newest token of the family (the one the thief or the owner holds) stops working too...
    with pytest.raises(Unauthenticated):
        await identity.auth.refresh(second.refresh_token)
    stored = await repository.find_refresh_token(sha256_hex(second.refresh_token))
    assert stored is not None
    family = await repository.refresh_family(stored.family_id)
    assert len(family) == 2
    assert all(t.revoked_at is not None for t in family)
    # ...while another login's family is untouched.
    await identity.auth.refresh(other_session.refresh_token)


async def test_an_expired_refresh_token_is_refused(identity: IdentityUseCases, acme: Org, clock: FakeClock) -> None:
    tokens, _ = await identity.auth.login("owner@acme.test", PASSWORD)
    clock.advance(REFRESH_TTL + timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="expired"):
        await identity.auth.refresh(tokens.refresh_token)


async def test_each_rotation_extends_the_session(identity: IdentityUseCases, acme: Org, clock: FakeClock) -> None:
    tokens, _ = await identity.auth.login("owner@acme.test", PASSWORD)
    clock.advance(REFRESH_TTL - timedelta(minutes=1))
    tokens = await identity.auth.refresh(tokens.refresh_token)
    clock.advance(REFRESH_TTL - timedelta(minutes=1))
    await identity.auth.refresh(tokens.refresh_token)


@pytest.mark.parametrize("presented", ["", "made-up-token", "x" * 10_000])
async def test_unknown_refresh_tokens_are_refused(identity: IdentityUseCases, presented: str) -> None:
    with pytest.raises(Unauthenticated):
        await identity.auth.refresh(presented)


async def test_a_disabled_users_refresh_tokens_stop_working(identity: IdentityUseCases, acme: Org) -> None:
    member = await add_member(identity, acme, "jane@acme.test", Role.ANALYST)
    tokens, _ = await identity.auth.login("jane@acme.test", PASSWORD)
    await identity.users.disable_user(acme.owner, user_id=member.subject_id)
    with pytest.raises(Unauthenticated):
        await identity.auth.refresh(tokens.refresh_token)


async def test_a_refresh_carries_the_users_current_role(
    identity: IdentityUseCases, acme: Org, access_tokens: AccessTokens
) -> None:
    member = await add_member(identity, acme, "jane@acme.test", Role.ANALYST)
    tokens, _ = await identity.auth.login("jane@acme.test", PASSWORD)
    await identity.users.update_user_role(acme.owner, user_id=member.subject_id, role=int(Role.VIEWER))
    refreshed = await identity.auth.refresh(tokens.refresh_token)
    assert access_tokens.verify(refreshed.access_token).role is Role.VIEWER


async def test_logout_revokes_the_family(identity: IdentityUseCases, acme: Org) -> None:
    first, _ = await identity.auth.login("owner@acme.test", PASSWORD)
    second = await identity.auth.refresh(first.refresh_token)
    await identity.auth.logout(first.refresh_token)
    with pytest.raises(Unauthenticated):
        await identity.auth.refresh(second.refresh_token)


async def test_logout_with_an_unknown_token_is_accepted(identity: IdentityUseCases) -> None:
    await identity.auth.logout("never-issued")
    await identity.auth.logout("")


# --- access tokens ----------------------------------------------------------------------------------


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user",
        "org": "org",
        "role": "owner",
        "typ": "access",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return claims


def _forged_tokens() -> dict[str, str]:
    unsigned = jwt.encode(_claims(), key="", algorithm="none")
    return {
        "alg none": unsigned,
        "alg none without signature": unsigned.rstrip("."),
        "wrong audience": jwt.encode(_claims(aud="someone-else"), JWT_SECRET, algorithm="HS256"),
        "wrong issuer": jwt.encode(_claims(iss="evil"), JWT_SECRET, algorithm="HS256"),
        "expired": jwt.encode(_claims(exp=int(time.time()) - 60), JWT_SECRET, algorithm="HS256"),
        "another secret": jwt.encode(_claims(), "another-secret-" + "z" * 40, algorithm="HS256"),
        "HS512": jwt.encode(_claims(), JWT_SECRET, algorithm="HS512"),
        "not an access token": jwt.encode(_claims(typ="refresh"), JWT_SECRET, algorithm="HS256"),
        "garbage": "not.a.jwt",
    }


@pytest.mark.parametrize("case", list(_forged_tokens()))
async def test_forged_or_stale_access_tokens_are_refused(
    case: str, identity: IdentityUseCases, access_tokens: AccessTokens
) -> None:
    token = _forged_tokens()[case]
    with pytest.raises(Unauthenticated):
        access_tokens.verify(token)
    with pytest.raises(Unauthenticated):
        await identity.auth.authenticate(token)


async def test_a_refresh_token_is_not_an_access_token(
    identity: IdentityUseCases, acme: Org, access_tokens: AccessTokens
) -> None:
    tokens, _ = await identity.auth.login("owner@acme.test", PASSWORD)
    with pytest.raises(Unauthenticated):
        access_tokens.verify(tokens.refresh_token)
    with pytest.raises(Unauthenticated):
        await identity.auth.authenticate(tokens.refresh_token)


async def test_an_access_token_authenticates_with_the_users_current_role(identity: IdentityUseCases, acme: Org) -> None:
    member = await add_member(identity, acme, "jane@acme.test", Role.ADMIN)
    tokens, _ = await identity.auth.login("jane@acme.test", PASSWORD)
    principal = await identity.auth.authenticate(tokens.access_token)
    assert (principal.subject_id, principal.role, principal.credential_kind) == (
        member.subject_id,
        Role.ADMIN,
        CredentialKind.ACCESS_TOKEN,
    )
    await identity.users.update_user_role(acme.owner, user_id=member.subject_id, role=int(Role.VIEWER))
    assert (await identity.auth.authenticate(tokens.access_token)).role is Role.VIEWER


async def test_a_disabled_users_access_token_no_longer_authenticates_here(
    identity: IdentityUseCases, acme: Org
) -> None:
    member = await add_member(identity, acme, "jane@acme.test", Role.ADMIN)
    tokens, _ = await identity.auth.login("jane@acme.test", PASSWORD)
    await identity.users.disable_user(acme.owner, user_id=member.subject_id)
    with pytest.raises(Unauthenticated):
        await identity.auth.authenticate(tokens.access_token)


async def test_an_empty_credential_is_refused(identity: IdentityUseCases) -> None:
    with pytest.raises(Unauthenticated):
        await identity.auth.authenticate("")
