"""A failed request in words, and whether it says the host is struggling (which feeds the circuit breaker)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    UnsupportedURLSchemeError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from twisted.python.failure import Failure

from services.scraper.crawl.contract import PageOutcome
from services.scraper.crawl.refusal import BlockedAddress, RefusedRequest

_ANNOUNCED_SIZE = re.compile(r"receive (\d+) bytes which is larger than download max size \((\d+)\)")
_TIMEOUT = re.compile(r"longer than ([\d.]+) seconds")


@dataclass(frozen=True, slots=True)
class DescribedFailure:
    outcome: PageOutcome
    error: str
    status: int = 0
    # 5xx, 429, timeouts and connection errors; not 404s, refusals or oversized pages.
    breaker_failure: bool = False


def describe_failure(failure: Failure, *, max_bytes: int, stopping: bool = False) -> DescribedFailure:
    """``max_bytes`` is the crawl's size cap; ``stopping`` whether the crawl is shutting down (which cancels)."""
    error = failure.value
    if error is None:
        return DescribedFailure(PageOutcome.FAILED, "the request failed for an unknown reason")
    for cause in _causes(error):
        if isinstance(cause, RefusedRequest | BlockedAddress):
            return DescribedFailure(PageOutcome.REFUSED, cause.reason)
    if isinstance(error, HttpError):
        status = error.response.status
        return DescribedFailure(PageOutcome.FAILED, _http(status), status, status >= 500 or status == 429)
    if isinstance(error, UnsupportedURLSchemeError):
        return DescribedFailure(PageOutcome.REFUSED, f"unsupported URL scheme: {error}")
    too_big = next((cause for cause in _causes(error) if isinstance(cause, _DecompressionMaxSizeExceeded)), None)
    if too_big is not None:
        return DescribedFailure(
            PageOutcome.FAILED, f"response larger than {too_big.max_size} bytes after decompression"
        )
    if isinstance(error, DownloadCancelledError):
        return _cancelled(str(error), max_bytes, stopping)
    if isinstance(error, DownloadTimeoutError):
        seconds = _TIMEOUT.search(str(error))
        return DescribedFailure(
            PageOutcome.FAILED, f"timed out after {seconds.group(1)} s" if seconds else "timed out", 0, True
        )
    if isinstance(error, CannotResolveHostError):
        return DescribedFailure(PageOutcome.FAILED, f"DNS lookup failed: {_short(error)}", 0, True)
    if isinstance(error, DownloadConnectionRefusedError):
        return DescribedFailure(PageOutcome.FAILED, "connection refused", 0, True)
    if isinstance(error, IgnoreRequest):
        return DescribedFailure(PageOutcome.FAILED, _short(error) or "request ignored")
    # Connection lost, data loss, TLS and browser network errors: the host (or the way to it) failed.
    return DescribedFailure(PageOutcome.FAILED, f"{type(error).__name__}: {_short(error)}".rstrip(": "), 0, True)


def _cancelled(message: str, max_bytes: int, stopping: bool) -> DescribedFailure:
    announced = _ANNOUNCED_SIZE.search(message)
    if announced:
        return DescribedFailure(
            PageOutcome.FAILED, f"response larger than {announced.group(2)} bytes ({announced.group(1)} announced)"
        )
    if stopping:
        return DescribedFailure(PageOutcome.FAILED, "cancelled: the crawl stopped")
    # Outside shutdown only the size cap cancels a download: the body outgrew it while streaming.
    return DescribedFailure(PageOutcome.FAILED, f"response larger than {max_bytes} bytes")


def _http(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
