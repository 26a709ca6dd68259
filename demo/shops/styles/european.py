"""Kaufhaus Lindner: plain German HTML in windows-1252, no structured data at all, prices as "1.299,00 €".

The price sits in stable classes (`.product-detail .price-now`) that an operator selector reads, between a
struck "statt" price and the shipping fee so that reading the first euro amount on the page goes wrong.
Titles are shortened, translated and reordered, and many products print no identifiers. Listings are
plain HTML with a "Weiter" link (no rel="next"). Layout 2 renames the classes, so the selector finds
nothing, and puts the shipping fee in a "preis-hinweis" box that generic heuristics take for the price.
"""

from __future__ import annotations

from demo.shops.assortment import ShopCategory, ShopItem
from demo.shops.prices import ShopOffer
from demo.shops.storefront import Snapshot, Storefront
from demo.shops.text import esc, euro_german


class EuropeanStorefront(Storefront):
    charset = "windows-1252"
    cart_path = "/warenkorb"
    account_path = "/konto"
    private_path = "/private/intern"

    def product_path(self, item: ShopItem) -> str:
        return f"/artikel/{item.id}/{item.slug}.html"

    def listing_path(self, category: ShopCategory, page: int = 1) -> str:
        return f"/kategorie/{category.slug}/" + (f"seite-{page}/" if page > 1 else "")

    def parse_listing(self, path: str, query: str) -> tuple[str, int] | None:
        if not path.startswith("/kategorie/") or not path.endswith("/"):
            return None
        parts = path[len("/kategorie/") : -1].split("/")
        if len(parts) == 1:
            return parts[0], 1
        number = parts[1].removeprefix("seite-")
        if len(parts) != 2 or not parts[1].startswith("seite-") or not (number.isascii() and number.isdigit()):
            return None
        # Page 1 has one address only; "seite-1" and "seite-007" are not pages.
        if number.startswith("0") or int(number) < 2 or len(number) > 6:
            return None
        return parts[0], int(number)

    def robots_rules(self) -> list[str]:
        return ["Disallow: /suche", "Disallow: /*?sortierung="]

    def _document(self, title: str, body: str) -> str:
        nav = " | ".join(
            f'<a href="{esc(self.listing_path(category))}">{esc(category.name)}</a>'
            for category in self.assortment.categories
        )
        return (
            '<!DOCTYPE html>\n<html lang="de">\n<head>\n<meta charset="windows-1252">\n'
            f"<title>{esc(title)} | {esc(self.spec.name)}</title>\n</head>\n<body>\n"
            f'<div class="kopf"><a class="logo" href="/">{esc(self.spec.name)}</a> '
            f'<a href="{self.cart_path}">Warenkorb</a> <a href="{self.account_path}">Mein Konto</a></div>\n'
            f'<div class="navigation">{nav}</div>\n{body}\n'
            '<div class="fuss">Alle Preise inkl. MwSt. · Versand ab 4,95 € · '
            f'<a href="{self.private_path}">Intern</a></div>\n</body>\n</html>\n'
        )

    def product_page(self, item: ShopItem, snapshot: Snapshot) -> str:
        offer = snapshot.offer(item)
        rows = f"<tr><th>Marke</th><td>{esc(item.brand)}</td></tr>"
        if item.mpn:
            rows += f"<tr><th>Herstellernummer</th><td>{esc(item.mpn)}</td></tr>"
        if item.gtin:
            rows += f"<tr><th>EAN</th><td>{esc(item.gtin)}</td></tr>"
        rows += f"<tr><th>Artikelnummer</th><td>{item.id}</td></tr>"
        accessories = "".join(
            f'<li><a href="{esc(self.product_path(other))}">{esc(other.title)}</a> '
            f"nur {euro_german(snapshot.offer(other).price_minor)}</li>"
            for other in snapshot.related(item)
        )
        if snapshot.layout == 1:
            wrapper, prices = "product-detail", self._prices(offer)
        else:
            wrapper, prices = "artikel-ansicht", self._prices_v2(offer)
        body = (
            f'<div class="{wrapper}">\n<h1>{esc(item.title)}</h1>\n'
            f'<div class="bild"><img src="{esc(self.image_path(item))}" alt="{esc(item.title)}"></div>\n'
            f"{prices}\n{self._stock(offer)}\n"
            f'<table class="artikeldaten">{rows}</table>\n</div>\n'
            f'<div class="zubehoer"><h2>Das könnte Ihnen auch gefallen</h2><ul>{accessories}</ul></div>'
        )
        return self._document(item.title, body)

    def _shipping(self, offer: ShopOffer) -> str:
        kind = "Speditionsversand" if offer.shipping_minor > 1_000 else "Versand"
        return f"zzgl. {kind} {euro_german(offer.shipping_minor)}"

    def _stock(self, offer: ShopOffer) -> str:
        if offer.in_stock:
            return '<p class="lieferstatus lieferbar">Sofort lieferbar, Lieferzeit 1&ndash;3 Werktage</p>'
        return (
            '<p class="lieferstatus">Ausverkauft &ndash; wir informieren Sie gern, '
            "sobald der Artikel wieder da ist.</p>"
        )

    def _prices(self, offer: ShopOffer) -> str:
        was = f'<div class="streichpreis">statt {euro_german(offer.was_minor)}</div>\n' if offer.was_minor else ""
        return (
            f'<div class="preisbereich">\n{was}<div class="price-now">{euro_german(offer.price_minor)}</div>\n'
            f'<div class="mwst">inkl. MwSt., {self._shipping(offer)}</div>\n</div>'
        )

    def _prices_v2(self, offer: ShopOffer) -> str:
        return (
            f'<div class="kaufbox">\n<div class="preis-hinweis">{self._shipping(offer)}</div>\n'
            f'<div class="betrag">{euro_german(offer.price_minor)}</div>\n<div class="mwst">inkl. MwSt.</div>\n</div>'
        )

    def listing_page(self, category: ShopCategory, page: int, snapshot: Snapshot) -> str:
        pages = self.page_count(category, snapshot)
        tiles = "".join(
            f'<li class="artikel-kachel"><a class="artikel-link" href="{esc(self.product_path(item))}">'
            f"{esc(item.title)}</a> "
            f'<span class="kachel-preis">{euro_german(snapshot.offer(item).price_minor)}</span>'
            f"{'' if snapshot.offer(item).in_stock else ' <span class=ausverkauft>Ausverkauft</span>'}</li>\n"
            for item in self.page_items(category, page, snapshot)
        )
        pager = []
        if page > 1:
            previous = esc(self.listing_path(category, page - 1))
            pager.append(f'<a class="seite-zurueck" href="{previous}">&lsaquo; Zurück</a>')
        pager.append(f"<span>Seite {page} von {pages}</span>")
        if page < pages:
            following = esc(self.listing_path(category, page + 1))
            pager.append(f'<a class="seite-weiter" href="{following}">Weiter &rsaquo;</a>')
        body = (
            f'<div class="kategorie"><h1>{esc(category.name)}</h1>\n<ul class="artikel-liste">\n{tiles}</ul>\n'
            f'<div class="blaettern">{" ".join(pager)}</div></div>'
        )
        return self._document(category.name, body)

    def home_page(self, snapshot: Snapshot) -> str:
        links = "".join(
            f'<li><a href="{esc(self.listing_path(category))}">{esc(category.name)}</a></li>'
            for category in self.assortment.categories
        )
        return self._document("Startseite", f'<div class="start"><h1>Willkommen</h1><ul>{links}</ul></div>')

    def service_page(self, kind: str, snapshot: Snapshot) -> str:
        title = {"cart": "Warenkorb", "account": "Anmelden", "private": "Interner Bereich"}[kind]
        return self._document(title, f"<div><h1>{title}</h1><p>Bitte melden Sie sich an.</p></div>")
