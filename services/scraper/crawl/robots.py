"""robots.txt, strictly: fetched once per origin, obeyed, and when it cannot be read nothing is fetched.

Replaces Scrapy's RobotsTxtMiddleware (ROBOTSTXT_OBEY stays False), which fetches everything when
robots.txt fails. Here, per RFC 9309 and what the big crawlers do:

- 2xx: the rules (Protego) for our user agent; Crawl-delay and Request-rate slow that host down
  (capped by OMNIPRICEX_ROBOTS_MAX_DELAY, 30 s by default).
- 4xx other than 429: there are no rules, everything may be fetched.
- 5xx, 429, a timeout, a connection failure, a redirect chain that ends nowhere: the host is
  "unavailable" and every request to it is refused for this crawl.
- robots.txt itself goes through the other downloader middlewares (address guard, retries, proxies);
  if the guard refuses it, pages of that host are refused with the guard's reason.

Requests arriving while an origin's robots.txt is being fetched wait for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from protego import Protego
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.http import Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import error as net_error
from twisted.internet.defer import Deferred
from twisted.internet.defer import TimeoutError as DeferTimeoutError

from runtime.netguard import DEFAULT_PORTS
from services.scraper.crawl.refusal import RefusedRequest

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

MAX_DELAY_SETTING: Final = "OMNIPRICEX_ROBOTS_MAX_DELAY"
# Google reads the first 500 KiB of a robots.txt and ignores the rest; so do we.
MAX_ROBOTS_BYTES: Final = 500 * 1024
# Marks our own robots.txt requests (the other middlewares see them as ordinary requests).
ROBOTS_META: Final = "omnipricex_robots_txt"


class RobotsDisallowed(RefusedRequest):
    """robots.txt disallows this URL for our user agent."""


class RobotsUnavailable(RefusedRequest):
    """The host's robots.txt could not be read (5xx, 429, timeout, connection failure): nothing is fetched."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    # None with unavailable None: no rules at all (robots.txt answered 4xx), everything allowed.
    rules: Protego | None = None
    unavailable: str | None = None
    delay: float = 0.0


class StrictRobotsMiddleware:
    DOWNLOAD_PRIORITY: Final = 1000

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self._crawler = crawler
        self._user_agent: str = settings.get("ROBOTSTXT_USER_AGENT") or settings.get("USER_AGENT") or ""
        self._max_delay = settings.getfloat(MAX_DELAY_SETTING, 30.0)
        self._verdicts: dict[str, _Verdict] = {}
        self._waiting: dict[str, list[Deferred[_Verdict]]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        parts = urlparse_cached(request)
        if parts.scheme not in ("http", "https") or parts.path == "/robots.txt":
            return
        origin = f"{parts.scheme}://{parts.hostname}:{parts.port or DEFAULT_PORTS[parts.scheme]}"
        verdict = self._verdicts.get(origin) or await self._verdict(origin, parts.netloc, parts.scheme)
        if verdict.unavailable is not None:
            self._count("robotstxt/refused_unavailable")
            raise RobotsUnavailable(verdict.unavailable)
        if verdict.rules is not None and not verdict.rules.can_fetch(request.url, self._user_agent):
            self._count("robotstxt/forbidden")
            path = parts.path or "/"
            raise RobotsDisallowed(f"robots.txt disallows {path}{'?' + parts.query if parts.query else ''}")
        if verdict.delay:
            # AutoThrottle would otherwise bring the slot's delay back down below the host's Crawl-delay.
            request.meta["autothrottle_dont_adjust_delay"] = True

    async def _verdict(self, origin: str, netloc: str, scheme: str) -> _Verdict:
        waiting = self._waiting.get(origin)
        if waiting is not None:
            mine: Deferred[_Verdict] = Deferred()
            waiting.append(mine)
            return await maybe_deferred_to_future(mine)
        self._waiting[origin] = []
        verdict = _Verdict(unavailable="robots.txt unavailable (the crawl stopped): nothing is fetched from this host")
        try:
            verdict = await self._fetch(f"{scheme}://{netloc}/robots.txt")
        finally:
            self._verdicts[origin] = verdict
            for waiter in self._waiting.pop(origin):
                waiter.callback(verdict)
        if verdict.delay:
            self._slow_down(netloc, scheme, verdict.delay)
        return verdict

    async def _fetch(self, url: str) -> _Verdict:
        self._count("robotstxt/request_count")
        request = Request(
            url,
            priority=self.DOWNLOAD_PRIORITY,
            meta={ROBOTS_META: True, "dont_obey_robotstxt": True},
            callback=NO_CALLBACK,
            dont_filter=True,
        )
        try:
            response = await self._crawler.engine.download_async(request)
        except RefusedRequest as refused:
            self._count("robotstxt/unavailable")
            return _Verdict(unavailable=refused.reason)
        except Exception as exc:
            self._count("robotstxt/unavailable")
            return _Verdict(unavailable=_unavailable(_describe(exc)))
        return self._judge(response)

    def _judge(self, response: Response) -> _Verdict:
        status = response.status
        self._count(f"robotstxt/response_status_count/{status}")
        if 400 <= status < 500 and status != 429:
            return _Verdict()
        if not 200 <= status < 300:
            self._count("robotstxt/unavailable")
            return _Verdict(unavailable=_unavailable(f"HTTP {status}"))
        text = response.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        try:
            rules = Protego.parse(text)
        except Exception as exc:
            # Protego is lenient; anything it still cannot read counts as no readable robots.txt.
            return _Verdict(unavailable=_unavailable(f"unreadable: {exc}"))
        delay = rules.crawl_delay(self._user_agent) or 0.0
        rate = rules.request_rate(self._user_agent)
        if rate is not None and rate.requests > 0:
            delay = max(delay, rate.seconds / rate.requests)
        if delay > self._max_delay:
            logger.warning(
                "robots.txt of %s asks %.1f s between requests; using %.1f s", response.url, delay, self._max_delay
            )
            delay = self._max_delay
        return _Verdict(rules=rules, delay=max(delay, 0.0))

    def _slow_down(self, netloc: str, scheme: str, delay: float) -> None:
        downloader = self._crawler.engine.downloader
        key = downloader.get_slot_key(Request(f"{scheme}://{netloc}/"))
        # No random jitter on this host: it would shorten some gaps below what robots.txt asked for.
        slot_settings = downloader.per_slot_settings.setdefault(key, {})
        slot_settings["delay"] = max(float(slot_settings.get("delay", 0.0)), delay)
        slot_settings["jitter"] = 0.0
        slot = downloader.slots.get(key)
        if slot is not None:
            slot.delay = max(slot.delay, delay)
            slot.jitter = 0.0

    def _count(self, key: str) -> None:
        if self._crawler.stats is not None:
            self._crawler.stats.inc_value(key)


def _unavailable(why: str) -> str:
    return f"robots.txt unavailable ({why}): nothing is fetched from this host"


def _describe(exc: Exception) -> str:
    if isinstance(exc, DownloadTimeoutError | net_error.TimeoutError | DeferTimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, DownloadConnectionRefusedError | net_error.ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, CannotResolveHostError | net_error.DNSLookupError):
        return "host name not found"
    if isinstance(exc, IgnoreRequest):
        return str(exc) or "not fetched"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
