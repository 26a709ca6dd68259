"""The competitor service over real gRPC: the shared server bootstrap, tokens, proto translation, status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.competitor.v1 import competitor_pb2 as pb
from omnipricex.competitor.v1 import competitor_pb2_grpc
from runtime.auth import AccessTokens, Role
from runtime.clock import utcnow
from runtime.testing.auth import RecordingAuditSink
from runtime.testing.grpc import access_tokens, metadata_as, rpc_refusal, serving
from runtime.timestamps import to_timestamp
from services.competitor.repository.sqlite import open_sqlite_repositories
from services.competitor.server import SERVICE_NAMES, build_definition
from services.competitor.tests.support import ORG_A, ORG_B


@dataclass
class Client:
    competitors: competitor_pb2_grpc.CompetitorServiceAsyncStub
    offers: competitor_pb2_grpc.OfferServiceAsyncStub
    observations: competitor_pb2_grpc.ObservationServiceAsyncStub
    market: competitor_pb2_grpc.MarketServiceAsyncStub
    tokens: AccessTokens
    audit: RecordingAuditSink

    def as_(self, role: Role, organization_id: str = ORG_A) -> tuple[tuple[str, str], ...]:
        return metadata_as(self.tokens, role, organization_id)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    tokens, audit = access_tokens(), RecordingAuditSink()
    repositories = await open_sqlite_repositories(tmp_path / "competitor.sqlite3")
    async with serving(build_definition(repositories), tokens, audit) as channel:
        yield Client(
            competitor_pb2_grpc.CompetitorServiceStub(channel),
            competitor_pb2_grpc.OfferServiceStub(channel),
            competitor_pb2_grpc.ObservationServiceStub(channel),
            competitor_pb2_grpc.MarketServiceStub(channel),
            tokens,
            audit,
        )


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def minutes_ago(minutes: int) -> Timestamp:
    return to_timestamp((utcnow() - timedelta(minutes=minutes)).replace(microsecond=0))


async def create_competitor(client: Client, name: str = "Shop One") -> pb.Competitor:
    response = await client.competitors.CreateCompetitor(
        pb.CreateCompetitorRequest(
            competitor=pb.Competitor(name=name, website="https://shop-one.example", default_currency="EUR")
        ),
        metadata=client.as_(Role.PRICING_MANAGER),
    )
    return response.competitor


async def test_the_service_names_its_proto_services() -> None:
    expected = ("CompetitorService", "OfferService", "ObservationService", "MarketService")
    assert [f"omnipricex.competitor.v1.{name}" for name in expected] == list(SERVICE_NAMES)


async def test_competitors_over_grpc(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    shop = await create_competitor(client, "Kaffeehaus „Größe“ 東京")
    assert shop.id.startswith("cmp_")
    assert (shop.website, shop.default_currency) == ("https://shop-one.example/", "EUR")
    assert shop.create_time.nanos % 1_000_000 == 0
    fetched = await client.competitors.GetCompetitor(
        pb.GetCompetitorRequest(id=shop.id), metadata=client.as_(Role.VIEWER)
    )
    assert fetched.competitor == shop
    updated = await client.competitors.UpdateCompetitor(
        pb.UpdateCompetitorRequest(
            competitor=pb.Competitor(id=shop.id, name="ignored", default_currency="CHF"),
            update_mask=FieldMask(paths=["default_currency"]),
        ),
        metadata=manager,
    )
    assert (updated.competitor.name, updated.competitor.default_currency) == (shop.name, "CHF")
    await create_competitor(client, "Another")
    listed = await client.competitors.ListCompetitors(
        pb.ListCompetitorsRequest(page=paging_pb2.PageRequest(page_size=1)), metadata=manager
    )
    assert [c.name for c in listed.competitors] == ["Another"]
    rest = await client.competitors.ListCompetitors(
        pb.ListCompetitorsRequest(page=paging_pb2.PageRequest(page_token=listed.page.next_page_token)), metadata=manager
    )
    assert [c.name for c in rest.competitors] == [shop.name]
    await client.competitors.DeleteCompetitor(pb.DeleteCompetitorRequest(id=shop.id), metadata=manager)
    code, _ = await rpc_refusal(client.competitors.GetCompetitor(pb.GetCompetitorRequest(id=shop.id), metadata=manager))
    assert code == grpc.StatusCode.NOT_FOUND
    assert [r.action.rsplit("/", 1)[-1] for r in client.audit.records] == [
        "CreateCompetitor",
        "UpdateCompetitor",
        "CreateCompetitor",
        "DeleteCompetitor",
    ]


async def test_errors_arrive_as_status_codes_with_the_field(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    shop = await create_competitor(client)
    assert await rpc_refusal(
        client.competitors.CreateCompetitor(
            pb.CreateCompetitorRequest(competitor=pb.Competitor(name="x")), metadata=client.as_(Role.VIEWER)
        )
    ) == (grpc.StatusCode.PERMISSION_DENIED, "this needs the pricing_manager role or higher")
    code, _ = await rpc_refusal(client.competitors.GetCompetitor(pb.GetCompetitorRequest(id=shop.id)))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, details = await rpc_refusal(
        client.competitors.CreateCompetitor(
            pb.CreateCompetitorRequest(competitor=pb.Competitor(name="Shop ONE", default_currency="EUR")),
            metadata=manager,
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.ALREADY_EXISTS, "name")
    code, details = await rpc_refusal(
        client.competitors.CreateCompetitor(
            pb.CreateCompetitorRequest(
                competitor=pb.Competitor(name="Gopher", website="gopher://x.example", default_currency="EUR")
            ),
            metadata=manager,
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "website")
    await client.offers.UpsertOffers(
        pb.UpsertOffersRequest(offers=[pb.Offer(competitor_id=shop.id, url="https://shop-one.example/a", sku="A")]),
        metadata=manager,
    )
    code, _ = await rpc_refusal(
        client.competitors.DeleteCompetitor(pb.DeleteCompetitorRequest(id=shop.id), metadata=manager)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, details = await rpc_refusal(
        client.offers.UpsertOffers(
            pb.UpsertOffersRequest(
                offers=[
                    pb.Offer(
                        competitor_id=shop.id,
                        url="https://s.example/",
                        sku="A",
                        match_method=pb.MatchMethod.ValueType(9),
                    )
                ]
            ),
            metadata=manager,
        )
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "offers[0].match_method: unknown match method 9")
    other = client.as_(Role.OWNER, ORG_B)
    code, _ = await rpc_refusal(client.competitors.GetCompetitor(pb.GetCompetitorRequest(id=shop.id), metadata=other))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_offers_observations_and_market_prices_over_grpc(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    viewer = client.as_(Role.VIEWER)
    shop = await create_competitor(client)
    rival = await create_competitor(client, "Rival")
    upserted = await client.offers.UpsertOffers(
        pb.UpsertOffersRequest(
            offers=[
                pb.Offer(competitor_id=shop.id, url="https://shop-one.example/mug", sku="MUG-1", title="Tasse 🎉"),
                pb.Offer(
                    competitor_id=rival.id,
                    url="https://rival.example/mug",
                    sku="MUG-1",
                    match_method=pb.MATCH_METHOD_FUZZY,
                    match_confidence=0.8,
                ),
            ]
        ),
        metadata=manager,
    )
    assert (upserted.created, upserted.updated, upserted.unchanged, list(upserted.errors)) == (2, 0, 0, [])
    mine, theirs = upserted.offers
    assert (mine.match_method, mine.match_confidence, theirs.match_method) == (
        pb.MATCH_METHOD_MANUAL,
        1.0,
        pb.MATCH_METHOD_FUZZY,
    )
    imported = await client.offers.ImportOffersCsv(
        pb.ImportOffersCsvRequest(
            csv=f"competitor_id,url,sku\n{shop.id},https://shop-one.example/mug,MUG-1\n".encode()
        ),
        metadata=manager,
    )
    assert (imported.created, imported.updated, imported.unchanged) == (0, 1, 0)

    recorded = await client.observations.RecordObservations(
        pb.RecordObservationsRequest(
            observations=[
                pb.Observation(offer_id=mine.id, observe_time=minutes_ago(10), price=eur(1999), in_stock=True),
                pb.Observation(offer_id=mine.id, observe_time=minutes_ago(5), price=eur(1999), in_stock=True),
                pb.Observation(
                    offer_id=theirs.id,
                    observe_time=minutes_ago(5),
                    price=eur(1899),
                    extraction_method=pb.EXTRACTION_METHOD_JSON_LD,
                    confidence=0.95,
                ),
                pb.Observation(
                    offer_id=theirs.id,
                    observe_time=minutes_ago(1),
                    price=eur(99),
                    extraction_method=pb.EXTRACTION_METHOD_HEURISTIC,
                    confidence=0.3,
                    quarantined=True,
                    quarantine_reason="95 % below the others",
                ),
            ]
        ),
        metadata=manager,
    )
    assert (recorded.created, recorded.unchanged, list(recorded.errors)) == (3, 1, [])

    markets = await client.market.ListMarketPrices(
        pb.ListMarketPricesRequest(skus=["MUG-1", "NONE-1"]), metadata=viewer
    )
    assert [m.sku for m in markets.markets] == ["MUG-1", "NONE-1"]
    mug = markets.markets[0]
    assert [(p.offer_id, p.price.amount_minor, p.in_stock) for p in mug.prices] == [
        (theirs.id, 1899, False),
        (mine.id, 1999, True),
    ]
    assert mug.prices[1].observe_time == minutes_ago(5)
    assert 290 <= mug.prices[1].age_seconds <= 360
    assert list(markets.markets[1].prices) == []
    paged = await client.market.ListMarketPrices(
        pb.ListMarketPricesRequest(competitor_ids=[shop.id], page=paging_pb2.PageRequest(page_size=1000)),
        metadata=viewer,
    )
    assert [(m.sku, [p.offer_id for p in m.prices]) for m in paged.markets] == [("MUG-1", [mine.id])]

    history = await client.observations.ListObservations(
        pb.ListObservationsRequest(offer_id=theirs.id, start_time=minutes_ago(3)), metadata=viewer
    )
    (suspicious,) = history.observations
    assert (suspicious.quarantined, suspicious.quarantine_reason, suspicious.extraction_method) == (
        True,
        "95 % below the others",
        pb.EXTRACTION_METHOD_HEURISTIC,
    )
    everything = await client.observations.ListObservations(
        pb.ListObservationsRequest(offer_id=theirs.id), metadata=viewer
    )
    assert [o.price.amount_minor for o in everything.observations] == [99, 1899]

    listed = await client.offers.ListOffers(pb.ListOffersRequest(sku="MUG-1", competitor_id=rival.id), metadata=viewer)
    assert [o.id for o in listed.offers] == [theirs.id]
    await client.offers.DeleteOffer(pb.DeleteOfferRequest(id=theirs.id), metadata=manager)
    code, _ = await rpc_refusal(client.offers.GetOffer(pb.GetOfferRequest(id=theirs.id), metadata=viewer))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_bulk_refusals_come_back_as_row_errors(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    shop = await create_competitor(client)
    refused = await client.offers.UpsertOffers(
        pb.UpsertOffersRequest(
            offers=[
                pb.Offer(competitor_id=shop.id, url="https://shop-one.example/a", sku="A"),
                pb.Offer(competitor_id=shop.id, url="file://files.example/catalog.html", sku="B"),
                pb.Offer(competitor_id=shop.id, url="https://shop-one.example/c", sku="C/1"),
            ]
        ),
        metadata=manager,
    )
    assert [(e.row, e.key, e.field) for e in refused.errors] == [
        (1, f"{shop.id}/file://files.example/catalog.html", "url"),
        (2, f"{shop.id}/https://shop-one.example/c", "sku"),
    ]
    assert (refused.created, list(refused.offers)) == (0, [])
    unknown = "off_" + "1" * 26
    recorded = await client.observations.RecordObservations(
        pb.RecordObservationsRequest(
            observations=[
                pb.Observation(offer_id=unknown, observe_time=minutes_ago(1), price=eur(100)),
                pb.Observation(offer_id=unknown, price=eur(100)),
            ]
        ),
        metadata=manager,
    )
    assert [(e.row, e.field) for e in recorded.errors] == [(0, "offer_id"), (1, "observe_time")]
    code, details = await rpc_refusal(
        client.observations.RecordObservations(
            pb.RecordObservationsRequest(
                observations=[pb.Observation(offer_id=unknown, extraction_method=pb.ExtractionMethod.ValueType(42))]
            ),
            metadata=manager,
        )
    )
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "observations[0].extraction_method: unknown extraction method 42",
    )
    code, details = await rpc_refusal(
        client.observations.ImportObservationsCsv(pb.ImportObservationsCsvRequest(csv=b"nonsense\n"), metadata=manager)
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "csv")
