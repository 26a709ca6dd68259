"""Requests the crawl declines on purpose, told apart from fetches that failed."""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest
from twisted.internet.error import DNSLookupError


class RefusedRequest(IgnoreRequest):
    """Not fetched on purpose (robots.txt, the address guard, an unusable URL); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BlockedAddress(DNSLookupError):
    """Every address a host name resolved to is one the crawl may not connect to."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
