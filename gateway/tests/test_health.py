"""/healthz, /readyz and /metrics; a backend going away and coming back; deadlines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.app import create_app
from gateway.backends import Channels
from gateway.tests.conftest import Mesh, gateway_client, gateway_settings, start_mesh
from gateway.tests.standin_services import SLOW_SKU
from gateway.tests.support import assert_problem, product_body
from runtime.auth import Role

BACKENDS = ("product", "identity", "analytics", "competitor", "pricing", "scraper")


async def eventually_ready(client: httpx.AsyncClient, attempts: int = 100) -> httpx.Response:
    """Polls /readyz until it answers 200 (the channel reconnects with a short backoff)."""
    response = await client.get("/readyz")
    for _ in range(attempts):
        if response.status_code == 200:
            break
        await asyncio.sleep(0.1)
        response = await client.get("/readyz")
    return response


async def test_ready_when_every_backend_serves(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "backends": {
            "product": "SERVING",
            "identity": "SERVING",
            "analytics": "SERVING",
            "competitor": "SERVING",
            "pricing": "SERVING",
            "scraper": "SERVING",
        },
    }


async def test_product_service_down_then_back(mesh: Mesh, client: httpx.AsyncClient) -> None:
    writer = mesh.auth(Role.PRICING_MANAGER)
    assert (await client.post("/v1/products", json=product_body(), headers=writer)).status_code == 201

    await mesh.stop_product()
    not_ready = await client.get("/readyz")
    get = await client.get("/v1/products/SKU-1", headers=writer)
    healthz = await client.get("/healthz")

    body = assert_problem(not_ready, 503)
    assert body["backends"]["identity"] == "SERVING"
    assert body["backends"]["product"] != "SERVING"
    assert "product" in body["detail"]
    get_problem = assert_problem(get, 503)
    assert get_problem["grpc_code"] == "UNAVAILABLE"
    assert healthz.status_code == 200

    await mesh.start_product()
    assert (await eventually_ready(client)).status_code == 200
    again = await client.get("/v1/products/SKU-1", headers=writer)
    assert again.status_code == 200
    assert again.json()["price"] == "29.99"


async def test_a_call_past_the_deadline_is_504(tmp_path: Path) -> None:
    mesh = await start_mesh(gateway_settings(tmp_path, rpc_deadline_seconds=0.3))
    try:
        async with gateway_client(mesh.settings) as client:
            response = await client.get(f"/v1/products/{SLOW_SKU}", headers=mesh.auth(Role.VIEWER))
    finally:
        await mesh.stop()
    body = assert_problem(response, 504)
    assert body["grpc_code"] == "DEADLINE_EXCEEDED"


async def test_no_backend_at_all(tmp_path: Path) -> None:
    nowhere = {f"{name}_address": "127.0.0.1:1" for name in BACKENDS}
    settings = gateway_settings(tmp_path, **nowhere)
    async with gateway_client(settings) as client:
        healthz = await client.get("/healthz")
        readyz = await client.get("/readyz")
        login = await client.post("/v1/auth/token", json={"email": "a@b.example", "password": "pw"})
        api_key = await client.get("/v1/products", headers={"X-API-Key": "opx_whatever"})
    assert healthz.json() == {"status": "ok"}
    assert assert_problem(readyz, 503)["backends"] == dict.fromkeys(BACKENDS, "UNAVAILABLE")
    assert_problem(login, 503)
    assert_problem(api_key, 503)


async def test_metrics_count_requests_by_route_template(mesh: Mesh, client: httpx.AsyncClient) -> None:
    viewer = mesh.auth(Role.VIEWER)
    await client.get("/v1/products/NOPE-1", headers=viewer)
    await client.get("/v1/products/NOPE-2", headers=viewer)
    await client.get("/v1/not-a-route")

    metrics = await client.get("/metrics")

    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'omnipricex_http_requests_total{method="GET",route="/v1/products/{sku}",status="404"} 2.0' in text
    assert 'omnipricex_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert 'omnipricex_http_request_duration_seconds_count{method="GET",route="/v1/products/{sku}"} 2.0' in text
    assert "NOPE" not in text


async def test_a_draining_backend_is_not_ready(mesh: Mesh, client: httpx.AsyncClient) -> None:
    await mesh.servers["product"].health.enter_graceful_shutdown()

    body = assert_problem(await client.get("/readyz"), 503)

    assert body["backends"] == {**dict.fromkeys(BACKENDS, "SERVING"), "product": "NOT_SERVING"}


async def test_channels_given_to_the_app_stay_open_after_it_stops(mesh: Mesh) -> None:
    channels = Channels.open(mesh.settings)
    app = create_app(mesh.settings, channels=channels)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                assert (await client.get("/readyz")).status_code == 200
        stub = health_pb2_grpc.HealthStub(channels.product)
        answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await channels.close()
