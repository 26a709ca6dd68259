"""What the crawl worker hands its child crawl process, and the lines the child writes back.

The worker writes a CrawlSpec as JSON to a file and starts ``python -m services.scraper.crawl SPEC``;
the child writes one JSON object per line to stdout (PageRecord, then one CrawlSummary last) and
nothing else there (logs go to stderr). The worker reads the lines as they come, so a crawl's results
reach the competitor service while it still runs.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson


class SourceKind(enum.StrEnum):
    # start_urls are product pages.
    PRODUCT_URLS = "product_urls"
    # start_urls are category listings: product links are followed, and next pages.
    LISTING = "listing"
    # start_urls are sitemaps (or sitemap indexes): every product URL in them is fetched.
    SITEMAP = "sitemap"


@dataclass(frozen=True, slots=True)
class CrawlSpec:
    job_id: str
    source_id: str
    kind: SourceKind
    start_urls: tuple[str, ...]
    # Product pages fetched at most (listing and sitemap pages not counted).
    max_pages: int
    # services.scraper.extraction.SourceOptions fields.
    default_currency: str | None = None
    decimal_separator: str | None = None
    price_selector: str | None = None
    title_selector: str | None = None
    availability_selector: str | None = None
    # Listings: which links are products and which is the next page (CSS or XPath, as in SourceOptions).
    # Unset: structured data (ItemList, Product microdata) and rel="next" are used.
    product_link_selector: str | None = None
    next_page_selector: str | None = None
    # Listings and sitemaps: only URLs matching this regular expression are product pages.
    product_url_pattern: str | None = None
    render_javascript: bool = False
    # Product pages a previous attempt of this job already delivered; not fetched again.
    skip_urls: tuple[str, ...] = ()
    # Politeness and safety, from settings.
    user_agent: str = "OmniPriceXBot/0.1"
    allow_hosts: tuple[str, ...] = ()
    max_page_bytes: int = 5 * 1024 * 1024
    concurrency_per_domain: int = 8
    download_delay_seconds: float = 0.0
    timeout_seconds: float = 20.0
    proxies: tuple[str, ...] = ()
    # Consecutive failed fetches on one host that open its circuit breaker and end the crawl.
    breaker_threshold: int = 10

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> CrawlSpec:
        raw: dict[str, Any] = orjson.loads(data)
        raw["kind"] = SourceKind(raw["kind"])
        for name in ("start_urls", "skip_urls", "allow_hosts", "proxies"):
            raw[name] = tuple(raw.get(name, ()))
        return cls(**raw)


class PageOutcome(enum.StrEnum):
    # A product page was fetched and extraction ran (offer may still have no price).
    PRODUCT = "product"
    # A listing or sitemap page was fetched and its links followed.
    LISTING = "listing"
    # Fetching failed: HTTP error, timeout, DNS, too large, unreadable body.
    FAILED = "failed"
    # Not fetched on purpose: robots.txt, the address guard, an unusable URL.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class ExtractedFields:
    """services.scraper.extraction.ExtractedOffer in JSON-friendly form."""

    price_minor: int | None
    currency: str | None
    in_stock: bool | None
    title: str | None
    brand: str | None
    gtin: str | None
    mpn: str | None
    image: str | None
    # ExtractionMethod value ("json_ld", ...), None when no method found a price.
    method: str | None
    confidence: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PageRecord:
    outcome: PageOutcome
    # The URL as requested, and where it ended after redirects.
    url: str
    final_url: str
    # ISO 8601 UTC.
    fetch_time: str
    http_status: int = 0
    # Hash of the page's tag-and-class skeleton: it changes when the shop's layout does, not its prices.
    layout_fingerprint: str = ""
    offer: ExtractedFields | None = None
    # For FAILED and REFUSED: what happened, in words.
    error: str = ""


@dataclass(frozen=True, slots=True)
class CrawlSummary:
    # "finished", "max_pages", "circuit_open", "robots_unavailable", "cancelled" or "error".
    finish_reason: str
    # Words for people, e.g. "10 consecutive failures fetching shop.example (HTTP 503)".
    detail: str = ""
    # The host whose breaker opened, for finish_reason "circuit_open".
    host: str = ""
    stats: dict[str, int] = field(default_factory=dict)


def encode_line(item: PageRecord | CrawlSummary) -> bytes:
    # orjson serialises dataclasses natively: splicing the kind in avoids building a dict per page.
    head = b'{"kind":"page",' if isinstance(item, PageRecord) else b'{"kind":"summary",'
    return head + orjson.dumps(item)[1:] + b"\n"


def decode_line(line: bytes) -> PageRecord | CrawlSummary:
    raw: dict[str, Any] = orjson.loads(line)
    kind = raw.pop("kind")
    if kind == "summary":
        return CrawlSummary(**raw)
    offer = raw.pop("offer")
    raw["outcome"] = PageOutcome(raw["outcome"])
    if offer is not None:
        offer["notes"] = tuple(offer.get("notes", ()))
        raw["offer"] = ExtractedFields(**offer)
    return PageRecord(**raw)
