"""The REST shape of products, price events and categories."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.schemas.common import (
    MONEY_PATTERN,
    CurrencyCode,
    MoneyString,
    PageQuery,
    RequestModel,
    Sku,
    StockCount,
    decimals_follow_currency,
    not_nullable,
)

ProductStatusName = Literal["active", "draft", "archived"]
MONEY_FIELDS = ("cost", "price", "map_price")
MAX_BULK_ROWS = 10_000


class Product(BaseModel):
    sku: str
    title: str
    brand: str
    gtin: str
    mpn: str
    category_id: str | None
    currency: str = Field(description="ISO 4217 code shared by cost, price and map_price.")
    cost: str | None = Field(description="Decimal string; null when unknown.")
    price: str | None = Field(description="Decimal string.")
    map_price: str | None = Field(description="Minimum advertised price; null when the product has none.")
    stock: int
    attributes: dict[str, str]
    status: ProductStatusName
    create_time: datetime
    update_time: datetime


class ProductPage(BaseModel):
    items: list[Product]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class NewProduct(RequestModel):
    model_config = ConfigDict(json_schema_extra=decimals_follow_currency(*MONEY_FIELDS))

    sku: Sku
    title: str = Field(min_length=1)
    brand: str = ""
    gtin: str = Field("", description="GTIN-8/12/13/14 with a valid check digit, or empty.")
    mpn: str = ""
    category_id: str | None = None
    currency: CurrencyCode
    cost: MoneyString | None = None
    price: MoneyString
    map_price: MoneyString | None = None
    stock: StockCount = 0
    attributes: dict[str, str] = Field(default_factory=dict)
    status: ProductStatusName = "active"


class CreateProductBody(NewProduct):
    reason: str = Field("", description="Why; kept with the price event of the first price.")


def _patch_schema(schema: dict[str, Any]) -> None:
    decimals_follow_currency(*MONEY_FIELDS)(schema)
    # `currency` says which currency the patched amounts are in, so it comes only with one of them.
    schema["allOf"].append(
        {"if": {"required": ["currency"]}, "then": {"anyOf": [{"required": [name]} for name in MONEY_FIELDS]}}
    )


class ProductPatch(RequestModel):
    """JSON merge patch: only the fields present change; null removes an optional value."""

    model_config = ConfigDict(json_schema_extra=_patch_schema)

    title: str | None = Field(None, min_length=1, json_schema_extra=not_nullable)
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    category_id: str | None = None
    currency: CurrencyCode | None = Field(
        None,
        description="Currency of the amounts in this patch; defaults to the product's. "
        "All of cost, price and map_price must end up in one currency.",
        json_schema_extra=not_nullable,
    )
    cost: MoneyString | None = None
    price: MoneyString | None = Field(None, json_schema_extra=not_nullable)
    map_price: MoneyString | None = None
    stock: StockCount | None = Field(None, json_schema_extra=not_nullable)
    attributes: dict[str, str] | None = Field(None, description="Replaces the whole map; null removes them all.")
    status: ProductStatusName | None = Field(None, json_schema_extra=not_nullable)
    reason: str = Field("", description="Why; kept with the price event when the price changes.")

    @field_validator("title", "currency", "price", "stock", "status", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be removed (null); leave it out to keep it")
        return value


class ArchiveBody(RequestModel):
    reason: str = ""


class BulkUpsertBody(RequestModel):
    products: list[NewProduct] = Field(max_length=MAX_BULK_ROWS)
    reason: str = ""


class BulkResult(BaseModel):
    created: int
    updated: int
    unchanged: int


class PriceEvent(BaseModel):
    id: str
    sku: str
    currency: str
    old_price: str | None = Field(description="Null for the first price of a new product.")
    new_price: str
    actor_id: str
    reason: str
    source: str = Field(description='The RPC that made the change, e.g. "UpdateProduct".')
    time: datetime


class PriceEventPage(BaseModel):
    items: list[PriceEvent]
    next_cursor: str | None


class Category(BaseModel):
    id: str
    name: str
    parent_id: str | None = Field(description="Null for a root category.")


class CategoryList(BaseModel):
    items: list[Category] = Field(description="The whole tree, parents before their children.")


class NewCategory(RequestModel):
    name: str = Field(min_length=1)
    parent_id: str | None = None


class CategoryPatch(RequestModel):
    """JSON merge patch: name renames, parent_id moves (null makes it a root)."""

    name: str | None = Field(None, min_length=1, json_schema_extra=not_nullable)
    parent_id: str | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be removed (null); leave it out to keep it")
        return value


class ProductFilters(BaseModel):
    """Query filters shared by listing and exporting products."""

    category_id: str | None = Field(None, description="Products in this category or any of its descendants.")
    brand: str | None = None
    q: str | None = Field(None, description="Case-insensitive substring of the title.")
    min_price: str | None = Field(None, pattern=MONEY_PATTERN, description="Inclusive; needs `currency`.")
    max_price: str | None = Field(None, pattern=MONEY_PATTERN, description="Inclusive; needs `currency`.")
    currency: CurrencyCode | None = Field(None, description="Currency of min_price and max_price.")
    in_stock: bool = Field(False, description="Only products with stock above zero.")
    status: ProductStatusName | None = Field(None, description="Archived products are listed only when asked for.")


class ProductListQuery(ProductFilters, PageQuery):
    pass


class PriceEventQuery(PageQuery):
    sku: Sku | None = Field(None, description="Only the events of this product.")
