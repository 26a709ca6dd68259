"""Competitors and crawl sources for the demo shops, as the seed creates them; a function of the shops' URLs.

Every shop gets one listing source per category it carries (so "new product in a watched category"
alerts know the category), plus a sitemap source where the shop has a sitemap worth crawling and, for the
JavaScript shop, a short list of watched product URLs. Selectors are only set where the shop needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from demo.catalog import DemoCatalog, generate_catalog
from demo.shops.assortment import build_assortment
from demo.shops.specs import SHOPS, ShopStyle, shop_spec
from demo.shops.storefront import Storefront
from demo.shops.styles import STOREFRONTS

SourceKind = Literal["listing", "sitemap", "product_urls"]

LISTING_SCHEDULE_MINUTES = 30
SITEMAP_SCHEDULE_MINUTES = 120
RENDERED_SCHEDULE_MINUTES = 60
WATCHED_SCHEDULE_MINUTES = 15
WATCHED_PRODUCTS = 12


@dataclass(frozen=True, slots=True)
class SourcePreset:
    name: str
    kind: SourceKind
    start_urls: tuple[str, ...]
    schedule_minutes: int
    # Our category the listing stands for; None for sitemaps and URL lists.
    category_id: str | None = None
    # Listings: CSS selectors for product links and the next page; None means structured data and rel="next".
    product_link_selector: str | None = None
    next_page_selector: str | None = None
    # Listings and sitemaps: a regular expression product page URLs match (re.search).
    product_url_pattern: str | None = None
    # services.scraper.extraction.SourceOptions fields (default_currency is the competitor's).
    price_selector: str | None = None
    title_selector: str | None = None
    availability_selector: str | None = None
    decimal_separator: str | None = None
    render_javascript: bool = False


@dataclass(frozen=True, slots=True)
class CompetitorPreset:
    key: str
    name: str
    website: str
    default_currency: str
    sources: tuple[SourcePreset, ...]

    @property
    def allow_host(self) -> str:
        """The "host:port" entry the fetch allow-list needs for this shop."""
        return _host_port(self.website)


def shop_base_urls(base_port: int, host: str = "127.0.0.1") -> dict[str, str]:
    """Where `python -m demo.shops --base-port N` serves each shop: shop i of SHOPS on port N + i."""
    if not 1 <= base_port <= 65_536 - len(SHOPS):
        raise ValueError(f"base_port must be 1-{65_536 - len(SHOPS)}, got {base_port}")
    netloc = f"[{host}]" if ":" in host else host
    return {spec.key: f"http://{netloc}:{base_port + index}" for index, spec in enumerate(SHOPS)}


def allow_hosts(base_urls: Mapping[str, str]) -> tuple[str, ...]:
    """The "host:port" entries (OMNIPRICEX_FETCH_ALLOW_HOSTS) that let a crawler reach these shops."""
    return tuple(_host_port(url) for url in base_urls.values())


def competitor_presets(
    base_urls: Mapping[str, str], catalog: DemoCatalog | None = None
) -> tuple[CompetitorPreset, ...]:
    """One competitor per shop in `base_urls` (key -> base URL), in SHOPS order."""
    catalog = catalog if catalog is not None else generate_catalog()
    presets = []
    for key, base_url in base_urls.items():
        spec = shop_spec(key)
        storefront = STOREFRONTS[spec.style](spec, base_url, build_assortment(spec, catalog))
        presets.append(
            CompetitorPreset(
                key=spec.key,
                name=spec.name,
                website=storefront.url("/"),
                default_currency=spec.currency,
                sources=_SOURCES[spec.style](storefront),
            )
        )
    order = [spec.key for spec in SHOPS]
    return tuple(sorted(presets, key=lambda preset: order.index(preset.key)))


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def _listings(storefront: Storefront, template: SourcePreset) -> list[SourcePreset]:
    """One listing source per category the shop carries, each a copy of `template`."""
    return [
        replace(
            template,
            name=category.name,
            start_urls=(storefront.url(storefront.listing_path(category)),),
            category_id=category.category_id,
        )
        for category in storefront.assortment.categories
    ]


def _listing(**options: Any) -> SourcePreset:
    return SourcePreset(name="", kind="listing", start_urls=(), schedule_minutes=LISTING_SCHEDULE_MINUTES, **options)


def _sitemap(storefront: Storefront, product_url_pattern: str) -> SourcePreset:
    return SourcePreset(
        name="All products (sitemap)",
        kind="sitemap",
        start_urls=(storefront.url("/sitemap.xml"),),
        schedule_minutes=SITEMAP_SCHEDULE_MINUTES,
        product_url_pattern=product_url_pattern,
    )


def _json_ld(storefront: Storefront) -> tuple[SourcePreset, ...]:
    # Listings: product links from the ItemList JSON-LD, next pages from rel="next".
    return (*_listings(storefront, _listing()), _sitemap(storefront, r"/p/[a-z0-9-]+-\d+$"))


def _microdata(storefront: Storefront) -> tuple[SourcePreset, ...]:
    # Listings: product links from the cards' Product microdata, next pages from <a rel="next">.
    return (*_listings(storefront, _listing()), _sitemap(storefront, r"/products/[a-z0-9-]+$"))


def _european(storefront: Storefront) -> tuple[SourcePreset, ...]:
    template = _listing(
        product_link_selector="ul.artikel-liste a.artikel-link",
        next_page_selector="div.blaettern a.seite-weiter",
        product_url_pattern=r"/artikel/\d+/[a-z0-9-]+\.html$",
        price_selector=".product-detail .price-now",
        title_selector=".product-detail h1",
        availability_selector=".product-detail .lieferstatus",
        decimal_separator=",",
    )
    return tuple(_listings(storefront, template))


def _javascript(storefront: Storefront) -> tuple[SourcePreset, ...]:
    template = _listing(
        product_link_selector="li.product-card a.product-link",
        product_url_pattern=r"/product/\d+$",
        price_selector=".pdp .pdp-price",
        title_selector=".pdp h1",
        availability_selector=".pdp .pdp-stock",
        render_javascript=True,
    )
    listings = _listings(storefront, replace(template, schedule_minutes=RENDERED_SCHEDULE_MINUTES))
    launched = [item for item in storefront.assortment.items if item.launch_after == 0]
    watched = replace(
        template,
        name="Watched products",
        kind="product_urls",
        start_urls=tuple(storefront.product_url(item) for item in launched[:WATCHED_PRODUCTS]),
        schedule_minutes=WATCHED_SCHEDULE_MINUTES,
        product_link_selector=None,
        product_url_pattern=None,
    )
    return (*listings, watched)


_SOURCES: dict[ShopStyle, Callable[[Storefront], tuple[SourcePreset, ...]]] = {
    "json_ld": _json_ld,
    "microdata": _microdata,
    "european": _european,
    "javascript": _javascript,
}
