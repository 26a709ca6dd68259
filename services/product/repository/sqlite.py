"""The product service's data in one SQLite file: products, categories and price events."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.errors import AlreadyExists, Conflict, NotFound
from runtime.money import Money
from runtime.storage.sqlite import BUSY_TIMEOUT_MS, SqliteDatabase
from services.product.domain import (
    Category,
    PriceEvent,
    Product,
    ProductChange,
    ProductQuery,
    ProductStatus,
    fold,
)
from services.product.repository import EventPosition, PricingRow, Repositories

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    organization_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    title_folded TEXT NOT NULL,
    brand TEXT NOT NULL,
    brand_folded TEXT NOT NULL,
    gtin TEXT NOT NULL,
    mpn TEXT NOT NULL,
    category_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    cost_minor INTEGER,
    price_minor INTEGER NOT NULL,
    map_price_minor INTEGER,
    stock INTEGER NOT NULL,
    attributes TEXT NOT NULL,
    status TEXT NOT NULL,
    revision INTEGER NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL,
    PRIMARY KEY (organization_id, sku)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS products_by_category ON products (organization_id, category_id, sku);
CREATE INDEX IF NOT EXISTS products_by_brand ON products (organization_id, brand_folded, sku);
CREATE INDEX IF NOT EXISTS products_by_status ON products (organization_id, status, sku);
CREATE INDEX IF NOT EXISTS products_by_price ON products (organization_id, currency, price_minor);

CREATE TABLE IF NOT EXISTS price_events (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    sku TEXT NOT NULL,
    old_currency TEXT,
    old_price_minor INTEGER,
    new_currency TEXT NOT NULL,
    new_price_minor INTEGER NOT NULL,
    actor_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS price_events_by_time ON price_events (organization_id, time, id);
CREATE INDEX IF NOT EXISTS price_events_by_sku ON price_events (organization_id, sku, time, id);

CREATE TABLE IF NOT EXISTS categories (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS categories_sibling_names ON categories (organization_id, parent_id, name_key)
"""

_PRODUCT_COLUMNS = (
    "organization_id, sku, title, title_folded, brand, brand_folded, gtin, mpn, category_id, currency, "
    "cost_minor, price_minor, map_price_minor, stock, attributes, status, revision, create_time, update_time"
)
_SELECT_PRICING_ROWS = (
    "SELECT sku, brand, category_id, currency, price_minor, cost_minor, map_price_minor FROM products "
    "WHERE organization_id = ? AND status = ? AND sku > ?"
)
_SELECT_PRODUCT = f"SELECT {_PRODUCT_COLUMNS} FROM products"  # noqa: S608 - constant column list
_INSERT_PRODUCT = f"INSERT INTO products ({_PRODUCT_COLUMNS}) VALUES ({', '.join('?' * 19)})"  # noqa: S608
_UPDATE_PRODUCT = (
    "UPDATE products SET title = ?, title_folded = ?, brand = ?, brand_folded = ?, gtin = ?, mpn = ?, "
    "category_id = ?, currency = ?, cost_minor = ?, price_minor = ?, map_price_minor = ?, stock = ?, "
    "attributes = ?, status = ?, revision = ?, update_time = ? "
    "WHERE organization_id = ? AND sku = ? AND revision = ?"
)
_EVENT_COLUMNS = (
    "organization_id, id, sku, old_currency, old_price_minor, new_currency, new_price_minor, "
    "actor_id, reason, source, time"
)
_INSERT_EVENT = f"INSERT INTO price_events ({_EVENT_COLUMNS}) VALUES ({', '.join('?' * 11)})"  # noqa: S608
_SELECT_EVENT = f"SELECT {_EVENT_COLUMNS} FROM price_events"  # noqa: S608


class SqliteProductRepository:
    def __init__(self, database: SqliteDatabase, point_reader: sqlite3.Connection) -> None:
        self._db = database
        self._point_reader = point_reader

    async def get(self, organization_id: str, sku: str) -> Product | None:
        # The hot read (get by sku) runs right here on the event loop, on a connection of its own: a
        # primary-key lookup in WAL mode takes ~15 µs and never waits for writers, while the hop to
        # the database's worker thread costs 5-10 times that.
        row = self._point_reader.execute(
            f"{_SELECT_PRODUCT} WHERE organization_id = ? AND sku = ?", (organization_id, sku)
        ).fetchone()
        return None if row is None else _product(row)

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, Product]:
        if not skus:
            return {}
        wanted = json.dumps(list(skus))

        def run(connection: sqlite3.Connection) -> dict[str, Product]:
            rows = connection.execute(
                f"{_SELECT_PRODUCT} WHERE organization_id = ? AND sku IN (SELECT value FROM json_each(?))",  # noqa: S608
                (organization_id, wanted),
            )
            return {product.sku: product for product in map(_product, rows)}

        return await self._db.read(run)

    async def find(self, organization_id: str, query: ProductQuery, *, after_sku: str, limit: int) -> list[Product]:
        clauses = ["organization_id = ?", "sku > ?"]
        params: list[Any] = [organization_id, after_sku]
        clauses.append(f"status IN ({', '.join('?' * len(query.statuses))})")
        params.extend(sorted(query.statuses))
        if query.category_ids is not None:
            clauses.append("category_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(query.category_ids)))
        if query.brand_folded is not None:
            clauses.append("brand_folded = ?")
            params.append(query.brand_folded)
        if query.title_folded is not None:
            clauses.append("instr(title_folded, ?) > 0")
            params.append(query.title_folded)
        if query.currency is not None:
            clauses.append("currency = ?")
            params.append(query.currency)
        if query.min_price_minor is not None:
            clauses.append("price_minor >= ?")
            params.append(query.min_price_minor)
        if query.max_price_minor is not None:
            clauses.append("price_minor <= ?")
            params.append(query.max_price_minor)
        if query.in_stock:
            clauses.append("stock > 0")
        sql = f"{_SELECT_PRODUCT} WHERE {' AND '.join(clauses)} ORDER BY sku LIMIT ?"
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[Product]:
            return [_product(row) for row in connection.execute(sql, params)]

        return await self._db.read(run)

    async def pricing_rows(
        self, organization_id: str, *, category_ids: frozenset[str] | None, after_sku: str, limit: int
    ) -> list[PricingRow]:
        sql = _SELECT_PRICING_ROWS
        params: list[Any] = [organization_id, ProductStatus.ACTIVE.value, after_sku]
        if category_ids is not None:
            sql += " AND category_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(category_ids)))
        sql += " ORDER BY sku LIMIT ?"
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[PricingRow]:
            return [PricingRow(*row) for row in connection.execute(sql, params)]

        return await self._db.read(run)

    async def write(self, changes: Sequence[ProductChange], events: Sequence[PriceEvent]) -> None:
        inserts = [_product_row(c.after) for c in changes if c.before is None]
        updates = [_update_row(c.before, c.after) for c in changes if c.before is not None]
        event_rows = [_event_row(event) for event in events]

        def run(connection: sqlite3.Connection) -> None:
            if inserts:
                try:
                    connection.executemany(_INSERT_PRODUCT, inserts)
                except sqlite3.IntegrityError:
                    raise Conflict("a product with this sku was created concurrently") from None
            if updates and connection.executemany(_UPDATE_PRODUCT, updates).rowcount != len(updates):
                raise Conflict("a product was changed concurrently")
            if event_rows:
                connection.executemany(_INSERT_EVENT, event_rows)

        await self._db.write(run)

    async def in_category(self, organization_id: str, category_id: str) -> bool:
        def run(connection: sqlite3.Connection) -> bool:
            row = connection.execute(
                "SELECT 1 FROM products WHERE organization_id = ? AND category_id = ? LIMIT 1",
                (organization_id, category_id),
            ).fetchone()
            return row is not None

        return await self._db.read(run)


class SqlitePriceEventRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def find(
        self, organization_id: str, *, sku: str | None, before: EventPosition | None, limit: int
    ) -> list[PriceEvent]:
        clauses = ["organization_id = ?"]
        params: list[Any] = [organization_id]
        if sku is not None:
            clauses.append("sku = ?")
            params.append(sku)
        if before is not None:
            clauses.append("(time, id) < (?, ?)")
            params.extend((_time_text(before.time), before.id))
        sql = f"{_SELECT_EVENT} WHERE {' AND '.join(clauses)} ORDER BY time DESC, id DESC LIMIT ?"
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[PriceEvent]:
            return [_event(row) for row in connection.execute(sql, params)]

        return await self._db.read(run)


class SqliteCategoryRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def list_all(self, organization_id: str) -> list[Category]:
        def run(connection: sqlite3.Connection) -> list[Category]:
            rows = connection.execute(
                "SELECT organization_id, id, name, parent_id FROM categories WHERE organization_id = ?",
                (organization_id,),
            )
            return [Category(*row) for row in rows]

        return await self._db.read(run)

    async def get(self, organization_id: str, category_id: str) -> Category | None:
        def run(connection: sqlite3.Connection) -> Category | None:
            row = connection.execute(
                "SELECT organization_id, id, name, parent_id FROM categories WHERE organization_id = ? AND id = ?",
                (organization_id, category_id),
            ).fetchone()
            return None if row is None else Category(*row)

        return await self._db.read(run)

    async def create(self, category: Category) -> None:
        def run(connection: sqlite3.Connection) -> None:
            taken = connection.execute(
                "SELECT 1 FROM categories WHERE organization_id = ? AND id = ?", (category.organization_id, category.id)
            ).fetchone()
            if taken is not None:
                raise AlreadyExists(f"category {category.id!r} already exists", field="id")
            _check_sibling_name(connection, category)
            connection.execute(
                "INSERT INTO categories (organization_id, id, name, name_key, parent_id) VALUES (?, ?, ?, ?, ?)",
                (category.organization_id, category.id, category.name, category.name_key, category.parent_id),
            )

        await self._db.write(run)

    async def update(self, category: Category) -> None:
        def run(connection: sqlite3.Connection) -> None:
            _check_sibling_name(connection, category)
            cursor = connection.execute(
                "UPDATE categories SET name = ?, name_key = ?, parent_id = ? WHERE organization_id = ? AND id = ?",
                (category.name, category.name_key, category.parent_id, category.organization_id, category.id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"category {category.id!r} does not exist", field="id")

        await self._db.write(run)

    async def delete(self, organization_id: str, category_id: str) -> None:
        def run(connection: sqlite3.Connection) -> None:
            connection.execute(
                "DELETE FROM categories WHERE organization_id = ? AND id = ?", (organization_id, category_id)
            )

        await self._db.write(run)

    async def has_children(self, organization_id: str, category_id: str) -> bool:
        def run(connection: sqlite3.Connection) -> bool:
            row = connection.execute(
                "SELECT 1 FROM categories WHERE organization_id = ? AND parent_id = ? LIMIT 1",
                (organization_id, category_id),
            ).fetchone()
            return row is not None

        return await self._db.read(run)


def _check_sibling_name(connection: sqlite3.Connection, category: Category) -> None:
    sibling = connection.execute(
        "SELECT name FROM categories WHERE organization_id = ? AND parent_id = ? AND name_key = ? AND id != ?",
        (category.organization_id, category.parent_id, category.name_key, category.id),
    ).fetchone()
    if sibling is not None:
        raise AlreadyExists(f"a sibling category is already named {sibling[0]!r}", field="name")


async def open_sqlite_repositories(path: Path) -> Repositories:
    database = SqliteDatabase(path, SCHEMA)
    await database.open()
    point_reader = sqlite3.connect(path, isolation_level=None)
    point_reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    point_reader.execute("PRAGMA query_only = ON")

    async def close() -> None:
        point_reader.close()
        await database.close()

    return Repositories(
        products=SqliteProductRepository(database, point_reader),
        price_events=SqlitePriceEventRepository(database),
        categories=SqliteCategoryRepository(database),
        close=close,
    )


# --- rows -----------------------------------------------------------------------------------------


def _time_text(value: datetime) -> str:
    # Fixed width, so text order is time order.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _product_row(product: Product) -> tuple[Any, ...]:
    return (
        product.organization_id,
        product.sku,
        product.title,
        fold(product.title),
        product.brand,
        fold(product.brand),
        product.gtin,
        product.mpn,
        product.category_id,
        product.currency,
        _minor(product.cost),
        product.price.amount_minor,
        _minor(product.map_price),
        product.stock,
        _attributes_text(product),
        product.status.value,
        product.revision,
        _time_text(product.create_time),
        _time_text(product.update_time),
    )


def _update_row(before: Product, after: Product) -> tuple[Any, ...]:
    return (
        after.title,
        fold(after.title),
        after.brand,
        fold(after.brand),
        after.gtin,
        after.mpn,
        after.category_id,
        after.currency,
        _minor(after.cost),
        after.price.amount_minor,
        _minor(after.map_price),
        after.stock,
        _attributes_text(after),
        after.status.value,
        after.revision,
        _time_text(after.update_time),
        after.organization_id,
        after.sku,
        before.revision,
    )


def _attributes_text(product: Product) -> str:
    return json.dumps(dict(product.attributes), ensure_ascii=False, separators=(",", ":"))


def _minor(money: Money | None) -> int | None:
    return None if money is None else money.amount_minor


def _product(row: Sequence[Any]) -> Product:
    currency = row[9]
    return Product(
        organization_id=row[0],
        sku=row[1],
        title=row[2],
        brand=row[4],
        gtin=row[6],
        mpn=row[7],
        category_id=row[8],
        cost=None if row[10] is None else Money(row[10], currency),
        price=Money(row[11], currency),
        map_price=None if row[12] is None else Money(row[12], currency),
        stock=row[13],
        attributes=json.loads(row[14]),
        status=ProductStatus(row[15]),
        revision=row[16],
        create_time=datetime.fromisoformat(row[17]),
        update_time=datetime.fromisoformat(row[18]),
    )


def _event_row(event: PriceEvent) -> tuple[Any, ...]:
    return (
        event.organization_id,
        event.id,
        event.sku,
        None if event.old_price is None else event.old_price.currency,
        _minor(event.old_price),
        event.new_price.currency,
        event.new_price.amount_minor,
        event.actor_id,
        event.reason,
        event.source,
        _time_text(event.time),
    )


def _event(row: Sequence[Any]) -> PriceEvent:
    return PriceEvent(
        organization_id=row[0],
        id=row[1],
        sku=row[2],
        old_price=None if row[4] is None else Money(row[4], row[3]),
        new_price=Money(row[6], row[5]),
        actor_id=row[7],
        reason=row[8],
        source=row[9],
        time=datetime.fromisoformat(row[10]),
    )
