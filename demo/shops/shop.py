"""One running demo shop: its clock, time bucket and layout, the page cache, request counts and admin API.

Pages are rendered once per (time bucket, layout) and then served from memory as ready bytes with their
headers, so a crawl benchmark measures the crawler, not the shop.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import orjson

from demo.catalog import DemoCatalog
from demo.shops.assortment import ShopCategory, ShopItem, build_assortment
from demo.shops.prices import ShopOffer, offer_at
from demo.shops.specs import ShopSpec
from demo.shops.storefront import LAYOUTS, Page, PageKey, Snapshot
from demo.shops.styles import STOREFRONTS
from runtime.clock import utcnow

Clock = Callable[[], datetime]

DEFAULT_BUCKET_SECONDS = 600.0
ADMIN_PREFIX = "/__demo/"
# Distinct paths whose hits are counted one by one; beyond that only the total grows.
MAX_COUNTED_PATHS = 10_000
MAX_TICKS_PER_CALL = 1_000


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes | None = None


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _response(page: Page) -> Response:
    etag = b'"' + hashlib.blake2b(page.body, digest_size=8).hexdigest().encode() + b'"'
    headers = [
        (b"content-type", page.content_type.encode()),
        (b"content-length", str(len(page.body)).encode()),
        (b"etag", etag),
    ]
    return Response(page.status, headers, page.body, etag)


def _plain(status: int, text: str) -> Response:
    body = f"<!DOCTYPE html>\n<html><head><title>{status}</title></head><body><h1>{text}</h1></body></html>\n"
    return _response(Page(body.encode(), "text/html; charset=utf-8", status))


def _json(status: int, data: Any) -> Response:
    return _response(Page(orjson.dumps(data), "application/json", status))


NOT_FOUND = _plain(404, "Page not found")
_NOT_ALLOWED = _plain(405, "Method not allowed")
METHOD_NOT_ALLOWED = Response(405, [*_NOT_ALLOWED.headers, (b"allow", b"GET, HEAD")], _NOT_ALLOWED.body)


class Shop:
    """A demo competitor shop. Its prices follow the clock in buckets of `bucket_seconds`; tick() moves ahead."""

    def __init__(
        self,
        spec: ShopSpec,
        base_url: str,
        catalog: DemoCatalog,
        *,
        clock: Clock = utcnow,
        bucket_seconds: float = DEFAULT_BUCKET_SECONDS,
    ) -> None:
        if not bucket_seconds > 0:
            raise ValueError(f"bucket_seconds must be positive, got {bucket_seconds}")
        self.spec = spec
        self.storefront = STOREFRONTS[spec.style](spec, base_url, build_assortment(spec, catalog))
        self._clock = clock
        self._bucket_seconds = bucket_seconds
        self.ticks = 0
        self.layout = 1
        # When set, every page answers this status (robots.txt too, unless the outage spares it, as a shop
        # whose robots.txt comes from a CDN while its pages fail); robots.txt alone with robots_status.
        self.outage_status: int | None = None
        self.outage_spares_robots = False
        self.robots_status: int | None = None
        self.requests = 0
        self.hits: Counter[str] = Counter()
        self._opened = self._clock_bucket()
        self._snapshot: Snapshot | None = None
        self._pages: dict[PageKey, Response] = {}

    # What the shop sells -----------------------------------------------------------------------------

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base_url(self) -> str:
        return self.storefront.base_url

    @property
    def categories(self) -> tuple[ShopCategory, ...]:
        return self.storefront.assortment.categories

    @property
    def items(self) -> tuple[ShopItem, ...]:
        """Everything the shop will ever sell, listed or not yet launched."""
        return self.storefront.assortment.items

    def listed(self) -> tuple[ShopItem, ...]:
        return self.snapshot().items

    def offer(self, item: ShopItem) -> ShopOffer:
        """The item's offer now; KeyError when it is not listed yet."""
        return self.snapshot().offer(item)

    def offer_at(self, item: ShopItem, bucket: int) -> ShopOffer:
        return offer_at(self.spec, item, bucket)

    def product_url(self, item: ShopItem) -> str:
        return self.storefront.product_url(item)

    def listing_url(self, category: ShopCategory, page: int = 1) -> str:
        return self.storefront.url(self.storefront.listing_path(category, page))

    def page_count(self, category: ShopCategory) -> int:
        return self.storefront.page_count(category, self.snapshot())

    # Time and layout ---------------------------------------------------------------------------------

    def _clock_bucket(self) -> int:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the shop clock must return timezone-aware datetimes")
        return math.floor(now.timestamp() / self._bucket_seconds)

    @property
    def bucket(self) -> int:
        return self._clock_bucket() + self.ticks

    def snapshot(self) -> Snapshot:
        bucket, layout = self.bucket, self.layout
        snapshot = self._snapshot
        if snapshot is None or snapshot.bucket != bucket or snapshot.layout != layout:
            snapshot = Snapshot.build(
                self.spec, self.storefront.assortment, bucket, age=bucket - self._opened, layout=layout
            )
            self._snapshot, self._pages = snapshot, {}
        return snapshot

    def tick(self, count: int = 1) -> int:
        """Move `count` buckets ahead (prices and stock move, scheduled products launch); the new bucket."""
        if not 1 <= count <= MAX_TICKS_PER_CALL:
            raise ValueError(f"count must be 1 to {MAX_TICKS_PER_CALL}, got {count}")
        self.ticks += count
        return self.bucket

    def set_layout(self, version: int) -> None:
        if version not in LAYOUTS:
            raise ValueError(f"layout version must be one of {LAYOUTS}, got {version}")
        self.layout = version

    def set_outage(self, status: int | None, *, spare_robots: bool = False) -> None:
        self.outage_status = _error_status(status)
        self.outage_spares_robots = spare_robots

    def set_robots_status(self, status: int | None) -> None:
        self.robots_status = _error_status(status)

    def reset(self) -> None:
        """Back to the clock's bucket, layout 1, no outage; request counts cleared."""
        self.ticks, self.layout, self.outage_status, self.robots_status = 0, 1, None, None
        self.outage_spares_robots = False
        self.requests = 0
        self.hits.clear()

    def truth(self) -> list[dict[str, Any]]:
        """Every listed product as the shop means it: the labels a crawl of it should reproduce."""
        snapshot = self.snapshot()
        rows = []
        for item in snapshot.items:
            offer = snapshot.offer(item)
            rows.append(
                {
                    "url": self.product_url(item),
                    "sku": item.sku,
                    "category_id": item.category.category_id,
                    "title": item.title,
                    "brand": item.brand,
                    "gtin": item.gtin,
                    "mpn": item.mpn,
                    "price_minor": offer.price_minor,
                    "currency": offer.currency,
                    "was_minor": offer.was_minor,
                    "in_stock": offer.in_stock,
                    "shipping_minor": offer.shipping_minor,
                }
            )
        return rows

    # HTTP --------------------------------------------------------------------------------------------

    def respond(
        self, method: str, path: str, query: str, *, if_none_match: bytes | None = None, trusted: bool = False
    ) -> Response:
        """The answer to one request. `trusted` says the client is on loopback (required for the admin API)."""
        if path.startswith(ADMIN_PREFIX):
            return self._admin(method, path, query, trusted)
        self.requests += 1
        if path in self.hits or len(self.hits) < MAX_COUNTED_PATHS:
            self.hits[path] += 1
        if method not in ("GET", "HEAD"):
            return METHOD_NOT_ALLOWED
        if self.outage_status is not None and not (path == "/robots.txt" and self.outage_spares_robots):
            return _plain(self.outage_status, "Service unavailable")
        if path == "/robots.txt" and self.robots_status is not None:
            return _plain(self.robots_status, "Error")
        key = self.storefront.resolve(path, query)
        if key is None:
            return NOT_FOUND
        snapshot = self.snapshot()
        response = self._pages.get(key)
        if response is None:
            page = self.storefront.render(key, snapshot)
            if page is None:
                return NOT_FOUND
            response = self._pages[key] = _response(page)
        if if_none_match is not None and _matches(if_none_match, response.etag):
            return Response(304, [(b"etag", response.etag or b"")], b"")
        return response

    def _admin(self, method: str, path: str, query: str, trusted: bool) -> Response:
        if not trusted:
            return _json(403, {"error": "the demo admin API answers loopback clients only"})
        action = path[len(ADMIN_PREFIX) :]
        reads = {"state": self._state, "truth.json": self._truth, "hits": self._hits}
        writes = {
            "tick": self._admin_tick,
            "layout": self._admin_layout,
            "outage": self._admin_outage,
            "robots": self._admin_robots,
            "reset": self._admin_reset,
        }
        if action not in reads and action not in writes:
            return _json(404, {"error": f"no demo admin action {action!r}"})
        expected = "GET" if action in reads else "POST"
        if method != expected:
            return _json(405, {"error": f"{path} takes {expected}"})
        params = {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}
        try:
            if action in reads:
                return _json(200, reads[action]())
            writes[action](params)
        except AdminError as error:
            return _json(error.status, {"error": error.message})
        return _json(200, self._state())

    def _state(self) -> dict[str, Any]:
        snapshot = self.snapshot()
        return {
            "shop": self.key,
            "name": self.name,
            "bucket": snapshot.bucket,
            "ticks": self.ticks,
            "layout": self.layout,
            "listed": len(snapshot.items),
            "outage_status": self.outage_status,
            "robots_status": self.robots_status,
            "requests": self.requests,
        }

    def _truth(self) -> dict[str, Any]:
        return {"shop": self.key, "bucket": self.bucket, "layout": self.layout, "products": self.truth()}

    def _hits(self) -> dict[str, Any]:
        return {"requests": self.requests, "paths": dict(self.hits)}

    def _admin_tick(self, params: dict[str, str]) -> None:
        count = _int_param(params, "count", 1)
        try:
            self.tick(count)
        except ValueError as error:
            raise AdminError(400, str(error)) from None

    def _admin_layout(self, params: dict[str, str]) -> None:
        if "version" not in params:
            raise AdminError(400, "version is required, e.g. ?version=2")
        try:
            self.set_layout(_int_param(params, "version", 1))
        except ValueError as error:
            raise AdminError(400, str(error)) from None

    def _admin_outage(self, params: dict[str, str]) -> None:
        self._set_status(self.set_outage, params)

    def _admin_robots(self, params: dict[str, str]) -> None:
        self._set_status(self.set_robots_status, params)

    def _set_status(self, setter: Callable[[int | None], None], params: dict[str, str]) -> None:
        status = _int_param(params, "status", 0)
        try:
            setter(status or None)
        except ValueError as error:
            raise AdminError(400, str(error)) from None

    def _admin_reset(self, params: dict[str, str]) -> None:
        self.reset()


def _error_status(status: int | None) -> int | None:
    if status is not None and not 400 <= status <= 599:
        raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
    return status


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 6:
        raise AdminError(400, f"{name} must be a whole number, got {value!r}")
    return int(value)


def _matches(if_none_match: bytes, etag: bytes | None) -> bool:
    if etag is None:
        return False
    tags = {tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")}
    return etag in tags or b"*" in tags
