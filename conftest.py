"""Fixtures shared by every test: the storage engines each contract suite runs against."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.testing.mongo_standin import ADAPTED_CALLS, STANDIN_LABEL, standin_database

ENGINES = ["sqlite", "mongodb-standin"] + (["mongodb"] if os.environ.get("MONGODB_URI") else [])


@dataclass
class EngineTarget:
    """Where a repository under test keeps its documents."""

    kind: str
    tmp_path: Path
    mongo: Any = None

    def sqlite_path(self, service: str) -> Path:
        return self.tmp_path / f"{service}.sqlite3"

    def mongo_database(self, service: str) -> Any:
        return self.mongo[f"test_{service}"] if self.kind == "mongodb" else standin_database(f"test_{service}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"storage engines under contract test: {', '.join(ENGINES)}"]
    lines.append(f"mongodb-standin = {STANDIN_LABEL}; adapted calls: {', '.join(ADAPTED_CALLS)}")
    if "mongodb" not in ENGINES:
        lines.append("no real MongoDB: set MONGODB_URI=mongodb://host:27017 to run the contract suites against one")
    return lines


@pytest.fixture(params=ENGINES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EngineTarget]:
    if request.param != "mongodb":
        yield EngineTarget(request.param, tmp_path)
        return
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    prefix = f"t{uuid.uuid4().hex[:8]}"

    class _Prefixed:
        def __getitem__(self, name: str) -> Any:
            return client[f"{prefix}_{name}"]

    try:
        yield EngineTarget("mongodb", tmp_path, _Prefixed())
    finally:
        for name in await client.list_database_names():
            if name.startswith(prefix):
                await client.drop_database(name)
        await client.close()
