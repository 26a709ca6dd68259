"""Pixel Bazaar: product pages are an empty shell; an inline script fetches /api/product/<id>.json and builds
the page. The raw HTML holds no title, price or stock; only a browser (scrapy-playwright) sees them.

Listings are plain server-rendered HTML (links only, no prices) with rel="next". Layout 2 changes both the
API's shape and the script: the old selectors find nothing and a "price-plan" line with the monthly
instalment is the only euro amount on the rendered page.
"""

from __future__ import annotations

from typing import Any

import orjson

from demo.shops.assortment import ShopCategory, ShopItem
from demo.shops.prices import INSTALMENT_MONTHS, ShopOffer
from demo.shops.storefront import Page, PageKey, Snapshot, Storefront, page_param
from demo.shops.text import esc, euro_english, machine_amount

_SCRIPT_V1 = """
(function () {
  "use strict";
  var app = document.getElementById("app");
  function node(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }
  fetch("/api/product/" + app.getAttribute("data-product-id") + ".json", {headers: {"Accept": "application/json"}})
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (product) {
      var box = node("div", "pdp");
      box.appendChild(node("h1", "pdp-title", product.title));
      box.appendChild(node("p", "pdp-brand", product.brand));
      var price = node("div", "pdp-price", product.price.display);
      price.setAttribute("data-testid", "price");
      box.appendChild(price);
      if (product.was) box.appendChild(node("s", "pdp-was", product.was.display));
      box.appendChild(node("p", "pdp-stock", product.in_stock ? "In stock" : "Out of stock"));
      box.appendChild(node("p", "pdp-shipping", product.shipping));
      var specs = node("ul", "pdp-specs");
      product.specs.forEach(function (pair) { specs.appendChild(node("li", null, pair[0] + ": " + pair[1])); });
      box.appendChild(specs);
      app.replaceChildren(box);
      document.title = product.title + " | Pixel Bazaar";
    })
    .catch(function () { app.replaceChildren(node("p", "error", "Sorry, this product could not be loaded.")); });
})();
"""

_SCRIPT_V2 = """
(function () {
  "use strict";
  var root = document.getElementById("app");
  function node(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }
  function grouped(units) { return String(units).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ","); }
  fetch("/api/product/" + root.getAttribute("data-product-id") + ".json")
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (data) {
      var view = node("section", "product-view");
      view.appendChild(node("h2", "name", data.item.name));
      var cents = data.pricing.cents;
      view.appendChild(node("p", "price-plan",
        "\\u20ac" + (data.pricing.monthly_cents / 100).toFixed(2) + "/mo for " + data.pricing.months + " months"));
      var cost = node("div", "cost");
      cost.appendChild(node("span", "whole", grouped(Math.floor(cents / 100))));
      cost.appendChild(node("span", "fraction", "." + String(cents % 100).padStart(2, "0")));
      view.appendChild(cost);
      view.appendChild(node("p", "availability", data.available ? "In stock" : "Out of stock"));
      root.replaceChildren(view);
    })
    .catch(function () { root.replaceChildren(node("p", "error", "Something went wrong.")); });
})();
"""


class JavaScriptStorefront(Storefront):
    def product_path(self, item: ShopItem) -> str:
        return f"/product/{item.id}"

    def api_path(self, item: ShopItem) -> str:
        return f"/api/product/{item.id}.json"

    def listing_path(self, category: ShopCategory, page: int = 1) -> str:
        return f"/shop/{category.slug}" + (f"?page={page}" if page > 1 else "")

    def parse_listing(self, path: str, query: str) -> tuple[str, int] | None:
        if not path.startswith("/shop/"):
            return None
        page = page_param(query, "page")
        return None if page is None else (path[len("/shop/") :], page)

    def robots_rules(self) -> list[str]:
        return ["Allow: /api/product/", "Disallow: /api/"]

    def resolve_extra(self, path: str, query: str) -> PageKey | None:
        if path.startswith("/api/product/") and path.endswith(".json"):
            number = path[len("/api/product/") : -len(".json")]
            if number.isascii() and number.isdigit() and int(number) in self.items:
                return ("api", int(number))
        return None

    def render_extra(self, key: PageKey, snapshot: Snapshot) -> Page | None:
        if key[0] != "api":
            return None
        item = self.items[int(key[1])]
        if not snapshot.is_listed(item):
            return None
        offer = snapshot.offer(item)
        data = self._api_v1(item, offer) if snapshot.layout == 1 else self._api_v2(item, offer)
        return Page(orjson.dumps(data), "application/json")

    def _api_v1(self, item: ShopItem, offer: ShopOffer) -> dict[str, Any]:
        specs = [["Brand", item.brand]]
        if item.mpn:
            specs.append(["MPN", item.mpn])
        if item.gtin:
            specs.append(["EAN", item.gtin])
        return {
            "id": item.id,
            "title": item.title,
            "brand": item.brand,
            "category": item.category.name,
            "image": self.url(self.image_path(item)),
            "price": self._money(offer.price_minor, offer.currency),
            "was": self._money(offer.was_minor, offer.currency) if offer.was_minor else None,
            "in_stock": offer.in_stock,
            "shipping": f"Shipping {euro_english(offer.shipping_minor)}" if offer.shipping_minor else "Free shipping",
            "specs": specs,
        }

    def _api_v2(self, item: ShopItem, offer: ShopOffer) -> dict[str, Any]:
        return {
            "item": {"id": item.id, "name": item.title, "maker": item.brand},
            "pricing": {
                "cents": offer.price_minor,
                "currency": offer.currency,
                "monthly_cents": offer.instalment_minor,
                "months": INSTALMENT_MONTHS,
            },
            "available": offer.in_stock,
        }

    @staticmethod
    def _money(minor: int, currency: str) -> dict[str, str]:
        return {"amount": machine_amount(minor), "currency": currency, "display": euro_english(minor)}

    def _document(self, title: str, body: str, head: str = "") -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n{head}</head>\n<body>\n"
            f'<header class="topbar"><a href="/">{esc(self.spec.name)}</a> <a href="{self.cart_path}">Cart</a> '
            f'<a href="{self.account_path}">Account</a></header>\n{body}\n'
            f'<footer class="bottom"><a href="{self.private_path}">Beta</a></footer>\n</body>\n</html>\n'
        )

    def product_page(self, item: ShopItem, snapshot: Snapshot) -> str:
        script = _SCRIPT_V1 if snapshot.layout == 1 else _SCRIPT_V2
        body = (
            f'<div id="app" data-product-id="{item.id}"><p class="loading">Loading…</p></div>\n'
            "<noscript>Pixel Bazaar needs JavaScript to show products.</noscript>\n"
            f"<script>{script}</script>"
        )
        return self._document(self.spec.name, body)

    def listing_page(self, category: ShopCategory, page: int, snapshot: Snapshot) -> str:
        pages = self.page_count(category, snapshot)
        cards = "".join(
            f'<li class="product-card"><a class="product-link" href="{esc(self.product_path(item))}">'
            f'<img src="{esc(self.image_path(item))}" alt="" width="200" height="200">'
            f"<span>{esc(item.title)}</span></a></li>\n"
            for item in self.page_items(category, page, snapshot)
        )
        head, pager = "", []
        if page > 1:
            previous = esc(self.listing_path(category, page - 1))
            head += f'<link rel="prev" href="{previous}">\n'
            pager.append(f'<a class="prev" rel="prev" href="{previous}">← Previous</a>')
        if page < pages:
            following = esc(self.listing_path(category, page + 1))
            head += f'<link rel="next" href="{following}">\n'
            pager.append(f'<a class="next" rel="next" href="{following}">Next →</a>')
        body = (
            f'<main class="catalog"><h1>{esc(category.name)}</h1>\n<ul class="grid">\n{cards}</ul>\n'
            f'<nav class="pager">{" ".join(pager)}</nav></main>'
        )
        return self._document(f"{category.name} | {self.spec.name}", body, head)

    def home_page(self, snapshot: Snapshot) -> str:
        links = "".join(
            f'<li><a href="{esc(self.listing_path(category))}">{esc(category.name)}</a></li>'
            for category in self.assortment.categories
        )
        return self._document(self.spec.name, f"<main><h1>{esc(self.spec.name)}</h1><ul>{links}</ul></main>")

    def service_page(self, kind: str, snapshot: Snapshot) -> str:
        title = {"cart": "Cart", "account": "Account", "private": "Beta features"}[kind]
        return self._document(title, f"<main><h1>{title}</h1><p>Nothing here yet.</p></main>")
