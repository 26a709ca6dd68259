"""The repository contract: the same tests on SQLite files and on the MongoDB engine (stand-in or real)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.auth import Role
from runtime.errors import AlreadyExists, Conflict, FailedPrecondition
from services.identity.domain import ApiKey, AuditEntry, Organization, RefreshToken, User, sha256_hex
from services.identity.repository import AuditPosition, IdentityRepository
from services.identity.tests.support import open_repository

T0 = datetime(2026, 11, 25, 9, 30, 15, 250000, tzinfo=UTC)


def _org(org_id: str = "org-a") -> Organization:
    return Organization(org_id, f"Org {org_id}", T0)


def _user(user_id: str, org_id: str = "org-a", role: Role = Role.VIEWER, email: str = "") -> User:
    return User(user_id, org_id, email or f"{user_id}@{org_id}.test", role, False, "argon2-hash", T0)


def _token(
    token_id: str, family: str = "fam-1", *, user: str = "owner-a", org: str = "org-a", **times: Any
) -> RefreshToken:
    created = times.pop("created_at", T0)
    return RefreshToken(
        id=token_id,
        family_id=family,
        user_id=user,
        organization_id=org,
        token_hash=sha256_hex(token_id),
        created_at=created,
        expires_at=times.pop("expires_at", created + timedelta(days=1)),
        **times,
    )


def _key(key_id: str, org_id: str = "org-a", role: Role = Role.ANALYST) -> ApiKey:
    return ApiKey(key_id, org_id, f"key {key_id}", role, f"opx_{key_id}_abcd", sha256_hex(key_id), "owner-a", T0)


def _entry(entry_id: str, time: datetime, org_id: str = "org-a", actor: str = "owner-a") -> AuditEntry:
    return AuditEntry(entry_id, org_id, actor, "/svc/Change", f"thing/{entry_id}", "OK", "trace", time)


@pytest.fixture
async def two_orgs(repository: IdentityRepository) -> IdentityRepository:
    await repository.create_organization(_org("org-a"), _user("owner-a", "org-a", Role.OWNER))
    await repository.create_organization(_org("org-b"), _user("owner-b", "org-b", Role.OWNER))
    return repository


# --- organisations and users ------------------------------------------------------------------------


async def test_an_organisation_is_created_with_its_owner(two_orgs: IdentityRepository) -> None:
    assert await two_orgs.get_organization("org-a") == _org("org-a")
    assert await two_orgs.get_user("org-a", "owner-a") == _user("owner-a", "org-a", Role.OWNER)
    assert await two_orgs.get_organization("nope") is None


async def test_an_organisation_whose_owner_email_is_taken_is_not_created(two_orgs: IdentityRepository) -> None:
    with pytest.raises(AlreadyExists):
        await two_orgs.create_organization(_org("org-c"), _user("owner-c", "org-c", Role.OWNER, "owner-a@org-a.test"))
    assert await two_orgs.get_organization("org-c") is None
    assert await two_orgs.get_user("org-c", "owner-c") is None


async def test_emails_are_unique_across_organisations(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_user(_user("u1", "org-a", email="jane@shop.test"))
    with pytest.raises(AlreadyExists):
        await two_orgs.add_user(_user("u2", "org-b", email="jane@shop.test"))
    found = await two_orgs.find_user_by_email("jane@shop.test")
    assert found is not None
    assert found.id == "u1"
    assert await two_orgs.find_user_by_email("nobody@shop.test") is None


async def test_users_are_only_visible_inside_their_organisation(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_user(_user("u1", "org-a"))
    assert await two_orgs.get_user("org-b", "u1") is None
    assert [u.id for u in await two_orgs.list_users("org-b", after_id="", limit=10)] == ["owner-b"]


async def test_users_list_in_id_order_page_by_page(two_orgs: IdentityRepository) -> None:
    for user_id in ("u3", "u1", "u2"):
        await two_orgs.add_user(_user(user_id, "org-a"))
    first = await two_orgs.list_users("org-a", after_id="", limit=2)
    assert [u.id for u in first] == ["owner-a", "u1"]
    rest = await two_orgs.list_users("org-a", after_id="u1", limit=10)
    assert [u.id for u in rest] == ["u2", "u3"]


async def test_times_come_back_as_aware_utc_to_the_millisecond(two_orgs: IdentityRepository) -> None:
    user = await two_orgs.get_user("org-a", "owner-a")
    assert user is not None
    assert user.created_at == T0
    assert user.created_at.utcoffset() == timedelta(0)


async def test_saving_a_user_bumps_its_version(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_user(_user("u1", "org-a"))
    saved = await two_orgs.save_user(replace(_user("u1", "org-a"), role=Role.ADMIN))
    assert (saved.role, saved.version, saved.email) == (Role.ADMIN, 2, "u1@org-a.test")
    assert await two_orgs.get_user("org-a", "u1") == saved


async def test_saving_a_stale_user_is_a_conflict(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_user(_user("u1", "org-a"))
    read = _user("u1", "org-a")
    await two_orgs.save_user(replace(read, role=Role.ADMIN))
    with pytest.raises(Conflict):
        await two_orgs.save_user(replace(read, disabled=True))
    stored = await two_orgs.get_user("org-a", "u1")
    assert stored is not None
    assert (stored.role, stored.disabled) == (Role.ADMIN, False)


async def test_saving_into_another_organisation_changes_nothing(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_user(_user("u1", "org-a"))
    with pytest.raises(Conflict):
        await two_orgs.save_user(replace(_user("u1", "org-b"), disabled=True))
    stored = await two_orgs.get_user("org-a", "u1")
    assert stored is not None
    assert not stored.disabled


@pytest.mark.parametrize("change", [{"role": Role.ADMIN}, {"disabled": True}])
async def test_the_last_enabled_owner_cannot_be_removed(two_orgs: IdentityRepository, change: dict[str, Any]) -> None:
    owner = _user("owner-a", "org-a", Role.OWNER)
    with pytest.raises(FailedPrecondition):
        await two_orgs.save_user(replace(owner, **change))
    assert await two_orgs.get_user("org-a", "owner-a") is not None
    stored = await two_orgs.get_user("org-a", "owner-a")
    assert stored is not None
    assert stored.is_enabled_owner


async def test_an_owner_can_step_down_when_another_remains(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_user(_user("owner-2", "org-a", Role.OWNER))
    saved = await two_orgs.save_user(replace(_user("owner-a", "org-a", Role.OWNER), role=Role.ADMIN))
    assert saved.role is Role.ADMIN
    with pytest.raises(FailedPrecondition):
        await two_orgs.save_user(replace(_user("owner-2", "org-a", Role.OWNER), disabled=True))


async def test_a_password_hash_can_be_replaced(two_orgs: IdentityRepository) -> None:
    await two_orgs.set_password_hash("org-a", "owner-a", "new-hash")
    await two_orgs.set_password_hash("org-b", "owner-a", "wrong-org")
    user = await two_orgs.get_user("org-a", "owner-a")
    assert user is not None
    assert user.password_hash == "new-hash"


# --- refresh tokens ---------------------------------------------------------------------------------


async def test_a_refresh_token_is_found_by_its_hash(two_orgs: IdentityRepository) -> None:
    token = _token("t1")
    await two_orgs.add_refresh_token(token)
    assert await two_orgs.find_refresh_token(sha256_hex("t1")) == token
    assert await two_orgs.find_refresh_token(sha256_hex("t2")) is None


async def test_rotation_marks_the_token_used_and_stores_its_successor(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_refresh_token(_token("t1"))
    later = T0 + timedelta(minutes=5)
    assert await two_orgs.rotate_refresh_token("t1", _token("t2", created_at=later), later)
    family = await two_orgs.refresh_family("fam-1")
    assert [(t.id, t.used_at, t.revoked_at) for t in family] == [("t1", later, None), ("t2", None, None)]


async def test_a_used_token_does_not_rotate_again(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_refresh_token(_token("t1"))
    assert await two_orgs.rotate_refresh_token("t1", _token("t2"), T0)
    assert not await two_orgs.rotate_refresh_token("t1", _token("t3"), T0)
    assert [t.id for t in await two_orgs.refresh_family("fam-1")] == ["t1", "t2"]


async def test_concurrent_rotations_of_one_token_let_exactly_one_win(engine: Any, two_orgs: IdentityRepository) -> None:
    await two_orgs.add_refresh_token(_token("t1"))
    # On SQLite a second repository means a second connection to the same file, i.e. a real race.
    other = await open_repository(engine) if engine.kind == "sqlite" else two_orgs
    try:
        handles = [two_orgs, other] * 5
        results = await asyncio.gather(
            *(repo.rotate_refresh_token("t1", _token(f"s{i}"), T0) for i, repo in enumerate(handles))
        )
    finally:
        if other is not two_orgs:
            await other.close()
    assert results.count(True) == 1
    family = await two_orgs.refresh_family("fam-1")
    assert len(family) == 2
    assert sum(1 for t in family if t.used_at is None) == 1


async def test_revoking_a_family_revokes_every_token_in_it(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_refresh_token(_token("t1"))
    await two_orgs.rotate_refresh_token("t1", _token("t2"), T0)
    await two_orgs.add_refresh_token(_token("other", "fam-2"))
    revoked_at = T0 + timedelta(hours=1)
    await two_orgs.revoke_refresh_family("fam-1", revoked_at)
    assert [t.revoked_at for t in await two_orgs.refresh_family("fam-1")] == [revoked_at, revoked_at]
    assert [t.revoked_at for t in await two_orgs.refresh_family("fam-2")] == [None]
    assert not await two_orgs.rotate_refresh_token("t2", _token("t3"), revoked_at)
    assert len(await two_orgs.refresh_family("fam-1")) == 2


async def test_revoking_a_users_tokens_leaves_other_users_alone(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_refresh_token(_token("a1", "fam-a1"))
    await two_orgs.add_refresh_token(_token("a2", "fam-a2"))
    await two_orgs.add_refresh_token(_token("b1", "fam-b1", user="owner-b", org="org-b"))
    await two_orgs.revoke_user_refresh_tokens("org-a", "owner-a", T0)
    for family in ("fam-a1", "fam-a2"):
        assert all(t.revoked_at == T0 for t in await two_orgs.refresh_family(family))
    assert all(t.revoked_at is None for t in await two_orgs.refresh_family("fam-b1"))
    assert not await two_orgs.rotate_refresh_token("a2", _token("a3", "fam-a2"), T0)


async def test_only_families_whose_newest_token_expired_are_purged(two_orgs: IdentityRepository) -> None:
    day = timedelta(days=1)
    await two_orgs.add_refresh_token(_token("old", "dead", expires_at=T0 + day))
    await two_orgs.add_refresh_token(_token("first", "alive", expires_at=T0 + day))
    await two_orgs.rotate_refresh_token("first", _token("newest", "alive", expires_at=T0 + 3 * day), T0)
    deleted = await two_orgs.delete_expired_refresh_families(T0 + 2 * day)
    assert deleted == 1
    assert await two_orgs.refresh_family("dead") == []
    assert [t.id for t in await two_orgs.refresh_family("alive")] == ["first", "newest"]


# --- API keys ---------------------------------------------------------------------------------------


async def test_api_keys_are_found_by_id_and_scoped_to_their_organisation(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_api_key(_key("k1"))
    assert await two_orgs.find_api_key("k1") == _key("k1")
    assert await two_orgs.get_api_key("org-a", "k1") == _key("k1")
    assert await two_orgs.get_api_key("org-b", "k1") is None
    assert await two_orgs.find_api_key("k2") is None


async def test_api_keys_list_page_by_page_per_organisation(two_orgs: IdentityRepository) -> None:
    for key_id in ("k3", "k1", "k2"):
        await two_orgs.add_api_key(_key(key_id))
    await two_orgs.add_api_key(_key("k0", "org-b"))
    assert [k.id for k in await two_orgs.list_api_keys("org-a", after_id="", limit=2)] == ["k1", "k2"]
    assert [k.id for k in await two_orgs.list_api_keys("org-a", after_id="k2", limit=2)] == ["k3"]
    assert [k.id for k in await two_orgs.list_api_keys("org-b", after_id="", limit=5)] == ["k0"]


async def test_revoking_a_key_keeps_the_first_revocation_time(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_api_key(_key("k1"))
    first = await two_orgs.revoke_api_key("org-a", "k1", T0)
    again = await two_orgs.revoke_api_key("org-a", "k1", T0 + timedelta(hours=1))
    assert first is not None
    assert again is not None
    assert first.revoked_at == T0
    assert again.revoked_at == T0


async def test_a_key_cannot_be_revoked_from_another_organisation(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_api_key(_key("k1"))
    assert await two_orgs.revoke_api_key("org-b", "k1", T0) is None
    key = await two_orgs.find_api_key("k1")
    assert key is not None
    assert not key.revoked


# --- audit log --------------------------------------------------------------------------------------


async def test_audit_entries_list_newest_first_and_page_through_equal_times(two_orgs: IdentityRepository) -> None:
    second = timedelta(seconds=1)
    entries = [_entry("e1", T0), _entry("e2", T0 + second), _entry("e3", T0 + second), _entry("e4", T0 + 2 * second)]
    await two_orgs.add_audit_entries(entries)
    first = await two_orgs.list_audit_entries("org-a", actor_id="", before=None, limit=2)
    assert [e.id for e in first] == ["e4", "e3"]
    rest = await two_orgs.list_audit_entries(
        "org-a", actor_id="", before=AuditPosition(first[-1].time, first[-1].id), limit=5
    )
    assert [e.id for e in rest] == ["e2", "e1"]
    assert rest[-1] == entries[0]


async def test_recording_the_same_audit_entries_twice_stores_them_once(two_orgs: IdentityRepository) -> None:
    batch = [_entry("e1", T0), _entry("e2", T0)]
    await two_orgs.add_audit_entries(batch)
    await two_orgs.add_audit_entries(batch)
    assert len(await two_orgs.list_audit_entries("org-a", actor_id="", before=None, limit=10)) == 2


async def test_audit_entries_filter_by_actor_and_never_cross_organisations(two_orgs: IdentityRepository) -> None:
    await two_orgs.add_audit_entries(
        [_entry("e1", T0), _entry("e2", T0, actor="key-1"), _entry("e1", T0, org_id="org-b", actor="owner-b")]
    )
    by_key = await two_orgs.list_audit_entries("org-a", actor_id="key-1", before=None, limit=10)
    assert [e.id for e in by_key] == ["e2"]
    org_b = await two_orgs.list_audit_entries("org-b", actor_id="", before=None, limit=10)
    assert [(e.organization_id, e.actor_id) for e in org_b] == [("org-b", "owner-b")]
    assert await two_orgs.list_audit_entries("org-b", actor_id="owner-a", before=None, limit=10) == []
