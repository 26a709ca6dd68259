"""Whether an offer can be bought now, from schema.org availability values or visible page words."""

from __future__ import annotations

import re

_IN_STOCK = {"instock", "instoreonly", "onlineonly", "limitedavailability", "in stock", "available"}
_OUT_OF_STOCK = {"outofstock", "soldout", "discontinued", "oos", "out of stock", "sold out"}

_OUT_OF_STOCK_WORDS = re.compile(
    r"\b(?:out of stock|sold out|currently unavailable|no longer available|ausverkauft|nicht (?:mehr )?verfügbar"
    r"|épuisé|rupture de stock|agotado|esaurito|uitverkocht|slutsåld|utsolgt|udsolgt)\b|在庫切れ|売り切れ",
    re.IGNORECASE,
)
# One piece of each out-of-stock phrase above, made only of letters whose case-insensitive matches all
# lower-case to that same letter: when none is in the lower-cased text, the costly regex cannot match.
_OUT_OF_STOCK_PIECES = (
    "out of",
    "old out",
    "urrently",
    "no longer",
    "auft",
    "verf",
    "épu",
    "rupture",
    "agotado",
    "aur",
    "ocht",
    "lut",
    "olgt",
    "切れ",
)
# "back in stock" is what out-of-stock pages promise, not a statement that the item is in stock.
_IN_STOCK_WORDS = re.compile(
    r"(?<!back )\b(?:in stock|auf lager|sofort lieferbar|en stock|disponible|i lager|på lager)\b|在庫あり",
    re.IGNORECASE,
)


def availability_from_schema(value: str | None) -> bool | None:
    """schema.org availability ("https://schema.org/InStock", "OutOfStock", OpenGraph "instock"); None if unknown."""
    if not value:
        return None
    key = value.strip().rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower()
    if key in _IN_STOCK:
        return True
    if key in _OUT_OF_STOCK:
        return False
    return None


def availability_from_text(text: str) -> bool | None:
    """Stock words in visible text; out-of-stock words win because pages also advertise restocks."""
    lowered = text.lower()
    if any(piece in lowered for piece in _OUT_OF_STOCK_PIECES) and _OUT_OF_STOCK_WORDS.search(text):
        return False
    if _IN_STOCK_WORDS.search(text):
        return True
    return None
