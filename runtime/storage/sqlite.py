"""One SQLite file per service in WAL mode, safe when several processes write to it.

All access from one process goes through a single worker thread, so the connection is never
shared between threads and the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_MS = 15_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    """An aware time as integer milliseconds since the epoch: compact, and ordered as times are."""
    return (moment - _EPOCH) // _MILLISECOND


def from_epoch_ms(milliseconds: int) -> datetime:
    # Exact: a double holds any millisecond of the next centuries to well under a microsecond, which
    # fromtimestamp rounds to; it is twice as fast as adding a timedelta, and this runs per row.
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


class SqliteDatabase:
    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.stem}")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._submit(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(self._schema):
                connection.execute(statement)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        self._connection = connection

    async def read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read in a consistent snapshot."""
        return await self._submit(lambda: self._in_transaction(operation, "BEGIN"))

    async def write(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run operation in one transaction that holds the write lock from its start: all or nothing."""
        return await self._submit(lambda: self._in_transaction(operation, "BEGIN IMMEDIATE"))

    def _in_transaction(self, operation: Callable[[sqlite3.Connection], T], begin: str) -> T:
        connection = self._require()
        connection.execute(begin)
        try:
            result = operation(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return result

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._submit(connection.close)
        self._executor.shutdown(wait=True)

    def _require(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError(f"{self.path} is not open")
        return self._connection

    async def _submit(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


def _statements(schema: str) -> list[str]:
    return [part.strip() for part in schema.split(";") if part.strip()]
