"""The competitor-intelligence acceptance walk over REST against the real processes (every service, the
crawl worker and its beat, the pricing worker) and the demo shops on loopback: a crawl started through
REST with its progress, observations, matched offers, a review queue with fuzzy candidates, an alert
delivered to a webhook receiver with a valid signature, a reprice that uses the fresh market prices, a
layout change that flags the source broken and quarantines what it read, and a crawl worker killed
mid-job that loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.seed import ensure_categories, upsert_products
from demo.catalog import generate_catalog
from demo.shops import RunningShops, shops_in_thread
from runtime.clients import open_channel
from runtime.testing.mesh import Mesh, running_mesh
from services.competitor.alerts.signing import InvalidSignature, verify_signature
from tests.test_mesh_e2e import create_organization

pytestmark = pytest.mark.integration
EMAIL = "crawl-walk@example.com"
PASSWORD = "crawl-walk-password-1"
# The shops' prices move only when a test ticks them, so what a crawl reads is known.
FROZEN = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint on loopback that keeps every delivery it gets."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.deliveries: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/omnipricex"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.deliveries.append(({key.lower(): value for key, value in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def shops() -> Iterator[RunningShops]:
    with shops_in_thread(clock=lambda: FROZEN) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, shops: RunningShops, receiver: Receiver) -> Iterator[Mesh]:
    data_dir = tmp_path_factory.mktemp("crawl-walk")
    allowed = [*shops.allow_hosts, f"127.0.0.1:{receiver.server_address[1]}"]
    env = {
        "OMNIPRICEX_FETCH_ALLOW_HOSTS": json.dumps(allowed),
        "OMNIPRICEX_LOG_LEVEL": "INFO",
        # At most ~40 pages/s per shop, so a crawl of a few hundred pages is still running when a test kills it.
        "OMNIPRICEX_CRAWL_DOWNLOAD_DELAY_SECONDS": "0.025",
        # A killed worker's crawl is taken over within seconds.
        "OMNIPRICEX_JOB_LEASE_SECONDS": "4",
        "OMNIPRICEX_JOB_SWEEP_SECONDS": "2",
    }
    with running_mesh(data_dir, env) as running:
        create_organization(running, EMAIL, PASSWORD)
        yield running


@pytest.fixture(scope="module")
def http(mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh.gateway, timeout=60) as client:
        tokens = client.post("/v1/auth/token", json={"email": EMAIL, "password": PASSWORD}).json()
        client.headers["authorization"] = f"Bearer {tokens['access_token']}"
        yield client


@pytest.fixture(scope="module")
def catalog_loaded(mesh: Mesh, http: httpx.Client) -> None:
    """Our catalog (the demo catalog the shops draw from) and a market-following default strategy."""
    token = http.headers["authorization"].removeprefix("Bearer ")

    async def load() -> None:
        settings = mesh.settings
        product = open_channel(settings.product_address, settings)
        try:
            catalog = generate_catalog()
            category_ids = await ensure_categories(product, token, catalog, 10)
            await upsert_products(product, token, catalog, category_ids, 60)
        finally:
            await product.close()

    asyncio.run(load())
    strategy = http.post(
        "/v1/strategies",
        json={
            "name": "Follow the market",
            "rules": [{"kind": "match_lowest"}, {"kind": "cost_plus", "markup_percent": "35"}],
        },
    )
    assert strategy.status_code == 201, strategy.text
    assigned = http.put("/v1/strategy-assignments", json={"level": "default", "strategy_id": strategy.json()["id"]})
    assert assigned.status_code in (200, 201), assigned.text


def competitor_of(http: httpx.Client, shops: RunningShops, key: str) -> tuple[str, list[Any]]:
    """The shop's competitor (created on first use) and its preset sources."""
    preset = next(preset for preset in shops.presets() if preset.key == key)
    existing = {item["name"]: item["id"] for item in all_items(http, "/v1/competitors")}
    if preset.name in existing:
        return existing[preset.name], list(preset.sources)
    created = http.post(
        "/v1/competitors",
        json={"name": preset.name, "website": preset.website, "default_currency": preset.default_currency},
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], list(preset.sources)


def create_source(http: httpx.Client, competitor_id: str, preset_source: Any, **overrides: Any) -> dict[str, Any]:
    extraction = {
        name: getattr(preset_source, name)
        for name in (
            "price_selector",
            "title_selector",
            "availability_selector",
            "product_link_selector",
            "next_page_selector",
            "product_url_pattern",
            "decimal_separator",
        )
        if getattr(preset_source, name)
    }
    body = {
        "competitor_id": competitor_id,
        "name": preset_source.name,
        "kind": preset_source.kind,
        "start_urls": list(preset_source.start_urls),
        "extraction": {**extraction, "render_javascript": preset_source.render_javascript},
        "max_pages": 1000,
    }
    body.update(overrides)
    created = http.post("/v1/crawl-sources", json=body)
    assert created.status_code == 201, created.text
    source: dict[str, Any] = created.json()
    return source


def crawl(http: httpx.Client, mesh: Mesh, source_id: str, *, seconds: float = 180) -> dict[str, Any]:
    started = http.post(f"/v1/crawl-sources/{source_id}/crawls")
    assert started.status_code == 202, started.text
    return wait_for_crawl(http, mesh, started.json()["id"], seconds=seconds)


def wait_for_crawl(
    http: httpx.Client,
    mesh: Mesh,
    job_id: str,
    *,
    seconds: float = 180,
    until: Callable[[dict[str, Any]], bool] = lambda job: job["state"] in ("succeeded", "failed", "cancelled"),
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    seen: list[int] = []
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/v1/crawl-jobs/{job_id}").json()
        seen.append(job["progress"]["pages_fetched"])
        if until(job):
            job["pages_seen"] = seen
            return job
        time.sleep(0.2)
    pytest.fail(f"crawl {job_id} did not get there:\n{mesh.log('crawl-worker')[-5000:]}")


def all_items(http: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = http.get(path, params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def test_a_crawl_through_rest_feeds_offers_review_alerts_and_pricing(
    http: httpx.Client, mesh: Mesh, shops: RunningShops, receiver: Receiver, catalog_loaded: None
) -> None:
    nova_id, nova_sources = competitor_of(http, shops, "nova")
    listing = create_source(http, nova_id, nova_sources[0])
    webhook = http.post("/v1/webhooks", json={"url": receiver.url, "description": "acceptance walk"})
    assert webhook.status_code == 201, webhook.text
    secret = webhook.json()["secret"]
    rule = http.post("/v1/alert-rules", json={"name": "Undercut by 5 %", "kind": "undercut", "threshold_percent": "5"})
    assert rule.status_code == 201, rule.text

    job = crawl(http, mesh, listing["id"])
    assert job["state"] == "succeeded", job
    progress = job["progress"]
    assert progress["product_pages"] > 0
    assert progress["products_delivered"] == progress["product_pages"]
    assert progress["observations_created"] > 0
    assert progress["offers_matched"] > 0
    assert len(set(job["pages_seen"])) > 1, "progress should be visible while the crawl runs"

    offers = all_items(http, "/v1/offers", competitor_id=nova_id)
    assert len(offers) == progress["offers_matched"]
    assert {offer["match_method"] for offer in offers} <= {"gtin", "brand_mpn", "fuzzy"}
    truth = {row["url"]: row for row in shops["nova"].truth()}
    for offer in offers[:10]:
        observed = http.get("/v1/observations", params={"offer_id": offer["id"]}).json()["items"]
        assert len(observed) == 1
        assert (observed[0]["extraction_method"], observed[0]["quarantined"]) == ("json_ld", False)
        expected = truth[offer["url"]]
        assert Decimal(observed[0]["price"]) * 100 == expected["price_minor"]
        assert observed[0]["in_stock"] is expected["in_stock"]
        assert offer["sku"] == expected["sku"]

    undercuts = all_items(http, "/v1/alerts", kind="undercut")
    assert undercuts, "the demo shop undercuts some of our prices by more than 5 %"
    deadline = time.monotonic() + 30
    while not receiver.deliveries and time.monotonic() < deadline:
        time.sleep(0.2)
    assert receiver.deliveries, "the webhook receiver got nothing"
    headers, body = receiver.deliveries[0]
    assert verify_signature(secret, headers["x-omnipricex-signature"], body, tolerance_seconds=300)
    with pytest.raises(InvalidSignature):
        verify_signature("whsec_wrong", headers["x-omnipricex-signature"], body, tolerance_seconds=300)
    assert json.loads(body)["alert"]["kind"] == "undercut"

    lindner_id, lindner_sources = competitor_of(http, shops, "lindner")
    european = create_source(http, lindner_id, lindner_sources[0])
    european_job = crawl(http, mesh, european["id"])
    assert european_job["state"] == "succeeded", european_job
    pending = all_items(http, "/v1/review-items", competitor_id=lindner_id, state="pending")
    assert pending, "the European shop's reworded titles should wait for review"
    assert all(item["candidates"] for item in pending)
    assert all(0 < candidate["confidence"] < 1 for item in pending for candidate in item["candidates"])
    confirmed = http.post(
        f"/v1/review-items/{pending[0]['id']}:confirm", json={"sku": pending[0]["candidates"][0]["sku"]}
    )
    assert confirmed.status_code == 200, confirmed.text

    skus = sorted({offer["sku"] for offer in offers})
    run = http.post("/v1/reprice-runs", json={"scope": {"skus": skus}, "mode": "suggest"})
    assert run.status_code == 202, run.text
    run_id = run.json()["id"]
    deadline = time.monotonic() + 120
    while http.get(f"/v1/reprice-runs/{run_id}").json()["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, mesh.log("pricing-worker")[-3000:]
        time.sleep(0.2)
    recommendations = http.get(
        "/v1/recommendations", params={"run_id": run_id, "include_explanations": "true", "limit": 200}
    ).json()["items"]
    assert recommendations
    sentences = " ".join(" ".join(rec["explanation"]["sentences"]) for rec in recommendations)
    assert "Nova Retail" in sentences


def test_a_layout_change_flags_the_source_broken_and_quarantines_what_it_read(
    http: httpx.Client, mesh: Mesh, shops: RunningShops, catalog_loaded: None
) -> None:
    rule = http.post("/v1/alert-rules", json={"name": "Extraction broken", "kind": "extraction_broken"})
    assert rule.status_code == 201, rule.text
    competitor_id, presets = competitor_of(http, shops, "meridian")
    source = create_source(http, competitor_id, presets[0])
    first = crawl(http, mesh, source["id"])
    assert first["state"] == "succeeded", first
    assert first["progress"]["quarantined"] == 0
    assert http.get(f"/v1/crawl-sources/{source['id']}").json()["health"] == "healthy"

    shops["meridian"].set_layout(2)
    try:
        second = crawl(http, mesh, source["id"])
    finally:
        shops["meridian"].set_layout(1)
    assert second["state"] == "succeeded", second
    assert second["progress"]["quarantined"] > 0
    flagged = http.get(f"/v1/crawl-sources/{source['id']}").json()
    assert flagged["health"] == "broken"
    assert flagged["health_reason"]
    broken_alerts = all_items(http, "/v1/alerts", kind="extraction_broken")
    assert any(alert["source_id"] == source["id"] and alert["state"] == "open" for alert in broken_alerts)

    offers = all_items(http, "/v1/offers", competitor_id=competitor_id)
    by_sku = {offer["sku"]: offer for offer in offers}
    quarantined_seen = 0
    for offer in offers[:40]:
        history = http.get("/v1/observations", params={"offer_id": offer["id"]}).json()["items"]
        newest = history[0]
        if newest["quarantined"]:
            quarantined_seen += 1
            market = http.get("/v1/market-prices", params={"sku": offer["sku"]}).json()["items"][0]
            fed = [price for price in market["prices"] if price["offer_id"] == offer["id"]]
            # Pricing still reads the last price that was a fact, never the quarantined one.
            assert fed
            assert fed[0]["price"] == history[1]["price"] != newest["price"]
    assert quarantined_seen > 0
    assert by_sku

    # The team accepts the redesigned pages: the source learns them afresh and its alert is resolved.
    reset = http.post(f"/v1/crawl-sources/{source['id']}:reset-health")
    assert reset.status_code == 200, reset.text
    assert reset.json()["health"] == "unknown"
    after_reset = all_items(http, "/v1/alerts", kind="extraction_broken")
    assert all(alert["state"] == "resolved" for alert in after_reset if alert["source_id"] == source["id"])


def test_a_javascript_shop_is_read_through_the_browser(
    http: httpx.Client, mesh: Mesh, shops: RunningShops, catalog_loaded: None
) -> None:
    competitor_id, presets = competitor_of(http, shops, "pixel")
    watched = next(preset for preset in presets if preset.kind == "product_urls")
    assert watched.render_javascript
    source = create_source(http, competitor_id, watched)
    job = crawl(http, mesh, source["id"])
    assert job["state"] == "succeeded", job
    pages = len(watched.start_urls)
    assert job["progress"]["product_pages"] == pages
    assert job["progress"]["products_with_price"] == pages
    truth = {row["url"]: row for row in shops["pixel"].truth()}
    for offer in all_items(http, "/v1/offers", competitor_id=competitor_id):
        newest = http.get("/v1/observations", params={"offer_id": offer["id"]}).json()["items"][0]
        assert Decimal(newest["price"]) * 100 == truth[offer["url"]]["price_minor"]


def test_a_failing_shop_opens_the_breaker_and_pauses_its_source_until_resumed(
    http: httpx.Client, mesh: Mesh, shops: RunningShops, catalog_loaded: None
) -> None:
    competitor_id, presets = competitor_of(http, shops, "lindner")
    source = create_source(http, competitor_id, presets[-1])
    shops["lindner"].set_outage(503)
    try:
        unreachable = crawl(http, mesh, source["id"])
    finally:
        shops["lindner"].set_outage(None)
    # robots.txt answering 5xx: nothing is fetched from the host, and the crawl says why.
    assert (unreachable["state"], unreachable["finish_reason"]) == ("failed", "robots_unavailable"), unreachable
    assert unreachable["progress"]["pages_fetched"] == 0
    assert "robots.txt" in unreachable["detail"]

    shops["lindner"].set_outage(503, spare_robots=True)
    try:
        job = crawl(http, mesh, source["id"])
    finally:
        shops["lindner"].set_outage(None)
    assert (job["state"], job["finish_reason"]) == ("failed", "circuit_open"), job
    assert "503" in job["detail"]
    paused = http.get(f"/v1/crawl-sources/{source['id']}").json()
    assert paused["paused"] is True
    assert "503" in paused["pause_reason"]
    refused = http.post(f"/v1/crawl-sources/{source['id']}/crawls")
    assert refused.status_code == 400, refused.text
    assert "paused" in refused.json()["detail"]
    resumed = http.post(f"/v1/crawl-sources/{source['id']}:resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False
    assert crawl(http, mesh, source["id"])["state"] == "succeeded"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def test_killing_the_crawl_worker_mid_job_loses_and_duplicates_nothing(
    http: httpx.Client, mesh: Mesh, shops: RunningShops, catalog_loaded: None
) -> None:
    competitor_id, presets = competitor_of(http, shops, "meridian")
    sitemap = next(preset for preset in presets if preset.kind == "sitemap")
    source = create_source(http, competitor_id, sitemap)
    started = http.post(f"/v1/crawl-sources/{source['id']}/crawls")
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    running = wait_for_crawl(http, mesh, job_id, until=lambda job: job["progress"]["product_pages"] >= 20)
    assert running["state"] == "running", "the crawl ended before the worker could be killed"

    worker = mesh.processes["crawl-worker"]
    for pid in [*_descendants(worker.pid), worker.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=30)
    del mesh.processes["crawl-worker"]
    mesh.start("crawl-worker")

    finished = wait_for_crawl(http, mesh, job_id, seconds=240)
    assert finished["state"] == "succeeded", finished
    assert finished["attempts"] >= 2
    listed = {shops["meridian"].product_url(item) for item in shops["meridian"].listed()}
    # Nothing lost: every product page was delivered; nothing duplicated: none was counted twice.
    assert finished["progress"]["product_pages"] == len(listed)
    assert finished["progress"]["products_delivered"] == len(listed)
    since = started.json()["create_time"]
    offers = all_items(http, "/v1/offers", competitor_id=competitor_id)
    assert {offer["url"] for offer in offers} <= listed
    for offer in offers[:60]:
        rows = http.get("/v1/observations", params={"offer_id": offer["id"], "start_time": since}).json()["items"]
        assert len(rows) <= 1, rows
