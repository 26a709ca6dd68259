"""Generic price reading for pages without structured data or selectors: itemprop, meta tags,
price-ish classes, then a currency pattern in visible text. Struck-through (old) prices are skipped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.scraper.extraction.options import SourceOptions
from services.scraper.extraction.prices import parse_price
from services.scraper.extraction.result import ExtractionMethod, Reading
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
_META_PRICE = "//meta[@name='price' or @property='og:price:amount' or @property='product:price:amount']/@content"
_META_CURRENCY = "//meta[@property='og:price:currency' or @property='product:price:currency']/@content"


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    strength: float
    currency_hint: str | None = None
    machine_readable: bool = False


def heuristic_reading(document: etree._Element, options: SourceOptions) -> Reading:
    """The strongest price-looking text on the page (ties: the first), plus stock words and a title."""
    page_text = " ".join(document.xpath(f"//body//text()[not({_INVISIBLE})]"))
    notes: list[str] = []
    price: Money | None = None
    strength = 0.0
    for candidate in _candidates(document):
        try:
            price = parse_price(
                candidate.text,
                default_currency=options.default_currency,
                decimal_separator=options.decimal_separator,
                currency_hint=candidate.currency_hint,
                machine_readable=candidate.machine_readable,
            )
        except InvalidArgument as error:
            notes.append(f"heuristic: skipped {error.message}")
            continue
        strength = candidate.strength
        break
    return Reading(
        method=ExtractionMethod.HEURISTIC,
        price=price,
        currency=price.currency if price else None,
        in_stock=availability_from_text(page_text),
        title=_title(document),
        strength=strength,
        notes=tuple(notes[:3]),
    )


def _candidates(document: etree._Element) -> list[_Candidate]:
    found: list[_Candidate] = []
    currency = _first_text(document.xpath("//*[@itemprop='priceCurrency']"))
    for element in document.xpath("//*[@itemprop='price']"):
        if not _is_struck(element) and (text := _element_text(element)):
            found.append(_Candidate(text, _ITEMPROP, currency, machine_readable=element.get("content") is not None))
    meta_currency = next((str(value).strip() for value in document.xpath(_META_CURRENCY)), None)
    for value in document.xpath(_META_PRICE):
        if value.strip():
            found.append(_Candidate(" ".join(value.split()), _META, meta_currency, machine_readable=True))
    for element in document.xpath(f"//body//*[@class or @id][not({_INVISIBLE})]"):
        label = f"{element.get('class', '')} {element.get('id', '')}".lower()
        if not _PRICE_WORD.search(label) or _NOT_A_PRICE_WORD.search(label) or _is_struck(element):
            continue
        text = _element_text(element)
        if text and len(text) <= _MAX_PRICE_TEXT and any(char.isdigit() for char in text):
            found.append(_Candidate(text, _PRICE_CLASS + (_SALE_BONUS if _SALE_WORD.search(label) else 0.0)))
    for node in document.xpath(f"//body//text()[not({_INVISIBLE})]"):
        owner = node.getparent()
        if owner is not None and node.is_tail:
            owner = owner.getparent()
        if owner is None or _is_struck(owner):
            continue
        found.extend(_Candidate(match.group(), _VISIBLE_PATTERN) for match in _VISIBLE_PRICE.finditer(str(node)))
    # Stable sort: equal strengths keep document order.
    return sorted(found, key=lambda candidate: -candidate.strength)


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
