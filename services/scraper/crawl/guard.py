"""The crawl's address guard: no connection to loopback, private, link-local, multicast or metadata addresses.

Three places, because a URL reaches a socket by three roads:

- ``GuardedResolver`` (setting TWISTED_DNS_RESOLVER) is the reactor's name resolver. Twisted's
  HostnameEndpoint, which Scrapy's HTTP/1.1 agent connects through for every request, redirect, robots.txt
  and proxy, hands it every host, IP literals included; it passes on addresses only after vetting all of
  them, so the connection goes to a checked address (no rebinding between check and connect).
- ``AddressGuardMiddleware`` (DOWNLOADER_MIDDLEWARES) refuses early, with a reason: unusable URLs, schemes
  other than http(s), IP literals in any spelling ("2130706433", "0x7f.1") that are off limits, and hosts
  the resolver already refused. Redirects are new requests, so they pass through it again.
- ``make_playwright_route_guard`` and ``make_playwright_websocket_guard`` are for rendered pages: the
  browser resolves names itself and follows redirects without asking its routes, so the route makes each
  request itself, vetting every hop (resolve_checked), and WebSockets are vetted before they connect.

The allow-list is the Scrapy setting OMNIPRICEX_ALLOW_HOSTS ("host" or "host:port" entries).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urljoin, urlsplit

from playwright.async_api import Error as PlaywrightError
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Request
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolutionReceiver
from zope.interface import implementer  # type: ignore[import-untyped]

from runtime.errors import InvalidArgument, Unavailable
from runtime.netguard import (
    DEFAULT_PORTS,
    AddressPolicy,
    BlockedDestination,
    Resolver,
    host_and_port,
    parse_ip_literal,
    resolve_checked,
    validate_fetch_url,
)
from services.scraper.crawl.refusal import RefusedRequest

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    from playwright.async_api import Request as BrowserRequest
    from playwright.async_api import Route, WebSocketRoute
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

ALLOW_HOSTS_SETTING: Final = "OMNIPRICEX_ALLOW_HOSTS"
# Hosts the resolver refused, remembered so retries and later links are refused before any lookup.
_MAX_REMEMBERED_REFUSALS: Final = 10_000
NOT_INSTALLED_REASON: Final = (
    "the connect-time address guard is not installed "
    "(TWISTED_DNS_RESOLVER must be services.scraper.crawl.guard.GuardedResolver): nothing is fetched"
)


class _Receiver(Protocol):
    """Twisted's IResolutionReceiver, as this module uses it (zope interfaces are opaque to mypy)."""

    def resolutionBegan(self, resolution: Any) -> None: ...

    def addressResolved(self, address: Any) -> None: ...

    def resolutionComplete(self) -> None: ...


class _NameResolver(Protocol):
    """Twisted's IHostnameResolver."""

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[Any]] | None = None,
        transportSemantics: str = "TCP",
    ) -> Any: ...


def policy_from_settings(settings: BaseSettings) -> AddressPolicy:
    return AddressPolicy.of(settings.getlist(ALLOW_HOSTS_SETTING))


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        raise NotImplementedError("a name lookup cannot be cancelled")


@implementer(IResolutionReceiver)
class _Answers:
    """Collects every answer of the upstream lookup, so all are vetted before any is handed on."""

    def __init__(self, on_complete: Callable[[list[object]], None]) -> None:
        self._on_complete = on_complete
        self.addresses: list[object] = []

    def resolutionBegan(self, resolution: object) -> None:
        pass

    def addressResolved(self, address: object) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        self._on_complete(self.addresses)


@implementer(IHostnameResolver)
class GuardedResolver:
    """The reactor's name resolver, refusing any host with an answer the policy does not allow.

    A refused host resolves to no address at all (Twisted then fails the connection with a
    DNSLookupError); ``refusal(host)`` says why, and AddressGuardMiddleware turns that into the request's
    RefusedRequest.
    """

    def __init__(self, reactor: Any, policy: AddressPolicy, *, upstream: _NameResolver | None = None) -> None:
        self._reactor = reactor
        self.policy = policy
        self._upstream: _NameResolver = upstream if upstream is not None else reactor.nameResolver
        self._refusals: dict[tuple[str, int], str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> Self:
        # Scrapy passes the CrawlerProcess here: only its (process-wide) settings are read.
        return cls(reactor, policy_from_settings(crawler.settings))

    def install_on_reactor(self) -> None:
        self._reactor.installNameResolver(self)

    def refusal(self, host: str, port: int) -> str | None:
        """Why connecting to this host and port was refused, if it was."""
        return self._refusals.get((_host_text(host), port))

    def resolveHostName(
        self,
        resolutionReceiver: _Receiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[Any]] | None = None,
        transportSemantics: str = "TCP",
    ) -> _Resolution:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        literal = parse_ip_literal(hostName)
        if literal is not None:
            try:
                self.policy.check(hostName, portNumber, literal)
            except BlockedDestination as blocked:
                self._refuse(hostName, portNumber, blocked.reason)
            else:
                resolutionReceiver.addressResolved(_twisted_address(str(literal), portNumber, transportSemantics))
            resolutionReceiver.resolutionComplete()
            return resolution

        def vet(addresses: list[object]) -> None:
            reason = next(filter(None, (self._blocked(hostName, portNumber, a) for a in addresses)), None)
            if reason is not None:
                self._refuse(hostName, portNumber, reason)
            else:
                for address in addresses:
                    resolutionReceiver.addressResolved(address)
            resolutionReceiver.resolutionComplete()

        self._upstream.resolveHostName(_Answers(vet), hostName, portNumber, addressTypes, transportSemantics)
        return resolution

    def _blocked(self, host: str, port: int, address: object) -> str | None:
        if not isinstance(address, IPv4Address | IPv6Address):
            return f"{host} resolved to {address!r}, which is not an IP address"
        try:
            self.policy.check(host, port, address.host)
        except BlockedDestination as blocked:
            return blocked.reason
        return None

    def _refuse(self, host: str, port: int, reason: str) -> None:
        logger.warning("address guard: not connecting: %s", reason)
        if len(self._refusals) >= _MAX_REMEMBERED_REFUSALS:
            self._refusals.pop(next(iter(self._refusals)))
        self._refusals[(_host_text(host), port)] = reason


def _twisted_address(host: str, port: int, transport: str) -> IPv4Address | IPv6Address:
    if ":" in host:
        return IPv6Address("UDP" if transport == "UDP" else "TCP", host, port)
    return IPv4Address("UDP" if transport == "UDP" else "TCP", host, port)


def _host_text(host: str) -> str:
    return host.strip().strip("[]").lower().rstrip(".")


def installed_resolver() -> GuardedResolver | None:
    """The GuardedResolver the running reactor resolves names with, if it is one."""
    from twisted.internet import reactor

    resolver = getattr(reactor, "nameResolver", None)
    return resolver if isinstance(resolver, GuardedResolver) else None


class AddressGuardMiddleware:
    """Refuses requests that may not be fetched, before any lookup or connection (and again on redirects)."""

    def __init__(self, crawler: Crawler) -> None:
        self.policy = policy_from_settings(crawler.settings)
        self._crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        reason = self.refusal(request)
        if reason is not None:
            self._count("address_guard/refused")
            raise RefusedRequest(reason)

    def process_exception(self, request: Request, exception: Exception) -> None:
        # The resolver can only answer "no addresses" (Scrapy then raises CannotResolveHostError); the reason
        # it kept is the one worth reporting.
        if isinstance(exception, CannotResolveHostError | DNSLookupError) and not isinstance(exception, IgnoreRequest):
            resolver = installed_resolver()
            parts = urlparse_cached(request)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
            reason = resolver.refusal(parts.hostname or "", port) if resolver is not None else None
            if reason is not None:
                self._count("address_guard/refused_at_connect")
                raise RefusedRequest(reason) from exception

    def refusal(self, request: Request) -> str | None:
        """Why this request may not be fetched, or None."""
        try:
            validate_fetch_url(request.url)
        except InvalidArgument as bad:
            return f"unusable URL: {bad.message}"
        resolver = installed_resolver()
        if resolver is None:
            return NOT_INSTALLED_REASON
        parts = urlparse_cached(request)
        host = parts.hostname or ""
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        earlier = resolver.refusal(host, port)
        if earlier is not None:
            return earlier
        literal = parse_ip_literal(host)
        if literal is None:
            return None
        try:
            self.policy.check(host, port, literal)
        except BlockedDestination as blocked:
            return blocked.reason
        return None

    def _count(self, key: str) -> None:
        if self._crawler.stats is not None:
            self._crawler.stats.inc_value(key)


BrowserRouteHandler = Callable[["Route", "BrowserRequest"], Awaitable[None]]
BrowserSocketHandler = Callable[["WebSocketRoute"], Awaitable[None]]
# Browser-internal URLs that open no connection.
_LOCAL_BROWSER_SCHEMES: Final = frozenset({"data", "blob", "about"})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
MAX_BROWSER_REDIRECTS: Final = 10
# Credentials of the first host are not handed to the next one when a redirect leaves it.
_CREDENTIAL_HEADERS: Final = frozenset({"cookie", "authorization", "proxy-authorization"})


class _BrowserVetting:
    """Whether a browser may reach a URL, with verdicts kept a while per host and port."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver | None, verdict_seconds: float) -> None:
        self._policy = policy
        self._resolver = resolver
        self._verdict_seconds = verdict_seconds
        self._verdicts: dict[tuple[str, int], tuple[float, str | None]] = {}

    async def refusal(self, url: str) -> str | None:
        if urlsplit(url).scheme.lower() in _LOCAL_BROWSER_SCHEMES:
            return None
        try:
            host, port = host_and_port(url)
        except InvalidArgument as bad:
            return f"unusable URL: {bad.message}"
        now = time.monotonic()
        known = self._verdicts.get((host, port))
        if known is not None and known[0] > now:
            return known[1]
        reason: str | None = None
        try:
            await resolve_checked(host, port, self._policy, resolver=self._resolver)
        except BlockedDestination as blocked:
            reason = blocked.reason
        except Unavailable as failed:
            reason = f"cannot check where {host} leads: {failed.message}"
        self._verdicts[(host, port)] = (now + self._verdict_seconds, reason)
        return reason


def _refused(url: str, reason: str, on_refused: Callable[[str, str], None] | None) -> None:
    logger.warning("address guard: browser request to %s aborted: %s", url, reason)
    if on_refused is not None:
        on_refused(url, reason)


def make_playwright_route_guard(
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
    on_refused: Callable[[str, str], None] | None = None,
    verdict_seconds: float = 60.0,
) -> BrowserRouteHandler:
    """A handler for ``page.route("**/*", handler)``: no browser request reaches a blocked place.

    Chromium follows redirects without consulting the route again, so letting an allowed request
    ``continue_()`` would let its redirects go anywhere. Instead the handler makes the request itself
    (``route.fetch``, redirects not followed), vets every Location before following it, and fulfils the
    browser's request with the final answer (so a redirected page keeps the URL it was asked for).
    Names are vetted with resolve_checked (verdicts kept ``verdict_seconds`` per host and port);
    ``on_refused(url, reason)`` hears about each refusal. WebSockets bypass routes: see
    make_playwright_websocket_guard.
    """
    vetting = _BrowserVetting(policy, resolver, verdict_seconds)

    async def guard(route: Route, request: BrowserRequest) -> None:
        url = request.url
        if urlsplit(url).scheme.lower() in _LOCAL_BROWSER_SCHEMES:
            await route.continue_()
            return
        method = request.method
        headers = await request.all_headers()
        for _ in range(MAX_BROWSER_REDIRECTS + 1):
            reason = await vetting.refusal(url)
            if reason is not None:
                _refused(url, reason, on_refused)
                await route.abort("blockedbyclient")
                return
            try:
                response = await route.fetch(url=url, method=method, headers=headers, max_redirects=0)
            except PlaywrightError as failed:
                logger.info("browser request to %s failed: %s", url, failed.message)
                await route.abort("failed")
                return
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location:
                await route.fulfill(response=response)
                return
            following = urljoin(url, location)
            if urlsplit(following).netloc != urlsplit(url).netloc:
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            if response.status not in (307, 308):
                method = "GET"
            url = following
        _refused(request.url, f"more than {MAX_BROWSER_REDIRECTS} redirects", on_refused)
        await route.abort("failed")

    return guard


def make_playwright_websocket_guard(
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
    on_refused: Callable[[str, str], None] | None = None,
    verdict_seconds: float = 60.0,
) -> BrowserSocketHandler:
    """A handler for ``page.route_web_socket("**/*", handler)``: page.route never sees WebSockets.

    An allowed socket is connected to its server; a refused one is closed (1008) before any connection.
    """
    vetting = _BrowserVetting(policy, resolver, verdict_seconds)

    async def guard(socket: WebSocketRoute) -> None:
        scheme, sep, rest = socket.url.partition(":")
        as_http = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme) + sep + rest
        reason = await vetting.refusal(as_http)
        if reason is None:
            socket.connect_to_server()
            return
        _refused(socket.url, reason, on_refused)
        await socket.close(code=1008, reason="blocked by the crawl's address guard")

    return guard
