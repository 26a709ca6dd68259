"""Identity test fixtures: its repository on every storage engine, use cases with cheap argon2 and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.auth import AccessTokens
from services.identity.passwords import Passwords
from services.identity.repository import IdentityRepository
from services.identity.tests.support import (
    AUDIENCE,
    BOOTSTRAP_TOKEN,
    ISSUER,
    JWT_SECRET,
    REFRESH_TTL,
    CountingPasswords,
    FakeClock,
    Org,
    cheap_hasher,
    create_org,
    open_repository,
)
from services.identity.use_cases import IdentityUseCases, build_use_cases


@pytest.fixture
async def repository(engine: Any) -> AsyncIterator[IdentityRepository]:
    repository = await open_repository(engine)
    yield repository
    await repository.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def access_tokens() -> AccessTokens:
    return AccessTokens(JWT_SECRET, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=900)


@pytest.fixture
def passwords() -> CountingPasswords:
    return CountingPasswords(cheap_hasher())


@pytest.fixture
def identity(
    repository: IdentityRepository, passwords: Passwords, access_tokens: AccessTokens, clock: FakeClock
) -> IdentityUseCases:
    return build_use_cases(
        repository,
        passwords=passwords,
        access_tokens=access_tokens,
        refresh_ttl=REFRESH_TTL,
        bootstrap_token=BOOTSTRAP_TOKEN,
        clock=clock,
    )


@pytest.fixture
async def acme(identity: IdentityUseCases) -> Org:
    return await create_org(identity)


@pytest.fixture
async def globex(identity: IdentityUseCases) -> Org:
    return await create_org(identity, "Globex", "owner@globex.test")
