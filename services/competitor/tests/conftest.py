"""Competitor test fixtures: repositories on every storage engine and use cases with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.competitor.repository import Repositories
from services.competitor.repository.sqlite import open_sqlite_repositories
from services.competitor.tests.support import FakeClock, SequentialIds, open_repositories
from services.competitor.use_cases import CompetitorDirectory, MarketBoard, ObservationLog, OfferCatalog


@dataclass
class UseCases:
    competitors: CompetitorDirectory
    offers: OfferCatalog
    observations: ObservationLog
    market: MarketBoard
    clock: FakeClock


def use_cases(repositories: Repositories, clock: FakeClock) -> UseCases:
    return UseCases(
        CompetitorDirectory(repositories, clock=clock, ids=SequentialIds("cmp_")),
        OfferCatalog(repositories, clock=clock, ids=SequentialIds("off_")),
        ObservationLog(repositories, clock=clock),
        MarketBoard(repositories, clock=clock),
        clock,
    )


@pytest.fixture
async def repositories(engine: Any) -> AsyncIterator[Repositories]:
    """The competitor repositories on each engine of the root conftest (SQLite, MongoDB stand-in, MongoDB)."""
    opened = await open_repositories(engine)
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_repositories(tmp_path: Path) -> AsyncIterator[Repositories]:
    opened = await open_sqlite_repositories(tmp_path / "competitor.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cases(sqlite_repositories: Repositories, clock: FakeClock) -> UseCases:
    return use_cases(sqlite_repositories, clock)
