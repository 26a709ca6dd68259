"""/v1/products and /v1/price-events → omnipricex.product.v1.ProductService."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.routing import APIRoute

from gateway.deps import PricingManager, Viewer
from gateway.errors import problem, problem_type
from gateway.openapi import PROTECTED, problems
from gateway.responses import CsvResponse, JsonResponse
from gateway.schemas.common import SKU_PATTERN
from gateway.schemas.products import (
    ArchiveBody,
    BulkResult,
    BulkUpsertBody,
    CreateProductBody,
    PriceEventPage,
    PriceEventQuery,
    Product,
    ProductFilters,
    ProductListQuery,
    ProductPage,
    ProductPatch,
)
from gateway.translate.common import next_cursor, page_request
from gateway.translate.products import (
    bulk_messages,
    patch_message,
    patch_needs_currency,
    price_event_json,
    product_currency,
    product_filter,
    product_json,
    product_message,
)
from omnipricex.product.v1 import product_pb2

BULK_BODY_LIMIT = 32 * 1024 * 1024
_CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv"})

router = APIRouter(prefix="/v1", tags=["products"], responses=PROTECTED, default_response_class=JsonResponse)
SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="The product's sku.")]


@router.get(
    "/products/export",
    response_class=CsvResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "UTF-8 CSV"}},
    summary="Export products as CSV (viewer)",
)
async def export_products(filters: Annotated[ProductFilters, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.products.ExportProductsCsv(
        product_pb2.ExportProductsCsvRequest(filter=product_filter(filters)),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return CsvResponse(response.csv, headers={"Content-Disposition": 'attachment; filename="products.csv"'})


@router.get("/products/{sku}", response_model=Product, responses=problems(404), summary="Get a product (viewer)")
async def get_product(sku: SkuPath, caller: Viewer) -> Response:
    response = await caller.stubs.products.GetProduct(
        product_pb2.GetProductRequest(sku=sku), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(product_json(response.product))


@router.get("/products", response_model=ProductPage, summary="List products (viewer)")
async def list_products(query: Annotated[ProductListQuery, Query()], caller: Viewer) -> Response:
    request = product_pb2.ListProductsRequest(
        filter=product_filter(query), page=page_request(query.limit, query.cursor)
    )
    response = await caller.stubs.products.ListProducts(request, metadata=caller.metadata, timeout=caller.deadline)
    return JsonResponse(
        {"items": [product_json(item) for item in response.products], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/products",
    response_model=Product,
    status_code=201,
    responses=problems(404, 409),
    summary="Create a product (pricing manager)",
)
async def create_product(body: CreateProductBody, caller: PricingManager) -> Response:
    request = product_pb2.CreateProductRequest(product=product_message(body, "body"), reason=body.reason)
    response = await caller.stubs.products.CreateProduct(request, metadata=caller.metadata, timeout=caller.deadline)
    product = response.product
    return JsonResponse(
        product_json(product), status_code=201, headers={"Location": f"/v1/products/{quote(product.sku, safe='')}"}
    )


@router.patch(
    "/products/{sku}",
    response_model=Product,
    responses=problems(404, 409),
    summary="Change some fields of a product (pricing manager)",
    description="JSON merge patch (RFC 7396): only the fields present change, and null removes an optional "
    "value. `attributes` is replaced as a whole. Amounts are in `currency` when given, else in the "
    "product's currency.",
)
async def update_product(sku: SkuPath, patch: ProductPatch, caller: PricingManager) -> Response:
    currency = patch.currency or ""
    if patch_needs_currency(patch):
        current = await caller.stubs.products.GetProduct(
            product_pb2.GetProductRequest(sku=sku), metadata=caller.metadata, timeout=caller.deadline
        )
        currency = product_currency(current.product)
    product, mask = patch_message(sku, patch, currency)
    response = await caller.stubs.products.UpdateProduct(
        product_pb2.UpdateProductRequest(product=product, update_mask=mask, reason=patch.reason),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(product_json(response.product))


@router.post(
    "/products/{sku}/archive",
    response_model=Product,
    responses=problems(404, 409),
    summary="Archive a product (pricing manager)",
)
async def archive_product(
    sku: SkuPath,
    caller: PricingManager,
    body: Annotated[ArchiveBody | None, Body()] = None,
) -> Response:
    response = await caller.stubs.products.ArchiveProduct(
        product_pb2.ArchiveProductRequest(sku=sku, reason=body.reason if body else ""),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(product_json(response.product))


@router.post(
    "/products/bulk-upsert",
    response_model=BulkResult,
    responses=problems(413),
    summary="Create or update up to 10,000 products in one all-or-nothing call (pricing manager)",
    description="Idempotent on sku. If any row is refused, nothing is written and the 422 problem lists "
    "every refused row in `errors` as {row, sku, field, message}.",
)
async def bulk_upsert_products(request: Request, body: BulkUpsertBody, caller: PricingManager) -> Response:
    response = await caller.stubs.products.BulkUpsertProducts(
        product_pb2.BulkUpsertProductsRequest(products=bulk_messages(body.products), reason=body.reason),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return _bulk_result(request, response, len(body.products))


@router.post(
    "/products/import",
    response_model=BulkResult,
    responses=problems(413, 415),
    summary="Create or update products from CSV, all or nothing (pricing manager)",
    description="The body is UTF-8 CSV with a header row, in the columns GET /v1/products/export writes. "
    "Row numbers in errors count data lines from zero, header excluded.",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
async def import_products(
    request: Request,
    caller: PricingManager,
    reason: Annotated[str, Query(description="Why; kept with each price event.")] = "",
) -> Response:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in _CSV_MEDIA_TYPES:
        return problem(
            request,
            415,
            "send the CSV with Content-Type: text/csv",
            type_=problem_type("unsupported-media-type"),
        )
    csv = await request.body()
    response = await caller.stubs.products.ImportProductsCsv(
        product_pb2.ImportProductsCsvRequest(csv=csv, reason=reason),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return _bulk_result(request, response, None)


def _bulk_result(
    request: Request,
    response: product_pb2.BulkUpsertProductsResponse | product_pb2.ImportProductsCsvResponse,
    rows: int | None,
) -> Response:
    if not response.errors:
        return JsonResponse({"created": response.created, "updated": response.updated, "unchanged": response.unchanged})
    errors = [
        {"row": error.row, "sku": error.sku, "field": error.field, "message": error.message}
        for error in response.errors
    ]
    refused_rows = len({error.row for error in response.errors})
    of_rows = f" of {rows}" if rows is not None else ""
    return problem(
        request,
        422,
        f"{refused_rows}{of_rows} rows were refused; nothing was written",
        type_=problem_type("rows-refused"),
        errors=errors,
    )


@router.get("/price-events", response_model=PriceEventPage, summary="List price changes, newest first (viewer)")
async def list_price_events(query: Annotated[PriceEventQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.products.ListPriceEvents(
        product_pb2.ListPriceEventsRequest(sku=query.sku or "", page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [price_event_json(item) for item in response.events], "next_cursor": next_cursor(response.page)}
    )


# Bulk upserts and CSV imports carry whole catalogs; every other body stays under the app's default limit.
LARGE_BODY_LIMITS = {
    route.path: BULK_BODY_LIMIT
    for route in router.routes
    if isinstance(route, APIRoute) and route.endpoint in (bulk_upsert_products, import_products)
}
