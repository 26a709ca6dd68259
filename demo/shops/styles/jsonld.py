"""Nova Retail: schema.org JSON-LD on every page (Product with Offer; ItemList on listings), English, "€1,299.00".

Layout 2 is a redesign that dropped the JSON-LD and prints the price as bare digits beside an "EUR" label,
while a "price-finance" line shows the monthly instalment with a euro sign: generic heuristics then read
the instalment as the price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from demo.shops.assortment import ShopCategory, ShopItem
from demo.shops.prices import INSTALMENT_MONTHS, ShopOffer, unit
from demo.shops.storefront import Snapshot, Storefront, page_param, sitemap_index, url_set
from demo.shops.text import esc, euro_english, machine_amount

_SCHEMA = "https://schema.org/"
# Share of products whose JSON-LD price is a JSON number rather than a string, and whose GTIN is written as
# a GTIN-14 (leading zero) or under the generic "gtin" key.
_NUMERIC_PRICE_SHARE = 0.2
_GTIN14_SHARE = 0.1
_GTIN_KEY_SHARE = 0.1


def json_script(data: Any) -> str:
    """JSON for a <script> element: "</" cannot close the element early."""
    return orjson.dumps(data).decode().replace("</", "<\\/")


class JsonLdStorefront(Storefront):
    def product_path(self, item: ShopItem) -> str:
        return f"/p/{item.slug}-{item.id}"

    def listing_path(self, category: ShopCategory, page: int = 1) -> str:
        return f"/c/{category.slug}" + (f"?page={page}" if page > 1 else "")

    def parse_listing(self, path: str, query: str) -> tuple[str, int] | None:
        if not path.startswith("/c/"):
            return None
        page = page_param(query, "page")
        return None if page is None else (path[len("/c/") :], page)

    def sitemap_paths(self) -> tuple[str, ...]:
        return ("/sitemap.xml", "/sitemaps/products-1.xml", "/sitemaps/products-2.xml", "/sitemaps/categories.xml")

    def sitemap(self, path: str, snapshot: Snapshot) -> str:
        if path == "/sitemap.xml":
            return sitemap_index([self.url(child) for child in self.sitemap_paths()[1:]])
        if path == "/sitemaps/categories.xml":
            return url_set([self.url(self.listing_path(category)) for category in self.assortment.categories])
        half = (len(snapshot.items) + 1) // 2
        items = snapshot.items[:half] if path.endswith("-1.xml") else snapshot.items[half:]
        return url_set([self.product_url(item) for item in items])

    def robots_rules(self) -> list[str]:
        return ["Disallow: /search"]

    # Pages -----------------------------------------------------------------------------------------------

    def _document(self, title: str, body: str, head: str = "") -> str:
        nav = "".join(
            f'<li><a href="{esc(self.listing_path(category))}">{esc(category.name)}</a></li>'
            for category in self.assortment.categories
        )
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)} | {esc(self.spec.name)}</title>\n{head}</head>\n<body>\n"
            f'<header class="site-header"><a class="logo" href="/">{esc(self.spec.name)}</a>'
            f'<form class="search" action="/search"><input name="q" placeholder="Search"></form>'
            f'<a class="cart-link" href="{self.cart_path}">Cart (0)</a></header>\n'
            f'<nav class="categories"><ul>{nav}</ul></nav>\n{body}\n'
            f'<footer class="site-footer"><a href="{self.account_path}">My account</a> · '
            f'<a href="{self.private_path}">Staff deals</a> · <span>Prices include VAT.</span></footer>\n'
            "</body>\n</html>\n"
        )

    def product_page(self, item: ShopItem, snapshot: Snapshot) -> str:
        offer = snapshot.offer(item)
        url = self.product_url(item)
        listing = self.listing_path(item.category)
        related = "".join(
            f'<li><a href="{esc(self.product_path(other))}">{esc(other.title)}</a> '
            f'<span class="tile-{"price" if snapshot.layout == 1 else "cost"}">'
            f"{euro_english(snapshot.offer(other).price_minor)}</span></li>"
            for other in snapshot.related(item)
        )
        specs = f"<dt>Brand</dt><dd>{esc(item.brand)}</dd>"
        if item.mpn:
            specs += f"<dt>Model</dt><dd>{esc(item.mpn)}</dd>"
        if item.gtin:
            specs += f"<dt>EAN</dt><dd>{esc(item.gtin)}</dd>"
        specs += f"<dt>Item no.</dt><dd>NR-{item.id}</dd>"
        head = f'<link rel="canonical" href="{esc(url)}">\n'
        if snapshot.layout == 1:
            head += f'<script type="application/ld+json">{json_script(self._json_ld(item, offer, url))}</script>\n'
        body = (
            '<main class="product-page">\n'
            '<nav class="breadcrumbs"><a href="/">Home</a> &rsaquo; '
            f'<a href="{esc(listing)}">{esc(item.category.name)}</a>'
            f" &rsaquo; <span>{esc(item.title)}</span></nav>\n"
            f'<div class="product"><div class="gallery"><img src="{esc(self.image_path(item))}" alt="{esc(item.title)}"'
            ' width="480" height="480"></div>\n<div class="details">\n'
            f'<h1 class="product-title">{esc(item.title)}</h1>\n<p class="brand">by {esc(item.brand)}</p>\n'
            f"{self._buy_box(offer, snapshot.layout)}\n"
            f'<dl class="specs">{specs}</dl>\n</div></div>\n'
            f'<section class="related"><h2>Customers also viewed</h2><ul>{related}</ul></section>\n</main>'
        )
        return self._document(item.title, body, head)

    def _buy_box(self, offer: ShopOffer, layout: int) -> str:
        stock = (
            '<p class="stock in-stock">In stock &ndash; ships in 1&ndash;2 days</p>'
            if offer.in_stock
            else '<p class="stock out-of-stock">Out of stock</p><button>Email me when it is back in stock</button>'
        )
        delivery = "Free delivery" if offer.shipping_minor == 0 else f"Delivery {euro_english(offer.shipping_minor)}"
        if layout == 1:
            was = f' <del class="price-was">{euro_english(offer.was_minor)}</del>' if offer.was_minor else ""
            return (
                f'<div class="buy-box"><p class="price"><span class="price-current">{euro_english(offer.price_minor)}'
                f"</span>{was}</p>\n{stock}\n"
                f'<p class="delivery">{delivery}</p><button class="add-to-cart">Add to cart</button></div>'
            )
        units, cents = divmod(offer.price_minor, 100)
        return (
            '<div class="pdp-buy">'
            f'<p class="price-finance">Pay monthly: {euro_english(offer.instalment_minor)} '
            f"&times; {INSTALMENT_MONTHS}</p>\n"
            f'<div class="amount" aria-label="Price"><span class="int">{units:,}</span>'
            f'<span class="dec">.{cents:02d}</span> <span class="cur">EUR</span></div>\n'
            f'{stock}\n<p class="delivery">{delivery}</p><button class="add-to-cart">Add to basket</button></div>'
        )

    def _json_ld(self, item: ShopItem, offer: ShopOffer, url: str) -> dict[str, Any]:
        price: str | float = machine_amount(offer.price_minor)
        if unit(self.spec.key, item.id, "numeric-price") < _NUMERIC_PRICE_SHARE:
            price = float(Decimal(price))
        availability = "InStock" if offer.in_stock else "OutOfStock"
        product: dict[str, Any] = {
            "@type": "Product",
            "@id": f"{url}#product",
            "name": item.title,
            "url": url,
            "sku": f"NR-{item.id}",
            "brand": {"@type": "Brand", "name": item.brand},
            "image": [self.url(self.image_path(item))],
            "category": item.category.name,
        }
        if item.mpn:
            product["mpn"] = item.mpn
        if item.gtin:
            shape = unit(self.spec.key, item.id, "gtin-shape")
            if shape < _GTIN14_SHARE:
                product["gtin14"] = f"0{item.gtin}"
            elif shape < _GTIN14_SHARE + _GTIN_KEY_SHARE:
                product["gtin"] = item.gtin
            else:
                product["gtin13"] = item.gtin
        product["offers"] = {
            "@type": "Offer",
            "url": url,
            "price": price,
            "priceCurrency": offer.currency,
            "availability": f"{_SCHEMA}{availability}",
            "itemCondition": f"{_SCHEMA}NewCondition",
            "seller": {"@type": "Organization", "name": self.spec.name},
            "shippingDetails": {
                "@type": "OfferShippingDetails",
                "shippingRate": {
                    "@type": "MonetaryAmount",
                    "value": machine_amount(offer.shipping_minor),
                    "currency": offer.currency,
                },
            },
        }
        breadcrumbs = {
            "@type": "BreadcrumbList",
            "itemListElement": [
                {"@type": "ListItem", "position": 1, "name": "Home", "item": self.url("/")},
                {
                    "@type": "ListItem",
                    "position": 2,
                    "name": item.category.name,
                    "item": self.url(self.listing_path(item.category)),
                },
            ],
        }
        organisation = {"@type": "Organization", "name": self.spec.name, "url": self.url("/")}
        return {"@context": "https://schema.org", "@graph": [organisation, breadcrumbs, product]}

    def listing_page(self, category: ShopCategory, page: int, snapshot: Snapshot) -> str:
        items = self.page_items(category, page, snapshot)
        pages = self.page_count(category, snapshot)
        cards = "".join(
            f'<li class="product-tile"><a href="{esc(self.product_path(item))}">'
            f'<img src="{esc(self.image_path(item))}" alt="" width="160" height="160">'
            f'<span class="tile-title">{esc(item.title)}</span></a>'
            f'<span class="tile-price">{euro_english(snapshot.offer(item).price_minor)}</span>'
            f"{'' if snapshot.offer(item).in_stock else '<span class=badge>Out of stock</span>'}</li>"
            for item in items
        )
        item_list = {
            "@context": "https://schema.org",
            "@type": "ItemList",
            "name": category.name,
            "itemListElement": [
                {"@type": "ListItem", "position": position, "url": self.product_url(item)}
                for position, item in enumerate(items, start=(page - 1) * self.spec.page_size + 1)
            ],
        }
        head = f'<link rel="canonical" href="{esc(self.url(self.listing_path(category, page)))}">\n'
        head += f'<script type="application/ld+json">{json_script(item_list)}</script>\n'
        pager = []
        if page > 1:
            previous = esc(self.listing_path(category, page - 1))
            head += f'<link rel="prev" href="{previous}">\n'
            pager.append(f'<a class="prev" rel="prev" href="{previous}">Previous</a>')
        pager.append(f'<span class="current">Page {page} of {pages}</span>')
        if page < pages:
            following = esc(self.listing_path(category, page + 1))
            head += f'<link rel="next" href="{following}">\n'
            pager.append(f'<a class="next" rel="next" href="{following}">Next</a>')
        total = len(snapshot.by_category[category.slug])
        body = (
            f'<main class="listing"><h1>{esc(category.name)}</h1><p class="count">{total} products</p>\n'
            f'<ul class="product-grid">{cards}</ul>\n<nav class="pagination">{" ".join(pager)}</nav></main>'
        )
        return self._document(category.name if page == 1 else f"{category.name} &ndash; page {page}", body, head)

    def home_page(self, snapshot: Snapshot) -> str:
        links = "".join(
            f'<li><a href="{esc(self.listing_path(category))}">{esc(category.name)}</a> '
            f"({len(snapshot.by_category[category.slug])})</li>"
            for category in self.assortment.categories
        )
        body = f'<main class="home"><h1>Welcome to {esc(self.spec.name)}</h1><ul class="shop-departments">{links}</ul>'
        body += "</main>"
        return self._document("Electronics and home appliances", body)

    def service_page(self, kind: str, snapshot: Snapshot) -> str:
        if kind == "private":
            first = snapshot.items[0] if snapshot.items else None
            deal = (
                f"<p>{esc(first.title)}: staff price {euro_english(snapshot.offer(first).price_minor // 2)}</p>"
                if first
                else ""
            )
            return self._document("Staff deals", f'<main class="staff"><h1>Staff deals</h1>{deal}</main>')
        title = "Your cart" if kind == "cart" else "Sign in"
        text = "Your cart is empty." if kind == "cart" else "Sign in to see your orders."
        return self._document(title, f"<main><h1>{title}</h1><p>{text}</p></main>")
