"""What the product service needs from storage; SQLite and MongoDB engines both provide it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.product.domain import Category, PriceEvent, Product, ProductChange, ProductQuery


@dataclass(frozen=True, slots=True)
class PricingRow:
    """The fields a reprice run reads, straight from storage: no domain object is built for them."""

    sku: str
    brand: str
    category_id: str
    currency: str
    price_minor: int
    cost_minor: int | None
    map_minor: int | None


class ProductRepository(Protocol):
    async def get(self, organization_id: str, sku: str) -> Product | None: ...

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, Product]: ...

    async def find(self, organization_id: str, query: ProductQuery, *, after_sku: str, limit: int) -> list[Product]:
        """Products matching `query` with a sku greater than `after_sku`, ordered by sku."""
        ...

    async def write(self, changes: Sequence[ProductChange], events: Sequence[PriceEvent]) -> None:
        """Store new and changed products with their price events.

        A new product (`before` None) must not exist yet, and a changed one must still be at the
        revision of `before`; otherwise runtime.errors.Conflict is raised. SQLite writes all of it or
        nothing; MongoDB has no multi-document atomicity without a replica set, so a failure may leave
        a prefix of the changes written — running the same upsert again completes it.
        """
        ...

    async def pricing_rows(
        self, organization_id: str, *, category_ids: frozenset[str] | None, after_sku: str, limit: int
    ) -> list[PricingRow]:
        """Active products (of these categories when given) with a sku greater than `after_sku`, by sku."""
        ...

    async def in_category(self, organization_id: str, category_id: str) -> bool:
        """Whether any product, archived ones included, belongs to the category."""
        ...


@dataclass(frozen=True, slots=True)
class EventPosition:
    """Where a page of price events ends: events strictly older than this come next."""

    time: datetime
    id: str


class PriceEventRepository(Protocol):
    async def find(
        self, organization_id: str, *, sku: str | None, before: EventPosition | None, limit: int
    ) -> list[PriceEvent]:
        """Events newest first (by time, then id)."""
        ...


class CategoryRepository(Protocol):
    async def list_all(self, organization_id: str) -> list[Category]: ...

    async def get(self, organization_id: str, category_id: str) -> Category | None: ...

    async def create(self, category: Category) -> None:
        """AlreadyExists when the id is taken or a sibling has the same name."""
        ...

    async def update(self, category: Category) -> None:
        """AlreadyExists when a sibling has the same name; NotFound when the category is gone."""
        ...

    async def delete(self, organization_id: str, category_id: str) -> None: ...

    async def has_children(self, organization_id: str, category_id: str) -> bool: ...


@dataclass(frozen=True)
class Repositories:
    products: ProductRepository
    price_events: PriceEventRepository
    categories: CategoryRepository
    close: Callable[[], Awaitable[None]]
