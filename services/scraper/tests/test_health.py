"""Extraction health: crawls of a shop, healthy and broken in each way the issue names, batch by batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import InvalidArgument
from services.scraper.crawl.contract import ExtractedFields, PageOutcome, PageRecord
from services.scraper.health import (
    PRICE_SKETCH_SIZE,
    Assessment,
    HealthChange,
    HealthState,
    JobTally,
    KeyCount,
    PageMemory,
    PriceCount,
    SourceBaseline,
    assess,
    finish,
)

FETCHED = "2025-03-01T08:00:00+00:00"
LEARNED = SourceBaseline(priced_share=0.97, pages_seen=200, usual_fingerprints=("tpl-a",), usual_currency="EUR")


def url(i: int, prefix: str = "p") -> str:
    return f"https://shop.example/{prefix}/{i}"


def product(
    address: str, price: int | None, currency: str | None = "EUR", layout: str = "tpl-a", *, offer: bool = True
) -> PageRecord:
    fields = ExtractedFields(
        price_minor=price,
        currency=currency if price is not None else None,
        in_stock=True,
        title="Kettle",
        brand=None,
        gtin=None,
        mpn=None,
        image=None,
        method="json_ld" if price is not None else None,
        confidence=0.9 if price is not None else 0.0,
    )
    return PageRecord(PageOutcome.PRODUCT, address, address, FETCHED, 200, layout, fields if offer else None)


def other(address: str, outcome: PageOutcome) -> PageRecord:
    return PageRecord(outcome, address, address, FETCHED, 0 if outcome is PageOutcome.REFUSED else 200, "tpl-list")


def price(i: int) -> int:
    """A spread of ordinary prices: 5.00, 6.37, 7.74, ..."""
    return 500 + 137 * i


def remembered(n: int, prices: Sequence[int] | None = None, layout: str = "tpl-a") -> dict[str, PageMemory]:
    return {url(i): PageMemory(prices[i] if prices else price(i), "EUR", layout) for i in range(n)}


def run(
    batch: Sequence[PageRecord],
    memory: Mapping[str, PageMemory] | None = None,
    baseline: SourceBaseline = LEARNED,
    tally: JobTally | None = None,
    state: HealthState | None = None,
) -> Assessment:
    return assess(batch, memory or {}, baseline, tally or JobTally.empty(), state or HealthState.healthy())


# --- healthy crawls -----------------------------------------------------------------------------------------


def test_first_healthy_crawl_quarantines_nothing_and_teaches_the_baseline() -> None:
    batch = [product(url(i), price(i)) for i in range(30)]
    batch += [other(url(i, "list"), PageOutcome.LISTING) for i in range(3)]
    batch += [other(url(i, "gone"), PageOutcome.FAILED) for i in range(2)]

    result = run(batch, baseline=SourceBaseline.empty())

    assert result.quarantine == {}
    assert result.change is HealthChange.UNCHANGED
    assert result.state == HealthState.healthy()
    assert result.memory_updates == {url(i): PageMemory(price(i), "EUR", "tpl-a") for i in range(30)}
    assert (result.tally.product_pages, result.tally.priced_pages) == (30, 30)
    learned = finish(result.tally, SourceBaseline.empty(), result.state)
    assert learned == SourceBaseline(
        priced_share=1.0, pages_seen=30, usual_fingerprints=("tpl-a",), usual_currency="EUR"
    )


def test_first_crawl_with_few_prices_raises_nothing_without_a_baseline() -> None:
    # A source's first crawl has nothing to compare a low share with; it is what the source looks like.
    batch = [product(url(i), price(i) if i % 4 == 0 else None) for i in range(40)]

    result = run(batch, baseline=SourceBaseline.empty())

    assert (result.quarantine, result.state, result.change) == ({}, HealthState.healthy(), HealthChange.UNCHANGED)
    learned = finish(result.tally, SourceBaseline.empty(), result.state)
    assert learned.priced_share == 0.25


def test_normal_price_moves_are_not_suspicious_however_large() -> None:
    memory = remembered(30)
    # Doubled, halved, tripled: prices move, and without a layout change that is the market.
    factors = (2.0, 0.5, 3.0, 1.1)
    batch = [product(url(i), round(price(i) * factors[i % 4])) for i in range(30)]

    result = run(batch, memory)

    assert (result.quarantine, result.state.broken) == ({}, False)
    assert result.memory_updates[url(0)] == PageMemory(round(price(0) * 2.0), "EUR", "tpl-a")
    assert len(result.memory_updates) == 30


def test_layout_change_with_a_small_price_move_is_remembered_not_quarantined() -> None:
    memory = remembered(20)
    batch = [product(url(i), round(price(i) * 1.15), layout="tpl-b") for i in range(20)]

    result = run(batch, memory)

    assert (result.quarantine, result.state.broken) == ({}, False)
    assert result.memory_updates[url(3)] == PageMemory(round(price(3) * 1.15), "EUR", "tpl-b")


def test_a_url_twice_in_a_batch_counts_once_on_its_last_record() -> None:
    batch = [product(url(0), None), product(url(0), 999), product(url(1), 1099)]

    result = run(batch, baseline=SourceBaseline.empty())

    assert (result.tally.product_pages, result.tally.priced_pages) == (2, 2)
    assert result.memory_updates[url(0)] == PageMemory(999, "EUR", "tpl-a")


# --- signal 1: prices vanish -------------------------------------------------------------------------------


def test_prices_vanishing_breaks_the_source_and_quarantines_what_is_left() -> None:
    memory = remembered(40)
    batch = [product(url(i), price(i)) for i in range(5)]
    batch += [product(url(i), None) for i in range(5, 30)]
    # A product page that yielded no offer at all still is a product page without a price.
    batch += [product(url(i), None, offer=False) for i in range(30, 40)]
    # Listings, failures and refusals are not product pages without a price.
    batch += [other(url(i, "list"), PageOutcome.LISTING) for i in range(20)]
    batch += [other(url(i, "gone"), PageOutcome.FAILED) for i in range(10)]
    batch += [other(url(i, "robots"), PageOutcome.REFUSED) for i in range(5)]

    result = run(batch, memory)

    reason = "only 12 % of 40 product pages had a price (usually 97 %)"
    assert result.state == HealthState(broken=True, reason=reason)
    assert result.change is HealthChange.BROKEN
    assert result.quarantine == {url(i): f"source extraction broken: {reason}" for i in range(5)}
    assert result.memory_updates == {}
    assert result.tally.signalled


def test_too_few_product_pages_cannot_say_prices_vanished() -> None:
    batch = [product(url(i), None) for i in range(19)]

    result = run(batch, remembered(19))

    assert (result.state.broken, result.quarantine) == (False, {})


def test_a_source_where_few_pages_have_a_price_is_not_broken_by_noise() -> None:
    # Usually 20 %: 1 of 20 (5 %) is under half of it, but only 15 points below; 0 of 20 is the first alarm.
    baseline = SourceBaseline(0.2, 500, ("tpl-a",), "EUR")
    some = [product(url(i), price(i) if i == 0 else None) for i in range(20)]
    none = [product(url(i), None) for i in range(20)]

    assert not run(some, baseline=baseline).state.broken
    assert run(none, baseline=baseline).state.broken


def test_prices_vanishing_over_several_batches_adds_up() -> None:
    tally, state = JobTally.empty(), HealthState.healthy()
    changes = []
    for batch_number in range(3):
        batch = [product(url(batch_number * 8 + i), price(i) if i == 0 else None) for i in range(8)]
        result = run(batch, tally=tally, state=state)
        tally, state = result.tally, result.state
        changes.append(result.change)

    assert changes == [HealthChange.UNCHANGED, HealthChange.UNCHANGED, HealthChange.BROKEN]
    assert state.reason == "only 12 % of 24 product pages had a price (usually 97 %)"


def test_a_break_late_in_a_long_job_shows_in_its_batch() -> None:
    healthy = run([product(url(i), price(i)) for i in range(300)], remembered(300))
    broken_batch = [product(url(i, "late"), price(i) if i < 2 else None) for i in range(40)]

    result = run(broken_batch, tally=healthy.tally, state=healthy.state)

    # The job as a whole still has 302 of 340 pages priced; the batch alone has 2 of 40.
    assert result.state.reason == "only 5 % of 40 product pages had a price (usually 97 %)"
    assert set(result.quarantine) == {url(0, "late"), url(1, "late")}


# --- signal 2: layout change with price jumps ------------------------------------------------------------


def test_layout_change_with_price_jumps_quarantines_each_page_and_breaks_the_source() -> None:
    memory = remembered(20, prices=[499, *(price(i) for i in range(1, 20))])
    batch = [product(url(0), 12900, layout="tpl-b")]
    batch += [product(url(i), price(i) * 25, layout="tpl-b") for i in range(1, 20)]

    result = run(batch, memory)

    assert (
        result.state.reason == "the page layout changed and prices jumped on 20 of 20 product pages seen before (100 %)"
    )
    assert result.change is HealthChange.BROKEN
    assert result.quarantine[url(0)] == "price 4.99 → 129.00 EUR while the page layout changed"
    assert len(result.quarantine) == 20
    assert result.memory_updates == {}


def test_a_few_pages_jumping_with_their_layout_are_quarantined_then_confirmed_on_the_next_crawl() -> None:
    memory = remembered(20)
    batch = [
        product(url(i), price(i) * 3 if i < 2 else price(i), layout="tpl-b" if i < 2 else "tpl-a") for i in range(20)
    ]

    first = run(batch, memory)

    assert first.state.broken is False
    assert set(first.quarantine) == {url(0), url(1)}
    assert first.quarantine[url(0)] == "price 5.00 → 15.00 EUR while the page layout changed"
    # The new layout is remembered with the old price: the same reading next time is an ordinary price change.
    assert first.memory_updates[url(0)] == PageMemory(price(0), "EUR", "tpl-b")
    assert first.memory_updates[url(5)] == PageMemory(price(5), "EUR", "tpl-a")

    second = run(batch, {**memory, **first.memory_updates})

    assert second.quarantine == {}
    assert second.memory_updates[url(0)] == PageMemory(price(0) * 3, "EUR", "tpl-b")


def test_moving_to_one_of_the_sources_usual_layouts_is_no_layout_change() -> None:
    # A product going on sale often gets the shop's sale template: a big drop there is a sale, not a misread.
    baseline = SourceBaseline(0.97, 200, ("tpl-a", "tpl-sale"), "EUR")
    batch = [product(url(i), price(i) // 2, layout="tpl-sale") for i in range(20)]

    result = run(batch, remembered(20), baseline=baseline)

    assert (result.quarantine, result.state.broken) == ({}, False)


# --- signal 3: one price for every product ---------------------------------------------------------------


def test_every_product_suddenly_sharing_one_price_breaks_the_source() -> None:
    batch = [product(url(i), 495) for i in range(38)] + [product(url(i), price(i)) for i in range(38, 40)]

    result = run(batch, remembered(40))

    reason = "38 of 40 products show the same price 4.95 EUR"
    assert result.state == HealthState(broken=True, reason=reason)
    assert result.quarantine == {url(i): f"source extraction broken: {reason}" for i in range(40)}


def test_one_price_on_a_first_crawl_needs_twenty_pages_and_ninety_percent() -> None:
    empty = SourceBaseline.empty()
    nineteen = [product(url(i), 495) for i in range(19)]
    twenty = [product(url(i), 495) for i in range(20)]
    mostly = [product(url(i), 495 if i < 17 else price(i)) for i in range(20)]

    assert not run(nineteen, baseline=empty).state.broken
    assert not run(mostly, baseline=empty).state.broken
    result = run(twenty, baseline=empty)
    assert result.state.reason == "20 of 20 products show the same price 4.95 EUR"
    assert result.memory_updates == {}


def test_a_shop_that_always_had_one_price_is_not_broken() -> None:
    # Everything at 3.95 last time, everything at 4.95 now: last time's prices were one price already.
    batch = [product(url(i), 495) for i in range(40)]

    assert not run(batch, remembered(40, prices=[395] * 40)).state.broken
    assert not run(batch, remembered(40, prices=[495] * 40)).state.broken


def test_a_few_pages_joining_the_shops_common_price_is_not_sudden() -> None:
    # 31 of 40 products were 9.99 (77 %) and 34 are now (85 %): only 3 pages moved to that price.
    before = [999 if i < 31 else price(i) for i in range(40)]
    now = [999 if i < 34 else price(i) for i in range(40)]

    result = run([product(url(i), now[i]) for i in range(40)], remembered(40, prices=before))

    assert (result.state.broken, result.quarantine) == (False, {})


def test_one_price_over_many_small_batches_is_found_after_the_sketch_fills() -> None:
    empty = SourceBaseline.empty()
    tally, state = JobTally.empty(), HealthState.healthy()
    # 50 distinct prices, more than the sketch holds; then batches of 10 pages that all show 4.95.
    for start in range(0, 50, 10):
        result = run([product(url(i), price(i)) for i in range(start, start + 10)], baseline=empty, tally=tally)
        tally, state = result.tally, result.state
    fired_at = None
    for batch_number in range(1, 60):
        batch = [product(url(i, f"b{batch_number}"), 495) for i in range(10)]
        result = run(batch, baseline=empty, tally=tally, state=state)
        tally, state = result.tally, result.state
        assert len(tally.prices) <= PRICE_SKETCH_SIZE
        if result.change is HealthChange.BROKEN:
            fired_at = batch_number
            break

    # 450 of 500 priced pages is the first time one price holds 90 %.
    assert fired_at == 45
    assert state.reason == "450 of 500 products show the same price 4.95 EUR"


def test_price_counts_stay_bounded_and_keep_any_common_price_within_its_error() -> None:
    empty = SourceBaseline.empty()
    tally = run([product(url(i), price(i)) for i in range(50)], baseline=empty).tally
    # Then 9 pages at 4.95 and one new price per batch: a common price among ever more rare ones.
    for batch_number in range(10):
        batch = [product(url(i, f"b{batch_number}"), 495) for i in range(9)]
        batch.append(product(url(9, f"b{batch_number}"), price(100 + batch_number)))
        tally = run(batch, baseline=empty, tally=tally).tally

    assert len(tally.prices) == PRICE_SKETCH_SIZE
    assert sum(entry.count for entry in tally.prices) == tally.priced_pages == 150
    common = next(entry for entry in tally.prices if (entry.price_minor, entry.currency) == (495, "EUR"))
    assert common.count - common.error <= 90 <= common.count
    assert tally.prices[0] == common


# --- signal 4: currency flips ----------------------------------------------------------------------------


def test_a_page_whose_currency_flipped_is_quarantined() -> None:
    memory = remembered(20)
    batch = [product(url(i), price(i), "USD" if i == 0 else "EUR") for i in range(20)]

    result = run(batch, memory)

    assert result.state.broken is False
    assert result.quarantine == {url(0): "currency changed from EUR to USD"}
    assert url(0) not in result.memory_updates
    assert len(result.memory_updates) == 19


def test_many_currency_flips_break_the_source() -> None:
    batch = [product(url(i), price(i), "USD" if i % 2 else "EUR") for i in range(20)]

    result = run(batch, remembered(20))

    assert result.state.reason == "currency changed on 10 of 20 product pages (mostly EUR→USD)"
    assert len(result.quarantine) == 20


def test_a_new_page_priced_in_another_currency_than_the_sources_usual_one_is_quarantined() -> None:
    batch = [product(url(0, "new"), 1999, "USD"), product(url(1, "new"), 1999, "EUR")]

    result = run(batch)

    assert result.quarantine == {url(0, "new"): "price in USD but the source prices in EUR"}
    assert set(result.memory_updates) == {url(1, "new")}


def test_a_shop_selling_in_several_currencies_has_no_usual_currency() -> None:
    batch = [product(url(i), price(i), "EUR" if i % 3 else "GBP") for i in range(30)]
    first = run(batch, baseline=SourceBaseline.empty())

    learned = finish(first.tally, SourceBaseline.empty(), first.state)

    assert learned.usual_currency is None
    assert run([product(url(0, "new"), 1999, "GBP")], baseline=learned).quarantine == {}


# --- broken, baseline and recovery -----------------------------------------------------------------------


def _broken_job() -> tuple[Assessment, dict[str, PageMemory]]:
    memory = remembered(40)
    return run([product(url(i), None) for i in range(40)], memory), memory


def test_a_broken_job_does_not_teach_the_baseline() -> None:
    broken, _ = _broken_job()

    assert finish(broken.tally, LEARNED, broken.state) == LEARNED
    # Even if the state was cleared meanwhile, a job in which a signal fired teaches nothing.
    assert finish(broken.tally, LEARNED, HealthState.healthy()) == LEARNED


def test_a_healthy_job_moves_the_baseline_part_of_the_way() -> None:
    result = run([product(url(i), price(i) if i < 10 else None) for i in range(20)], remembered(20))

    learned = finish(result.tally, LEARNED, result.state)

    assert learned.priced_share == pytest.approx(0.7 * 0.97 + 0.3 * 0.5)
    assert learned.pages_seen == 220


def test_a_source_broken_in_a_job_stays_broken_for_the_rest_of_it() -> None:
    broken, memory = _broken_job()
    later = [product(url(i, "later"), price(i)) for i in range(200)]

    result = run(later, memory, tally=broken.tally, state=broken.state)

    assert result.state == broken.state
    assert result.change is HealthChange.UNCHANGED
    assert len(result.quarantine) == 200
    assert result.quarantine[url(0, "later")] == f"source extraction broken: {broken.state.reason}"
    assert result.memory_updates == {}


def test_a_later_clean_job_recovers_the_source() -> None:
    broken, memory = _broken_job()

    first = run([product(url(i), price(i)) for i in range(5)], memory, state=broken.state)
    assert first.state == broken.state
    assert set(first.quarantine) == {url(i) for i in range(5)}
    assert first.memory_updates == {}

    second = run([product(url(i), price(i)) for i in range(5, 11)], memory, tally=first.tally, state=first.state)
    assert second.change is HealthChange.RECOVERED
    assert second.state == HealthState.healthy()
    assert second.quarantine == {}
    assert set(second.memory_updates) == {url(i) for i in range(5, 11)}
    assert finish(second.tally, LEARNED, second.state).pages_seen == LEARNED.pages_seen + 11


def test_no_recovery_while_prices_are_still_missing() -> None:
    broken, memory = _broken_job()

    # Ten pages are enough to recover but not to fire the signal: with 1 of 10 priced the source stays broken.
    result = run([product(url(i), price(i) if i == 0 else None) for i in range(10)], memory, state=broken.state)

    assert result.state == broken.state
    assert result.change is HealthChange.UNCHANGED


# --- stored form -----------------------------------------------------------------------------------------


def test_every_state_object_survives_a_json_round_trip() -> None:
    batch = [product(url(i), price(i) * 3, "USD" if i == 1 else "EUR", "tpl-b") for i in range(25)]
    tally = run(batch, remembered(25)).tally
    assert all((tally.prices, tally.remembered_prices, tally.flips, tally.fingerprints, tally.currencies))

    assert JobTally.from_dict(orjson.loads(orjson.dumps(tally.to_dict()))) == tally
    assert SourceBaseline.from_dict(orjson.loads(orjson.dumps(LEARNED.to_dict()))) == LEARNED
    state = HealthState(broken=True, reason="why")
    assert HealthState.from_dict(orjson.loads(orjson.dumps(state.to_dict()))) == state
    page = PageMemory(None, None, "")
    assert PageMemory.from_dict(orjson.loads(orjson.dumps(page.to_dict()))) == page


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: HealthState(broken=True, reason=""), "reason"),
        (lambda: HealthState(broken=False, reason="left over"), "reason"),
        (lambda: PageMemory(-1, "EUR", "tpl-a"), "price_minor"),
        (lambda: SourceBaseline(1.5, 10, (), None), "priced_share"),
        (lambda: SourceBaseline(0.5, -1, (), None), "pages_seen"),
        (lambda: SourceBaseline(0.5, 1, ("",), None), "usual_fingerprints"),
        (lambda: JobTally(product_pages=-3), "product_pages"),
        (lambda: JobTally(prices=(KeyCount("x", 1),)), "prices"),  # type: ignore[arg-type]
        (lambda: PriceCount(100, "EUR", count=2, error=2), "count"),
        (lambda: PriceCount(100, "EUR", count=2, remembered=1, moved=2), "prices"),
        (lambda: JobTally.from_dict({"product_pages": 1}), "job tally"),
        (lambda: JobTally.from_dict({**JobTally().to_dict(), "prices": "many"}), "prices"),
        (lambda: JobTally.from_dict({**JobTally().to_dict(), "priced_pages": "7"}), "priced_pages"),
        (lambda: SourceBaseline.from_dict({**LEARNED.to_dict(), "pages_seen": True}), "pages_seen"),
    ],
)
def test_bad_state_is_refused_with_the_field_named(build: object, field: str) -> None:
    assert callable(build)
    with pytest.raises(InvalidArgument) as caught:
        build()
    assert caught.value.field == field


# --- property --------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(min_value=1.6, max_value=4.0), min_size=10, max_size=60),
    moves=st.data(),
)
def test_price_moves_within_twenty_percent_never_quarantine(steps: list[float], moves: st.DataObject) -> None:
    # Remembered prices far enough apart (a factor of 1.6 or more) that ± 20 % moves can never make them one price.
    old = [100]
    for step in steps[1:]:
        old.append(round(old[-1] * step))
    memory = remembered(len(old), prices=old)
    batch = []
    for i, before in enumerate(old):
        factor = moves.draw(st.floats(min_value=0.8, max_value=1.2), label=f"move {i}")
        layout = moves.draw(st.sampled_from(["tpl-a", "tpl-b", "tpl-c"]), label=f"layout {i}")
        batch.append(product(url(i), round(before * factor), layout=layout))

    result = run(batch, memory)

    assert result.quarantine == {}
    assert result.state == HealthState.healthy()
    assert set(result.memory_updates) == {url(i) for i in range(len(old))}
