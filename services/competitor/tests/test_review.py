"""The review queue: as use cases on SQLite, and with crawl ingestion over real gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.competitor.v1 import competitor_pb2, competitor_pb2_grpc, crawl_pb2, crawl_pb2_grpc, review_pb2_grpc
from omnipricex.competitor.v1 import review_pb2 as pb
from runtime.auth import AccessTokens, Role
from runtime.clock import utcnow
from runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from runtime.grpc_server import ServiceDefinition
from runtime.money import Money
from runtime.testing.grpc import access_tokens, metadata_as, rpc_refusal, serving
from runtime.timestamps import to_timestamp
from services.competitor.domain import Competitor, ExtractionMethod, MatchMethod, ReviewItem, ReviewState, SightingDraft
from services.competitor.ingest import CrawlIngest, IngestRequest, IngestResult
from services.competitor.ingest_servicer import MATCHING_SERVICE_NAMES, add_matching_services
from services.competitor.repository import Repositories
from services.competitor.repository.sqlite import open_sqlite_repositories
from services.competitor.review import ReviewQueue
from services.competitor.server import SERVICE_NAMES, build_definition
from services.competitor.tests.conftest import UseCases, use_cases
from services.competitor.tests.ingest_support import (
    KETTLE,
    KETTLE_XL,
    PHONE_128,
    PHONE_256,
    TOASTER,
    MemoryCatalog,
    RecordingSink,
    catalog_item,
    crawled,
)
from services.competitor.tests.support import ORG_A, ORG_B, START, FakeClock, SequentialIds, competitor_draft, principal

ANALYST = principal(Role.ANALYST)
VIEWER = principal(Role.VIEWER)
PHONE_PAGE: dict[str, Any] = {"title": "Nimbus X2 Smartphone 512GB black", "brand": "Nimbus"}


@dataclass
class Setup:
    queue: ReviewQueue
    ingest: CrawlIngest
    cases: UseCases
    catalog: MemoryCatalog
    sink: RecordingSink
    shop: Competitor
    rival: Competitor

    async def run(self, *products: SightingDraft, competitor: Competitor | None = None) -> IngestResult:
        shop = competitor or self.shop
        result = await self.ingest.ingest(ANALYST, IngestRequest(shop.id, "src_1", "job_1", list(products)))
        assert result.errors == ()
        return result

    async def item(self, path: str) -> ReviewItem:
        page = await self.queue.list_items(
            VIEWER, competitor_id="", state=None, page_size_requested=1000, page_token=""
        )
        (found,) = [item for item in page.items if item.sighting.url.endswith(f"/{path}")]
        return found


@pytest.fixture
async def setup(sqlite_repositories: Repositories, clock: FakeClock) -> Setup:
    catalog = MemoryCatalog()
    catalog.add(KETTLE, KETTLE_XL, PHONE_128, PHONE_256, TOASTER)
    sink = RecordingSink()
    queue = ReviewQueue(sqlite_repositories, catalog, sink, clock=clock)
    ingest = CrawlIngest(sqlite_repositories, catalog, sink, clock=clock, review_ids=SequentialIds("rvw_"))
    cases = use_cases(sqlite_repositories, clock)
    shop = await cases.competitors.create_competitor(principal(), competitor_draft())
    rival = await cases.competitors.create_competitor(principal(), competitor_draft("Rival"))
    return Setup(queue, ingest, cases, catalog, sink, shop, rival)


async def test_the_queue_lists_by_competitor_and_state_page_by_page(setup: Setup) -> None:
    await setup.run(crawled("p1", **PHONE_PAGE), crawled("hose", title="Garden hose"), crawled("p2", **PHONE_PAGE))
    await setup.run(crawled("p3", **PHONE_PAGE), competitor=setup.rival)

    async def paths(**query: Any) -> list[str]:
        values: dict[str, Any] = {"competitor_id": "", "state": None, "page_size_requested": 0, "page_token": ""}
        values.update(query)
        page = await setup.queue.list_items(VIEWER, **values)
        return [item.sighting.url.rsplit("/", 1)[-1] for item in page.items]

    assert await paths() == ["p1", "hose", "p2", "p3"]
    assert await paths(state=ReviewState.PENDING) == ["p1", "p2", "p3"]
    assert await paths(state=ReviewState.UNMATCHED) == ["hose"]
    assert await paths(competitor_id=setup.rival.id) == ["p3"]
    first = await setup.queue.list_items(
        VIEWER, competitor_id="", state=ReviewState.PENDING, page_size_requested=2, page_token=""
    )
    rest = await setup.queue.list_items(
        VIEWER, competitor_id="", state=ReviewState.PENDING, page_size_requested=2, page_token=first.next_page_token
    )
    assert [len(first.items), len(rest.items), rest.next_page_token] == [2, 1, ""]
    with pytest.raises(InvalidArgument, match="different filter"):
        await setup.queue.list_items(
            VIEWER, competitor_id="", state=None, page_size_requested=2, page_token=first.next_page_token
        )
    with pytest.raises(InvalidArgument):
        await paths(competitor_id="rival")
    other = await setup.queue.list_items(
        principal(Role.VIEWER, ORG_B), competitor_id="", state=None, page_size_requested=0, page_token=""
    )
    assert other.items == []
    item = await setup.item("p1")
    assert await setup.queue.get_item(VIEWER, item.id) == item
    with pytest.raises(NotFound):
        await setup.queue.get_item(principal(Role.VIEWER, ORG_B), item.id)


async def test_confirming_a_candidate_makes_a_manual_offer_with_the_last_seen_price(setup: Setup) -> None:
    await setup.run(crawled("phone", 5, 89900, extraction_method=ExtractionMethod.RDFA, **PHONE_PAGE))
    pending = await setup.item("phone")
    assert "PHONE-256" in [candidate.sku for candidate in pending.candidates]
    item, offer = await setup.queue.confirm(ANALYST, pending.id, "PHONE-256")
    assert (offer.sku, offer.match_method, offer.match_confidence, offer.url, offer.title) == (
        "PHONE-256",
        MatchMethod.MANUAL,
        1.0,
        pending.sighting.url,
        PHONE_PAGE["title"],
    )
    assert (item.state, item.sku, item.offer_id, item.candidates) == (ReviewState.MATCHED, "PHONE-256", offer.id, ())
    history = await setup.cases.observations.list_observations(
        VIEWER, offer_id=offer.id, start=None, end=None, page_size_requested=0, page_token=""
    )
    assert [(o.observe_time, o.price.amount_minor, o.extraction_method) for o in history.items] == [
        (START + timedelta(minutes=5), 89900, ExtractionMethod.RDFA)
    ]
    assert [(event.sku, event.price.amount_minor, event.previous_price) for event in setup.sink.prices] == [
        ("PHONE-256", 89900, None)
    ]
    assert await setup.queue.confirm(ANALYST, pending.id, "PHONE-256") == (item, offer)
    assert len(setup.sink.prices) == 1
    # The next crawl finds the offer and only records the price.
    later = await setup.run(crawled("phone", 60, 87900, **PHONE_PAGE))
    assert (later.observations_created, later.offers_matched, later.queued_for_review) == (1, 0, 0)


async def test_any_active_sku_may_be_confirmed_and_another_one_relinks_the_offer(setup: Setup) -> None:
    await setup.run(crawled("hose", 0, None, title="Garden hose reel 30 m"))
    hose = await setup.item("hose")
    assert hose.state is ReviewState.UNMATCHED
    _, offer = await setup.queue.confirm(ANALYST, hose.id, "TOASTER-2")
    item, relinked = await setup.queue.confirm(ANALYST, hose.id, "KETTLE-17")
    assert (relinked.id, relinked.sku, relinked.match_method) == (offer.id, "KETTLE-17", MatchMethod.MANUAL)
    assert (item.sku, item.offer_id) == ("KETTLE-17", offer.id)
    assert setup.sink.prices == [], "a product seen without a price records nothing"


async def test_confirming_checks_the_sku_the_item_and_the_caller(setup: Setup) -> None:
    await setup.run(crawled("phone", **PHONE_PAGE))
    item = await setup.item("phone")
    with pytest.raises(NotFound) as unknown_sku:
        await setup.queue.confirm(ANALYST, item.id, "NOPE-1")
    assert unknown_sku.value.field == "sku"
    setup.catalog.add(catalog_item("PHONE-128", "Nimbus X2 128 GB", "Nimbus"), organization_id=ORG_B)
    with pytest.raises(NotFound) as other_org:
        await setup.queue.confirm(principal(Role.ANALYST, ORG_B), item.id, "PHONE-128")
    assert other_org.value.field == "id"
    with pytest.raises(InvalidArgument) as malformed:
        await setup.queue.confirm(ANALYST, item.id, "no spaces please")
    assert malformed.value.field == "sku"
    with pytest.raises(InvalidArgument):
        await setup.queue.confirm(ANALYST, "rvw_1", "PHONE-128")
    with pytest.raises(PermissionDenied):
        await setup.queue.confirm(VIEWER, item.id, "PHONE-128")
    with pytest.raises(PermissionDenied):
        await setup.queue.reject(VIEWER, item.id, "")
    assert (await setup.item("phone")) == item


async def test_rejected_candidates_are_never_proposed_again(setup: Setup) -> None:
    await setup.run(crawled("phone", **PHONE_PAGE))
    item = await setup.item("phone")
    one = await setup.queue.reject(ANALYST, item.id, "PHONE-128")
    assert (one.state, one.rejected_skus) == (ReviewState.PENDING, ("PHONE-128",))
    assert "PHONE-128" not in [candidate.sku for candidate in one.candidates]
    again = await setup.run(crawled("phone", 30, **PHONE_PAGE))
    assert (again.queued_for_review, again.unmatched) == (1, 0)
    assert "PHONE-128" not in [candidate.sku for candidate in (await setup.item("phone")).candidates]
    for candidate in (await setup.item("phone")).candidates:
        latest = await setup.queue.reject(ANALYST, item.id, candidate.sku)
    assert (latest.state, latest.candidates) == (ReviewState.UNMATCHED, ())
    assert "PHONE-256" in latest.rejected_skus
    # Not queued again, even when an exact identifier would now match a rejected sku.
    setup.catalog.add(catalog_item("PHONE-256", PHONE_256.title, "Nimbus", gtin="036000291452"))
    final = await setup.run(crawled("phone", 60, gtin="036000291452", **PHONE_PAGE))
    assert (final.offers_matched, final.queued_for_review, final.unmatched) == (0, 0, 1)
    assert (await setup.item("phone")).state is ReviewState.UNMATCHED


async def test_a_product_rejected_as_a_whole_stays_out_of_the_queue(setup: Setup) -> None:
    await setup.run(crawled("phone", **PHONE_PAGE))
    item = await setup.queue.reject(ANALYST, (await setup.item("phone")).id, "")
    assert (item.state, item.candidates, item.rejected_skus) == (ReviewState.REJECTED, (), ())
    assert await setup.queue.reject(ANALYST, item.id, "") == item
    result = await setup.run(crawled("phone", 30, 79900, gtin="4006381333931", **PHONE_PAGE))
    assert (result.offers_matched, result.queued_for_review, result.unmatched) == (0, 0, 1)
    kept = await setup.item("phone")
    assert (kept.state, kept.sighting.price) == (ReviewState.REJECTED, Money(79900, "EUR"))
    # A person may still change their mind.
    confirmed, offer = await setup.queue.confirm(ANALYST, item.id, "PHONE-256")
    assert (confirmed.state, offer.sku) == (ReviewState.MATCHED, "PHONE-256")


async def test_a_matched_product_is_rejected_only_once_its_offer_is_gone(setup: Setup) -> None:
    await setup.run(crawled("phone", **PHONE_PAGE))
    item, offer = await setup.queue.confirm(ANALYST, (await setup.item("phone")).id, "PHONE-128")
    with pytest.raises(FailedPrecondition, match=offer.id):
        await setup.queue.reject(ANALYST, item.id, "PHONE-128")
    await setup.cases.offers.delete_offer(principal(), offer.id)
    rejected = await setup.queue.reject(ANALYST, item.id, "PHONE-128")
    assert (rejected.state, rejected.sku, rejected.offer_id, rejected.rejected_skus) == (
        ReviewState.UNMATCHED,
        "",
        "",
        ("PHONE-128",),
    )
    result = await setup.run(crawled("phone", 30, **PHONE_PAGE))
    assert result.queued_for_review == 1
    assert "PHONE-128" not in [candidate.sku for candidate in (await setup.item("phone")).candidates]


# --- over gRPC ------------------------------------------------------------------------------------


@dataclass
class Client:
    ingest: crawl_pb2_grpc.CrawlIngestServiceAsyncStub
    review: review_pb2_grpc.ReviewServiceAsyncStub
    competitors: competitor_pb2_grpc.CompetitorServiceAsyncStub
    sink: RecordingSink
    tokens: AccessTokens

    def as_(self, role: Role, organization_id: str = ORG_A) -> tuple[tuple[str, str], ...]:
        return metadata_as(self.tokens, role, organization_id)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    tokens = access_tokens()
    repositories = await open_sqlite_repositories(tmp_path / "competitor.sqlite3")
    catalog = MemoryCatalog()
    catalog.add(KETTLE, PHONE_128, PHONE_256)
    sink = RecordingSink()
    base = build_definition(repositories)

    def register(server: grpc.aio.Server) -> None:
        base.register(server)
        add_matching_services(server, repositories, catalog, sink)

    definition = ServiceDefinition(
        name="competitor",
        service_names=(*SERVICE_NAMES, *MATCHING_SERVICE_NAMES),
        register=register,
        on_stop=repositories.close,
    )
    async with serving(definition, tokens) as channel:
        yield Client(
            crawl_pb2_grpc.CrawlIngestServiceStub(channel),
            review_pb2_grpc.ReviewServiceStub(channel),
            competitor_pb2_grpc.CompetitorServiceStub(channel),
            sink,
            tokens,
        )


def page_product(path: str, amount_minor: int | None, **fields: Any) -> crawl_pb2.CrawledProduct:
    values: dict[str, Any] = {"extraction_method": competitor_pb2.EXTRACTION_METHOD_JSON_LD, "confidence": 0.9}
    values.update(fields)
    product = crawl_pb2.CrawledProduct(
        url=f"https://shop-one.example/{path}",
        fetch_time=to_timestamp((utcnow() - timedelta(minutes=5)).replace(microsecond=0)),
        **values,
    )
    if amount_minor is not None:
        product.price.CopyFrom(money_pb2.Money(amount_minor=amount_minor, currency="EUR"))
    return product


async def test_crawled_products_and_the_review_queue_over_grpc(client: Client) -> None:
    analyst, viewer = client.as_(Role.ANALYST), client.as_(Role.VIEWER)
    created = await client.competitors.CreateCompetitor(
        competitor_pb2.CreateCompetitorRequest(
            competitor=competitor_pb2.Competitor(name="Shop One", default_currency="EUR")
        ),
        metadata=client.as_(Role.PRICING_MANAGER),
    )
    shop_id = created.competitor.id
    ingested = await client.ingest.IngestCrawledProducts(
        crawl_pb2.IngestCrawledProductsRequest(
            competitor_id=shop_id,
            source_id="src_1",
            crawl_job_id="job_1",
            products=[
                page_product("kettle", 2999, title="Kettle", gtin="4006381333931", in_stock=False),
                page_product("phone", None, title="Nimbus X2 Smartphone 512GB black", brand="Nimbus"),
            ],
        ),
        metadata=analyst,
    )
    assert (ingested.observations_created, ingested.offers_matched, ingested.queued_for_review) == (1, 1, 1)
    assert client.sink.prices[0].in_stock is False
    listed = await client.review.ListReviewItems(
        pb.ListReviewItemsRequest(state=pb.REVIEW_STATE_PENDING, page=paging_pb2.PageRequest(page_size=10)),
        metadata=viewer,
    )
    (item,) = listed.items
    assert (item.competitor_id, item.state, item.source_id) == (shop_id, pb.REVIEW_STATE_PENDING, "src_1")
    assert not item.HasField("price")
    assert not item.HasField("in_stock")
    assert item.candidates[0].match_method == competitor_pb2.MATCH_METHOD_FUZZY
    assert {candidate.sku for candidate in item.candidates} >= {"PHONE-128", "PHONE-256"}
    fetched = await client.review.GetReviewItem(pb.GetReviewItemRequest(id=item.id), metadata=viewer)
    assert fetched.item == item
    rejected = await client.review.RejectReviewItem(
        pb.RejectReviewItemRequest(id=item.id, sku="PHONE-128"), metadata=analyst
    )
    assert list(rejected.item.rejected_skus) == ["PHONE-128"]
    confirmed = await client.review.ConfirmReviewItem(
        pb.ConfirmReviewItemRequest(id=item.id, sku="PHONE-256"), metadata=analyst
    )
    assert (confirmed.item.state, confirmed.offer.sku, confirmed.offer.match_method) == (
        pb.REVIEW_STATE_MATCHED,
        "PHONE-256",
        competitor_pb2.MATCH_METHOD_MANUAL,
    )
    await client.ingest.ReportSourceHealth(
        crawl_pb2.ReportSourceHealthRequest(
            competitor_id=shop_id, source_id="src_1", source_name="Shop One", broken=True, reason="no prices"
        ),
        metadata=analyst,
    )
    assert [(event.source_id, event.broken) for event in client.sink.health] == [("src_1", True)]

    refused = await client.ingest.IngestCrawledProducts(
        crawl_pb2.IngestCrawledProductsRequest(
            competitor_id=shop_id, products=[page_product("x", 100, quarantined=True)]
        ),
        metadata=analyst,
    )
    assert [(error.row, error.field) for error in refused.errors] == [(0, "quarantine_reason")]
    assert await rpc_refusal(
        client.review.ConfirmReviewItem(pb.ConfirmReviewItemRequest(id=item.id, sku="PHONE-256"), metadata=viewer)
    ) == (grpc.StatusCode.PERMISSION_DENIED, "this needs the analyst role or higher")
    code, _ = await rpc_refusal(client.review.GetReviewItem(pb.GetReviewItemRequest(id="rvw_x"), metadata=viewer))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = await rpc_refusal(
        client.review.GetReviewItem(pb.GetReviewItemRequest(id=item.id), metadata=client.as_(Role.VIEWER, ORG_B))
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, details = await rpc_refusal(
        client.review.ListReviewItems(pb.ListReviewItemsRequest(state=pb.ReviewState.ValueType(9)), metadata=viewer)
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "state: unknown review state 9")
    code, _ = await rpc_refusal(
        client.ingest.IngestCrawledProducts(
            crawl_pb2.IngestCrawledProductsRequest(
                competitor_id=shop_id,
                products=[page_product("y", 100, extraction_method=competitor_pb2.ExtractionMethod.ValueType(42))],
            ),
            metadata=analyst,
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = await rpc_refusal(
        client.ingest.IngestCrawledProducts(
            crawl_pb2.IngestCrawledProductsRequest(competitor_id=shop_id), metadata=viewer
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
