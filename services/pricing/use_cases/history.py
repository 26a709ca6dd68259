"""Price history from the catalog's price events, and the EU Omnibus prior price of a reduction."""

from __future__ import annotations

from datetime import datetime

from runtime.auth import Principal
from runtime.clock import utcnow
from runtime.errors import InvalidArgument
from services.pricing.domain.omnibus import PriceChangeRecord, PriorPrice, prior_price
from services.pricing.upstream import Upstream
from services.pricing.use_cases.common import READ_ROLE, Clock


class PriceHistory:
    def __init__(self, upstream: Upstream, *, clock: Clock = utcnow) -> None:
        self._upstream = upstream
        self._clock = clock

    async def history(
        self, principal: Principal, sku: str, *, start: datetime | None, end: datetime | None
    ) -> list[PriceChangeRecord]:
        """Oldest first; the price in force at `start` is included, so the series starts with a price."""
        principal.require(READ_ROLE)
        if start is not None and end is not None and start >= end:
            raise InvalidArgument("start_time must be before end_time", field="start_time")
        events = await self._events(principal, sku)
        if start is not None:
            before = [event for event in events if event.time <= start]
            events = before[-1:] + [event for event in events if event.time > start]
        return [event for event in events if end is None or event.time < end]

    async def prior_price(self, principal: Principal, sku: str, *, at: datetime | None) -> PriorPrice:
        principal.require(READ_ROLE)
        return prior_price(await self._events(principal, sku), at or self._clock())

    async def _events(self, principal: Principal, sku: str) -> list[PriceChangeRecord]:
        if not sku:
            raise InvalidArgument("sku is required", field="sku")
        rows = await self._upstream.price_events(principal, sku)
        return [PriceChangeRecord(row.time, row.price, row.actor_id, row.reason) for row in rows]
