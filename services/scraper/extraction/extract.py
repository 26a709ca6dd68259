"""One page to one observation candidate: structured data, then the source's selectors, then heuristics."""

from __future__ import annotations

import re

from lxml import etree
from lxml import html as lxml_html
from w3lib.encoding import html_to_unicode

from runtime.errors import InvalidArgument
from services.scraper.extraction.configured import selector_reading
from services.scraper.extraction.heuristics import heuristic_reading
from services.scraper.extraction.options import SourceOptions
from services.scraper.extraction.result import ExtractedOffer, ExtractionMethod, Reading
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


def extract_offer(page: bytes | str, url: str, options: SourceOptions | None = None) -> ExtractedOffer:
    """The offer on a product page; price None (with a note) when no method found one.

    Refuses pages over MAX_PAGE_BYTES before parsing them.
    """
    options = options or SourceOptions()
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgument("page URL is required", field="url")
    text = _decoded(page)
    if not text.strip():
        return _empty(("page is empty",))
    try:
        document = lxml_html.document_fromstring(text)
    except (etree.ParserError, ValueError) as error:
        return _empty((f"page could not be parsed: {error}",))
    readings, notes = structured_readings(text, url, options)
    configured = selector_reading(document, options)
    if configured is not None:
        readings.append(configured)
    readings.append(heuristic_reading(document, options))
    return _combine(readings, notes)


def _decoded(page: bytes | str) -> str:
    if isinstance(page, bytes):
        if len(page) > MAX_PAGE_BYTES:
            raise InvalidArgument(f"page is larger than {MAX_PAGE_BYTES} bytes", field="html")
        _, text = html_to_unicode(None, page)
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
    return str(_XML_DECLARATION.sub("", text, count=1))


def _combine(readings: list[Reading], notes: list[str]) -> ExtractedOffer:
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


def _confidence(winner: Reading, readings: list[Reading], notes: list[str]) -> float:
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
