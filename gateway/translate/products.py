"""Products, price events and categories: REST JSON ⇄ omnipricex.product.v1 messages."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from google.protobuf.field_mask_pb2 import FieldMask

from gateway.schemas.products import MONEY_FIELDS, CategoryPatch, NewCategory, NewProduct, ProductFilters, ProductPatch
from gateway.translate.common import amount, money_message, refused, rfc3339
from omnipricex.product.v1 import product_pb2

STATUS_NAMES: dict[product_pb2.ProductStatus.ValueType, str] = {
    product_pb2.PRODUCT_STATUS_ACTIVE: "active",
    product_pb2.PRODUCT_STATUS_DRAFT: "draft",
    product_pb2.PRODUCT_STATUS_ARCHIVED: "archived",
}
STATUS_BY_NAME: dict[str, product_pb2.ProductStatus.ValueType] = {name: value for value, name in STATUS_NAMES.items()}
_PATCH_ONLY = frozenset({"reason", "currency"})


def product_currency(product: product_pb2.Product) -> str:
    """The one currency of a product's amounts."""
    return product.price.currency or product.cost.currency or product.map_price.currency


def product_json(product: product_pb2.Product) -> dict[str, Any]:
    has = product.HasField
    return {
        "sku": product.sku,
        "title": product.title,
        "brand": product.brand,
        "gtin": product.gtin,
        "mpn": product.mpn,
        "category_id": product.category_id or None,
        "currency": product_currency(product),
        "cost": amount(product.cost) if has("cost") else None,
        "price": amount(product.price) if has("price") else None,
        "map_price": amount(product.map_price) if has("map_price") else None,
        "stock": product.stock,
        "attributes": dict(product.attributes),
        "status": STATUS_NAMES[product.status],
        "create_time": rfc3339(product.create_time),
        "update_time": rfc3339(product.update_time),
    }


def product_message(body: NewProduct, *location: str | int) -> product_pb2.Product:
    """A whole product from a create or bulk row; `location` says where money errors are reported."""
    message = product_pb2.Product(
        sku=body.sku,
        title=body.title,
        brand=body.brand,
        gtin=body.gtin,
        mpn=body.mpn,
        category_id=body.category_id or "",
        stock=body.stock,
        attributes=body.attributes,
        status=STATUS_BY_NAME[body.status],
    )
    _set_money(message, body.currency, {name: getattr(body, name) for name in MONEY_FIELDS}, location)
    return message


def bulk_messages(rows: list[NewProduct]) -> list[product_pb2.Product]:
    """Every row translated, or one refusal listing every row whose amounts do not fit its currency."""
    messages: list[product_pb2.Product] = []
    errors: list[Any] = []
    for index, row in enumerate(rows):
        try:
            messages.append(product_message(row, "body", "products", index))
        except RequestValidationError as error:
            errors.extend(error.errors())
    if errors:
        # The body lets the error handler name each refused row's sku.
        raise RequestValidationError(errors, body={"products": [{"sku": row.sku} for row in rows]})
    return messages


def patch_needs_currency(patch: ProductPatch) -> bool:
    """Whether amounts are patched without saying their currency (the product's own is then used)."""
    fields = patch.model_fields_set
    return "currency" not in fields and any(name in fields for name in MONEY_FIELDS)


def patch_message(sku: str, patch: ProductPatch, currency: str) -> tuple[product_pb2.Product, FieldMask]:
    """The product fields named by the merge patch, and the field mask made of exactly those keys."""
    fields = patch.model_fields_set
    paths = [name for name in type(patch).model_fields if name in fields and name not in _PATCH_ONLY]
    if "currency" in fields and not any(name in fields for name in MONEY_FIELDS):
        raise refused("body", "currency", message="currency applies only together with cost, price or map_price")
    message = product_pb2.Product(sku=sku)
    for name in paths:
        if name in MONEY_FIELDS:
            continue
        value = getattr(patch, name)
        if name == "status":
            message.status = STATUS_BY_NAME[value]
        elif name == "attributes":
            message.attributes.update(value or {})
        else:
            setattr(message, name, "" if value is None else value)
    _set_money(message, currency, {name: getattr(patch, name) for name in MONEY_FIELDS if name in fields}, ("body",))
    return message, FieldMask(paths=paths)


def _set_money(
    message: product_pb2.Product, currency: str, amounts: dict[str, str | None], location: tuple[str | int, ...]
) -> None:
    errors: list[Any] = []
    for name, value in amounts.items():
        if value is None:
            continue
        try:
            getattr(message, name).CopyFrom(money_message(value, currency, *location, name))
        except RequestValidationError as error:
            errors.extend(error.errors())
    if errors:
        raise RequestValidationError(errors)


def product_filter(filters: ProductFilters) -> product_pb2.ProductFilter:
    bounds = {"min_price": filters.min_price, "max_price": filters.max_price}
    currency = filters.currency
    if currency is None and any(value is not None for value in bounds.values()):
        raise refused("query", "currency", message="currency is required with min_price or max_price")
    message = product_pb2.ProductFilter(
        category_id=filters.category_id or "",
        brand=filters.brand or "",
        title_query=filters.q or "",
        in_stock=filters.in_stock,
        status=STATUS_BY_NAME[filters.status] if filters.status else product_pb2.PRODUCT_STATUS_UNSPECIFIED,
    )
    for name, value in bounds.items():
        if value is not None and currency is not None:
            getattr(message, name).CopyFrom(money_message(value, currency, "query", name))
    return message


def price_event_json(event: product_pb2.PriceEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "sku": event.sku,
        "currency": event.new_price.currency,
        "old_price": amount(event.old_price) if event.HasField("old_price") else None,
        "new_price": amount(event.new_price),
        "actor_id": event.actor_id,
        "reason": event.reason,
        "source": event.source,
        "time": rfc3339(event.time),
    }


def category_json(category: product_pb2.Category) -> dict[str, Any]:
    return {"id": category.id, "name": category.name, "parent_id": category.parent_id or None}


def category_message(body: NewCategory) -> product_pb2.Category:
    return product_pb2.Category(name=body.name, parent_id=body.parent_id or "")


def category_patch_message(category_id: str, patch: CategoryPatch) -> tuple[product_pb2.Category, FieldMask]:
    fields = patch.model_fields_set
    message = product_pb2.Category(id=category_id, name=patch.name or "", parent_id=patch.parent_id or "")
    return message, FieldMask(paths=[name for name in ("name", "parent_id") if name in fields])
