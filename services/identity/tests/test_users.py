"""User management: who may create, promote and disable whom, inside one organisation only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime.auth import CredentialKind, Principal, Role
from runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.identity.tests.support import PASSWORD, Org, add_member
from services.identity.use_cases import IdentityUseCases


async def test_an_admin_adds_users_up_to_its_own_role(identity: IdentityUseCases, acme: Org) -> None:
    admin = await add_member(identity, acme, "admin@acme.test", Role.ADMIN)
    user = await identity.users.create_user(admin, email="New.Hire@Acme.Test", password=PASSWORD, role=int(Role.ADMIN))
    assert (user.organization_id, user.email, user.role) == (acme.id, "new.hire@acme.test", Role.ADMIN)


@pytest.mark.parametrize(("caller_role", "granted"), [(Role.ADMIN, Role.OWNER), (Role.PRICING_MANAGER, Role.VIEWER)])
async def test_role_escalation_is_refused(
    identity: IdentityUseCases, acme: Org, caller_role: Role, granted: Role
) -> None:
    caller = await add_member(identity, acme, "caller@acme.test", caller_role)
    with pytest.raises(PermissionDenied):
        await identity.users.create_user(caller, email="x@acme.test", password=PASSWORD, role=int(granted))


async def test_an_admin_cannot_promote_anyone_to_owner(identity: IdentityUseCases, acme: Org) -> None:
    admin = await add_member(identity, acme, "admin@acme.test", Role.ADMIN)
    analyst = await add_member(identity, acme, "analyst@acme.test", Role.ANALYST)
    with pytest.raises(PermissionDenied):
        await identity.users.update_user_role(admin, user_id=analyst.subject_id, role=int(Role.OWNER))


async def test_an_admin_cannot_touch_an_owner(identity: IdentityUseCases, acme: Org) -> None:
    admin = await add_member(identity, acme, "admin@acme.test", Role.ADMIN)
    with pytest.raises(PermissionDenied):
        await identity.users.update_user_role(admin, user_id=acme.owner.subject_id, role=int(Role.VIEWER))
    with pytest.raises(PermissionDenied):
        await identity.users.disable_user(admin, user_id=acme.owner.subject_id)


async def test_an_owner_makes_another_owner(identity: IdentityUseCases, acme: Org) -> None:
    admin = await add_member(identity, acme, "admin@acme.test", Role.ADMIN)
    promoted = await identity.users.update_user_role(acme.owner, user_id=admin.subject_id, role=int(Role.OWNER))
    assert (promoted.role, promoted.version) == (Role.OWNER, 2)


async def test_nobody_changes_their_own_role_or_status(identity: IdentityUseCases, acme: Org) -> None:
    admin = await add_member(identity, acme, "admin@acme.test", Role.ADMIN)
    with pytest.raises(FailedPrecondition):
        await identity.users.update_user_role(admin, user_id=admin.subject_id, role=int(Role.VIEWER))
    with pytest.raises(FailedPrecondition):
        await identity.users.disable_user(acme.owner, user_id=acme.owner.subject_id)


async def test_the_last_owner_cannot_be_demoted_or_disabled(identity: IdentityUseCases, acme: Org) -> None:
    key, _ = await identity.api_keys.create_api_key(acme.owner, name="automation", role=int(Role.OWNER))
    as_key = Principal(acme.id, key.id, Role.OWNER, CredentialKind.API_KEY)
    with pytest.raises(FailedPrecondition, match="owner"):
        await identity.users.update_user_role(as_key, user_id=acme.owner.subject_id, role=int(Role.ADMIN))
    with pytest.raises(FailedPrecondition, match="owner"):
        await identity.users.disable_user(as_key, user_id=acme.owner.subject_id)
    _, owner = await identity.auth.login(acme.owner_email, PASSWORD)
    assert owner.is_enabled_owner


async def test_disabling_a_user_refuses_its_login_and_is_idempotent(identity: IdentityUseCases, acme: Org) -> None:
    analyst = await add_member(identity, acme, "analyst@acme.test", Role.ANALYST)
    first = await identity.users.disable_user(acme.owner, user_id=analyst.subject_id)
    again = await identity.users.disable_user(acme.owner, user_id=analyst.subject_id)
    assert first.disabled
    assert again == first


async def test_users_of_another_organisation_are_invisible(identity: IdentityUseCases, acme: Org, globex: Org) -> None:
    with pytest.raises(NotFound):
        await identity.users.update_user_role(acme.owner, user_id=globex.owner.subject_id, role=int(Role.VIEWER))
    with pytest.raises(NotFound):
        await identity.users.disable_user(acme.owner, user_id=globex.owner.subject_id)
    page = await identity.users.list_users(acme.owner, page_size=0, page_token="")
    assert [u.organization_id for u in page.items] == [acme.id]


async def test_user_management_needs_the_admin_role(identity: IdentityUseCases, acme: Org) -> None:
    manager = await add_member(identity, acme, "manager@acme.test", Role.PRICING_MANAGER)
    with pytest.raises(PermissionDenied):
        await identity.users.list_users(manager, page_size=0, page_token="")
    with pytest.raises(PermissionDenied):
        await identity.users.disable_user(manager, user_id=acme.owner.subject_id)


async def test_users_list_page_by_page(identity: IdentityUseCases, acme: Org) -> None:
    for n in range(4):
        await add_member(identity, acme, f"user{n}@acme.test", Role.VIEWER)
    seen: list[str] = []
    token = ""
    while True:
        page = await identity.users.list_users(acme.owner, page_size=2, page_token=token)
        seen += [u.email for u in page.items]
        token = page.next_page_token
        if not token:
            break
    # Every user exactly once (ids sort by creation only to the millisecond, so not by email here).
    assert sorted(seen) == ["owner@acme.test"] + [f"user{n}@acme.test" for n in range(4)]


async def test_a_forged_page_token_is_refused(identity: IdentityUseCases, acme: Org) -> None:
    with pytest.raises(InvalidArgument):
        await identity.users.list_users(acme.owner, page_size=2, page_token="!!not-a-token")


@pytest.mark.parametrize(
    ("email", "password", "role", "error"),
    [
        ("owner@acme.test", PASSWORD, Role.VIEWER, AlreadyExists),
        ("bad-email", PASSWORD, Role.VIEWER, InvalidArgument),
        ("x@acme.test", "too-short", Role.VIEWER, InvalidArgument),
        ("x@acme.test", PASSWORD, 0, InvalidArgument),
    ],
)
async def test_bad_new_users_are_refused(
    identity: IdentityUseCases, acme: Org, email: str, password: str, role: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await identity.users.create_user(acme.owner, email=email, password=password, role=int(role))


async def test_current_user_is_the_callers_record_or_none_for_api_keys(identity: IdentityUseCases, acme: Org) -> None:
    viewer = await add_member(identity, acme, "viewer@acme.test", Role.VIEWER)
    user = await identity.users.current_user(viewer)
    assert user is not None
    assert user.email == "viewer@acme.test"
    as_key = replace(viewer, credential_kind=CredentialKind.API_KEY)
    assert await identity.users.current_user(as_key) is None
