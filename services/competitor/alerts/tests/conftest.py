"""Alerting fixtures: the alert store on every storage engine of the root conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.competitor.alerts.repository import AlertStore
from services.competitor.alerts.repository.mongo import open_mongo_alert_store
from services.competitor.alerts.repository.sqlite import open_sqlite_alert_store


@pytest.fixture
def mongo_database(engine: Any) -> Any:
    """The database the store of a MongoDB engine uses (None on SQLite), for tests that look inside it."""
    return None if engine.kind == "sqlite" else engine.mongo_database("competitor")


@pytest.fixture
async def store(engine: Any, mongo_database: Any) -> AsyncIterator[AlertStore]:
    """The alert store on SQLite, the MongoDB stand-in and (with MONGODB_URI) a real MongoDB."""
    if engine.kind == "sqlite":
        opened = await open_sqlite_alert_store(engine.sqlite_path("competitor"))
    else:
        opened = await open_mongo_alert_store(mongo_database)
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[AlertStore]:
    opened = await open_sqlite_alert_store(tmp_path / "competitor.sqlite3")
    yield opened
    await opened.close()
