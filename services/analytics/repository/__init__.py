"""What the analytics service needs from storage; SQLite and MongoDB engines both provide it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.analytics.domain import DemandPoint, DemandQuery, LineKey, LinePosition, LineQuery, OrderLine


class OrderLineRepository(Protocol):
    async def get_many(self, organization_id: str, keys: Collection[LineKey]) -> dict[LineKey, OrderLine]:
        """The stored lines among `keys` ((order_id, line_no) pairs)."""
        ...

    async def upsert(self, organization_id: str, lines: Sequence[OrderLine]) -> None:
        """Store each line under its (order_id, line_no), replacing a stored line with the same key.

        SQLite writes all of it or nothing; MongoDB has no multi-document atomicity without a replica
        set, so a failure may leave some lines written — sending the same lines again completes it.
        """
        ...

    async def find(
        self, organization_id: str, query: LineQuery, *, after: LinePosition | None, limit: int
    ) -> list[OrderLine]:
        """Lines matching `query` that come after `after`, ordered by (time, order_id, line_no)."""
        ...

    async def demand(self, organization_id: str, query: DemandQuery) -> list[tuple[str, DemandPoint]]:
        """Lines of the query's skus and days summed per (sku, UTC day, unit price), in no particular order."""
        ...


@dataclass(frozen=True)
class Repositories:
    order_lines: OrderLineRepository
    close: Callable[[], Awaitable[None]]
