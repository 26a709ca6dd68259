"""Several processes writing one SQLite file at once: no lost writes, no 'database is locked'."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from runtime.storage.sqlite import SqliteDatabase

SCHEMA = "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
WRITES_PER_PROCESS = 150


def _increment_many(path: str) -> None:
    async def run() -> None:
        database = SqliteDatabase(Path(path), SCHEMA)
        await database.open()

        def increment(connection: object) -> None:
            # A read-modify-write that loses updates unless each transaction holds the write lock.
            cursor = connection.execute("SELECT value FROM counters WHERE name = 'hits'")  # type: ignore[attr-defined]
            row = cursor.fetchone()
            value = (row[0] if row else 0) + 1
            connection.execute(  # type: ignore[attr-defined]
                "INSERT INTO counters(name, value) VALUES ('hits', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (value,),
            )

        for _ in range(WRITES_PER_PROCESS):
            await database.write(increment)
        await database.close()

    asyncio.run(run())


async def test_concurrent_writers_in_separate_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_increment_many, args=(str(path),)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    database = SqliteDatabase(path, SCHEMA)
    await database.open()
    total = await database.read(lambda c: c.execute("SELECT value FROM counters").fetchone()[0])
    journal = await database.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    await database.close()
    assert total == 3 * WRITES_PER_PROCESS
    assert journal == "wal"
