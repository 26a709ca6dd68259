"""Creating organisations with the operator's bootstrap token, and reading your own."""

from __future__ import annotations

import pytest

from runtime.auth import Role
from runtime.errors import AlreadyExists, InvalidArgument, Unauthenticated
from services.identity.tests.support import BOOTSTRAP_TOKEN, PASSWORD, Org, add_member
from services.identity.use_cases import IdentityUseCases


async def test_an_organisation_starts_with_an_owner_who_can_log_in(identity: IdentityUseCases) -> None:
    organization, owner = await identity.organizations.create_organization(
        BOOTSTRAP_TOKEN, name="  Demo   Retail ", owner_email="Admin@Demo.Local", owner_password=PASSWORD
    )
    assert organization.name == "Demo Retail"
    assert (owner.organization_id, owner.email, owner.role, owner.disabled) == (
        organization.id,
        "admin@demo.local",
        Role.OWNER,
        False,
    )
    assert owner.password_hash.startswith("$argon2id$")
    _, user = await identity.auth.login("admin@demo.local", PASSWORD)
    assert user.id == owner.id


@pytest.mark.parametrize("presented", ["", "wrong", BOOTSTRAP_TOKEN + "x", BOOTSTRAP_TOKEN[:-1]])
async def test_creating_an_organisation_needs_the_bootstrap_token(identity: IdentityUseCases, presented: str) -> None:
    with pytest.raises(Unauthenticated):
        await identity.organizations.create_organization(
            presented, name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD
        )


async def test_an_owner_email_in_use_is_refused(identity: IdentityUseCases, acme: Org) -> None:
    with pytest.raises(AlreadyExists):
        await identity.organizations.create_organization(
            BOOTSTRAP_TOKEN, name="Copycat", owner_email="OWNER@acme.test", owner_password=PASSWORD
        )


@pytest.mark.parametrize(
    ("name", "email", "password", "field"),
    [
        ("", "owner@acme.test", PASSWORD, "name"),
        ("Acme", "owner-at-acme", PASSWORD, "owner_email"),
        ("Acme", "owner@acme.test", "short", "owner_password"),
    ],
)
async def test_bad_input_names_the_field(
    identity: IdentityUseCases, name: str, email: str, password: str, field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await identity.organizations.create_organization(
            BOOTSTRAP_TOKEN, name=name, owner_email=email, owner_password=password
        )
    assert refused.value.field == field


async def test_members_read_their_own_organisation(identity: IdentityUseCases, acme: Org, globex: Org) -> None:
    viewer = await add_member(identity, globex, "viewer@globex.test", Role.VIEWER)
    organization = await identity.organizations.get_organization(viewer)
    assert (organization.id, organization.name) == (globex.id, "Globex")
