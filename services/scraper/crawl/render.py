"""Pages rendered by JavaScript: scrapy-playwright driving Debian's Chromium, with every browser request guarded.

The browser is the system's (``shutil.which("chromium")``); nothing is ever downloaded. Each page gets
the address guard as a Playwright route before it navigates, so the browser's own requests (scripts,
XHR, redirects) meet the same rules as Scrapy's; images, fonts and media are not fetched at all.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Route, WebSocketRoute
from playwright.async_api import Request as BrowserRequest
from scrapy import Request
from scrapy_playwright.page import PageMethod

from services.scraper.crawl.contract import CrawlSpec

PLAYWRIGHT_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
# A headless browser that fetches only what pages ask for and never phones home or updates itself.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
_HEAVY_RESOURCES = frozenset({"image", "font", "media"})
# How long a rendered page may take, after "load", to show something price-like before it is read as is.
PRICE_WAIT_MS = 5000
# True once the page shows a price the way extraction reads one: structured data, a price property or
# meta tag, or an amount next to a currency sign in the visible text.
_PRICE_VISIBLE = r"""() => {
  if (document.querySelector('script[type="application/ld+json"], [itemprop="price"], '
      + 'meta[property="product:price:amount"], meta[property="og:price:amount"]')) return true;
  const text = document.body ? document.body.innerText : "";
  return /(?:[€£$¥₹]|kr|EUR|USD|GBP|SEK|CHF)\s?\d|\d[\d.,\s]*\s?(?:[€£$¥₹]|kr|EUR|USD|GBP|SEK|CHF)/.test(text);
}"""

RouteHandler = Callable[[Route, BrowserRequest], Awaitable[None]]
SocketHandler = Callable[[WebSocketRoute], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BrowserGuards:
    """What stands between a rendering page and the network: page.route never sees WebSockets."""

    routes: RouteHandler
    sockets: SocketHandler


class ChromiumMissing(RuntimeError):
    def __init__(self) -> None:
        super().__init__("JavaScript rendering needs Debian's chromium package (apt-get install chromium)")


def browser_settings(spec: CrawlSpec) -> dict[str, Any]:
    """Scrapy settings that send requests marked ``playwright`` through Chromium (others stay plain HTTP)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise ChromiumMissing
    return {
        "DOWNLOAD_HANDLERS": {"http": PLAYWRIGHT_HANDLER, "https": PLAYWRIGHT_HANDLER},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": chromium, "headless": True, "args": list(CHROMIUM_ARGS)},
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": spec.timeout_seconds * 1000,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": spec.concurrency_per_domain,
        "PLAYWRIGHT_CONTEXTS": {"default": {"user_agent": spec.user_agent, "service_workers": "block"}},
    }


def rendered(request: Request, guards: BrowserGuards) -> Request:
    """The request fetched by the browser, its requests guarded, read once a price shows (or after a wait).

    The route is the page's last, so it answers every browser request before scrapy-playwright's own.
    """

    async def guarded(route: Route, browser_request: BrowserRequest) -> None:
        # Images, fonts and media never carry the price; not fetching them keeps rendering fast.
        if browser_request.resource_type in _HEAVY_RESOURCES:
            await route.abort("blockedbyclient")
            return
        await guards.routes(route, browser_request)

    async def install_guard(page: Page, _: Request) -> None:
        try:
            await page.route("**/*", guarded)
            await page.route_web_socket("**/*", guards.sockets)
        except Exception:
            # scrapy-playwright only logs a failed init callback; an unguarded page must not navigate.
            await page.close()
            raise

    request.meta.update(
        {
            "playwright": True,
            "playwright_page_init_callback": install_guard,
            "playwright_page_methods": [PageMethod(wait_for_price, PRICE_WAIT_MS)],
        }
    )
    return request


async def wait_for_price(page: Page, timeout_ms: float) -> None:
    with contextlib.suppress(PlaywrightError):
        await page.wait_for_function(_PRICE_VISIBLE, timeout=timeout_ms)
