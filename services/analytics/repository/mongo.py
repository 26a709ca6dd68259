"""The sales ledger in MongoDB: one document per order line in the collection order_lines."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from runtime.money import Money
from runtime.storage.mongo import Document, MongoDatabase
from runtime.storage.mongo import ensure_indexes as create_indexes
from services.analytics.domain import (
    DemandPoint,
    DemandQuery,
    LineKey,
    LinePosition,
    LineQuery,
    OrderLine,
    day_of_epoch,
    epoch_day,
)
from services.analytics.repository import Repositories

INDEXES: dict[str, list[IndexModel]] = {
    "order_lines": [
        IndexModel(
            [("organization_id", ASCENDING), ("order_id", ASCENDING), ("line_no", ASCENDING)],
            unique=True,
            name="order_lines_by_key",
        ),
        IndexModel(
            [("organization_id", ASCENDING), ("time", ASCENDING), ("order_id", ASCENDING), ("line_no", ASCENDING)]
        ),
        IndexModel(
            [
                ("organization_id", ASCENDING),
                ("sku", ASCENDING),
                ("time", ASCENDING),
                ("order_id", ASCENDING),
                ("line_no", ASCENDING),
            ]
        ),
        IndexModel([("organization_id", ASCENDING), ("sku", ASCENDING), ("day", ASCENDING)], name="order_lines_by_day"),
    ],
}

_NO_ID = {"_id": False}
_ORDER = [("time", ASCENDING), ("order_id", ASCENDING), ("line_no", ASCENDING)]
DocumentCollection = AsyncCollection[Document]


async def ensure_indexes(database: MongoDatabase) -> None:
    """Create the unique key and the listing and demand indexes; run at every start."""
    await create_indexes(database, INDEXES)


class MongoOrderLineRepository:
    def __init__(self, order_lines: DocumentCollection) -> None:
        self._lines = order_lines

    async def get_many(self, organization_id: str, keys: Collection[LineKey]) -> dict[LineKey, OrderLine]:
        if not keys:
            return {}
        wanted = set(keys)
        order_ids = sorted({order_id for order_id, _ in wanted})
        cursor = self._lines.find({"organization_id": organization_id, "order_id": {"$in": order_ids}}, _NO_ID)
        found = (_line(document) for document in await cursor.to_list(None))
        return {line.natural_key: line for line in found if line.natural_key in wanted}

    async def upsert(self, organization_id: str, lines: Sequence[OrderLine]) -> None:
        operations = [
            UpdateOne(
                {"organization_id": organization_id, "order_id": line.order_id, "line_no": line.line_no},
                {"$set": _document(organization_id, line)},
                upsert=True,
            )
            for line in lines
        ]
        if operations:
            # Unordered: the lines have distinct keys, so the server may apply them in parallel.
            await self._lines.bulk_write(operations, ordered=False)

    async def find(
        self, organization_id: str, query: LineQuery, *, after: LinePosition | None, limit: int
    ) -> list[OrderLine]:
        selector: Document = {"organization_id": organization_id}
        if query.sku is not None:
            selector["sku"] = query.sku
        time: Document = {}
        if query.start is not None:
            time["$gte"] = query.start
        if after is not None and (query.start is None or after.time > query.start):
            # Implied by the $or below; stated so the index scan starts at the cursor.
            time["$gte"] = after.time
        if query.end is not None:
            time["$lt"] = query.end
        if time:
            selector["time"] = time
        if after is not None:
            selector["$or"] = [
                {"time": {"$gt": after.time}},
                {"time": after.time, "order_id": {"$gt": after.order_id}},
                {"time": after.time, "order_id": after.order_id, "line_no": {"$gt": after.line_no}},
            ]
        cursor = self._lines.find(selector, _NO_ID).sort(_ORDER).limit(limit)
        return [_line(document) for document in await cursor.to_list(None)]

    async def demand(self, organization_id: str, query: DemandQuery) -> list[tuple[str, DemandPoint]]:
        pipeline: list[Document] = [
            {
                "$match": {
                    "organization_id": organization_id,
                    "sku": {"$in": list(query.skus)},
                    "day": {"$gte": epoch_day(query.start_day), "$lte": epoch_day(query.end_day)},
                }
            },
            {
                "$group": {
                    "_id": {"sku": "$sku", "day": "$day", "currency": "$currency", "price": "$unit_price_minor"},
                    "units": {"$sum": "$quantity"},
                    "revenue": {"$sum": "$revenue_minor"},
                    "lines": {"$sum": 1},
                }
            },
        ]
        cursor = await self._lines.aggregate(pipeline)
        return [_point(group) for group in await cursor.to_list(None)]


async def open_mongo_repositories(
    database: MongoDatabase, *, close: Callable[[], Awaitable[None]] | None = None
) -> Repositories:
    """Repositories over `database`, with its indexes ensured; `close` releases the client, if owned."""
    await ensure_indexes(database)

    async def nothing_to_close() -> None:
        return None

    return Repositories(order_lines=MongoOrderLineRepository(database["order_lines"]), close=close or nothing_to_close)


# --- documents ------------------------------------------------------------------------------------


def _document(organization_id: str, line: OrderLine) -> Document:
    return {
        "organization_id": organization_id,
        "order_id": line.order_id,
        "line_no": line.line_no,
        "sku": line.sku,
        "quantity": line.quantity,
        "currency": line.unit_price.currency,
        "unit_price_minor": line.unit_price.amount_minor,
        "revenue_minor": line.revenue_minor,
        "time": line.time,
        "day": epoch_day(line.day),
        "channel": line.channel,
    }


def _line(document: Document) -> OrderLine:
    return OrderLine(
        order_id=document["order_id"],
        line_no=document["line_no"],
        sku=document["sku"],
        quantity=document["quantity"],
        unit_price=Money(document["unit_price_minor"], document["currency"]),
        time=_aware(document["time"]),
        channel=document["channel"],
    )


def _aware(value: datetime) -> datetime:
    # The client is tz_aware; this only swaps bson's UTC zone object for the one the domain uses.
    return value.astimezone(UTC)


def _point(group: Document) -> tuple[str, DemandPoint]:
    key = group["_id"]
    # $sum turns to a double only past int64, which the per-line bound keeps out of reach.
    return key["sku"], DemandPoint(
        day=day_of_epoch(key["day"]),
        unit_price=Money(key["price"], key["currency"]),
        units=int(group["units"]),
        revenue_minor=int(group["revenue"]),
        lines=int(group["lines"]),
    )
