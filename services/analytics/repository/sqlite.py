"""The sales ledger in one SQLite file: a table of order lines, indexed for listing and daily demand."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from runtime.money import Money
from runtime.storage.sqlite import SqliteDatabase
from services.analytics.domain import (
    DemandPoint,
    DemandQuery,
    LineKey,
    LinePosition,
    LineQuery,
    OrderLine,
    day_of_epoch,
    epoch_day,
    from_milliseconds,
    to_milliseconds,
)
from services.analytics.repository import Repositories

SCHEMA = """
CREATE TABLE IF NOT EXISTS order_lines (
    organization_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    currency TEXT NOT NULL,
    unit_price_minor INTEGER NOT NULL,
    revenue_minor INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    day INTEGER NOT NULL,
    channel TEXT NOT NULL,
    PRIMARY KEY (organization_id, order_id, line_no)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS order_lines_by_time ON order_lines (organization_id, time_ms, order_id, line_no);
CREATE INDEX IF NOT EXISTS order_lines_by_sku ON order_lines (organization_id, sku, time_ms, order_id, line_no);
CREATE INDEX IF NOT EXISTS order_lines_by_sku_day ON order_lines (
    organization_id, sku, day, currency, unit_price_minor, quantity, revenue_minor
)
"""
# order_lines_by_sku_day covers the demand query: SQLite answers it from the index alone, in GROUP BY order.

_COLUMNS = (
    "organization_id, order_id, line_no, sku, quantity, currency, unit_price_minor, revenue_minor, "
    "time_ms, day, channel"
)
_SELECT = "SELECT order_id, line_no, sku, quantity, currency, unit_price_minor, time_ms, channel FROM order_lines"
_UPSERT = (
    f"INSERT INTO order_lines ({_COLUMNS}) VALUES ({', '.join('?' * 11)}) "  # noqa: S608 - constant column list
    "ON CONFLICT (organization_id, order_id, line_no) DO UPDATE SET "
    "sku = excluded.sku, quantity = excluded.quantity, currency = excluded.currency, "
    "unit_price_minor = excluded.unit_price_minor, revenue_minor = excluded.revenue_minor, "
    "time_ms = excluded.time_ms, day = excluded.day, channel = excluded.channel"
)
DEMAND_QUERY = (
    "SELECT sku, day, currency, unit_price_minor, SUM(quantity), SUM(revenue_minor), COUNT(*) FROM order_lines "
    "WHERE organization_id = ? AND sku IN (SELECT value FROM json_each(?)) AND day BETWEEN ? AND ? "
    "GROUP BY sku, day, currency, unit_price_minor"
)


class SqliteOrderLineRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def get_many(self, organization_id: str, keys: Collection[LineKey]) -> dict[LineKey, OrderLine]:
        if not keys:
            return {}
        wanted = set(keys)
        # The primary key starts with order_id, so fetching whole orders is one index range per order.
        order_ids = json.dumps(sorted({order_id for order_id, _ in wanted}))

        def run(connection: sqlite3.Connection) -> dict[LineKey, OrderLine]:
            rows = connection.execute(
                f"{_SELECT} WHERE organization_id = ? AND order_id IN (SELECT value FROM json_each(?))",  # noqa: S608
                (organization_id, order_ids),
            )
            found = (_line(row) for row in rows)
            return {line.natural_key: line for line in found if line.natural_key in wanted}

        return await self._db.read(run)

    async def upsert(self, organization_id: str, lines: Sequence[OrderLine]) -> None:
        rows = [_row(organization_id, line) for line in lines]

        def run(connection: sqlite3.Connection) -> None:
            connection.executemany(_UPSERT, rows)

        if rows:
            await self._db.write(run)

    async def find(
        self, organization_id: str, query: LineQuery, *, after: LinePosition | None, limit: int
    ) -> list[OrderLine]:
        clauses = ["organization_id = ?"]
        params: list[Any] = [organization_id]
        if query.sku is not None:
            clauses.append("sku = ?")
            params.append(query.sku)
        if query.start is not None:
            clauses.append("time_ms >= ?")
            params.append(to_milliseconds(query.start))
        if query.end is not None:
            clauses.append("time_ms < ?")
            params.append(to_milliseconds(query.end))
        if after is not None:
            clauses.append("(time_ms, order_id, line_no) > (?, ?, ?)")
            params.extend((to_milliseconds(after.time), after.order_id, after.line_no))
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY time_ms, order_id, line_no LIMIT ?"
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[OrderLine]:
            return [_line(row) for row in connection.execute(sql, params)]

        return await self._db.read(run)

    async def demand(self, organization_id: str, query: DemandQuery) -> list[tuple[str, DemandPoint]]:
        params = (
            organization_id,
            json.dumps(list(query.skus)),
            epoch_day(query.start_day),
            epoch_day(query.end_day),
        )

        def run(connection: sqlite3.Connection) -> list[tuple[str, DemandPoint]]:
            return [
                (sku, DemandPoint(day_of_epoch(day), Money(price, currency), units, revenue, lines))
                for sku, day, currency, price, units, revenue, lines in connection.execute(DEMAND_QUERY, params)
            ]

        return await self._db.read(run)


async def open_sqlite_repositories(path: Path) -> Repositories:
    database = SqliteDatabase(path, SCHEMA)
    await database.open()
    return Repositories(order_lines=SqliteOrderLineRepository(database), close=database.close)


# --- rows -----------------------------------------------------------------------------------------


def _row(organization_id: str, line: OrderLine) -> tuple[Any, ...]:
    return (
        organization_id,
        line.order_id,
        line.line_no,
        line.sku,
        line.quantity,
        line.unit_price.currency,
        line.unit_price.amount_minor,
        line.revenue_minor,
        to_milliseconds(line.time),
        epoch_day(line.day),
        line.channel,
    )


def _line(row: Sequence[Any]) -> OrderLine:
    return OrderLine(
        order_id=row[0],
        line_no=row[1],
        sku=row[2],
        quantity=row[3],
        unit_price=Money(row[5], row[4]),
        time=from_milliseconds(row[6]),
        channel=row[7],
    )
