"""What every demo shop has in common: its state in one time bucket, routing, robots.txt, sitemaps and images.

A storefront (one per markup style) decides its URL scheme and writes its pages; the shop (demo.shops.shop)
decides which bucket and layout are current and caches what the storefront wrote.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from demo.shops.assortment import Assortment, ShopCategory, ShopItem
from demo.shops.prices import ShopOffer, offer_at
from demo.shops.specs import ShopSpec
from demo.shops.text import esc

# Layout 1 is the shop as presets expect it; layout 2 is a redesign that breaks them (see each storefront).
LAYOUTS = (1, 2)
RELATED_ITEMS = 3

# ("product", id) | ("listing", slug, page) | ("robots",) | ("sitemap", path) | ("image", id) | ("home",) ...
PageKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    content_type: str
    status: int = 200


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The shop in one time bucket and layout: what is listed and at which price."""

    bucket: int
    layout: int
    # Listed products by id, and per category slug.
    items: tuple[ShopItem, ...]
    by_category: Mapping[str, tuple[ShopItem, ...]]
    offers: Mapping[int, ShopOffer]

    @classmethod
    def build(cls, spec: ShopSpec, assortment: Assortment, bucket: int, age: int, layout: int) -> Snapshot:
        """`age` is how many buckets the shop has been open: products launch after `launch_after` of them."""
        items = tuple(item for item in assortment.items if item.launch_after <= age)
        by_category = {
            category.slug: tuple(item for item in items if item.category == category)
            for category in assortment.categories
        }
        offers = {item.id: offer_at(spec, item, bucket) for item in items}
        return cls(bucket, layout, items, by_category, offers)

    def offer(self, item: ShopItem) -> ShopOffer:
        return self.offers[item.id]

    def is_listed(self, item: ShopItem) -> bool:
        return item.id in self.offers

    def related(self, item: ShopItem) -> list[ShopItem]:
        siblings = self.by_category[item.category.slug]
        if item not in siblings:
            return []
        start = siblings.index(item)
        picked = [siblings[(start + step) % len(siblings)] for step in range(1, RELATED_ITEMS + 1)]
        return [other for other in dict.fromkeys(picked) if other is not item]


class Storefront(ABC):
    """One shop's URL scheme and markup. Subclasses write product and listing pages for each layout."""

    charset = "utf-8"
    cart_path = "/cart"
    account_path = "/account"
    private_path = "/private/deals"

    def __init__(self, spec: ShopSpec, base_url: str, assortment: Assortment) -> None:
        self.spec = spec
        self.base_url = base_url.rstrip("/")
        self.assortment = assortment
        self.categories = {category.slug: category for category in assortment.categories}
        self.items = {item.id: item for item in assortment.items}
        self._product_paths = {self.product_path(item): item for item in assortment.items}
        self._fixed: dict[str, PageKey] = {
            "/": ("home",),
            "/robots.txt": ("robots",),
            self.cart_path: ("cart",),
            self.account_path: ("account",),
            self.private_path: ("private",),
            **{path: ("sitemap", path) for path in self.sitemap_paths()},
        }

    # URL scheme ------------------------------------------------------------------------------------------

    @abstractmethod
    def product_path(self, item: ShopItem) -> str: ...

    @abstractmethod
    def listing_path(self, category: ShopCategory, page: int = 1) -> str: ...

    @abstractmethod
    def parse_listing(self, path: str, query: str) -> tuple[str, int] | None:
        """(category slug, page) for a listing URL; None when the path is not one."""

    def image_path(self, item: ShopItem) -> str:
        return f"/images/{item.id}.svg"

    def url(self, path: str) -> str:
        return self.base_url + path

    def product_url(self, item: ShopItem) -> str:
        return self.url(self.product_path(item))

    def sitemap_paths(self) -> tuple[str, ...]:
        return ("/sitemap.xml",)

    def resolve(self, path: str, query: str) -> PageKey | None:
        """The page a request path and query string name, or None (404). Unknown query parameters are ignored."""
        item = self._product_paths.get(path)
        if item is not None:
            return ("product", item.id)
        fixed = self._fixed.get(path)
        if fixed is not None:
            return fixed
        if path.startswith("/images/") and path.endswith(".svg"):
            number = path[len("/images/") : -len(".svg")]
            if number.isascii() and number.isdigit() and int(number) in self.items:
                return ("image", int(number))
            return None
        listing = self.parse_listing(path, query)
        if listing is not None:
            return ("listing", *listing)
        return self.resolve_extra(path, query)

    def resolve_extra(self, path: str, query: str) -> PageKey | None:
        return None

    # Rendering -------------------------------------------------------------------------------------------

    def render(self, key: PageKey, snapshot: Snapshot) -> Page | None:
        """The page for `key` in this snapshot; None when it does not exist now (404)."""
        kind = key[0]
        if kind == "product":
            item = self.items[int(key[1])]
            return self.html(self.product_page(item, snapshot)) if snapshot.is_listed(item) else None
        if kind == "listing":
            category, page = self.categories.get(str(key[1])), int(key[2])
            if category is None or not 1 <= page <= self.page_count(category, snapshot):
                return None
            return self.html(self.listing_page(category, page, snapshot))
        if kind == "image":
            item = self.items[int(key[1])]
            return Page(self._image(item).encode(), "image/svg+xml") if snapshot.is_listed(item) else None
        if kind == "robots":
            return Page(self.robots_txt().encode(), "text/plain; charset=utf-8")
        if kind == "sitemap":
            return Page(self.sitemap(str(key[1]), snapshot).encode(), "application/xml; charset=utf-8")
        if kind == "home":
            return self.html(self.home_page(snapshot))
        if kind in ("cart", "account", "private"):
            return self.html(self.service_page(kind, snapshot))
        return self.render_extra(key, snapshot)

    def render_extra(self, key: PageKey, snapshot: Snapshot) -> Page | None:
        return None

    def html(self, text: str) -> Page:
        return Page(text.encode(self.charset, "xmlcharrefreplace"), f"text/html; charset={self.charset}")

    def page_count(self, category: ShopCategory, snapshot: Snapshot) -> int:
        return max(1, math.ceil(len(snapshot.by_category[category.slug]) / self.spec.page_size))

    def page_items(self, category: ShopCategory, page: int, snapshot: Snapshot) -> tuple[ShopItem, ...]:
        size = self.spec.page_size
        return snapshot.by_category[category.slug][(page - 1) * size : page * size]

    @abstractmethod
    def product_page(self, item: ShopItem, snapshot: Snapshot) -> str: ...

    @abstractmethod
    def listing_page(self, category: ShopCategory, page: int, snapshot: Snapshot) -> str: ...

    @abstractmethod
    def home_page(self, snapshot: Snapshot) -> str: ...

    @abstractmethod
    def service_page(self, kind: str, snapshot: Snapshot) -> str:
        """The cart, account and private pages robots.txt keeps crawlers out of."""

    def robots_rules(self) -> list[str]:
        return []

    def robots_txt(self) -> str:
        lines = [
            "# Crawlers welcome; please keep out of carts, accounts and staff pages.",
            "User-agent: *",
            f"Disallow: {self.cart_path}",
            f"Disallow: {self.account_path}",
            "Disallow: /private/",
            "Disallow: /__demo/",
            *self.robots_rules(),
            "",
            f"Sitemap: {self.url('/sitemap.xml')}",
            "",
        ]
        return "\n".join(lines)

    def sitemap(self, path: str, snapshot: Snapshot) -> str:
        urls = [self.url(self.listing_path(category)) for category in self.assortment.categories]
        urls += [self.product_url(item) for item in snapshot.items]
        return url_set(urls)

    def _image(self, item: ShopItem) -> str:
        hue = item.id * 47 % 360
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="480" height="480" viewBox="0 0 480 480">'
            f'<rect width="480" height="480" fill="hsl({hue},45%,88%)"/>'
            '<text x="240" y="250" font-family="sans-serif" font-size="28" text-anchor="middle">'
            f"{esc(item.brand)}</text>"
            "</svg>"
        )


def url_set(urls: list[str]) -> str:
    entries = "".join(f"<url><loc>{esc(url)}</loc></url>\n" for url in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n'
    )


def sitemap_index(urls: list[str]) -> str:
    entries = "".join(f"<sitemap><loc>{esc(url)}</loc></sitemap>\n" for url in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</sitemapindex>\n'
    )


def page_param(query: str, name: str) -> int | None:
    """The page number in a query string: 1 when absent, None when not a positive integer (a 404)."""
    if not query:
        return 1
    values = parse_qs(query, keep_blank_values=True).get(name)
    if not values:
        return 1
    value = values[0]
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or int(value) < 1:
        return None
    return int(value)
