"""Per-host circuit breaker: enough consecutive failed fetches on one host end the crawl, saying why."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


def host_key(url: str) -> str:
    """The host as the breaker counts it: "host" or "host:port" when the URL names a port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host


@dataclass(frozen=True, slots=True)
class OpenCircuit:
    host: str
    failures: int
    last_error: str

    @property
    def detail(self) -> str:
        return f"{self.failures} consecutive failures fetching {self.host} (last: {self.last_error})"


class CircuitBreaker:
    """Counts failures (5xx, 429, timeouts, connection errors) per host; a success resets the host's count.

    Answers that are the page's fault or the crawl's choice (404, refusals, oversized pages) are neither:
    callers simply do not report them.
    """

    def __init__(self, threshold: int) -> None:
        if threshold < 1:
            raise ValueError("breaker threshold must be at least 1")
        self._threshold = threshold
        self._failures: dict[str, int] = {}
        self.opened: OpenCircuit | None = None

    def success(self, url: str) -> None:
        self._failures.pop(host_key(url), None)

    def failure(self, url: str, error: str) -> OpenCircuit | None:
        """Counts one failure; the open circuit when this one reached the threshold (first time only)."""
        host = host_key(url)
        count = self._failures.get(host, 0) + 1
        self._failures[host] = count
        if count >= self._threshold and self.opened is None:
            self.opened = OpenCircuit(host, count, error)
            return self.opened
        return None
