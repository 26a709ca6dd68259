"""The demo competitor shops, served for real on free loopback ports and read with httpx and our extraction."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson
import pytest
from lxml import etree
from lxml import html as lxml_html
from protego import Protego

from demo.catalog import DemoCatalog, generate_catalog
from demo.gtin import is_valid_gtin
from demo.shops import (
    SHOPS,
    CompetitorPreset,
    RunningShops,
    Shop,
    ShopItem,
    ShopOffer,
    SourcePreset,
    allow_hosts,
    competitor_presets,
    offer_at,
    running_shops,
    shop_base_urls,
    shops_in_thread,
)
from demo.shops.assortment import build_assortment
from demo.shops.prices import INSTALMENT_MONTHS
from demo.shops.text import euro_code, euro_english, euro_german
from services.scraper.extraction import ExtractionMethod, SourceOptions, extract_offer
from services.scraper.extraction.selectors import compile_selector

REPO = Path(__file__).resolve().parents[2]
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return generate_catalog()


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 9, 5, tzinfo=UTC))


@pytest.fixture(scope="module")
def served(catalog: DemoCatalog, clock: FixedClock) -> Iterator[RunningShops]:
    with shops_in_thread(clock=clock, catalog=catalog) as shops:
        yield shops


@pytest.fixture
def shops(served: RunningShops, clock: FixedClock) -> Iterator[RunningShops]:
    start = clock.now
    for shop in served:
        shop.reset()
    yield served
    clock.now = start
    for shop in served:
        shop.reset()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http


@pytest.fixture(scope="module")
def presets(served: RunningShops) -> dict[str, CompetitorPreset]:
    return {preset.key: preset for preset in served.presets()}


def _options(preset: CompetitorPreset, source: SourcePreset) -> SourceOptions:
    return SourceOptions(
        default_currency=preset.default_currency,
        decimal_separator=source.decimal_separator,
        price_selector=source.price_selector,
        title_selector=source.title_selector,
        availability_selector=source.availability_selector,
    )


def _listing_source(preset: CompetitorPreset) -> SourcePreset:
    return next(source for source in preset.sources if source.kind == "listing")


def _document(response: httpx.Response) -> Any:
    return lxml_html.document_fromstring(response.content, base_url=str(response.url))


# The assortment ----------------------------------------------------------------------------------------


def test_each_shop_sells_a_deterministic_share_of_our_catalog_plus_products_we_do_not_carry(
    catalog: DemoCatalog,
) -> None:
    ours = {product.sku: product for product in catalog.products}
    our_gtins = {product.gtin for product in catalog.products}
    carried_by: dict[str, int] = {}
    for spec in SHOPS:
        assortment = build_assortment(spec, catalog)
        assert assortment == build_assortment(spec, generate_catalog())
        matched = [item for item in assortment.items if item.sku is not None]
        foreign = [item for item in assortment.items if item.sku is None]
        assert 150 <= len(matched) <= 300, spec.key
        assert len(foreign) == spec.extras
        assert sum(1 for item in foreign if item.launch_after > 0) == spec.launches
        for item in matched:
            product = ours[item.sku or ""]
            assert product.status == "active"
            assert item.category.category_id == product.category_id
            assert item.brand == product.brand
            assert item.gtin in (None, product.gtin)
            assert item.mpn in (None, product.mpn)
            carried_by[product.sku] = carried_by.get(product.sku, 0) + 1
        for item in foreign:
            assert item.gtin is None or (is_valid_gtin(item.gtin) and item.gtin not in our_gtins)
        assert len({item.slug for item in assortment.items}) == len(assortment.items)
        assert {category.category_id for category in assortment.categories} <= catalog.leaf_category_ids
    # Enough overlap between shops for the market view to compare several competitors on one sku.
    assert sum(1 for count in carried_by.values() if count >= 2) >= 100


def test_prices_sit_around_ours_with_deliberate_undercuts_and_map_breaches(catalog: DemoCatalog) -> None:
    for spec in SHOPS:
        items = [item for item in build_assortment(spec, catalog).items if item.sku is not None]
        offers = [offer_at(spec, item, 5_000) for item in items]
        ratios = sorted(offer.price_minor / item.base_minor for item, offer in zip(items, offers, strict=True))
        median = ratios[len(ratios) // 2]
        assert abs(median - spec.price_ratio) < 0.06, spec.key
        assert sum(1 for ratio in ratios if ratio < 0.9) >= 5, spec.key
        below_map = [
            item
            for item, offer in zip(items, offers, strict=True)
            if item.map_minor is not None and offer.price_minor < item.map_minor
        ]
        assert below_map, spec.key
        assert 0 < sum(1 for offer in offers if not offer.in_stock) < len(offers) / 3
        assert all(offer.currency == "EUR" for offer in offers)


# Markup ------------------------------------------------------------------------------------------------


def test_json_ld_shop_describes_products_in_json_ld_only(shops: RunningShops, client: httpx.Client) -> None:
    shop = shops["nova"]
    item = next(item for item in shop.listed() if item.gtin and item.mpn)
    response = client.get(shop.product_url(item))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    scripts = _document(response).xpath("//script[@type='application/ld+json']/text()")
    graph = orjson.loads(str(scripts[0]))["@graph"]
    product = next(node for node in graph if node["@type"] == "Product")
    offer = shop.offer(item)
    assert product["name"] == item.title
    assert product["brand"] == {"@type": "Brand", "name": item.brand}
    assert product["mpn"] == item.mpn
    assert item.gtin in {product.get("gtin13"), product.get("gtin"), str(product.get("gtin14", ""))[1:]}
    assert product["sku"] == f"NR-{item.id}"
    assert product["image"][0].endswith(f"/images/{item.id}.svg")
    assert product["offers"]["priceCurrency"] == "EUR"
    assert round(float(product["offers"]["price"]) * 100) == offer.price_minor
    assert product["offers"]["availability"].endswith("InStock" if offer.in_stock else "OutOfStock")
    assert "itemscope" not in response.text
    image = client.get(product["image"][0])
    assert (image.status_code, image.headers["content-type"]) == (200, "image/svg+xml")


def test_microdata_shop_has_no_json_ld_and_some_products_without_gtin(
    shops: RunningShops, client: httpx.Client
) -> None:
    shop = shops["meridian"]
    without_gtin = [item for item in shop.listed() if item.gtin is None]
    assert without_gtin
    assert all(item.mpn for item in without_gtin)
    for item in (without_gtin[0], next(item for item in shop.listed() if item.gtin)):
        response = client.get(shop.product_url(item))
        assert "application/ld+json" not in response.text
        document = _document(response)
        assert document.xpath("//*[@itemtype='https://schema.org/Product']")
        assert document.xpath("//*[@itemprop='price']/@content") == [f"{shop.offer(item).price_minor / 100:.2f}"]
        assert document.xpath("//*[@itemprop='mpn']/text()") == [item.mpn]
        assert document.xpath("//*[@itemprop='gtin13']/text()") == ([item.gtin] if item.gtin else [])


def test_european_shop_is_plain_windows_1252_html_with_german_number_formats(
    shops: RunningShops, client: httpx.Client, catalog: DemoCatalog
) -> None:
    shop = shops["lindner"]
    ours = {product.sku: product for product in catalog.products}
    item = next(item for item in shop.listed() if shop.offer(item).price_minor >= 100_000)
    response = client.get(shop.product_url(item))
    assert response.headers["content-type"] == "text/html; charset=windows-1252"
    text = response.content.decode("cp1252")
    assert '<meta charset="windows-1252">' in text
    for marker in ("application/ld+json", "itemscope", "itemprop", 'property="og:'):
        assert marker not in text
    units, cents = divmod(shop.offer(item).price_minor, 100)
    assert f'<div class="price-now">{units // 1000}.{units % 1000:03d},{cents:02d}\u00a0€</div>' in text
    assert "zzgl. " in text
    # Titles are not ours: shortened, translated, reordered; some pages print no identifiers at all.
    differing = [i for i in shop.listed() if i.sku and i.title != ours[i.sku].title]
    assert len(differing) > len(shop.listed()) * 0.8
    assert any(i.gtin is None and i.mpn is None for i in shop.listed())
    sold_out = next(i for i in shop.listed() if not shop.offer(i).in_stock)
    assert "Ausverkauft" in client.get(shop.product_url(sold_out)).content.decode("cp1252")


def test_javascript_shop_sends_an_empty_shell_and_the_product_as_json(
    shops: RunningShops, client: httpx.Client, presets: dict[str, CompetitorPreset]
) -> None:
    shop = shops["pixel"]
    item = next(item for item in shop.listed() if item.sku)
    offer = shop.offer(item)
    raw = client.get(shop.product_url(item))
    assert raw.status_code == 200
    assert item.title not in raw.text
    assert f"{offer.price_minor / 100:.2f}" not in raw.text
    assert "€" not in raw.text
    assert "application/ld+json" not in raw.text
    assert "itemprop" not in raw.text
    extracted = extract_offer(raw.content, str(raw.url), _options(presets["pixel"], _listing_source(presets["pixel"])))
    assert extracted.price is None
    api = client.get(f"{shop.base_url}/api/product/{item.id}.json")
    assert api.headers["content-type"] == "application/json"
    data = api.json()
    assert (data["title"], data["price"]["amount"], data["in_stock"]) == (
        item.title,
        f"{offer.price_minor / 100:.2f}",
        offer.in_stock,
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
async def test_javascript_shop_renders_in_a_real_browser(presets: dict[str, CompetitorPreset]) -> None:
    from playwright.async_api import async_playwright

    clock = FixedClock(datetime(2026, 3, 2, 9, 5, tzinfo=UTC))
    async with running_shops(keys=["pixel"], clock=clock) as shops, async_playwright() as playwright:
        shop = shops["pixel"]
        source = _listing_source(shops.presets()[0])
        options = _options(shops.presets()[0], source)
        browser = await playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            for item in shop.listed()[:3]:
                await page.goto(shop.product_url(item))
                await page.wait_for_selector(".pdp .pdp-price")
                offer = extract_offer(await page.content(), shop.product_url(item), options)
                assert offer.method is ExtractionMethod.SELECTOR
                assert offer.price is not None
                assert offer.price.amount_minor == shop.offer(item).price_minor
                assert (offer.title, offer.in_stock) == (item.title, shop.offer(item).in_stock)
            shop.set_layout(2)
            item = shop.listed()[0]
            await page.goto(shop.product_url(item))
            await page.wait_for_selector(".product-view .cost")
            offer = extract_offer(await page.content(), shop.product_url(item), options)
            assert offer.price is not None
            assert offer.price.amount_minor == shop.offer(item).instalment_minor
        finally:
            await browser.close()


# Listings, sitemaps, robots.txt ------------------------------------------------------------------------


def _product_links(key: str, document: Any, source: SourcePreset) -> list[str]:
    """Product links as a crawler finds them: the source's selector, else ItemList JSON-LD or Product microdata."""
    if source.product_link_selector:
        return [element.get("href") for element in compile_selector(source.product_link_selector)(document)]
    if key == "nova":
        data = orjson.loads(str(document.xpath("//script[@type='application/ld+json']/text()")[0]))
        return [entry["url"] for entry in data["itemListElement"]]
    return [
        str(href) for href in document.xpath("//*[@itemtype='https://schema.org/Product']/*[@itemprop='url']/@href")
    ]


def _next_page(document: Any, source: SourcePreset) -> str | None:
    if source.next_page_selector:
        found = compile_selector(source.next_page_selector)(document)
    else:
        found = document.xpath("//link[@rel='next'] | //a[@rel='next']")
    return found[0].get("href") if found else None


@pytest.mark.parametrize("key", [spec.key for spec in SHOPS])
def test_following_a_listing_to_its_last_page_finds_every_product_of_the_category(
    key: str, shops: RunningShops, client: httpx.Client, presets: dict[str, CompetitorPreset]
) -> None:
    shop = shops[key]
    category = max(shop.categories, key=lambda category: shop.page_count(category))
    assert shop.page_count(category) >= 2
    source = next(source for source in presets[key].sources if source.category_id == category.category_id)
    url: str | None = source.start_urls[0]
    found: list[str] = []
    pages = 0
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        document = _document(response)
        found += [urljoin(url, link) for link in _product_links(key, document, source)]
        following = _next_page(document, source)
        if following is not None and key in ("nova", "pixel"):
            assert document.xpath("//a[@rel='next']")[0].text.startswith("Next")
        url = urljoin(url, following) if following else None
        pages += 1
    expected = [shop.product_url(item) for item in shop.listed() if item.category == category]
    assert found == expected
    assert pages == shop.page_count(category)
    assert len(found) > shop.spec.page_size
    pattern = re.compile(source.product_url_pattern) if source.product_url_pattern else None
    assert pattern is None or all(pattern.search(link) for link in found)
    beyond = shop.listing_url(category, pages + 1)
    assert client.get(beyond).status_code == 404


@pytest.mark.parametrize("path", ["/c/headphones?page=0", "/c/headphones?page=abc", "/c/nope", "/p/unknown-1", "/x"])
def test_unknown_pages_are_404(path: str, shops: RunningShops, client: httpx.Client) -> None:
    response = client.get(shops["nova"].base_url + path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert int(response.headers["content-length"]) == len(response.content)


def test_european_listing_pages_have_one_address_each(shops: RunningShops, client: httpx.Client) -> None:
    shop = shops["lindner"]
    category = max(shop.categories, key=lambda category: shop.page_count(category))
    base = shop.listing_url(category)
    assert client.get(base + "seite-2/").status_code == 200
    for alias in ("seite-1/", "seite-02/", "seite-x/", "seite-2/extra/"):
        assert client.get(base + alias).status_code == 404, alias


def _sitemap_locations(client: httpx.Client, url: str) -> tuple[str, list[str]]:
    response = client.get(url)
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    root = etree.fromstring(response.content)
    return etree.QName(root).localname, root.xpath("//sm:loc/text()", namespaces=SITEMAP_NS)


@pytest.mark.parametrize("key", [spec.key for spec in SHOPS])
def test_sitemaps_list_every_product(key: str, shops: RunningShops, client: httpx.Client) -> None:
    shop = shops[key]
    kind, locations = _sitemap_locations(client, f"{shop.base_url}/sitemap.xml")
    urls = locations
    if key == "nova":
        assert kind == "sitemapindex"
        assert len(locations) >= 2
        urls = []
        for child in locations:
            child_kind, child_urls = _sitemap_locations(client, child)
            assert child_kind == "urlset"
            urls += child_urls
    else:
        assert kind == "urlset"
    products = {shop.product_url(item) for item in shop.listed()}
    assert products <= set(urls)
    assert all(client.head(url).status_code == 200 for url in sorted(set(urls) - products))


@pytest.mark.parametrize("key", [spec.key for spec in SHOPS])
def test_robots_txt_keeps_crawlers_out_of_carts_accounts_and_private_pages(
    key: str, shops: RunningShops, client: httpx.Client
) -> None:
    shop = shops[key]
    response = client.get(f"{shop.base_url}/robots.txt")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    robots = Protego.parse(response.text)
    agent = "OmniPriceXBot/0.1"
    storefront = shop.storefront
    for path in (storefront.cart_path, storefront.account_path, storefront.private_path):
        assert not robots.can_fetch(shop.base_url + path, agent), path
        # The pages exist, so only obeying robots.txt keeps a crawler out of them.
        assert client.get(shop.base_url + path).status_code == 200
    assert not robots.can_fetch(f"{shop.base_url}/__demo/state", agent)
    item = shop.listed()[0]
    assert robots.can_fetch(shop.product_url(item), agent)
    assert list(robots.sitemaps) == [f"{shop.base_url}/sitemap.xml"]
    if key == "pixel":
        assert robots.can_fetch(f"{shop.base_url}/api/product/{item.id}.json", agent)
        assert not robots.can_fetch(f"{shop.base_url}/api/cart.json", agent)


# Time ------------------------------------------------------------------------------------------------


def test_a_tick_moves_some_prices_and_stock_exactly_as_the_price_function_says(
    shops: RunningShops, client: httpx.Client
) -> None:
    shop = shops["nova"]
    before = {row["url"]: row for row in client.get(f"{shop.base_url}/__demo/truth.json").json()["products"]}
    bucket = shop.bucket
    state = client.post(f"{shop.base_url}/__demo/tick").json()
    assert state["bucket"] == bucket + 1
    after = {row["url"]: row for row in client.get(f"{shop.base_url}/__demo/truth.json").json()["products"]}
    common = [item for item in shop.items if shop.product_url(item) in before]
    changed = {shop.product_url(i) for i in common if before[shop.product_url(i)] != after[shop.product_url(i)]}
    expected = {
        shop.product_url(item) for item in common if shop.offer_at(item, bucket) != shop.offer_at(item, bucket + 1)
    }
    assert changed == expected
    assert 0 < len(changed) < len(common) * 0.4
    # Pages show the new prices.
    item = next(item for item in common if shop.product_url(item) in changed)
    page = extract_offer(client.get(shop.product_url(item)).content, shop.product_url(item))
    assert page.price is not None
    assert page.price.amount_minor == after[shop.product_url(item)]["price_minor"]
    # Over a few more buckets some products go out of stock and others come back.
    went_out = came_back = 0
    for step in range(1, 12):
        for item in common:
            was, now = shop.offer_at(item, bucket + step).in_stock, shop.offer_at(item, bucket + step + 1).in_stock
            went_out += was and not now
            came_back += now and not was
    assert went_out
    assert came_back


def test_the_clock_moves_prices_like_a_tick(shops: RunningShops, clock: FixedClock) -> None:
    shop = shops["meridian"]
    bucket = shop.bucket
    clock.now += timedelta(minutes=10)
    assert shop.bucket == bucket + 1
    assert [shop.offer(item) for item in shop.listed()] == [shop.offer_at(item, bucket + 1) for item in shop.listed()]


def test_products_launch_in_later_buckets(shops: RunningShops, client: httpx.Client) -> None:
    shop = shops["lindner"]
    launching = min((item for item in shop.items if item.launch_after), key=lambda item: item.launch_after)
    assert _not_listed(shop, launching, client)
    shop.tick(launching.launch_after)
    assert client.get(shop.product_url(launching)).status_code == 200
    _, sitemap = _sitemap_locations(client, f"{shop.base_url}/sitemap.xml")
    assert shop.product_url(launching) in sitemap
    assert launching.sku is None


def _not_listed(shop: Shop, item: ShopItem, client: httpx.Client) -> bool:
    return client.get(shop.product_url(item)).status_code == 404 and item not in shop.listed()


# Extraction over every page -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "method"),
    [
        ("nova", ExtractionMethod.JSON_LD),
        ("meridian", ExtractionMethod.MICRODATA),
        ("lindner", ExtractionMethod.SELECTOR),
    ],
)
def test_our_extraction_reads_every_product_page_as_the_shop_means_it(
    key: str,
    method: ExtractionMethod,
    shops: RunningShops,
    client: httpx.Client,
    presets: dict[str, CompetitorPreset],
) -> None:
    shop = shops[key]
    options = _options(presets[key], _listing_source(presets[key]))
    items = shop.listed()
    right_price = right_stock = 0
    for item in items:
        url = shop.product_url(item)
        offer = extract_offer(client.get(url).content, url, options)
        expected = shop.offer(item)
        right_price += offer.price is not None and (offer.price.amount_minor, offer.price.currency) == (
            expected.price_minor,
            expected.currency,
        )
        right_stock += offer.in_stock is expected.in_stock
        assert offer.method is method
        assert offer.title == item.title
        if key != "lindner":
            assert offer.brand == item.brand
            assert offer.mpn == item.mpn
    assert len(items) > 150
    assert right_price >= 0.99 * len(items)
    assert right_stock == len(items)


@pytest.mark.parametrize(
    ("key", "decoy", "decoy_text"),
    [
        ("nova", "//p[@class='price-finance']", lambda offer: euro_english(offer.instalment_minor)),
        ("meridian", "//p[@class='price-teaser']", lambda offer: euro_code(offer.instalment_minor)),
        ("lindner", "//div[@class='preis-hinweis']", lambda offer: euro_german(offer.shipping_minor)),
    ],
)
def test_layout_2_hides_the_price_from_structured_data_and_selectors_behind_a_decoy(
    key: str,
    decoy: str,
    decoy_text: Callable[[ShopOffer], str],
    shops: RunningShops,
    client: httpx.Client,
    presets: dict[str, CompetitorPreset],
) -> None:
    shop = shops[key]
    options = _options(presets[key], _listing_source(presets[key]))
    items = shop.listed()[:25]
    response = client.post(f"{shop.base_url}/__demo/layout", params={"version": "2"})
    assert response.json()["layout"] == 2
    for item in items:
        url = shop.product_url(item)
        page = client.get(url)
        offer = extract_offer(page.content, url, options)
        # Neither structured data nor the operator's selector find a price any more, and whatever generic
        # heuristics make of the page, it is not the price the shop charges.
        assert offer.method in (ExtractionMethod.HEURISTIC, None)
        assert offer.price is None or offer.price.amount_minor != shop.offer(item).price_minor
        # The bait: a price-labelled element with another amount in it (the monthly instalment or shipping).
        assert decoy_text(shop.offer(item)) in _document(page).xpath(decoy)[0].text_content()
    assert client.post(f"{shop.base_url}/__demo/layout", params={"version": "1"}).json()["layout"] == 1
    url = shop.product_url(items[0])
    offer = extract_offer(client.get(url).content, url, options)
    assert offer.price is not None
    assert offer.price.amount_minor == shop.offer(items[0]).price_minor


def test_instalment_is_the_price_spread_over_the_months() -> None:
    spec = SHOPS[0]
    item = build_assortment(spec, generate_catalog()).items[0]
    offer = offer_at(spec, item, 100)
    assert (
        offer.instalment_minor * INSTALMENT_MONTHS
        >= offer.price_minor
        > (offer.instalment_minor - 1) * INSTALMENT_MONTHS
    )


# HTTP and the admin API -------------------------------------------------------------------------------


def test_responses_carry_length_and_etag_and_honour_conditional_and_head_requests(
    shops: RunningShops, client: httpx.Client
) -> None:
    shop = shops["meridian"]
    url = shop.product_url(shop.listed()[0])
    first = client.get(url)
    assert int(first.headers["content-length"]) == len(first.content)
    etag = first.headers["etag"]
    assert client.get(url, headers={"if-none-match": etag}).status_code == 304
    assert client.get(url, headers={"if-none-match": '"other"'}).status_code == 200
    head = client.head(url)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(first.content)))
    refused = client.post(url)
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
    bucket = shop.bucket
    moving = next(
        item
        for item in shop.listed()
        if shop.offer_at(item, bucket).price_minor != shop.offer_at(item, bucket + 1).price_minor
    )
    etag = client.get(shop.product_url(moving)).headers["etag"]
    shop.tick()
    again = client.get(shop.product_url(moving), headers={"if-none-match": etag})
    assert again.status_code == 200
    assert again.headers["etag"] != etag


def test_admin_api_answers_loopback_only_and_refuses_bad_input(shops: RunningShops, client: httpx.Client) -> None:
    shop = shops["nova"]
    refused = shop.respond("POST", "/__demo/tick", "", trusted=False)
    assert refused.status == 403
    assert shop.ticks == 0
    admin = f"{shop.base_url}/__demo"
    assert client.get(f"{admin}/tick").status_code == 405
    assert client.post(f"{admin}/state").status_code == 405
    assert client.post(f"{admin}/nothing").status_code == 404
    for path, params in (
        ("tick", {"count": "0"}),
        ("tick", {"count": "x"}),
        ("layout", {}),
        ("layout", {"version": "3"}),
        ("outage", {"status": "200"}),
    ):
        response = client.post(f"{admin}/{path}", params=params)
        assert response.status_code == 400, (path, params)
        assert response.json()["error"]
    assert (shop.ticks, shop.layout, shop.outage_status) == (0, 1, None)
    assert client.post(f"{admin}/tick", params={"count": "3"}).json()["ticks"] == 3


def test_outages_answer_every_page_or_only_robots_txt_with_an_error(shops: RunningShops, client: httpx.Client) -> None:
    shop = shops["lindner"]
    product = shop.product_url(shop.listed()[0])
    client.post(f"{shop.base_url}/__demo/robots", params={"status": "500"})
    assert client.get(f"{shop.base_url}/robots.txt").status_code == 500
    assert client.get(product).status_code == 200
    client.post(f"{shop.base_url}/__demo/outage", params={"status": "503"})
    assert client.get(product).status_code == 503
    assert client.get(f"{shop.base_url}/robots.txt").status_code == 503
    client.post(f"{shop.base_url}/__demo/reset")
    assert client.get(product).status_code == 200
    assert client.get(f"{shop.base_url}/robots.txt").status_code == 200
    hits = client.get(f"{shop.base_url}/__demo/hits").json()
    assert hits["paths"] == {"/robots.txt": 1, shop.storefront.product_path(shop.listed()[0]): 1}


# Presets -----------------------------------------------------------------------------------------------


def test_presets_describe_every_shop_for_the_seed(catalog: DemoCatalog) -> None:
    urls = shop_base_urls(8701)
    assert list(urls.values()) == [f"http://127.0.0.1:{8701 + index}" for index in range(len(SHOPS))]
    assert allow_hosts(urls) == tuple(f"127.0.0.1:{8701 + index}" for index in range(len(SHOPS)))
    presets = competitor_presets(urls, catalog)
    assert [preset.name for preset in presets] == [spec.name for spec in SHOPS]
    categories = {category.id for category in catalog.categories}
    for preset in presets:
        assert preset.default_currency == "EUR"
        assert preset.website == urls[preset.key] + "/"
        assert preset.allow_host == urls[preset.key].removeprefix("http://")
        names = [source.name for source in preset.sources]
        assert len(names) == len(set(names))
        for source in preset.sources:
            _options(preset, source)
            for selector in (source.product_link_selector, source.next_page_selector):
                if selector:
                    compile_selector(selector)
            if source.product_url_pattern:
                re.compile(source.product_url_pattern)
            assert source.start_urls
            assert all(url.startswith(urls[preset.key] + "/") for url in source.start_urls)
            assert source.schedule_minutes > 0
            assert source.kind == "listing" or source.category_id is None
            assert source.category_id is None or source.category_id in categories
            assert source.render_javascript == (preset.key == "pixel")
        assert sum(1 for source in preset.sources if source.kind == "listing") == len(
            build_assortment(next(spec for spec in SHOPS if spec.key == preset.key), catalog).categories
        )
    assert {source.kind for preset in presets for source in preset.sources} == {"listing", "sitemap", "product_urls"}
    with pytest.raises(ValueError, match="base_port"):
        shop_base_urls(65_534)


# Serving -----------------------------------------------------------------------------------------------


async def test_running_shops_in_process_on_free_ports_and_a_clear_error_for_a_taken_port() -> None:
    clock = FixedClock(datetime(2026, 3, 2, 9, 5, tzinfo=UTC))
    async with running_shops(keys=["meridian", "nova"], clock=clock) as shops, httpx.AsyncClient() as http:
        assert [shop.key for shop in shops] == ["meridian", "nova"]
        ports = {int(url.rsplit(":", 1)[1]) for url in shops.base_urls.values()}
        assert len(ports) == 2
        for shop in shops:
            assert (await http.get(f"{shop.base_url}/robots.txt")).status_code == 200
        assert shops.allow_hosts == tuple(url.removeprefix("http://") for url in shops.base_urls.values())
        taken = min(ports)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{taken}"):
            async with running_shops(base_port=taken, keys=["nova"]):
                pass
    with pytest.raises(ValueError, match="timezone-aware"):
        async with running_shops(keys=["nova"], clock=lambda: datetime(2026, 1, 1)):
            pass


def test_shops_in_thread_reports_a_failed_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="did not start") as raised, shops_in_thread(base_port=port):
            pass
    assert isinstance(raised.value.__cause__, OSError)


def _free_base_port(count: int) -> int:
    for base in range(20_000 + os.getpid() % 20_000, 60_000, 7):
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free ports")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_shops_process_serves_until_a_signal_and_exits_cleanly(stop: signal.Signals) -> None:
    base = _free_base_port(len(SHOPS))
    process = subprocess.Popen(
        [sys.executable, "-m", "demo.shops", "--base-port", str(base)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ready = [httpx.get(f"http://127.0.0.1:{base + index}/robots.txt") for index in range(len(SHOPS))]
                break
            except httpx.TransportError:
                assert process.poll() is None, "the shops process ended"
                assert time.monotonic() < deadline, "the shops did not start"
                time.sleep(0.1)
        assert all(response.status_code == 200 for response in ready)
        process.send_signal(stop)
        assert process.wait(timeout=15) == 0
        assert process.stderr is not None
        log = process.stderr.read().decode()
        assert "demo shops stopped" in log
        assert "Traceback" not in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
