"""Product and category use cases on a real SQLite file: roles, tenancy, filters, bulk, CSV, events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from runtime.auth import Role
from runtime.errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from runtime.money import Money
from services.product import csv_io
from services.product.domain import MoneyInput, Product, ProductDraft, ProductFilter, ProductStatus
from services.product.repository import Repositories
from services.product.tests.support import ORG_B, START, FakeClock, draft, eur, principal
from services.product.use_cases import MAX_BULK_ROWS, MAX_IMPORT_ROWS, CategoryTree, ProductCatalog

MANAGER = principal()
VIEWER = principal(Role.VIEWER, subject="usr_viewer")
ANALYST = principal(Role.ANALYST, subject="usr_analyst")
OTHER_ORG = principal(organization_id=ORG_B, subject="usr_b")


NO_FILTER = ProductFilter()


async def skus(catalog: ProductCatalog, request: ProductFilter = NO_FILTER, who: Any = MANAGER) -> list[str]:
    page = await catalog.list_products(who, request, page_size_requested=1000, page_token="")
    return [p.sku for p in page.items]


# --- roles and tenancy ----------------------------------------------------------------------------

WRITES: dict[str, Callable[[ProductCatalog, CategoryTree, Any], Awaitable[object]]] = {
    "create": lambda c, t, who: c.create_product(who, draft("new-1"), reason=""),
    "update": lambda c, t, who: c.update_product(who, draft("p-1", stock=1), ["stock"], reason=""),
    "archive": lambda c, t, who: c.archive_product(who, "p-1", reason=""),
    "bulk": lambda c, t, who: c.bulk_upsert(who, [draft("new-1")], reason=""),
    "import": lambda c, t, who: c.import_csv(who, b"sku,title,currency,price\nnew-1,T,EUR,1\n", reason=""),
    "create category": lambda c, t, who: t.create_category(who, category_id="", name="New", parent_id=""),
    "update category": lambda c, t, who: t.update_category(
        who, category_id="home", name="Renamed", parent_id="", paths=["name"]
    ),
    "delete category": lambda c, t, who: t.delete_category(who, "home"),
}


@pytest.fixture
async def seeded(catalog: ProductCatalog, tree: CategoryTree) -> None:
    await tree.create_category(MANAGER, category_id="home", name="Home", parent_id="")
    await catalog.create_product(MANAGER, draft("p-1", category_id="home"), reason="first")


@pytest.mark.parametrize("write", WRITES, ids=list(WRITES))
@pytest.mark.parametrize("who", [VIEWER, ANALYST], ids=["viewer", "analyst"])
async def test_writes_need_the_pricing_manager_role(
    catalog: ProductCatalog, tree: CategoryTree, seeded: None, write: str, who: Any
) -> None:
    with pytest.raises(PermissionDenied, match="pricing_manager"):
        await WRITES[write](catalog, tree, who)
    assert await skus(catalog) == ["p-1"]
    assert [c.name for c in await tree.list_categories(who)] == ["Home"]


async def test_viewers_can_read_everything(catalog: ProductCatalog, tree: CategoryTree, seeded: None) -> None:
    assert (await catalog.get_product(VIEWER, "p-1")).sku == "p-1"
    assert await skus(catalog, who=VIEWER) == ["p-1"]
    assert b"p-1" in await catalog.export_csv(VIEWER, ProductFilter())
    events = await catalog.list_price_events(VIEWER, sku="", page_size_requested=0, page_token="")
    assert [e.sku for e in events.items] == ["p-1"]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_product(OTHER_ORG, "p-1"),
        lambda c: c.update_product(OTHER_ORG, draft("p-1", price=eur(1)), ["price"], reason=""),
        lambda c: c.archive_product(OTHER_ORG, "p-1", reason=""),
    ],
    ids=["get", "update", "archive"],
)
async def test_a_product_of_another_organisation_is_not_found(
    catalog: ProductCatalog, seeded: None, call: Callable[[ProductCatalog], Awaitable[object]]
) -> None:
    with pytest.raises(NotFound) as caught:
        await call(catalog)
    assert caught.value.field == "sku"
    product = await catalog.get_product(MANAGER, "p-1")
    assert (product.price, product.status) == (Money(1999, "EUR"), ProductStatus.ACTIVE)


async def test_another_organisation_sees_no_products_events_or_categories(
    catalog: ProductCatalog, tree: CategoryTree, seeded: None
) -> None:
    assert await skus(catalog, who=OTHER_ORG) == []
    assert (await catalog.list_price_events(OTHER_ORG, sku="p-1", page_size_requested=0, page_token="")).items == []
    assert await tree.list_categories(OTHER_ORG) == []
    assert await catalog.export_csv(OTHER_ORG, ProductFilter()) == (",".join(csv_io.COLUMNS) + "\r\n").encode()
    with pytest.raises(InvalidArgument, match="category 'home' does not exist"):
        await catalog.create_product(OTHER_ORG, draft("p-1", category_id="home"), reason="")
    with pytest.raises(NotFound):
        await tree.delete_category(OTHER_ORG, "home")
    created = await catalog.create_product(OTHER_ORG, draft("p-1", title="Mine"), reason="")
    assert created.organization_id == ORG_B
    assert (await catalog.get_product(MANAGER, "p-1")).title == "Product p-1"


# --- create, update, archive ----------------------------------------------------------------------


async def test_create_stores_the_product_and_its_first_price_event(catalog: ProductCatalog) -> None:
    created = await catalog.create_product(MANAGER, draft("c-1", title="  Mug  "), reason="launch")
    assert (created.title, created.revision, created.create_time, created.update_time) == ("Mug", 1, START, START)
    assert await catalog.get_product(MANAGER, "c-1") == created
    (event,) = (await catalog.list_price_events(MANAGER, sku="c-1", page_size_requested=0, page_token="")).items
    assert (event.old_price, event.new_price, event.actor_id, event.reason, event.source, event.time) == (
        None,
        Money(1999, "EUR"),
        "usr_1",
        "launch",
        "CreateProduct",
        START,
    )


async def test_creating_an_existing_sku_is_refused(catalog: ProductCatalog) -> None:
    await catalog.create_product(MANAGER, draft("c-1"), reason="")
    with pytest.raises(AlreadyExists) as caught:
        await catalog.create_product(MANAGER, draft("c-1", title="Again"), reason="")
    assert caught.value.field == "sku"
    assert (await catalog.get_product(MANAGER, "c-1")).title == "Product c-1"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (draft("c-1", price=eur(-1999)), "price"),
        (draft("c-1", price=MoneyInput(100, "XXX")), "price.currency"),
        (draft("c-1", price=MoneyInput(100, "EURO")), "price.currency"),
        (draft("c-1", title="x" * 1_048_576), "title"),
        (draft("c/1"), "sku"),
        (draft("c-1", gtin="4006381333932"), "gtin"),
        (draft("c-1", category_id="nowhere"), "category_id"),
    ],
)
async def test_invalid_products_are_refused_and_nothing_is_written(
    catalog: ProductCatalog, bad: ProductDraft, field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await catalog.create_product(MANAGER, bad, reason="")
    assert caught.value.field == field
    assert await skus(catalog, ProductFilter(status=ProductStatus.ACTIVE)) == []
    assert (await catalog.list_price_events(MANAGER, sku="", page_size_requested=0, page_token="")).items == []


async def test_get_of_a_malformed_or_missing_sku(catalog: ProductCatalog) -> None:
    with pytest.raises(InvalidArgument):
        await catalog.get_product(MANAGER, "a/b")
    with pytest.raises(NotFound, match="product 'does-not-exist' does not exist"):
        await catalog.get_product(MANAGER, "does-not-exist")


async def test_update_changes_masked_fields_and_records_the_price_change(
    catalog: ProductCatalog, clock: FakeClock
) -> None:
    created = await catalog.create_product(MANAGER, draft("u-1"), reason="")
    updated = await catalog.update_product(
        MANAGER, ProductDraft(sku="u-1", price=eur(1799), title="ignored"), ["price"], reason="match competitor"
    )
    assert (updated.price, updated.title, updated.revision) == (Money(1799, "EUR"), "Product u-1", 2)
    assert updated.update_time > created.update_time
    latest = (await catalog.list_price_events(MANAGER, sku="u-1", page_size_requested=1, page_token="")).items[0]
    assert (latest.old_price, latest.new_price, latest.reason, latest.source) == (
        Money(1999, "EUR"),
        Money(1799, "EUR"),
        "match competitor",
        "UpdateProduct",
    )
    restocked = await catalog.update_product(MANAGER, ProductDraft(sku="u-1", stock=40), ["stock"], reason="")
    assert restocked.stock == 40
    events = await catalog.list_price_events(MANAGER, sku="u-1", page_size_requested=0, page_token="")
    assert len(events.items) == 2


async def test_an_update_that_changes_nothing_writes_nothing(catalog: ProductCatalog) -> None:
    created = await catalog.create_product(MANAGER, draft("u-1"), reason="")
    same = await catalog.update_product(MANAGER, draft("u-1"), ["*"], reason="")
    assert same == created


async def test_update_refuses_bad_masks_and_unknown_categories(catalog: ProductCatalog) -> None:
    await catalog.create_product(MANAGER, draft("u-1"), reason="")
    with pytest.raises(InvalidArgument, match="sku cannot be changed"):
        await catalog.update_product(MANAGER, draft("u-1"), ["sku"], reason="")
    with pytest.raises(InvalidArgument, match="unknown field"):
        await catalog.update_product(MANAGER, draft("u-1"), ["colour"], reason="")
    with pytest.raises(InvalidArgument) as caught:
        await catalog.update_product(MANAGER, draft("u-1", category_id="ghost"), ["category_id"], reason="")
    assert caught.value.field == "category_id"
    with pytest.raises(NotFound):
        await catalog.update_product(MANAGER, draft("ghost-1"), ["title"], reason="")


async def test_concurrent_updates_of_one_product_all_land(
    sqlite_repositories: Repositories, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = ProductCatalog(sqlite_repositories, clock=clock)
    await catalog.create_product(MANAGER, draft("race-1"), reason="")
    products = sqlite_repositories.products
    get, write = products.get, products.write
    # The three updates all read revision 1 before any of them writes, so two must retry.
    all_read = asyncio.Barrier(3)
    reads = conflicts = 0

    async def racing_get(organization_id: str, sku: str) -> Product | None:
        nonlocal reads
        reads += 1
        found = await get(organization_id, sku)
        if reads <= 3:
            await all_read.wait()
        return found

    async def counting_write(*args: Any) -> None:
        nonlocal conflicts
        try:
            await write(*args)
        except Conflict:
            conflicts += 1
            raise

    monkeypatch.setattr(products, "get", racing_get)
    monkeypatch.setattr(products, "write", counting_write)
    await asyncio.gather(
        catalog.update_product(MANAGER, ProductDraft(sku="race-1", price=eur(2500)), ["price"], reason="a"),
        catalog.update_product(MANAGER, ProductDraft(sku="race-1", stock=77), ["stock"], reason="b"),
        catalog.update_product(MANAGER, ProductDraft(sku="race-1", title="Raced"), ["title"], reason="c"),
    )
    product = await catalog.get_product(MANAGER, "race-1")
    assert (product.price, product.stock, product.title, product.revision) == (Money(2500, "EUR"), 77, "Raced", 4)
    assert conflicts >= 2


async def test_changes_within_one_millisecond_stay_in_order(sqlite_repositories: Repositories) -> None:
    frozen = FakeClock(step=timedelta(0))
    catalog = ProductCatalog(sqlite_repositories, clock=frozen)
    created = await catalog.create_product(MANAGER, draft("ms-1"), reason="")
    for price in (2001, 2002, 2003):
        await catalog.update_product(MANAGER, ProductDraft(sku="ms-1", price=eur(price)), ["price"], reason="")
    frozen.now -= timedelta(hours=1)
    latest = await catalog.update_product(MANAGER, ProductDraft(sku="ms-1", price=eur(2004)), ["price"], reason="")
    assert latest.update_time == created.update_time + timedelta(milliseconds=4)
    events = await catalog.list_price_events(MANAGER, sku="ms-1", page_size_requested=0, page_token="")
    assert [e.new_price.amount_minor for e in events.items] == [2004, 2003, 2002, 2001, 1999]


async def test_archive_is_idempotent_and_hides_the_product_from_default_lists(catalog: ProductCatalog) -> None:
    await catalog.create_product(MANAGER, draft("ar-1"), reason="")
    await catalog.create_product(MANAGER, draft("ar-2"), reason="")
    archived = await catalog.archive_product(MANAGER, "ar-1", reason="")
    assert archived.status is ProductStatus.ARCHIVED
    assert await catalog.archive_product(MANAGER, "ar-1", reason="") == archived
    assert await skus(catalog) == ["ar-2"]
    assert await skus(catalog, ProductFilter(status=ProductStatus.ARCHIVED)) == ["ar-1"]
    assert (await catalog.get_product(MANAGER, "ar-1")).status is ProductStatus.ARCHIVED


# --- listing --------------------------------------------------------------------------------------


async def test_list_filters(catalog: ProductCatalog, tree: CategoryTree) -> None:
    await tree.create_category(MANAGER, category_id="kitchen", name="Kitchen", parent_id="")
    await tree.create_category(MANAGER, category_id="cups", name="Cups", parent_id="kitchen")
    await tree.create_category(MANAGER, category_id="garden", name="Garden", parent_id="")
    await catalog.bulk_upsert(
        MANAGER,
        [
            draft("k-1", title="Kitchen scale", category_id="kitchen", brand="Soehnle", price=eur(2999)),
            draft("k-2", title="Espresso CUP", category_id="cups", brand="Nordvik", price=eur(450), stock=0),
            draft("k-3", title="Große Straße Tasse", category_id="cups", brand="nordvik", price=eur(899)),
            draft("g-1", title="Garden hose", category_id="garden", brand="Gardena", price=eur(4999)),
            draft("u-1", title="Yen cup", price=MoneyInput(1500, "JPY"), cost=None),
            draft("d-1", title="Draft cup", category_id="cups", status=ProductStatus.DRAFT, price=eur(100)),
        ],
        reason="",
    )
    assert await skus(catalog, ProductFilter(category_id="kitchen")) == ["d-1", "k-1", "k-2", "k-3"]
    assert await skus(catalog, ProductFilter(category_id="cups")) == ["d-1", "k-2", "k-3"]
    assert await skus(catalog, ProductFilter(brand="NORDVIK")) == ["k-2", "k-3"]
    assert await skus(catalog, ProductFilter(title_query="cup")) == ["d-1", "k-2", "u-1"]
    assert await skus(catalog, ProductFilter(title_query="STRASSE")) == ["k-3"]
    assert await skus(catalog, ProductFilter(min_price=eur(450), max_price=eur(2999))) == ["k-1", "k-2", "k-3"]
    assert await skus(catalog, ProductFilter(min_price=MoneyInput(1000, "JPY"))) == ["u-1"]
    assert await skus(catalog, ProductFilter(in_stock=True, category_id="cups")) == ["d-1", "k-3"]
    assert await skus(catalog, ProductFilter(status=ProductStatus.DRAFT)) == ["d-1"]
    with pytest.raises(InvalidArgument) as caught:
        await skus(catalog, ProductFilter(category_id="nowhere"))
    assert caught.value.field == "filter.category_id"


async def test_pages_follow_tokens_that_belong_to_their_filter(catalog: ProductCatalog) -> None:
    await catalog.bulk_upsert(MANAGER, [draft(f"pg-{i:03d}") for i in range(120)], reason="")
    first = await catalog.list_products(MANAGER, ProductFilter(), page_size_requested=0, page_token="")
    assert len(first.items) == 50
    second = await catalog.list_products(
        MANAGER, ProductFilter(), page_size_requested=100, page_token=first.next_page_token
    )
    assert [p.sku for p in second.items] == [f"pg-{i:03d}" for i in range(50, 120)]
    assert second.next_page_token == ""
    with pytest.raises(InvalidArgument, match="different filter"):
        await catalog.list_products(
            MANAGER, ProductFilter(brand="Acme"), page_size_requested=10, page_token=first.next_page_token
        )
    with pytest.raises(InvalidArgument, match="not a token"):
        await catalog.list_products(MANAGER, ProductFilter(), page_size_requested=10, page_token="%%%")
    with pytest.raises(InvalidArgument):
        await catalog.list_products(MANAGER, ProductFilter(), page_size_requested=-1, page_token="")
    capped = await catalog.list_products(MANAGER, ProductFilter(), page_size_requested=5000, page_token="")
    assert len(capped.items) == 120


async def test_price_events_page_newest_first(catalog: ProductCatalog) -> None:
    await catalog.create_product(MANAGER, draft("ev-1"), reason="")
    for price in (1001, 1002, 1003, 1004):
        await catalog.update_product(MANAGER, ProductDraft(sku="ev-1", price=eur(price)), ["price"], reason="")
    first = await catalog.list_price_events(MANAGER, sku="ev-1", page_size_requested=2, page_token="")
    assert [e.new_price.amount_minor for e in first.items] == [1004, 1003]
    rest = await catalog.list_price_events(
        MANAGER, sku="ev-1", page_size_requested=10, page_token=first.next_page_token
    )
    assert [e.new_price.amount_minor for e in rest.items] == [1002, 1001, 1999]
    assert rest.next_page_token == ""
    with pytest.raises(InvalidArgument, match="different request"):
        await catalog.list_price_events(MANAGER, sku="", page_size_requested=2, page_token=first.next_page_token)


# --- bulk upsert and CSV --------------------------------------------------------------------------


async def test_more_than_10000_rows_are_refused(catalog: ProductCatalog) -> None:
    with pytest.raises(InvalidArgument, match="at most 10,000 products per call, got 10,001"):
        await catalog.bulk_upsert(MANAGER, [draft(f"x-{i}") for i in range(MAX_BULK_ROWS + 1)], reason="")


async def test_duplicate_skus_in_one_batch_are_row_errors_and_nothing_is_written(catalog: ProductCatalog) -> None:
    result = await catalog.bulk_upsert(
        MANAGER,
        [draft("d-1"), draft("d-2"), draft("d-1", title="again"), draft("d-3", category_id="ghost"), draft("d-1")],
        reason="",
    )
    assert (result.created, result.updated, result.unchanged) == (0, 0, 0)
    assert [(e.row, e.sku, e.field) for e in result.errors] == [
        (2, "d-1", "sku"),
        (3, "d-3", "category_id"),
        (4, "d-1", "sku"),
    ]
    assert result.errors[0].message == "sku 'd-1' appears more than once in this batch (first at row 0)"
    assert await skus(catalog) == []


async def test_a_row_without_status_keeps_an_archived_product_archived(catalog: ProductCatalog) -> None:
    await catalog.create_product(MANAGER, draft("s-1"), reason="")
    await catalog.archive_product(MANAGER, "s-1", reason="")
    result = await catalog.bulk_upsert(MANAGER, [draft("s-1", status=None)], reason="")
    assert result.unchanged == 1
    assert (await catalog.get_product(MANAGER, "s-1")).status is ProductStatus.ARCHIVED


async def test_csv_export_then_import_changes_nothing(catalog: ProductCatalog, tree: CategoryTree) -> None:
    await tree.create_category(MANAGER, category_id="cups", name="Cups", parent_id="")
    await catalog.bulk_upsert(
        MANAGER,
        [
            draft("e-1", title="Tasse „Größe L“", category_id="cups", map_price=eur(1500), gtin="4006381333931"),
            draft("e-2", title="東京 🎉", status=ProductStatus.DRAFT, cost=None, attributes={}),
            draft("e-3", price=MoneyInput(500, "JPY"), cost=MoneyInput(200, "JPY"), status=ProductStatus.ARCHIVED),
        ],
        reason="",
    )
    archived_too = await catalog.export_csv(MANAGER, ProductFilter(status=ProductStatus.ARCHIVED))
    exported = await catalog.export_csv(MANAGER, ProductFilter())
    assert exported.count(b"\r\n") == 3
    before = await catalog.list_products(MANAGER, ProductFilter(), page_size_requested=0, page_token="")
    for data in (exported, archived_too):
        result = await catalog.import_csv(MANAGER, data, reason="round trip")
        assert (result.created, result.updated, result.errors) == (0, 0, [])
    after = await catalog.list_products(MANAGER, ProductFilter(), page_size_requested=0, page_token="")
    assert after == before
    events = await catalog.list_price_events(MANAGER, sku="", page_size_requested=0, page_token="")
    assert len(events.items) == 3


async def test_csv_import_creates_then_updates_and_reports_row_errors(catalog: ProductCatalog) -> None:
    header = "sku,title,currency,price,stock\n"
    created = await catalog.import_csv(
        MANAGER, (header + "i-1,Cup,EUR,4.50,3\ni-2,Plate,EUR,9.99,\n").encode(), reason="csv"
    )
    assert (created.created, created.updated, created.unchanged) == (2, 0, 0)
    updated = await catalog.import_csv(
        MANAGER, (header + "i-1,Cup,EUR,4.99,3\ni-2,Plate,EUR,9.99,\n").encode(), reason=""
    )
    assert (updated.created, updated.updated, updated.unchanged) == (0, 1, 1)
    event = (await catalog.list_price_events(MANAGER, sku="i-1", page_size_requested=1, page_token="")).items[0]
    assert (event.new_price, event.source) == (Money(499, "EUR"), "ImportProductsCsv")

    refused = await catalog.import_csv(
        MANAGER,
        (
            header + "i-1,Cup,EUR,1.00,3\ni-3,Bowl,EUR,-2.00,\ni-4,Jug,EURO,3,\ni-1,Cup again,EUR,1,\ni-5,,EUR,1,\n"
        ).encode(),
        reason="",
    )
    assert [(e.row, e.sku, e.field) for e in refused.errors] == [
        (1, "i-3", "price"),
        (2, "i-4", "currency"),
        (3, "i-1", "sku"),
        (4, "i-5", "title"),
    ]
    assert (await catalog.get_product(MANAGER, "i-1")).price == Money(499, "EUR")
    with pytest.raises(NotFound):
        await catalog.get_product(MANAGER, "i-3")


async def test_csv_files_that_cannot_be_read_are_refused(catalog: ProductCatalog) -> None:
    with pytest.raises(InvalidArgument, match="not UTF-8"):
        await catalog.import_csv(MANAGER, "sku,title,currency,price\nx,Müller,EUR,1\n".encode("latin-1"), reason="")
    with pytest.raises(InvalidArgument, match="unknown columns"):
        await catalog.import_csv(MANAGER, b"sku,title,currency,price,colour\n", reason="")
    too_many = b"sku,title,currency,price\n" + b"".join(b"s-%d,T,EUR,1\n" % i for i in range(MAX_IMPORT_ROWS + 1))
    with pytest.raises(InvalidArgument, match="at most 100,000 products, got 100,001") as caught:
        await catalog.import_csv(MANAGER, too_many, reason="")
    assert caught.value.field == "csv"
    with pytest.raises(InvalidArgument, match="larger than 64 MiB"):
        await catalog.import_csv(MANAGER, b"sku,title,currency,price\n" + b" " * (64 * 1024 * 1024), reason="")


async def test_a_csv_import_may_hold_more_rows_than_a_bulk_call(catalog: ProductCatalog) -> None:
    rows = MAX_BULK_ROWS + 500
    data = b"sku,title,currency,price\n" + b"".join(b"s-%05d,T,EUR,1\n" % i for i in range(rows))
    assert (await catalog.import_csv(MANAGER, data, reason="")).created == rows
    assert (await catalog.import_csv(MANAGER, data, reason="")).unchanged == rows


# --- categories -----------------------------------------------------------------------------------


async def test_category_tree_rules(catalog: ProductCatalog, tree: CategoryTree) -> None:
    home = await tree.create_category(MANAGER, category_id="", name="Home", parent_id="")
    assert home.id.startswith("cat_")
    kitchen = await tree.create_category(MANAGER, category_id="kitchen", name="Kitchen", parent_id=home.id)
    await tree.create_category(MANAGER, category_id="cups", name="Cups", parent_id="kitchen")
    with pytest.raises(AlreadyExists):
        await tree.create_category(MANAGER, category_id="kitchen", name="Other", parent_id="")
    with pytest.raises(AlreadyExists):
        await tree.create_category(MANAGER, category_id="k2", name="KITCHEN", parent_id=home.id)
    with pytest.raises(InvalidArgument, match="does not exist"):
        await tree.create_category(MANAGER, category_id="x", name="X", parent_id="ghost")
    with pytest.raises(InvalidArgument, match="under itself"):
        await tree.update_category(MANAGER, category_id=home.id, name="", parent_id="cups", paths=["parent_id"])
    with pytest.raises(InvalidArgument, match="unknown field"):
        await tree.update_category(MANAGER, category_id=home.id, name="", parent_id="", paths=["colour"])
    moved = await tree.update_category(MANAGER, category_id="cups", name="Tassen", parent_id="", paths=["*"])
    assert (moved.name, moved.parent_id) == ("Tassen", "")
    assert [c.id for c in await tree.list_categories(VIEWER)] == [home.id, "kitchen", "cups"]
    assert kitchen.parent_id == home.id


async def test_a_category_with_children_or_products_cannot_be_deleted(
    catalog: ProductCatalog, tree: CategoryTree
) -> None:
    await tree.create_category(MANAGER, category_id="home", name="Home", parent_id="")
    await tree.create_category(MANAGER, category_id="kitchen", name="Kitchen", parent_id="home")
    await catalog.create_product(MANAGER, draft("k-1", category_id="kitchen"), reason="")
    await catalog.archive_product(MANAGER, "k-1", reason="")
    with pytest.raises(FailedPrecondition, match="subcategories"):
        await tree.delete_category(MANAGER, "home")
    with pytest.raises(FailedPrecondition, match="still has products"):
        await tree.delete_category(MANAGER, "kitchen")
    await catalog.update_product(MANAGER, ProductDraft(sku="k-1"), ["category_id"], reason="")
    await tree.delete_category(MANAGER, "kitchen")
    await tree.delete_category(MANAGER, "home")
    assert await tree.list_categories(MANAGER) == []
    with pytest.raises(NotFound):
        await tree.delete_category(MANAGER, "home")
