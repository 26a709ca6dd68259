"""Rate limits per credential (per client address without one): in-process, and in the real local Redis."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import redis.asyncio as redis

from gateway.ratelimit import WINDOW_SECONDS, InProcessLimiter, RedisLimiter, build_limiter, limit_key
from gateway.tests.conftest import Mesh, gateway_client, gateway_settings
from gateway.tests.support import assert_problem
from runtime.auth import Role

REDIS_URL = "redis://127.0.0.1:6379/0"
# A fixed instant 15 s into a window, so a test never straddles two windows.
FIXED_NOW = 1_900_000_000 - 1_900_000_000 % WINDOW_SECONDS + 15.0


def fixed_clock() -> float:
    return FIXED_NOW


async def test_in_process_limit_per_credential(mesh: Mesh) -> None:
    settings = mesh.settings.model_copy(update={"rate_limit_per_minute": 3})
    first, second = mesh.auth(Role.VIEWER), mesh.auth(Role.VIEWER)

    async with gateway_client(settings, limiter=InProcessLimiter(3, clock=fixed_clock)) as client:
        allowed = [await client.get("/v1/products", headers=first) for _ in range(3)]
        refused = await client.get("/v1/products", headers=first)
        other = await client.get("/v1/products", headers=second)
        health = await client.get("/healthz")

    assert [response.status_code for response in allowed] == [200, 200, 200]
    assert [response.headers["x-ratelimit-remaining"] for response in allowed] == ["2", "1", "0"]
    assert allowed[0].headers["x-ratelimit-limit"] == "3"
    assert allowed[0].headers["x-ratelimit-reset"] == str(WINDOW_SECONDS - 15)
    body = assert_problem(refused, 429)
    assert body["type"] == "urn:omnipricex:problem:rate-limited"
    assert refused.headers["retry-after"] == str(WINDOW_SECONDS - 15)
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert other.status_code == 200
    assert health.status_code == 200
    assert "x-ratelimit-limit" not in health.headers


async def test_login_is_limited_per_client_address_far_below_the_api_limit(mesh: Mesh) -> None:
    login = {"email": "nobody@shop.example", "password": "guess"}
    settings = mesh.settings.model_copy(update={"login_attempts_per_minute": 2})
    reader = mesh.auth(Role.VIEWER)
    async with gateway_client(settings, limiter=InProcessLimiter(100, clock=fixed_clock)) as client:
        statuses = [(await client.post("/v1/auth/token", json=login)).status_code for _ in range(3)]
        refresh = await client.post("/v1/auth/refresh", json={"refresh_token": "guessed"})
        api = await client.get("/v1/products", headers=reader)
    assert statuses == [401, 401, 429]
    assert_problem(refresh, 429)
    assert api.status_code == 200


async def test_window_rolls_over(mesh: Mesh) -> None:
    now = [FIXED_NOW]
    limiter = InProcessLimiter(1, clock=lambda: now[0])
    assert (await limiter.hit("k")).allowed
    assert not (await limiter.hit("k")).allowed
    now[0] += WINDOW_SECONDS
    assert (await limiter.hit("k")).allowed


async def test_redis_limit_is_shared_through_the_real_redis(mesh: Mesh) -> None:
    settings = mesh.settings.model_copy(update={"redis_url": REDIS_URL, "rate_limit_per_minute": 3})
    token = mesh.token(Role.VIEWER, user_id=f"usr_{uuid.uuid4().hex}")
    headers = {"Authorization": f"Bearer {token}"}

    # Two gateway apps, as two processes would be, share one count.
    async with (
        gateway_client(settings, limiter=build_limiter(settings, clock=fixed_clock)) as one,
        gateway_client(settings, limiter=build_limiter(settings, clock=fixed_clock)) as two,
    ):
        statuses = [(await client.get("/v1/products", headers=headers)).status_code for client in (one, two, one)]
        refused = await two.get("/v1/products", headers=headers)

    assert statuses == [200, 200, 200]
    assert_problem(refused, 429)
    digest = hashlib.sha256(f"Bearer {token}".encode()).hexdigest()[:32]
    key = f"omnipricex:ratelimit:c:{digest}:{int(FIXED_NOW // WINDOW_SECONDS)}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert await client.get(key) == b"4"
        assert 0 < await client.ttl(key) <= WINDOW_SECONDS + 1
    finally:
        await client.delete(key)
        await client.aclose()


async def test_unreachable_redis_falls_back_to_counting_in_process(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path, redis_url="redis://127.0.0.1:1/0", rate_limit_per_minute=2)
    limiter = build_limiter(settings, clock=fixed_clock)
    assert isinstance(limiter, RedisLimiter)
    try:
        decisions = [await limiter.hit("k") for _ in range(3)]
    finally:
        await limiter.close()
    assert [decision.allowed for decision in decisions] == [True, True, False]


async def test_limited_requests_never_reach_the_service(mesh: Mesh) -> None:
    writer = mesh.auth(Role.PRICING_MANAGER)
    body = {"sku": "SKU-9", "title": "x", "currency": "EUR", "price": "1.00"}
    async with gateway_client(mesh.settings, limiter=InProcessLimiter(1, clock=fixed_clock)) as client:
        await client.get("/v1/products", headers=writer)
        refused = await client.post("/v1/products", json=body, headers=writer)
    assert_problem(refused, 429)
    assert mesh.products.products == {}


def test_limit_keys_never_hold_the_credential() -> None:
    scope = {"headers": [(b"authorization", b"Bearer secret-token")], "client": ("10.0.0.1", 1)}
    assert "secret" not in limit_key(scope)
    assert limit_key({"headers": [], "client": ("10.0.0.1", 1)}) == "a:10.0.0.1"
