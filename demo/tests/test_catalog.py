import hashlib
import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from demo.catalog import DemoCatalog, DemoProduct, generate_catalog
from demo.gtin import is_valid_gtin
from demo.price_points import CENT_ENDINGS
from demo.taxonomy import HOUSE_BRANDS
from runtime.money import Money

REPO = Path(__file__).resolve().parents[2]
# The product service's sku rule (proto Product.sku).
SKU_RULE = re.compile(r"^[A-Za-z0-9\-_.:]{1,64}$")


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return generate_catalog()


def _margin_percent(product: DemoProduct) -> float:
    return 100 * (product.price_minor - product.cost_minor) / product.price_minor


def _products_under(catalog: DemoCatalog, root_id: str) -> list[DemoProduct]:
    return [product for product in catalog.products if catalog.root_id(product.category_id) == root_id]


def test_the_same_seed_gives_the_same_catalog() -> None:
    assert generate_catalog(1200, seed=7) == generate_catalog(1200, seed=7)
    assert generate_catalog(300, seed=1) == generate_catalog(300, seed=1)


def test_another_seed_gives_another_catalog() -> None:
    assert generate_catalog(1200, seed=7).products != generate_catalog(1200, seed=8).products


def test_the_catalog_does_not_depend_on_hash_randomisation() -> None:
    digest = (
        "import hashlib; from demo.catalog import generate_catalog; "
        "print(hashlib.sha256(repr(generate_catalog()).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", digest],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    assert digests == {hashlib.sha256(repr(generate_catalog()).encode()).hexdigest()}


@pytest.mark.parametrize("count", [0, 1, 39, 1000, 1200, 2500])
def test_gives_exactly_the_count_asked_for(count: int) -> None:
    assert len(generate_catalog(count).products) == count


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        generate_catalog(-1)


def test_default_catalog_is_big_and_spread_over_the_whole_tree(catalog: DemoCatalog) -> None:
    assert len(catalog.products) >= 1000
    roots = [category for category in catalog.categories if category.parent_id is None]
    assert len(roots) >= 8
    assert {catalog.root_id(product.category_id) for product in catalog.products} == {root.id for root in roots}
    assert 30 <= len(catalog.leaf_category_ids) <= 40
    assert {product.category_id for product in catalog.products} == catalog.leaf_category_ids


def test_category_tree_has_stable_ids_and_parents_before_children(catalog: DemoCatalog) -> None:
    ids = [category.id for category in catalog.categories]
    assert len(ids) == len(set(ids))
    seen: set[str] = set()
    for category in catalog.categories:
        assert category.parent_id is None or category.parent_id in seen
        assert re.fullmatch(r"cat(-[a-z0-9]+)+", category.id)
        assert category.name
        seen.add(category.id)
    by_id = {category.id: category for category in catalog.categories}
    headphones = by_id["cat-electronics-audio-headphones"]
    assert (headphones.name, headphones.parent_id) == ("Headphones", "cat-electronics-audio")
    assert by_id["cat-electronics-audio"].parent_id == "cat-electronics"
    assert by_id["cat-home-kitchen"].name == "Home & Kitchen"
    assert by_id["cat-electronics-computers-laptops"].parent_id == "cat-electronics-computers"


def test_every_product_sits_in_an_existing_leaf(catalog: DemoCatalog) -> None:
    assert all(product.category_id in catalog.leaf_category_ids for product in catalog.products)


def test_skus_are_unique_ordered_and_safe_for_the_product_service(catalog: DemoCatalog) -> None:
    skus = [product.sku for product in catalog.products]
    assert skus == [f"DEMO-{index:06d}" for index in range(1, len(skus) + 1)]
    assert all(SKU_RULE.fullmatch(sku) for sku in skus)


def test_gtins_are_unique_thirteen_digit_codes_with_valid_check_digits(catalog: DemoCatalog) -> None:
    gtins = [product.gtin for product in catalog.products]
    assert len(set(gtins)) == len(gtins)
    assert all(len(gtin) == 13 and is_valid_gtin(gtin) for gtin in gtins)


def test_manufacturer_part_numbers_are_unique_per_brand(catalog: DemoCatalog) -> None:
    pairs = [(product.brand, product.mpn) for product in catalog.products]
    assert len(set(pairs)) == len(pairs)
    assert all(re.fullmatch(r"[A-Z]{2,3}\d{4,}(-\d{2,})?", mpn) for _, mpn in pairs)


def test_titles_are_unique_and_start_with_the_brand(catalog: DemoCatalog) -> None:
    titles = [product.title for product in catalog.products]
    assert len(set(titles)) == len(titles)
    assert all(product.title.startswith(product.brand + " ") for product in catalog.products)


def test_money_is_integer_minor_units_in_euros(catalog: DemoCatalog) -> None:
    for product in catalog.products:
        assert product.currency == "EUR"
        assert type(product.cost_minor) is int
        assert type(product.price_minor) is int
        assert product.map_minor is None or type(product.map_minor) is int
        assert type(product.stock) is int
        assert product.price == Money(product.price_minor, "EUR")
        assert product.cost == Money(product.cost_minor, "EUR")
        assert product.map_price == (None if product.map_minor is None else Money(product.map_minor, "EUR"))


def test_cost_is_positive_and_below_the_price(catalog: DemoCatalog) -> None:
    assert all(0 < product.cost_minor < product.price_minor for product in catalog.products)


def test_prices_end_like_retail_prices(catalog: DemoCatalog) -> None:
    endings = Counter(product.price_minor % 100 for product in catalog.products)
    assert set(endings) <= set(CENT_ENDINGS)
    assert endings.most_common(1)[0][0] == 99


def test_minimum_advertised_price_sits_between_cost_and_price(catalog: DemoCatalog) -> None:
    with_map = [product for product in catalog.products if product.map_minor is not None]
    assert with_map
    for product in with_map:
        assert product.map_minor is not None
        assert product.cost_minor <= product.map_minor <= product.price_minor
    assert any(product.map_minor is not None and product.map_minor < product.price_minor for product in with_map)


def test_about_a_fifth_of_branded_items_have_a_minimum_advertised_price(catalog: DemoCatalog) -> None:
    branded = [product for product in catalog.products if product.brand not in HOUSE_BRANDS]
    house = [product for product in catalog.products if product.brand in HOUSE_BRANDS]
    share = sum(product.map_minor is not None for product in branded) / len(branded)
    assert 0.12 <= share <= 0.28
    assert house
    assert all(product.map_minor is None for product in house)


def test_margins_are_plausible_per_category(catalog: DemoCatalog) -> None:
    margins = [_margin_percent(product) for product in catalog.products]
    assert all(5 <= margin <= 70 for margin in margins)
    electronics = [_margin_percent(product) for product in _products_under(catalog, "cat-electronics")]
    fashion = [_margin_percent(product) for product in _products_under(catalog, "cat-fashion")]
    # One cent of rounding on the cheapest items moves a margin by a fraction of a point.
    assert all(10 <= margin <= 25.5 for margin in electronics)
    assert all(40 <= margin <= 60.5 for margin in fashion)
    assert statistics.median(electronics) + 20 < statistics.median(fashion)


def test_prices_fit_their_categories(catalog: DemoCatalog) -> None:
    def median_price(leaf_id: str) -> int:
        return statistics.median_low(p.price_minor for p in catalog.products if p.category_id == leaf_id)

    assert median_price("cat-electronics-computers-laptops") > 50_000
    assert median_price("cat-electronics-tv-video-televisions") > median_price("cat-electronics-audio-headphones")
    assert median_price("cat-beauty-personal-care-skincare-face-creams") < 5_000


def test_variant_prices_rise_with_capacity(catalog: DemoCatalog) -> None:
    by_model: dict[str, dict[str, int]] = {}
    for product in catalog.products:
        if product.category_id == "cat-electronics-computers-external-storage":
            model = product.mpn.split("-")[0]
            by_model.setdefault(model, {})[product.attributes["capacity"]] = product.price_minor
    order = ["500 GB", "1 TB", "2 TB", "4 TB"]
    compared = 0
    for prices in by_model.values():
        offered = [prices[capacity] for capacity in order if capacity in prices]
        assert offered == sorted(offered)
        compared += len(offered) > 1
    assert compared > 0


def test_attributes_describe_the_variants(catalog: DemoCatalog) -> None:
    for product in catalog.products:
        assert all(type(key) is str and type(value) is str and value for key, value in product.attributes.items())
    shoes = [p for p in catalog.products if p.category_id == "cat-sports-outdoors-running-running-shoes"]
    assert all(p.attributes["size"].startswith("EU ") and "colour" in p.attributes for p in shoes)
    assert all(p.title.endswith(p.attributes["size"]) for p in shoes)
    phones = [p for p in catalog.products if p.category_id == "cat-electronics-phones-tablets-smartphones"]
    assert all({"capacity", "colour"} <= p.attributes.keys() for p in phones)
    pans = [p for p in catalog.products if p.category_id == "cat-home-kitchen-cookware-frying-pans"]
    assert all("material" in p.attributes for p in pans)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_invariants_hold_for_other_seeds(seed: int) -> None:
    catalog = generate_catalog(1500, seed=seed)
    assert len({product.gtin for product in catalog.products}) == 1500
    assert len({product.title for product in catalog.products}) == 1500
    for product in catalog.products:
        assert is_valid_gtin(product.gtin)
        assert product.category_id in catalog.leaf_category_ids
        assert 0 < product.cost_minor < product.price_minor
        assert product.map_minor is None or product.cost_minor <= product.map_minor <= product.price_minor
        assert 5 <= _margin_percent(product) <= 70
        assert product.price_minor % 100 in CENT_ENDINGS


def test_mostly_active_with_a_few_drafts_and_some_sold_out(catalog: DemoCatalog) -> None:
    statuses = Counter(product.status for product in catalog.products)
    assert set(statuses) == {"active", "draft"}
    assert 0 < statuses["draft"] < len(catalog.products) * 0.1
    sold_out = sum(product.stock == 0 for product in catalog.products)
    assert 0 < sold_out < len(catalog.products) * 0.2
    assert all(product.stock >= 0 for product in catalog.products)
