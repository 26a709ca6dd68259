"""Market rules: validation with clear field errors, offer matches, folding observations, market prices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.competitor import domain
from services.competitor.domain import (
    CompetitorDraft,
    ExtractionMethod,
    MarketEntry,
    MatchMethod,
    MoneyInput,
    Observation,
    ObservationDraft,
    OfferDraft,
    Run,
    Track,
    UsablePrice,
)
from services.competitor.tests.support import ORG_A, START, competitor_draft, eur, observation
from services.product import domain as product_domain

NOW = START + timedelta(days=1)
COMPETITOR = "cmp_" + "0" * 25 + "1"
OFFER = "off_" + "0" * 25 + "1"
OTHER_OFFER = "off_" + "0" * 25 + "2"


def refused(call: object, *args: object, **kwargs: object) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# --- urls -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://shop.example/p/1", "https://shop.example/p/1"),
        ("HTTPS://Shop.Example/P/1?colour=Red#reviews", "https://shop.example/P/1?colour=Red"),
        ("http://shop.example:80/a", "http://shop.example/a"),
        ("https://shop.example:443", "https://shop.example/"),
        ("https://shop.example:8443/a", "https://shop.example:8443/a"),
        ("http://127.0.0.1:8080/shop", "http://127.0.0.1:8080/shop"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("https://bücher.example/straße", "https://bücher.example/straße"),
        ("  https://shop.example/trimmed  ", "https://shop.example/trimmed"),
        ("https://shop.example/" + "a" * 2000, "https://shop.example/" + "a" * 2000),
    ],
)
def test_http_urls_are_accepted_and_normalised(url: str, stored: str) -> None:
    assert domain.validate_url(url) == stored


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "url is required"),
        ("   ", "url is required"),
        ("file://files.example/catalog.html", "http or https"),
        ("gopher://shop.example/1", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("data:text/html,<b>x</b>", "http or https"),
        ("ftp://shop.example/p", "http or https"),
        ("shop.example/p/1", "http or https"),
        ("//shop.example/p/1", "http or https"),
        ("http:///p/1", "must name a host"),
        ("https://", "must name a host"),
        ("http://shop..example/", "must name a host"),
        ("http://<script>/", "must name a host"),
        ("https://user:secret@shop.example/", "user name or password"),
        ("https://shop.example:99999/", "not a valid URL"),
        ("https://shop.example:http/", "not a valid URL"),
        ("https://shop.example/a b", "spaces or control characters"),
        ("https://shop.example/a\nb", "spaces or control characters"),
        ("https://shop.example/\x00", "spaces or control characters"),
        ("https://shop.example/" + "a" * 2048, "at most 2048 characters"),
        ("https://" + "a" * 1_000_000, "at most 2048 characters"),
    ],
)
def test_other_urls_are_refused_on_the_url_field(url: str, says: str) -> None:
    error = refused(domain.validate_url, url)
    assert error.field == "url"
    assert says in error.message


def test_a_website_may_be_empty() -> None:
    assert domain.validate_url("", field="website", required=False) == ""
    assert refused(domain.validate_url, "ftp://x.example", field="website", required=False).field == "website"


# --- competitors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Shop", "Müller & Söhne GmbH", "東京ストア 🛒", "x" * 120, "  padded  "])
def test_competitor_names_of_any_script_are_accepted(name: str) -> None:
    assert domain.validate_competitor(competitor_draft(name)).name == name.strip()


@pytest.mark.parametrize(
    ("name", "says"),
    [("", "required"), ("   ", "required"), ("x" * 121, "at most 120"), ("a\nb", "control characters")],
)
def test_bad_competitor_names_are_refused(name: str, says: str) -> None:
    error = refused(domain.validate_competitor, competitor_draft(name))
    assert (error.field, says in error.message) == ("name", True)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"default_currency": ""}, "default_currency"),
        ({"default_currency": "XYZ"}, "default_currency"),
        ({"default_currency": "eur"}, "default_currency"),
        ({"default_currency": "XAU"}, "default_currency"),
        ({"website": "ftp://shop.example"}, "website"),
    ],
)
def test_bad_competitor_fields_are_refused(fields: dict[str, str], field: str) -> None:
    assert refused(domain.validate_competitor, competitor_draft(**fields)).field == field


def test_names_are_unique_regardless_of_case_and_unicode_form() -> None:
    assert domain.name_key("Müller") == domain.name_key("MÜLLER") == domain.name_key("Mu\u0308ller")
    assert domain.name_key("Shop") != domain.name_key("Shop 2")


def test_an_update_changes_only_the_masked_fields() -> None:
    existing = domain.new_competitor(ORG_A, COMPETITOR, domain.validate_competitor(competitor_draft()), now=START)
    later = START + timedelta(hours=1)
    changed = domain.updated_competitor(
        existing, CompetitorDraft(name="Renamed", default_currency="USD"), {"name"}, now=later
    )
    assert (changed.name, changed.default_currency, changed.revision, changed.update_time) == (
        "Renamed",
        "EUR",
        2,
        later,
    )
    same = domain.updated_competitor(existing, CompetitorDraft(name="Shop One"), {"name"}, now=later)
    assert same is existing
    assert refused(domain.parse_competitor_mask, ["id"]).field == "update_mask"
    assert refused(domain.parse_competitor_mask, ["colour"]).field == "update_mask"
    assert refused(domain.updated_competitor, existing, CompetitorDraft(), {"name"}, now=later).field == "name"


# --- offers ---------------------------------------------------------------------------------------


def test_the_sku_syntax_is_the_product_services() -> None:
    assert domain.SKU_PATTERN.pattern == product_domain.SKU_PATTERN.pattern


@pytest.mark.parametrize("sku", ["", "x" * 65, "a/b", "a b", "ümlaut", "a\n"])
def test_offers_need_a_valid_sku(sku: str) -> None:
    assert refused(domain.validate_offer, OfferDraft(COMPETITOR, "https://s.example/", sku)).field == "sku"


@pytest.mark.parametrize("competitor_id", ["", "cmp_1", "CMP_" + "0" * 26, "cmp_" + "0" * 27, "off_" + "0" * 26])
def test_offers_need_a_competitor_id(competitor_id: str) -> None:
    assert refused(domain.validate_offer_key, competitor_id, "https://s.example/").field == "competitor_id"


def test_matches_not_given_are_manual_with_confidence_one() -> None:
    content = domain.validate_offer(OfferDraft(COMPETITOR, "https://s.example/", "SKU-1"))
    offer = domain.new_offer(ORG_A, OFFER, (COMPETITOR, "https://s.example/"), content, now=START)
    assert (offer.match_method, offer.match_confidence) == (MatchMethod.MANUAL, 1.0)
    fuzzy = domain.validate_offer(
        OfferDraft(COMPETITOR, "https://s.example/", "SKU-1", match_method=MatchMethod.FUZZY, match_confidence=0.62)
    )
    assert (fuzzy.match_method, fuzzy.match_confidence) == (MatchMethod.FUZZY, 0.62)


@pytest.mark.parametrize(
    ("method", "confidence"),
    [
        (MatchMethod.FUZZY, 1.5),
        (MatchMethod.FUZZY, -0.1),
        (MatchMethod.GTIN, float("nan")),
        (MatchMethod.GTIN, float("inf")),
        (MatchMethod.MANUAL, 0.5),
        (None, 0.5),
    ],
)
def test_match_confidence_is_from_zero_to_one_and_one_when_manual(
    method: MatchMethod | None, confidence: float
) -> None:
    draft = OfferDraft(COMPETITOR, "https://s.example/", "SKU-1", match_method=method, match_confidence=confidence)
    assert refused(domain.validate_offer, draft).field == "match_confidence"


def test_an_upsert_keeps_the_match_unless_the_sku_changes() -> None:
    key = (COMPETITOR, "https://s.example/")
    fuzzy = domain.validate_offer(
        OfferDraft(*key, "SKU-1", match_method=MatchMethod.FUZZY, match_confidence=0.7, title="Mug")
    )
    existing = domain.new_offer(ORG_A, OFFER, key, fuzzy, now=START)
    later = START + timedelta(hours=1)
    assert (
        domain.upserted_offer(existing, domain.validate_offer(OfferDraft(*key, "SKU-1", title="Mug")), now=later)
        is existing
    )
    relinked = domain.upserted_offer(existing, domain.validate_offer(OfferDraft(*key, "SKU-2", title="Mug")), now=later)
    assert (relinked.sku, relinked.match_method, relinked.match_confidence, relinked.revision) == (
        "SKU-2",
        MatchMethod.MANUAL,
        1.0,
        2,
    )
    retitled = domain.upserted_offer(
        existing, domain.validate_offer(OfferDraft(*key, "SKU-1", title="Big mug")), now=later
    )
    assert (retitled.title, retitled.match_method, retitled.update_time) == ("Big mug", MatchMethod.FUZZY, later)


def test_offer_titles_are_bounded_and_single_line() -> None:
    assert (
        refused(domain.validate_offer, OfferDraft(COMPETITOR, "https://s.example/", "S", title="t" * 501)).field
        == "title"
    )
    assert (
        refused(domain.validate_offer, OfferDraft(COMPETITOR, "https://s.example/", "S", title="a\rb")).field == "title"
    )
    unicode = domain.validate_offer(OfferDraft(COMPETITOR, "https://s.example/", "S", title="Tasse „Groß“ 東京 🎉"))
    assert unicode.title == "Tasse „Groß“ 東京 🎉"


# --- observations ---------------------------------------------------------------------------------


def valid(draft: ObservationDraft, default_currency: str = "EUR") -> Observation:
    moment = domain.validate_observe_time(draft.observe_time, now=NOW)
    return domain.validate_observation(draft, moment, default_currency=default_currency)


def test_an_observation_without_method_is_an_import_with_confidence_one() -> None:
    imported = valid(observation(OFFER, 0))
    assert (imported.extraction_method, imported.confidence, imported.price) == (
        ExtractionMethod.IMPORT,
        1.0,
        Money(1999, "EUR"),
    )
    scraped = valid(observation(OFFER, 0, extraction_method=ExtractionMethod.JSON_LD, confidence=0.8))
    assert (scraped.extraction_method, scraped.confidence) == (ExtractionMethod.JSON_LD, 0.8)


def test_a_price_without_currency_is_in_the_competitors_default_currency() -> None:
    assert valid(observation(OFFER, 0, price=MoneyInput(1500, "")), "JPY").price == Money(1500, "JPY")
    assert valid(observation(OFFER, 0, price=MoneyInput(0, "EUR"))).price == Money(0, "EUR")


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"price": None}, "price", "required"),
        ({"price": eur(-1)}, "price", "must not be negative"),
        ({"price": eur(10**15 + 1)}, "price", "out of range"),
        ({"price": MoneyInput(100, "XYZ")}, "price.currency", "unknown currency"),
        ({"price": MoneyInput(100, "euro")}, "price.currency", "ISO 4217"),
        ({"confidence": 1.01, "extraction_method": ExtractionMethod.SELECTOR}, "confidence", "from 0 to 1"),
        ({"confidence": float("nan"), "extraction_method": ExtractionMethod.SELECTOR}, "confidence", "number"),
        ({"quarantined": True}, "quarantine_reason", "needs a quarantine_reason"),
        ({"quarantine_reason": "odd"}, "quarantine_reason", "only for quarantined"),
        ({"quarantined": True, "quarantine_reason": "x" * 501}, "quarantine_reason", "at most 500"),
    ],
)
def test_bad_observations_are_refused(fields: dict[str, Any], field: str, says: str) -> None:
    error = refused(valid, observation(OFFER, 0, **fields))
    assert error.field == field
    assert says in error.message


def test_observe_times_are_required_aware_not_in_the_future_and_in_milliseconds() -> None:
    assert refused(domain.validate_observe_time, None, now=NOW).message == "observe_time is required"
    assert "time zone" in refused(domain.validate_observe_time, datetime(2026, 3, 1, 9), now=NOW).message
    assert "future" in refused(domain.validate_observe_time, NOW + timedelta(minutes=6), now=NOW).message
    assert domain.validate_observe_time(NOW + timedelta(minutes=4), now=NOW) == NOW + timedelta(minutes=4)
    assert "before 2000" in refused(domain.validate_observe_time, datetime(1970, 1, 1, tzinfo=UTC), now=NOW).message
    precise = START.replace(microsecond=123_456)
    assert domain.validate_observe_time(precise, now=NOW) == START.replace(microsecond=123_000)
    berlin = datetime.fromisoformat("2026-03-01T10:00:00+01:00")
    assert domain.validate_observe_time(berlin, now=NOW) == START


# --- folding observations into tracks -------------------------------------------------------------


def at(minutes: float, amount_minor: int = 1999, offer_id: str = OFFER, **fields: Any) -> Observation:
    return valid(observation(offer_id, minutes, amount_minor, **fields))


def quarantined(minutes: float, amount_minor: int, offer_id: str = OFFER) -> Observation:
    return at(minutes, amount_minor, offer_id, quarantined=True, quarantine_reason="90 % below the others")


def fresh(offer_id: str = OFFER) -> Track:
    return Track(offer_id, COMPETITOR, None, None, 0)


def plan(
    observations: list[Observation],
    track: Track | None = None,
    in_effect: dict[tuple[str, datetime], Observation] | None = None,
) -> domain.ObservationPlan:
    tracks = {track.offer_id: track} if track else {o.offer_id: fresh(o.offer_id) for o in observations}
    return domain.plan_observations(tracks, in_effect or {}, list(enumerate(observations)))


def minutes(moment: datetime) -> float:
    return (moment - START) / timedelta(minutes=1)


def test_only_changes_become_rows_and_repeats_extend_the_run() -> None:
    result = plan([at(0), at(10), at(20, 1899), at(30, 1899), at(40)])
    assert [(minutes(row.observe_time), row.price.amount_minor) for row in result.rows] == [
        (0, 1999),
        (20, 1899),
        (40, 1999),
    ]
    assert (result.created, result.unchanged, result.errors) == (3, 2, [])
    (change,) = result.changes
    run = change.after.run
    assert run is not None
    assert (minutes(run.first.observe_time), minutes(run.last_seen)) == (40, 40)
    assert change.after.usable == UsablePrice(Money(1999, "EUR"), True, START + timedelta(minutes=40))
    assert change.after.revision == 1


def test_the_batch_is_folded_in_time_order_whatever_its_order() -> None:
    shuffled = plan([at(40), at(0), at(30, 1899), at(10), at(20, 1899)])
    assert [minutes(row.observe_time) for row in shuffled.rows] == [0, 20, 40]


def test_stock_and_quarantine_changes_are_changes_too() -> None:
    result = plan([at(0), at(10, in_stock=False), quarantined(20, 1999), at(30)])
    assert result.created == 4


def test_a_repeat_of_the_current_run_only_moves_its_last_sighting() -> None:
    track = plan([at(0)]).changes[0].after
    result = plan([at(60)], track)
    assert (result.rows, result.created, result.unchanged) == ([], 0, 1)
    after = result.changes[0].after
    assert after.run == Run(at(0), START + timedelta(minutes=60))
    assert after.usable is not None
    assert after.usable.seen_time == START + timedelta(minutes=60)


def in_effect_among(stored: list[Observation], track: Track, batch: list[Observation]) -> dict[Any, Observation]:
    """What the repository answers for the observations of `batch` that need history, given `stored` rows."""
    found = {}
    for o in batch:
        if domain.needs_history(track, o):
            earlier = [row for row in stored if row.observe_time <= o.observe_time]
            if earlier:
                found[o.offer_id, o.observe_time] = max(earlier, key=lambda row: row.observe_time)
    return found


def test_sending_the_same_observations_again_changes_nothing() -> None:
    batch = [at(0), at(10), at(20, 1899), quarantined(30, 5), at(40, 1899)]
    first = plan(batch)
    track = first.changes[0].after
    again = plan(batch, track, in_effect_among(first.rows, track, batch))
    assert (again.rows, again.changes, again.created, again.unchanged, again.errors) == ([], [], 0, 5, [])


def test_a_quarantined_observation_never_becomes_the_usable_price() -> None:
    result = plan([at(0, 1999), quarantined(10, 199), quarantined(20, 199)])
    after = result.changes[0].after
    assert after.run is not None
    assert after.run.first.quarantined
    assert after.usable == UsablePrice(Money(1999, "EUR"), True, START)
    only_quarantined = plan([quarantined(0, 5)]).changes[0].after
    assert only_quarantined.usable is None


def test_a_late_observation_equal_to_the_one_in_effect_is_unchanged() -> None:
    track = plan([at(0), at(60)]).changes[0].after
    inside = plan([at(30)], track)
    assert (inside.rows, inside.changes, inside.unchanged) == ([], [], 1)


def test_a_late_change_inside_the_current_run_stores_it_and_the_resumed_run() -> None:
    track = plan([at(0), at(60)]).changes[0].after
    result = plan([at(30, 1499)], track)
    assert [(minutes(row.observe_time), row.price.amount_minor) for row in result.rows] == [(30, 1499), (60, 1999)]
    assert (result.created, result.unchanged) == (1, 0)
    after = result.changes[0].after
    assert after.run == Run(replace(at(0), observe_time=START + timedelta(minutes=60)), START + timedelta(minutes=60))
    assert after.usable is not None
    assert after.usable.price == Money(1999, "EUR")


def test_a_late_observation_before_the_run_is_compared_with_the_row_in_effect() -> None:
    track = plan([at(0), at(60, 1499)]).changes[0].after
    in_effect = {(OFFER, START + timedelta(minutes=30)): at(0)}
    same = plan([at(30)], track, in_effect)
    assert (same.rows, same.unchanged) == ([], 1)
    different = plan([at(30, 1799)], track, in_effect)
    assert [minutes(row.observe_time) for row in different.rows] == [30]
    assert different.changes == []
    before_everything = plan([at(-30, 1799)], track, {})
    assert [minutes(row.observe_time) for row in before_everything.rows] == [-30]


def test_a_late_usable_price_counts_when_it_is_newer_than_the_usable_one() -> None:
    track = plan([at(0, 1999), quarantined(60, 5)]).changes[0].after
    in_effect = {(OFFER, START + timedelta(minutes=30)): at(0)}
    result = plan([at(30, 1799)], track, in_effect)
    usable = result.changes[0].after.usable
    assert usable == UsablePrice(Money(1799, "EUR"), True, START + timedelta(minutes=30))


def test_the_same_key_with_another_price_is_refused() -> None:
    track = plan([at(0), at(60)]).changes[0].after
    for late in (at(0, 1499), at(60, 1499)):
        result = plan([late], track)
        assert [(error.row, error.field) for error in result.errors] == [(0, "observe_time")]
        assert "never changed" in result.errors[0].message
        assert result.errors[0].key == late.key_text


def test_offers_are_folded_independently() -> None:
    result = plan([at(0, offer_id=OFFER), at(0, 500, offer_id=OTHER_OFFER), at(5, offer_id=OFFER)])
    assert (result.created, result.unchanged) == (2, 1)
    assert sorted(change.after.offer_id for change in result.changes) == [OFFER, OTHER_OFFER]


def test_needs_history_only_before_the_newest_row() -> None:
    track = plan([at(10), at(60)]).changes[0].after
    assert domain.needs_history(track, at(5))
    assert not domain.needs_history(track, at(10))
    assert not domain.needs_history(track, at(30))
    assert not domain.needs_history(fresh(), at(5))


# --- market prices --------------------------------------------------------------------------------


def test_market_prices_are_lowest_first_with_their_age() -> None:
    seen = NOW - timedelta(hours=2)
    entries = [
        MarketEntry("SKU-1", COMPETITOR, "off_b", UsablePrice(Money(2100, "EUR"), True, seen)),
        MarketEntry("SKU-1", COMPETITOR, "off_a", UsablePrice(Money(1900, "EUR"), False, seen)),
        MarketEntry("SKU-1", COMPETITOR, "off_c", None),
        MarketEntry("SKU-2", COMPETITOR, "off_d", None),
        MarketEntry("SKU-3", COMPETITOR, "off_e", UsablePrice(Money(100, "EUR"), True, NOW + timedelta(minutes=1))),
    ]
    markets = domain.sku_markets(entries, now=NOW)
    assert list(markets) == ["SKU-1", "SKU-2", "SKU-3"]
    assert [(p.offer_id, p.price.amount_minor, p.in_stock, p.age_seconds) for p in markets["SKU-1"].prices] == [
        ("off_a", 1900, False, 7200),
        ("off_b", 2100, True, 7200),
    ]
    assert markets["SKU-2"].prices == []
    assert markets["SKU-3"].prices[0].age_seconds == 0


def test_equal_prices_are_ordered_by_offer() -> None:
    usable = UsablePrice(Money(500, "EUR"), True, NOW)
    entries = [MarketEntry("S", COMPETITOR, offer, usable) for offer in ("off_z", "off_m", "off_a")]
    prices = domain.sku_markets(entries, now=NOW)["S"].prices
    assert [p.offer_id for p in prices] == ["off_a", "off_m", "off_z"]
    assert all(p.price == Money(500, "EUR") for p in prices)


# --- transitions: what market events are told ----------------------------------------------------


def test_each_new_current_state_is_a_transition_from_the_one_it_replaced() -> None:
    first = plan([at(0), at(10), at(20, 1899), quarantined(30, 5)])
    assert [
        (before and before.price.amount_minor, after.price.amount_minor) for before, after in first.transitions
    ] == [
        (None, 1999),
        (1999, 1899),
        (1899, 5),
    ]
    track = first.changes[0].after
    late = plan([at(15, 1499)], track, in_effect_among(first.rows, track, [at(15, 1499)]))
    assert late.created == 1
    assert late.transitions == [], "a late observation fills in history; the current state did not change"


# --- crawled products and review items ------------------------------------------------------------


def sighting_draft(**fields: Any) -> domain.SightingDraft:
    values: dict[str, Any] = {
        "url": "https://Shop.example/p/1#top",
        "fetch_time": START,
        "price": eur(1999),
        "extraction_method": ExtractionMethod.JSON_LD,
        "confidence": 0.8,
    }
    values.update(fields)
    return domain.SightingDraft(**values)


def test_page_text_is_tidied_not_refused() -> None:
    sighting = domain.validate_sighting(
        sighting_draft(title="  Kettle\n\t 1,7 l\x00 ", brand="B" * 200, image_url="data:image/png;base64,xyz"),
        now=NOW,
        default_currency="EUR",
    )
    assert (sighting.url, sighting.title, sighting.image_url) == ("https://shop.example/p/1", "Kettle 1,7 l", "")
    assert len(sighting.brand) == domain.MAX_BRAND_LENGTH
    assert sighting.brand.endswith("…")
    unpriced = domain.validate_sighting(
        sighting_draft(price=None, extraction_method=None, in_stock=None), now=NOW, default_currency="EUR"
    )
    assert domain.sighting_observation(OFFER, unpriced) is None
    draft = domain.sighting_observation(OFFER, replace(unpriced, price=Money(5, "EUR")))
    assert draft is not None
    assert draft.in_stock is True, "a shown price without a stock statement counts as in stock"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "gopher://shop.example/"}, "url"),
        ({"fetch_time": None}, "fetch_time"),
        ({"extraction_method": None}, "extraction_method"),
        ({"price": MoneyInput(-1, "EUR")}, "price"),
        ({"quarantined": True}, "quarantine_reason"),
        ({"quarantine_reason": "why"}, "quarantine_reason"),
        ({"category_id": "a/b"}, "category_id"),
    ],
)
def test_bad_crawled_products_are_refused_on_their_field(fields: dict[str, Any], field: str) -> None:
    error = refused(domain.validate_sighting, sighting_draft(**fields), now=NOW, default_currency="EUR")
    assert error.field == field


def review_item(*candidates: str, state: domain.ReviewState | None = None) -> domain.ReviewItem:
    sighting = domain.validate_sighting(sighting_draft(), now=NOW, default_currency="EUR")
    found = tuple(domain.ReviewCandidate(sku, 0.8, MatchMethod.FUZZY, sku.title(), "") for sku in candidates)
    item = domain.new_review_item(
        ORG_A, "rvw_" + "0" * 26, COMPETITOR, sighting, source_id="", crawl_job_id="", candidates=found, now=START
    )
    return item if state is None else replace(item, state=state)


def test_rejecting_candidates_one_by_one_leaves_the_product_unmatched() -> None:
    item = review_item("A", "B")
    assert item.state is domain.ReviewState.PENDING
    one = domain.rejected_item(item, "A", now=NOW)
    assert (one.state, [c.sku for c in one.candidates], one.rejected_skus, one.revision) == (
        domain.ReviewState.PENDING,
        ["B"],
        ("A",),
        2,
    )
    both = domain.rejected_item(one, "B", now=NOW)
    assert (both.state, both.candidates, both.rejected_skus) == (domain.ReviewState.UNMATCHED, (), ("A", "B"))
    assert domain.rejected_item(both, "B", now=NOW) is both
    whole = domain.rejected_item(item, "", now=NOW)
    assert (whole.state, whole.candidates) == (domain.ReviewState.REJECTED, ())
    assert domain.rejected_item(whole, "C", now=NOW).state is domain.ReviewState.REJECTED


def test_a_resighted_item_keeps_the_newest_reading_and_a_rejected_one_stays_rejected() -> None:
    item = review_item("A")
    older = domain.validate_sighting(
        sighting_draft(fetch_time=START - timedelta(hours=1), title="old"), now=NOW, default_currency="EUR"
    )
    same = domain.resighted(item, older, source_id="s", crawl_job_id="j", candidates=item.candidates, now=NOW)
    assert same is item
    newer = replace(older, fetch_time=START + timedelta(hours=1), title="new")
    moved = domain.resighted(item, newer, source_id="s", crawl_job_id="j", candidates=(), now=NOW)
    assert (moved.sighting.title, moved.source_id, moved.state, moved.revision) == (
        "new",
        "s",
        domain.ReviewState.UNMATCHED,
        2,
    )
    rejected = review_item(state=domain.ReviewState.REJECTED)
    kept = domain.resighted(rejected, newer, source_id="s", crawl_job_id="j", candidates=None, now=NOW)
    assert (kept.state, kept.sighting.title) == (domain.ReviewState.REJECTED, "new")
    matched = domain.matched_item(moved, None, sku="A", offer_id=OFFER, now=NOW)
    assert (matched.state, matched.sku, matched.offer_id, matched.candidates) == (
        domain.ReviewState.MATCHED,
        "A",
        OFFER,
        (),
    )
