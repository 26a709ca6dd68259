"""IngestCrawledProducts and ReportSourceHealth as use cases, on SQLite, with an in-memory catalog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from runtime.auth import Role
from runtime.errors import InvalidArgument, NotFound, PermissionDenied
from runtime.money import Money
from services.competitor.domain import (
    Competitor,
    ExtractionMethod,
    MatchMethod,
    MoneyInput,
    ReviewItem,
    ReviewState,
    SightingDraft,
)
from services.competitor.ingest import CrawlIngest, IngestRequest, IngestResult, SourceHealthReport
from services.competitor.repository import Repositories
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
from services.competitor.tests.support import (
    ORG_B,
    START,
    FakeClock,
    SequentialIds,
    competitor_draft,
    observation,
    offer_draft,
    principal,
)
from services.competitor.use_cases import ObservationLog

ANALYST = principal(Role.ANALYST)


@dataclass
class Setup:
    ingest: CrawlIngest
    cases: UseCases
    catalog: MemoryCatalog
    sink: RecordingSink
    repositories: Repositories
    shop: Competitor
    clock: FakeClock

    async def run(self, *products: SightingDraft, **fields: Any) -> IngestResult:
        values: dict[str, Any] = {"competitor_id": self.shop.id, "source_id": "src_1", "crawl_job_id": "job_1"}
        values.update(fields)
        return await self.ingest.ingest(ANALYST, IngestRequest(products=list(products), **values))

    async def offers(self) -> dict[str, Any]:
        page = await self.cases.offers.list_offers(
            principal(Role.VIEWER), sku="", competitor_id="", page_size_requested=1000, page_token=""
        )
        return {offer.url.rsplit("/", 1)[-1]: offer for offer in page.items}

    async def review_items(self) -> dict[str, ReviewItem]:
        found = await self.repositories.reviews.find(
            ANALYST.organization_id, competitor_id=None, state=None, after_id="", limit=1000
        )
        return {item.sighting.url.rsplit("/", 1)[-1]: item for item in found}


@pytest.fixture
async def setup(sqlite_repositories: Repositories, clock: FakeClock) -> Setup:
    catalog = MemoryCatalog()
    catalog.add(KETTLE, KETTLE_XL, PHONE_128, PHONE_256, TOASTER)
    sink = RecordingSink()
    ingest = CrawlIngest(sqlite_repositories, catalog, sink, clock=clock, review_ids=SequentialIds("rvw_"))
    cases = use_cases(sqlite_repositories, clock)
    shop = await cases.competitors.create_competitor(principal(), competitor_draft())
    return Setup(ingest, cases, catalog, sink, sqlite_repositories, shop, clock)


def counts(result: IngestResult) -> tuple[int, int, int, int, int]:
    assert result.errors == ()
    return (
        result.observations_created,
        result.observations_unchanged,
        result.offers_matched,
        result.queued_for_review,
        result.unmatched,
    )


# --- products that have offers --------------------------------------------------------------------


async def test_products_with_offers_are_observed_and_their_changes_told(setup: Setup) -> None:
    made = await setup.cases.offers.upsert_offers(principal(), [offer_draft(setup.shop.id, "kettle", "KETTLE-17")])
    (kettle,) = made.offers
    assert counts(await setup.run(crawled("kettle", 0, 2999))) == (1, 0, 0, 0, 0)
    assert counts(await setup.run(crawled("kettle", 10, 2999))) == (0, 1, 0, 0, 0)
    assert counts(await setup.run(crawled("kettle", 20, 2799, in_stock=False))) == (1, 0, 0, 0, 0)
    quarantined = crawled("kettle", 30, 1, quarantined=True, quarantine_reason="every product costs 0.01 today")
    assert counts(await setup.run(quarantined)) == (1, 0, 0, 0, 0)
    assert [(event.price.amount_minor, event.in_stock, event.quarantined) for event in setup.sink.prices] == [
        (2999, True, False),
        (2799, False, False),
        (1, True, True),
    ]
    first, drop, broken = setup.sink.prices
    assert (first.previous_price, first.previous_in_stock) == (None, None)
    assert (drop.previous_price, drop.previous_in_stock) == (Money(2999, "EUR"), True)
    assert (broken.offer_id, broken.sku, broken.competitor_id, broken.url) == (
        kettle.id,
        "KETTLE-17",
        setup.shop.id,
        kettle.url,
    )
    assert broken.observe_time == START + timedelta(minutes=30)
    market = await setup.cases.market.list_market_prices(
        principal(Role.VIEWER), skus=["KETTLE-17"], competitor_ids=[], page_size_requested=0, page_token=""
    )
    # The quarantined price is kept but never fed to pricing.
    assert [(price.price.amount_minor, price.in_stock) for price in market.items[0].prices] == [(2799, False)]
    assert setup.catalog.reads == 0, "products that all have offers never need the catalog"
    assert setup.sink.new_products == []


async def test_an_offer_keeps_the_title_last_seen_on_the_page(setup: Setup) -> None:
    await setup.cases.offers.upsert_offers(principal(), [offer_draft(setup.shop.id, "kettle", "KETTLE-17")])
    await setup.run(crawled("kettle", 0, title="Boilex Wasserkocher\n 1,7 l  "))
    offer = (await setup.offers())["kettle"]
    assert (offer.title, offer.match_method, offer.revision) == ("Boilex Wasserkocher 1,7 l", MatchMethod.MANUAL, 2)


# --- new products ---------------------------------------------------------------------------------


async def test_new_products_are_matched_by_identifiers_or_a_confident_fuzzy_score(setup: Setup) -> None:
    result = await setup.run(
        crawled("a", title="Wasserkocher", gtin="0 4006381 333931", extraction_method=ExtractionMethod.MICRODATA),
        crawled("b", 0, 3499, title="Kettle", brand="BOILEX", mpn="bx 20"),
        crawled("c", 0, 1999, title="Crumb two-slice toaster with bun rack, chrome", brand="Crumb"),
    )
    assert counts(result) == (3, 0, 3, 0, 0)
    offers = await setup.offers()
    assert (offers["a"].sku, offers["a"].match_method, offers["a"].match_confidence) == (
        "KETTLE-17",
        MatchMethod.GTIN,
        1.0,
    )
    assert (offers["b"].sku, offers["b"].match_method, offers["b"].title) == (
        "KETTLE-20",
        MatchMethod.BRAND_MPN,
        "Kettle",
    )
    assert (offers["c"].sku, offers["c"].match_method) == ("TOASTER-2", MatchMethod.FUZZY)
    assert 0.9 <= offers["c"].match_confidence < 1.0
    history = await setup.cases.observations.list_observations(
        principal(Role.VIEWER), offer_id=offers["a"].id, start=None, end=None, page_size_requested=0, page_token=""
    )
    assert [(o.price.amount_minor, o.extraction_method, o.confidence) for o in history.items] == [
        (2999, ExtractionMethod.MICRODATA, 0.9)
    ]
    assert await setup.review_items() == {}
    told = {event.url.rsplit("/", 1)[-1]: event for event in setup.sink.new_products}
    assert {path: (event.sku, event.category_id) for path, event in told.items()} == {
        "a": ("KETTLE-17", "cat_home"),
        "b": ("KETTLE-20", "cat_home"),
        "c": ("TOASTER-2", "cat_kitchen"),
    }
    assert told["b"].price == Money(3499, "EUR")
    assert {event.offer_id for event in setup.sink.prices} == {offer.id for offer in offers.values()}


async def test_uncertain_products_wait_for_review_with_their_candidates(setup: Setup) -> None:
    result = await setup.run(
        crawled("phone", 0, 89900, title="Nimbus X2 Smartphone 512GB black", brand="Nimbus", image_url="/rel.jpg"),
        crawled("phone-listed", 0, 89900, title="Nimbus X2 512 GB", brand="Nimbus", category_id="cat_listing"),
    )
    assert counts(result) == (0, 0, 0, 2, 0)
    item = (await setup.review_items())["phone"]
    assert item.state is ReviewState.PENDING
    assert {candidate.sku for candidate in item.candidates[:2]} == {"PHONE-128", "PHONE-256"}
    assert all(c.method is MatchMethod.FUZZY and 0.5 <= c.confidence < 0.9 for c in item.candidates)
    titles = {candidate.sku: (candidate.title, candidate.brand) for candidate in item.candidates}
    assert titles["PHONE-128"] == (PHONE_128.title, "Nimbus")
    assert (item.source_id, item.crawl_job_id, item.sighting.image_url) == ("src_1", "job_1", "")
    assert item.sighting.price == Money(89900, "EUR")
    assert await setup.offers() == {}
    told = {event.url.rsplit("/", 1)[-1]: event for event in setup.sink.new_products}
    # No sku yet; the category is the source listing's, else the best candidate's.
    assert (told["phone"].sku, told["phone"].category_id) == ("", "cat_phones")
    assert told["phone-listed"].category_id == "cat_listing"
    assert setup.sink.prices == []


async def test_products_unlike_anything_in_the_catalog_are_kept_unmatched(setup: Setup) -> None:
    result = await setup.run(crawled("hose", title="Garden hose reel 30 m", brand="Hoseking"))
    assert counts(result) == (0, 0, 0, 0, 1)
    item = (await setup.review_items())["hose"]
    assert (item.state, item.candidates) == (ReviewState.UNMATCHED, ())
    assert [event.category_id for event in setup.sink.new_products] == [""]


async def test_a_product_without_a_price_is_matched_but_not_observed(setup: Setup) -> None:
    result = await setup.run(crawled("a", amount_minor=None, gtin="4006381333931", in_stock=None))
    assert counts(result) == (0, 0, 1, 0, 0)
    offer = (await setup.offers())["a"]
    history = await setup.cases.observations.list_observations(
        principal(Role.VIEWER), offer_id=offer.id, start=None, end=None, page_size_requested=0, page_token=""
    )
    assert history.items == []
    assert setup.sink.new_products[0].price is None


async def test_a_retried_batch_changes_nothing_more(setup: Setup) -> None:
    await setup.cases.offers.upsert_offers(principal(), [offer_draft(setup.shop.id, "known", "KETTLE-20")])
    batch = [
        crawled("known", 0, 3999),
        crawled("gtin", 0, 2999, gtin="4006381333931"),
        crawled("phone", 0, 89900, title="Nimbus X2 Smartphone 512GB black", brand="Nimbus"),
        crawled("hose", 0, 1500, title="Garden hose reel 30 m"),
    ]
    assert counts(await setup.run(*batch)) == (2, 0, 1, 1, 1)
    offers, items = await setup.offers(), await setup.review_items()
    told = (len(setup.sink.prices), len(setup.sink.new_products))
    assert told == (2, 3)
    assert counts(await setup.run(*batch)) == (0, 2, 0, 1, 1)
    assert await setup.offers() == offers
    assert await setup.review_items() == items
    assert (len(setup.sink.prices), len(setup.sink.new_products)) == told


async def test_the_latest_reading_of_a_queued_product_is_kept(setup: Setup) -> None:
    await setup.run(crawled("hose", 10, 1500, title="Garden hose reel 30 m"))
    await setup.run(crawled("hose", 20, 1400, title="Garden hose reel 30 m (new)", in_stock=False), source_id="src_2")
    await setup.run(crawled("hose", 5, 1700, title="Old reading"), crawl_job_id="job_0")
    item = (await setup.review_items())["hose"]
    assert (item.sighting.title, item.sighting.price, item.sighting.in_stock) == (
        "Garden hose reel 30 m (new)",
        Money(1400, "EUR"),
        False,
    )
    assert (item.source_id, item.crawl_job_id, item.revision) == ("src_2", "job_1", 2)
    assert len(setup.sink.new_products) == 1


async def test_a_queued_product_is_matched_once_the_catalog_has_it(setup: Setup) -> None:
    await setup.run(crawled("grinder", 0, 4999, title="Burr coffee grinder", gtin="036000291452"))
    item = (await setup.review_items())["grinder"]
    assert item.state is ReviewState.UNMATCHED
    setup.catalog.add(catalog_item("GRINDER", "Coffee grinder with conical burrs", "Mahl", gtin="00036000291452"))
    result = await setup.run(crawled("grinder", 60, 4799, title="Burr coffee grinder", gtin="036000291452"))
    assert counts(result) == (1, 0, 1, 0, 0)
    offer = (await setup.offers())["grinder"]
    assert (offer.sku, offer.match_method) == ("GRINDER", MatchMethod.GTIN)
    matched = (await setup.review_items())["grinder"]
    assert (matched.state, matched.sku, matched.offer_id, matched.candidates) == (
        ReviewState.MATCHED,
        "GRINDER",
        offer.id,
        (),
    )
    assert matched.sighting.price == Money(4799, "EUR")
    assert len(setup.sink.new_products) == 1


# --- refusals -------------------------------------------------------------------------------------


async def test_a_batch_with_a_bad_product_writes_nothing_and_says_why(setup: Setup) -> None:
    await setup.cases.offers.upsert_offers(principal(), [offer_draft(setup.shop.id, "known", "KETTLE-20")])
    result = await setup.run(
        crawled("known", 0, 3999),
        crawled("new", gtin="4006381333931"),
        SightingDraft(url="file://shop.example/prices.html", fetch_time=START),
        crawled("no-time", fetch_time=None),
        crawled("new"),
        crawled("no-method", extraction_method=None),
        crawled("hidden", quarantined=True),
        crawled("future", fetch_time=setup.clock.now + timedelta(hours=1)),
        crawled("money", price=MoneyInput(100, "XYZ")),
        crawled("sure", confidence=1.5),
        crawled("category", category_id="cat with spaces"),
    )
    assert [(error.row, error.field) for error in result.errors] == [
        (2, "url"),
        (3, "fetch_time"),
        (4, "url"),
        (5, "extraction_method"),
        (6, "quarantine_reason"),
        (7, "fetch_time"),
        (8, "price.currency"),
        (9, "confidence"),
        (10, "category_id"),
    ]
    assert "first at row 1" in result.errors[2].message
    assert result.errors[0].key == "file://shop.example/prices.html"
    assert list(await setup.offers()) == ["known"]
    assert await setup.review_items() == {}
    assert (setup.sink.prices, setup.sink.new_products) == ([], [])


async def test_a_price_conflicting_with_history_refuses_the_batch_before_anything_is_written(setup: Setup) -> None:
    made = await setup.cases.offers.upsert_offers(principal(), [offer_draft(setup.shop.id, "known", "KETTLE-20")])
    await setup.cases.observations.record(principal(), [observation(made.offers[0].id, 0, 3999)])
    await setup.cases.observations.record(principal(), [observation(made.offers[0].id, 10, 3899)])
    result = await setup.run(crawled("known", 0, 100), crawled("new", gtin="4006381333931"))
    assert [(error.row, error.key, error.field) for error in result.errors] == [
        (0, "https://shop-one.example/known", "observe_time")
    ]
    assert list(await setup.offers()) == ["known"]
    assert await setup.review_items() == {}


async def test_ingest_needs_an_analyst_a_known_competitor_and_a_bounded_batch(setup: Setup) -> None:
    request = IngestRequest(setup.shop.id, "src_1", "job_1", [crawled("a")])
    with pytest.raises(PermissionDenied):
        await setup.ingest.ingest(principal(Role.VIEWER), request)
    with pytest.raises(NotFound) as other_org:
        await setup.ingest.ingest(principal(Role.ANALYST, ORG_B), request)
    assert other_org.value.field == "competitor_id"
    with pytest.raises(InvalidArgument) as malformed:
        await setup.ingest.ingest(ANALYST, IngestRequest("shop", "", "", []))
    assert malformed.value.field == "competitor_id"
    with pytest.raises(InvalidArgument) as bad_source:
        await setup.ingest.ingest(ANALYST, IngestRequest(setup.shop.id, "src 1", "", []))
    assert bad_source.value.field == "source_id"
    with pytest.raises(InvalidArgument, match="at most 1,000 products"):
        await setup.run(*[crawled(f"p/{number}") for number in range(1001)])
    assert counts(await setup.run()) == (0, 0, 0, 0, 0)


async def test_a_failing_sink_never_undoes_what_was_stored(setup: Setup) -> None:
    setup.sink.fail = True
    result = await setup.run(crawled("a", gtin="4006381333931"), crawled("hose", title="Garden hose reel"))
    assert counts(result) == (1, 0, 1, 0, 1)
    assert set(await setup.offers()) == {"a"}
    assert set(await setup.review_items()) == {"hose"}
    assert len(setup.sink.new_products) == 2


# --- source health and other observation paths ----------------------------------------------------


async def test_source_health_changes_reach_the_sink(setup: Setup) -> None:
    report = SourceHealthReport(setup.shop.id, "src_1", "Shop One kettles", True, "Only 3% of pages have a price", None)
    await setup.ingest.report_source_health(ANALYST, report)
    recovered = SourceHealthReport(setup.shop.id, "src_1", "Shop One kettles", False, "ignored", START)
    await setup.ingest.report_source_health(ANALYST, recovered)
    broken, healthy = setup.sink.health
    assert (broken.broken, broken.reason, broken.source_name, broken.organization_id) == (
        True,
        "Only 3% of pages have a price",
        "Shop One kettles",
        ANALYST.organization_id,
    )
    assert broken.observe_time >= START + timedelta(days=1)
    assert (healthy.broken, healthy.reason, healthy.observe_time) == (False, "", START)
    with pytest.raises(InvalidArgument, match="needs a reason"):
        await setup.ingest.report_source_health(
            ANALYST, SourceHealthReport(setup.shop.id, "src_1", "S", True, "", None)
        )
    with pytest.raises(InvalidArgument) as nameless:
        await setup.ingest.report_source_health(
            ANALYST, SourceHealthReport(setup.shop.id, "src_1", " ", False, "", None)
        )
    assert nameless.value.field == "source_name"
    with pytest.raises(NotFound):
        await setup.ingest.report_source_health(
            principal(Role.ANALYST, ORG_B), SourceHealthReport(setup.shop.id, "src_1", "S", False, "", None)
        )
    with pytest.raises(PermissionDenied):
        await setup.ingest.report_source_health(principal(Role.VIEWER), recovered)
    assert len(setup.sink.health) == 2


async def test_recorded_observations_tell_their_price_changes_too(setup: Setup) -> None:
    made = await setup.cases.offers.upsert_offers(principal(), [offer_draft(setup.shop.id, "known", "KETTLE-20")])
    offer_id = made.offers[0].id
    log = ObservationLog(setup.repositories, clock=setup.clock, events=setup.sink)
    await log.record(principal(), [observation(offer_id, 0, 3999), observation(offer_id, 5, 3999)])
    await log.record(principal(), [observation(offer_id, 10, 3499), observation(offer_id, -10, 4999)])
    assert [(event.price.amount_minor, event.previous_price) for event in setup.sink.prices] == [
        (3999, None),
        (3499, Money(3999, "EUR")),
    ]
    assert setup.sink.prices[0].sku == "KETTLE-20"
