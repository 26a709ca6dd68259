"""The reading of a source's operator selectors (price, title, availability)."""

from __future__ import annotations

from lxml import etree

from runtime.errors import InvalidArgument
from services.scraper.extraction.options import SourceOptions
from services.scraper.extraction.prices import parse_price
from services.scraper.extraction.result import ExtractionMethod, Reading
from services.scraper.extraction.selectors import read_selector
from services.scraper.extraction.stock import availability_from_schema, availability_from_text


def selector_reading(document: etree._Element, options: SourceOptions) -> Reading | None:
    """None when the source has no selectors; a note when the price selector matches nothing usable."""
    if not (options.price_selector or options.title_selector or options.availability_selector):
        return None
    notes: list[str] = []
    price = None
    if options.price_selector:
        text = read_selector(document, options.price_selector)
        if text is None:
            notes.append("selector: price selector matched nothing")
        else:
            try:
                price = parse_price(
                    text, default_currency=options.default_currency, decimal_separator=options.decimal_separator
                )
            except InvalidArgument as error:
                notes.append(f"selector: {error.message}")
    in_stock = None
    if options.availability_selector:
        stock_text = read_selector(document, options.availability_selector)
        if stock_text is not None:
            in_stock = availability_from_schema(stock_text)
            in_stock = availability_from_text(stock_text) if in_stock is None else in_stock
    return Reading(
        method=ExtractionMethod.SELECTOR,
        price=price,
        currency=price.currency if price else None,
        in_stock=in_stock,
        title=read_selector(document, options.title_selector) if options.title_selector else None,
        notes=tuple(notes),
    )
