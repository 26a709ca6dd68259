"""Competitor use cases on a real SQLite file: roles, tenancy, idempotence, all or nothing, market prices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from runtime.auth import Principal, Role
from runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from runtime.money import Money
from services.competitor.domain import CompetitorDraft, MoneyInput, Offer, SkuMarket
from services.competitor.tests.conftest import UseCases
from services.competitor.tests.support import (
    ORG_B,
    START,
    competitor_draft,
    observation,
    offer_draft,
    principal,
)
from services.competitor.use_cases import MAX_BULK_ROWS, MAX_MARKET_SKUS

MANAGER = principal()
VIEWER = principal(Role.VIEWER, subject="usr_viewer")
ANALYST = principal(Role.ANALYST, subject="usr_analyst")
OTHER_ORG = principal(organization_id=ORG_B, subject="usr_b")


@dataclass
class Seeded:
    shop: str
    rival: str
    mug: Offer
    mug_at_rival: Offer
    plate: Offer


@pytest.fixture
async def seeded(cases: UseCases) -> Seeded:
    shop = await cases.competitors.create_competitor(MANAGER, competitor_draft("Shop One"))
    rival = await cases.competitors.create_competitor(
        MANAGER, competitor_draft("Rival", website="https://rival.example", default_currency="EUR")
    )
    result = await cases.offers.upsert_offers(
        MANAGER,
        [
            offer_draft(shop.id, "mug", "MUG-1"),
            offer_draft(rival.id, "mug", "MUG-1"),
            offer_draft(shop.id, "plate", "PLATE-1"),
        ],
    )
    assert result.errors == []
    mug, mug_at_rival, plate = result.offers
    return Seeded(shop.id, rival.id, mug, mug_at_rival, plate)


async def market(
    cases: UseCases, *skus: str, who: Principal = MANAGER, competitors: tuple[str, ...] = ()
) -> list[SkuMarket]:
    page = await cases.market.list_market_prices(
        who, skus=list(skus), competitor_ids=list(competitors), page_size_requested=0, page_token=""
    )
    return page.items


def prices(markets: list[SkuMarket]) -> dict[str, list[tuple[str, int]]]:
    return {m.sku: [(p.offer_id, p.price.amount_minor) for p in m.prices] for m in markets}


# --- roles and tenancy ----------------------------------------------------------------------------

WRITES: dict[str, Callable[[UseCases, Seeded, Principal], Awaitable[object]]] = {
    "create competitor": lambda c, s, who: c.competitors.create_competitor(who, competitor_draft("New")),
    "update competitor": lambda c, s, who: c.competitors.update_competitor(
        who, s.shop, CompetitorDraft(name="Renamed"), ["name"]
    ),
    "delete competitor": lambda c, s, who: c.competitors.delete_competitor(who, s.shop),
    "upsert offers": lambda c, s, who: c.offers.upsert_offers(who, [offer_draft(s.shop, "new", "NEW-1")]),
    "import offers": lambda c, s, who: c.offers.import_csv(
        who, f"competitor_id,url,sku\n{s.shop},https://x.example/n,NEW-1\n".encode()
    ),
    "delete offer": lambda c, s, who: c.offers.delete_offer(who, s.mug.id),
    "record observations": lambda c, s, who: c.observations.record(who, [observation(s.mug.id, 0)]),
    "import observations": lambda c, s, who: c.observations.import_csv(
        who, f"competitor_id,url,observe_time,price,in_stock\n{s.shop},{s.mug.url},2026-03-01T09:00:00Z,1,1\n".encode()
    ),
}


@pytest.mark.parametrize("write", WRITES, ids=list(WRITES))
@pytest.mark.parametrize("who", [VIEWER, ANALYST], ids=["viewer", "analyst"])
async def test_writes_need_the_pricing_manager_role(
    cases: UseCases, seeded: Seeded, write: str, who: Principal
) -> None:
    with pytest.raises(PermissionDenied, match="pricing_manager"):
        await WRITES[write](cases, seeded, who)
    listed = await cases.competitors.list_competitors(VIEWER, page_size_requested=0, page_token="")
    assert [c.name for c in listed.items] == ["Rival", "Shop One"]
    offers = await cases.offers.list_offers(VIEWER, sku="", competitor_id="", page_size_requested=0, page_token="")
    assert len(offers.items) == 3
    assert prices(await market(cases, "MUG-1", who=VIEWER)) == {"MUG-1": []}


async def test_viewers_can_read_everything(cases: UseCases, seeded: Seeded) -> None:
    await cases.observations.record(MANAGER, [observation(seeded.mug.id, 0)])
    assert (await cases.competitors.get_competitor(VIEWER, seeded.shop)).name == "Shop One"
    assert (await cases.offers.get_offer(VIEWER, seeded.mug.id)).sku == "MUG-1"
    page = await cases.observations.list_observations(
        VIEWER, offer_id=seeded.mug.id, start=None, end=None, page_size_requested=0, page_token=""
    )
    assert len(page.items) == 1
    assert prices(await market(cases, "MUG-1", who=VIEWER)) == {"MUG-1": [(seeded.mug.id, 1999)]}


OTHER_ORG_CALLS: dict[str, Callable[[UseCases, Seeded], Awaitable[object]]] = {
    "get competitor": lambda c, s: c.competitors.get_competitor(OTHER_ORG, s.shop),
    "update competitor": lambda c, s: c.competitors.update_competitor(
        OTHER_ORG, s.shop, CompetitorDraft(name="Mine"), ["name"]
    ),
    "delete competitor": lambda c, s: c.competitors.delete_competitor(OTHER_ORG, s.shop),
    "get offer": lambda c, s: c.offers.get_offer(OTHER_ORG, s.mug.id),
    "delete offer": lambda c, s: c.offers.delete_offer(OTHER_ORG, s.mug.id),
    "list observations": lambda c, s: c.observations.list_observations(
        OTHER_ORG, offer_id=s.mug.id, start=None, end=None, page_size_requested=0, page_token=""
    ),
}


@pytest.mark.parametrize("call", OTHER_ORG_CALLS, ids=list(OTHER_ORG_CALLS))
async def test_another_organisations_ids_are_not_found(cases: UseCases, seeded: Seeded, call: str) -> None:
    with pytest.raises(NotFound):
        await OTHER_ORG_CALLS[call](cases, seeded)
    assert (await cases.competitors.get_competitor(MANAGER, seeded.shop)).name == "Shop One"
    assert (await cases.offers.get_offer(MANAGER, seeded.mug.id)).sku == "MUG-1"


async def test_another_organisation_cannot_use_or_see_our_competitors_and_offers(
    cases: UseCases, seeded: Seeded
) -> None:
    await cases.observations.record(MANAGER, [observation(seeded.mug.id, 0)])
    offers = await cases.offers.upsert_offers(OTHER_ORG, [offer_draft(seeded.shop, "mine", "MUG-1")])
    assert [(e.row, e.field) for e in offers.errors] == [(0, "competitor_id")]
    recorded = await cases.observations.record(OTHER_ORG, [observation(seeded.mug.id, 5, 1)])
    assert [(e.row, e.field) for e in recorded.errors] == [(0, "offer_id")]
    assert prices(await market(cases, "MUG-1", who=OTHER_ORG)) == {"MUG-1": []}
    everything = await cases.market.list_market_prices(
        OTHER_ORG, skus=[], competitor_ids=[], page_size_requested=0, page_token=""
    )
    assert everything.items == []
    listed = await cases.competitors.list_competitors(OTHER_ORG, page_size_requested=0, page_token="")
    assert listed.items == []
    assert prices(await market(cases, "MUG-1")) == {"MUG-1": [(seeded.mug.id, 1999)]}


# --- competitors ----------------------------------------------------------------------------------


async def test_competitor_names_are_unique_per_organisation(cases: UseCases, seeded: Seeded) -> None:
    with pytest.raises(AlreadyExists) as same:
        await cases.competitors.create_competitor(MANAGER, competitor_draft("SHOP ONE"))
    assert same.value.field == "name"
    with pytest.raises(AlreadyExists):
        await cases.competitors.update_competitor(MANAGER, seeded.rival, CompetitorDraft(name="shop one"), ["name"])
    theirs = await cases.competitors.create_competitor(OTHER_ORG, competitor_draft("Shop One"))
    assert theirs.name == "Shop One"


async def test_competitors_are_updated_by_mask_and_listed_by_name(cases: UseCases, seeded: Seeded) -> None:
    updated = await cases.competitors.update_competitor(
        MANAGER, seeded.rival, CompetitorDraft(name="Ärger Markt", website="", default_currency="CHF"), ["*"]
    )
    assert (updated.name, updated.website, updated.default_currency, updated.revision) == ("Ärger Markt", "", "CHF", 2)
    assert updated.update_time > updated.create_time
    same = await cases.competitors.update_competitor(
        MANAGER, seeded.rival, CompetitorDraft(name="Ärger Markt"), ["name"]
    )
    assert same == updated
    for name in ("beta", "Alpha", "gamma"):
        await cases.competitors.create_competitor(MANAGER, competitor_draft(name))
    names: list[str] = []
    token = ""
    while True:
        page = await cases.competitors.list_competitors(MANAGER, page_size_requested=2, page_token=token)
        names += [c.name for c in page.items]
        token = page.next_page_token
        if not token:
            break
    assert names == ["Alpha", "beta", "gamma", "Shop One", "Ärger Markt"]


async def test_a_competitor_with_offers_cannot_be_deleted(cases: UseCases, seeded: Seeded) -> None:
    with pytest.raises(FailedPrecondition, match="offers"):
        await cases.competitors.delete_competitor(MANAGER, seeded.rival)
    await cases.offers.delete_offer(MANAGER, seeded.mug_at_rival.id)
    await cases.competitors.delete_competitor(MANAGER, seeded.rival)
    with pytest.raises(NotFound):
        await cases.competitors.get_competitor(MANAGER, seeded.rival)


async def test_malformed_ids_are_invalid_arguments(cases: UseCases) -> None:
    with pytest.raises(InvalidArgument):
        await cases.competitors.get_competitor(MANAGER, "x" * 10_000)
    with pytest.raises(InvalidArgument):
        await cases.offers.get_offer(MANAGER, "cmp_" + "0" * 26)


# --- offers ---------------------------------------------------------------------------------------


async def test_offer_upserts_are_idempotent_on_competitor_and_url(cases: UseCases, seeded: Seeded) -> None:
    rows = [offer_draft(seeded.shop, f"item/{i}", f"SKU-{i}") for i in range(5)]
    first = await cases.offers.upsert_offers(MANAGER, rows)
    assert (first.created, first.updated, first.unchanged, first.errors) == (5, 0, 0, [])
    again = await cases.offers.upsert_offers(MANAGER, rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert again.offers == first.offers
    rows[1] = offer_draft(seeded.shop, "ITEM/1", "SKU-1", url="HTTPS://SHOP-ONE.EXAMPLE/item/1#top")
    rows[2] = offer_draft(seeded.shop, "item/2", "SKU-9")
    changed = await cases.offers.upsert_offers(MANAGER, rows)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 4)
    assert changed.offers[1] == first.offers[1]
    assert (changed.offers[2].id, changed.offers[2].sku, changed.offers[2].revision) == (first.offers[2].id, "SKU-9", 2)
    by_id = await cases.offers.upsert_offers(
        MANAGER, [offer_draft(seeded.shop, "item/0", "SKU-0", id=first.offers[0].id)]
    )
    assert by_id.unchanged == 1


async def test_an_offer_batch_with_one_bad_row_writes_nothing(cases: UseCases, seeded: Seeded) -> None:
    rows = [offer_draft(seeded.shop, f"ok/{i}", f"OK-{i}") for i in range(20)]
    rows[3] = offer_draft(seeded.shop, "ok/3", "OK-3", url="javascript:alert(1)")
    rows[7] = offer_draft("cmp_" + "9" * 26, "ok/7", "OK-7")
    rows[9] = offer_draft(seeded.shop, "ok/1", "OK-9")
    rows[11] = offer_draft(seeded.shop, "ok/11", "bad sku")
    rows[12] = offer_draft(seeded.shop, "ok/12", "OK-12", id="off_" + "7" * 26)
    result = await cases.offers.upsert_offers(MANAGER, rows)
    assert [(e.row, e.field) for e in result.errors] == [(3, "url"), (7, "competitor_id"), (9, "url"), (11, "sku")]
    assert "more than once" in result.errors[2].message
    assert result.errors[2].key == f"{seeded.shop}/https://shop-one.example/ok/1"
    assert (result.created, result.offers) == (0, [])
    new_id = await cases.offers.upsert_offers(MANAGER, [rows[12]])
    assert [(e.row, e.field) for e in new_id.errors] == [(0, "id")]
    listed = await cases.offers.list_offers(MANAGER, sku="", competitor_id="", page_size_requested=0, page_token="")
    assert len(listed.items) == 3


async def test_offer_batches_are_bounded(cases: UseCases, seeded: Seeded) -> None:
    with pytest.raises(InvalidArgument, match="10,000"):
        await cases.offers.upsert_offers(MANAGER, [offer_draft(seeded.shop)] * (MAX_BULK_ROWS + 1))


async def test_offers_are_listed_by_sku_and_competitor_page_by_page(cases: UseCases, seeded: Seeded) -> None:
    await cases.offers.upsert_offers(MANAGER, [offer_draft(seeded.rival, f"m/{i}", "MUG-1") for i in range(4)])
    seen: list[str] = []
    token = ""
    while True:
        page = await cases.offers.list_offers(
            MANAGER, sku="MUG-1", competitor_id=seeded.rival, page_size_requested=2, page_token=token
        )
        seen += [offer.id for offer in page.items]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 5
    assert seen == sorted(seen)
    first = await cases.offers.list_offers(MANAGER, sku="MUG-1", competitor_id="", page_size_requested=1, page_token="")
    with pytest.raises(InvalidArgument, match="different filter"):
        await cases.offers.list_offers(
            MANAGER, sku="PLATE-1", competitor_id="", page_size_requested=1, page_token=first.next_page_token
        )


async def test_offers_import_from_csv_all_or_nothing(cases: UseCases, seeded: Seeded) -> None:
    good = f"competitor_id,url,sku,title\n{seeded.shop},https://shop-one.example/c/1,C-1,Cup\n{seeded.rival},https://rival.example/c/1,C-1,\n"
    first = await cases.offers.import_csv(MANAGER, good.encode())
    assert (first.created, first.updated, first.unchanged, first.errors) == (2, 0, 0, [])
    assert (await cases.offers.import_csv(MANAGER, good.encode())).unchanged == 2
    bad = good + f"{seeded.shop},file://files.example/catalog.html,C-2,x\n{seeded.shop},https://shop-one.example/c/3\n"
    refused = await cases.offers.import_csv(MANAGER, bad.encode())
    assert [(e.row, e.field) for e in refused.errors] == [(2, "url"), (3, "")]
    with pytest.raises(InvalidArgument, match="required columns"):
        await cases.offers.import_csv(MANAGER, b"competitor_id,url\n")


# --- observations ---------------------------------------------------------------------------------


async def test_recording_is_idempotent_and_only_changes_are_stored(cases: UseCases, seeded: Seeded) -> None:
    mug = seeded.mug.id
    batch = [observation(mug, minute, 1999 if minute < 30 else 1899) for minute in range(0, 60, 5)]
    first = await cases.observations.record(MANAGER, batch)
    assert (first.created, first.unchanged, first.errors) == (2, 10, [])
    again = await cases.observations.record(MANAGER, batch)
    assert (again.created, again.unchanged) == (0, 12)
    rows = await cases.observations.list_observations(
        MANAGER, offer_id=mug, start=None, end=None, page_size_requested=0, page_token=""
    )
    assert [(o.observe_time, o.price.amount_minor) for o in rows.items] == [
        (START + timedelta(minutes=30), 1899),
        (START, 1999),
    ]
    (mug_market,) = await market(cases, "MUG-1")
    assert [(p.offer_id, p.price, p.observe_time) for p in mug_market.prices] == [
        (mug, Money(1899, "EUR"), START + timedelta(minutes=55))
    ]


async def test_the_latest_observation_wins_whatever_the_order_of_calls(cases: UseCases, seeded: Seeded) -> None:
    mug = seeded.mug.id
    await cases.observations.record(MANAGER, [observation(mug, 60, 1500)])
    await cases.observations.record(MANAGER, [observation(mug, 30, 1700), observation(mug, 0, 1800)])
    assert prices(await market(cases, "MUG-1")) == {"MUG-1": [(mug, 1500)]}
    rows = await cases.observations.list_observations(
        MANAGER, offer_id=mug, start=None, end=None, page_size_requested=0, page_token=""
    )
    assert [o.price.amount_minor for o in rows.items] == [1500, 1700, 1800]


async def test_quarantined_observations_never_reach_market_prices(cases: UseCases, seeded: Seeded) -> None:
    mug, rival = seeded.mug.id, seeded.mug_at_rival.id
    suspicious = {"quarantined": True, "quarantine_reason": "price fell 95 %"}
    await cases.observations.record(
        MANAGER,
        [observation(mug, 0, 1999), observation(mug, 10, 99, **suspicious), observation(rival, 0, 5, **suspicious)],
    )
    (mug_market,) = await market(cases, "MUG-1")
    assert [(p.offer_id, p.price.amount_minor, p.observe_time) for p in mug_market.prices] == [(mug, 1999, START)]
    rows = await cases.observations.list_observations(
        MANAGER, offer_id=mug, start=None, end=None, page_size_requested=0, page_token=""
    )
    assert [(o.price.amount_minor, o.quarantined, o.quarantine_reason) for o in rows.items] == [
        (99, True, "price fell 95 %"),
        (1999, False, ""),
    ]
    await cases.observations.record(MANAGER, [observation(rival, 20, 2100)])
    assert prices(await market(cases, "MUG-1")) == {"MUG-1": [(mug, 1999), (rival, 2100)]}


async def test_an_observation_batch_with_one_bad_row_writes_nothing(cases: UseCases, seeded: Seeded) -> None:
    mug = seeded.mug.id
    batch = [observation(mug, minute, 1000 + minute) for minute in range(10)]
    batch[2] = observation(mug, 2, -5)
    batch[4] = observation("off_" + "5" * 26, 4)
    batch[6] = observation(mug, 1, 1001)
    batch[7] = observation(mug, 7, price=MoneyInput(100, "XYZ"))
    batch[8] = observation(mug, 60 * 48)
    result = await cases.observations.record(MANAGER, batch)
    assert [(e.row, e.field) for e in result.errors] == [
        (2, "price"),
        (4, "offer_id"),
        (6, "observe_time"),
        (7, "price.currency"),
        (8, "observe_time"),
    ]
    assert "more than once" in result.errors[2].message
    assert "future" in result.errors[4].message
    assert (result.created, result.unchanged) == (0, 0)
    assert prices(await market(cases, "MUG-1")) == {"MUG-1": []}


async def test_a_different_price_for_a_recorded_key_is_refused(cases: UseCases, seeded: Seeded) -> None:
    await cases.observations.record(MANAGER, [observation(seeded.mug.id, 0, 1999), observation(seeded.plate.id, 0)])
    result = await cases.observations.record(
        MANAGER, [observation(seeded.plate.id, 10, 1), observation(seeded.mug.id, 0, 1499)]
    )
    assert [(e.row, e.field) for e in result.errors] == [(1, "observe_time")]
    assert prices(await market(cases, "PLATE-1")) == {"PLATE-1": [(seeded.plate.id, 1999)]}


async def test_prices_without_currency_are_in_the_competitors_default(cases: UseCases, seeded: Seeded) -> None:
    await cases.competitors.update_competitor(
        MANAGER, seeded.shop, CompetitorDraft(default_currency="JPY"), ["default_currency"]
    )
    await cases.observations.record(MANAGER, [observation(seeded.mug.id, 0, price=MoneyInput(1980, ""))])
    (mug_market,) = await market(cases, "MUG-1")
    assert mug_market.prices[0].price == Money(1980, "JPY")


async def test_observation_batches_are_bounded(cases: UseCases, seeded: Seeded) -> None:
    with pytest.raises(InvalidArgument, match="10,000"):
        await cases.observations.record(MANAGER, [observation(seeded.mug.id, 0)] * (MAX_BULK_ROWS + 1))


async def test_observations_are_listed_newest_first_in_a_window(cases: UseCases, seeded: Seeded) -> None:
    mug = seeded.mug.id
    await cases.observations.record(MANAGER, [observation(mug, minute, 1000 + minute) for minute in range(10)])
    seen: list[int] = []
    token = ""
    while True:
        page = await cases.observations.list_observations(
            MANAGER,
            offer_id=mug,
            start=START + timedelta(minutes=2),
            end=START + timedelta(minutes=8),
            page_size_requested=4,
            page_token=token,
        )
        seen += [o.price.amount_minor for o in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == [1007, 1006, 1005, 1004, 1003, 1002]
    with pytest.raises(InvalidArgument, match="before end_time"):
        await cases.observations.list_observations(
            MANAGER, offer_id=mug, start=START, end=START, page_size_requested=0, page_token=""
        )
    first = await cases.observations.list_observations(
        MANAGER, offer_id=mug, start=None, end=None, page_size_requested=1, page_token=""
    )
    with pytest.raises(InvalidArgument, match="different request"):
        await cases.observations.list_observations(
            MANAGER,
            offer_id=seeded.plate.id,
            start=None,
            end=None,
            page_size_requested=1,
            page_token=first.next_page_token,
        )


async def test_deleting_an_offer_deletes_its_observations(cases: UseCases, seeded: Seeded) -> None:
    await cases.observations.record(MANAGER, [observation(seeded.mug.id, 0)])
    await cases.offers.delete_offer(MANAGER, seeded.mug.id)
    assert prices(await market(cases, "MUG-1")) == {"MUG-1": []}
    with pytest.raises(NotFound):
        await cases.offers.delete_offer(MANAGER, seeded.mug.id)
    recreated = await cases.offers.upsert_offers(MANAGER, [offer_draft(seeded.shop, "mug", "MUG-1")])
    assert recreated.offers[0].id != seeded.mug.id
    page = await cases.observations.list_observations(
        MANAGER, offer_id=recreated.offers[0].id, start=None, end=None, page_size_requested=0, page_token=""
    )
    assert page.items == []


async def test_observations_import_from_csv(cases: UseCases, seeded: Seeded) -> None:
    header = "competitor_id,url,observe_time,price,currency,in_stock\n"
    rows = (
        f"{seeded.shop},{seeded.mug.url},2026-03-01T09:00:00Z,19.99,EUR,true\n"
        f"{seeded.shop},HTTPS://SHOP-ONE.EXAMPLE/mug,2026-03-01T10:00:00+01:00,17.50,,false\n"
        f"{seeded.rival},https://shop-one.example/mug,2026-03-01T09:00:00Z,21.00,EUR,yes\n"
    )
    # The second row is the first row's time in another zone: the same key, another price.
    refused = await cases.observations.import_csv(MANAGER, (header + rows).encode())
    assert [(e.row, e.field) for e in refused.errors] == [(1, "observe_time")]
    assert refused.errors[0].key.startswith(f"{seeded.shop}/HTTPS://SHOP-ONE.EXAMPLE/mug@2026-03-01T10:00:00+01:00")
    fixed = rows.replace("10:00:00+01:00", "11:00:00+01:00")
    result = await cases.observations.import_csv(MANAGER, (header + fixed).encode())
    assert (result.created, result.unchanged, result.errors) == (3, 0, [])
    assert prices(await market(cases, "MUG-1")) == {"MUG-1": [(seeded.mug.id, 1750), (seeded.mug_at_rival.id, 2100)]}
    (mug_market,) = await market(cases, "MUG-1")
    assert not mug_market.prices[0].in_stock
    again = await cases.observations.import_csv(MANAGER, (header + fixed).encode())
    assert (again.created, again.unchanged) == (0, 3)
    unknown = f"{header}{seeded.shop},https://shop-one.example/nope,2026-03-01T09:00:00Z,1.00,EUR,1\n"
    missing = await cases.observations.import_csv(MANAGER, unknown.encode())
    assert [(e.row, e.field) for e in missing.errors] == [(0, "url")]
    decimals = f"{header}{seeded.shop},{seeded.mug.url},2026-03-02T09:00:00Z,1.999,EUR,1\n"
    assert [(e.row, e.field) for e in (await cases.observations.import_csv(MANAGER, decimals.encode())).errors] == [
        (0, "price")
    ]


async def test_business_counters_count_recorded_observations(cases: UseCases, seeded: Seeded) -> None:
    def recorded(outcome: str) -> float:
        labels = {"source": "RecordObservations", "outcome": outcome}
        return REGISTRY.get_sample_value("omnipricex_observations_recorded_total", labels) or 0.0

    created, unchanged = recorded("created"), recorded("unchanged")
    await cases.observations.record(MANAGER, [observation(seeded.mug.id, 0), observation(seeded.mug.id, 5)])
    assert (recorded("created") - created, recorded("unchanged") - unchanged) == (1, 1)


# --- market prices --------------------------------------------------------------------------------


async def test_market_prices_of_given_skus_come_in_request_order(cases: UseCases, seeded: Seeded) -> None:
    await cases.observations.record(
        MANAGER,
        [
            observation(seeded.mug.id, 0, 2100),
            observation(seeded.mug_at_rival.id, 0, 1900, in_stock=False),
            observation(seeded.plate.id, 0, 999),
        ],
    )
    cases.clock.now = START + timedelta(hours=1)
    markets = await market(cases, "NOPE-1", "PLATE-1", "MUG-1")
    assert [m.sku for m in markets] == ["NOPE-1", "PLATE-1", "MUG-1"]
    assert prices(markets) == {
        "NOPE-1": [],
        "PLATE-1": [(seeded.plate.id, 999)],
        "MUG-1": [(seeded.mug_at_rival.id, 1900), (seeded.mug.id, 2100)],
    }
    assert [(p.in_stock, p.age_seconds) for p in markets[2].prices] == [(False, 3600), (True, 3600)]
    only_shop = await market(cases, "MUG-1", competitors=(seeded.shop,))
    assert prices(only_shop) == {"MUG-1": [(seeded.mug.id, 2100)]}


@pytest.mark.parametrize(
    ("skus", "competitors", "field"),
    [
        (["A"] * 2, [], "skus[1]"),
        (["ok", "not ok"], [], "skus[1]"),
        ([f"S-{i}" for i in range(MAX_MARKET_SKUS + 1)], [], "skus"),
        (["A"], ["nope"], "competitor_ids[0]"),
    ],
)
async def test_market_requests_are_checked(
    cases: UseCases, skus: list[str], competitors: list[str], field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await cases.market.list_market_prices(
            VIEWER, skus=skus, competitor_ids=competitors, page_size_requested=0, page_token=""
        )
    assert caught.value.field == field


async def test_every_sku_with_offers_pages_by_sku(cases: UseCases, seeded: Seeded) -> None:
    rows = [offer_draft(seeded.shop, f"s/{i}", f"S-{i:02d}") for i in range(7)]
    rows += [offer_draft(seeded.rival, f"s/{i}", f"S-{i:02d}") for i in range(0, 7, 2)]
    offers = (await cases.offers.upsert_offers(MANAGER, rows)).offers
    await cases.observations.record(MANAGER, [observation(offer.id, 0, 100 + i) for i, offer in enumerate(offers)])
    pages: list[list[str]] = []
    token = ""
    while True:
        page = await cases.market.list_market_prices(
            MANAGER, skus=[], competitor_ids=[], page_size_requested=3, page_token=token
        )
        pages.append([m.sku for m in page.items])
        token = page.next_page_token
        if not token:
            break
    assert pages == [["MUG-1", "PLATE-1", "S-00"], ["S-01", "S-02", "S-03"], ["S-04", "S-05", "S-06"]]
    rival_only = await cases.market.list_market_prices(
        MANAGER, skus=[], competitor_ids=[seeded.rival], page_size_requested=0, page_token=""
    )
    assert [(m.sku, len(m.prices)) for m in rival_only.items] == [
        ("MUG-1", 0),
        ("S-00", 1),
        ("S-02", 1),
        ("S-04", 1),
        ("S-06", 1),
    ]
    first = await cases.market.list_market_prices(
        MANAGER, skus=[], competitor_ids=[], page_size_requested=1, page_token=""
    )
    with pytest.raises(InvalidArgument, match="different competitor filter"):
        await cases.market.list_market_prices(
            MANAGER, skus=[], competitor_ids=[seeded.shop], page_size_requested=1, page_token=first.next_page_token
        )
    with pytest.raises(InvalidArgument, match="only when no skus"):
        await cases.market.list_market_prices(
            MANAGER, skus=["S-00"], competitor_ids=[], page_size_requested=1, page_token=first.next_page_token
        )
