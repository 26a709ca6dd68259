"""Catalog rules with no I/O: what a valid product and category are, updates, and price events."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from runtime import field_mask
from runtime.errors import AlreadyExists, InvalidArgument
from runtime.money import MAX_AMOUNT_MINOR, Money, currency_exponent

SKU_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
CATEGORY_ID_PATTERN = SKU_PATTERN
MAX_TITLE_LENGTH = 500
MAX_BRAND_LENGTH = 200
MAX_MPN_LENGTH = 200
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY_LENGTH = 100
MAX_ATTRIBUTE_VALUE_LENGTH = 1000
MAX_REASON_LENGTH = 1000
MAX_CATEGORY_NAME_LENGTH = 200
MAX_STOCK = 2**63 - 1
GTIN_LENGTHS = frozenset({8, 12, 13, 14})
# Codes already found valid: a bulk call checks the same few currencies thousands of times.
_CHECKED_CURRENCIES: set[str] = set()
# Unicode category Cc: C0 controls, DEL and C1 controls (line breaks, tabs, NUL…).
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


class ProductStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    DRAFT = "DRAFT"
    ARCHIVED = "ARCHIVED"


VISIBLE_BY_DEFAULT = frozenset({ProductStatus.ACTIVE, ProductStatus.DRAFT})


@dataclass(frozen=True, slots=True)
class MoneyInput:
    """An amount as a caller sent it, before its currency and range are checked."""

    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class ProductDraft:
    """One product as a caller sent it (RPC or CSV row), not yet validated.

    A status of None keeps the current status of an existing product and makes a new one ACTIVE.
    """

    sku: str
    title: str = ""
    brand: str = ""
    gtin: str = ""
    mpn: str = ""
    category_id: str = ""
    cost: MoneyInput | None = None
    price: MoneyInput | None = None
    map_price: MoneyInput | None = None
    stock: int = 0
    attributes: Mapping[str, str] = field(default_factory=dict)
    status: ProductStatus | None = None


@dataclass(frozen=True, slots=True)
class ProductContent:
    """The validated fields a caller controls; two products with equal content need no write."""

    title: str
    brand: str
    gtin: str
    mpn: str
    category_id: str
    cost: Money | None
    price: Money
    map_price: Money | None
    stock: int
    attributes: Mapping[str, str]
    status: ProductStatus


@dataclass(frozen=True, slots=True)
class Product:
    organization_id: str
    sku: str
    title: str
    brand: str
    gtin: str
    mpn: str
    category_id: str
    cost: Money | None
    price: Money
    map_price: Money | None
    stock: int
    attributes: Mapping[str, str]
    status: ProductStatus
    # Grows by one on every stored change; writes check it so concurrent changes are never lost.
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def currency(self) -> str:
        return self.price.currency

    @property
    def content(self) -> ProductContent:
        return ProductContent(
            title=self.title,
            brand=self.brand,
            gtin=self.gtin,
            mpn=self.mpn,
            category_id=self.category_id,
            cost=self.cost,
            price=self.price,
            map_price=self.map_price,
            stock=self.stock,
            attributes=self.attributes,
            status=self.status,
        )


@dataclass(frozen=True, slots=True)
class PriceEvent:
    organization_id: str
    id: str
    sku: str
    old_price: Money | None
    new_price: Money
    actor_id: str
    reason: str
    source: str
    time: datetime


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """Who changes the catalog, why, through which RPC, and when."""

    actor_id: str
    reason: str
    source: str
    time: datetime


@dataclass(frozen=True, slots=True)
class ProductChange:
    """A product to store: `before` is None for a new product, else the stored version it replaces."""

    before: Product | None
    after: Product


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row of a bulk call was refused; for CSV the row is the data record, header excluded."""

    row: int
    sku: str
    field: str
    message: str


# --- validation -------------------------------------------------------------------------------


def validate_sku(sku: str, *, field: str = "sku") -> str:
    if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
        raise InvalidArgument(
            f"sku must be 1-64 characters of ASCII letters, digits and '-_.:', got {_preview(sku)}", field=field
        )
    return sku


def validate_reason(reason: str) -> str:
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidArgument(f"reason must be at most {MAX_REASON_LENGTH} characters", field="reason")
    return reason.strip()


def validate_draft(draft: ProductDraft) -> ProductContent:
    """The draft's content if every field is valid; InvalidArgument naming the first bad field otherwise.

    A draft without a status gets ACTIVE here; callers that keep an existing status replace it.
    """
    title = _text(draft.title, "title", MAX_TITLE_LENGTH, required=True)
    brand = _text(draft.brand, "brand", MAX_BRAND_LENGTH)
    gtin = validate_gtin(draft.gtin)
    mpn = _text(draft.mpn, "mpn", MAX_MPN_LENGTH)
    category_id = _reference(draft.category_id)
    if draft.price is None:
        raise InvalidArgument("price is required", field="price")
    price = _money(draft.price, "price")
    if price.amount_minor <= 0:
        raise InvalidArgument("price must be greater than zero", field="price")
    return ProductContent(
        title=title,
        brand=brand,
        gtin=gtin,
        mpn=mpn,
        category_id=category_id,
        cost=_optional_money(draft.cost, "cost", price.currency),
        price=price,
        map_price=_optional_money(draft.map_price, "map_price", price.currency),
        stock=_stock(draft.stock),
        attributes=_attributes(draft.attributes),
        status=draft.status or ProductStatus.ACTIVE,
    )


def validate_gtin(gtin: str) -> str:
    """Empty, or a GTIN-8/12/13/14 whose last digit is the GS1 check digit of the others."""
    value = gtin.strip()
    if not value:
        return ""
    if not value.isascii() or not value.isdigit() or len(value) not in GTIN_LENGTHS:
        raise InvalidArgument(f"gtin must be 8, 12, 13 or 14 digits, got {_preview(gtin)}", field="gtin")
    if gtin_check_digit(value[:-1]) != int(value[-1]):
        raise InvalidArgument(f"gtin {value} has a wrong check digit", field="gtin")
    return value


def gtin_check_digit(body: str) -> int:
    # GS1: weights 3,1,3,1… from the rightmost digit of the body.
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _money(value: MoneyInput, name: str) -> Money:
    if value.currency not in _CHECKED_CURRENCIES:
        currency_exponent(value.currency, field=f"{name}.currency")
        _CHECKED_CURRENCIES.add(value.currency)
    if value.amount_minor < 0:
        raise InvalidArgument(f"{name} must not be negative", field=name)
    if value.amount_minor > MAX_AMOUNT_MINOR:
        raise InvalidArgument(f"{name} is out of range (at most {MAX_AMOUNT_MINOR} minor units)", field=name)
    return Money(value.amount_minor, value.currency)


def _optional_money(value: MoneyInput | None, name: str, currency: str) -> Money | None:
    if value is None:
        return None
    money = _money(value, name)
    if money.currency != currency:
        raise InvalidArgument(
            f"{name} is in {money.currency} but the price is in {currency}; all money fields share one currency",
            field=f"{name}.currency",
        )
    return money


def _text(value: str, name: str, maximum: int, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidArgument(f"{name} is required", field=name)
    if len(text) > maximum:
        raise InvalidArgument(f"{name} must be at most {maximum} characters, got {len(text)}", field=name)
    if _CONTROL_CHARACTERS.search(text):
        raise InvalidArgument(f"{name} must not contain control characters such as line breaks", field=name)
    return text


def _reference(category_id: str) -> str:
    if category_id and not CATEGORY_ID_PATTERN.fullmatch(category_id):
        raise InvalidArgument(f"category_id {_preview(category_id)} is not a category id", field="category_id")
    return category_id


def _stock(stock: int) -> int:
    if isinstance(stock, bool) or not isinstance(stock, int):
        raise InvalidArgument("stock must be a whole number", field="stock")
    if stock < 0:
        raise InvalidArgument("stock must not be negative", field="stock")
    if stock > MAX_STOCK:
        raise InvalidArgument("stock is out of range", field="stock")
    return stock


def _attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidArgument(f"at most {MAX_ATTRIBUTES} attributes, got {len(attributes)}", field="attributes")
    for key, value in attributes.items():
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_ATTRIBUTE_KEY_LENGTH:
            raise InvalidArgument(
                f"attribute names must be 1-{MAX_ATTRIBUTE_KEY_LENGTH} characters, got {_preview(key)}",
                field="attributes",
            )
        if not isinstance(value, str):
            raise InvalidArgument(f"attribute {key!r} must be a string", field=f"attributes.{key}")
        if len(value) > MAX_ATTRIBUTE_VALUE_LENGTH:
            raise InvalidArgument(
                f"attribute {key!r} must be at most {MAX_ATTRIBUTE_VALUE_LENGTH} characters", field=f"attributes.{key}"
            )
    return dict(attributes)


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}…"


# --- creating and changing products -------------------------------------------------------------


def new_product(organization_id: str, sku: str, content: ProductContent, *, now: datetime) -> Product:
    return Product(
        organization_id=organization_id,
        sku=sku,
        title=content.title,
        brand=content.brand,
        gtin=content.gtin,
        mpn=content.mpn,
        category_id=content.category_id,
        cost=content.cost,
        price=content.price,
        map_price=content.map_price,
        stock=content.stock,
        attributes=content.attributes,
        status=content.status,
        revision=1,
        create_time=now,
        update_time=now,
    )


def with_content(product: Product, content: ProductContent, *, now: datetime) -> Product:
    """The product carrying `content`: the same object when nothing differs, else a new revision."""
    if content == product.content:
        return product
    return replace(
        product,
        title=content.title,
        brand=content.brand,
        gtin=content.gtin,
        mpn=content.mpn,
        category_id=content.category_id,
        cost=content.cost,
        price=content.price,
        map_price=content.map_price,
        stock=content.stock,
        attributes=content.attributes,
        status=content.status,
        revision=product.revision + 1,
        update_time=now,
    )


def upserted(existing: Product, content: ProductContent, *, status_given: bool, now: datetime) -> Product:
    """An existing product replaced by the full content of a bulk row or CSV record."""
    if not status_given:
        # A row without a status must not revive an archived product.
        content = replace(content, status=existing.status)
    return with_content(existing, content, now=now)


UPDATABLE_PATHS = (
    "title",
    "brand",
    "gtin",
    "mpn",
    "category_id",
    "cost",
    "price",
    "map_price",
    "stock",
    "attributes",
    "status",
)


def parse_update_mask(paths: Iterable[str]) -> frozenset[str]:
    return field_mask.parse_update_mask(
        paths, UPDATABLE_PATHS, key="sku", key_message="sku cannot be changed; create a new product instead"
    )


def updated(existing: Product, draft: ProductDraft, paths: Collection[str], *, now: datetime) -> Product:
    """`existing` with the fields named by `paths` taken from `draft`, validated as a whole."""
    if "status" in paths and draft.status is None:
        raise InvalidArgument("status must be ACTIVE, DRAFT or ARCHIVED", field="status")
    current = draft_of(existing)
    merged = ProductDraft(
        sku=existing.sku,
        title=draft.title if "title" in paths else current.title,
        brand=draft.brand if "brand" in paths else current.brand,
        gtin=draft.gtin if "gtin" in paths else current.gtin,
        mpn=draft.mpn if "mpn" in paths else current.mpn,
        category_id=draft.category_id if "category_id" in paths else current.category_id,
        cost=draft.cost if "cost" in paths else current.cost,
        price=draft.price if "price" in paths else current.price,
        map_price=draft.map_price if "map_price" in paths else current.map_price,
        stock=draft.stock if "stock" in paths else current.stock,
        attributes=draft.attributes if "attributes" in paths else current.attributes,
        status=draft.status if "status" in paths else current.status,
    )
    return with_content(existing, validate_draft(merged), now=now)


def archived(existing: Product, *, now: datetime) -> Product:
    return with_content(existing, replace(existing.content, status=ProductStatus.ARCHIVED), now=now)


def draft_of(product: Product) -> ProductDraft:
    return ProductDraft(
        sku=product.sku,
        title=product.title,
        brand=product.brand,
        gtin=product.gtin,
        mpn=product.mpn,
        category_id=product.category_id,
        cost=_input(product.cost),
        price=_input(product.price),
        map_price=_input(product.map_price),
        stock=product.stock,
        attributes=product.attributes,
        status=product.status,
    )


def _input(money: Money | None) -> MoneyInput | None:
    return None if money is None else MoneyInput(money.amount_minor, money.currency)


def price_event(
    before: Product | None, after: Product, context: ChangeContext, new_id: Callable[[], str]
) -> PriceEvent | None:
    """The event recording a new price, or None when the price stayed the same."""
    if before is not None and before.price == after.price:
        return None
    return PriceEvent(
        organization_id=after.organization_id,
        id=new_id(),
        sku=after.sku,
        old_price=None if before is None else before.price,
        new_price=after.price,
        actor_id=context.actor_id,
        reason=context.reason,
        source=context.source,
        time=context.time,
    )


@dataclass(frozen=True, slots=True)
class PriceChangeInput:
    """One price to set, computed from `expected_price`, as a caller sent it."""

    sku: str
    expected_price: MoneyInput
    new_price: MoneyInput
    reason: str


@dataclass(frozen=True, slots=True)
class ValidPriceChange:
    sku: str
    expected_price: Money
    new_price: Money
    reason: str


def validate_price_change(change: PriceChangeInput) -> ValidPriceChange:
    sku = validate_sku(change.sku)
    expected = _money(change.expected_price, "expected_price")
    new_price = _money(change.new_price, "new_price")
    if new_price.amount_minor <= 0:
        raise InvalidArgument("new_price must be greater than zero", field="new_price")
    if new_price.currency != expected.currency:
        raise InvalidArgument(
            f"new_price is in {new_price.currency} but expected_price in {expected.currency}", field="new_price"
        )
    return ValidPriceChange(sku, expected, new_price, validate_reason(change.reason))


def price_refusal(existing: Product | None, change: ValidPriceChange) -> str | None:
    """Why `change` must not be applied to the product as it is now, or None when it may."""
    if existing is None:
        return f"product {change.sku!r} does not exist"
    if existing.status is ProductStatus.ARCHIVED:
        return f"product {change.sku!r} is archived"
    if existing.price != change.new_price and existing.price != change.expected_price:
        return (
            f"the price moved to {existing.price.to_decimal_string()} {existing.price.currency} since it was "
            f"{change.expected_price.to_decimal_string()} {change.expected_price.currency}"
        )
    return None


def repriced(existing: Product, new_price: Money, *, now: datetime) -> Product:
    return with_content(existing, replace(existing.content, price=new_price), now=now)


# --- listing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductFilter:
    """The filter a caller asked for, not yet validated."""

    category_id: str = ""
    brand: str = ""
    title_query: str = ""
    min_price: MoneyInput | None = None
    max_price: MoneyInput | None = None
    in_stock: bool = False
    status: ProductStatus | None = None


@dataclass(frozen=True, slots=True)
class ProductQuery:
    """A validated filter as the repositories run it; None means "any"."""

    statuses: frozenset[ProductStatus] = VISIBLE_BY_DEFAULT
    category_ids: frozenset[str] | None = None
    brand_folded: str | None = None
    title_folded: str | None = None
    currency: str | None = None
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    in_stock: bool = False


def fold(text: str) -> str:
    """The form text is compared in for case-insensitive matching (Unicode case folding)."""
    return text.casefold()


def product_query(request: ProductFilter, category_ids: frozenset[str] | None) -> ProductQuery:
    """Validate a filter; `category_ids` is the requested category with all its descendants."""
    brand = _text(request.brand, "filter.brand", MAX_BRAND_LENGTH)
    title_query = _text(request.title_query, "filter.title_query", MAX_TITLE_LENGTH)
    min_price = None if request.min_price is None else _money(request.min_price, "filter.min_price")
    max_price = None if request.max_price is None else _money(request.max_price, "filter.max_price")
    if min_price is not None and max_price is not None:
        if min_price.currency != max_price.currency:
            raise InvalidArgument("min_price and max_price must be in the same currency", field="filter.max_price")
        if min_price.amount_minor > max_price.amount_minor:
            raise InvalidArgument("min_price must not exceed max_price", field="filter.min_price")
    bound = min_price or max_price
    return ProductQuery(
        statuses=frozenset({request.status}) if request.status is not None else VISIBLE_BY_DEFAULT,
        category_ids=category_ids,
        brand_folded=fold(brand) if brand else None,
        title_folded=fold(title_query) if title_query else None,
        currency=bound.currency if bound is not None else None,
        min_price_minor=min_price.amount_minor if min_price is not None else None,
        max_price_minor=max_price.amount_minor if max_price is not None else None,
        in_stock=request.in_stock,
    )


def query_matches(query: ProductQuery, product: Product) -> bool:
    """What every repository's filter must select; the contract tests compare engines against it."""
    return (
        product.status in query.statuses
        and (query.category_ids is None or product.category_id in query.category_ids)
        and (query.brand_folded is None or fold(product.brand) == query.brand_folded)
        and (query.title_folded is None or query.title_folded in fold(product.title))
        and (query.currency is None or product.currency == query.currency)
        and (query.min_price_minor is None or product.price.amount_minor >= query.min_price_minor)
        and (query.max_price_minor is None or product.price.amount_minor <= query.max_price_minor)
        and (not query.in_stock or product.stock > 0)
    )


# --- categories ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Category:
    organization_id: str
    id: str
    name: str
    # Empty for a root category.
    parent_id: str

    @property
    def name_key(self) -> str:
        """Sibling names are unique in this form, so "Shoes" and "shoes" cannot sit side by side."""
        return fold(self.name)


CATEGORY_PATHS = ("name", "parent_id")


def validate_category_id(category_id: str, *, field: str = "id") -> str:
    if not CATEGORY_ID_PATTERN.fullmatch(category_id):
        raise InvalidArgument(
            f"category ids are 1-64 characters of ASCII letters, digits and '-_.:', got {_preview(category_id)}",
            field=field,
        )
    return category_id


def validate_category_name(name: str) -> str:
    return _text(name, "name", MAX_CATEGORY_NAME_LENGTH, required=True)


def parse_category_mask(paths: Iterable[str]) -> frozenset[str]:
    return field_mask.parse_update_mask(
        paths, CATEGORY_PATHS, key="id", key_message="a category's id cannot be changed"
    )


def check_category_placement(category: Category, tree: Mapping[str, Category]) -> None:
    """Refuse a category whose parent is missing, which would close a cycle, or whose name a sibling has.

    `tree` is every category of the organisation by id, holding the stored version of `category`
    when it is being changed.
    """
    if category.parent_id:
        if category.parent_id not in tree:
            raise InvalidArgument(f"parent category {category.parent_id!r} does not exist", field="parent_id")
        ancestor_id = category.parent_id
        while ancestor_id:
            if ancestor_id == category.id:
                raise InvalidArgument(
                    "a category cannot be moved under itself or one of its descendants", field="parent_id"
                )
            ancestor_id = tree[ancestor_id].parent_id
    for other in tree.values():
        if other.id != category.id and other.parent_id == category.parent_id and other.name_key == category.name_key:
            raise AlreadyExists(f"a sibling category is already named {other.name!r}", field="name")


def descendants(root_id: str, categories: Iterable[Category]) -> frozenset[str]:
    """The id of `root_id` and of every category below it."""
    children: dict[str, list[str]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category.id)
    found = {root_id}
    pending = [root_id]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return frozenset(found)


def tree_order(categories: Iterable[Category]) -> list[Category]:
    """Parents before their children; siblings by name."""
    children: dict[str, list[Category]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category)
    ordered: list[Category] = []
    pending = sorted(children.get("", []), key=_sibling_order, reverse=True)
    while pending:
        category = pending.pop()
        ordered.append(category)
        pending.extend(sorted(children.get(category.id, []), key=_sibling_order, reverse=True))
    # A parent deleted while a child was being added leaves an orphan; list it rather than hide it.
    placed = {category.id for category in ordered}
    orphans = [c for parent, group in children.items() if parent and parent not in placed for c in group]
    return ordered + sorted(orphans, key=_sibling_order)


def _sibling_order(category: Category) -> tuple[str, str]:
    return (category.name_key, category.id)
