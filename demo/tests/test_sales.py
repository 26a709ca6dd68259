import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from demo.catalog import DemoCatalog, generate_catalog
from demo.sales import (
    CATEGORY_ELASTICITIES,
    DEFAULT_DAYS,
    SKU_ELASTICITY_SD,
    DemoSales,
    SalesLine,
    demand_profiles,
    generate_sales,
    planted_elasticities,
)
from runtime.money import currency_exponent

END = datetime(2025, 6, 1, tzinfo=UTC)
ORDER_ID = re.compile(r"^DEMO-(\d{8})-(\d{6})$")


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return generate_catalog()


@pytest.fixture(scope="module")
def sales(catalog: DemoCatalog) -> DemoSales:
    return generate_sales(catalog, end=END)


@pytest.fixture(scope="module")
def lines(sales: DemoSales) -> list[SalesLine]:
    return list(sales.lines())


def test_the_same_seed_and_end_give_the_same_lines(catalog: DemoCatalog, lines: list[SalesLine]) -> None:
    assert list(generate_sales(catalog, end=END).lines()) == lines


def test_another_seed_gives_other_sales(catalog: DemoCatalog, sales: DemoSales) -> None:
    other = generate_sales(catalog, seed=12, end=END)
    assert not np.array_equal(other.units, sales.units)
    assert planted_elasticities(catalog, seed=12) != planted_elasticities(catalog)


def test_order_ids_are_unique_per_line_and_stable_across_runs(catalog: DemoCatalog, lines: list[SalesLine]) -> None:
    keys = [(line.order_id, line.line_no) for line in lines]
    assert len(set(keys)) == len(keys)
    again = generate_sales(catalog, end=END)
    assert [(line.order_id, line.line_no) for line in again.lines()] == keys


def test_order_ids_name_the_day_and_number_orders_within_it(lines: list[SalesLine]) -> None:
    numbers_by_day: dict[str, set[int]] = defaultdict(set)
    for line in lines:
        match = ORDER_ID.match(line.order_id)
        assert match is not None, line.order_id
        assert match.group(1) == f"{line.ordered_at:%Y%m%d}"
        numbers_by_day[match.group(1)].add(int(match.group(2)))
    for numbers in numbers_by_day.values():
        assert numbers == set(range(1, len(numbers) + 1))


def test_an_order_has_numbered_lines_of_distinct_skus_one_time_and_one_channel(lines: list[SalesLine]) -> None:
    orders: dict[str, list[SalesLine]] = defaultdict(list)
    for line in lines:
        orders[line.order_id].append(line)
    assert len(orders) < len(lines), "some orders should have several lines"
    for order_lines in orders.values():
        assert [line.line_no for line in order_lines] == list(range(1, len(order_lines) + 1))
        assert len({line.sku for line in order_lines}) == len(order_lines)
        assert len({line.ordered_at for line in order_lines}) == 1
        assert len({line.channel for line in order_lines}) == 1


def test_lines_cover_the_days_before_end_in_time_order(sales: DemoSales, lines: list[SalesLine]) -> None:
    times = [line.ordered_at for line in lines]
    assert times == sorted(times)
    assert all(time.tzinfo is UTC for time in times)
    assert min(times) >= END - timedelta(days=DEFAULT_DAYS)
    assert max(times) < END
    assert sales.days[0] == (END - timedelta(days=DEFAULT_DAYS)).date()
    assert sales.days[-1] == (END - timedelta(days=1)).date()
    assert {line.ordered_at.date() for line in lines} == set(sales.days)


def test_end_is_taken_as_its_utc_day(catalog: DemoCatalog) -> None:
    small = DemoCatalog(catalog.categories, catalog.products[:50])
    evening_in_new_york = datetime(2025, 5, 31, 22, 30, tzinfo=timezone(timedelta(hours=-4)))
    # 02:30 UTC on 1 June: the history ends with 31 May.
    assert generate_sales(small, end=evening_in_new_york, days=30).days[-1] == (END - timedelta(days=1)).date()
    afternoon = generate_sales(small, end=END + timedelta(hours=15), days=30)
    assert list(afternoon.lines()) == list(generate_sales(small, end=END, days=30).lines())


def test_bad_arguments_are_refused(catalog: DemoCatalog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_sales(catalog, end=datetime(2025, 6, 1))
    with pytest.raises(ValueError, match="days"):
        generate_sales(catalog, end=END, days=0)


def test_every_sku_of_the_catalog_sells(catalog: DemoCatalog, sales: DemoSales, lines: list[SalesLine]) -> None:
    assert sales.skus == tuple(product.sku for product in catalog.products)
    assert {line.sku for line in lines} == {product.sku for product in catalog.products}


def test_amounts_are_integer_minor_units_in_the_products_currency(catalog: DemoCatalog, lines: list[SalesLine]) -> None:
    by_sku = {product.sku: product for product in catalog.products}
    for line in lines:
        product = by_sku[line.sku]
        assert type(line.unit_price_minor) is int
        assert type(line.quantity) is int
        assert line.currency == product.currency
        assert currency_exponent(line.currency) == 2
        # Promotions and steps move a price by up to 20 %, snapped to a price point, never down to cost.
        assert product.cost_minor < line.unit_price_minor
        assert 0.7 * product.price_minor <= line.unit_price_minor <= 1.3 * product.price_minor
        assert line.channel in ("web", "marketplace")


def test_volumes_are_plausible(sales: DemoSales, lines: list[SalesLine]) -> None:
    assert 100_000 <= len(lines) <= 300_000
    quantities = np.array([line.quantity for line in lines])
    assert quantities.min() >= 1
    assert np.mean(quantities == 1) > 0.8
    channels = [line.channel for line in lines]
    assert 0.2 < channels.count("marketplace") / len(channels) < 0.4
    per_sku_day = sales.units.mean(axis=1)
    assert per_sku_day.max() < 30


def test_lines_add_up_to_the_daily_units_at_the_daily_prices(sales: DemoSales, lines: list[SalesLine]) -> None:
    index_of = {sku: index for index, sku in enumerate(sales.skus)}
    units = np.zeros_like(sales.units)
    for line in lines:
        sku, day = index_of[line.sku], (line.ordered_at.date() - sales.first_day).days
        units[sku, day] += line.quantity
        assert line.unit_price_minor == sales.prices_minor[sku, day]
    assert np.array_equal(units, sales.units)


def test_planted_elasticities_sit_near_their_categories(catalog: DemoCatalog) -> None:
    assert all(-2.8 <= value <= -0.8 for value in CATEGORY_ELASTICITIES.values())
    profiles = demand_profiles(catalog)
    assert [profile.sku for profile in profiles] == [product.sku for product in catalog.products]
    assert {profile.category_id for profile in profiles} == set(CATEGORY_ELASTICITIES)
    for category_id, planted in CATEGORY_ELASTICITIES.items():
        members = np.array([profile.elasticity for profile in profiles if profile.category_id == category_id])
        assert abs(members.mean() - planted) < 4 * SKU_ELASTICITY_SD / np.sqrt(len(members))
        assert np.all(np.abs(members - planted) < 5 * SKU_ELASTICITY_SD)
    assert planted_elasticities(catalog) == {profile.sku: profile.elasticity for profile in profiles}


def test_most_prices_move_a_few_times_and_some_never_do(catalog: DemoCatalog, sales: DemoSales) -> None:
    profiles = demand_profiles(catalog)
    moves = np.count_nonzero(np.diff(sales.prices_minor, axis=1), axis=1)
    fixed = np.array([not profile.price_moves for profile in profiles])
    assert 0.02 < fixed.mean() < 0.1
    assert np.all(moves[fixed] == 0)
    assert np.median(moves[~fixed]) >= 4
    catalog_price = np.array([product.price_minor for product in catalog.products])
    assert np.array_equal(sales.prices_minor[fixed], np.repeat(catalog_price[fixed, None], DEFAULT_DAYS, axis=1))


def test_some_skus_have_thin_data(catalog: DemoCatalog, sales: DemoSales) -> None:
    days_with_sales = np.count_nonzero(sales.units, axis=1)
    assert np.sum(days_with_sales < 20) >= 30
    assert np.median(days_with_sales) > 60


def test_a_sku_sells_more_below_its_catalog_price_than_above_it(catalog: DemoCatalog, sales: DemoSales) -> None:
    catalog_price = np.array([product.price_minor for product in catalog.products])[:, None]
    below, above = sales.prices_minor < catalog_price, sales.prices_minor > catalog_price
    compared = (below.sum(axis=1) >= 10) & (above.sum(axis=1) >= 10) & (sales.units.sum(axis=1) >= 50)
    assert compared.sum() > 300
    ratio = (sales.units * below).sum(axis=1)[compared] / below.sum(axis=1)[compared]
    ratio /= (sales.units * above).sum(axis=1)[compared] / above.sum(axis=1)[compared]
    assert np.median(ratio) > 1.2
