"""One storefront per markup style: JSON-LD, microdata only, plain European HTML, and JavaScript-rendered."""

from __future__ import annotations

from demo.shops.specs import ShopStyle
from demo.shops.storefront import Storefront
from demo.shops.styles.european import EuropeanStorefront
from demo.shops.styles.javascript import JavaScriptStorefront
from demo.shops.styles.jsonld import JsonLdStorefront
from demo.shops.styles.microdata import MicrodataStorefront

STOREFRONTS: dict[ShopStyle, type[Storefront]] = {
    "json_ld": JsonLdStorefront,
    "microdata": MicrodataStorefront,
    "european": EuropeanStorefront,
    "javascript": JavaScriptStorefront,
}

__all__ = ["STOREFRONTS"]
