"""Scrapy settings for one crawl, from its CrawlSpec: polite, bounded, and without machinery it does not use."""

from __future__ import annotations

from typing import Any

from services.scraper.crawl.contract import CrawlSpec
from services.scraper.crawl.render import browser_settings

RETRY_HTTP_CODES = (500, 502, 503, 504, 522, 524, 408, 429)


def engine_settings(spec: CrawlSpec) -> dict[str, Any]:
    """Politeness, limits and a lean engine: what any crawl of this spec runs with, safety layers aside.

    The benchmark's bare spider runs with exactly these, so the comparison measures our extraction
    and guards, not a different Scrapy.
    """
    delay = spec.download_delay_seconds
    return {
        "BOT_NAME": "omnipricex",
        # Honest: the operator's user agent names the bot and where to read about it.
        "USER_AGENT": spec.user_agent,
        "ROBOTSTXT_OBEY": False,  # robots.txt is StrictRobotsMiddleware's (a 5xx there means fetch nothing)
        "COOKIES_ENABLED": False,
        # A crawl is one shop: the engine takes in little more than that shop's share, so a crawl that
        # stops (circuit breaker, max_pages, cancel) has few requests left in flight.
        "CONCURRENT_REQUESTS": spec.concurrency_per_domain * 2,
        "CONCURRENT_REQUESTS_PER_DOMAIN": spec.concurrency_per_domain,
        # Scrapy starts this many asyncio tasks for every callback's output; ours yield no items and at
        # most a page of links, so more would only cost time.
        "CONCURRENT_ITEMS": 1,
        "DOWNLOAD_DELAY": delay,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": delay,
        "AUTOTHROTTLE_MAX_DELAY": max(10.0, delay * 4),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(spec.concurrency_per_domain),
        "DOWNLOAD_TIMEOUT": spec.timeout_seconds,
        # Applies to the body after decompression too, so a gzip bomb stops at this size.
        "DOWNLOAD_MAXSIZE": spec.max_page_bytes,
        "DOWNLOAD_WARNSIZE": spec.max_page_bytes // 2,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 2,
        "RETRY_HTTP_CODES": list(RETRY_HTTP_CODES),
        # Retries go before new pages, so a failing host shows as failures (and opens the circuit breaker)
        # after a few pages rather than after every page was tried once.
        "RETRY_PRIORITY_ADJUST": 1,
        "REDIRECT_MAX_TIMES": 10,
        "METAREFRESH_ENABLED": False,
        # Referer handling stays installed (the redirect middleware wants it) but sends nothing.
        "REFERRER_POLICY": "no-referrer",
        "DUPEFILTER_CLASS": "scrapy.dupefilters.RFPDupeFilter",
        # Proxies come only from the spec (ProxyRotationMiddleware), never from the environment.
        "HTTPPROXY_ENABLED": bool(spec.proxies),
        # Per-request header-size accounting; the spider counts what the summary reports.
        "DOWNLOADER_STATS": False,
        "TELNETCONSOLE_ENABLED": False,
        # Scrapy 2.19's remote-control extension would serve an HTTP endpoint that runs code.
        "REMOTE_CONTROL_ENABLED": False,
        "MEMUSAGE_ENABLED": False,
        "LOGSTATS_INTERVAL": 0,
        "STATS_DUMP": False,
        "EXTENSIONS": {
            "scrapy.extensions.telnet.TelnetConsole": None,
            "scrapy.extensions.memusage.MemoryUsage": None,
            "scrapy.extensions.memdebug.MemoryDebugger": None,
            "scrapy.extensions.feedexport.FeedExporter": None,
            "scrapy.extensions.logstats.LogStats": None,
            "scrapy.extensions.spiderstate.SpiderState": None,
            "scrapy.extensions.remote_control.RemoteControl": None,
        },
        "SPIDER_MIDDLEWARES": {
            "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
            "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
        },
        "DOWNLOADER_MIDDLEWARES": {
            # Hosts are checked by the spider (links stay on the start URLs' hosts) and the address guard.
            "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
            "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
        },
        "LOG_LEVEL": "WARNING",
        "LOG_STDOUT": False,
        "LOG_VERSIONS": [],
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "ASYNCIO_EVENT_LOOP": "uvloop.Loop",
    }


def crawl_settings(spec: CrawlSpec) -> dict[str, Any]:
    """engine_settings plus the safety layers: the address guard at DNS and connect time, strict robots.txt,
    proxy rotation, and the browser when the source renders JavaScript."""
    settings = engine_settings(spec)
    settings.update(
        {
            "TWISTED_DNS_RESOLVER": "services.scraper.crawl.guard.GuardedResolver",
            "OMNIPRICEX_ALLOW_HOSTS": list(spec.allow_hosts),
            "OMNIPRICEX_PROXIES": list(spec.proxies),
        }
    )
    settings["DOWNLOADER_MIDDLEWARES"] = {
        **settings["DOWNLOADER_MIDDLEWARES"],
        "services.scraper.crawl.guard.AddressGuardMiddleware": 50,
        "services.scraper.crawl.robots.StrictRobotsMiddleware": 100,
        "services.scraper.crawl.proxies.ProxyRotationMiddleware": 740,
    }
    if spec.render_javascript:
        settings.update(browser_settings(spec))
    return settings
