"""The product service's data in MongoDB: collections products, categories and price_events."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from runtime.errors import AlreadyExists, Conflict, NotFound
from runtime.money import Money
from runtime.storage.mongo import Document, MongoDatabase
from runtime.storage.mongo import ensure_indexes as create_indexes
from services.product.domain import Category, PriceEvent, Product, ProductChange, ProductQuery, ProductStatus, fold
from services.product.repository import EventPosition, PricingRow, Repositories

INDEXES: dict[str, list[IndexModel]] = {
    "products": [
        IndexModel([("organization_id", ASCENDING), ("sku", ASCENDING)], unique=True, name="products_by_sku"),
        IndexModel([("organization_id", ASCENDING), ("category_id", ASCENDING), ("sku", ASCENDING)]),
        IndexModel([("organization_id", ASCENDING), ("brand_folded", ASCENDING), ("sku", ASCENDING)]),
        IndexModel([("organization_id", ASCENDING), ("status", ASCENDING), ("sku", ASCENDING)]),
        IndexModel([("organization_id", ASCENDING), ("currency", ASCENDING), ("price_minor", ASCENDING)]),
    ],
    "categories": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="categories_by_id"),
        IndexModel(
            [("organization_id", ASCENDING), ("parent_id", ASCENDING), ("name_key", ASCENDING)],
            unique=True,
            name="categories_sibling_names",
        ),
    ],
    "price_events": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="price_events_by_id"),
        IndexModel([("organization_id", ASCENDING), ("time", DESCENDING), ("id", DESCENDING)]),
        IndexModel([("organization_id", ASCENDING), ("sku", ASCENDING), ("time", DESCENDING), ("id", DESCENDING)]),
    ],
}

_PRICING_FIELDS = {
    "_id": False,
    **dict.fromkeys(("sku", "brand", "category_id", "currency", "price_minor", "cost_minor", "map_price_minor"), True),
}
_NO_ID = {"_id": False}
DocumentCollection = AsyncCollection[Document]


async def ensure_indexes(database: MongoDatabase) -> None:
    """Create the unique and filter indexes the product service relies on; run at every start."""
    await create_indexes(database, INDEXES)


class MongoProductRepository:
    def __init__(self, products: DocumentCollection, price_events: DocumentCollection) -> None:
        self._products = products
        self._events = price_events

    async def get(self, organization_id: str, sku: str) -> Product | None:
        document = await self._products.find_one({"organization_id": organization_id, "sku": sku}, _NO_ID)
        return None if document is None else _product(document)

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, Product]:
        if not skus:
            return {}
        cursor = self._products.find({"organization_id": organization_id, "sku": {"$in": list(skus)}}, _NO_ID)
        return {product.sku: product for product in map(_product, await cursor.to_list(None))}

    async def find(self, organization_id: str, query: ProductQuery, *, after_sku: str, limit: int) -> list[Product]:
        selector: Document = {
            "organization_id": organization_id,
            "sku": {"$gt": after_sku},
            "status": {"$in": sorted(query.statuses)},
        }
        if query.category_ids is not None:
            selector["category_id"] = {"$in": sorted(query.category_ids)}
        if query.brand_folded is not None:
            selector["brand_folded"] = query.brand_folded
        if query.title_folded is not None:
            selector["title_folded"] = {"$regex": re.escape(query.title_folded)}
        if query.currency is not None:
            selector["currency"] = query.currency
        price: Document = {}
        if query.min_price_minor is not None:
            price["$gte"] = query.min_price_minor
        if query.max_price_minor is not None:
            price["$lte"] = query.max_price_minor
        if price:
            selector["price_minor"] = price
        if query.in_stock:
            selector["stock"] = {"$gt": 0}
        cursor = self._products.find(selector, _NO_ID).sort("sku", ASCENDING).limit(limit)
        return [_product(document) for document in await cursor.to_list(None)]

    async def pricing_rows(
        self, organization_id: str, *, category_ids: frozenset[str] | None, after_sku: str, limit: int
    ) -> list[PricingRow]:
        selector: Document = {
            "organization_id": organization_id,
            "status": ProductStatus.ACTIVE.value,
            "sku": {"$gt": after_sku},
        }
        if category_ids is not None:
            selector["category_id"] = {"$in": sorted(category_ids)}
        cursor = self._products.find(selector, _PRICING_FIELDS).sort("sku", ASCENDING).limit(limit)
        return [
            PricingRow(
                d["sku"],
                d["brand"],
                d["category_id"],
                d["currency"],
                d["price_minor"],
                d.get("cost_minor"),
                d.get("map_price_minor"),
            )
            for d in await cursor.to_list(None)
        ]

    async def write(self, changes: Sequence[ProductChange], events: Sequence[PriceEvent]) -> None:
        operations = []
        inserts = 0
        for change in changes:
            after = change.after
            if change.before is None:
                inserts += 1
                operations.append(
                    UpdateOne(
                        {"organization_id": after.organization_id, "sku": after.sku},
                        {"$setOnInsert": _product_document(after)},
                        upsert=True,
                    )
                )
            else:
                before = change.before
                stored = {"organization_id": before.organization_id, "sku": before.sku, "revision": before.revision}
                operations.append(UpdateOne(stored, {"$set": _changed_fields(before, after)}))
        if operations:
            try:
                result = await self._products.bulk_write(operations, ordered=True)
            except BulkWriteError:
                raise Conflict("a product was created or changed concurrently") from None
            if result.upserted_count != inserts or result.matched_count != len(operations) - inserts:
                raise Conflict("a product was created or changed concurrently")
        if events:
            await self._events.insert_many([_event_document(event) for event in events], ordered=True)

    async def in_category(self, organization_id: str, category_id: str) -> bool:
        found = await self._products.find_one(
            {"organization_id": organization_id, "category_id": category_id}, {"_id": True}
        )
        return found is not None


class MongoPriceEventRepository:
    def __init__(self, price_events: DocumentCollection) -> None:
        self._events = price_events

    async def find(
        self, organization_id: str, *, sku: str | None, before: EventPosition | None, limit: int
    ) -> list[PriceEvent]:
        selector: Document = {"organization_id": organization_id}
        if sku is not None:
            selector["sku"] = sku
        if before is not None:
            selector["$or"] = [
                {"time": {"$lt": before.time}},
                {"time": before.time, "id": {"$lt": before.id}},
            ]
        cursor = self._events.find(selector, _NO_ID).sort([("time", DESCENDING), ("id", DESCENDING)]).limit(limit)
        return [_event(document) for document in await cursor.to_list(None)]


class MongoCategoryRepository:
    def __init__(self, categories: DocumentCollection) -> None:
        self._categories = categories

    async def list_all(self, organization_id: str) -> list[Category]:
        cursor = self._categories.find({"organization_id": organization_id}, _NO_ID)
        return [_category(document) for document in await cursor.to_list(None)]

    async def get(self, organization_id: str, category_id: str) -> Category | None:
        document = await self._categories.find_one({"organization_id": organization_id, "id": category_id}, _NO_ID)
        return None if document is None else _category(document)

    async def create(self, category: Category) -> None:
        try:
            await self._categories.insert_one(_category_document(category))
        except DuplicateKeyError as error:
            raise _category_taken(error, category) from None

    async def update(self, category: Category) -> None:
        try:
            result = await self._categories.update_one(
                {"organization_id": category.organization_id, "id": category.id},
                {"$set": {"name": category.name, "name_key": category.name_key, "parent_id": category.parent_id}},
            )
        except DuplicateKeyError as error:
            raise _category_taken(error, category) from None
        if result.matched_count == 0:
            raise NotFound(f"category {category.id!r} does not exist", field="id")

    async def delete(self, organization_id: str, category_id: str) -> None:
        await self._categories.delete_one({"organization_id": organization_id, "id": category_id})

    async def has_children(self, organization_id: str, category_id: str) -> bool:
        found = await self._categories.find_one(
            {"organization_id": organization_id, "parent_id": category_id}, {"_id": True}
        )
        return found is not None


def _category_taken(error: DuplicateKeyError, category: Category) -> AlreadyExists:
    key_pattern = (error.details or {}).get("keyPattern") or {}
    if "name_key" in key_pattern:
        return AlreadyExists(f"a sibling category is already named {category.name!r}", field="name")
    return AlreadyExists(f"category {category.id!r} already exists", field="id")


async def open_mongo_repositories(
    database: MongoDatabase, *, close: Callable[[], Awaitable[None]] | None = None
) -> Repositories:
    """Repositories over `database`, with its indexes ensured; `close` releases the client, if owned."""
    await ensure_indexes(database)
    products, events = database["products"], database["price_events"]

    async def nothing_to_close() -> None:
        return None

    return Repositories(
        products=MongoProductRepository(products, events),
        price_events=MongoPriceEventRepository(events),
        categories=MongoCategoryRepository(database["categories"]),
        close=close or nothing_to_close,
    )


# --- documents ------------------------------------------------------------------------------------


def _product_document(product: Product) -> Document:
    return {
        "organization_id": product.organization_id,
        "sku": product.sku,
        "title": product.title,
        "title_folded": fold(product.title),
        "brand": product.brand,
        "brand_folded": fold(product.brand),
        "gtin": product.gtin,
        "mpn": product.mpn,
        "category_id": product.category_id,
        "currency": product.currency,
        "cost_minor": _minor(product.cost),
        "price_minor": product.price.amount_minor,
        "map_price_minor": _minor(product.map_price),
        "stock": product.stock,
        # Pairs rather than a sub-document: attribute names may contain "." or start with "$".
        "attributes": [[key, value] for key, value in product.attributes.items()],
        "status": product.status.value,
        "revision": product.revision,
        "create_time": product.create_time,
        "update_time": product.update_time,
    }


def _changed_fields(before: Product, after: Product) -> Document:
    old, new = _product_document(before), _product_document(after)
    return {name: value for name, value in new.items() if old[name] != value}


def _minor(money: Money | None) -> int | None:
    return None if money is None else money.amount_minor


def _product(document: Document) -> Product:
    currency = document["currency"]
    cost, map_price = document.get("cost_minor"), document.get("map_price_minor")
    return Product(
        organization_id=document["organization_id"],
        sku=document["sku"],
        title=document["title"],
        brand=document["brand"],
        gtin=document["gtin"],
        mpn=document["mpn"],
        category_id=document["category_id"],
        cost=None if cost is None else Money(cost, currency),
        price=Money(document["price_minor"], currency),
        map_price=None if map_price is None else Money(map_price, currency),
        stock=document["stock"],
        attributes=dict(document["attributes"]),
        status=ProductStatus(document["status"]),
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        update_time=_aware(document["update_time"]),
    )


def _aware(value: datetime) -> datetime:
    # The client is tz_aware; this only swaps bson's UTC zone object for the one the domain uses.
    return value.astimezone(UTC)


def _event_document(event: PriceEvent) -> Document:
    return {
        "organization_id": event.organization_id,
        "id": event.id,
        "sku": event.sku,
        "old_currency": None if event.old_price is None else event.old_price.currency,
        "old_price_minor": _minor(event.old_price),
        "new_currency": event.new_price.currency,
        "new_price_minor": event.new_price.amount_minor,
        "actor_id": event.actor_id,
        "reason": event.reason,
        "source": event.source,
        "time": event.time,
    }


def _event(document: Document) -> PriceEvent:
    old_minor = document.get("old_price_minor")
    return PriceEvent(
        organization_id=document["organization_id"],
        id=document["id"],
        sku=document["sku"],
        old_price=None if old_minor is None else Money(old_minor, document["old_currency"]),
        new_price=Money(document["new_price_minor"], document["new_currency"]),
        actor_id=document["actor_id"],
        reason=document["reason"],
        source=document["source"],
        time=_aware(document["time"]),
    )


def _category_document(category: Category) -> Document:
    return {
        "organization_id": category.organization_id,
        "id": category.id,
        "name": category.name,
        "name_key": category.name_key,
        "parent_id": category.parent_id,
    }


def _category(document: Document) -> Category:
    return Category(document["organization_id"], document["id"], document["name"], document["parent_id"])
