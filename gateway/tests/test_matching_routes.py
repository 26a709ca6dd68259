"""The review queue through the gateway, backed by the REAL competitor service (with crawl ingestion and the
review queue) reading the catalog from the stand-in product service over gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from gateway.schemas.competitors import Offer
from gateway.schemas.matching import MatchCandidate, ReviewItem
from gateway.tests.conftest import ORG_B, Mesh, gateway_client, gateway_settings, start_mesh
from gateway.tests.support import assert_conforms, assert_problem, product_body
from omnipricex.common.v1 import money_pb2
from omnipricex.competitor.v1 import competitor_pb2, crawl_pb2, crawl_pb2_grpc
from runtime.auth import Role
from runtime.clients import auth_metadata
from runtime.clock import utcnow
from runtime.grpc_server import ServiceDefinition, start_server
from runtime.timestamps import to_timestamp
from services.competitor.catalog import GrpcCatalogReader
from services.competitor.ingest_servicer import MATCHING_SERVICE_NAMES, add_matching_services
from services.competitor.market_events import NewCompetitorProduct, PriceSeen, SourceHealthChanged
from services.competitor.repository.sqlite import open_sqlite_repositories
from services.competitor.server import SERVICE_NAMES, build_definition


class DroppedEvents:
    """Alerting is not under test here: the market events are dropped."""

    async def prices_seen(self, events: Sequence[PriceSeen]) -> None:
        del events

    async def new_products_seen(self, events: Sequence[NewCompetitorProduct]) -> None:
        del events

    async def source_health_changed(self, event: SourceHealthChanged) -> None:
        del event


@dataclass
class MatchingApi:
    mesh: Mesh
    http: httpx.AsyncClient
    ingest: crawl_pb2_grpc.CrawlIngestServiceAsyncStub

    def auth(self, role: Role = Role.ANALYST, organization_id: str = "org_a") -> dict[str, str]:
        return self.mesh.auth(role, organization_id)

    async def crawl(
        self, competitor_id: str, *products: crawl_pb2.CrawledProduct
    ) -> crawl_pb2.IngestCrawledProductsResponse:
        token = self.mesh.token(Role.ANALYST)
        response = await self.ingest.IngestCrawledProducts(
            crawl_pb2.IngestCrawledProductsRequest(competitor_id=competitor_id, products=products),
            metadata=auth_metadata(token),
        )
        assert list(response.errors) == []
        return response

    async def queue(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.http.get("/v1/review-items", params=params, headers=self.auth(Role.VIEWER))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[MatchingApi]:
    mesh = await start_mesh(gateway_settings(tmp_path))
    catalog = GrpcCatalogReader(mesh.settings)
    repositories = await open_sqlite_repositories(mesh.settings.sqlite_path("matching"))
    base = build_definition(repositories)

    def register(server: grpc.aio.Server) -> None:
        base.register(server)
        add_matching_services(server, repositories, catalog, DroppedEvents())

    definition = ServiceDefinition(
        name="competitor",
        service_names=tuple(dict.fromkeys((*SERVICE_NAMES, *MATCHING_SERVICE_NAMES))),
        register=register,
        on_stop=repositories.close,
    )
    mesh.servers["matching"] = await start_server(
        definition, address="127.0.0.1:0", authenticator=mesh.authenticator, audit_sink=mesh.audit
    )
    address = f"127.0.0.1:{mesh.servers['matching'].port}"
    mesh.settings = mesh.settings.model_copy(update={"competitor_address": address})
    channel = grpc.aio.insecure_channel(address)
    try:
        async with gateway_client(mesh.settings) as http:
            yield MatchingApi(mesh, http, crawl_pb2_grpc.CrawlIngestServiceStub(channel))
    finally:
        await channel.close()
        await catalog.close()
        await mesh.stop()


def page(path: str, title: str, price: str | None = "899.00", **fields: Any) -> crawl_pb2.CrawledProduct:
    product = crawl_pb2.CrawledProduct(
        url=f"https://shop-one.example/{path}",
        fetch_time=to_timestamp((utcnow() - timedelta(minutes=5)).replace(microsecond=0)),
        title=title,
        extraction_method=competitor_pb2.EXTRACTION_METHOD_JSON_LD,
        confidence=0.9,
        **fields,
    )
    if price is not None:
        product.price.CopyFrom(money_pb2.Money(amount_minor=int(price.replace(".", "")), currency="EUR"))
    return product


async def setup_shop(api: MatchingApi) -> str:
    for sku, title in (
        ("PHONE-128", "Nimbus X2 smartphone 128 GB black"),
        ("PHONE-256", "Nimbus X2 smartphone 256 GB black"),
    ):
        body = product_body(sku, title=title, brand="Nimbus")
        del body["gtin"], body["mpn"]
        response = await api.http.post("/v1/products", json=body, headers=api.auth(Role.PRICING_MANAGER))
        assert response.status_code == 201, response.text
    response = await api.http.post(
        "/v1/competitors",
        json={"name": "Shop One", "default_currency": "EUR"},
        headers=api.auth(Role.PRICING_MANAGER),
    )
    assert response.status_code == 201, response.text
    competitor_id: str = response.json()["id"]
    return competitor_id


async def test_the_review_queue_is_listed_confirmed_and_rejected(api: MatchingApi) -> None:
    shop = await setup_shop(api)
    crawled = await api.crawl(
        shop,
        page("phone", "Nimbus X2 Smartphone 512GB black", brand="Nimbus", image_url="https://cdn.example/x2.jpg"),
        page("other", "Nimbus X2 smartphone, 1 TB, black", price=None, brand="Nimbus"),
        page("hose", "Garden hose reel 30 m", in_stock=False),
    )
    assert (crawled.queued_for_review, crawled.unmatched) == (2, 1)

    # Ids order the queue; products of one batch share a millisecond, so their order is not asserted.
    pending = {item["url"].rsplit("/", 1)[-1]: item for item in await api.queue(state="pending", competitor_id=shop)}
    assert set(pending) == {"phone", "other"}
    phone, other = pending["phone"], pending["other"]
    assert_conforms(ReviewItem, phone)
    for candidate in phone["candidates"]:
        assert_conforms(MatchCandidate, candidate)
    assert {candidate["sku"] for candidate in phone["candidates"]} == {"PHONE-128", "PHONE-256"}
    assert (phone["price"], phone["currency"], phone["in_stock"], phone["image_url"]) == (
        "899.00",
        "EUR",
        None,
        "https://cdn.example/x2.jpg",
    )
    assert (other["price"], other["currency"], other["extraction_method"]) == (None, None, "json_ld")
    (hose,) = await api.queue(state="unmatched")
    assert (hose["in_stock"], hose["candidates"], hose["brand"]) == (False, [], None)
    first = await api.http.get("/v1/review-items", params={"limit": 2}, headers=api.auth(Role.VIEWER))
    rest = await api.http.get(
        "/v1/review-items", params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=api.auth(Role.VIEWER)
    )
    assert [len(first.json()["items"]), len(rest.json()["items"]), rest.json()["next_cursor"]] == [2, 1, None]

    got = await api.http.get(f"/v1/review-items/{phone['id']}", headers=api.auth(Role.VIEWER))
    assert got.json() == phone

    rejected = await api.http.post(
        f"/v1/review-items/{phone['id']}:reject", json={"sku": "PHONE-128"}, headers=api.auth()
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["rejected_skus"] == ["PHONE-128"]
    assert [candidate["sku"] for candidate in rejected.json()["candidates"]] == ["PHONE-256"]

    confirmed = await api.http.post(
        f"/v1/review-items/{phone['id']}:confirm", json={"sku": "PHONE-256"}, headers=api.auth()
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert_conforms(ReviewItem, body["item"])
    assert_conforms(Offer, body["offer"])
    assert (body["item"]["state"], body["item"]["sku"], body["item"]["offer_id"]) == (
        "matched",
        "PHONE-256",
        body["offer"]["id"],
    )
    assert (body["offer"]["match_method"], body["offer"]["match_confidence"]) == ("manual", 1.0)
    market = await api.http.get("/v1/market-prices", params={"sku": "PHONE-256"}, headers=api.auth(Role.VIEWER))
    assert [price["price"] for price in market.json()["items"][0]["prices"]] == ["899.00"]

    whole = await api.http.post(f"/v1/review-items/{other['id']}:reject", headers=api.auth())
    assert (whole.json()["state"], whole.json()["candidates"]) == ("rejected", [])
    assert await api.queue(state="pending") == []
    still_matched = await api.http.post(f"/v1/review-items/{phone['id']}:reject", json={}, headers=api.auth())
    assert "delete that offer" in assert_problem(still_matched, 400)["detail"]


async def test_review_routes_check_roles_tenancy_and_input(api: MatchingApi) -> None:
    shop = await setup_shop(api)
    await api.crawl(shop, page("phone", "Nimbus X2 Smartphone 512GB black", brand="Nimbus"))
    (item,) = await api.queue()
    confirm = f"/v1/review-items/{item['id']}:confirm"
    assert_problem(await api.http.post(confirm, json={"sku": "PHONE-256"}, headers=api.auth(Role.VIEWER)), 403)
    assert_problem(await api.http.post(confirm, json={"sku": "PHONE-256"}), 401)
    assert_problem(await api.http.post(confirm, json={"sku": "no spaces"}, headers=api.auth()), 422)
    assert_problem(await api.http.post(confirm, json={"sku": "PHONE-256", "x": 1}, headers=api.auth()), 422)
    assert_problem(await api.http.post(confirm, json={}, headers=api.auth()), 422)
    unknown = await api.http.post(confirm, json={"sku": "NOPE-1"}, headers=api.auth())
    assert "NOPE-1" in assert_problem(unknown, 404)["detail"]
    foreign = await api.http.get(f"/v1/review-items/{item['id']}", headers=api.auth(Role.VIEWER, ORG_B))
    assert_problem(foreign, 404)
    assert await api.queue() == [item]
    other_org = await api.http.get("/v1/review-items", headers=api.auth(Role.VIEWER, ORG_B))
    assert other_org.json() == {"items": [], "next_cursor": None}
    assert_problem(await api.http.get("/v1/review-items/rvw_nope", headers=api.auth(Role.VIEWER)), 400)
    assert_problem(await api.http.get("/v1/review-items", params={"state": "done"}, headers=api.auth()), 422)
    assert_problem(
        await api.http.get("/v1/review-items", params={"competitor_id": "shop"}, headers=api.auth(Role.VIEWER)), 400
    )
    reject = await api.http.post(
        f"/v1/review-items/{item['id']}:reject", json={"sku": "PHONE-128"}, headers=api.auth(Role.VIEWER)
    )
    assert_problem(reject, 403)
