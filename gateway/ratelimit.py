"""Per-credential rate limits (per client address when no credential is sent): Redis or in-process.

A fixed one-minute window per key. With Redis every gateway process shares the counts; without it each
process counts alone. If Redis stops answering, the process falls back to counting alone until it is back,
so a Redis outage never takes the API down with it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import problem, problem_type
from runtime.logging import get_logger
from runtime.settings import Settings

WINDOW_SECONDS = 60
# After Redis fails, requests count in-process for this long before Redis is tried again, so an outage
# costs one failed round trip every few seconds rather than one per request.
REDIS_RETRY_SECONDS = 5.0
_KEY_PREFIX = "omnipricex:ratelimit:"
_log = get_logger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int | None = None) -> Decision: ...

    async def close(self) -> None: ...


def _decide(count: int, limit: int, now: float) -> Decision:
    reset = max(1, math.ceil(WINDOW_SECONDS - now % WINDOW_SECONDS))
    return Decision(count <= limit, limit, max(0, limit - count), reset)


class InProcessLimiter:
    def __init__(self, limit: int, *, clock: Clock = time.time) -> None:
        self._limit = limit
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    async def hit(self, key: str, limit: int | None = None) -> Decision:
        return self.hit_now(key, limit)

    def hit_now(self, key: str, limit: int | None = None) -> Decision:
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        if window != self._window:
            self._window = window
            self._counts = {}
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        return _decide(count, limit or self._limit, now)

    async def close(self) -> None:
        return None


class RedisLimiter:
    """INCR and EXPIRE of the window's key in one round trip, shared by every gateway process."""

    def __init__(self, client: redis.Redis, limit: int, *, clock: Clock = time.time) -> None:
        self._client = client
        self._limit = limit
        self._clock = clock
        self._fallback = InProcessLimiter(limit, clock=clock)
        self._degraded_until: float | None = None

    async def hit(self, key: str, limit: int | None = None) -> Decision:
        now = self._clock()
        if self._degraded_until is not None and time.monotonic() < self._degraded_until:
            return self._fallback.hit_now(key, limit)
        window_key = f"{_KEY_PREFIX}{key}:{int(now // WINDOW_SECONDS)}"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(window_key)
                pipe.expire(window_key, WINDOW_SECONDS + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as error:
            if self._degraded_until is None:
                _log.warning("redis rate limiter unavailable; counting in-process", error=str(error))
            self._degraded_until = time.monotonic() + REDIS_RETRY_SECONDS
            return self._fallback.hit_now(key, limit)
        if self._degraded_until is not None:
            self._degraded_until = None
            _log.info("redis rate limiter is back")
        return _decide(int(count), limit or self._limit, now)

    async def close(self) -> None:
        await self._client.aclose()


def build_limiter(settings: Settings, *, clock: Clock = time.time) -> RateLimiter:
    if settings.redis_url is None:
        return InProcessLimiter(settings.rate_limit_per_minute, clock=clock)
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=0.25,
        socket_connect_timeout=0.25,
        retry=Retry(NoBackoff(), 0),
    )
    return RedisLimiter(client, settings.rate_limit_per_minute, clock=clock)


def limit_key(scope: Scope) -> str:
    """A hash of the presented credential (never the credential itself), else the client address."""
    for name, value in scope["headers"]:
        if name == b"authorization" or name == b"x-api-key":
            return "c:" + hashlib.sha256(value.strip()).hexdigest()[:32]
    return "a:" + _client_address(scope)


# Where a password or refresh token can be guessed: limited per client address, far below the API limit.
CREDENTIAL_GUESSING_PATHS = frozenset({"/v1/auth/token", "/v1/auth/refresh"})


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimitMiddleware:
    """Counts every /v1 request against its key; answers 429 problem+json with Retry-After past the limit."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, *, login_limit: int, prefix: str = "/v1/") -> None:
        self.app = app
        self.limiter = limiter
        self.login_limit = login_limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if scope["path"] in CREDENTIAL_GUESSING_PATHS:
            decision = await self.limiter.hit("login:" + _client_address(scope), self.login_limit)
        else:
            decision = await self.limiter.hit(limit_key(scope))
        headers = [
            (b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
            (b"x-ratelimit-reset", str(decision.reset_seconds).encode()),
        ]
        if not decision.allowed:
            response = problem(
                Request(scope),
                429,
                f"more than {decision.limit} requests in a minute with these credentials; "
                f"retry in {decision.reset_seconds} s",
                type_=problem_type("rate-limited"),
                headers={"Retry-After": str(decision.reset_seconds)},
            )
            response.raw_headers.extend(headers)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
