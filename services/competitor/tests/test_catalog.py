"""GrpcCatalogReader against the real product service on loopback gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from pydantic import SecretStr

from omnipricex.common.v1 import money_pb2
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.auth import Role
from runtime.clients import auth_metadata
from runtime.errors import Unauthenticated, Unavailable
from runtime.grpc_server import RunningServer, start_server
from runtime.identity_client import access_tokens
from runtime.money import Money
from runtime.settings import Settings
from runtime.testing.auth import RecordingAuditSink, token_authenticator
from services.competitor.catalog import PAGE, SNAPSHOT_SECONDS, CatalogItem, GrpcCatalogReader
from services.competitor.tests.support import ORG_A, ORG_B, principal
from services.product import server as product_server


@dataclass
class ManualClock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Catalog:
    settings: Settings
    products: product_pb2_grpc.ProductServiceAsyncStub
    server: RunningServer

    async def upsert(self, *products: product_pb2.Product, organization_id: str = ORG_A) -> None:
        token = access_tokens(self.settings).issue(
            user_id="usr_1", organization_id=organization_id, role=Role.PRICING_MANAGER
        )
        response = await self.products.BulkUpsertProducts(
            product_pb2.BulkUpsertProductsRequest(products=products, reason="test catalog"),
            metadata=auth_metadata(token.token),
        )
        assert list(response.errors) == []


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    settings = Settings(data_dir=tmp_path, jwt_secret=SecretStr("catalog-tests-secret-" + "c" * 40))
    running = await start_server(
        product_server.build_definition(await product_server.open_repositories(settings)),
        address="127.0.0.1:0",
        authenticator=token_authenticator(access_tokens(settings)),
        audit_sink=RecordingAuditSink(),
    )
    settings = settings.model_copy(update={"product_address": f"127.0.0.1:{running.port}"})
    channel = grpc.aio.insecure_channel(settings.product_address)
    try:
        yield Catalog(settings, product_pb2_grpc.ProductServiceStub(channel), running)
    finally:
        await channel.close()
        await running.stop(0)


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def product(sku: str, title: str = "Electric kettle", **fields: object) -> product_pb2.Product:
    return product_pb2.Product(sku=sku, title=title, brand="Boilex", cost=eur(1000), price=eur(2999), **fields)  # type: ignore[arg-type]


async def test_items_are_the_active_products_of_the_callers_organisation(catalog: Catalog) -> None:
    await catalog.upsert(
        product(
            "KETTLE-17",
            "Electric kettle 1.7 l",
            gtin="4006381333931",
            mpn="BX-17",
            map_price=eur(2499),
            attributes={"colour": "steel"},
        ),
        product("DRAFT-1", status=product_pb2.PRODUCT_STATUS_DRAFT),
        product("GONE-1", status=product_pb2.PRODUCT_STATUS_ARCHIVED),
        *[product(f"BULK-{number:04d}") for number in range(PAGE + 5)],
    )
    await catalog.upsert(product("THEIRS-1"), organization_id=ORG_B)
    reader = GrpcCatalogReader(catalog.settings)
    try:
        items = await reader.items(principal(Role.VIEWER))
        skus = [item.sku for item in items]
        assert len(skus) == PAGE + 6
        assert "KETTLE-17" in skus
        assert not {"DRAFT-1", "GONE-1", "THEIRS-1"} & set(skus)
        kettle = next(item for item in items if item.sku == "KETTLE-17")
        assert kettle == CatalogItem(
            sku="KETTLE-17",
            title="Electric kettle 1.7 l",
            brand="Boilex",
            gtin="4006381333931",
            mpn="BX-17",
            category_id="",
            price=Money(2999, "EUR"),
            map_price=Money(2499, "EUR"),
            attributes={"colour": "steel"},
        )
        assert next(item for item in items if item.sku == "BULK-0000").map_price is None
        found = await reader.get_many(principal(Role.VIEWER), ["KETTLE-17", "DRAFT-1", "NOPE", "THEIRS-1"])
        assert list(found) == ["KETTLE-17"]
        assert found["KETTLE-17"] == kettle
        theirs = await reader.items(principal(Role.VIEWER, ORG_B))
        assert [item.sku for item in theirs] == ["THEIRS-1"]
    finally:
        await reader.close()


async def test_a_snapshot_is_kept_for_a_minute_per_organisation(catalog: Catalog) -> None:
    await catalog.upsert(product("KETTLE-17"))
    clock = ManualClock()
    reader = GrpcCatalogReader(catalog.settings, clock=clock)
    try:
        first = await reader.items(principal(Role.VIEWER))
        await catalog.upsert(product("KETTLE-20"))
        assert await reader.items(principal(Role.VIEWER)) is first
        clock.now += SNAPSHOT_SECONDS
        assert [item.sku for item in await reader.items(principal(Role.VIEWER))] == ["KETTLE-17", "KETTLE-20"]
        # get_many always asks: a confirm must see a product created a second ago.
        assert list(await reader.get_many(principal(Role.VIEWER), ["KETTLE-20"])) == ["KETTLE-20"]
    finally:
        await reader.close()


async def test_product_service_errors_become_domain_errors(catalog: Catalog) -> None:
    stranger = catalog.settings.model_copy(update={"jwt_secret": SecretStr("another-installation-" + "x" * 40)})
    refused = GrpcCatalogReader(stranger)
    reader = GrpcCatalogReader(catalog.settings)
    try:
        with pytest.raises(Unauthenticated):
            await refused.items(principal(Role.VIEWER))
        await catalog.server.stop(0)
        with pytest.raises(Unavailable, match="product service is not answering"):
            await reader.get_many(principal(Role.VIEWER), ["KETTLE-17"])
    finally:
        await refused.close()
        await reader.close()
