"""The repository contract: the same tests on SQLite, the MongoDB stand-in and (with MONGODB_URI) MongoDB."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from runtime.errors import AlreadyExists, Conflict, NotFound
from runtime.money import Money
from services.product import domain
from services.product.domain import (
    Category,
    ChangeContext,
    MoneyInput,
    PriceEvent,
    Product,
    ProductChange,
    ProductDraft,
    ProductFilter,
    ProductQuery,
    ProductStatus,
)
from services.product.repository import EventPosition, PricingRow, Repositories
from services.product.tests.support import (
    ORG_A,
    ORG_B,
    START,
    FakeClock,
    SequentialIds,
    bulk_rows,
    draft,
    eur,
    principal,
)
from services.product.use_cases import ProductCatalog

pytestmark = pytest.mark.timeout(120)


def make(product_draft: ProductDraft, organization_id: str = ORG_A, *, now: Any = START) -> Product:
    return domain.new_product(organization_id, product_draft.sku, domain.validate_draft(product_draft), now=now)


def event_for(before: Product | None, after: Product, event_id: str) -> PriceEvent:
    context = ChangeContext("usr_1", "test", "Test", after.update_time)
    event = domain.price_event(before, after, context, lambda: event_id)
    assert event is not None
    return event


async def insert(repositories: Repositories, *products: Product) -> None:
    await repositories.products.write([ProductChange(None, p) for p in products], [])


async def everything(repositories: Repositories, organization_id: str, query: ProductQuery, page: int = 7) -> list[str]:
    skus: list[str] = []
    while True:
        after = skus[-1] if skus else ""
        found = await repositories.products.find(organization_id, query, after_sku=after, limit=page)
        skus.extend(p.sku for p in found)
        if len(found) < page:
            return skus


async def all_events(repositories: Repositories, organization_id: str, sku: str | None = None) -> list[PriceEvent]:
    return await repositories.price_events.find(organization_id, sku=sku, before=None, limit=1_000_000)


# --- products -------------------------------------------------------------------------------------


async def test_a_stored_product_reads_back_equal(repositories: Repositories) -> None:
    product = make(
        draft(
            "mug-1",
            title="Kaffeebecher „Größe L“ 東京 🎉",
            gtin="4006381333931",
            mpn="KB-L",
            map_price=eur(1800),
            attributes={"colour": "red", "dims.cm": "10x8", "$special": "yes", "leer": ""},
        ),
        now=START.replace(microsecond=123000),
    )
    await insert(repositories, product)
    assert await repositories.products.get(ORG_A, "mug-1") == product
    bare = make(draft("bare-1", cost=None, attributes={}, price=MoneyInput(500, "JPY")))
    await insert(repositories, bare)
    assert await repositories.products.get(ORG_A, "bare-1") == bare
    assert await repositories.products.get(ORG_A, "missing") is None


async def test_get_many_returns_the_stored_ones_of_that_organisation(repositories: Repositories) -> None:
    await insert(repositories, make(draft("a-1")), make(draft("a-2")))
    await insert(repositories, make(draft("a-3"), ORG_B))
    found = await repositories.products.get_many(ORG_A, ["a-1", "a-3", "nope"])
    assert sorted(found) == ["a-1"]
    assert await repositories.products.get_many(ORG_A, []) == {}


async def test_creating_an_existing_sku_is_a_conflict_and_keeps_the_stored_one(repositories: Repositories) -> None:
    original = make(draft("dup-1"))
    await insert(repositories, original)
    with pytest.raises(Conflict):
        await insert(repositories, make(draft("dup-1", title="Other")))
    assert await repositories.products.get(ORG_A, "dup-1") == original


async def test_the_same_sku_may_exist_in_two_organisations(repositories: Repositories) -> None:
    await insert(repositories, make(draft("shared-1", title="A's")))
    await insert(repositories, make(draft("shared-1", title="B's"), ORG_B))
    a = await repositories.products.get(ORG_A, "shared-1")
    b = await repositories.products.get(ORG_B, "shared-1")
    assert a is not None
    assert b is not None
    assert (a.title, b.title) == ("A's", "B's")


async def test_an_update_writes_the_new_revision_and_its_event(repositories: Repositories) -> None:
    before = make(draft("u-1"))
    await insert(repositories, before)
    after = domain.updated(
        before,
        draft("u-1", price=eur(2499), attributes={"size": "XL"}),
        {"price", "attributes"},
        now=START + timedelta(1),
    )
    await repositories.products.write([ProductChange(before, after)], [event_for(before, after, "pe_1")])
    assert await repositories.products.get(ORG_A, "u-1") == after
    (event,) = await all_events(repositories, ORG_A)
    assert (event.old_price, event.new_price) == (Money(1999, "EUR"), Money(2499, "EUR"))


async def test_a_write_based_on_a_stale_revision_is_a_conflict(repositories: Repositories) -> None:
    original = make(draft("stale-1"))
    await insert(repositories, original)
    first = domain.updated(original, draft("stale-1", stock=1), {"stock"}, now=START)
    await repositories.products.write([ProductChange(original, first)], [])
    second = domain.updated(original, draft("stale-1", stock=2), {"stock"}, now=START)
    with pytest.raises(Conflict):
        await repositories.products.write([ProductChange(original, second)], [])
    assert await repositories.products.get(ORG_A, "stale-1") == first


async def test_a_conflicting_batch_on_sqlite_writes_nothing(sqlite_repositories: Repositories) -> None:
    # Only SQLite promises all-or-nothing for a write that fails midway (see ProductRepository.write).
    repositories = sqlite_repositories
    existing = make(draft("c-2"))
    await insert(repositories, existing)
    fresh = make(draft("c-1"))
    with pytest.raises(Conflict):
        await repositories.products.write(
            [ProductChange(None, fresh), ProductChange(None, make(draft("c-2")))], [event_for(None, fresh, "pe_1")]
        )
    assert await repositories.products.get(ORG_A, "c-1") is None
    assert await all_events(repositories, ORG_A) == []


# --- listing --------------------------------------------------------------------------------------

CATALOG = [
    draft("p-01", title="Espresso Cup (50% off)", brand="Nordvik", category_id="cups", price=eur(450), stock=0),
    draft("p-02", title="Große Straße Poster", brand="nordvik", category_id="posters", price=eur(1299)),
    draft("p-03", title="Tea cup", brand="Acme", category_id="cups", price=eur(899), status=ProductStatus.DRAFT),
    draft(
        "p-04", title="Archived mug", brand="Acme", category_id="mugs", price=eur(999), status=ProductStatus.ARCHIVED
    ),
    draft("p-05", title="Teapot", brand="Acme", category_id="", price=eur(3999), stock=0),
    draft("p-06", title="Sake cup 東京", brand="Kyoto", category_id="cups", price=MoneyInput(1500, "JPY"), cost=None),
    draft("p-07", title="Mug.Big", brand="Acme", category_id="mugs", price=eur(1000)),
    draft("p-08", title="MugXBig", brand="Acme", category_id="mugs", price=eur(1001)),
    *(
        draft(f"q-{i:02d}", title=f"Plate {i}", brand="Plates Inc", category_id="plates", price=eur(100 * i))
        for i in range(1, 16)
    ),
]

QUERIES = [
    ProductQuery(),
    ProductQuery(statuses=frozenset({ProductStatus.ARCHIVED})),
    ProductQuery(statuses=frozenset(ProductStatus)),
    ProductQuery(category_ids=frozenset({"cups", "mugs"})),
    ProductQuery(category_ids=frozenset({"nothing-here"})),
    ProductQuery(brand_folded="nordvik"),
    ProductQuery(title_folded="cup"),
    ProductQuery(title_folded="(50%"),
    ProductQuery(title_folded="."),
    ProductQuery(title_folded="mug.big"),
    ProductQuery(title_folded="strasse"),
    ProductQuery(title_folded="東京"),
    ProductQuery(currency="EUR", min_price_minor=899, max_price_minor=1001),
    ProductQuery(currency="EUR", min_price_minor=1000),
    ProductQuery(currency="JPY", max_price_minor=1500),
    ProductQuery(in_stock=True),
    ProductQuery(
        in_stock=True, brand_folded="acme", category_ids=frozenset({"mugs"}), currency="EUR", max_price_minor=1000
    ),
]


@pytest.fixture
async def listed(repositories: Repositories) -> list[Product]:
    products = [make(d) for d in CATALOG]
    await insert(repositories, *products)
    await insert(repositories, *(make(d, ORG_B) for d in CATALOG[:5]))
    return products


@pytest.mark.parametrize("query", QUERIES, ids=[f"q{i}" for i in range(len(QUERIES))])
async def test_every_filter_selects_what_the_domain_says(
    repositories: Repositories, listed: list[Product], query: ProductQuery
) -> None:
    expected = sorted(p.sku for p in listed if domain.query_matches(query, p))
    assert await everything(repositories, ORG_A, query) == expected


async def test_title_search_escapes_pattern_characters(repositories: Repositories, listed: list[Product]) -> None:
    assert await everything(repositories, ORG_A, ProductQuery(title_folded=".")) == ["p-07"]
    assert await everything(repositories, ORG_A, ProductQuery(title_folded="(50%")) == ["p-01"]


async def test_pages_are_ordered_by_sku_and_resume_after_the_last_one(
    repositories: Repositories, listed: list[Product]
) -> None:
    first = await repositories.products.find(ORG_A, ProductQuery(), after_sku="", limit=3)
    assert [p.sku for p in first] == ["p-01", "p-02", "p-03"]
    following = await repositories.products.find(ORG_A, ProductQuery(), after_sku="p-03", limit=3)
    assert [p.sku for p in following] == ["p-05", "p-06", "p-07"]
    assert await repositories.products.find(ORG_A, ProductQuery(), after_sku="q-15", limit=3) == []


async def test_pricing_rows_are_the_active_products_fields_by_sku(
    repositories: Repositories, listed: list[Product]
) -> None:
    active = sorted((p for p in listed if p.status is ProductStatus.ACTIVE), key=lambda p: p.sku)
    rows = await repositories.products.pricing_rows(ORG_A, category_ids=None, after_sku="", limit=1000)
    assert rows == [
        PricingRow(
            p.sku,
            p.brand,
            p.category_id,
            p.currency,
            p.price.amount_minor,
            None if p.cost is None else p.cost.amount_minor,
            None if p.map_price is None else p.map_price.amount_minor,
        )
        for p in active
    ]
    page = await repositories.products.pricing_rows(ORG_A, category_ids=None, after_sku=rows[0].sku, limit=2)
    assert [row.sku for row in page] == [row.sku for row in rows[1:3]]
    mugs = await repositories.products.pricing_rows(ORG_A, category_ids=frozenset({"mugs"}), after_sku="", limit=1000)
    assert [row.sku for row in mugs] == [p.sku for p in active if p.category_id == "mugs"]
    assert await repositories.products.pricing_rows("org_c", category_ids=None, after_sku="", limit=10) == []


async def test_another_organisation_sees_only_its_own_products(
    repositories: Repositories, listed: list[Product]
) -> None:
    assert await everything(repositories, ORG_B, ProductQuery(statuses=frozenset(ProductStatus))) == [
        "p-01",
        "p-02",
        "p-03",
        "p-04",
        "p-05",
    ]
    assert await everything(repositories, "org_c", ProductQuery(statuses=frozenset(ProductStatus))) == []


async def test_in_category_counts_archived_products_of_the_organisation_only(
    repositories: Repositories, listed: list[Product]
) -> None:
    assert await repositories.products.in_category(ORG_A, "mugs")
    assert await repositories.products.in_category(ORG_A, "plates")
    assert not await repositories.products.in_category(ORG_B, "plates")
    assert not await repositories.products.in_category(ORG_A, "nothing-here")


# --- price events ---------------------------------------------------------------------------------


async def test_price_events_come_newest_first_and_page_by_position(repositories: Repositories) -> None:
    product = make(draft("ev-1"))
    other = make(draft("ev-2"))
    await repositories.products.write(
        [ProductChange(None, product), ProductChange(None, other)],
        [event_for(None, product, "pe_01"), event_for(None, other, "pe_02")],
    )
    current = product
    for step in range(1, 4):
        changed = domain.updated(
            current, draft("ev-1", price=eur(2000 + step)), {"price"}, now=START + timedelta(minutes=step)
        )
        await repositories.products.write(
            [ProductChange(current, changed)], [event_for(current, changed, f"pe_1{step}")]
        )
        current = changed
    await repositories.products.write([], [event_for(None, make(draft("ev-9"), ORG_B), "pe_99")])

    events = await all_events(repositories, ORG_A)
    assert [e.id for e in events] == ["pe_13", "pe_12", "pe_11", "pe_02", "pe_01"]
    assert [e.id for e in await all_events(repositories, ORG_A, "ev-1")] == ["pe_13", "pe_12", "pe_11", "pe_01"]
    first = await repositories.price_events.find(ORG_A, sku=None, before=None, limit=2)
    rest = await repositories.price_events.find(
        ORG_A, sku=None, before=EventPosition(first[-1].time, first[-1].id), limit=10
    )
    assert [e.id for e in first + rest] == [e.id for e in events]
    same_time = await repositories.price_events.find(ORG_A, sku=None, before=EventPosition(START, "pe_02"), limit=10)
    assert [e.id for e in same_time] == ["pe_01"]
    assert events[0] == PriceEvent(
        ORG_A,
        "pe_13",
        "ev-1",
        Money(2002, "EUR"),
        Money(2003, "EUR"),
        "usr_1",
        "test",
        "Test",
        START + timedelta(minutes=3),
    )
    assert [e.id for e in await all_events(repositories, ORG_B)] == ["pe_99"]


# --- bulk upsert through the use cases ------------------------------------------------------------


async def test_bulk_upsert_is_idempotent_and_records_each_price_once(repositories: Repositories, engine: Any) -> None:
    rows = bulk_rows(engine.kind)
    catalog = ProductCatalog(repositories, clock=FakeClock(), event_ids=SequentialIds("pe_"))
    batch = [draft(f"bulk-{i:05d}", title=f"Bulk product {i}", price=eur(1000 + i), stock=i % 7) for i in range(rows)]
    first = await catalog.bulk_upsert(principal(), batch, reason="initial load")
    assert (first.created, first.updated, first.unchanged, first.errors) == (rows, 0, 0, [])
    stored = await repositories.products.get(ORG_A, f"bulk-{rows - 1:05d}")
    assert stored is not None
    assert stored.price == Money(1000 + rows - 1, "EUR")
    assert len(await all_events(repositories, ORG_A)) == rows

    again = await catalog.bulk_upsert(principal(), batch, reason="retry")
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, rows, [])
    assert len(await all_events(repositories, ORG_A)) == rows
    assert await repositories.products.get(ORG_A, f"bulk-{rows - 1:05d}") == stored

    batch[3] = draft("bulk-00003", title="Bulk product 3", price=eur(5), stock=3)
    batch[4] = draft("bulk-00004", title="Renamed", price=eur(1004), stock=4)
    changed = await catalog.bulk_upsert(principal(), batch, reason="repricing")
    assert (changed.created, changed.updated, changed.unchanged) == (0, 2, rows - 2)
    events = await all_events(repositories, ORG_A)
    assert len(events) == rows + 1
    assert (events[0].sku, events[0].old_price, events[0].new_price, events[0].reason) == (
        "bulk-00003",
        Money(1003, "EUR"),
        Money(5, "EUR"),
        "repricing",
    )


async def test_a_batch_with_one_bad_row_writes_nothing(repositories: Repositories, engine: Any) -> None:
    rows = bulk_rows(engine.kind)
    catalog = ProductCatalog(repositories, clock=FakeClock(), event_ids=SequentialIds("pe_"))
    batch = [draft(f"row-{i:05d}", price=eur(100 + i)) for i in range(rows)]
    bad_index = rows - 2
    batch[bad_index] = draft(f"row-{bad_index:05d}", price=eur(-100))
    result = await catalog.bulk_upsert(principal(), batch, reason="load")
    assert (result.created, result.updated, result.unchanged) == (0, 0, 0)
    assert [(e.row, e.sku, e.field) for e in result.errors] == [(bad_index, f"row-{bad_index:05d}", "price")]
    everything_query = ProductQuery(statuses=frozenset(ProductStatus))
    assert await repositories.products.find(ORG_A, everything_query, after_sku="", limit=10) == []
    assert await all_events(repositories, ORG_A) == []


async def test_bulk_upsert_of_one_organisation_leaves_the_other_alone(repositories: Repositories) -> None:
    catalog = ProductCatalog(repositories, clock=FakeClock(), event_ids=SequentialIds("pe_"))
    await catalog.bulk_upsert(principal(organization_id=ORG_B), [draft("t-1", title="B's")], reason="")
    result = await catalog.bulk_upsert(principal(), [draft("t-1", title="A's")], reason="")
    assert result.created == 1
    b = await repositories.products.get(ORG_B, "t-1")
    assert b is not None
    assert b.title == "B's"


async def test_listing_through_the_use_cases_pages_with_tokens(repositories: Repositories) -> None:
    catalog = ProductCatalog(repositories, clock=FakeClock(), event_ids=SequentialIds("pe_"))
    await catalog.bulk_upsert(principal(), [draft(f"l-{i:02d}") for i in range(25)], reason="")
    seen: list[str] = []
    token = ""
    while True:
        page = await catalog.list_products(
            principal(), ProductFilter(brand="ACME"), page_size_requested=10, page_token=token
        )
        seen.extend(p.sku for p in page.items)
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"l-{i:02d}" for i in range(25)]


# --- categories -----------------------------------------------------------------------------------


async def test_categories_are_stored_per_organisation(repositories: Repositories) -> None:
    home = Category(ORG_A, "home", "Home", "")
    kitchen = Category(ORG_A, "kitchen", "Küche", "home")
    await repositories.categories.create(home)
    await repositories.categories.create(kitchen)
    await repositories.categories.create(Category(ORG_B, "home", "Home", ""))
    assert sorted(await repositories.categories.list_all(ORG_A), key=lambda c: c.id) == [home, kitchen]
    assert await repositories.categories.get(ORG_A, "kitchen") == kitchen
    assert await repositories.categories.get(ORG_B, "kitchen") is None
    assert await repositories.categories.has_children(ORG_A, "home")
    assert not await repositories.categories.has_children(ORG_B, "home")
    assert not await repositories.categories.has_children(ORG_A, "kitchen")


async def test_category_ids_and_sibling_names_are_unique(repositories: Repositories) -> None:
    await repositories.categories.create(Category(ORG_A, "home", "Home", ""))
    await repositories.categories.create(Category(ORG_A, "garden", "Garden", "home"))
    with pytest.raises(AlreadyExists) as same_id:
        await repositories.categories.create(Category(ORG_A, "home", "Other", ""))
    assert same_id.value.field == "id"
    with pytest.raises(AlreadyExists) as same_name:
        await repositories.categories.create(Category(ORG_A, "garden-2", "GARDEN", "home"))
    assert same_name.value.field == "name"
    await repositories.categories.create(Category(ORG_A, "garden-3", "Garden", ""))
    with pytest.raises(AlreadyExists):
        await repositories.categories.update(Category(ORG_A, "garden-3", "garden", "home"))


async def test_categories_can_be_renamed_moved_and_deleted(repositories: Repositories) -> None:
    await repositories.categories.create(Category(ORG_A, "home", "Home", ""))
    await repositories.categories.create(Category(ORG_A, "toys", "Toys", ""))
    moved = Category(ORG_A, "toys", "Spielzeug", "home")
    await repositories.categories.update(moved)
    assert await repositories.categories.get(ORG_A, "toys") == moved
    with pytest.raises(NotFound):
        await repositories.categories.update(Category(ORG_B, "toys", "Nope", ""))
    await repositories.categories.delete(ORG_B, "toys")
    assert await repositories.categories.get(ORG_A, "toys") == moved
    await repositories.categories.delete(ORG_A, "toys")
    assert await repositories.categories.get(ORG_A, "toys") is None
