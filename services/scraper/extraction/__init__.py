"""Reading a competitor's offer (price, stock, identity) from one product page's HTML; pure, no I/O."""

from services.scraper.extraction.extract import MAX_PAGE_BYTES, HtmlPage, extract_offer, parse_page
from services.scraper.extraction.options import SourceOptions
from services.scraper.extraction.prices import parse_price
from services.scraper.extraction.result import ExtractedOffer, ExtractionMethod

__all__ = [
    "MAX_PAGE_BYTES",
    "ExtractedOffer",
    "ExtractionMethod",
    "HtmlPage",
    "SourceOptions",
    "extract_offer",
    "parse_page",
    "parse_price",
]
