"""Crawl throughput: our crawl child (full extraction) beside a bare Scrapy spider, on the same local shop.

Starts a fast local shop in its own process (pre-rendered responses on a raw asyncio server): --pages
product pages in the three markup styles of the extraction fixtures (JSON-LD; microdata; plain HTML with
European number formats), a sitemap listing them all, and a robots.txt. Then crawls it twice, each crawler
in its own process:

- ours: `python -m services.scraper.crawl SPEC` over the sitemap, every page through the address guard,
  strict robots.txt, extraction and the layout fingerprint, one JSON line per page;
- bare: a Scrapy spider with the same engine settings (scrapy_settings.engine_settings) and none of our
  middlewares or extraction: it fetches the same pages and yields an item of url and length for each,
  which a one-line pipeline writes out;
- bare + price: the same spider reading the price as a minimal hand-written price spider does (one
  selector for the JSON-LD block, microdata or a price class), so it pays the HTML parse ours pays too.

CPU is the crawler process's own (user + system, read from /proc) from its first page to its last, so
interpreter start-up is left out; wall time is over the same span. Budget (ARCHITECTURE.md): >= 400
product pages/s per core, and ours >= 0.8x the bare spider.

    .venv/bin/python bench/crawl.py [--pages 3000] [--concurrency 16] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
BUDGET_PER_CORE = 400.0
BUDGET_RATIO = 0.8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------------------- the shop

_WORDS = (
    *("steel", "oak", "linen", "carbon", "walnut", "copper", "matte", "compact", "pro", "classic", "travel"),
    *("studio", "garden", "kitchen", "ergonomic", "wireless", "quiet", "rapid", "eco", "double", "heavy"),
    *("light", "slim", "deluxe"),
)


def _name(index: int) -> str:
    return f"{_WORDS[index % 23].title()} {_WORDS[(index * 7) % 23].title()} {_WORDS[(index * 13) % 23]} {index}"


def _chrome(title: str, lang: str, head_extra: str, main: str, index: int) -> str:
    """The parts of a real shop page around the product: navigation, related products, footer."""
    nav = "".join(
        f'<li class="nav-item"><a class="nav-link" href="/c/{n}">{_WORDS[n % 23].title()} {_WORDS[n * 3 % 23]}</a>'
        f'<ul class="subnav">{"".join(f"<li><a href=/c/{n}/{m}>{_WORDS[m]}</a></li>" for m in range(6))}</ul></li>'
        for n in range(20)
    )
    related = "".join(
        f'<li class="tile"><a class="tile-link" href="/p/{(index + n) % 97}.html">'
        f'<img class="tile-image" src="/img/{n}.jpg" alt="{_name(index + n)}"><span class="tile-name">'
        f'{_name(index + n)}</span></a><span class="tile-badge">New</span><span class="rating">4.{n} of 5</span></li>'
        for n in range(1, 17)
    )
    description = " ".join(_WORDS[(index + n) % 23] for n in range(600))
    tracking = "var dataLayer = [" + ",".join(f'{{"event": "view", "slot": {n}}}' for n in range(120)) + "];"
    footer = "".join(f'<a class="footer-link" href="/info/{n}">{_WORDS[n]}</a>' for n in range(15))
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title} | Bench Shop</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="/static/shop.css">{head_extra}<script>{tracking}</script></head><body>'
        f'<header class="site-header"><a class="logo" href="/">Bench Shop</a>'
        f'<form class="search" action="/search"><input name="q" type="search"></form>'
        f'<nav class="main-nav"><ul class="nav">{nav}</ul></nav></header>'
        f'<div class="breadcrumbs"><a href="/">Home</a> / <a href="/c/1">Catalog</a> / {title}</div>'
        f"{main}"
        f'<section class="description"><h2>About this product</h2><p>{description}</p></section>'
        f'<aside class="related"><h2>You may also like</h2><ul class="tiles">{related}</ul></aside>'
        f'<footer class="site-footer">{footer}<p class="legal">All prices include VAT.</p></footer>'
        f'<script src="/static/shop.js"></script></body></html>'
    )


def product_page(index: int) -> bytes:
    name = _name(index)
    minor = 500 + (index * 7919) % 150_000
    major, cents = divmod(minor, 100)
    style = index % 3
    if style == 0:
        json_ld = (
            '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Product", '
            f'"name": "{name}", "sku": "B-{index}", "gtin13": "{4006381000000 + index}", '
            '"brand": {"@type": "Brand", "name": "Acme"}, "image": "/img/p.jpg", '
            f'"offers": {{"@type": "Offer", "price": "{major}.{cents:02d}", "priceCurrency": "USD", '
            '"availability": "https://schema.org/InStock"}}</script>'
        )
        main = (
            f'<main class="product"><h1 class="product-title">{name}</h1>'
            f'<p class="price">${major:,}.{cents:02d}</p><p class="stock">In stock</p>'
            f'<button class="add-to-cart">Add to cart</button></main>'
        )
        return _chrome(name, "en", json_ld, main, index).encode()
    if style == 1:
        main = (
            f'<main class="product" itemscope itemtype="https://schema.org/Product">'
            f'<h1 itemprop="name">{name}</h1><span itemprop="brand">Brewster</span>'
            f'<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
            f'<span itemprop="price" content="{major}.{cents:02d}">£{major:,}.{cents:02d}</span>'
            f'<meta itemprop="priceCurrency" content="GBP">'
            f'<link itemprop="availability" href="https://schema.org/InStock"></div>'
            f'<button class="add-to-cart">Add to basket</button></main>'
        )
        return _chrome(name, "en-GB", "", main, index).encode()
    euro = f"{major:,}".replace(",", ".") + f",{cents:02d}"
    main = (
        f'<main class="product-main"><h1 class="product-title">{name}</h1>'
        f'<div class="buybox"><span class="amount">{euro} €</span>'
        f'<p class="stock">Auf Lager, sofort lieferbar</p></div>'
        f'<button class="add-to-cart">In den Warenkorb</button></main>'
    )
    return _chrome(name, "de", "", main, index).encode()


def shop_responses(pages: int, base: str) -> dict[bytes, bytes]:
    def response(body: bytes, kind: str) -> bytes:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    urls = "".join(f"<url><loc>{base}/p/{n}.html</loc></url>" for n in range(pages))
    sitemap = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    routes = {
        b"/robots.txt": response(b"User-agent: *\nDisallow: /checkout/\n", "text/plain"),
        b"/sitemap.xml": response(sitemap.encode(), "application/xml"),
    }
    for n in range(pages):
        routes[f"/p/{n}.html".encode()] = response(product_page(n), "text/html; charset=utf-8")
    return routes


class _ShopProtocol(asyncio.Protocol):
    NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    def __init__(self, routes: dict[bytes, bytes]) -> None:
        self.routes = routes
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].split(b"?", 1)[0]
            assert self.transport is not None
            self.transport.write(self.routes.get(path, self.NOT_FOUND))


def serve(port: int, pages: int) -> None:
    import uvloop

    routes = shop_responses(pages, f"http://127.0.0.1:{port}")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _ShopProtocol(routes), "127.0.0.1", port, backlog=512)
        print("ready", flush=True)
        await server.serve_forever()

    uvloop.run(main())


# ---------------------------------------------------------------------------------- the bare spider


class LinePipeline:
    """The bare spider's output: one line per item, as the worker reads ours."""

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        sys.stdout.buffer.write(f"{item['url']} {item.get('length', item.get('price'))!r}\n".encode())
        sys.stdout.buffer.flush()
        return item


def bare(spec_path: str, reads_price: bool) -> None:
    """A spider with our engine settings and nothing else: sitemap in, an item per page (url and length, or
    url and the price text a single selector finds)."""
    from scrapy import Request, Spider
    from scrapy.crawler import CrawlerProcess
    from scrapy.http import Response
    from scrapy.utils.sitemap import Sitemap

    from services.scraper.crawl.contract import CrawlSpec
    from services.scraper.crawl.scrapy_settings import engine_settings

    spec = CrawlSpec.from_json(Path(spec_path).read_bytes())

    class BareSpider(Spider):
        name = "bare"

        async def start(self) -> AsyncIterator[Request]:
            for url in spec.start_urls:
                yield Request(url, callback=self.sitemap)

        def sitemap(self, response: Response) -> Iterator[Request]:
            for entry in Sitemap(response.body):
                yield Request(entry["loc"], callback=self.page, priority=10)

        def page(self, response: Response) -> Iterator[dict[str, Any]]:
            if reads_price:
                price = response.xpath(_BARE_PRICE).get()
                yield {"url": response.url, "price": price}
            else:
                yield {"url": response.url, "length": len(response.body)}

    process = CrawlerProcess({**engine_settings(spec), "ITEM_PIPELINES": {f"{__name__}.LinePipeline": 100}})
    process.crawl(BareSpider)
    process.start()


_BARE_PRICE = (
    '//script[@type="application/ld+json"]/text() | //*[@itemprop="price"]/@content | '
    '//*[contains(@class, "price")]/text()'
)

# ---------------------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Run:
    name: str
    pages: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def per_core(self) -> float:
        return self.pages / self.cpu_seconds

    @property
    def per_second(self) -> float:
        return self.pages / self.wall_seconds


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def measure(name: str, command: list[str], expected: int, is_page: Any) -> Run:
    """Pages and crawler CPU from the first page line to the last (the process is read before it exits)."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    pages = 0
    first_cpu = first_wall = last_cpu = last_wall = 0.0
    for line in process.stdout:
        if not is_page(line):
            continue
        pages += 1
        if pages == 1:
            first_cpu, first_wall = _cpu_seconds(process.pid), time.perf_counter()
        elif pages == expected:
            last_cpu, last_wall = _cpu_seconds(process.pid), time.perf_counter()
    process.wait()
    if pages != expected:
        raise SystemExit(f"{name}: {pages} pages crawled, {expected} expected")
    # The first page's own cost falls before the first reading: count the span as pages - 1.
    return Run(name, pages - 1, last_cpu - first_cpu, last_wall - first_wall)


def _is_product_line(line: bytes) -> bool:
    return line.startswith(b'{"kind":"page","outcome":"product"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--bare-price", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.pages)
        return
    if args.bare or args.bare_price:
        bare(args.bare or args.bare_price, reads_price=bool(args.bare_price))
        return

    from runtime.testing.mesh import free_port
    from services.scraper.crawl.contract import CrawlSpec, SourceKind

    port = free_port()
    shop = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--pages", str(args.pages)], stdout=subprocess.PIPE
    )
    try:
        assert shop.stdout is not None
        shop.stdout.readline()
        spec = CrawlSpec(
            job_id="job_bench",
            source_id="src_bench",
            kind=SourceKind.SITEMAP,
            start_urls=(f"http://127.0.0.1:{port}/sitemap.xml",),
            max_pages=args.pages,
            allow_hosts=(f"127.0.0.1:{port}",),
            concurrency_per_domain=args.concurrency,
        )
        with tempfile.TemporaryDirectory() as scratch:
            spec_path = Path(scratch) / "spec.json"
            spec_path.write_bytes(spec.to_json())
            python = sys.executable
            print(f"{args.pages} product pages, concurrency {args.concurrency}, local shop on port {port}")
            for round_number in range(1, args.rounds + 1):
                ours = measure(
                    "ours", [python, "-m", "services.scraper.crawl", str(spec_path)], args.pages, _is_product_line
                )
                bare_run = measure(
                    "bare", [python, __file__, "--bare", str(spec_path)], args.pages, lambda line: b" " in line
                )
                priced = measure(
                    "bare + price",
                    [python, __file__, "--bare-price", str(spec_path)],
                    args.pages,
                    lambda line: b" " in line,
                )
                print(f"round {round_number}")
                for run in (bare_run, priced, ours):
                    print(
                        f"  {run.name:>12}: {run.pages} pages in {run.wall_seconds:.2f} s wall, "
                        f"{run.cpu_seconds:.2f} s CPU: {run.per_core:,.0f} pages/s per core, "
                        f"{run.per_second:,.0f} pages/s"
                    )
                ratio = ours.per_core / bare_run.per_core
                print(
                    f"  ours/bare per core: {ratio:.2f} (budget >= {BUDGET_RATIO}); "
                    f"ours/(bare + price) per core: {ours.per_core / priced.per_core:.2f}; "
                    f"ours per core {ours.per_core:,.0f} (budget >= {BUDGET_PER_CORE:,.0f}); "
                    f"wall ratio {ours.per_second / bare_run.per_second:.2f}"
                )
    finally:
        shop.terminate()
        shop.wait()


if __name__ == "__main__":
    main()
