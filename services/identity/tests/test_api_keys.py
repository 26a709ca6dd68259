"""API keys: shown once, stored hashed, scoped to an organisation and a role, revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.auth import AccessTokens, CredentialKind, Principal, Role
from runtime.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from services.identity.domain import sha256_hex
from services.identity.local import LocalAuthenticator
from services.identity.repository import IdentityRepository
from services.identity.tests.support import FakeClock, Org, add_member
from services.identity.use_cases import IdentityUseCases


async def test_a_new_key_authenticates_as_itself_with_its_role(identity: IdentityUseCases, acme: Org) -> None:
    key, secret = await identity.api_keys.create_api_key(acme.owner, name=" price feed ", role=int(Role.ANALYST))
    assert secret.startswith(f"opx_{key.id}_")
    assert secret.startswith(key.display_prefix)
    assert len(secret) - len(key.display_prefix) >= 39
    assert (key.name, key.role, key.created_by, key.revoked) == (
        "price feed",
        Role.ANALYST,
        acme.owner.subject_id,
        False,
    )
    principal = await identity.auth.authenticate(secret)
    assert principal == Principal(acme.id, key.id, Role.ANALYST, CredentialKind.API_KEY)


async def test_only_a_hash_of_the_secret_is_stored(
    identity: IdentityUseCases, acme: Org, repository: IdentityRepository
) -> None:
    key, secret = await identity.api_keys.create_api_key(acme.owner, name="feed", role=int(Role.VIEWER))
    stored = await repository.find_api_key(key.id)
    assert stored is not None
    hidden = secret.removeprefix(f"opx_{key.id}_")
    assert stored.secret_hash == sha256_hex(hidden)
    assert hidden not in repr(stored)


async def test_a_wrong_secret_or_shape_is_refused(identity: IdentityUseCases, acme: Org) -> None:
    key, secret = await identity.api_keys.create_api_key(acme.owner, name="feed", role=int(Role.VIEWER))
    for attempt in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), f"opx_{key.id}_", f"opx_nokey_{secret}", "opx_"):
        with pytest.raises(Unauthenticated):
            await identity.auth.authenticate(attempt)


async def test_a_revoked_key_never_authenticates_again(identity: IdentityUseCases, acme: Org, clock: FakeClock) -> None:
    key, secret = await identity.api_keys.create_api_key(acme.owner, name="feed", role=int(Role.VIEWER))
    revoked = await identity.api_keys.revoke_api_key(acme.owner, api_key_id=key.id)
    assert revoked.revoked_at == clock().replace(microsecond=123000)  # kept to the millisecond
    clock.advance(timedelta(hours=1))
    again = await identity.api_keys.revoke_api_key(acme.owner, api_key_id=key.id)
    assert again.revoked_at == revoked.revoked_at
    with pytest.raises(Unauthenticated, match="revoked"):
        await identity.auth.authenticate(secret)


async def test_identitys_own_authenticator_sees_a_revocation_at_once(
    identity: IdentityUseCases, acme: Org, access_tokens: AccessTokens
) -> None:
    authenticator = LocalAuthenticator(access_tokens, identity.auth)
    key, secret = await identity.api_keys.create_api_key(acme.owner, name="feed", role=int(Role.VIEWER))
    assert (await authenticator.authenticate(secret)).subject_id == key.id
    await identity.api_keys.revoke_api_key(acme.owner, api_key_id=key.id)
    with pytest.raises(Unauthenticated):
        await authenticator.authenticate(secret)


async def test_a_key_gets_at_most_its_creators_role(identity: IdentityUseCases, acme: Org) -> None:
    admin = await add_member(identity, acme, "admin@acme.test", Role.ADMIN)
    with pytest.raises(PermissionDenied):
        await identity.api_keys.create_api_key(admin, name="too strong", role=int(Role.OWNER))
    key, _ = await identity.api_keys.create_api_key(admin, name="ok", role=int(Role.ADMIN))
    assert key.role is Role.ADMIN


async def test_keys_need_the_admin_role(identity: IdentityUseCases, acme: Org) -> None:
    manager = await add_member(identity, acme, "manager@acme.test", Role.PRICING_MANAGER)
    with pytest.raises(PermissionDenied):
        await identity.api_keys.create_api_key(manager, name="feed", role=int(Role.VIEWER))
    with pytest.raises(PermissionDenied):
        await identity.api_keys.list_api_keys(manager, page_size=0, page_token="")


async def test_an_admin_cannot_revoke_an_owners_key(identity: IdentityUseCases, acme: Org) -> None:
    admin = await add_member(identity, acme, "admin@acme.test", Role.ADMIN)
    key, _ = await identity.api_keys.create_api_key(acme.owner, name="owner automation", role=int(Role.OWNER))
    with pytest.raises(PermissionDenied):
        await identity.api_keys.revoke_api_key(admin, api_key_id=key.id)


async def test_keys_of_another_organisation_are_invisible(identity: IdentityUseCases, acme: Org, globex: Org) -> None:
    key, secret = await identity.api_keys.create_api_key(globex.owner, name="globex feed", role=int(Role.VIEWER))
    with pytest.raises(NotFound):
        await identity.api_keys.revoke_api_key(acme.owner, api_key_id=key.id)
    assert (await identity.api_keys.list_api_keys(acme.owner, page_size=0, page_token="")).items == []
    assert (await identity.auth.authenticate(secret)).organization_id == globex.id


async def test_keys_list_page_by_page_with_revoked_ones_marked(identity: IdentityUseCases, acme: Org) -> None:
    created = [
        (await identity.api_keys.create_api_key(acme.owner, name=f"key {n}", role=int(Role.VIEWER)))[0]
        for n in range(3)
    ]
    await identity.api_keys.revoke_api_key(acme.owner, api_key_id=created[1].id)
    first = await identity.api_keys.list_api_keys(acme.owner, page_size=2, page_token="")
    rest = await identity.api_keys.list_api_keys(acme.owner, page_size=2, page_token=first.next_page_token)
    listed = first.items + rest.items
    assert rest.next_page_token == ""
    assert sorted(k.id for k in listed) == sorted(k.id for k in created)
    assert [k.id for k in listed if k.revoked] == [created[1].id]


@pytest.mark.parametrize(("name", "role"), [("", Role.VIEWER), ("x" * 101, Role.VIEWER), ("feed", 0)])
async def test_bad_key_requests_are_refused(identity: IdentityUseCases, acme: Org, name: str, role: int) -> None:
    with pytest.raises(InvalidArgument):
        await identity.api_keys.create_api_key(acme.owner, name=name, role=int(role))
