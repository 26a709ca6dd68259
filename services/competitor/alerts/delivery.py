"""Webhook deliveries: a background worker posts pending deliveries, signed, and retries with backoff.

Each pass fans out notifications a crash left in the outbox, claims the deliveries that are due (under
a lease, so a restarted or second worker never posts one that is in flight, and a crashed worker's
claims come back when the lease runs out) and posts them. 2xx is delivered; anything else, a timeout
or a connection error is retried after the next delay of RETRY_DELAYS (with jitter) until they run out.
Delivery is at least once: a crash between the receiver's answer and storing it posts the delivery
again, with the same X-OmniPriceX-Delivery id, which receivers use to drop duplicates.

Where a delivery may connect is checked when it is made: the webhook's host is resolved once, every
answer must be allowed by the address policy (no loopback, private, link-local or metadata address
unless allow-listed), and the connection goes to a checked address, never to the name again, so a DNS
answer cannot change in between. For https the TLS server name and certificate check use the host name.
A destination refused by the policy fails the delivery at once, with the reason in its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import httpx

from runtime.clock import utcnow
from runtime.errors import DomainError
from runtime.logging import get_logger
from runtime.netguard import AddressPolicy, BlockedDestination, Resolver, host_and_port, resolve_checked
from services.competitor.alerts import metrics
from services.competitor.alerts.domain import (
    EVENT_NAMES,
    JITTER,
    RETRY_DELAYS,
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    attempted,
    given_up,
)
from services.competitor.alerts.repository import AlertStore
from services.competitor.alerts.signing import SIGNATURE_HEADER, signature_header
from services.competitor.domain import to_millisecond

EVENT_HEADER = "X-OmniPriceX-Event"
DELIVERY_HEADER = "X-OmniPriceX-Delivery"
TIMESTAMP_HEADER = "X-OmniPriceX-Timestamp"
USER_AGENT = "OmniPriceX-Webhooks/0.1 (+https://github.com/omnipricex/omnipricex)"
POST_TIMEOUT_SECONDS = 10.0
# Longer than a post can take, so a claim never lapses while its delivery is in flight.
LEASE = timedelta(minutes=2)
BATCH = 20
CONCURRENCY = 8
# How long an idle worker sleeps before looking again (new deliveries wake it at once).
IDLE_SECONDS = 5.0
OUTBOX_BATCH = 100
_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PostResult:
    # 0 when no response came.
    status_code: int
    error: str
    # The destination was refused by the address policy: trying again changes nothing.
    blocked: bool = False


class WebhookPoster:
    """POSTs a body to a webhook URL, connecting only to addresses the policy allows."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver | None = None,
        timeout_seconds: float = POST_TIMEOUT_SECONDS,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        # No proxies from the environment (they would connect to the name, not to the checked address), no
        # redirects (a 3xx is an answer, not a new destination) and no kept-alive connections, so each
        # connection's TLS server name is the one of the request it carries.
        self._client = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=timeout_seconds,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> PostResult:
        try:
            host, port = host_and_port(url)
            addresses = await resolve_checked(host, port, self._policy, resolver=self._resolver)
        except BlockedDestination as error:
            return PostResult(0, f"refused: {error.reason} (not allow-listed)", blocked=True)
        except DomainError as error:
            return PostResult(0, error.message)
        parts = urlsplit(url)
        request_headers = {**headers, "Host": parts.netloc, "User-Agent": USER_AGENT}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        failure = ""
        for address in addresses:
            netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
            try:
                async with self._client.stream(
                    "POST", target, content=body, headers=request_headers, extensions=extensions
                ) as response:
                    return PostResult(response.status_code, "" if response.is_success else _status_text(response))
            except httpx.ConnectError as error:
                failure = f"cannot connect to {address}: {error or type(error).__name__}"
                continue
            except httpx.TimeoutException as error:
                return PostResult(0, f"timed out ({type(error).__name__})")
            except httpx.HTTPError as error:
                return PostResult(0, f"{type(error).__name__}: {error}")
        return PostResult(0, failure or "no address to connect to")

    async def close(self) -> None:
        await self._client.aclose()


def _status_text(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def default_jitter() -> float:
    return random.uniform(1 - JITTER, 1 + JITTER)


class DeliveryWorker:
    """Posts pending webhook deliveries in the background: `await start()` with the service, `await stop()`
    when it stops (or use it as an async context manager). `poke()` wakes it when deliveries were stored."""

    def __init__(
        self,
        store: AlertStore,
        poster: WebhookPoster,
        *,
        clock: Callable[[], datetime] = utcnow,
        delays: Sequence[timedelta] = RETRY_DELAYS,
        jitter: Callable[[], float] = default_jitter,
        lease: timedelta = LEASE,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._store = store
        self._poster = poster
        self._clock = clock
        self._delays = tuple(delays)
        self._jitter = jitter
        self._lease = lease
        self._batch = batch
        self._limit = asyncio.Semaphore(concurrency)
        self._idle = idle_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-deliveries")

    async def stop(self) -> None:
        """Stop taking deliveries; one in flight is abandoned, and its lease brings it back after a restart."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._poster.close()

    async def __aenter__(self) -> DeliveryWorker:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    def poke(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """One pass: finish fan-outs, then post every delivery due now. How many deliveries were attempted."""
        await self._store.deliveries.flush_outbox(OUTBOX_BATCH)
        attempted_count = 0
        while True:
            due = await self._store.deliveries.claim_due(to_millisecond(self._clock()), self._lease, self._batch)
            if not due:
                return attempted_count
            await asyncio.gather(*(self._deliver(delivery) for delivery in due))
            attempted_count += len(due)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
                pause = await self._pause()
            except Exception:
                _log.exception("webhook delivery pass failed")
                pause = self._idle
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause)

    async def _pause(self) -> float:
        now = self._clock()
        due = await self._store.deliveries.next_due(now)
        if due is None:
            return self._idle
        return min(self._idle, max(0.01, (due - now).total_seconds()))

    async def _deliver(self, delivery: Delivery) -> None:
        async with self._limit:
            try:
                after = await self._attempt(delivery)
            except Exception as error:
                # Our own failure (storage, a bug): counted as an attempt so it cannot loop without end.
                _log.exception("webhook delivery attempt failed", delivery_id=delivery.id)
                attempt = DeliveryAttempt(to_millisecond(self._clock()), 0, f"internal error: {error}", 0)
                after = attempted(delivery, attempt, delivered=False, delays=self._delays, jitter=self._jitter())
            await self._store.deliveries.save(after)
            if after.state is DeliveryState.PENDING:
                outcome = "retry"
            elif after.state is DeliveryState.DELIVERED:
                outcome = "delivered"
            else:
                outcome = "failed"
            metrics.DELIVERY_ATTEMPTS.labels(outcome).inc()

    async def _attempt(self, delivery: Delivery) -> Delivery:
        webhook = await self._store.webhooks.get(delivery.organization_id, delivery.webhook_id)
        if webhook is None or not webhook.active:
            why = "the webhook was deleted" if webhook is None else "the webhook is inactive"
            return given_up(delivery, now=self._clock(), why=why)
        body = delivery.body.encode()
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: EVENT_NAMES[delivery.event_type],
            DELIVERY_HEADER: delivery.id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(webhook.secret, timestamp, body),
        }
        started, at = time.monotonic(), to_millisecond(self._clock())
        result = await self._poster.post(webhook.url, headers, body)
        attempt = DeliveryAttempt(at, result.status_code, result.error, round((time.monotonic() - started) * 1000))
        if result.blocked:
            metrics.DELIVERY_ATTEMPTS.labels("blocked").inc()
            return attempted(delivery, attempt, delivered=False, delays=())
        delivered = 200 <= result.status_code < 300
        return attempted(delivery, attempt, delivered=delivered, delays=self._delays, jitter=self._jitter())
