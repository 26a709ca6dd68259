"""The repository contract: the same tests on SQLite, the MongoDB stand-in and (with MONGODB_URI) MongoDB."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from runtime.errors import AlreadyExists, Conflict, FailedPrecondition
from runtime.money import Money
from services.competitor import domain
from services.competitor.domain import (
    Competitor,
    ExtractionMethod,
    MatchMethod,
    Observation,
    Offer,
    OfferChange,
    ReviewCandidate,
    ReviewChange,
    ReviewItem,
    ReviewState,
    Run,
    Track,
    TrackChange,
    UsablePrice,
)
from services.competitor.repository import CompetitorPosition, Repositories
from services.competitor.tests.conftest import use_cases
from services.competitor.tests.support import (
    ORG_A,
    ORG_B,
    START,
    FakeClock,
    bulk_rows,
    competitor_draft,
    observation,
    offer_draft,
    principal,
)

pytestmark = pytest.mark.timeout(120)

SHOP = "cmp_" + "0" * 25 + "1"
RIVAL = "cmp_" + "0" * 25 + "2"


def competitor(name: str, competitor_id: str = SHOP, organization_id: str = ORG_A) -> Competitor:
    content = domain.validate_competitor(competitor_draft(name))
    return domain.new_competitor(organization_id, competitor_id, content, now=START.replace(microsecond=123000))


def offer(
    number: int, sku: str = "SKU-1", competitor_id: str = SHOP, organization_id: str = ORG_A, **fields: Any
) -> Offer:
    draft = offer_draft(competitor_id, f"p/{number}", sku, **fields)
    key = domain.validate_offer_key(draft.competitor_id, draft.url)
    offer_id = f"off_{organization_id[-1]}{number:025d}"
    return domain.new_offer(organization_id, offer_id, key, domain.validate_offer(draft), now=START)


def seen(offer_id: str, minutes: float, amount_minor: int = 1999, **fields: Any) -> Observation:
    draft = observation(offer_id, minutes, amount_minor, **fields)
    assert draft.observe_time is not None
    return domain.validate_observation(draft, draft.observe_time, default_currency="EUR")


def tracked(before: Track, first: Observation, last_seen_minutes: float, usable: UsablePrice | None) -> TrackChange:
    run = Run(first, START + timedelta(minutes=last_seen_minutes))
    return TrackChange(before, replace(before, run=run, usable=usable, revision=before.revision + 1))


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


async def store_offers(repositories: Repositories, *offers: Offer) -> None:
    await repositories.offers.write([OfferChange(None, o) for o in offers])


# --- competitors ----------------------------------------------------------------------------------


async def test_a_stored_competitor_reads_back_equal(repositories: Repositories) -> None:
    shop = competitor("Kaffeehaus „Größe“ 東京 🎉")
    await repositories.competitors.create(shop)
    assert await repositories.competitors.get(ORG_A, SHOP) == shop
    assert await repositories.competitors.get(ORG_B, SHOP) is None
    assert await repositories.competitors.get_many(ORG_A, [SHOP, RIVAL]) == {SHOP: shop}
    assert await repositories.competitors.get_many(ORG_A, []) == {}


async def test_competitor_names_are_unique_per_organisation(repositories: Repositories) -> None:
    await repositories.competitors.create(competitor("Shop"))
    with pytest.raises(AlreadyExists) as taken:
        await repositories.competitors.create(competitor("SHOP", RIVAL))
    assert taken.value.field == "name"
    await repositories.competitors.create(competitor("Shop", SHOP, ORG_B))
    rival = competitor("Rival", RIVAL)
    await repositories.competitors.create(rival)
    with pytest.raises(AlreadyExists):
        await repositories.competitors.update(rival, replace(rival, name="shop", revision=2))


async def test_competitor_updates_check_the_revision(repositories: Repositories) -> None:
    shop = competitor("Shop")
    await repositories.competitors.create(shop)
    renamed = replace(shop, name="Renamed", default_currency="USD", revision=2, update_time=START + timedelta(1))
    await repositories.competitors.update(shop, renamed)
    assert await repositories.competitors.get(ORG_A, SHOP) == renamed
    with pytest.raises(Conflict):
        await repositories.competitors.update(shop, replace(shop, name="Stale", revision=2))
    assert await repositories.competitors.get(ORG_A, SHOP) == renamed


async def test_competitors_are_found_by_name_page_by_page(repositories: Repositories) -> None:
    names = ["delta", "Alpha", "charlie", "Bravo", "echo"]
    for number, name in enumerate(names):
        await repositories.competitors.create(competitor(name, f"cmp_{number:026d}"))
    await repositories.competitors.create(competitor("Aardvark", SHOP, ORG_B))
    first = await repositories.competitors.find(ORG_A, after=None, limit=2)
    assert [c.name for c in first] == ["Alpha", "Bravo"]
    rest = await repositories.competitors.find(
        ORG_A, after=CompetitorPosition(first[-1].name_key, first[-1].id), limit=10
    )
    assert [c.name for c in rest] == ["charlie", "delta", "echo"]


async def test_a_competitor_with_offers_is_not_deleted(repositories: Repositories) -> None:
    await repositories.competitors.create(competitor("Shop"))
    await store_offers(repositories, offer(1))
    with pytest.raises(FailedPrecondition):
        await repositories.competitors.delete(ORG_A, SHOP)
    assert await repositories.competitors.get(ORG_A, SHOP) is not None
    await repositories.offers.delete(ORG_A, offer(1).id)
    await repositories.competitors.delete(ORG_A, SHOP)
    assert await repositories.competitors.get(ORG_A, SHOP) is None
    await repositories.competitors.delete(ORG_A, SHOP)


# --- offers ---------------------------------------------------------------------------------------


async def test_a_stored_offer_reads_back_equal_by_id_and_by_key(repositories: Repositories) -> None:
    stored = offer(1, title="Tasse „Groß“ 東京", match_method=MatchMethod.FUZZY, match_confidence=0.73)
    long_url = offer(2, url="https://shop-one.example/" + "x" * 2000 + "?q=ü")
    await store_offers(repositories, stored, long_url, offer(1, organization_id=ORG_B))
    assert await repositories.offers.get(ORG_A, stored.id) == stored
    assert await repositories.offers.get(ORG_B, stored.id) is None
    by_key = await repositories.offers.get_by_keys(ORG_A, [stored.key, long_url.key, (RIVAL, stored.url)])
    assert by_key == {stored.key: stored, long_url.key: long_url}
    assert await repositories.offers.get_by_keys(ORG_A, []) == {}


async def test_offers_are_unique_by_key_and_updates_check_the_revision(repositories: Repositories) -> None:
    original = offer(1)
    await store_offers(repositories, original)
    with pytest.raises(Conflict):
        await store_offers(repositories, replace(original, id="off_" + "9" * 26))
    relinked = replace(original, sku="SKU-2", revision=2, update_time=START + timedelta(1))
    await repositories.offers.write([OfferChange(original, relinked)])
    assert await repositories.offers.get(ORG_A, original.id) == relinked
    with pytest.raises(Conflict):
        await repositories.offers.write([OfferChange(original, replace(original, title="Stale", revision=2))])
    assert await repositories.offers.get(ORG_A, original.id) == relinked


async def test_offers_are_found_by_sku_and_competitor_in_id_order(repositories: Repositories) -> None:
    offers = [
        offer(1, "A"),
        offer(2, "B"),
        offer(3, "A", RIVAL),
        offer(4, "A"),
        offer(5, "B", RIVAL),
        offer(6, "A", organization_id=ORG_B),
    ]
    await store_offers(repositories, *offers)

    async def ids(**query: Any) -> list[int]:
        found = await repositories.offers.find(
            ORG_A, **{"sku": None, "competitor_id": None, "after_id": "", **query}, limit=10
        )
        return [int(o.id[-3:]) for o in found]

    assert await ids() == [1, 2, 3, 4, 5]
    assert await ids(sku="A") == [1, 3, 4]
    assert await ids(competitor_id=RIVAL) == [3, 5]
    assert await ids(sku="A", competitor_id=SHOP) == [1, 4]
    assert await ids(after_id=offers[2].id) == [4, 5]


async def test_deleting_an_offer_deletes_its_observations(repositories: Repositories) -> None:
    kept, gone = offer(1), offer(2)
    await store_offers(repositories, kept, gone)
    tracks = await repositories.observations.tracks(ORG_A, [kept.id, gone.id])
    rows = [seen(kept.id, 0), seen(gone.id, 0)]
    await repositories.observations.write(ORG_A, rows, [tracked(tracks[o.offer_id], o, 0, None) for o in rows])
    assert not await repositories.offers.delete(ORG_B, gone.id)
    assert await repositories.offers.delete(ORG_A, gone.id)
    assert not await repositories.offers.delete(ORG_A, gone.id)
    assert await repositories.offers.get(ORG_A, gone.id) is None
    assert await repositories.observations.find(gone.id, start=None, end=None, before=None, limit=10) == []
    assert len(await repositories.observations.find(kept.id, start=None, end=None, before=None, limit=10)) == 1


# --- observations and tracks ----------------------------------------------------------------------


async def test_a_new_offer_has_an_empty_track_of_its_organisation(repositories: Repositories) -> None:
    await store_offers(repositories, offer(1), offer(2, organization_id=ORG_B))
    tracks = await repositories.observations.tracks(ORG_A, [offer(1).id, offer(2, organization_id=ORG_B).id])
    assert tracks == {offer(1).id: Track(offer(1).id, SHOP, None, None, 0)}
    assert await repositories.observations.tracks(ORG_A, []) == {}


async def test_rows_and_tracks_read_back_equal(repositories: Repositories) -> None:
    mug = offer(1)
    await store_offers(repositories, mug)
    (before,) = (await repositories.observations.tracks(ORG_A, [mug.id])).values()
    rows = [
        seen(
            mug.id, 0, price=domain.MoneyInput(1980, "JPY"), extraction_method=ExtractionMethod.JSON_LD, confidence=0.9
        ),
        seen(mug.id, 10, 1234, price=domain.MoneyInput(1234, "BHD"), in_stock=False),
        seen(mug.id, 20, 1, quarantined=True, quarantine_reason="Preis „fällt“ 99 %"),
    ]
    usable = UsablePrice(Money(1234, "BHD"), False, START + timedelta(minutes=15))
    change = tracked(before, rows[2], 25, usable)
    await repositories.observations.write(ORG_A, rows, [change])
    assert await repositories.observations.tracks(ORG_A, [mug.id]) == {mug.id: change.after}
    found = await repositories.observations.find(mug.id, start=None, end=None, before=None, limit=10)
    assert found == rows[::-1]


async def test_a_stale_track_is_a_conflict(repositories: Repositories) -> None:
    mug = offer(1)
    await store_offers(repositories, mug)
    (before,) = (await repositories.observations.tracks(ORG_A, [mug.id])).values()
    first = tracked(before, seen(mug.id, 0), 0, None)
    await repositories.observations.write(ORG_A, [seen(mug.id, 0)], [first])
    with pytest.raises(Conflict):
        await repositories.observations.write(ORG_A, [], [tracked(before, seen(mug.id, 5, 5), 5, None)])
    with pytest.raises(Conflict):
        await repositories.observations.write(ORG_B, [], [tracked(first.after, seen(mug.id, 5, 5), 5, None)])
    assert await repositories.observations.tracks(ORG_A, [mug.id]) == {mug.id: first.after}


async def test_a_failed_observation_write_on_sqlite_writes_nothing(sqlite_repositories: Repositories) -> None:
    # Only SQLite promises all-or-nothing for a write that fails midway (see ObservationRepository.write).
    repositories = sqlite_repositories
    mug, plate = offer(1), offer(2)
    await store_offers(repositories, mug, plate)
    tracks = await repositories.observations.tracks(ORG_A, [mug.id, plate.id])
    stale = replace(tracks[plate.id], revision=7)
    with pytest.raises(Conflict):
        await repositories.observations.write(
            ORG_A,
            [seen(mug.id, 0), seen(plate.id, 0)],
            [tracked(tracks[mug.id], seen(mug.id, 0), 0, None), tracked(stale, seen(plate.id, 0), 0, None)],
        )
    assert await repositories.observations.tracks(ORG_A, [mug.id, plate.id]) == tracks
    assert await repositories.observations.find(mug.id, start=None, end=None, before=None, limit=10) == []


async def test_rows_in_effect_are_the_newest_at_or_before_each_time(repositories: Repositories) -> None:
    mug, plate = offer(1), offer(2)
    await store_offers(repositories, mug, plate)
    rows = [seen(mug.id, 0, 100), seen(mug.id, 10, 110), seen(mug.id, 20, 120), seen(plate.id, 5, 500)]
    await repositories.observations.write(ORG_A, rows, [])
    found = await repositories.observations.rows_in_effect(
        [(mug.id, at(15)), (mug.id, at(10)), (mug.id, at(-1)), (plate.id, at(30))]
    )
    assert found == {
        (mug.id, at(15)): rows[1],
        (mug.id, at(10)): rows[1],
        (plate.id, at(30)): rows[3],
    }
    assert await repositories.observations.rows_in_effect([]) == {}


async def test_rows_are_found_newest_first_within_bounds(repositories: Repositories) -> None:
    mug = offer(1)
    await store_offers(repositories, mug)
    rows = [seen(mug.id, minute, 1000 + minute) for minute in range(10)]
    await repositories.observations.write(ORG_A, rows, [])

    async def amounts(**bounds: Any) -> list[int]:
        found = await repositories.observations.find(
            mug.id, **{"start": None, "end": None, "before": None, **bounds}, limit=4
        )
        return [o.price.amount_minor for o in found]

    assert await amounts() == [1009, 1008, 1007, 1006]
    assert await amounts(start=at(7)) == [1009, 1008, 1007]
    assert await amounts(end=at(3)) == [1002, 1001, 1000]
    assert await amounts(before=at(6), start=at(4)) == [1005, 1004]
    assert await amounts(before=at(8), end=at(5)) == [1004, 1003, 1002, 1001]


# --- market ---------------------------------------------------------------------------------------


async def priced(repositories: Repositories, offers: list[Offer], amounts: list[int | None]) -> None:
    await store_offers(repositories, *offers)
    tracks = await repositories.observations.tracks(ORG_A, [o.id for o in offers])
    changes = []
    for item, amount in zip(offers, amounts, strict=True):
        if amount is not None:
            row = seen(item.id, 0, amount)
            changes.append(
                tracked(tracks[item.id], row, 30, UsablePrice(row.price, True, START + timedelta(minutes=30)))
            )
    await repositories.observations.write(ORG_A, [], changes)


async def test_market_entries_of_given_skus(repositories: Repositories) -> None:
    offers = [offer(1, "A"), offer(2, "A", RIVAL), offer(3, "B"), offer(4, "C")]
    await priced(repositories, offers, [1500, 1400, None, 900])
    await store_offers(repositories, offer(9, "A", organization_id=ORG_B))
    entries = await repositories.market.for_skus(ORG_A, ["A", "B", "Z"], None)
    assert sorted((e.sku, e.offer_id[-1], e.usable.price.amount_minor if e.usable else None) for e in entries) == [
        ("A", "1", 1500),
        ("A", "2", 1400),
        ("B", "3", None),
    ]
    (rival,) = await repositories.market.for_skus(ORG_A, ["A"], [RIVAL])
    assert rival.usable == UsablePrice(Money(1400, "EUR"), True, START + timedelta(minutes=30))
    assert await repositories.market.for_skus(ORG_A, [], None) == []


async def test_market_entries_page_by_whole_skus(repositories: Repositories) -> None:
    offers = [offer(i, f"S-{i // 3:02d}", SHOP if i % 2 else RIVAL) for i in range(1, 12)]
    await priced(repositories, offers, [100 + i for i in range(11)])
    await store_offers(repositories, offer(50, "S-00", organization_id=ORG_B))
    first = await repositories.market.after_sku(ORG_A, "", 2, None)
    assert sorted({e.sku for e in first}) == ["S-00", "S-01"]
    assert len(first) == 5
    rest = await repositories.market.after_sku(ORG_A, "S-01", 10, None)
    assert [e.sku for e in rest] == ["S-02"] * 3 + ["S-03"] * 3
    shop_only = await repositories.market.after_sku(ORG_A, "", 10, [SHOP])
    assert all(e.competitor_id == SHOP for e in shop_only)
    assert len(shop_only) == 6
    assert await repositories.market.after_sku(ORG_A, "S-03", 10, None) == []


# --- bulk through the use cases -------------------------------------------------------------------


async def test_bulk_offers_and_observations_are_idempotent(repositories: Repositories, engine: Any) -> None:
    rows = bulk_rows(engine.kind)
    cases = use_cases(repositories, FakeClock())
    manager = principal()
    shop = await cases.competitors.create_competitor(manager, competitor_draft("Shop"))
    drafts = [offer_draft(shop.id, f"p/{i}", f"SKU-{i:05d}") for i in range(rows)]
    created = await cases.offers.upsert_offers(manager, drafts)
    assert (created.created, created.errors) == (rows, [])
    assert (await cases.offers.upsert_offers(manager, drafts)).unchanged == rows
    ids = [o.id for o in created.offers]
    batch = [observation(offer_id, 0, 1000 + i) for i, offer_id in enumerate(ids)]
    first = await cases.observations.record(manager, batch)
    assert (first.created, first.unchanged, first.errors) == (rows, 0, [])
    again = await cases.observations.record(manager, batch)
    assert (again.created, again.unchanged) == (0, rows)
    repeat = await cases.observations.record(
        manager, [observation(offer_id, 60, 1000 + i) for i, offer_id in enumerate(ids)]
    )
    assert (repeat.created, repeat.unchanged) == (0, rows)
    batch[-1] = observation(ids[-1], 1, -1)
    refused = await cases.observations.record(manager, [observation(o, 120, 1) for o in ids[:-1]] + [batch[-1]])
    assert [e.row for e in refused.errors] == [rows - 1]
    page = await cases.market.list_market_prices(
        manager, skus=[], competitor_ids=[], page_size_requested=1000, page_token=""
    )
    assert len(page.items) == min(rows, 1000)
    market = page.items[-1]
    assert [(p.price.amount_minor, p.observe_time) for p in market.prices] == [
        (1000 + len(page.items) - 1, START + timedelta(minutes=60))
    ]


# --- review items ---------------------------------------------------------------------------------


def sighting(number: int, competitor_id: str = SHOP, **fields: Any) -> domain.Sighting:
    values: dict[str, Any] = {
        "url": f"https://shop-one.example/p/{number}",
        "fetch_time": START,
        "title": "Wasserkocher „Edelstahl“ 1,7 l",
        "brand": "Boilex",
        "gtin": "4006381333931",
        "mpn": "BX-17",
        "image_url": "https://cdn.shop-one.example/bx17.jpg",
        "category_id": "cat_kettles",
        "price": domain.MoneyInput(2999, "EUR"),
        "in_stock": True,
        "extraction_method": ExtractionMethod.JSON_LD,
        "confidence": 0.95,
    }
    values.update(fields)
    return domain.validate_sighting(
        domain.SightingDraft(**values), now=START + timedelta(days=1), default_currency="EUR"
    )


def review_item(number: int, competitor_id: str = SHOP, organization_id: str = ORG_A, **fields: Any) -> ReviewItem:
    candidates = (
        ReviewCandidate("SKU-1", 0.87, MatchMethod.FUZZY, "Boilex kettle 1.7 l", "Boilex"),
        ReviewCandidate("SKU-2", 0.61, MatchMethod.FUZZY, "Boilex kettle 2 l", "Boilex"),
    )
    item = domain.new_review_item(
        organization_id,
        f"rvw_{organization_id[-1]}{number:025d}",
        competitor_id,
        sighting(number, competitor_id),
        source_id="src_1",
        crawl_job_id="job_1",
        candidates=candidates,
        now=START,
    )
    return replace(item, **fields)


async def test_a_stored_review_item_reads_back_equal_by_id_and_by_key(repositories: Repositories) -> None:
    pending = review_item(1)
    bare = review_item(
        2,
        sighting=sighting(2, price=None, in_stock=None, extraction_method=None, confidence=0.0, title="Tasse 東京"),
        candidates=(),
        state=ReviewState.UNMATCHED,
        rejected_skus=("SKU-7", "SKU-9"),
    )
    quarantined = review_item(
        3, sighting=sighting(3, quarantined=True, quarantine_reason="every product shows €1", in_stock=False)
    )
    other_org = review_item(1, organization_id=ORG_B)
    await repositories.reviews.write([ReviewChange(None, item) for item in (pending, bare, quarantined, other_org)])
    assert await repositories.reviews.get(ORG_A, pending.id) == pending
    assert await repositories.reviews.get(ORG_A, bare.id) == bare
    assert await repositories.reviews.get(ORG_B, pending.id) is None
    by_key = await repositories.reviews.get_by_keys(ORG_A, [pending.key, quarantined.key, (RIVAL, pending.key[1])])
    assert by_key == {pending.key: pending, quarantined.key: quarantined}
    assert await repositories.reviews.get_by_keys(ORG_A, []) == {}


async def test_review_items_are_unique_by_key_and_changes_check_the_revision(repositories: Repositories) -> None:
    original = review_item(1)
    await repositories.reviews.write([ReviewChange(None, original)])
    with pytest.raises(Conflict):
        await repositories.reviews.write([ReviewChange(None, replace(original, id="rvw_" + "9" * 26))])
    matched = domain.matched_item(original, None, sku="SKU-1", offer_id="off_" + "1" * 26, now=START + timedelta(1))
    await repositories.reviews.write([ReviewChange(original, matched)])
    assert await repositories.reviews.get(ORG_A, original.id) == matched
    stale = domain.rejected_item(original, "", now=START + timedelta(2))
    with pytest.raises(Conflict):
        await repositories.reviews.write([ReviewChange(original, stale)])
    assert await repositories.reviews.get(ORG_A, original.id) == matched


async def test_review_items_are_found_by_competitor_and_state_in_id_order(repositories: Repositories) -> None:
    items = [
        review_item(1),
        review_item(2, RIVAL),
        review_item(3, state=ReviewState.REJECTED, candidates=()),
        review_item(4),
        review_item(5, RIVAL, state=ReviewState.UNMATCHED, candidates=()),
        review_item(6, organization_id=ORG_B),
    ]
    await repositories.reviews.write([ReviewChange(None, item) for item in items])

    async def numbers(**query: Any) -> list[int]:
        found = await repositories.reviews.find(
            ORG_A, **{"competitor_id": None, "state": None, "after_id": "", "limit": 10, **query}
        )
        return [int(item.id[-3:]) for item in found]

    assert await numbers() == [1, 2, 3, 4, 5]
    assert await numbers(state=ReviewState.PENDING) == [1, 2, 4]
    assert await numbers(competitor_id=RIVAL) == [2, 5]
    assert await numbers(competitor_id=SHOP, state=ReviewState.PENDING) == [1, 4]
    assert await numbers(after_id=items[1].id, limit=2) == [3, 4]


async def test_deleting_a_competitor_deletes_its_review_items(repositories: Repositories) -> None:
    await repositories.competitors.create(competitor("Shop"))
    await repositories.competitors.create(competitor("Rival", RIVAL))
    await repositories.reviews.write([ReviewChange(None, review_item(1)), ReviewChange(None, review_item(2, RIVAL))])
    await repositories.competitors.delete(ORG_A, SHOP)
    assert await repositories.reviews.get(ORG_A, review_item(1).id) is None
    assert await repositories.reviews.get(ORG_A, review_item(2, RIVAL).id) == review_item(2, RIVAL)


async def test_offers_are_read_by_ids_of_their_organisation(repositories: Repositories) -> None:
    mine, theirs = offer(1), offer(2, organization_id=ORG_B)
    await store_offers(repositories, mine, offer(3), theirs)
    assert await repositories.offers.get_many(ORG_A, [mine.id, theirs.id, "off_" + "7" * 26]) == {mine.id: mine}
    assert await repositories.offers.get_many(ORG_A, []) == {}
