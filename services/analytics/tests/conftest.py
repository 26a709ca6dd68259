"""Analytics test fixtures: repositories on every storage engine and the ledger with a fixed clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.analytics.repository import Repositories
from services.analytics.repository.sqlite import open_sqlite_repositories
from services.analytics.tests.support import FakeClock, open_repositories
from services.analytics.use_cases import SalesLedger


@pytest.fixture
async def repositories(engine: Any) -> AsyncIterator[Repositories]:
    """The analytics repositories on each engine of the root conftest (SQLite, MongoDB stand-in, MongoDB)."""
    opened = await open_repositories(engine)
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_repositories(tmp_path: Path) -> AsyncIterator[Repositories]:
    opened = await open_sqlite_repositories(tmp_path / "analytics.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(sqlite_repositories: Repositories, clock: FakeClock) -> SalesLedger:
    return SalesLedger(sqlite_repositories, clock=clock)
