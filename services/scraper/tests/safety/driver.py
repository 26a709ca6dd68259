"""One small Scrapy crawl with the safety layers wired as the real crawl wires them; prints what happened.

    python -m services.scraper.tests.safety.driver CONFIG.json

CONFIG: {"urls": [...], "settings": {...}, "safety": true}. With "safety" the address guard (resolver and
middleware), StrictRobotsMiddleware and ProxyRotationMiddleware are configured as
services.scraper.crawl.scrapy_settings does. Prints one JSON object: {"outcomes": [...], "stats": {...}}.
Each outcome is {"url", "final_url", "status"} for a fetched page or {"url", "failed_url", "error",
"reason"} for one that was not; "url" is the start URL it came from.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response
from twisted.python.failure import Failure

SAFETY_SETTINGS: dict[str, Any] = {
    "TWISTED_DNS_RESOLVER": "services.scraper.crawl.guard.GuardedResolver",
    "ROBOTSTXT_OBEY": False,
    "DOWNLOADER_MIDDLEWARES": {
        "services.scraper.crawl.guard.AddressGuardMiddleware": 50,
        "services.scraper.crawl.robots.StrictRobotsMiddleware": 100,
        "services.scraper.crawl.proxies.ProxyRotationMiddleware": 740,
        "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    },
}
BASE_SETTINGS: dict[str, Any] = {
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "USER_AGENT": "OmniPriceXTestBot/1.0 (+https://example.invalid/bot)",
    "LOG_LEVEL": "WARNING",
    "TELNETCONSOLE_ENABLED": False,
    "COOKIES_ENABLED": False,
    "RETRY_TIMES": 2,
    "DOWNLOAD_TIMEOUT": 5,
    "DNSCACHE_ENABLED": False,
}


class ProbeSpider(Spider):
    name = "safety_probe"

    def __init__(self, urls: list[str], outcomes: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls
        self.outcomes = outcomes

    async def start(self) -> AsyncIterator[Request]:
        for url in self.urls:
            yield Request(url, callback=self.fetched, errback=self.failed, dont_filter=True, meta={"start_url": url})

    def fetched(self, response: Response) -> None:
        self.outcomes.append({"url": response.meta["start_url"], "final_url": response.url, "status": response.status})

    def failed(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        error = failure.value
        self.outcomes.append(
            {
                "url": request.meta["start_url"],
                "failed_url": request.url,
                "error": type(error).__name__,
                "reason": str(getattr(error, "reason", error)),
            }
        )


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    settings = {**BASE_SETTINGS, **(SAFETY_SETTINGS if config.get("safety", True) else {})}
    settings.update(config.get("settings", {}))
    outcomes: list[dict[str, Any]] = []
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(ProbeSpider)
    process.crawl(crawler, urls=config["urls"], outcomes=outcomes)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats is not None else {}
    print(json.dumps({"outcomes": outcomes, "stats": stats}, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
