"""Helpers for identity tests: cheap argon2, a clock tests can move, and ways to set up organisations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher

from runtime.auth import CredentialKind, Principal, Role
from services.identity.passwords import Passwords
from services.identity.repository.mongo import MongoIdentityRepository
from services.identity.repository.sqlite import SqliteIdentityRepository
from services.identity.use_cases import IdentityUseCases

JWT_SECRET = "test-secret-" + "x" * 60
ISSUER = "omnipricex-test"
AUDIENCE = "omnipricex-api-test"
BOOTSTRAP_TOKEN = "bootstrap-" + "y" * 40
REFRESH_TTL = timedelta(days=14)
PASSWORD = "correct horse battery staple"


def cheap_hasher(time_cost: int = 1) -> PasswordHasher:
    """Far below production strength; only so the suite stays fast."""
    return PasswordHasher(time_cost=time_cost, memory_cost=64, parallelism=1)


class CountingPasswords(Passwords):
    """Counts argon2 verifications, real or dummy, to show unknown emails cost as much as wrong passwords."""

    def __init__(self, hasher: PasswordHasher) -> None:
        super().__init__(hasher)
        self.verifications = 0

    def _verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return super()._verify(password_hash, password)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Org:
    id: str
    owner: Principal
    owner_email: str


async def open_repository(engine: Any) -> SqliteIdentityRepository | MongoIdentityRepository:
    repository: SqliteIdentityRepository | MongoIdentityRepository
    if engine.kind == "sqlite":
        repository = SqliteIdentityRepository(engine.sqlite_path("identity"))
    else:
        repository = MongoIdentityRepository(engine.mongo_database("identity"))
    await repository.open()
    return repository


async def create_org(identity: IdentityUseCases, name: str = "Acme Retail", email: str = "owner@acme.test") -> Org:
    organization, owner = await identity.organizations.create_organization(
        BOOTSTRAP_TOKEN, name=name, owner_email=email, owner_password=PASSWORD
    )
    principal = Principal(organization.id, owner.id, Role.OWNER, CredentialKind.ACCESS_TOKEN)
    return Org(organization.id, principal, owner.email)


async def add_member(identity: IdentityUseCases, org: Org, email: str, role: Role) -> Principal:
    user = await identity.users.create_user(org.owner, email=email, password=PASSWORD, role=int(role))
    return Principal(org.id, user.id, role, CredentialKind.ACCESS_TOKEN)
