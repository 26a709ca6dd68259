"""What callers of the product service can do, for the caller's organisation only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from runtime.auth import Principal, Role
from runtime.clock import from_iso, utcnow
from runtime.errors import AlreadyExists, Conflict, DomainError, FailedPrecondition, InvalidArgument, NotFound
from runtime.ids import new_id
from runtime.logging import get_logger
from runtime.money import Money
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.product import csv_io, domain, metrics
from services.product.domain import (
    Category,
    ChangeContext,
    PriceChangeInput,
    PriceEvent,
    Product,
    ProductChange,
    ProductContent,
    ProductDraft,
    ProductFilter,
    ProductQuery,
    RowError,
    ValidPriceChange,
)
from services.product.repository import EventPosition, PricingRow, Repositories

T = TypeVar("T")
_log = get_logger(__name__)

MAX_BULK_ROWS = 10_000
MAX_BATCH_GET = 1_000
MAX_PRICE_CHANGES = 1_000
MAX_PRICING_PAGE = 10_000
MAX_EXPORT_ROWS = 100_000
MAX_IMPORT_ROWS = MAX_EXPORT_ROWS
# The largest message the shared gRPC server accepts.
MAX_CSV_BYTES = 64 * 1024 * 1024
EXPORT_PAGE_SIZE = 1_000
# A write that lost a race re-reads and recomputes; more attempts than this means heavy contention.
WRITE_ATTEMPTS = 3

READ_ROLE = Role.VIEWER
WRITE_ROLE = Role.PRICING_MANAGER


@dataclass(frozen=True, slots=True)
class PriceRefusal:
    sku: str
    message: str
    current_price: Money | None


@dataclass(frozen=True, slots=True)
class PriceApplication:
    applied_skus: list[str]
    refused: list[PriceRefusal]


@dataclass(frozen=True, slots=True)
class BulkResult:
    created: int
    updated: int
    unchanged: int
    # Non-empty means nothing was written.
    errors: list[RowError]


MILLISECOND = timedelta(milliseconds=1)


def _now(clock: Callable[[], datetime], *, after: Iterable[Product] = ()) -> datetime:
    """The time of a change: in milliseconds, and later than the last change of every product it touches.

    MongoDB keeps milliseconds, so truncating makes every engine return the times it was given; and
    a product's changes (and price events, listed newest first) stay in order even when two land
    within one millisecond or the clock steps back.
    """
    value = clock()
    value = value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    latest = max((product.update_time for product in after), default=None)
    return value if latest is None or value > latest else latest + MILLISECOND


class ProductCatalog:
    def __init__(
        self,
        repositories: Repositories,
        *,
        clock: Callable[[], datetime] = utcnow,
        event_ids: Callable[[], str] = lambda: new_id("pe_"),
    ) -> None:
        self._products = repositories.products
        self._events = repositories.price_events
        self._categories = repositories.categories
        self._clock = clock
        self._event_ids = event_ids

    # --- reads ------------------------------------------------------------------------------------

    async def get_product(self, principal: Principal, sku: str) -> Product:
        principal.require(READ_ROLE)
        product = await self._products.get(principal.organization_id, domain.validate_sku(sku))
        if product is None:
            raise NotFound(f"product {sku!r} does not exist", field="sku")
        return product

    async def list_products(
        self, principal: Principal, request: ProductFilter, *, page_size_requested: int, page_token: str
    ) -> Page[Product]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        query = await self._query(principal.organization_id, request)
        fingerprint = _filter_fingerprint(request)
        position = decode_token(page_token)
        if position and (position.get("f") != fingerprint or not isinstance(position.get("after"), str)):
            raise InvalidArgument("page_token was issued for a different filter", field="page_token")
        after = str(position.get("after", ""))
        products = await self._products.find(principal.organization_id, query, after_sku=after, limit=limit + 1)
        if len(products) <= limit:
            return Page(products, "")
        page = products[:limit]
        return Page(page, encode_token({"after": page[-1].sku, "f": fingerprint}))

    async def pricing_inputs(
        self, principal: Principal, *, category_id: str, page_size_requested: int, page_token: str
    ) -> Page[PricingRow]:
        """Active products' pricing fields, by sku; pages of up to MAX_PRICING_PAGE."""
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested, maximum=MAX_PRICING_PAGE)
        position = decode_token(page_token)
        if position and (position.get("c") != category_id or not isinstance(position.get("after"), str)):
            raise InvalidArgument("page_token was issued for a different category", field="page_token")
        category_ids = None
        if category_id:
            category_ids = (
                await self._query(principal.organization_id, ProductFilter(category_id=category_id))
            ).category_ids
        rows = await self._products.pricing_rows(
            principal.organization_id,
            category_ids=category_ids,
            after_sku=str(position.get("after", "")),
            limit=limit + 1,
        )
        if len(rows) <= limit:
            return Page(rows, "")
        return Page(rows[:limit], encode_token({"after": rows[limit - 1].sku, "c": category_id}))

    async def export_csv(self, principal: Principal, request: ProductFilter) -> bytes:
        principal.require(READ_ROLE)
        query = await self._query(principal.organization_id, request)
        products: list[Product] = []
        after = ""
        while True:
            page = await self._products.find(principal.organization_id, query, after_sku=after, limit=EXPORT_PAGE_SIZE)
            products.extend(page)
            if len(products) > MAX_EXPORT_ROWS:
                raise InvalidArgument(
                    f"an export holds at most {MAX_EXPORT_ROWS:,} products; narrow the filter", field="filter"
                )
            if len(page) < EXPORT_PAGE_SIZE:
                return csv_io.export_csv(products)
            after = page[-1].sku

    async def list_price_events(
        self, principal: Principal, *, sku: str, page_size_requested: int, page_token: str
    ) -> Page[PriceEvent]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        wanted = domain.validate_sku(sku) if sku else None
        position = decode_token(page_token)
        before = _event_position(position, sku) if position else None
        events = await self._events.find(principal.organization_id, sku=wanted, before=before, limit=limit + 1)
        if len(events) <= limit:
            return Page(events, "")
        last = events[limit - 1]
        return Page(events[:limit], encode_token({"time": last.time.isoformat(), "id": last.id, "sku": sku}))

    async def batch_get(self, principal: Principal, skus: Sequence[str]) -> list[Product]:
        principal.require(READ_ROLE)
        if len(skus) > MAX_BATCH_GET:
            raise InvalidArgument(f"at most {MAX_BATCH_GET:,} skus per call, got {len(skus):,}", field="skus")
        wanted = [domain.validate_sku(sku, field="skus") for sku in skus]
        found = await self._products.get_many(principal.organization_id, set(wanted))
        return [found[sku] for sku in wanted if sku in found]

    async def _query(self, organization_id: str, request: ProductFilter) -> ProductQuery:
        category_ids = None
        if request.category_id:
            domain.validate_category_id(request.category_id, field="filter.category_id")
            categories = await self._categories.list_all(organization_id)
            if not any(category.id == request.category_id for category in categories):
                raise InvalidArgument(f"category {request.category_id!r} does not exist", field="filter.category_id")
            category_ids = domain.descendants(request.category_id, categories)
        return domain.product_query(request, category_ids)

    # --- writes -----------------------------------------------------------------------------------

    async def create_product(self, principal: Principal, draft: ProductDraft, *, reason: str) -> Product:
        principal.require(WRITE_ROLE)
        sku = domain.validate_sku(draft.sku)
        content = domain.validate_draft(draft)
        context = self._context(principal, reason, "CreateProduct")
        await self._require_category(principal.organization_id, content.category_id)
        product = domain.new_product(principal.organization_id, sku, content, now=context.time)
        event = domain.price_event(None, product, context, self._event_ids)
        try:
            await self._products.write([ProductChange(None, product)], [event] if event else [])
        except Conflict:
            raise AlreadyExists(f"a product with sku {sku!r} already exists", field="sku") from None
        metrics.count_written(created=1)
        metrics.count_price_changes(context.source, 1)
        return product

    async def update_product(
        self, principal: Principal, draft: ProductDraft, paths: Iterable[str], *, reason: str
    ) -> Product:
        principal.require(WRITE_ROLE)
        fields = domain.parse_update_mask(paths)
        sku = domain.validate_sku(draft.sku)

        def change(existing: Product, now: datetime) -> Product:
            return domain.updated(existing, draft, fields, now=now)

        return await self._change(principal, sku, change, reason=reason, source="UpdateProduct")

    async def archive_product(self, principal: Principal, sku: str, *, reason: str) -> Product:
        """Archive a product (idempotent); the reason goes to the log, as no price changes."""
        principal.require(WRITE_ROLE)
        product = await self._change(
            principal,
            domain.validate_sku(sku),
            lambda existing, now: domain.archived(existing, now=now),
            reason=reason,
            source="ArchiveProduct",
        )
        _log.info("product archived", sku=product.sku, actor_id=principal.subject_id, reason=reason)
        return product

    async def _change(
        self,
        principal: Principal,
        sku: str,
        change: Callable[[Product, datetime], Product],
        *,
        reason: str,
        source: str,
    ) -> Product:
        """Read, change and write one product, again from the start if a concurrent write got in first."""
        for _ in range(WRITE_ATTEMPTS):
            existing = await self._products.get(principal.organization_id, sku)
            if existing is None:
                raise NotFound(f"product {sku!r} does not exist", field="sku")
            context = self._context(principal, reason, source, touching=(existing,))
            product = change(existing, context.time)
            if product is existing:
                metrics.count_written(unchanged=1)
                return existing
            if product.category_id != existing.category_id:
                await self._require_category(principal.organization_id, product.category_id)
            event = domain.price_event(existing, product, context, self._event_ids)
            try:
                await self._products.write([ProductChange(existing, product)], [event] if event else [])
            except Conflict:
                continue
            metrics.count_written(updated=1)
            metrics.count_price_changes(source, 1 if event else 0)
            return product
        raise Conflict(f"product {sku!r} is being changed by others right now; try again")

    async def apply_prices(self, principal: Principal, changes: Sequence[PriceChangeInput]) -> PriceApplication:
        """Set each price whose product still has the price it was computed from; report the others."""
        principal.require(WRITE_ROLE)
        if len(changes) > MAX_PRICE_CHANGES:
            raise InvalidArgument(
                f"at most {MAX_PRICE_CHANGES:,} price changes per call, got {len(changes):,}", field="changes"
            )
        valid: list[ValidPriceChange] = []
        for index, change in enumerate(changes):
            try:
                checked = domain.validate_price_change(change)
            except DomainError as error:
                raise InvalidArgument(f"changes[{index}]: {error.message}", field=error.field) from None
            if any(other.sku == checked.sku for other in valid):
                raise InvalidArgument(f"sku {checked.sku!r} appears more than once", field="changes")
            valid.append(checked)
        for _ in range(WRITE_ATTEMPTS):
            try:
                return await self._apply_prices(principal, valid)
            except Conflict:
                continue
        raise Conflict("these products are being changed by others right now; try again")

    async def _apply_prices(self, principal: Principal, changes: Sequence[ValidPriceChange]) -> PriceApplication:
        existing = await self._products.get_many(principal.organization_id, [change.sku for change in changes])
        base = self._context(principal, "", "ApplyPrices", touching=existing.values())
        writes: list[ProductChange] = []
        events: list[PriceEvent] = []
        applied: list[str] = []
        refused: list[PriceRefusal] = []
        for change in changes:
            before = existing.get(change.sku)
            problem = domain.price_refusal(before, change)
            if problem is not None or before is None:
                refused.append(PriceRefusal(change.sku, problem or "", None if before is None else before.price))
                continue
            applied.append(change.sku)
            after = domain.repriced(before, change.new_price, now=base.time)
            if after is before:
                continue
            writes.append(ProductChange(before, after))
            event = domain.price_event(before, after, replace(base, reason=change.reason), self._event_ids)
            if event is not None:
                events.append(event)
        if writes:
            await self._products.write(writes, events)
        metrics.count_written(updated=len(writes), unchanged=len(applied) - len(writes))
        metrics.count_price_changes("ApplyPrices", len(events))
        return PriceApplication(applied, refused)

    async def bulk_upsert(self, principal: Principal, drafts: Sequence[ProductDraft], *, reason: str) -> BulkResult:
        """Create or replace up to MAX_BULK_ROWS products by sku: all of them, or none and the reasons."""
        principal.require(WRITE_ROLE)
        if len(drafts) > MAX_BULK_ROWS:
            raise InvalidArgument(f"at most {MAX_BULK_ROWS:,} products per call, got {len(drafts):,}", field="products")
        return await self._upsert(principal, list(enumerate(drafts)), [], reason=reason, source="BulkUpsertProducts")

    async def import_csv(self, principal: Principal, data: bytes, *, reason: str) -> BulkResult:
        """Bulk upsert from CSV; any file export_csv wrote can be imported again, so the limit is the export's."""
        principal.require(WRITE_ROLE)
        if len(data) > MAX_CSV_BYTES:
            raise InvalidArgument(f"the CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB", field="csv")
        parsed = csv_io.parse_csv(data)
        count = len(parsed.rows) + len(parsed.errors)
        if count > MAX_IMPORT_ROWS:
            raise InvalidArgument(
                f"a CSV import holds at most {MAX_IMPORT_ROWS:,} products, got {count:,}", field="csv"
            )
        return await self._upsert(principal, parsed.rows, parsed.errors, reason=reason, source="ImportProductsCsv")

    async def _upsert(
        self,
        principal: Principal,
        rows: Sequence[tuple[int, ProductDraft]],
        unreadable: Sequence[RowError],
        *,
        reason: str,
        source: str,
    ) -> BulkResult:
        reason = domain.validate_reason(reason)
        valid, errors = await self._validate_rows(principal.organization_id, rows)
        errors.extend(unreadable)
        if errors:
            return BulkResult(0, 0, 0, sorted(errors, key=lambda error: (error.row, error.field)))
        for _ in range(WRITE_ATTEMPTS):
            try:
                return await self._write_rows(principal, valid, reason=reason, source=source)
            except Conflict:
                continue
        raise Conflict("the products of this batch are being changed by others right now; try again")

    async def _validate_rows(
        self, organization_id: str, rows: Sequence[tuple[int, ProductDraft]]
    ) -> tuple[list[tuple[str, ProductContent, bool]], list[RowError]]:
        """Every row checked on its own and against the others; (sku, content, status given) per valid row."""
        valid: list[tuple[str, ProductContent, bool]] = []
        errors: list[RowError] = []
        first_row: dict[str, int] = {}
        category_ids: set[str] | None = None
        for index, draft in rows:
            try:
                sku = domain.validate_sku(draft.sku)
                if sku in first_row:
                    raise InvalidArgument(
                        f"sku {sku!r} appears more than once in this batch (first at row {first_row[sku]})",
                        field="sku",
                    )
                first_row[sku] = index
                content = domain.validate_draft(draft)
                if content.category_id:
                    if category_ids is None:
                        category_ids = {c.id for c in await self._categories.list_all(organization_id)}
                    if content.category_id not in category_ids:
                        raise InvalidArgument(f"category {content.category_id!r} does not exist", field="category_id")
            except DomainError as error:
                errors.append(RowError(index, draft.sku, error.field, error.message))
                continue
            valid.append((sku, content, draft.status is not None))
        return valid, errors

    async def _write_rows(
        self, principal: Principal, rows: Sequence[tuple[str, ProductContent, bool]], *, reason: str, source: str
    ) -> BulkResult:
        organization_id = principal.organization_id
        existing = await self._products.get_many(organization_id, [sku for sku, _, _ in rows])
        context = self._context(principal, reason, source, touching=existing.values())
        changes: list[ProductChange] = []
        events: list[PriceEvent] = []
        created = updated = unchanged = 0
        for sku, content, status_given in rows:
            before = existing.get(sku)
            if before is None:
                after = domain.new_product(organization_id, sku, content, now=context.time)
                created += 1
            else:
                after = domain.upserted(before, content, status_given=status_given, now=context.time)
                if after is before:
                    unchanged += 1
                    continue
                updated += 1
            changes.append(ProductChange(before, after))
            event = domain.price_event(before, after, context, self._event_ids)
            if event is not None:
                events.append(event)
        if changes:
            await self._products.write(changes, events)
        metrics.count_written(created=created, updated=updated, unchanged=unchanged)
        metrics.count_price_changes(source, len(events))
        return BulkResult(created, updated, unchanged, [])

    async def _require_category(self, organization_id: str, category_id: str) -> None:
        if category_id and await self._categories.get(organization_id, category_id) is None:
            raise InvalidArgument(f"category {category_id!r} does not exist", field="category_id")

    def _context(
        self, principal: Principal, reason: str, source: str, *, touching: Iterable[Product] = ()
    ) -> ChangeContext:
        return ChangeContext(
            principal.subject_id, domain.validate_reason(reason), source, _now(self._clock, after=touching)
        )


class CategoryTree:
    def __init__(self, repositories: Repositories, *, ids: Callable[[], str] = lambda: new_id("cat_")) -> None:
        self._categories = repositories.categories
        self._products = repositories.products
        self._ids = ids

    async def list_categories(self, principal: Principal) -> list[Category]:
        """The organisation's whole tree, parents before their children."""
        principal.require(READ_ROLE)
        return domain.tree_order(await self._categories.list_all(principal.organization_id))

    async def create_category(self, principal: Principal, *, category_id: str, name: str, parent_id: str) -> Category:
        """A new category; the caller may choose its id (to keep the ids of an imported catalog)."""
        principal.require(WRITE_ROLE)
        category = Category(
            organization_id=principal.organization_id,
            id=domain.validate_category_id(category_id) if category_id else self._ids(),
            name=domain.validate_category_name(name),
            parent_id=domain.validate_category_id(parent_id, field="parent_id") if parent_id else "",
        )
        tree = {c.id: c for c in await self._categories.list_all(principal.organization_id)}
        if category.id in tree:
            raise AlreadyExists(f"category {category.id!r} already exists", field="id")
        domain.check_category_placement(category, tree)
        await self._categories.create(category)
        return category

    async def update_category(
        self, principal: Principal, *, category_id: str, name: str, parent_id: str, paths: Iterable[str]
    ) -> Category:
        principal.require(WRITE_ROLE)
        fields = domain.parse_category_mask(paths)
        existing = await self._get(principal, category_id)
        category = replace(
            existing,
            name=domain.validate_category_name(name) if "name" in fields else existing.name,
            parent_id=(domain.validate_category_id(parent_id, field="parent_id") if parent_id else "")
            if "parent_id" in fields
            else existing.parent_id,
        )
        if category == existing:
            return existing
        tree = {c.id: c for c in await self._categories.list_all(principal.organization_id)}
        domain.check_category_placement(category, tree)
        await self._categories.update(category)
        return category

    async def delete_category(self, principal: Principal, category_id: str) -> None:
        """Refused while products or other categories are in it, so nothing is left pointing at nothing."""
        principal.require(WRITE_ROLE)
        category = await self._get(principal, category_id)
        if await self._categories.has_children(category.organization_id, category.id):
            raise FailedPrecondition(
                f"category {category.id!r} has subcategories; move or delete them first", field="id"
            )
        if await self._products.in_category(category.organization_id, category.id):
            raise FailedPrecondition(
                f"category {category.id!r} still has products; move them to another category first", field="id"
            )
        await self._categories.delete(category.organization_id, category.id)

    async def _get(self, principal: Principal, category_id: str) -> Category:
        category = await self._categories.get(principal.organization_id, domain.validate_category_id(category_id))
        if category is None:
            raise NotFound(f"category {category_id!r} does not exist", field="id")
        return category


def _filter_fingerprint(request: ProductFilter) -> str:
    """A short digest of a filter, kept in page tokens so a token is used with the filter it was made for."""
    canonical = json.dumps(
        [
            request.category_id,
            request.brand,
            request.title_query,
            None if request.min_price is None else [request.min_price.amount_minor, request.min_price.currency],
            None if request.max_price is None else [request.max_price.amount_minor, request.max_price.currency],
            request.in_stock,
            None if request.status is None else request.status.value,
        ]
    )
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


def _event_position(position: dict[str, object], sku: str) -> EventPosition:
    time, event_id = position.get("time"), position.get("id")
    if position.get("sku") != sku or not isinstance(time, str) or not isinstance(event_id, str):
        raise InvalidArgument("page_token was issued for a different request", field="page_token")
    try:
        return EventPosition(from_iso(time), event_id)
    except ValueError:
        raise InvalidArgument("page_token is not a token this API issued", field="page_token") from None
