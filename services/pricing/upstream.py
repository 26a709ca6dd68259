"""What pricing reads from and writes to other services, over gRPC: catalog, sales ledger, market prices.

Calls are made in the name of a principal: the request's caller, or for jobs the run's creator. Pricing
mints a short-lived access token for that principal, so the catalog's price events name the person who
approved a price (or created the auto-applying run), never a faceless service account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import grpc

from omnipricex.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.competitor.v1 import competitor_pb2, competitor_pb2_grpc
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.auth import Principal
from runtime.clients import callee_error, open_channel
from runtime.credentials import Credentials
from runtime.identity_client import access_tokens
from runtime.money import Money
from runtime.settings import Settings
from runtime.timestamps import from_timestamp

PAGE = 1_000
PRICING_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    sku: str
    brand: str
    category_id: str
    price: Money
    cost: Money | None
    map_price: Money | None


@dataclass(frozen=True, slots=True)
class MarketPrice:
    competitor_id: str
    price: Money
    in_stock: bool
    age_seconds: int


@dataclass(frozen=True, slots=True)
class PriceEventRow:
    time: datetime
    price: Money
    actor_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SalesDay:
    day: date
    unit_price: Money
    units: int


@dataclass(frozen=True, slots=True)
class PriceToApply:
    sku: str
    expected_price: Money
    new_price: Money
    reason: str


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    applied: list[str]
    # sku → why it was not applied
    refused: dict[str, str]


def _money(message: money_pb2.Money) -> Money:
    return Money(message.amount_minor, message.currency)


def _money_message(money: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=money.amount_minor, currency=money.currency)


def _optional(message: object, field: str) -> Money | None:
    return _money(getattr(message, field)) if message.HasField(field) else None  # type: ignore[attr-defined]


class Upstream:
    def __init__(self, settings: Settings) -> None:
        self._product_channel = open_channel(
            settings.product_address, settings, read_only_services=["omnipricex.product.v1.CategoryService"]
        )
        self._analytics_channel = open_channel(
            settings.analytics_address, settings, read_only_services=["omnipricex.analytics.v1.SalesService"]
        )
        self._competitor_channel = open_channel(
            settings.competitor_address, settings, read_only_services=["omnipricex.competitor.v1.MarketService"]
        )
        self._products = product_pb2_grpc.ProductServiceStub(self._product_channel)
        self._categories = product_pb2_grpc.CategoryServiceStub(self._product_channel)
        self._sales = analytics_pb2_grpc.SalesServiceStub(self._analytics_channel)
        self._market = competitor_pb2_grpc.MarketServiceStub(self._competitor_channel)
        self._competitors = competitor_pb2_grpc.CompetitorServiceStub(self._competitor_channel)
        self._credentials = Credentials(access_tokens(settings))
        self._deadline = settings.rpc_deadline_seconds
        self._long_deadline = settings.long_rpc_deadline_seconds

    async def close(self) -> None:
        for channel in (self._product_channel, self._analytics_channel, self._competitor_channel):
            await channel.close()

    # --- catalog ----------------------------------------------------------------------------------

    async def category_parents(self, principal: Principal) -> dict[str, str]:
        try:
            response = await self._categories.ListCategories(
                product_pb2.ListCategoriesRequest(),
                metadata=self._credentials.metadata(principal),
                timeout=self._deadline,
            )
        except grpc.aio.AioRpcError as error:
            raise callee_error(error, "the product service") from None
        return {category.id: category.parent_id for category in response.categories}

    async def products(
        self, principal: Principal, *, category_id: str = "", page_size: int = PRICING_PAGE
    ) -> AsyncIterator[list[CatalogProduct]]:
        """Active products of the organisation (of one category and its descendants), page by page."""
        token = ""
        while True:
            request = product_pb2.ListPricingInputsRequest(
                category_id=category_id, page=paging_pb2.PageRequest(page_size=page_size, page_token=token)
            )
            try:
                response = await self._products.ListPricingInputs(
                    request, metadata=self._credentials.metadata(principal), timeout=self._long_deadline
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the product service") from None
            yield [
                CatalogProduct(
                    sku=sku,
                    brand=brand,
                    category_id=category,
                    price=Money(price, currency),
                    cost=None if cost < 0 else Money(cost, currency),
                    map_price=None if map_price < 0 else Money(map_price, currency),
                )
                for sku, brand, category, currency, price, cost, map_price in zip(
                    response.skus,
                    response.brands,
                    response.category_ids,
                    response.currencies,
                    response.price_minor,
                    response.cost_minor,
                    response.map_minor,
                    strict=True,
                )
            ]
            token = response.page.next_page_token
            if not token:
                return

    async def products_by_sku(
        self, principal: Principal, skus: Sequence[str], *, active_only: bool = True
    ) -> list[CatalogProduct]:
        """The products among `skus` (request order): unknown ones left out, and unless asked otherwise
        archived and draft ones too."""
        found: list[CatalogProduct] = []
        for start in range(0, len(skus), PAGE):
            try:
                response = await self._products.BatchGetProducts(
                    product_pb2.BatchGetProductsRequest(skus=skus[start : start + PAGE]),
                    metadata=self._credentials.metadata(principal),
                    timeout=self._long_deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the product service") from None
            found.extend(
                _catalog_product(item) for item in response.products if item.status == product_pb2.PRODUCT_STATUS_ACTIVE
            )
        return found

    async def price_events(self, principal: Principal, sku: str) -> list[PriceEventRow]:
        """Every price change of the sku, oldest first."""
        events: list[PriceEventRow] = []
        token = ""
        while True:
            try:
                response = await self._products.ListPriceEvents(
                    product_pb2.ListPriceEventsRequest(
                        sku=sku, page=paging_pb2.PageRequest(page_size=PAGE, page_token=token)
                    ),
                    metadata=self._credentials.metadata(principal),
                    timeout=self._long_deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the product service") from None
            events.extend(
                PriceEventRow(from_timestamp(event.time), _money(event.new_price), event.actor_id, event.reason)
                for event in response.events
            )
            token = response.page.next_page_token
            if not token:
                events.reverse()
                return events

    async def apply_prices(self, principal: Principal, changes: Sequence[PriceToApply]) -> ApplyOutcome:
        applied: list[str] = []
        refused: dict[str, str] = {}
        for start in range(0, len(changes), PAGE):
            request = product_pb2.ApplyPricesRequest(
                changes=[
                    product_pb2.PriceChange(
                        sku=change.sku,
                        expected_price=_money_message(change.expected_price),
                        new_price=_money_message(change.new_price),
                        reason=change.reason,
                    )
                    for change in changes[start : start + PAGE]
                ]
            )
            try:
                response = await self._products.ApplyPrices(
                    request, metadata=self._credentials.metadata(principal), timeout=self._long_deadline
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the product service") from None
            applied.extend(response.applied_skus)
            refused.update({item.sku: item.message for item in response.refused})
        return ApplyOutcome(applied, refused)

    # --- market and sales -------------------------------------------------------------------------

    async def market_prices(
        self, principal: Principal, skus: Sequence[str], competitor_ids: Sequence[str] = ()
    ) -> dict[str, list[MarketPrice]]:
        markets: dict[str, list[MarketPrice]] = {}
        for start in range(0, len(skus), PAGE):
            try:
                response = await self._market.ListMarketPrices(
                    competitor_pb2.ListMarketPricesRequest(
                        skus=skus[start : start + PAGE], competitor_ids=competitor_ids
                    ),
                    metadata=self._credentials.metadata(principal),
                    timeout=self._long_deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the competitor service") from None
            for market in response.markets:
                markets[market.sku] = [
                    MarketPrice(item.competitor_id, _money(item.price), item.in_stock, item.age_seconds)
                    for item in market.prices
                ]
        return markets

    async def all_market_prices(self, principal: Principal) -> dict[str, list[MarketPrice]]:
        """Every sku that has offers, page by page: for whole-catalog runs, far fewer calls than by sku."""
        markets: dict[str, list[MarketPrice]] = {}
        token = ""
        while True:
            try:
                response = await self._market.ListMarketPrices(
                    competitor_pb2.ListMarketPricesRequest(
                        page=paging_pb2.PageRequest(page_size=PAGE, page_token=token)
                    ),
                    metadata=self._credentials.metadata(principal),
                    timeout=self._long_deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the competitor service") from None
            for market in response.markets:
                markets[market.sku] = [
                    MarketPrice(item.competitor_id, _money(item.price), item.in_stock, item.age_seconds)
                    for item in market.prices
                ]
            token = response.page.next_page_token
            if not token:
                return markets

    async def competitor_names(self, principal: Principal) -> dict[str, str]:
        names: dict[str, str] = {}
        token = ""
        while True:
            try:
                response = await self._competitors.ListCompetitors(
                    competitor_pb2.ListCompetitorsRequest(
                        page=paging_pb2.PageRequest(page_size=PAGE, page_token=token)
                    ),
                    metadata=self._credentials.metadata(principal),
                    timeout=self._deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the competitor service") from None
            names.update({competitor.id: competitor.name for competitor in response.competitors})
            token = response.page.next_page_token
            if not token:
                return names

    async def demand_series(
        self, principal: Principal, skus: Sequence[str], start: date, end: date
    ) -> dict[str, list[SalesDay]]:
        series: dict[str, list[SalesDay]] = {}
        for offset in range(0, len(skus), PAGE):
            try:
                response = await self._sales.GetDemandSeries(
                    analytics_pb2.GetDemandSeriesRequest(
                        skus=skus[offset : offset + PAGE], start_day=start.isoformat(), end_day=end.isoformat()
                    ),
                    metadata=self._credentials.metadata(principal),
                    timeout=self._long_deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the analytics service") from None
            for item in response.series:
                series[item.sku] = [
                    SalesDay(date.fromisoformat(point.day), _money(point.unit_price), point.units)
                    for point in item.points
                ]
        return series


def _catalog_product(message: product_pb2.Product) -> CatalogProduct:
    return CatalogProduct(
        sku=message.sku,
        brand=message.brand,
        category_id=message.category_id,
        price=_money(message.price),
        cost=_optional(message, "cost"),
        map_price=_optional(message, "map_price"),
    )
