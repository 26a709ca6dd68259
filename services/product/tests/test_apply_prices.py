"""Batch reads and conditional price changes: what a pricing service needs from the catalog."""

from __future__ import annotations

import pytest

from runtime.auth import Role
from runtime.errors import InvalidArgument, PermissionDenied
from runtime.money import Money
from services.product.domain import MoneyInput, PriceChangeInput, ProductStatus
from services.product.tests.support import ORG_B, draft, eur, principal
from services.product.use_cases import MAX_PRICE_CHANGES, CategoryTree, ProductCatalog

MANAGER = principal(subject="usr_manager")
VIEWER = principal(Role.VIEWER)
ANALYST = principal(Role.ANALYST)
OTHER_ORG = principal(organization_id=ORG_B)


def change(sku: str, expected: int, new: int, reason: str = "run r1") -> PriceChangeInput:
    return PriceChangeInput(sku=sku, expected_price=eur(expected), new_price=eur(new), reason=reason)


@pytest.fixture
async def three(catalog: ProductCatalog) -> None:
    await catalog.bulk_upsert(MANAGER, [draft(f"p-{n}", price=eur(1000 * n)) for n in (1, 2, 3)], reason="seed")


async def test_batch_get_keeps_request_order_and_leaves_out_unknown(catalog: ProductCatalog, three: None) -> None:
    products = await catalog.batch_get(VIEWER, ["p-3", "nope", "p-1"])
    assert [p.sku for p in products] == ["p-3", "p-1"]
    assert await catalog.batch_get(OTHER_ORG, ["p-1"]) == []


async def test_batch_get_refuses_more_than_a_thousand_and_bad_skus(catalog: ProductCatalog) -> None:
    with pytest.raises(InvalidArgument, match="at most 1,000"):
        await catalog.batch_get(VIEWER, [f"s{n}" for n in range(1001)])
    with pytest.raises(InvalidArgument):
        await catalog.batch_get(VIEWER, ["bad sku!"])


async def test_apply_sets_prices_with_one_event_each_and_its_own_reason(catalog: ProductCatalog, three: None) -> None:
    result = await catalog.apply_prices(
        MANAGER, [change("p-1", 1000, 950, "rec a"), change("p-2", 2000, 2100, "rec b")]
    )
    assert result.applied_skus == ["p-1", "p-2"]
    assert result.refused == []
    assert (await catalog.get_product(VIEWER, "p-1")).price == Money(950, "EUR")
    events = (await catalog.list_price_events(VIEWER, sku="p-2", page_size_requested=10, page_token="")).items
    assert (events[0].new_price, events[0].reason, events[0].actor_id, events[0].source) == (
        Money(2100, "EUR"),
        "rec b",
        "usr_manager",
        "ApplyPrices",
    )


async def test_a_moved_price_is_refused_and_the_rest_applied(catalog: ProductCatalog, three: None) -> None:
    result = await catalog.apply_prices(MANAGER, [change("p-1", 999, 950), change("p-3", 3000, 2900)])
    assert result.applied_skus == ["p-3"]
    [refusal] = result.refused
    assert refusal.sku == "p-1"
    assert refusal.current_price == Money(1000, "EUR")
    assert "moved" in refusal.message
    assert (await catalog.get_product(VIEWER, "p-1")).price == Money(1000, "EUR")


async def test_applying_again_changes_nothing(catalog: ProductCatalog, three: None) -> None:
    await catalog.apply_prices(MANAGER, [change("p-1", 1000, 950)])
    again = await catalog.apply_prices(MANAGER, [change("p-1", 1000, 950)])
    assert again.applied_skus == ["p-1"]
    events = (await catalog.list_price_events(VIEWER, sku="p-1", page_size_requested=10, page_token="")).items
    assert len(events) == 2  # the creation and one change


async def test_unknown_archived_and_other_org_products_are_refused(catalog: ProductCatalog, three: None) -> None:
    await catalog.archive_product(MANAGER, "p-2", reason="")
    result = await catalog.apply_prices(MANAGER, [change("ghost", 1, 2), change("p-2", 2000, 1900)])
    assert [r.sku for r in result.refused] == ["ghost", "p-2"]
    assert result.refused[0].current_price is None
    other = await catalog.apply_prices(OTHER_ORG, [change("p-1", 1000, 1)])
    assert other.applied_skus == []
    assert "does not exist" in other.refused[0].message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ([change("p-1", 1000, 0)], "greater than zero"),
        ([change("p-1", 1000, -5)], "negative"),
        ([PriceChangeInput("p-1", eur(1000), MoneyInput(900, "USD"), "")], "USD"),
        ([PriceChangeInput("p-1", eur(1000), MoneyInput(900, "XYZ"), "")], "unknown currency"),
        ([change("p-1", 1000, 900), change("p-1", 1000, 800)], "more than once"),
        ([change("bad sku", 1, 2)], "sku"),
        ([change(f"s{n}", 1, 2) for n in range(MAX_PRICE_CHANGES + 1)], "at most 1,000"),
    ],
)
async def test_bad_changes_are_refused_whole(
    catalog: ProductCatalog, three: None, changes: list[PriceChangeInput], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await catalog.apply_prices(MANAGER, changes)
    assert (await catalog.get_product(VIEWER, "p-1")).price == Money(1000, "EUR")


@pytest.mark.parametrize("who", [VIEWER, ANALYST])
async def test_applying_needs_a_pricing_manager(catalog: ProductCatalog, three: None, who: object) -> None:
    with pytest.raises(PermissionDenied):
        await catalog.apply_prices(who, [change("p-1", 1000, 900)])  # type: ignore[arg-type]


async def test_pricing_inputs_page_through_active_products_of_a_category(
    catalog: ProductCatalog, tree: CategoryTree
) -> None:
    await tree.create_category(MANAGER, category_id="home", name="Home", parent_id="")
    await tree.create_category(MANAGER, category_id="mugs", name="Mugs", parent_id="home")
    await catalog.bulk_upsert(
        MANAGER,
        [
            draft("a-1", category_id="mugs", map_price=eur(900), price=eur(1000)),
            draft("a-2", category_id="home", cost=None),
            draft("a-3", category_id="", status=ProductStatus.DRAFT),
            draft("a-4", category_id=""),
        ],
        reason="seed",
    )
    first = await catalog.pricing_inputs(VIEWER, category_id="", page_size_requested=2, page_token="")
    assert [row.sku for row in first.items] == ["a-1", "a-2"]
    assert (first.items[0].map_minor, first.items[0].price_minor, first.items[1].cost_minor) == (900, 1000, None)
    rest = await catalog.pricing_inputs(VIEWER, category_id="", page_size_requested=2, page_token=first.next_page_token)
    assert [row.sku for row in rest.items] == ["a-4"]
    assert rest.next_page_token == ""
    home = await catalog.pricing_inputs(VIEWER, category_id="home", page_size_requested=0, page_token="")
    assert [row.sku for row in home.items] == ["a-1", "a-2"]
    with pytest.raises(InvalidArgument, match="different category"):
        await catalog.pricing_inputs(
            VIEWER, category_id="home", page_size_requested=2, page_token=first.next_page_token
        )
    with pytest.raises(InvalidArgument, match="does not exist"):
        await catalog.pricing_inputs(VIEWER, category_id="nope", page_size_requested=2, page_token="")
