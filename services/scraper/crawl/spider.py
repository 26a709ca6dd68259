"""The crawl's one spider: product URLs, listings or sitemaps in, one PageRecord per page out.

Records go straight to the sink (stdout lines for the worker) as pages arrive rather than through
Scrapy's item pipeline, which this crawl has no use for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from lxml import etree
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure

from runtime.clock import utcnow
from runtime.errors import InvalidArgument
from runtime.netguard import validate_fetch_url
from services.scraper.crawl import links
from services.scraper.crawl.breaker import CircuitBreaker
from services.scraper.crawl.contract import CrawlSpec, ExtractedFields, PageOutcome, PageRecord, SourceKind
from services.scraper.crawl.failures import describe_failure
from services.scraper.crawl.fingerprint import layout_fingerprint
from services.scraper.crawl.render import BrowserGuards, rendered
from services.scraper.crawl.robots import RobotsUnavailable
from services.scraper.extraction import ExtractedOffer, SourceOptions, extract_offer, parse_page

logger = logging.getLogger(__name__)

Sink = Callable[[PageRecord], None]

PRODUCT, LISTING, SITEMAP = "product", "listing", "sitemap"
_KIND_META = "omnipricex_kind"
_URL_META = "omnipricex_url"
# Products before more listing pages: the crawl reaches max_pages without paging through a whole catalog.
_PRODUCT_PRIORITY = 10
# Listing and sitemap pages fetched at most, so a pagination loop cannot run forever.
_MIN_LISTING_BUDGET = 10


def source_options(spec: CrawlSpec) -> SourceOptions:
    return SourceOptions(
        default_currency=spec.default_currency,
        decimal_separator=spec.decimal_separator,
        price_selector=spec.price_selector,
        title_selector=spec.title_selector,
        availability_selector=spec.availability_selector,
    )


class OfferSpider(Spider):
    name = "omnipricex"

    def __init__(
        self,
        spec: CrawlSpec,
        sink: Sink,
        browser_guards: BrowserGuards | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.sink = sink
        self.cancelled = cancelled
        self.options = source_options(spec)
        self.pattern = re.compile(spec.product_url_pattern) if spec.product_url_pattern else None
        if spec.render_javascript and browser_guards is None:
            raise ValueError("rendering JavaScript needs the browser's guards")
        self.browser_guards = browser_guards
        self.breaker = CircuitBreaker(spec.breaker_threshold)
        self.sites = frozenset(links.site_of(url) for url in spec.start_urls)
        self.skip = frozenset(links.canonical(url) for url in spec.skip_urls)
        self.seen_products: set[str] = set()
        self.listing_budget = max(_MIN_LISTING_BUDGET, spec.max_pages)
        self.listing_pages_queued = 0
        # True when max_pages left product links unfetched.
        self.truncated = False
        self.close_reason = ""
        self.close_detail = ""
        # Why robots.txt could not be read, for the first host it could not be read on.
        self.robots_unavailable = ""
        self.stopping = False
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "product_pages",
                "listing_pages",
                "failed_pages",
                "refused_pages",
                "priced_pages",
                "skipped_urls",
                "requests",
                "response_bytes",
            ),
            0,
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> OfferSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        assert isinstance(spider, OfferSpider)
        return spider

    def _closed(self, spider: Spider, reason: str) -> None:
        self.close_reason = reason

    async def start(self) -> AsyncIterator[Request]:
        kind = {SourceKind.PRODUCT_URLS: PRODUCT, SourceKind.LISTING: LISTING, SourceKind.SITEMAP: SITEMAP}
        for url in self.spec.start_urls:
            if self.cancelled():
                return
            try:
                checked = validate_fetch_url(url, field="start_urls")
            except InvalidArgument as error:
                self._refuse(url, error.message)
                continue
            # Fetched in its normal form, reported as the spec wrote it (the worker knows it that way).
            for request in self._requests(kind[self.spec.kind], [checked], reported=url):
                yield request

    # Requests.

    def _requests(self, kind: str, urls: list[str], reported: str | None = None) -> Iterator[Request]:
        for url in urls:
            if not links.is_web_url(url):
                self._refuse(url, f"not an http(s) URL: {url[:200]!r}")
                continue
            if kind == PRODUCT and not self._admit_product(reported or url):
                continue
            if kind != PRODUCT:
                if self.listing_pages_queued >= self.listing_budget:
                    self.truncated = True
                    continue
                self.listing_pages_queued += 1
            try:
                request = Request(
                    url,
                    callback=self.parse_product if kind == PRODUCT else self.parse_links,
                    errback=self.failed,
                    priority=_PRODUCT_PRIORITY if kind == PRODUCT else 0,
                    meta={_KIND_META: kind, _URL_META: reported or url},
                    # Products are deduplicated above, by canonical URL, so Scrapy need not fingerprint them.
                    dont_filter=kind == PRODUCT,
                )
            except ValueError as error:
                self._refuse(url, f"unusable URL: {error}")
                continue
            if self.browser_guards is not None and self.spec.render_javascript and kind != SITEMAP:
                request = rendered(request, self.browser_guards)
            self.counts["requests"] += 1
            yield request

    def _admit_product(self, url: str) -> bool:
        key = links.canonical(url)
        if key in self.seen_products:
            return False
        if key in self.skip:
            self.seen_products.add(key)
            self.counts["skipped_urls"] += 1
            return False
        if len(self.seen_products) - self.counts["skipped_urls"] >= self.spec.max_pages:
            self.truncated = True
            return False
        self.seen_products.add(key)
        return True

    def _budget_left(self) -> bool:
        return len(self.seen_products) - self.counts["skipped_urls"] < self.spec.max_pages

    # Callbacks.

    def parse_product(self, response: Response) -> None:
        self.breaker.success(response.url)
        self.counts["response_bytes"] += len(response.body)
        if not isinstance(response, TextResponse):
            self._fail(response, f"not an HTML page ({_content_type(response) or 'no content type'})")
            return
        # A rendered page comes from the browser, which DOWNLOAD_MAXSIZE does not watch.
        if len(response.body) > self.spec.max_page_bytes:
            self._fail(response, f"response larger than {self.spec.max_page_bytes} bytes")
            return
        try:
            page = parse_page(response.body, content_type=_content_type(response))
            offer = extract_offer(page, response.url, self.options)
            fingerprint = layout_fingerprint(page.document) if page.document is not None else ""
        except InvalidArgument as error:
            self._fail(response, error.message)
            return
        except Exception as error:
            # A page that breaks extraction is reported like any failed page; the crawl goes on.
            logger.exception("extraction failed on %s", response.url)
            self._fail(response, f"extraction failed: {type(error).__name__}: {error}")
            return
        self.counts["product_pages"] += 1
        if offer.price is not None:
            self.counts["priced_pages"] += 1
        self.sink(
            PageRecord(
                outcome=PageOutcome.PRODUCT,
                url=response.meta[_URL_META],
                final_url=response.url,
                fetch_time=utcnow().isoformat(),
                http_status=response.status,
                layout_fingerprint=fingerprint,
                offer=_fields(offer),
            )
        )

    def parse_links(self, response: Response) -> Iterator[Request]:
        self.breaker.success(response.url)
        self.counts["response_bytes"] += len(response.body)
        if len(response.body) > self.spec.max_page_bytes:
            self._fail(response, f"response larger than {self.spec.max_page_bytes} bytes")
            return iter(())
        if response.meta[_KIND_META] == SITEMAP:
            return self._sitemap(response)
        return self._listing(response)

    def _listing(self, response: Response) -> Iterator[Request]:
        if not isinstance(response, TextResponse):
            self._fail(response, f"not an HTML page ({_content_type(response) or 'no content type'})")
            return
        try:
            page = parse_page(response.body, content_type=_content_type(response))
        except InvalidArgument as error:
            self._fail(response, error.message)
            return
        document = page.document
        if document is None:
            self._fail(response, page.problem)
            return
        base = links.document_base(document, response.url)
        spec = self.spec
        if spec.product_link_selector:
            found = links.selector_links(document, spec.product_link_selector)
        else:
            found = links.structured_product_links(document)
            if not found and self.pattern is not None:
                found = links.all_links(document)
        products = list(links.resolve(found, base, self.sites, self.pattern))
        next_links = links.next_page_links(document, spec.next_page_selector)
        next_pages = list(links.resolve(next_links, base, self.sites, None))
        self._listed(response, layout_fingerprint(document))
        yield from self._requests(PRODUCT, products)
        if self._budget_left():
            yield from self._requests(LISTING, next_pages)
        elif next_pages:
            self.truncated = True

    def _sitemap(self, response: Response) -> Iterator[Request]:
        body = response.body
        if gzip_magic_number(response):
            try:
                body = gunzip(body, max_size=self.spec.max_page_bytes)
            except ValueError:
                self._fail(response, f"sitemap larger than {self.spec.max_page_bytes} bytes after decompression")
                return
        try:
            sitemap = Sitemap(body)
            locations = [entry["loc"] for entry in sitemap if isinstance(entry.get("loc"), str)]
        except (StopIteration, etree.LxmlError) as error:
            self._fail(response, f"not a sitemap: {error or 'no XML'}")
            return
        if sitemap.type not in ("sitemapindex", "urlset"):
            self._fail(response, f"not a sitemap (its root element is {sitemap.type!r})")
            return
        self._listed(response, "")
        if sitemap.type == "sitemapindex":
            if self._budget_left():
                yield from self._requests(SITEMAP, list(links.resolve(locations, response.url, self.sites, None)))
            elif locations:
                self.truncated = True
            return
        yield from self._requests(PRODUCT, list(links.resolve(locations, response.url, self.sites, self.pattern)))

    def failed(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        stopping = self.stopping or not self.crawler.crawling
        described = describe_failure(failure, max_bytes=self.spec.max_page_bytes, stopping=stopping)
        self._record(request, request.url, described.outcome, described.error, described.status)
        if isinstance(failure.value, RobotsUnavailable):
            self.robots_unavailable = self.robots_unavailable or described.error
            # A one-shop crawl (the usual) follows links only on that shop, so nothing more could be fetched.
            if self.sites == {links.site_of(request.url)}:
                self._stop("robots_unavailable", described.error)
        elif described.breaker_failure and self.breaker.failure(request.url, described.error) is not None:
            self._stop("circuit_open", "")

    def _stop(self, reason: str, detail: str) -> None:
        if not self.stopping:
            self.stopping = True
            self.close_detail = detail
            raise CloseSpider(reason)

    # Records.

    def _listed(self, response: Response, fingerprint: str) -> None:
        self.counts["listing_pages"] += 1
        self.sink(
            PageRecord(
                outcome=PageOutcome.LISTING,
                url=response.meta[_URL_META],
                final_url=response.url,
                fetch_time=utcnow().isoformat(),
                http_status=response.status,
                layout_fingerprint=fingerprint,
            )
        )

    def _fail(self, response: Response, error: str) -> None:
        self._record(response.request, response.url, PageOutcome.FAILED, error, response.status)

    def _refuse(self, url: str, reason: str) -> None:
        self._record(None, url, PageOutcome.REFUSED, reason, 0)

    def _record(self, request: Request | None, final_url: str, outcome: PageOutcome, error: str, status: int) -> None:
        self.counts["failed_pages" if outcome is PageOutcome.FAILED else "refused_pages"] += 1
        url = request.meta.get(_URL_META, request.url) if request is not None else final_url
        self.sink(
            PageRecord(
                outcome=outcome,
                url=url,
                final_url=final_url,
                fetch_time=utcnow().isoformat(),
                http_status=status,
                error=error,
            )
        )


def _content_type(response: Response) -> str | None:
    value = response.headers.get(b"Content-Type")
    return value.decode("latin-1") if value else None


def _fields(offer: ExtractedOffer) -> ExtractedFields:
    return ExtractedFields(
        price_minor=offer.price.amount_minor if offer.price is not None else None,
        currency=offer.currency,
        in_stock=offer.in_stock,
        title=offer.title,
        brand=offer.brand,
        gtin=offer.gtin,
        mpn=offer.mpn,
        image=offer.image,
        method=offer.method.value if offer.method is not None else None,
        confidence=offer.confidence,
        notes=offer.notes,
    )
