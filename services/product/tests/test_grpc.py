"""The product service over real gRPC: the shared server bootstrap, tokens, proto translation, status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.auth import AccessTokens, Role
from runtime.testing.auth import RecordingAuditSink
from runtime.testing.grpc import access_tokens, metadata_as, rpc_refusal, serving
from services.product.repository.sqlite import open_sqlite_repositories
from services.product.server import SERVICE_NAMES, build_definition
from services.product.tests.support import ORG_A, ORG_B


@dataclass
class Client:
    products: product_pb2_grpc.ProductServiceAsyncStub
    categories: product_pb2_grpc.CategoryServiceAsyncStub
    tokens: AccessTokens
    audit: RecordingAuditSink

    def as_(self, role: Role, organization_id: str = ORG_A) -> tuple[tuple[str, str], ...]:
        return metadata_as(self.tokens, role, organization_id)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    tokens, audit = access_tokens(), RecordingAuditSink()
    repositories = await open_sqlite_repositories(tmp_path / "product.sqlite3")
    async with serving(build_definition(repositories), tokens, audit) as channel:
        yield Client(
            product_pb2_grpc.ProductServiceStub(channel), product_pb2_grpc.CategoryServiceStub(channel), tokens, audit
        )


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def message(sku: str, **fields: object) -> product_pb2.Product:
    values: dict[str, object] = {
        "title": f"Product {sku}",
        "brand": "Acme",
        "price": eur(1999),
        "cost": eur(1200),
        "stock": 3,
        "attributes": {"colour": "red"},
    }
    values.update(fields)
    return product_pb2.Product(sku=sku, **values)  # type: ignore[arg-type]


async def test_the_service_names_its_proto_services() -> None:
    assert SERVICE_NAMES == ("omnipricex.product.v1.ProductService", "omnipricex.product.v1.CategoryService")


async def test_create_get_update_archive_over_grpc(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    created = await client.products.CreateProduct(
        product_pb2.CreateProductRequest(
            product=message("mug-1", title="Tasse „Größe L“ 🎉", gtin="4006381333931", map_price=eur(1800)),
            reason="launch",
        ),
        metadata=manager,
    )
    product = created.product
    assert (product.sku, product.title, product.price.amount_minor, product.map_price.amount_minor) == (
        "mug-1",
        "Tasse „Größe L“ 🎉",
        1999,
        1800,
    )
    assert product.status == product_pb2.PRODUCT_STATUS_ACTIVE
    assert dict(product.attributes) == {"colour": "red"}
    assert product.create_time.seconds > 0
    assert product.create_time.nanos % 1_000_000 == 0

    fetched = await client.products.GetProduct(
        product_pb2.GetProductRequest(sku="mug-1"), metadata=client.as_(Role.VIEWER)
    )
    assert fetched.product == product

    updated = await client.products.UpdateProduct(
        product_pb2.UpdateProductRequest(
            product=product_pb2.Product(sku="mug-1", price=eur(1799), title="ignored"),
            update_mask=FieldMask(paths=["price", "map_price"]),
            reason="competitor",
        ),
        metadata=manager,
    )
    assert (updated.product.price.amount_minor, updated.product.title) == (1799, product.title)
    assert not updated.product.HasField("map_price")
    assert updated.product.cost.amount_minor == 1200

    archived = await client.products.ArchiveProduct(product_pb2.ArchiveProductRequest(sku="mug-1"), metadata=manager)
    assert archived.product.status == product_pb2.PRODUCT_STATUS_ARCHIVED

    events = await client.products.ListPriceEvents(
        product_pb2.ListPriceEventsRequest(sku="mug-1"), metadata=client.as_(Role.VIEWER)
    )
    assert [(e.HasField("old_price"), e.new_price.amount_minor, e.source) for e in events.events] == [
        (True, 1799, "UpdateProduct"),
        (False, 1999, "CreateProduct"),
    ]
    assert events.events[0].actor_id == "usr_pricing_manager"
    assert [r.action.rsplit("/", 1)[-1] for r in client.audit.records] == [
        "CreateProduct",
        "UpdateProduct",
        "ArchiveProduct",
    ]


async def test_errors_arrive_as_status_codes_with_the_field(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    assert await rpc_refusal(
        client.products.GetProduct(product_pb2.GetProductRequest(sku="does-not-exist"), metadata=manager)
    ) == (grpc.StatusCode.NOT_FOUND, "sku: product 'does-not-exist' does not exist")
    code, details = await rpc_refusal(client.products.GetProduct(product_pb2.GetProductRequest(sku="x")))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert await rpc_refusal(
        client.products.CreateProduct(
            product_pb2.CreateProductRequest(product=message("v-1")), metadata=client.as_(Role.VIEWER)
        )
    ) == (grpc.StatusCode.PERMISSION_DENIED, "this needs the pricing_manager role or higher")
    assert await rpc_refusal(
        client.products.CreateProduct(
            product_pb2.CreateProductRequest(product=message("n-1", price=eur(-100))), metadata=manager
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "price: price must not be negative")
    code, details = await rpc_refusal(
        client.products.CreateProduct(
            product_pb2.CreateProductRequest(
                product=message("n-1", price=money_pb2.Money(amount_minor=100, currency="EURO"), cost=None)
            ),
            metadata=manager,
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "price.currency")
    code, details = await rpc_refusal(
        client.products.CreateProduct(
            product_pb2.CreateProductRequest(product=message("n-1", title="x" * 1_048_576)), metadata=manager
        )
    )
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: title must be at most 500 characters, got 1048576",
    )
    await client.products.CreateProduct(product_pb2.CreateProductRequest(product=message("dup-1")), metadata=manager)
    code, _ = await rpc_refusal(
        client.products.CreateProduct(product_pb2.CreateProductRequest(product=message("dup-1")), metadata=manager)
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    code, details = await rpc_refusal(
        client.products.UpdateProduct(
            product_pb2.UpdateProductRequest(product=message("dup-1"), update_mask=FieldMask(paths=["sku"])),
            metadata=manager,
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "update_mask")
    code, details = await rpc_refusal(
        client.products.CreateProduct(
            product_pb2.CreateProductRequest(product=message("st-1", status=9)),
            metadata=manager,
        )
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "status: unknown product status 9")


async def test_another_organisation_gets_not_found(client: Client) -> None:
    await client.products.CreateProduct(
        product_pb2.CreateProductRequest(product=message("mine-1")), metadata=client.as_(Role.PRICING_MANAGER)
    )
    other = client.as_(Role.OWNER, ORG_B)
    code, _ = await rpc_refusal(client.products.GetProduct(product_pb2.GetProductRequest(sku="mine-1"), metadata=other))
    assert code == grpc.StatusCode.NOT_FOUND
    listed = await client.products.ListProducts(product_pb2.ListProductsRequest(), metadata=other)
    assert list(listed.products) == []


async def test_bulk_upsert_list_and_csv_over_grpc(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    batch = [message(f"b-{i:03d}", price=eur(100 + i)) for i in range(120)]
    first = await client.products.BulkUpsertProducts(
        product_pb2.BulkUpsertProductsRequest(products=batch, reason="load"), metadata=manager
    )
    assert (first.created, first.updated, first.unchanged, list(first.errors)) == (120, 0, 0, [])
    again = await client.products.BulkUpsertProducts(
        product_pb2.BulkUpsertProductsRequest(products=batch, reason="load"), metadata=manager
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 120)

    bad = await client.products.BulkUpsertProducts(
        product_pb2.BulkUpsertProductsRequest(products=[message("b-500"), message("b-500"), message("c/1")]),
        metadata=manager,
    )
    assert [(e.row, e.sku, e.field) for e in bad.errors] == [(1, "b-500", "sku"), (2, "c/1", "sku")]
    assert bad.created == 0

    page = await client.products.ListProducts(
        product_pb2.ListProductsRequest(
            filter=product_pb2.ProductFilter(min_price=eur(150), title_query="PRODUCT B-"),
            page=paging_pb2.PageRequest(page_size=50),
        ),
        metadata=client.as_(Role.VIEWER),
    )
    assert [p.sku for p in page.products] == [f"b-{i:03d}" for i in range(50, 100)]
    rest = await client.products.ListProducts(
        product_pb2.ListProductsRequest(
            filter=product_pb2.ProductFilter(min_price=eur(150), title_query="PRODUCT B-"),
            page=paging_pb2.PageRequest(page_size=50, page_token=page.page.next_page_token),
        ),
        metadata=client.as_(Role.VIEWER),
    )
    assert [p.sku for p in rest.products] == [f"b-{i:03d}" for i in range(100, 120)]
    assert rest.page.next_page_token == ""

    exported = await client.products.ExportProductsCsv(product_pb2.ExportProductsCsvRequest(), metadata=manager)
    assert exported.csv.count(b"\r\n") == 121
    imported = await client.products.ImportProductsCsv(
        product_pb2.ImportProductsCsvRequest(csv=exported.csv, reason="round trip"), metadata=manager
    )
    assert (imported.created, imported.updated, imported.unchanged) == (0, 0, 120)
    code, details = await rpc_refusal(
        client.products.ImportProductsCsv(product_pb2.ImportProductsCsvRequest(csv=b"\xff\xfe"), metadata=manager)
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "csv")


async def test_categories_over_grpc(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    home = await client.categories.CreateCategory(
        product_pb2.CreateCategoryRequest(category=product_pb2.Category(name="Home")), metadata=manager
    )
    kitchen = await client.categories.CreateCategory(
        product_pb2.CreateCategoryRequest(
            category=product_pb2.Category(id="kitchen", name="Kitchen", parent_id=home.category.id)
        ),
        metadata=manager,
    )
    assert kitchen.category == product_pb2.Category(id="kitchen", name="Kitchen", parent_id=home.category.id)
    renamed = await client.categories.UpdateCategory(
        product_pb2.UpdateCategoryRequest(
            category=product_pb2.Category(id="kitchen", name="Küche"), update_mask=FieldMask(paths=["name"])
        ),
        metadata=manager,
    )
    assert renamed.category.name == "Küche"
    listed = await client.categories.ListCategories(
        product_pb2.ListCategoriesRequest(), metadata=client.as_(Role.VIEWER)
    )
    assert [c.id for c in listed.categories] == [home.category.id, "kitchen"]
    code, _ = await rpc_refusal(
        client.categories.DeleteCategory(product_pb2.DeleteCategoryRequest(id=home.category.id), metadata=manager)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    await client.categories.DeleteCategory(product_pb2.DeleteCategoryRequest(id="kitchen"), metadata=manager)
    await client.categories.DeleteCategory(product_pb2.DeleteCategoryRequest(id=home.category.id), metadata=manager)
    listed = await client.categories.ListCategories(product_pb2.ListCategoriesRequest(), metadata=manager)
    assert list(listed.categories) == []
