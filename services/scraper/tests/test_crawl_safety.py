"""The crawl's safety layers in real Scrapy crawls: address guard, strict robots.txt, proxy rotation.

Each crawl runs in a child process (services/scraper/tests/safety/driver.py; Scrapy's reactor cannot restart
in one process) against servers in this process, so what was or was not connected to is told by the
listening side.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from runtime.errors import InvalidArgument
from runtime.netguard import AddressPolicy
from services.scraper.crawl.guard import (
    NOT_INSTALLED_REASON,
    GuardedResolver,
    make_playwright_route_guard,
    make_playwright_websocket_guard,
)
from services.scraper.crawl.proxies import ProxyEndpoint, parse_proxies
from services.scraper.tests.safety.servers import (
    Answer,
    CountingListener,
    ForwardProxy,
    Shop,
    closed_port,
    page,
    redirect,
    text,
)

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
USER_AGENT = "OmniPriceXTestBot/1.0 (+https://example.invalid/bot)"


def crawl(tmp_path: Path, urls: list[str], settings: dict[str, Any], *, safety: bool = True) -> dict[str, Any]:
    config = tmp_path / f"crawl-{len(list(tmp_path.glob('crawl-*.json')))}.json"
    config.write_text(json.dumps({"urls": urls, "settings": {"USER_AGENT": USER_AGENT, **settings}, "safety": safety}))
    done = subprocess.run(
        [sys.executable, "-m", "services.scraper.tests.safety.driver", str(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout)
    assert len(result["outcomes"]) == len(urls), (result["outcomes"], done.stderr[-4000:])
    return result


def by_start_url(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {outcome["url"]: outcome for outcome in result["outcomes"]}


@pytest.fixture
def v4() -> Iterator[CountingListener]:
    with CountingListener("127.0.0.1") as listener:
        yield listener


@pytest.fixture
def v6() -> Iterator[CountingListener]:
    with CountingListener("::1") as listener:
        yield listener


@pytest.fixture
def shop() -> Iterator[Shop]:
    with Shop() as server:
        server.answer("/robots.txt", text("User-agent: *\nAllow: /\n"))
        yield server


# ------------------------------------------------------------------------------------ address guard


def test_redirects_and_start_urls_to_forbidden_addresses_are_refused_and_nothing_connects(
    tmp_path: Path, shop: Shop, v4: CountingListener, v6: CountingListener
) -> None:
    forbidden = {
        "loopback": (f"http://127.0.0.1:{v4.port}/", "127.0.0.1 is a loopback address"),
        "ipv6-loopback": (f"http://[::1]:{v6.port}/", "::1 is a loopback address"),
        "metadata": ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        "private": ("http://10.0.0.1/", "10.0.0.1 is a private address (RFC 1918)"),
        "name-to-loopback": (f"http://localhost:{v4.port}/", "localhost resolves to 127.0.0.1, a loopback address"),
        "decimal": (f"http://2130706433:{v4.port}/", "2130706433 is 127.0.0.1, a loopback address"),
        "octal": (f"http://0177.0.0.1:{v4.port}/", "0177.0.0.1 is 127.0.0.1, a loopback address"),
        "hex": (f"http://0x7f.0.0.1:{v4.port}/", "0x7f.0.0.1 is 127.0.0.1, a loopback address"),
        "short": (f"http://127.1:{v4.port}/", "127.1 is 127.0.0.1, a loopback address"),
        "mapped": (f"http://[::ffff:127.0.0.1]:{v4.port}/", "IPv4-mapped form of 127.0.0.1, a loopback address"),
    }
    for index, (name, (target, _)) in enumerate(forbidden.items()):
        shop.answer(f"/go/{name}", redirect(target, 301 if index % 2 else 302))
    shop.answer("/go/home", redirect(f"{shop.origin}/home"))
    shop.answer("/home", page("home"))
    redirecting = {f"{shop.origin}/go/{name}": reason for name, (_, reason) in forbidden.items()}
    direct = dict(forbidden.values())
    schemes = {
        f"gopher://127.0.0.1:{v4.port}/": "URL scheme 'gopher' is not allowed",
        "file://shop.example/no-such-file": "URL scheme 'file' is not allowed",
    }
    urls = [*redirecting, f"{shop.origin}/go/home", *direct, *schemes]

    outcomes = by_start_url(crawl(tmp_path, urls, {"OMNIPRICEX_ALLOW_HOSTS": [f"127.0.0.1:{shop.port}"]}))

    assert v4.accepted == 0
    assert v6.accepted == 0
    for url, reason in {**redirecting, **direct, **schemes}.items():
        outcome = outcomes[url]
        assert outcome.get("error") in ("RefusedRequest", "RobotsUnavailable"), outcome
        assert reason in outcome["reason"], outcome
    # The redirects were served and followed (each refused at its target, not at the shop) ...
    assert {f"/go/{name}" for name in forbidden} <= set(shop.paths())
    for url in redirecting:
        assert outcomes[url]["failed_url"] != url
    # ... and an allowed redirect is followed to the page.
    assert outcomes[f"{shop.origin}/go/home"] == {
        "url": f"{shop.origin}/go/home",
        "final_url": f"{shop.origin}/home",
        "status": 200,
    }


def test_the_resolver_alone_stops_every_connection_when_no_middleware_checks_first(
    tmp_path: Path, v4: CountingListener, v6: CountingListener
) -> None:
    urls = [
        f"http://127.0.0.1:{v4.port}/",
        f"http://[::1]:{v6.port}/",
        f"http://localhost:{v4.port}/",
        f"http://2130706433:{v4.port}/",
        f"http://0x7f.1:{v4.port}/",
        "http://169.254.169.254/latest/meta-data/",
    ]
    settings = {
        "RETRY_TIMES": 0,
        "DOWNLOADER_MIDDLEWARES": {
            "services.scraper.crawl.guard.AddressGuardMiddleware": None,
            "services.scraper.crawl.robots.StrictRobotsMiddleware": None,
        },
    }

    outcomes = by_start_url(crawl(tmp_path, urls, settings))

    assert v4.accepted == 0
    assert v6.accepted == 0
    assert {outcomes[url]["error"] for url in urls} == {"CannotResolveHostError"}


def test_the_allow_list_admits_exactly_the_listed_host_and_port(tmp_path: Path, shop: Shop) -> None:
    shop.answer("/p", page("p"))
    with Shop() as other:
        other.answer("/robots.txt", text("User-agent: *\nAllow: /\n"))
        other.answer("/p", page("p"))
        urls = [f"{shop.origin}/p", f"http://localhost:{shop.port}/p", f"{other.origin}/p"]

        outcomes = by_start_url(crawl(tmp_path, urls, {"OMNIPRICEX_ALLOW_HOSTS": [f"127.0.0.1:{shop.port}"]}))

        assert outcomes[f"{shop.origin}/p"]["status"] == 200
        # The same allowed destination under another name is the same destination.
        assert outcomes[f"http://localhost:{shop.port}/p"]["status"] == 200
        assert outcomes[f"{other.origin}/p"]["reason"] == "127.0.0.1 is a loopback address"
        assert other.paths() == []


def test_without_the_guarded_resolver_installed_nothing_is_fetched(tmp_path: Path, shop: Shop) -> None:
    shop.answer("/p", page("p"))

    outcomes = by_start_url(
        crawl(
            tmp_path,
            [f"{shop.origin}/p"],
            {
                "OMNIPRICEX_ALLOW_HOSTS": [f"127.0.0.1:{shop.port}"],
                "TWISTED_DNS_RESOLVER": "scrapy.resolver.CachingThreadedResolver",
            },
        )
    )

    assert outcomes[f"{shop.origin}/p"]["reason"] == NOT_INSTALLED_REASON
    assert shop.paths() == []


class _Receiver:
    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.complete = False

    def resolutionBegan(self, resolution: object) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address.host)

    def resolutionComplete(self) -> None:
        self.complete = True


class _FixedAnswers:
    """An upstream name resolver that answers from a table, as a DNS server under test would."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> None:
        from twisted.internet.address import IPv4Address, IPv6Address

        self.asked.append(hostName)
        resolutionReceiver.resolutionBegan(object())
        for answer in self.table.get(hostName, []):
            kind = IPv6Address if ":" in answer else IPv4Address
            resolutionReceiver.addressResolved(kind("TCP", answer, portNumber))
        resolutionReceiver.resolutionComplete()


@pytest.mark.parametrize(
    ("host", "answers", "allowed", "reason"),
    [
        ("shop.example", ["93.184.216.34", "2606:2800:220:1::"], True, None),
        (
            "intranet.example",
            ["10.0.0.5"],
            False,
            "intranet.example resolves to 10.0.0.5, a private address (RFC 1918)",
        ),
        ("mixed.example", ["93.184.216.34", "fd12::1"], False, "mixed.example resolves to fd12::1, a private"),
        ("rebind.example", ["169.254.169.254"], False, "resolves to 169.254.169.254, a cloud metadata address"),
        ("listed.example", ["10.0.0.5"], True, None),
    ],
)
def test_the_resolver_hands_on_answers_only_when_every_one_is_allowed(
    host: str, answers: list[str], allowed: bool, reason: str | None
) -> None:
    upstream = _FixedAnswers({host: answers})
    resolver = GuardedResolver(None, AddressPolicy.of(["listed.example:443"]), upstream=upstream)
    receiver = _Receiver()

    resolver.resolveHostName(receiver, host, 443)

    assert receiver.complete
    assert upstream.asked == [host]
    assert receiver.addresses == (answers if allowed else [])
    refusal = resolver.refusal(host, 443)
    assert (refusal is None) if reason is None else (refusal is not None and reason in refusal)
    assert resolver.refusal(host, 80) is None


@pytest.mark.parametrize(
    ("literal", "allow", "allowed"),
    [
        ("127.0.0.1", [], False),
        ("2130706433", [], False),
        ("::1", [], False),
        ("93.184.216.34", [], True),
        ("127.0.0.1", ["127.0.0.1:8080"], True),
        ("127.0.0.1", ["127.0.0.1:9090"], False),
    ],
)
def test_the_resolver_checks_ip_literals_without_asking_dns(literal: str, allow: list[str], allowed: bool) -> None:
    upstream = _FixedAnswers({})
    resolver = GuardedResolver(None, AddressPolicy.of(allow), upstream=upstream)
    receiver = _Receiver()

    resolver.resolveHostName(receiver, literal, 8080)

    assert upstream.asked == []
    assert receiver.complete
    assert len(receiver.addresses) == (1 if allowed else 0)
    assert (resolver.refusal(literal, 8080) is None) is allowed


# ------------------------------------------------------------------------------------------ robots.txt


def test_robots_txt_rules_for_our_user_agent_are_obeyed_and_fetched_once(tmp_path: Path) -> None:
    with Shop() as shop:
        # Everyone else is shut out; our user agent's own group applies instead.
        shop.answer(
            "/robots.txt",
            text(
                "User-agent: *\nDisallow: /\n\nUser-agent: OmniPriceXTestBot\nDisallow: /private/\nCrawl-delay: 0.4\n"
            ),
        )
        for i in range(3):
            shop.answer(f"/p/{i}", page(f"p{i}"))
        shop.answer("/private/secret", page("secret"))
        # localhost: its own download slot, so the Crawl-delay seen is this host's.
        origin = f"http://localhost:{shop.port}"
        urls = [f"{origin}/p/{i}" for i in range(3)] + [f"{origin}/private/secret"]

        outcomes = by_start_url(crawl(tmp_path, urls, {"OMNIPRICEX_ALLOW_HOSTS": [f"localhost:{shop.port}"]}))

        assert outcomes[f"{origin}/private/secret"]["error"] == "RobotsDisallowed"
        assert outcomes[f"{origin}/private/secret"]["reason"] == "robots.txt disallows /private/secret"
        assert all(outcomes[f"{origin}/p/{i}"]["status"] == 200 for i in range(3))
        hits = shop.hits()
        # Four requests waited for one robots.txt.
        assert [h.path for h in hits].count("/robots.txt") == 1
        assert "/private/secret" not in [h.path for h in hits]
        assert all(h.user_agent == USER_AGENT for h in hits)
        times = [h.at for h in hits]
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.35


def test_robots_txt_that_cannot_be_read_means_nothing_is_fetched_but_a_404_means_everything_is(
    tmp_path: Path,
) -> None:
    with Shop() as failing, Shop() as slow, Shop() as missing:
        failing.answer("/robots.txt", text("oops", status=500))
        slow.answer("/robots.txt", Answer(delay=3, body=b"User-agent: *\nAllow: /\n"))
        for server in (failing, slow, missing):
            for i in range(3):
                server.answer(f"/p/{i}", page(f"p{i}"))
        refused_port = closed_port()
        expected = {
            failing.origin: "robots.txt unavailable (HTTP 500): nothing is fetched from this host",
            slow.origin: "robots.txt unavailable (timed out): nothing is fetched from this host",
            f"http://127.0.0.1:{refused_port}": (
                "robots.txt unavailable (connection refused): nothing is fetched from this host"
            ),
        }
        urls = [f"{origin}/p/{i}" for origin in [*expected, missing.origin] for i in range(3)]
        allow = [f"127.0.0.1:{s.port}" for s in (failing, slow, missing)] + [f"127.0.0.1:{refused_port}"]

        result = crawl(tmp_path, urls, {"OMNIPRICEX_ALLOW_HOSTS": allow, "DOWNLOAD_TIMEOUT": 1, "RETRY_TIMES": 1})

        outcomes = by_start_url(result)
        for origin, reason in expected.items():
            for i in range(3):
                assert outcomes[f"{origin}/p/{i}"]["error"] == "RobotsUnavailable"
                assert outcomes[f"{origin}/p/{i}"]["reason"] == reason
        assert set(failing.paths()) == {"/robots.txt"}
        assert set(slow.paths()) == {"/robots.txt"}
        assert all(outcomes[f"{missing.origin}/p/{i}"]["status"] == 200 for i in range(3))
        assert sorted(missing.paths()) == ["/p/0", "/p/1", "/p/2", "/robots.txt"]
        assert result["stats"]["robotstxt/unavailable"] == 3


# --------------------------------------------------------------------------------------------- proxies


def test_requests_rotate_over_the_proxies_in_turn(tmp_path: Path, shop: Shop) -> None:
    for i in range(6):
        shop.answer(f"/p/{i}", page(f"p{i}"))
    with ForwardProxy("alpha") as alpha, ForwardProxy("beta") as beta:
        settings = {
            "OMNIPRICEX_ALLOW_HOSTS": [f"127.0.0.1:{p}" for p in (shop.port, alpha.port, beta.port)],
            "OMNIPRICEX_PROXIES": [alpha.url, beta.url],
            "CONCURRENT_REQUESTS": 1,
        }

        result = crawl(tmp_path, [f"{shop.origin}/p/{i}" for i in range(6)], settings)

    assert all(o["status"] == 200 for o in result["outcomes"])
    vias = [h.via for h in shop.hits()]
    # robots.txt and six pages, every one through a proxy, alternating.
    assert vias == ["1.1 alpha", "1.1 beta"] * 3 + ["1.1 alpha"]
    assert result["stats"][f"proxy/127.0.0.1:{alpha.port}/successes"] == 4
    assert result["stats"][f"proxy/127.0.0.1:{beta.port}/successes"] == 3


def test_a_dead_proxy_rests_and_the_crawl_goes_on_through_the_healthy_ones(
    tmp_path: Path, shop: Shop, v4: CountingListener
) -> None:
    for i in range(8):
        shop.answer(f"/p/{i}", page(f"p{i}"))
    dead = closed_port()
    with ForwardProxy("alpha") as alpha, ForwardProxy("beta") as beta:
        settings = {
            "OMNIPRICEX_ALLOW_HOSTS": [f"127.0.0.1:{p}" for p in (shop.port, alpha.port, beta.port, dead)],
            "OMNIPRICEX_PROXIES": [f"http://127.0.0.1:{dead}", alpha.url, beta.url],
            "OMNIPRICEX_PROXY_MAX_FAILURES": 1,
            "OMNIPRICEX_PROXY_COOLDOWN": 60,
        }
        # A proxy resolves names itself: this one must be vetted before it is handed over.
        sneaky = f"http://localhost:{v4.port}/"

        result = crawl(tmp_path, [f"{shop.origin}/p/{i}" for i in range(8)] + [sneaky], settings)

        relayed = alpha.relayed + beta.relayed

    outcomes = by_start_url(result)
    assert all(outcomes[f"{shop.origin}/p/{i}"]["status"] == 200 for i in range(8))
    assert "localhost resolves to 127.0.0.1, a loopback address" in outcomes[sneaky]["reason"]
    assert v4.accepted == 0
    assert not any("localhost" in url for url in relayed)
    assert all(h.via in ("1.1 alpha", "1.1 beta") for h in shop.hits())
    assert {h.via for h in shop.hits()} == {"1.1 alpha", "1.1 beta"}
    stats = result["stats"]
    assert stats[f"proxy/127.0.0.1:{dead}/failures"] == 1
    assert stats[f"proxy/127.0.0.1:{dead}/rests"] == 1
    assert stats[f"proxy/127.0.0.1:{dead}/requests"] == 1


def test_proxies_are_checked_like_any_destination() -> None:
    policy = AddressPolicy.of(["127.0.0.1:3128", "proxy.internal"])
    proxies = parse_proxies(
        [
            "http://user:secret@127.0.0.1:3128",
            "http://2130706433:3128/",
            "https://proxy.internal",
            "http://93.184.216.34:8080",
        ],
        policy,
    )
    assert proxies == [
        ProxyEndpoint(url="http://user:secret@127.0.0.1:3128", key="127.0.0.1:3128"),
        ProxyEndpoint(url="https://proxy.internal", key="proxy.internal:443"),
        ProxyEndpoint(url="http://93.184.216.34:8080", key="93.184.216.34:8080"),
    ]
    for entry, problem in [
        ("http://10.0.0.7:3128", "proxy 10.0.0.7:3128: 10.0.0.7 is a private address (RFC 1918); allow-list it"),
        ("http://[::1]:3128", "proxy [::1]:3128: ::1 is a loopback address"),
        ("socks5://93.184.216.34:1080", "must be written http://host:port"),
        ("http://93.184.216.34:8080/path", "must be only scheme, host and port"),
        ("http://93.184.216.34:port", "is malformed"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            parse_proxies([entry], policy)
        assert problem in refused.value.message


def test_when_every_proxy_rests_requests_wait_for_the_first_to_come_back(tmp_path: Path, shop: Shop) -> None:
    shop.answer("/p", page("p"))
    dead = closed_port()
    settings = {
        "OMNIPRICEX_ALLOW_HOSTS": [f"127.0.0.1:{shop.port}", f"127.0.0.1:{dead}"],
        "OMNIPRICEX_PROXIES": [f"http://127.0.0.1:{dead}"],
        "OMNIPRICEX_PROXY_MAX_FAILURES": 1,
        "OMNIPRICEX_PROXY_COOLDOWN": 0.5,
        "RETRY_TIMES": 2,
    }

    result = crawl(tmp_path, [f"{shop.origin}/p"], settings)

    outcome = result["outcomes"][0]
    assert outcome["error"] == "RobotsUnavailable"
    assert "connection refused" in outcome["reason"]
    stats = result["stats"]
    # Three attempts at robots.txt, each after the one proxy's rest.
    assert stats[f"proxy/127.0.0.1:{dead}/requests"] == 3
    assert stats[f"proxy/127.0.0.1:{dead}/rests"] == 3
    assert stats["proxy/waits_all_resting"] == 2
    assert shop.paths() == []


# --------------------------------------------------------------------------------------------- browser


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium package is not installed")
    return path


async def test_the_browser_reaches_no_forbidden_address_directly_or_through_redirects(
    chromium: str, shop: Shop, v4: CountingListener, v6: CountingListener
) -> None:
    with CountingListener("127.0.0.1") as allowed_socket:
        html = f"""<!doctype html><html><body><p>shop</p>
        <img src="/to-loopback.png"><img src="http://127.0.0.1:{v4.port}/direct.png"><img src="/to-own.png">
        <iframe src="/to-ipv6"></iframe>
        <script>
          fetch("/to-metadata").catch(() => {{}});
          fetch("http://localhost:{v4.port}/x").catch(() => {{}});
          new WebSocket("ws://127.0.0.1:{v4.port}/socket");
          new WebSocket("ws://127.0.0.1:{allowed_socket.port}/socket");
        </script></body></html>"""
        shop.answer("/", Answer(body=html.encode(), headers=(("Content-Type", "text/html"),)))
        shop.answer("/to-loopback.png", redirect(f"http://127.0.0.1:{v4.port}/pixel.png"))
        shop.answer("/to-ipv6", redirect(f"http://[::1]:{v6.port}/frame", 301))
        shop.answer("/to-metadata", redirect("http://169.254.169.254/latest/meta-data/", 307))
        shop.answer("/to-own.png", redirect("/own.png"))
        shop.answer("/own.png", Answer(body=b"png", headers=(("Content-Type", "image/png"),)))
        shop.answer("/leave", redirect(f"http://0x7f.1:{v4.port}/"))
        policy = AddressPolicy.of([f"127.0.0.1:{shop.port}", f"127.0.0.1:{allowed_socket.port}"])
        refused: list[tuple[str, str]] = []

        def note(url: str, reason: str) -> None:
            refused.append((url, reason))

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                page = await browser.new_page()
                await page.route("**/*", make_playwright_route_guard(policy, on_refused=note))
                await page.route_web_socket("**/*", make_playwright_websocket_guard(policy, on_refused=note))
                await page.goto(f"{shop.origin}/")
                # The page loaded; its script's requests and sockets settle soon after.
                for _ in range(100):
                    if len(refused) >= 6 and allowed_socket.accepted:
                        break
                    await asyncio.sleep(0.05)
                with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
                    await page.goto(f"{shop.origin}/leave")
                await page.wait_for_timeout(300)
            finally:
                await browser.close()

        accepted_by_allowed_socket = allowed_socket.accepted

    assert v4.accepted == 0
    assert v6.accepted == 0
    # The allowed WebSocket did connect: the guard refuses by destination, not wholesale.
    assert accepted_by_allowed_socket == 1
    assert {"/", "/to-loopback.png", "/to-ipv6", "/to-metadata", "/to-own.png", "/own.png", "/leave"} <= set(
        shop.paths()
    )
    reasons = dict(refused)
    assert reasons[f"http://127.0.0.1:{v4.port}/pixel.png"] == "127.0.0.1 is a loopback address"
    assert reasons[f"http://127.0.0.1:{v4.port}/direct.png"] == "127.0.0.1 is a loopback address"
    assert reasons[f"http://[::1]:{v6.port}/frame"] == "::1 is a loopback address"
    assert reasons["http://169.254.169.254/latest/meta-data/"] == "169.254.169.254 is a cloud metadata address"
    assert reasons[f"http://localhost:{v4.port}/x"] == "localhost resolves to 127.0.0.1, a loopback address"
    assert reasons[f"ws://127.0.0.1:{v4.port}/socket"] == "127.0.0.1 is a loopback address"
    # A redirect the guard followed on the browser's behalf: its hex spelling is read as the address it is.
    assert reasons[f"http://0x7f.1:{v4.port}/"] == "127.0.0.1 is a loopback address"
