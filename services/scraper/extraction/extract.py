"""One page to one observation candidate: structured data, then the source's selectors, then heuristics."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from lxml import etree
from lxml import html as lxml_html
from w3lib.encoding import html_to_unicode

from runtime.errors import InvalidArgument
from services.scraper.extraction.configured import selector_reading
from services.scraper.extraction.heuristics import HeuristicReading, heuristic_reading
from services.scraper.extraction.options import SourceOptions
from services.scraper.extraction.result import ExtractedOffer, ExtractionMethod, Reading
from services.scraper.extraction.source import PageSource
from services.scraper.extraction.structured import structured_readings

MAX_PAGE_BYTES = 10 * 1024 * 1024

# How much a price is trusted by where it came from; heuristics carry their own per-signal strength.
_METHOD_CONFIDENCE = {
    ExtractionMethod.JSON_LD: 0.9,
    ExtractionMethod.MICRODATA: 0.85,
    ExtractionMethod.RDFA: 0.8,
    ExtractionMethod.OPENGRAPH: 0.75,
    ExtractionMethod.SELECTOR: 0.85,
}
_AGREEMENT_BONUS = 0.05
_DISAGREEMENT_PENALTY = 0.2
_MIN_CONFIDENCE, _MAX_CONFIDENCE = 0.05, 0.99
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# lxml.html's own parser picks each element's Python class in a Python callback, every time an element
# is handed to Python; this lookup makes every element an HtmlElement inside lxml, at a fraction of the cost.
_ELEMENT_CLASSES = etree.ElementDefaultClassLookup(
    element=lxml_html.HtmlElement,
    comment=lxml_html.HtmlComment,
    pi=lxml_html.HtmlProcessingInstruction,
    entity=lxml_html.HtmlEntity,
)
_PARSERS = threading.local()


def _parser() -> etree.HTMLParser:
    """The HTML parser of this thread (an lxml parser must not be shared between threads)."""
    parser: etree.HTMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.HTMLParser()
        parser.set_element_class_lookup(_ELEMENT_CLASSES)
        _PARSERS.parser = parser
    return parser


@dataclass(frozen=True, slots=True)
class HtmlPage:
    """A decoded and parsed page, so extraction and other readers of the page share one parse."""

    source: PageSource
    # None when the page is empty or unparsable; ``problem`` then says which.
    document: lxml_html.HtmlElement | None
    problem: str = ""

    @property
    def text(self) -> str:
        return self.source.text


def parse_page(page: bytes | str, *, content_type: str | None = None) -> HtmlPage:
    """The page decoded (charset from ``content_type``, else the page's own declaration) and parsed.

    Refuses pages over MAX_PAGE_BYTES before decoding them.
    """
    source = _decoded(page, content_type)
    text = source.text
    if not text.strip():
        return HtmlPage(source, None, "page is empty")
    try:
        document = lxml_html.document_fromstring(text, parser=_parser())
    except (etree.ParserError, ValueError) as error:
        return HtmlPage(source, None, f"page could not be parsed: {error}")
    return HtmlPage(source, document)


def extract_offer(page: bytes | str | HtmlPage, url: str, options: SourceOptions | None = None) -> ExtractedOffer:
    """The offer on a product page; price None (with a note) when no method found one.

    Refuses pages over MAX_PAGE_BYTES before parsing them.
    """
    options = options or SourceOptions()
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgument("page URL is required", field="url")
    parsed = page if isinstance(page, HtmlPage) else parse_page(page)
    document = parsed.document
    if document is None:
        return _empty((parsed.problem,))
    structured, notes = structured_readings(parsed.source, document, url, options)
    readings: list[AnyReading] = [*structured]
    configured = selector_reading(document, options)
    if configured is not None:
        readings.append(configured)
    readings.append(heuristic_reading(document, options, parsed.source))
    return _combine(readings, notes)


def _decoded(page: bytes | str, content_type: str | None) -> PageSource:
    raw: bytes | None = None
    encoding: str | None = None
    if isinstance(page, bytes):
        if len(page) > MAX_PAGE_BYTES:
            raise InvalidArgument(f"page is larger than {MAX_PAGE_BYTES} bytes", field="html")
        encoding, text = html_to_unicode(content_type, page)
        raw = page
    elif isinstance(page, str):
        # A character is at most 4 UTF-8 bytes, so most pages skip the encode.
        if len(page) > MAX_PAGE_BYTES or (
            len(page) * 4 > MAX_PAGE_BYTES and len(page.encode("utf-8", "surrogatepass")) > MAX_PAGE_BYTES
        ):
            raise InvalidArgument(f"page is larger than {MAX_PAGE_BYTES} bytes", field="html")
        text = page
    else:
        raise InvalidArgument("page must be bytes or str", field="html")
    # lxml refuses str input that declares its own encoding; the text is already decoded.
    return PageSource(str(_XML_DECLARATION.sub("", text, count=1)), raw, encoding)


# The heuristics' reading reads some fields only when asked; it has Reading's shape.
AnyReading = Reading | HeuristicReading


def _combine(readings: list[AnyReading], notes: list[str]) -> ExtractedOffer:
    all_notes = [*notes, *(note for reading in readings for note in reading.notes)]
    winner = next((reading for reading in readings if reading.price is not None), None)
    ordered = [winner, *(reading for reading in readings if reading is not winner)] if winner else readings
    confidence = 0.0
    if winner is None:
        all_notes.append("no price found on the page")
    else:
        confidence = _confidence(winner, readings, all_notes)

    def first(name: str) -> object:
        return next((value for reading in ordered if (value := getattr(reading, name)) is not None), None)

    return ExtractedOffer(
        price=winner.price if winner else None,
        currency=winner.currency if winner else _str(first("currency")),
        in_stock=_bool(first("in_stock")),
        title=_str(first("title")),
        brand=_str(first("brand")),
        gtin=_str(first("gtin")),
        mpn=_str(first("mpn")),
        image=_str(first("image")),
        method=winner.method if winner else None,
        confidence=confidence,
        notes=tuple(all_notes),
    )


def _confidence(winner: AnyReading, readings: list[AnyReading], notes: list[str]) -> float:
    score = _METHOD_CONFIDENCE.get(winner.method, winner.strength)
    for other in readings:
        if other is winner or other.price is None:
            continue
        if other.price == winner.price:
            score += _AGREEMENT_BONUS
        else:
            # A weak method disagreeing (a heuristic catching a related product's price) costs less.
            score -= _DISAGREEMENT_PENALTY * _METHOD_CONFIDENCE.get(other.method, other.strength)
            notes.append(
                f"{other.method.value} read a different price ({other.price.amount_minor} {other.price.currency})"
            )
    return round(min(_MAX_CONFIDENCE, max(_MIN_CONFIDENCE, score)), 2)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _empty(notes: tuple[str, ...]) -> ExtractedOffer:
    return ExtractedOffer(
        price=None,
        currency=None,
        in_stock=None,
        title=None,
        brand=None,
        gtin=None,
        mpn=None,
        image=None,
        method=None,
        confidence=0.0,
        notes=notes,
    )
