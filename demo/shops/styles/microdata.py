"""Meridian Goods: schema.org microdata only (itemscope/itemprop, no JSON-LD), English, "EUR 1,299.00".

Some products print no GTIN, only brand and MPN. Listing cards are Product microdata with an itemprop
url; the next page is an <a rel="next">. Layout 2 keeps the Product's name and brand but drops its Offer,
prints the price as bare digits, and puts the monthly instalment in a "price-teaser" line that generic
heuristics take for the price.
"""

from __future__ import annotations

from demo.shops.assortment import ShopCategory, ShopItem
from demo.shops.prices import ShopOffer, unit
from demo.shops.storefront import Snapshot, Storefront, page_param
from demo.shops.text import esc, euro_code, machine_amount

_PRODUCT = 'itemscope itemtype="https://schema.org/Product"'
_OFFER = 'itemprop="offers" itemscope itemtype="https://schema.org/Offer"'
_SCHEMA = "https://schema.org/"
# Share of products whose brand is a plain itemprop text rather than a nested Brand item.
_PLAIN_BRAND_SHARE = 0.3


class MicrodataStorefront(Storefront):
    def product_path(self, item: ShopItem) -> str:
        return f"/products/{item.slug}"

    def listing_path(self, category: ShopCategory, page: int = 1) -> str:
        return f"/collections/{category.slug}" + (f"?p={page}" if page > 1 else "")

    def parse_listing(self, path: str, query: str) -> tuple[str, int] | None:
        if not path.startswith("/collections/"):
            return None
        page = page_param(query, "p")
        return None if page is None else (path[len("/collections/") :], page)

    def robots_rules(self) -> list[str]:
        return ["Disallow: /checkout", "", "User-agent: BadBot", "Disallow: /"]

    def _document(self, title: str, body: str) -> str:
        nav = " ".join(
            f'<a href="{esc(self.listing_path(category))}">{esc(category.name)}</a>'
            for category in self.assortment.categories
        )
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{esc(title)} — {esc(self.spec.name)}</title>\n</head>\n<body>\n"
            f'<div class="announcement">Standard shipping EUR 3.95 · free over EUR 100</div>\n'
            f'<header><a class="brand-logo" href="/">{esc(self.spec.name)}</a> <nav class="menu">{nav}</nav> '
            f'<a href="{self.cart_path}">Bag</a></header>\n{body}\n'
            f'<footer><a href="{self.account_path}">Account</a> <a href="{self.private_path}">Team</a></footer>\n'
            "</body>\n</html>\n"
        )

    def product_page(self, item: ShopItem, snapshot: Snapshot) -> str:
        offer = snapshot.offer(item)
        url = self.product_url(item)
        if unit(self.spec.key, item.id, "plain-brand") < _PLAIN_BRAND_SHARE:
            brand = f'<span itemprop="brand">{esc(item.brand)}</span>'
        else:
            brand = (
                '<span itemprop="brand" itemscope itemtype="https://schema.org/Brand">'
                f'<span itemprop="name">{esc(item.brand)}</span></span>'
            )
        codes = []
        if item.mpn:
            codes.append(f'MPN <span itemprop="mpn">{esc(item.mpn)}</span>')
        if item.gtin:
            codes.append(f'GTIN <span itemprop="gtin13">{esc(item.gtin)}</span>')
        codes.append(f'SKU <span itemprop="sku">MG-{item.id}</span>')
        related = "".join(
            f'<li><a href="{esc(self.product_path(other))}">{esc(other.title)}</a></li>'
            for other in snapshot.related(item)
        )
        body = (
            f'<main>\n<article class="product" {_PRODUCT}>\n<link itemprop="url" href="{esc(url)}">\n'
            f'<h1 itemprop="name">{esc(item.title)}</h1>\n'
            f'<img itemprop="image" src="{esc(self.image_path(item))}" alt="" width="400" height="400">\n'
            f'<p class="vendor">Brand: {brand}</p>\n'
            f'<p class="codes">{" · ".join(codes)}</p>\n'
            f"{self._offer(item, offer, url) if snapshot.layout == 1 else self._offer_v2(offer)}\n"
            f'<div class="description" itemprop="description">{esc(item.title)} from {esc(item.brand)}, '
            f"in our {esc(item.category.name)} collection.</div>\n</article>\n"
            f'<aside class="also"><h2>You may also like</h2><ul>{related}</ul></aside>\n</main>'
        )
        return self._document(item.title, body)

    def _stock(self, offer: ShopOffer) -> str:
        return (
            '<span class="availability">In stock</span>'
            if offer.in_stock
            else '<span class="availability sold-out">Out of stock</span>'
        )

    def _offer(self, item: ShopItem, offer: ShopOffer, url: str) -> str:
        was = f'<s class="compare-at">{euro_code(offer.was_minor)}</s> ' if offer.was_minor else ""
        availability = "InStock" if offer.in_stock else "OutOfStock"
        return (
            f'<div class="offer" {_OFFER}>\n<meta itemprop="priceCurrency" content="{offer.currency}">\n'
            f'{was}<span class="price" itemprop="price" content="{machine_amount(offer.price_minor)}">'
            f"{euro_code(offer.price_minor)}</span>\n"
            f'<link itemprop="availability" href="{_SCHEMA}{availability}">{self._stock(offer)}\n'
            f'<link itemprop="itemCondition" href="{_SCHEMA}NewCondition">\n</div>'
        )

    def _offer_v2(self, offer: ShopOffer) -> str:
        units, cents = divmod(offer.price_minor, 100)
        return (
            '<div class="buy-panel">\n'
            f'<p class="price-teaser">Spread the cost: {euro_code(offer.instalment_minor)} a month</p>\n'
            f'<div class="cost"><b>{units:,}</b><sup>.{cents:02d}</sup> <abbr title="Euro">EUR</abbr></div>\n'
            f"{self._stock(offer)}\n</div>"
        )

    def listing_page(self, category: ShopCategory, page: int, snapshot: Snapshot) -> str:
        pages = self.page_count(category, snapshot)
        cards = []
        for item in self.page_items(category, page, snapshot):
            offer = snapshot.offer(item)
            availability = "InStock" if offer.in_stock else "OutOfStock"
            cards.append(
                f'<li class="card" {_PRODUCT}><a itemprop="url" href="{esc(self.product_path(item))}">'
                f'<span itemprop="name">{esc(item.title)}</span></a>'
                f'<div {_OFFER}><meta itemprop="priceCurrency" content="{offer.currency}">'
                f'<span itemprop="price" content="{machine_amount(offer.price_minor)}">'
                f"{euro_code(offer.price_minor)}</span>"
                f'<link itemprop="availability" href="{_SCHEMA}{availability}"></div></li>'
            )
        pager = []
        if page > 1:
            pager.append(f'<a rel="prev" href="{esc(self.listing_path(category, page - 1))}">Previous</a>')
        pager.append(f"<span>{page} / {pages}</span>")
        if page < pages:
            pager.append(f'<a rel="next" class="next" href="{esc(self.listing_path(category, page + 1))}">Next</a>')
        body = (
            f'<main class="collection"><h1>{esc(category.name)}</h1>\n<ul class="product-grid">{"".join(cards)}</ul>\n'
            f'<nav class="pagination">{" ".join(pager)}</nav></main>'
        )
        return self._document(category.name, body)

    def home_page(self, snapshot: Snapshot) -> str:
        links = "".join(
            f'<li><a href="{esc(self.listing_path(category))}">{esc(category.name)}</a></li>'
            for category in self.assortment.categories
        )
        body = f'<main><h1>{esc(self.spec.name)}</h1><ul class="collections">{links}</ul></main>'
        return self._document("Home", body)

    def service_page(self, kind: str, snapshot: Snapshot) -> str:
        title = {"cart": "Your bag", "account": "Account", "private": "Team area"}[kind]
        return self._document(title, f"<main><h1>{title}</h1><p>Please sign in.</p></main>")
