"""`python -m services.scraper.crawl SPEC_PATH`: one crawl, in its own process, reported on stdout.

Reads a CrawlSpec (JSON) from SPEC_PATH, runs one Scrapy crawl, and writes one contract line per page
to stdout as pages arrive, then one CrawlSummary line last. Nothing else is written to stdout: its file
descriptor is kept for the lines and fd 1 then points at stderr, so stray output lands with the logs.

The summary is always written: "finished", "max_pages", "circuit_open", "robots_unavailable",
"cancelled" (SIGTERM or SIGINT; pages still in flight are dropped) or "error" (the spec was refused,
Chromium is missing, or the crawl broke). The exit status is 0 whenever the crawl came to an end it
reports, and non-zero only when the process itself crashed.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from scrapy.crawler import CrawlerProcess

from runtime.errors import DomainError
from runtime.netguard import AddressPolicy
from services.scraper.crawl.contract import CrawlSpec, CrawlSummary, PageRecord, encode_line
from services.scraper.crawl.guard import make_playwright_route_guard, make_playwright_websocket_guard
from services.scraper.crawl.render import BrowserGuards, ChromiumMissing
from services.scraper.crawl.scrapy_settings import crawl_settings
from services.scraper.crawl.spider import OfferSpider, source_options
from services.scraper.extraction.selectors import compile_selector

logger = logging.getLogger("services.scraper.crawl")

_CLOSE_REASONS = {"finished", "circuit_open", "robots_unavailable"}


class LineWriter:
    """Contract lines to the worker, one write each so a line is never split; stops the crawl if nobody reads."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.broken = False

    def __call__(self, item: PageRecord | CrawlSummary) -> None:
        if self.broken:
            return
        data = memoryview(encode_line(item))
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except BrokenPipeError:
            self.broken = True
            os.kill(os.getpid(), signal.SIGTERM)


class EarlyCancel:
    """SIGTERM before Scrapy installs its own handlers (it does when the crawl starts) cancels the crawl."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def validate(spec: CrawlSpec) -> None:
    """Everything about a spec that would otherwise fail mid-crawl; InvalidArgument/ValueError saying what."""
    if spec.max_pages < 0:
        raise ValueError("max_pages must not be negative")
    if spec.breaker_threshold < 1 or spec.max_page_bytes < 1 or spec.concurrency_per_domain < 1:
        raise ValueError("breaker_threshold, max_page_bytes and concurrency_per_domain must be positive")
    if spec.timeout_seconds <= 0 or spec.download_delay_seconds < 0:
        raise ValueError("timeout_seconds must be positive and download_delay_seconds not negative")
    source_options(spec)
    for name in ("product_link_selector", "next_page_selector"):
        selector = getattr(spec, name)
        if selector is not None:
            compile_selector(selector, field=name)
    if spec.product_url_pattern is not None:
        try:
            re.compile(spec.product_url_pattern)
        except re.error as error:
            raise ValueError(f"product_url_pattern is not a regular expression: {error}") from None
    AddressPolicy.of(spec.allow_hosts)


def run(spec: CrawlSpec, sink: LineWriter, cancelled: EarlyCancel) -> CrawlSummary:
    try:
        settings = crawl_settings(spec)
    except ChromiumMissing as error:
        return CrawlSummary("error", detail=str(error))
    policy = AddressPolicy.of(spec.allow_hosts)
    guards = (
        BrowserGuards(make_playwright_route_guard(policy), make_playwright_websocket_guard(policy))
        if spec.render_javascript
        else None
    )
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(OfferSpider)
    process.crawl(crawler, spec=spec, sink=sink, browser_guards=guards, cancelled=cancelled)
    process.start()
    spider = crawler.spider
    if not isinstance(spider, OfferSpider):
        return CrawlSummary("error", detail="the crawl did not start (see the log on stderr)")
    stats: dict[str, Any] = crawler.stats.get_stats() if crawler.stats is not None else {}
    return summarise(spider, stats, cancelled=cancelled() or sink.broken)


def summarise(spider: OfferSpider, stats: dict[str, Any], *, cancelled: bool) -> CrawlSummary:
    figures = dict(spider.counts)
    figures.update(
        retries=int(stats.get("retry/count", 0)),
        elapsed_ms=int(float(stats.get("elapsed_time_seconds", 0.0)) * 1000),
    )
    reason = spider.close_reason
    opened = spider.breaker.opened
    if reason == "circuit_open" and opened is not None:
        return CrawlSummary("circuit_open", detail=opened.detail, host=opened.host, stats=figures)
    if reason in ("shutdown", "cancelled") or cancelled:
        return CrawlSummary("cancelled", detail="stopped on request", stats=figures)
    fetched = figures["product_pages"] + figures["listing_pages"]
    if reason == "finished" and not fetched and spider.robots_unavailable:
        return CrawlSummary("robots_unavailable", detail=spider.robots_unavailable, stats=figures)
    if reason == "finished" and spider.truncated:
        return CrawlSummary("max_pages", detail=f"stopped at max_pages={spider.spec.max_pages}", stats=figures)
    if reason in _CLOSE_REASONS:
        return CrawlSummary(reason, detail=spider.close_detail, stats=figures)
    return CrawlSummary("error", detail=f"the crawl closed: {reason or 'unknown reason'}", stats=figures)


def _claim_stdout() -> int:
    """A private descriptor for the contract lines; fd 1 (and sys.stdout) then point at stderr."""
    records = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return records


def main(argv: list[str]) -> int:
    cancelled = EarlyCancel()
    sink = LineWriter(_claim_stdout())
    if len(argv) != 1:
        sink(CrawlSummary("error", detail="usage: python -m services.scraper.crawl SPEC_PATH"))
        return 2
    try:
        spec = CrawlSpec.from_json(Path(argv[0]).read_bytes())
        validate(spec)
    except (OSError, ValueError, TypeError, KeyError, DomainError) as error:
        message = error.message if isinstance(error, DomainError) else str(error)
        sink(CrawlSummary("error", detail=f"invalid crawl spec: {message}"))
        return 0
    try:
        summary = run(spec, sink, cancelled)
    except Exception as error:
        logger.exception("crawl %s crashed", spec.job_id)
        sink(CrawlSummary("error", detail=f"the crawl process crashed: {type(error).__name__}: {error}"))
        return 1
    sink(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
