"""Product test fixtures: repositories on every storage engine and use cases with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.product.repository import Repositories
from services.product.repository.sqlite import open_sqlite_repositories
from services.product.tests.support import FakeClock, SequentialIds, open_repositories
from services.product.use_cases import CategoryTree, ProductCatalog


@pytest.fixture
async def repositories(engine: Any) -> AsyncIterator[Repositories]:
    """The product repositories on each engine of the root conftest (SQLite, MongoDB stand-in, MongoDB)."""
    opened = await open_repositories(engine)
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_repositories(tmp_path: Path) -> AsyncIterator[Repositories]:
    opened = await open_sqlite_repositories(tmp_path / "product.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def catalog(sqlite_repositories: Repositories, clock: FakeClock) -> ProductCatalog:
    return ProductCatalog(sqlite_repositories, clock=clock, event_ids=SequentialIds("pe_"))


@pytest.fixture
def tree(sqlite_repositories: Repositories) -> CategoryTree:
    return CategoryTree(sqlite_repositories, ids=SequentialIds("cat_"))
