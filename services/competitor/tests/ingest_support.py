"""What ingest and review tests share: an in-memory catalog, a sink that records market events, builders."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from runtime.auth import Principal
from runtime.money import Money
from services.competitor.catalog import CatalogItem
from services.competitor.domain import ExtractionMethod, SightingDraft
from services.competitor.market_events import NewCompetitorProduct, PriceSeen, SourceHealthChanged
from services.competitor.tests.support import ORG_A, START, eur


class MemoryCatalog:
    """The product service's active products per organisation, as the CatalogReader protocol hands them out."""

    def __init__(self) -> None:
        self.products: dict[str, dict[str, CatalogItem]] = {}
        self.reads = 0

    def add(self, *items: CatalogItem, organization_id: str = ORG_A) -> None:
        for item in items:
            self.products.setdefault(organization_id, {})[item.sku] = item

    async def items(self, principal: Principal) -> Sequence[CatalogItem]:
        self.reads += 1
        return tuple(self.products.get(principal.organization_id, {}).values())

    async def get_many(self, principal: Principal, skus: Collection[str]) -> dict[str, CatalogItem]:
        mine = self.products.get(principal.organization_id, {})
        return {sku: mine[sku] for sku in skus if sku in mine}


@dataclass
class RecordingSink:
    """A MarketEventSink that keeps what it is told; `fail` makes every call raise after recording."""

    prices: list[PriceSeen] = field(default_factory=list)
    new_products: list[NewCompetitorProduct] = field(default_factory=list)
    health: list[SourceHealthChanged] = field(default_factory=list)
    fail: bool = False

    async def prices_seen(self, events: Sequence[PriceSeen]) -> None:
        self.prices.extend(events)
        self._maybe_fail()

    async def new_products_seen(self, events: Sequence[NewCompetitorProduct]) -> None:
        self.new_products.extend(events)
        self._maybe_fail()

    async def source_health_changed(self, event: SourceHealthChanged) -> None:
        self.health.append(event)
        self._maybe_fail()

    def _maybe_fail(self) -> None:
        if self.fail:
            raise RuntimeError("the alert store is down")


def catalog_item(sku: str, title: str, brand: str = "", **fields: Any) -> CatalogItem:
    values: dict[str, Any] = {
        "gtin": "",
        "mpn": "",
        "category_id": "cat_home",
        "price": Money(2999, "EUR"),
        "map_price": None,
        "attributes": {},
    }
    values.update(fields)
    return CatalogItem(sku=sku, title=title, brand=brand, **values)


KETTLE = catalog_item("KETTLE-17", "Electric kettle 1.7 l stainless steel", "Boilex", gtin="4006381333931", mpn="BX-17")
KETTLE_XL = catalog_item("KETTLE-20", "Electric kettle 2 l stainless steel", "Boilex", mpn="BX-20")
PHONE_128 = catalog_item("PHONE-128", "Nimbus X2 smartphone 128 GB black", "Nimbus", category_id="cat_phones")
PHONE_256 = catalog_item("PHONE-256", "Nimbus X2 smartphone 256 GB black", "Nimbus", category_id="cat_phones")
TOASTER = catalog_item("TOASTER-2", "Two-slice toaster with bun rack", "Crumb", category_id="cat_kitchen")


def crawled(path: str, minutes: float = 0, amount_minor: int | None = 2999, **fields: Any) -> SightingDraft:
    """A product page of shop-one.example read `minutes` after START, priced in EUR by JSON-LD unless told."""
    values: dict[str, Any] = {
        "url": f"https://shop-one.example/{path}",
        "fetch_time": START + timedelta(minutes=minutes),
        "price": None if amount_minor is None else eur(amount_minor),
        "in_stock": True,
        "extraction_method": None if amount_minor is None else ExtractionMethod.JSON_LD,
        "confidence": 0.9,
    }
    values.update(fields)
    return SightingDraft(**values)
