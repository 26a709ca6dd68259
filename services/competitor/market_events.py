"""What recording the market tells alerting: prices seen, new competitor products, source health.

Matching and observation recording produce these; alert rules consume them. Keeping the hand-off
to plain values lets each side be tested without the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from runtime.money import Money


@dataclass(frozen=True, slots=True)
class PriceSeen:
    """One offer's observation as recorded, beside the state it replaced (None when it is the first)."""

    organization_id: str
    competitor_id: str
    offer_id: str
    sku: str
    url: str
    title: str
    observe_time: datetime
    price: Money
    in_stock: bool
    quarantined: bool
    previous_price: Money | None
    previous_in_stock: bool | None


@dataclass(frozen=True, slots=True)
class NewCompetitorProduct:
    """A competitor product seen for the first time (matched or waiting for review)."""

    organization_id: str
    competitor_id: str
    url: str
    title: str
    # Our category: the source listing's, else the matched (or best candidate) sku's; empty when unknown.
    category_id: str
    # The matched sku, or "" while the product waits for review.
    sku: str
    price: Money | None
    observe_time: datetime


@dataclass(frozen=True, slots=True)
class SourceHealthChanged:
    organization_id: str
    competitor_id: str
    source_id: str
    source_name: str
    broken: bool
    reason: str
    observe_time: datetime


class MarketEventSink(Protocol):
    """Called after the events' data is stored; a failure here never undoes what was recorded."""

    async def prices_seen(self, events: Sequence[PriceSeen]) -> None: ...

    async def new_products_seen(self, events: Sequence[NewCompetitorProduct]) -> None: ...

    async def source_health_changed(self, event: SourceHealthChanged) -> None: ...
