"""Outbound proxies, rotated per request, each with its health: a failing proxy rests, the others carry on.

Scrapy setting OMNIPRICEX_PROXIES lists "http://host:port" entries (credentials "http://user:pass@host:port"
are passed on to Scrapy's HttpProxyMiddleware). Requests take the proxies in turn. A proxy that fails
OMNIPRICEX_PROXY_MAX_FAILURES times in a row (3) — a connection error or timeout, or an answer that is
the proxy's own (407, 502, 503, 504) — rests for OMNIPRICEX_PROXY_COOLDOWN seconds (60) and is skipped;
after its rest one more failure sends it back to rest. When every proxy is resting, requests WAIT for the
first to come back rather than fail: a short outage slows the crawl, and a lasting one shows up as
failures that open the crawl's circuit breaker. Health per proxy is in the crawl stats
("proxy/<host:port>/requests", ".../successes", ".../failures", ".../rests") and in ``health()``.

Proxies are destinations too: an IP-literal proxy address that is off limits is refused at start unless
allow-listed, and a named one passes GuardedResolver when it is connected to. A proxy resolves the target
host itself, where our resolver cannot see it, so a proxied request's host is resolved and vetted here first.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Request, Response
from scrapy.utils.asyncio import run_in_thread, sleep
from scrapy.utils.httpobj import urlparse_cached

from runtime.errors import InvalidArgument, Unavailable
from runtime.netguard import DEFAULT_PORTS, AddressPolicy, BlockedDestination, parse_ip_literal, resolve_checked
from services.scraper.crawl.guard import policy_from_settings
from services.scraper.crawl.refusal import RefusedRequest

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

PROXIES_SETTING: Final = "OMNIPRICEX_PROXIES"
MAX_FAILURES_SETTING: Final = "OMNIPRICEX_PROXY_MAX_FAILURES"
COOLDOWN_SETTING: Final = "OMNIPRICEX_PROXY_COOLDOWN"
# request.meta key: which proxy (host:port) carried the request.
PROXY_META: Final = "omnipricex_proxy"
# Answers that come from the proxy itself rather than the site: authentication refused, upstream unreachable.
PROXY_FAILURE_STATUSES: Final = frozenset({407, 502, 503, 504})
# How long a vetted target host is trusted before it is resolved again.
_TARGET_VERDICT_SECONDS: Final = 60.0


@dataclass(frozen=True, slots=True)
class ProxyEndpoint:
    # As Scrapy takes it in request.meta["proxy"], credentials included.
    url: str
    # "host:port", for stats and logs; never the credentials.
    key: str


@dataclass(frozen=True, slots=True)
class ProxyHealth:
    key: str
    requests: int = 0
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    rests: int = 0
    # time.monotonic() when the current rest ends; 0 when not resting.
    resting_until: float = 0.0
    last_failure: str = ""


def parse_proxies(entries: Iterable[str], policy: AddressPolicy) -> list[ProxyEndpoint]:
    """Proxy URLs checked and de-duplicated; InvalidArgument names the first bad one and why."""
    proxies: dict[str, ProxyEndpoint] = {}
    for entry in entries:
        proxy = parse_proxy(entry, policy)
        proxies.setdefault(proxy.key, proxy)
    return list(proxies.values())


def parse_proxy(entry: str, policy: AddressPolicy) -> ProxyEndpoint:
    field = "proxies"
    text = entry.strip() if isinstance(entry, str) else ""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidArgument(f"proxy {text!r} is malformed: {exc}", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"proxy {text!r} must be written http://host:port", field=field)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidArgument(f"proxy {text!r} must be only scheme, host and port", field=field)
    host = parts.hostname
    port = port or DEFAULT_PORTS[parts.scheme]
    literal = parse_ip_literal(host)
    if literal is None:
        key = f"{host}:{port}"
    else:
        key = f"[{literal}]:{port}" if literal.version == 6 else f"{literal}:{port}"
    if literal is not None:
        # Twisted connects to a dotted-quad proxy without asking the resolver, so it is vetted here.
        try:
            policy.check(host, port, literal)
        except BlockedDestination as blocked:
            raise InvalidArgument(f"proxy {key}: {blocked.reason}; allow-list it to use it", field=field) from None
    return ProxyEndpoint(url=f"{parts.scheme}://{parts.netloc}", key=key)


class ProxyRotationMiddleware:
    def __init__(
        self,
        crawler: Crawler,
        proxies: list[ProxyEndpoint],
        policy: AddressPolicy,
        *,
        max_failures: int,
        cooldown: float,
    ) -> None:
        if not proxies:
            raise NotConfigured
        if max_failures < 1 or cooldown <= 0:
            raise InvalidArgument("a proxy rests after at least 1 failure, for more than 0 seconds", field="proxies")
        self._crawler = crawler
        self._proxies = proxies
        self._policy = policy
        self._max_failures = max_failures
        self._cooldown = cooldown
        self._health = {p.key: ProxyHealth(p.key) for p in proxies}
        self._next = 0
        self._targets: dict[tuple[str, int], tuple[float, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        entries = settings.getlist(PROXIES_SETTING)
        if not entries:
            raise NotConfigured  # no message: Scrapy would log a warning for every crawl without proxies
        policy = policy_from_settings(settings)
        return cls(
            crawler,
            parse_proxies(entries, policy),
            policy,
            max_failures=settings.getint(MAX_FAILURES_SETTING, 3),
            cooldown=settings.getfloat(COOLDOWN_SETTING, 60.0),
        )

    def health(self) -> dict[str, ProxyHealth]:
        return dict(self._health)

    async def process_request(self, request: Request) -> None:
        request.meta.pop(PROXY_META, None)
        reason = await self._target_refusal(request)
        if reason is not None:
            self._count("proxy/refused_targets")
            raise RefusedRequest(reason)
        proxy = await self._choose()
        request.meta["proxy"] = proxy.url
        request.meta[PROXY_META] = proxy.key
        self._update(proxy.key, requests=self._health[proxy.key].requests + 1)
        self._count(f"proxy/{proxy.key}/requests")

    def process_response(self, request: Request, response: Response) -> Response:
        key = request.meta.get(PROXY_META)
        if key in self._health:
            if response.status in PROXY_FAILURE_STATUSES:
                self._failed(key, f"HTTP {response.status}")
            else:
                self._succeeded(key)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        key = request.meta.get(PROXY_META)
        if key in self._health and not isinstance(exception, IgnoreRequest):
            text = str(exception).strip()
            self._failed(key, f"{type(exception).__name__}: {text}" if text else type(exception).__name__)

    async def _choose(self) -> ProxyEndpoint:
        while True:
            now = time.monotonic()
            for offset in range(len(self._proxies)):
                index = (self._next + offset) % len(self._proxies)
                proxy = self._proxies[index]
                health = self._health[proxy.key]
                if health.resting_until <= now:
                    if health.resting_until:
                        # Back from a rest on probation: one more failure and it rests again.
                        logger.info("proxy %s is back from its rest", proxy.key)
                        self._update(proxy.key, resting_until=0.0, consecutive_failures=self._max_failures - 1)
                    self._next = index + 1
                    return proxy
            wait = min(h.resting_until for h in self._health.values()) - now
            self._count("proxy/waits_all_resting")
            logger.warning("every proxy is resting; waiting %.1f s for the first to come back", wait)
            await sleep(max(wait, 0.01))

    def _failed(self, key: str, why: str) -> None:
        health = self._health[key]
        now = time.monotonic()
        health = replace(
            health,
            failures=health.failures + 1,
            consecutive_failures=health.consecutive_failures + 1,
            last_failure=why,
        )
        self._count(f"proxy/{key}/failures")
        if health.consecutive_failures >= self._max_failures and health.resting_until <= now:
            health = replace(health, resting_until=now + self._cooldown, rests=health.rests + 1)
            self._count(f"proxy/{key}/rests")
            logger.warning(
                "proxy %s failed %d times in a row (last: %s); resting %.0f s",
                key,
                health.consecutive_failures,
                why,
                self._cooldown,
            )
        self._health[key] = health

    def _succeeded(self, key: str) -> None:
        health = self._health[key]
        self._update(key, successes=health.successes + 1, consecutive_failures=0)
        self._count(f"proxy/{key}/successes")

    def _update(self, key: str, **changes: Any) -> None:
        self._health[key] = replace(self._health[key], **changes)

    async def _target_refusal(self, request: Request) -> str | None:
        parts = urlparse_cached(request)
        host = parts.hostname or ""
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        now = time.monotonic()
        known = self._targets.get((host, port))
        if known is not None and known[0] > now:
            return known[1]
        reason: str | None = None
        try:
            await resolve_checked(host, port, self._policy, resolver=_threaded_lookup)
        except BlockedDestination as blocked:
            reason = blocked.reason
        except Unavailable as failed:
            reason = f"cannot check where {host} leads before handing it to a proxy: {failed.message}"
        self._targets[(host, port)] = (now + _TARGET_VERDICT_SECONDS, reason)
        return reason

    def _count(self, key: str) -> None:
        if self._crawler.stats is not None:
            self._crawler.stats.inc_value(key)


async def _threaded_lookup(host: str, port: int) -> list[str]:
    infos = await run_in_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
