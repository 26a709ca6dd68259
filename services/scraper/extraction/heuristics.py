"""Generic price reading for pages without structured data or selectors: itemprop, meta tags,
price-ish classes, then a currency pattern in visible text. Struck-through (old) prices are skipped."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from lxml import etree

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.scraper.extraction.options import SourceOptions
from services.scraper.extraction.prices import parse_price
from services.scraper.extraction.result import ExtractionMethod
from services.scraper.extraction.source import PageSource
from services.scraper.extraction.stock import availability_from_text

# Strength of each signal before cross-checking with other methods.
_ITEMPROP = 0.7
_META = 0.65
_PRICE_CLASS = 0.55
_SALE_BONUS = 0.1
_VISIBLE_PATTERN = 0.35
_MAX_PRICE_TEXT = 80

_PRICE_WORD = re.compile(r"price|preis|prix|precio|prezzo|(?<![a-z])pris(?![a-z])|cena|prijs")
_OLD_WORD = re.compile(
    r"(?<![a-z])(?:old|was|strike|struck|crossed|regular|compare|original|list|rrp|uvp|msrp|before)(?![a-z])"
    r"|(?:old|was|list|regular|compare)price"
)
_NOT_A_PRICE_WORD = re.compile(
    r"(?<![a-z])(?:save|saving|savings|discount|percent|off|unit|per|shipping|installment|monthly|tax)(?![a-z])"
)
_SALE_WORD = re.compile(r"(?<![a-z])(?:sale|current|now|special|final|offer|actual|promo)(?![a-z])")
_STRUCK_TAGS = {"del", "s", "strike"}
_BLOCK_TAGS = {"div", "p", "ul", "ol", "table", "section", "article", "form", "aside", "nav", "header", "footer"}
_INVISIBLE = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"
_CURRENCY_SIGN = r"(?:(?:US|CA|C|AU|A|NZ|HK|S|R)\$|[€£$¥₹₩]|kr\.?|zł|Kč|Ft|CHF|EUR|USD|GBP|SEK|NOK|DKK|JPY|PLN)"
_AMOUNT = r"\d[\d.,'\u2019\u00a0\u202f ]*\d|\d"
_VISIBLE_PRICE = re.compile(
    rf"{_CURRENCY_SIGN}\s?(?:{_AMOUNT})(?:[.,][-\u2013\u2014])?|(?:{_AMOUNT})(?:[.,][-\u2013\u2014])?\s?{_CURRENCY_SIGN}(?!\w)"
)
_ITEMPROP_PRICES = etree.XPath("/descendant::*[@itemprop='price']")
_ITEMPROP_CURRENCIES = etree.XPath("/descendant::*[@itemprop='priceCurrency']")
_META_PRICES = etree.XPath(
    "/descendant::meta[@name='price' or @property='og:price:amount' or @property='product:price:amount']/@content"
)
_META_CURRENCIES = etree.XPath(
    "/descendant::meta[@property='og:price:currency' or @property='product:price:currency']/@content"
)
_BODY_LABELS = etree.XPath(
    "/descendant::body/descendant::*/@class | /descendant::body/descendant::*/@id", smart_strings=False
)
_VISIBLE_TEXT = etree.XPath(f"//body//text()[not({_INVISIBLE})]")
# The same nodes on a page without noscript and template elements: script and style hold only text, so
# their text is their own child and the costly ancestor walks are not needed.
_VISIBLE_TEXT_SIMPLE = etree.XPath("/descendant::body/descendant::text()[not(parent::script or parent::style)]")
# Joins the visible text nodes so one regex scan covers them all; no price match can contain it.
_NODE_BREAK = "\0"
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    strength: float
    currency_hint: str | None = None
    machine_readable: bool = False


class HeuristicReading:
    """The heuristics' Reading. The price is searched strongest signal first and the search stops at the
    first price that parses; stock words and the title are read only if no other method supplied them."""

    __slots__ = ("_document", "_in_stock", "_source", "_texts", "_title", "currency", "notes", "price", "strength")
    method = ExtractionMethod.HEURISTIC
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    image: str | None = None

    def __init__(self, document: etree._Element, options: SourceOptions, source: PageSource) -> None:
        self._document = document
        self._source = source
        self._in_stock: bool | None = _UNSET
        self._title: str | None = _UNSET
        self._texts: list[Any] | None = None
        notes: list[str] = []
        self.price: Money | None = None
        self.strength = 0.0
        for candidate in _candidates(document, source, self._visible_texts):
            try:
                self.price = parse_price(
                    candidate.text,
                    default_currency=options.default_currency,
                    decimal_separator=options.decimal_separator,
                    currency_hint=candidate.currency_hint,
                    machine_readable=candidate.machine_readable,
                )
            except InvalidArgument as error:
                notes.append(f"heuristic: skipped {error.message}")
                continue
            self.strength = candidate.strength
            break
        self.currency = self.price.currency if self.price else None
        self.notes = tuple(notes[:3])

    @property
    def in_stock(self) -> bool | None:
        if self._in_stock is _UNSET:
            self._in_stock = availability_from_text(" ".join(self._visible_texts()))
        return self._in_stock

    @property
    def title(self) -> str | None:
        if self._title is _UNSET:
            self._title = _title(self._document)
        return self._title

    def _visible_texts(self) -> list[Any]:
        """The body's text nodes outside scripts and styles (lxml strings that know their element)."""
        if self._texts is None:
            simple = not (self._source.has_name("<noscript") or self._source.has_name("<template"))
            self._texts = (_VISIBLE_TEXT_SIMPLE if simple else _VISIBLE_TEXT)(self._document)
        return self._texts


def heuristic_reading(document: etree._Element, options: SourceOptions, source: PageSource) -> HeuristicReading:
    """The strongest price-looking text on the page (ties: the first), plus stock words and a title.

    ``source`` is the text ``document`` was parsed from.
    """
    return HeuristicReading(document, options, source)


def _candidates(document: etree._Element, source: PageSource, texts: Callable[[], list[Any]]) -> Iterator[_Candidate]:
    """Candidates strongest first, in document order among equals, each kind looked for only when reached."""
    labelled: list[tuple[bool, str]] | None = None

    def itemprop() -> Iterator[_Candidate]:
        if not source.has_name("itemprop"):
            return
        elements = _ITEMPROP_PRICES(document)
        if not elements:
            return
        currency = _first_text(_ITEMPROP_CURRENCIES(document))
        for element in elements:
            if not _is_struck(element) and (text := _element_text(element)):
                yield _Candidate(text, _ITEMPROP, currency, machine_readable=element.get("content") is not None)

    def meta() -> Iterator[_Candidate]:
        values = _META_PRICES(document)
        if not values:
            return
        meta_currency = next((str(value).strip() for value in _META_CURRENCIES(document)), None)
        for value in values:
            if value.strip():
                yield _Candidate(" ".join(value.split()), _META, meta_currency, machine_readable=True)

    def price_labelled(sale: bool) -> Iterator[_Candidate]:
        nonlocal labelled
        if labelled is None:
            labelled = list(_labelled_prices(document))
        strength = _PRICE_CLASS + _SALE_BONUS if sale else _PRICE_CLASS
        yield from (_Candidate(text, strength) for is_sale, text in labelled if is_sale is sale)

    def visible() -> Iterator[_Candidate]:
        nodes = texts()
        starts = list(accumulate((len(node) + 1 for node in nodes), initial=0))
        struck: dict[int, bool] = {}
        for match in _VISIBLE_PRICE.finditer(_NODE_BREAK.join(nodes)):
            index = bisect_right(starts, match.start()) - 1
            if index not in struck:
                node = nodes[index]
                owner = node.getparent()
                if owner is not None and node.is_tail:
                    owner = owner.getparent()
                struck[index] = owner is None or _is_struck(owner)
            if not struck[index]:
                yield _Candidate(match.group(), _VISIBLE_PATTERN)

    kinds: list[tuple[float, Callable[[], Iterator[_Candidate]]]] = [
        (_ITEMPROP, itemprop),
        (_META, meta),
        (_PRICE_CLASS + _SALE_BONUS, lambda: price_labelled(True)),
        (_PRICE_CLASS, lambda: price_labelled(False)),
        (_VISIBLE_PATTERN, visible),
    ]
    # The order a stable sort of all candidates by strength gives (a sale label's 0.55 + 0.1 is a hair
    # above a meta tag's 0.65 in floating point, so it comes first).
    for _, kind in sorted(kinds, key=lambda entry: -entry[0]):
        yield from kind()


def _labelled_prices(document: etree._Element) -> Iterator[tuple[bool, str]]:
    """Texts of elements whose class or id names a price (and not an old price, a saving, a unit price)."""
    # A page has few distinct classes and ids: the price words are looked for in those, and only elements
    # carrying a matching one are fetched (a word cannot straddle the space between class and id).
    wanted = " or ".join(
        f"@class={literal} or @id={literal}"
        for value in set(_BODY_LABELS(document))
        if _PRICE_WORD.search(value.lower())
        for literal in [_xpath_literal(value)]
    )
    if not wanted:
        return
    for element in document.xpath(f"/descendant::body/descendant::*[{wanted}][not({_INVISIBLE})]"):
        label = f"{element.get('class', '')} {element.get('id', '')}".lower()
        if not _PRICE_WORD.search(label) or _NOT_A_PRICE_WORD.search(label) or _is_struck(element):
            continue
        text = _element_text(element)
        if text and len(text) <= _MAX_PRICE_TEXT and any(char.isdigit() for char in text):
            yield bool(_SALE_WORD.search(label)), text


def _xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in value.split("'")) + ")"


def _is_struck(element: etree._Element) -> bool:
    """Inside <del>/<s>/<strike>, a line-through style, or a container labelled as an old price."""
    return any(_is_struck_self(node) for node in (element, *element.iterancestors()))


def _is_struck_self(node: etree._Element) -> bool:
    if not isinstance(node.tag, str):
        return False
    label = f"{node.get('class', '')} {node.get('id', '')}".lower()
    struck_style = "line-through" in (node.get("style") or "")
    return node.tag.lower() in _STRUCK_TAGS or struck_style or bool(_OLD_WORD.search(label))


def _element_text(element: etree._Element) -> str | None:
    """The element's content attribute or its visible text without struck-through descendants."""
    content = element.get("content")
    if content is not None:
        return " ".join(content.split()) or None
    parts = []
    for node in element.xpath(f".//text()[not({_INVISIBLE})]"):
        owner = node.getparent()
        if node.is_tail and owner is not element:
            owner = owner.getparent()
        if not _struck_between(owner, element):
            parts.append(str(node))
    return " ".join(" ".join(parts).split()) or None


def _struck_between(node: etree._Element | None, top: etree._Element) -> bool:
    return any(_is_struck_self(element) for element in _chain(node, top))


def _first_text(elements: list[etree._Element]) -> str | None:
    return next((text for element in elements if (text := _element_text(element))), None)


def _title(document: etree._Element) -> str | None:
    headings = (_heading_text(heading) for heading in document.xpath(f"//h1[not({_INVISIBLE})]"))
    return next((text for text in headings if text), None) or _first_text(document.xpath("//title"))


def _heading_text(heading: etree._Element) -> str | None:
    """The heading's own inline text: an unclosed <h1> must not swallow the blocks the parser put inside it."""
    parts = []
    for node in heading.xpath(".//text()"):
        owner = node.getparent()
        if node.is_tail and owner is not heading:
            owner = owner.getparent()
        if not any(_is_block(element) for element in _chain(owner, heading)):
            parts.append(str(node))
    return " ".join(" ".join(parts).split()) or None


def _chain(node: etree._Element | None, top: etree._Element) -> list[etree._Element]:
    chain = []
    while node is not None and node is not top:
        chain.append(node)
        node = node.getparent()
    return chain


def _is_block(element: etree._Element) -> bool:
    return isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS
