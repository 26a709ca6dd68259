"""gRPC entry points of ProductService and CategoryService: proto messages in, use cases, proto out."""

from __future__ import annotations

from typing import Any

import grpc

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.auth import current_principal
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.timestamps import to_timestamp
from services.product.domain import (
    Category,
    MoneyInput,
    PriceChangeInput,
    PriceEvent,
    Product,
    ProductDraft,
    ProductFilter,
    ProductStatus,
)
from services.product.use_cases import BulkResult, CategoryTree, ProductCatalog

Context = grpc.aio.ServicerContext[Any, Any]


class ProductServicer(product_pb2_grpc.ProductServiceServicer):
    def __init__(self, catalog: ProductCatalog) -> None:
        self._catalog = catalog

    async def GetProduct(
        self, request: product_pb2.GetProductRequest, context: Context
    ) -> product_pb2.GetProductResponse:
        product = await self._catalog.get_product(current_principal(), request.sku)
        return product_pb2.GetProductResponse(product=product_message(product))

    async def ListProducts(
        self, request: product_pb2.ListProductsRequest, context: Context
    ) -> product_pb2.ListProductsResponse:
        page = await self._catalog.list_products(
            current_principal(),
            product_filter(request.filter),
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return product_pb2.ListProductsResponse(
            products=[product_message(product) for product in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def CreateProduct(
        self, request: product_pb2.CreateProductRequest, context: Context
    ) -> product_pb2.CreateProductResponse:
        product = await self._catalog.create_product(
            current_principal(), product_draft(request.product), reason=request.reason
        )
        return product_pb2.CreateProductResponse(product=product_message(product))

    async def UpdateProduct(
        self, request: product_pb2.UpdateProductRequest, context: Context
    ) -> product_pb2.UpdateProductResponse:
        product = await self._catalog.update_product(
            current_principal(),
            product_draft(request.product),
            list(request.update_mask.paths),
            reason=request.reason,
        )
        return product_pb2.UpdateProductResponse(product=product_message(product))

    async def ArchiveProduct(
        self, request: product_pb2.ArchiveProductRequest, context: Context
    ) -> product_pb2.ArchiveProductResponse:
        product = await self._catalog.archive_product(current_principal(), request.sku, reason=request.reason)
        return product_pb2.ArchiveProductResponse(product=product_message(product))

    async def BulkUpsertProducts(
        self, request: product_pb2.BulkUpsertProductsRequest, context: Context
    ) -> product_pb2.BulkUpsertProductsResponse:
        drafts = [product_draft(message, row=index) for index, message in enumerate(request.products)]
        result = await self._catalog.bulk_upsert(current_principal(), drafts, reason=request.reason)
        created, updated, unchanged, errors = _bulk_fields(result)
        return product_pb2.BulkUpsertProductsResponse(
            created=created, updated=updated, unchanged=unchanged, errors=errors
        )

    async def ImportProductsCsv(
        self, request: product_pb2.ImportProductsCsvRequest, context: Context
    ) -> product_pb2.ImportProductsCsvResponse:
        result = await self._catalog.import_csv(current_principal(), request.csv, reason=request.reason)
        created, updated, unchanged, errors = _bulk_fields(result)
        return product_pb2.ImportProductsCsvResponse(
            created=created, updated=updated, unchanged=unchanged, errors=errors
        )

    async def ExportProductsCsv(
        self, request: product_pb2.ExportProductsCsvRequest, context: Context
    ) -> product_pb2.ExportProductsCsvResponse:
        data = await self._catalog.export_csv(current_principal(), product_filter(request.filter))
        return product_pb2.ExportProductsCsvResponse(csv=data)

    async def ListPriceEvents(
        self, request: product_pb2.ListPriceEventsRequest, context: Context
    ) -> product_pb2.ListPriceEventsResponse:
        page = await self._catalog.list_price_events(
            current_principal(),
            sku=request.sku,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return product_pb2.ListPriceEventsResponse(
            events=[price_event_message(event) for event in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def ListPricingInputs(
        self, request: product_pb2.ListPricingInputsRequest, context: Context
    ) -> product_pb2.ListPricingInputsResponse:
        page = await self._catalog.pricing_inputs(
            current_principal(),
            category_id=request.category_id,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        rows = page.items
        return product_pb2.ListPricingInputsResponse(
            skus=[row.sku for row in rows],
            brands=[row.brand for row in rows],
            category_ids=[row.category_id for row in rows],
            currencies=[row.currency for row in rows],
            price_minor=[row.price_minor for row in rows],
            cost_minor=[-1 if row.cost_minor is None else row.cost_minor for row in rows],
            map_minor=[-1 if row.map_minor is None else row.map_minor for row in rows],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def BatchGetProducts(
        self, request: product_pb2.BatchGetProductsRequest, context: Context
    ) -> product_pb2.BatchGetProductsResponse:
        products = await self._catalog.batch_get(current_principal(), list(request.skus))
        return product_pb2.BatchGetProductsResponse(products=[product_message(product) for product in products])

    async def ApplyPrices(
        self, request: product_pb2.ApplyPricesRequest, context: Context
    ) -> product_pb2.ApplyPricesResponse:
        result = await self._catalog.apply_prices(
            current_principal(),
            [
                PriceChangeInput(
                    sku=change.sku,
                    expected_price=_money_input(change.expected_price),
                    new_price=_money_input(change.new_price),
                    reason=change.reason,
                )
                for change in request.changes
            ],
        )
        return product_pb2.ApplyPricesResponse(
            applied_skus=result.applied_skus,
            refused=[
                product_pb2.PriceRefusal(sku=item.sku, message=item.message, current_price=_money(item.current_price))
                for item in result.refused
            ],
        )


class CategoryServicer(product_pb2_grpc.CategoryServiceServicer):
    def __init__(self, tree: CategoryTree) -> None:
        self._tree = tree

    async def CreateCategory(
        self, request: product_pb2.CreateCategoryRequest, context: Context
    ) -> product_pb2.CreateCategoryResponse:
        category = await self._tree.create_category(
            current_principal(),
            category_id=request.category.id,
            name=request.category.name,
            parent_id=request.category.parent_id,
        )
        return product_pb2.CreateCategoryResponse(category=category_message(category))

    async def ListCategories(
        self, request: product_pb2.ListCategoriesRequest, context: Context
    ) -> product_pb2.ListCategoriesResponse:
        categories = await self._tree.list_categories(current_principal())
        return product_pb2.ListCategoriesResponse(categories=[category_message(c) for c in categories])

    async def UpdateCategory(
        self, request: product_pb2.UpdateCategoryRequest, context: Context
    ) -> product_pb2.UpdateCategoryResponse:
        category = await self._tree.update_category(
            current_principal(),
            category_id=request.category.id,
            name=request.category.name,
            parent_id=request.category.parent_id,
            paths=list(request.update_mask.paths),
        )
        return product_pb2.UpdateCategoryResponse(category=category_message(category))

    async def DeleteCategory(
        self, request: product_pb2.DeleteCategoryRequest, context: Context
    ) -> product_pb2.DeleteCategoryResponse:
        await self._tree.delete_category(current_principal(), request.id)
        return product_pb2.DeleteCategoryResponse()


# --- proto → domain -------------------------------------------------------------------------------

_STATUS_FROM_PROTO = {
    product_pb2.PRODUCT_STATUS_ACTIVE: ProductStatus.ACTIVE,
    product_pb2.PRODUCT_STATUS_DRAFT: ProductStatus.DRAFT,
    product_pb2.PRODUCT_STATUS_ARCHIVED: ProductStatus.ARCHIVED,
}
_STATUS_TO_PROTO = {status: number for number, status in _STATUS_FROM_PROTO.items()}


def _status(number: product_pb2.ProductStatus.ValueType, *, field: str) -> ProductStatus | None:
    if number == product_pb2.PRODUCT_STATUS_UNSPECIFIED:
        return None
    status = _STATUS_FROM_PROTO.get(number)
    if status is None:
        raise InvalidArgument(f"unknown product status {number}", field=field)
    return status


def _money_input(message: money_pb2.Money) -> MoneyInput:
    return MoneyInput(message.amount_minor, message.currency)


def product_draft(message: product_pb2.Product, *, row: int | None = None) -> ProductDraft:
    return ProductDraft(
        sku=message.sku,
        title=message.title,
        brand=message.brand,
        gtin=message.gtin,
        mpn=message.mpn,
        category_id=message.category_id,
        cost=_money_input(message.cost) if message.HasField("cost") else None,
        price=_money_input(message.price) if message.HasField("price") else None,
        map_price=_money_input(message.map_price) if message.HasField("map_price") else None,
        stock=message.stock,
        attributes=dict(message.attributes),
        status=_status(message.status, field="status" if row is None else f"products[{row}].status"),
    )


def product_filter(message: product_pb2.ProductFilter) -> ProductFilter:
    return ProductFilter(
        category_id=message.category_id,
        brand=message.brand,
        title_query=message.title_query,
        min_price=_money_input(message.min_price) if message.HasField("min_price") else None,
        max_price=_money_input(message.max_price) if message.HasField("max_price") else None,
        in_stock=message.in_stock,
        status=_status(message.status, field="filter.status"),
    )


# --- domain → proto -------------------------------------------------------------------------------


def _money(value: Money | None) -> money_pb2.Money | None:
    return None if value is None else money_pb2.Money(amount_minor=value.amount_minor, currency=value.currency)


def product_message(product: Product) -> product_pb2.Product:
    return product_pb2.Product(
        sku=product.sku,
        title=product.title,
        brand=product.brand,
        gtin=product.gtin,
        mpn=product.mpn,
        category_id=product.category_id,
        cost=_money(product.cost),
        price=_money(product.price),
        map_price=_money(product.map_price),
        stock=product.stock,
        attributes=product.attributes,
        status=_STATUS_TO_PROTO[product.status],
        create_time=to_timestamp(product.create_time),
        update_time=to_timestamp(product.update_time),
    )


def price_event_message(event: PriceEvent) -> product_pb2.PriceEvent:
    return product_pb2.PriceEvent(
        id=event.id,
        sku=event.sku,
        old_price=_money(event.old_price),
        new_price=_money(event.new_price),
        actor_id=event.actor_id,
        reason=event.reason,
        source=event.source,
        time=to_timestamp(event.time),
    )


def category_message(category: Category) -> product_pb2.Category:
    return product_pb2.Category(id=category.id, name=category.name, parent_id=category.parent_id)


def _bulk_fields(result: BulkResult) -> tuple[int, int, int, list[product_pb2.RowError]]:
    errors = [
        product_pb2.RowError(row=error.row, sku=error.sku, field=error.field, message=error.message)
        for error in result.errors
    ]
    return result.created, result.updated, result.unchanged, errors
