"""The crawl child process end to end: `python -m services.scraper.crawl SPEC` against a local shop.

The shop is an HTTP server in this test process serving crawl_site/ (listings with pagination, product
pages in JSON-LD, microdata and plain European-format HTML, a sitemap index, a JavaScript-rendered
page) plus misbehaving pages made on the fly: always-503, 50 MB, a gzip bomb, slow products.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html

from services.scraper.crawl.breaker import CircuitBreaker
from services.scraper.crawl.contract import CrawlSpec, CrawlSummary, PageOutcome, PageRecord, SourceKind, decode_line
from services.scraper.crawl.fingerprint import layout_fingerprint

pytestmark = pytest.mark.integration

SITE = Path(__file__).parent / "crawl_site"
REPO = Path(__file__).resolve().parents[3]
MB = 1024 * 1024
HUGE_BYTES = 50 * MB
BOMB_INFLATED_BYTES = 64 * MB
CHUNK = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>\n"


@dataclass
class Shop:
    port: int
    paths: list[str] = field(default_factory=list)
    bytes_sent: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def spec(self, kind: SourceKind, *paths: str, **fields: Any) -> CrawlSpec:
        defaults: dict[str, Any] = {"max_pages": 100, "allow_hosts": (f"127.0.0.1:{self.port}",)}
        return CrawlSpec(
            job_id="job_test",
            source_id="src_test",
            kind=kind,
            start_urls=tuple(self.url(path) if path.startswith("/") else path for path in paths),
            **{**defaults, **fields},
        )


class _Handler(http.server.BaseHTTPRequestHandler):
    shop: Shop
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.shop.paths.append(path)
        if path.startswith("/always-503/"):
            self._send(503, b"<h1>Down for maintenance</h1>")
        elif path == "/huge-announced.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            self._stream(path, HUGE_BYTES)
        elif path == "/huge-streamed.html":
            # No length: the client only finds out while reading.
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            self._stream(path, HUGE_BYTES)
            self.close_connection = True
        elif path == "/bomb.html":
            self._send(200, _gzip_bomb(), headers={"Content-Encoding": "gzip"})
        elif path.startswith("/slow/"):
            time.sleep(0.3)
            self._file("/products/kettle.html")
        elif path == "/slow-listing.html":
            links = "".join(f'<a href="/slow/{n}.html">Product {n}</a>' for n in range(60))
            self._send(200, f"<html><body>{links}</body></html>".encode())
        elif path.endswith(".xml.gz"):
            self._send(200, gzip.compress(self._site_bytes(path.removesuffix(".gz")) or b""), "application/gzip")
        else:
            self._file(path)

    def _file(self, path: str) -> None:
        data = self._site_bytes(path)
        if data is None:
            self._send(404, b"<h1>Not found</h1>")
            return
        kinds = {".xml": "application/xml", ".json": "application/json", ".txt": "text/plain"}
        self._send(200, data, kinds.get(Path(path).suffix, "text/html; charset=utf-8"))

    def _site_bytes(self, path: str) -> bytes | None:
        target = (SITE / path.lstrip("/")).resolve()
        if SITE.resolve() not in target.parents or not target.is_file():
            return None
        return target.read_bytes().replace(b"{{base}}", self.shop.base.encode())

    def _send(self, status: int, body: bytes, kind: str = "text/html", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, path: str, total: int) -> None:
        sent = 0
        try:
            while sent < total:
                self.wfile.write(CHUNK)
                sent += len(CHUNK)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.shop.bytes_sent[path] = sent


@functools.cache
def _gzip_bomb() -> bytes:
    """About 64 KB on the wire, 64 MB once inflated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    chunk = b"\0" * MB
    return b"".join(compressor.compress(chunk) for _ in range(BOMB_INFLATED_BYTES // MB)) + compressor.flush()


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    record = Shop(port=server.server_address[1])
    _Handler.shop = record
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()


@dataclass
class Crawl:
    pages: list[PageRecord]
    summary: CrawlSummary
    returncode: int
    stderr: str

    def by_url(self, outcome: PageOutcome) -> dict[str, PageRecord]:
        return {page.url: page for page in self.pages if page.outcome is outcome}


def _start(spec: CrawlSpec, tmp_path: Path) -> subprocess.Popen[bytes]:
    spec_path = tmp_path / f"spec-{time.monotonic_ns()}.json"
    spec_path.write_bytes(spec.to_json())
    return subprocess.Popen(
        [sys.executable, "-m", "services.scraper.crawl", str(spec_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _parse(stdout: bytes, returncode: int, stderr: bytes) -> Crawl:
    items = [decode_line(line) for line in stdout.splitlines()]
    assert items, stderr.decode()
    *pages, summary = items
    assert isinstance(summary, CrawlSummary), "the summary comes last"
    assert all(isinstance(page, PageRecord) for page in pages)
    return Crawl([page for page in pages if isinstance(page, PageRecord)], summary, returncode, stderr.decode())


def crawl(spec: CrawlSpec, tmp_path: Path, timeout: float = 45) -> Crawl:
    process = _start(spec, tmp_path)
    stdout, stderr = process.communicate(timeout=timeout)
    return _parse(stdout, process.returncode, stderr)


def _eventually(read: Any, timeout: float = 5.0) -> Any:
    """What ``read()`` returns once it returns something (the shop's threads finish on their own time)."""
    deadline = time.monotonic() + timeout
    while (value := read()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert value is not None
    return value


def test_listing_crawl_follows_pagination_and_reads_every_markup_style(shop: Shop, tmp_path: Path) -> None:
    result = crawl(shop.spec(SourceKind.LISTING, "/listing/1.html", product_url_pattern="/products/"), tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.summary.finish_reason == "finished"
    assert set(result.by_url(PageOutcome.LISTING)) == {shop.url(f"/listing/{n}.html") for n in (1, 2, 3)}
    products = result.by_url(PageOutcome.PRODUCT)
    readings = {
        url.removeprefix(shop.base): (p.offer.price_minor, p.offer.currency, p.offer.in_stock, p.offer.method)
        for url, p in products.items()
        if p.offer is not None
    }
    assert readings == {
        "/products/trail-runner.html": (12999, "USD", True, "json_ld"),
        "/products/espresso-grinder.html": (8950, "USD", True, "json_ld"),
        "/products/kettle.html": (4999, "GBP", True, "microdata"),
        "/products/toaster.html": (3400, "GBP", False, "microdata"),
        "/products/espressomaschine.html": (129900, "EUR", True, "heuristic"),
        # Linked with a #fragment: fetched once, without it.
        "/products/wasserkocher.html": (3990, "EUR", True, "heuristic"),
    }
    # One template, one fingerprint; three templates, three.
    fingerprints = {url.removeprefix(shop.base): page.layout_fingerprint for url, page in products.items()}
    assert fingerprints["/products/trail-runner.html"] == fingerprints["/products/espresso-grinder.html"]
    assert fingerprints["/products/kettle.html"] == fingerprints["/products/toaster.html"]
    assert len(set(fingerprints.values())) == 3
    assert "/about.html" not in shop.paths
    assert "/impressum.html" not in shop.paths
    stats = result.summary.stats
    assert (stats["product_pages"], stats["listing_pages"], stats["priced_pages"]) == (6, 3, 6)
    assert stats["failed_pages"] == stats["refused_pages"] == 0


def test_listing_crawl_with_operator_selectors(shop: Shop, tmp_path: Path) -> None:
    spec = shop.spec(
        SourceKind.LISTING,
        "/listing/2.html",
        product_link_selector="css:.tile a",
        next_page_selector="//a[@rel='next']/@href",
    )
    result = crawl(spec, tmp_path)

    assert result.summary.finish_reason == "finished", result.stderr
    assert set(result.by_url(PageOutcome.LISTING)) == {shop.url("/listing/2.html"), shop.url("/listing/3.html")}
    # Links to other sites (elsewhere.example on page 3) are not followed.
    assert {url.removeprefix(shop.base) for url in result.by_url(PageOutcome.PRODUCT)} == {
        "/products/kettle.html",
        "/products/toaster.html",
        "/products/espressomaschine.html",
        "/products/wasserkocher.html",
    }


def test_sitemap_index_leads_to_plain_and_gzipped_sitemaps(shop: Shop, tmp_path: Path) -> None:
    result = crawl(shop.spec(SourceKind.SITEMAP, "/sitemaps/index.xml", product_url_pattern=r"/products/"), tmp_path)

    assert result.summary.finish_reason == "finished", result.stderr
    assert set(result.by_url(PageOutcome.LISTING)) == {
        shop.url(path) for path in ("/sitemaps/index.xml", "/sitemaps/products.xml", "/sitemaps/more-products.xml.gz")
    }
    assert len(result.by_url(PageOutcome.PRODUCT)) == 6
    assert all(page.offer and page.offer.price_minor for page in result.by_url(PageOutcome.PRODUCT).values())


def test_max_pages_stops_early_and_skip_urls_are_not_fetched_again(shop: Shop, tmp_path: Path) -> None:
    spec = shop.spec(
        SourceKind.LISTING,
        "/listing/1.html",
        product_url_pattern="/products/",
        max_pages=3,
        # Spelled differently from the listing's link (fragment): still the same page.
        skip_urls=(shop.url("/products/trail-runner.html#top"),),
    )
    result = crawl(spec, tmp_path)

    assert result.summary.finish_reason == "max_pages"
    assert result.summary.stats["skipped_urls"] == 1
    products = result.by_url(PageOutcome.PRODUCT)
    assert len(products) == 3
    assert shop.url("/products/trail-runner.html") not in products
    # The third listing page was not needed.
    assert shop.url("/listing/3.html") not in result.by_url(PageOutcome.LISTING)


def test_repeated_503s_open_the_circuit_breaker(shop: Shop, tmp_path: Path) -> None:
    paths = [f"/always-503/{n}.html" for n in range(12)]
    before = len(shop.paths)
    result = crawl(shop.spec(SourceKind.PRODUCT_URLS, *paths, breaker_threshold=4, concurrency_per_domain=1), tmp_path)

    assert result.returncode == 0
    summary = result.summary
    assert summary.finish_reason == "circuit_open"
    assert summary.host == f"127.0.0.1:{shop.port}"
    assert (
        summary.detail == f"4 consecutive failures fetching 127.0.0.1:{shop.port} (last: HTTP 503 Service Unavailable)"
    )
    failed = result.by_url(PageOutcome.FAILED)
    assert 4 <= len(failed) < 12
    assert {page.error for page in failed.values()} == {"HTTP 503 Service Unavailable"}
    assert {page.http_status for page in failed.values()} == {503}
    # Each page was tried three times (two retries) before it counted as one failure, and the crawl stopped
    # soon after the fourth: most pages were never asked for.
    assert summary.stats["retries"] >= 8
    tried = [path for path in shop.paths[before:] if path.startswith("/always-503/")]
    assert len(set(tried)) <= 8


def test_bad_pages_fail_or_are_refused_in_words_and_the_crawl_goes_on(shop: Shop, tmp_path: Path) -> None:
    urls = (
        "/huge-announced.html",
        "/huge-streamed.html",
        "/bomb.html",
        "/missing.html",
        "/private/secret.html",
        # Not allow-listed: another port on loopback, by name and by address.
        "http://localhost:9/products/kettle.html",
        f"http://127.0.0.2:{shop.port}/products/kettle.html",
        "gopher://127.0.0.1/1",
        "/products/kettle.html",
    )
    result = crawl(shop.spec(SourceKind.PRODUCT_URLS, *urls, max_page_bytes=MB), tmp_path)

    assert result.returncode == 0
    assert result.summary.finish_reason == "finished"
    failed = {url.removeprefix(shop.base): page.error for url, page in result.by_url(PageOutcome.FAILED).items()}
    assert failed == {
        "/huge-announced.html": f"response larger than {MB} bytes ({HUGE_BYTES} announced)",
        "/huge-streamed.html": f"response larger than {MB} bytes",
        "/bomb.html": f"response larger than {MB} bytes after decompression",
        "/missing.html": "HTTP 404 Not Found",
    }
    refused = {url.removeprefix(shop.base): page.error for url, page in result.by_url(PageOutcome.REFUSED).items()}
    assert refused["/private/secret.html"] == "robots.txt disallows /private/secret.html"
    assert "localhost resolves to" in refused["http://localhost:9/products/kettle.html"]
    assert refused[f"http://127.0.0.2:{shop.port}/products/kettle.html"] == "127.0.0.2 is a loopback address"
    assert "gopher" in refused["gopher://127.0.0.1/1"]
    assert "/private/secret.html" not in shop.paths
    # The streamed page was abandoned near the cap, not read to its 50 MB end.
    assert _eventually(lambda: shop.bytes_sent.get("/huge-streamed.html")) < 16 * MB
    assert result.by_url(PageOutcome.PRODUCT)[shop.url("/products/kettle.html")].offer is not None


def test_sigterm_stops_the_crawl_and_still_reports_a_summary(shop: Shop, tmp_path: Path) -> None:
    spec = shop.spec(SourceKind.LISTING, "/slow-listing.html", product_url_pattern="/slow/", concurrency_per_domain=1)
    process = _start(spec, tmp_path)
    assert process.stdout is not None
    first = process.stdout.readline()
    assert decode_line(first).outcome is PageOutcome.LISTING  # type: ignore[union-attr]
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=20)
    result = _parse(first + stdout, process.returncode, stderr)

    assert result.returncode == 0, result.stderr
    assert result.summary.finish_reason == "cancelled"
    assert len(result.by_url(PageOutcome.PRODUCT)) < 60


def test_an_invalid_spec_is_reported_not_crawled(shop: Shop, tmp_path: Path) -> None:
    result = crawl(shop.spec(SourceKind.PRODUCT_URLS, "/products/kettle.html", price_selector="div[[["), tmp_path)

    assert result.pages == []
    assert result.summary.finish_reason == "error"
    assert result.summary.detail.startswith("invalid crawl spec: invalid CSS selector")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium package is not installed")
def test_javascript_rendered_price_is_read_through_the_browser(shop: Shop, tmp_path: Path) -> None:
    before = len(shop.paths)
    result = crawl(shop.spec(SourceKind.PRODUCT_URLS, "/js/product.html", render_javascript=True), tmp_path, 60)

    assert result.summary.finish_reason == "finished", result.stderr
    page = result.by_url(PageOutcome.PRODUCT)[shop.url("/js/product.html")]
    assert page.offer is not None
    assert (page.offer.price_minor, page.offer.currency) == (2495, "EUR")
    requested = shop.paths[before:]
    assert "/js/price.json" in requested
    assert "/js/lamp.jpg" not in requested  # images are not fetched
    # The page's own request to a loopback address that is not allow-listed was stopped in the browser.
    assert f"browser request to http://127.0.0.2:{shop.port}/js/beacon.json aborted" in result.stderr


def test_chromium_missing_is_a_clear_error(shop: Shop, tmp_path: Path) -> None:
    spec = shop.spec(SourceKind.PRODUCT_URLS, "/js/product.html", render_javascript=True)
    spec_path = tmp_path / "spec.json"
    spec_path.write_bytes(spec.to_json())
    environment = {**os.environ, "PATH": str(tmp_path)}
    finished = subprocess.run(
        [sys.executable, "-m", "services.scraper.crawl", str(spec_path)],
        cwd=REPO,
        capture_output=True,
        env=environment,
        timeout=30,
        check=False,
    )
    result = _parse(finished.stdout, finished.returncode, finished.stderr)
    assert result.summary.finish_reason == "error"
    assert result.summary.detail.startswith("JavaScript rendering needs Debian's chromium package")


# The parts below the process, where a process per case would only add time.


def _page(body: str) -> Any:
    return lxml_html.document_fromstring(f"<html><head><title>x</title></head><body>{body}</body></html>")


def test_layout_fingerprint_ignores_content_and_sees_template_changes() -> None:
    product_a = _page(
        '<main class="product"><h1 class="title">Kettle</h1><span class="price">£49.99</span>'
        '<ul class="specs"><li class="spec">1.7 L</li><li class="spec">2 kW</li></ul>'
        '<div class="rating rating-45" id="p-4711">4.5</div></main>'
    )
    product_b = _page(
        '<main class="product"><h1 class="title">Toaster with a longer name</h1><span class="price">£34.00</span>'
        '<ul class="specs"><li class="spec">2 slices</li></ul>'
        '<div class="rating rating-30" id="p-815">3.0</div></main>'
    )
    redesigned = _page(
        '<main class="product"><h1 class="title">Kettle</h1><span class="amount">£49.99</span>'
        '<ul class="specs"><li class="spec">1.7 L</li></ul><div class="rating rating-45">4.5</div></main>'
    )

    assert layout_fingerprint(product_a) == layout_fingerprint(product_b)
    assert layout_fingerprint(product_a) != layout_fingerprint(redesigned)
    assert len(layout_fingerprint(product_a)) == 16


def test_breaker_counts_consecutive_failures_per_host_and_a_success_resets() -> None:
    breaker = CircuitBreaker(3)
    assert breaker.failure("http://shop.example:8701/a", "HTTP 503") is None
    assert breaker.failure("http://shop.example:8701/b", "HTTP 503") is None
    breaker.success("http://shop.example:8701/c")
    assert breaker.failure("http://shop.example:8701/d", "timed out") is None
    assert breaker.failure("http://other.example/e", "HTTP 500") is None
    assert breaker.failure("http://shop.example:8701/f", "timed out") is None
    opened = breaker.failure("http://shop.example:8701/g", "HTTP 429 Too Many Requests")
    assert opened is not None
    assert opened.detail == "3 consecutive failures fetching shop.example:8701 (last: HTTP 429 Too Many Requests)"
