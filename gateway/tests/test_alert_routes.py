"""Alert rules, alerts and webhooks through the gateway, backed by the REAL competitor service (with its alerting
and delivery worker) on a loopback gRPC port; webhook deliveries go to a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.schemas.alerts import Alert, AlertRule, CreatedWebhook, Webhook, WebhookDelivery
from gateway.tests.conftest import ORG_B, Mesh, gateway_client, gateway_settings, start_mesh
from gateway.tests.support import assert_conforms, assert_problem
from runtime.auth import Role
from services.competitor.alerts.engine import AlertEngine
from services.competitor.alerts.repository.sqlite import open_sqlite_alert_store
from services.competitor.alerts.signing import verify_signature
from services.competitor.alerts.tests.support import (
    SHOP,
    CompetitorNames,
    FakeCatalog,
    Receiver,
    engine_clock,
    health,
    item,
    receiver,
    seen,
)

pytestmark = pytest.mark.timeout(60)


@dataclass
class AlertApi:
    mesh: Mesh
    http: httpx.AsyncClient
    hooks: Receiver
    # Judges market events into the competitor service's own alert store, as its ingest would.
    engine: AlertEngine

    def auth(self, role: Role = Role.PRICING_MANAGER, organization_id: str = "org_a") -> dict[str, str]:
        return self.mesh.auth(role, organization_id)

    async def rule(self, **body: Any) -> dict[str, Any]:
        response = await self.http.post("/v1/alert-rules", json=body, headers=self.auth(Role.ANALYST))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[AlertApi]:
    async with receiver() as hooks:
        mesh = await start_mesh(gateway_settings(tmp_path, fetch_allow_hosts=[f"127.0.0.1:{hooks.port}"]))
        store = await open_sqlite_alert_store(mesh.settings.sqlite_path("competitor"))
        engine = AlertEngine(store, FakeCatalog(item("SKU-1", 9580)), CompetitorNames(), clock=engine_clock)
        try:
            async with gateway_client(mesh.settings) as http:
                yield AlertApi(mesh, http, hooks, engine)
        finally:
            await store.close()
            await mesh.stop()


async def test_alert_rules_are_created_read_patched_listed_and_deleted(api: AlertApi) -> None:
    shop = await api.http.post(
        "/v1/competitors", json={"name": "Shop X", "default_currency": "EUR"}, headers=api.auth(Role.PRICING_MANAGER)
    )
    assert shop.status_code == 201, shop.text
    shop_id = shop.json()["id"]
    created = await api.rule(name="Undercut by 10 %", kind="undercut", threshold_percent="10", competitor_ids=[shop_id])
    assert created["competitor_ids"] == [shop_id]
    assert_conforms(AlertRule, created)
    assert (created["threshold_percent"], created["hysteresis_percent"], created["dedup_window_seconds"]) == (
        "10",
        "1",
        21600,
    )
    assert (created["category_id"], created["enabled"]) == (None, True)
    viewer = api.auth(Role.VIEWER)
    location = f"/v1/alert-rules/{created['id']}"
    assert (await api.http.get(location, headers=viewer)).json() == created

    analyst = api.auth(Role.ANALYST)
    patched = await api.http.patch(
        location, json={"threshold_percent": "20", "dedup_window_seconds": 60}, headers=analyst
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["threshold_percent"], patched.json()["dedup_window_seconds"]) == ("20", 60)
    back = await api.http.patch(location, json={"dedup_window_seconds": None}, headers=analyst)
    assert back.json()["dedup_window_seconds"] == 21600
    watch = await api.rule(name="New kettles", kind="new_product", category_id="kettles")
    assert (watch["threshold_percent"], watch["hysteresis_percent"], watch["category_id"]) == (None, None, "kettles")
    first = await api.http.get("/v1/alert-rules", params={"limit": 1}, headers=viewer)
    assert [rule["id"] for rule in first.json()["items"]] == [created["id"]]
    rest = await api.http.get("/v1/alert-rules", params={"cursor": first.json()["next_cursor"]}, headers=viewer)
    assert ([rule["id"] for rule in rest.json()["items"]], rest.json()["next_cursor"]) == ([watch["id"]], None)

    deleted = await api.http.delete(location, headers=analyst)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_problem(await api.http.get(location, headers=viewer), 404)


async def test_alert_rule_refusals(api: AlertApi) -> None:
    analyst = api.auth(Role.ANALYST)
    by_service = assert_problem(
        await api.http.post("/v1/alert-rules", json={"name": "x", "kind": "undercut"}, headers=analyst), 400
    )
    assert by_service["errors"][0]["field"] == "threshold_percent"
    unknown = {"name": "x", "kind": "stock_change", "competitor_ids": [SHOP]}
    missing = assert_problem(await api.http.post("/v1/alert-rules", json=unknown, headers=analyst), 400)
    assert missing["errors"] == [{"field": "competitor_ids", "message": f"unknown competitor {SHOP!r}"}]
    for body, field in (
        ({"name": "x", "kind": "undercut", "threshold_percent": 10}, "threshold_percent"),
        ({"name": "x", "kind": "sometimes"}, "kind"),
        ({"name": "x", "kind": "undercut", "threshold_percent": "10", "colour": "red"}, "colour"),
        ({"name": "x", "kind": "stock_change", "dedup_window_seconds": -5}, "dedup_window_seconds"),
    ):
        refused = assert_problem(await api.http.post("/v1/alert-rules", json=body, headers=analyst), 422)
        assert refused["errors"][0]["field"] == field
    too_wide = {"name": "x", "kind": "undercut", "threshold_percent": "5", "hysteresis_percent": "6"}
    band = assert_problem(await api.http.post("/v1/alert-rules", json=too_wide, headers=analyst), 400)
    assert band["errors"][0]["field"] == "hysteresis_percent"
    viewer_write = {"name": "x", "kind": "stock_change"}
    assert_problem(await api.http.post("/v1/alert-rules", json=viewer_write, headers=api.auth(Role.VIEWER)), 403)
    created = await api.rule(name="Stock", kind="stock_change")
    null_name = await api.http.patch(f"/v1/alert-rules/{created['id']}", json={"name": None}, headers=analyst)
    assert assert_problem(null_name, 422)["errors"][0]["field"] == "name"
    other = api.auth(Role.OWNER, ORG_B)
    assert_problem(await api.http.get(f"/v1/alert-rules/{created['id']}", headers=other), 404)
    assert_problem(await api.http.get("/v1/alert-rules"), 401)


async def test_alerts_are_listed_and_filtered(api: AlertApi) -> None:
    undercut = await api.rule(name="Undercut", kind="undercut", threshold_percent="10")
    await api.rule(name="Broken sources", kind="extraction_broken")
    await api.engine.prices_seen([seen(0, 8404)])
    await api.engine.source_health_changed(health(1, True, reason="no price on 9 of 10 pages"))
    await api.engine.source_health_changed(health(2, False))
    viewer = api.auth(Role.VIEWER)

    listed = await api.http.get("/v1/alerts", headers=viewer)
    assert listed.status_code == 200, listed.text
    items = {item["kind"]: item for item in listed.json()["items"]}
    assert set(items) == {"undercut", "extraction_broken"}
    for body in items.values():
        assert_conforms(Alert, body)
    alert = items["undercut"]
    assert (alert["state"], alert["rule_id"], alert["sku"], alert["occurrences"]) == (
        "open",
        undercut["id"],
        "SKU-1",
        1,
    )
    assert (alert["price"], alert["reference_price"], alert["currency"], alert["resolve_time"]) == (
        "84.04",
        "95.80",
        "EUR",
        None,
    )
    assert alert["message"] == "Shop X sells SKU-1 at 84.04 EUR, 12.3 % below our 95.80 EUR"
    broken = items["extraction_broken"]
    assert (broken["state"], broken["source_id"], broken["sku"], broken["price"]) == ("resolved", "src_1", None, None)
    opened = await api.http.get("/v1/alerts", params={"state": "open"}, headers=viewer)
    assert [item["id"] for item in opened.json()["items"]] == [alert["id"]]
    by_rule = await api.http.get("/v1/alerts", params={"rule_id": undercut["id"], "kind": "undercut"}, headers=viewer)
    assert [item["id"] for item in by_rule.json()["items"]] == [alert["id"]]
    assert (await api.http.get(f"/v1/alerts/{alert['id']}", headers=viewer)).json() == alert
    assert_problem(await api.http.get("/v1/alerts", params={"state": "snoozed"}, headers=viewer), 422)
    elsewhere = await api.http.get("/v1/alerts", headers=api.auth(Role.OWNER, ORG_B))
    assert elsewhere.json()["items"] == []
    assert_problem(await api.http.get(f"/v1/alerts/{alert['id']}", headers=api.auth(Role.OWNER, ORG_B)), 404)


async def test_webhooks_are_registered_and_receive_signed_deliveries(api: AlertApi) -> None:
    manager = api.auth()
    body = {"url": api.hooks.url, "description": "Pricing Slack bridge", "alert_kinds": ["extraction_broken"]}
    assert_problem(await api.http.post("/v1/webhooks", json=body, headers=api.auth(Role.ANALYST)), 403)
    response = await api.http.post("/v1/webhooks", json=body, headers=manager)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert_conforms(CreatedWebhook, created)
    secret = created.pop("secret")
    location = f"/v1/webhooks/{created['id']}"
    got = (await api.http.get(location, headers=manager)).json()
    assert_conforms(Webhook, got)
    assert got == created
    assert secret not in json.dumps((await api.http.get("/v1/webhooks", headers=manager)).json())

    await api.rule(name="Broken sources", kind="extraction_broken")
    await api.engine.source_health_changed(health(0, True, reason="every product shows 9.99"))
    # The service's delivery worker runs beside it; the engine above stored the delivery in its outbox.
    ping = await api.http.post(f"{location}:test", headers=manager)
    assert ping.status_code == 202, ping.text
    assert_conforms(WebhookDelivery, ping.json())
    deliveries = await _settled(api, f"{location}/deliveries", count=2)
    assert {delivery["event_type"] for delivery in deliveries} == {"alert.fired", "ping"}
    for delivery in deliveries:
        assert_conforms(WebhookDelivery, delivery)
        assert delivery["state"] == "delivered"
        assert [(attempt["status_code"], attempt["error"]) for attempt in delivery["attempts"]] == [(200, None)]
    assert len(api.hooks.requests) == 2
    for request in api.hooks.requests:
        verify_signature(secret, request.headers["x-omnipricex-signature"], request.body, 300)
    fired = next(r for r in api.hooks.requests if r.headers["x-omnipricex-event"] == "alert.fired")
    assert json.loads(fired.body)["alert"]["message"] == (
        "Extraction from Shop X's source “Main catalog” is broken: every product shows 9.99"
    )

    patched = await api.http.patch(location, json={"active": False}, headers=manager)
    assert (patched.status_code, patched.json()["active"]) == (200, False)
    assert_problem(await api.http.post(f"{location}:test", headers=manager), 400)
    failed = await api.http.get(f"{location}/deliveries", params={"state": "failed"}, headers=manager)
    assert failed.json()["items"] == []
    assert (await api.http.delete(location, headers=manager)).status_code == 204
    assert_problem(await api.http.get(f"{location}/deliveries", headers=manager), 404)


async def test_webhook_destinations_are_guarded(api: AlertApi) -> None:
    manager = api.auth()
    for url, reason in (
        ("http://127.0.0.1:9/hook", "127.0.0.1 is a loopback address"),
        ("http://0x7f.1:9/hook", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ):
        refused = assert_problem(await api.http.post("/v1/webhooks", json={"url": url}, headers=manager), 400)
        assert refused["errors"][0]["field"] == "url"
        assert reason in refused["detail"]
    for url in ("file://hooks.example/in", "gopher://hooks.example/", "not a url"):
        assert_problem(await api.http.post("/v1/webhooks", json={"url": url}, headers=manager), 400)
    # A name is checked as it resolves, at delivery: localhost is loopback, and this receiver is not allow-listed.
    async with receiver() as elsewhere:
        url = f"http://localhost:{elsewhere.port}/in"
        named = await api.http.post("/v1/webhooks", json={"url": url}, headers=manager)
        assert named.status_code == 201, named.text
        location = f"/v1/webhooks/{named.json()['id']}"
        assert (await api.http.post(f"{location}:test", headers=manager)).status_code == 202
        (delivery,) = await _settled(api, f"{location}/deliveries", count=1)
    assert delivery["state"] == "failed"
    assert delivery["attempts"][0]["error"].startswith("refused: localhost resolves to ")
    assert elsewhere.connections == 0


async def _settled(api: AlertApi, path: str, *, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        response = await api.http.get(path, headers=api.auth())
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if len(items) == count and all(item["state"] != "pending" for item in items):
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries did not settle: {items}")
