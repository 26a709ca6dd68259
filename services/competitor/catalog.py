"""What the competitor service reads of our catalog (over gRPC from the product service) to match
competitor products and to judge alerts: identifiers, titles, our price and MAP."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from omnipricex.common.v1 import paging_pb2
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.auth import Principal
from runtime.clients import callee_error, open_channel
from runtime.credentials import Credentials
from runtime.identity_client import access_tokens
from runtime.money import Money
from runtime.settings import Settings


@dataclass(frozen=True, slots=True)
class CatalogItem:
    sku: str
    title: str
    brand: str
    gtin: str
    mpn: str
    category_id: str
    price: Money
    map_price: Money | None
    attributes: Mapping[str, str] = field(default_factory=dict)


class CatalogReader(Protocol):
    async def items(self, principal: Principal) -> Sequence[CatalogItem]:
        """Every active product of the principal's organisation (cached briefly per organisation)."""
        ...

    async def get_many(self, principal: Principal, skus: Collection[str]) -> dict[str, CatalogItem]:
        """The given skus that exist and are active; unknown skus are left out."""
        ...


# Every organisation's catalog is read again after this long: matching sees new products within a minute.
SNAPSHOT_SECONDS = 60.0
# The product service's largest ListProducts page, and BatchGetProducts' limit.
PAGE = 1_000
# Snapshots kept at most; the least recently read goes first.
MAX_SNAPSHOTS = 64


class GrpcCatalogReader:
    """The product service's active products, read in the caller's name and kept per organisation for
    SNAPSHOT_SECONDS; the channel only reads, so unreachable-server failures are retried."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._channel = open_channel(
            settings.product_address, settings, read_only_services=["omnipricex.product.v1.ProductService"]
        )
        self._products = product_pb2_grpc.ProductServiceStub(self._channel)
        self._credentials = Credentials(access_tokens(settings))
        self._deadline = settings.rpc_deadline_seconds
        self._long_deadline = settings.long_rpc_deadline_seconds
        self._clock = clock
        self._snapshots: OrderedDict[str, tuple[float, tuple[CatalogItem, ...]]] = OrderedDict()
        self._loading: dict[str, asyncio.Lock] = {}

    async def close(self) -> None:
        await self._channel.close()

    async def items(self, principal: Principal) -> Sequence[CatalogItem]:
        organization_id = principal.organization_id
        cached = self._fresh(organization_id)
        if cached is not None:
            return cached
        lock = self._loading.setdefault(organization_id, asyncio.Lock())
        async with lock:
            # Another batch may have read it while this one waited.
            cached = self._fresh(organization_id)
            if cached is not None:
                return cached
            items = await self._read_all(principal)
            self._snapshots[organization_id] = (self._clock() + SNAPSHOT_SECONDS, items)
            self._snapshots.move_to_end(organization_id)
            while len(self._snapshots) > MAX_SNAPSHOTS:
                evicted, _ = self._snapshots.popitem(last=False)
                self._loading.pop(evicted, None)
            return items

    async def get_many(self, principal: Principal, skus: Collection[str]) -> dict[str, CatalogItem]:
        wanted = list(dict.fromkeys(skus))
        found: dict[str, CatalogItem] = {}
        for start in range(0, len(wanted), PAGE):
            try:
                response = await self._products.BatchGetProducts(
                    product_pb2.BatchGetProductsRequest(skus=wanted[start : start + PAGE]),
                    metadata=self._credentials.metadata(principal),
                    timeout=self._deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the product service") from None
            for product in response.products:
                if product.status == product_pb2.PRODUCT_STATUS_ACTIVE:
                    found[product.sku] = catalog_item(product)
        return found

    def _fresh(self, organization_id: str) -> tuple[CatalogItem, ...] | None:
        cached = self._snapshots.get(organization_id)
        if cached is None or cached[0] <= self._clock():
            return None
        self._snapshots.move_to_end(organization_id)
        return cached[1]

    async def _read_all(self, principal: Principal) -> tuple[CatalogItem, ...]:
        items: list[CatalogItem] = []
        token = ""
        only_active = product_pb2.ProductFilter(status=product_pb2.PRODUCT_STATUS_ACTIVE)
        while True:
            try:
                response = await self._products.ListProducts(
                    product_pb2.ListProductsRequest(
                        filter=only_active, page=paging_pb2.PageRequest(page_size=PAGE, page_token=token)
                    ),
                    metadata=self._credentials.metadata(principal),
                    timeout=self._long_deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise callee_error(error, "the product service") from None
            items.extend(catalog_item(product) for product in response.products)
            token = response.page.next_page_token
            if not token:
                return tuple(items)


def catalog_item(message: product_pb2.Product) -> CatalogItem:
    currency = message.price.currency
    return CatalogItem(
        sku=message.sku,
        title=message.title,
        brand=message.brand,
        gtin=message.gtin,
        mpn=message.mpn,
        category_id=message.category_id,
        price=Money(message.price.amount_minor, currency),
        map_price=Money(message.map_price.amount_minor, currency) if message.HasField("map_price") else None,
        attributes=dict(message.attributes),
    )
