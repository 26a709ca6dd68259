"""Each rule's price, the fallback chain and its skip reasons, and refusals of bad specs."""

from __future__ import annotations

import math

import pytest

from runtime.errors import InvalidArgument
from services.pricing.domain.guardrails import GuardrailSpec
from services.pricing.domain.market import Reference
from services.pricing.domain.strategies import (
    BeatLowest,
    CostPlus,
    KeepPrice,
    KeepWithinBand,
    MatchLowest,
    MatchMedian,
    OptimiseProfit,
    OptimiseRevenue,
    PriceIndex,
    SkipReason,
    StrategySpec,
)
from services.pricing.tests.engine_support import HOUR, Sku, market, price, price_one, spec

WINDOW = GuardrailSpec(max_change_percent=10.0)


def test_cost_plus_adds_the_markup_to_the_cost() -> None:
    assert price_one(spec(CostPlus(25.0)), Sku(current=1000, cost=1000))["price"] == 1250


def test_cost_plus_rounds_to_the_nearest_minor_unit() -> None:
    # 999 * 1.125 = 1123.875
    assert price_one(spec(CostPlus(12.5)), Sku(current=1000, cost=999))["price"] == 1124


def test_match_lowest_takes_the_lowest_competitor_price() -> None:
    row = price_one(spec(MatchLowest()), Sku(current=2000, market=market(2100, 1999, 2500)))
    assert (row["price"], row["step"]) == (1999, 0)


def test_the_competitor_set_limits_the_prices_used() -> None:
    sku = Sku(current=2000, market=market(2100, 1999, 2500))
    assert price_one(spec(MatchLowest(), competitors=frozenset({0, 2})), sku)["price"] == 2100


def test_beat_lowest_by_an_amount_or_a_percentage() -> None:
    sku = Sku(current=2000, market=market(2100, 1999))
    assert price_one(spec(BeatLowest(amount_minor=50)), sku)["price"] == 1949
    # 1999 * 0.98 = 1959.02
    assert price_one(spec(BeatLowest(percent=2.0)), sku)["price"] == 1959


@pytest.mark.parametrize(
    ("prices", "median"),
    [((1300, 1000, 1100), 1100), ((1000, 1500, 1100, 1300), 1200), ((1000, 1003), 1002), ((1000, 1001), 1000)],
)
def test_match_median_of_odd_and_even_counts(prices: tuple[int, ...], median: int) -> None:
    # A median half a minor unit between two prices rounds half to even.
    assert price_one(spec(MatchMedian()), Sku(current=1000, market=market(*prices)))["price"] == median


@pytest.mark.parametrize(
    ("reference", "expected"), [(Reference.LOWEST, 980), (Reference.MEDIAN, 1176), (Reference.MEAN, 1307)]
)
def test_price_index_of_the_chosen_reference(reference: Reference, expected: int) -> None:
    # lowest 1000, median 1200, mean 1333.33; 98 % of each.
    sku = Sku(current=1100, market=market(1000, 1200, 1800))
    assert price_one(spec(PriceIndex(98.0, reference)), sku)["price"] == expected


@pytest.mark.parametrize(("current", "expected"), [(1000, 1000), (800, 950), (1200, 1050)])
def test_keep_within_band_moves_the_price_only_when_outside(current: int, expected: int) -> None:
    band = spec(KeepWithinBand(95.0, 105.0))
    assert price_one(band, Sku(current=current, market=market(900, 1000, 1100)))["price"] == expected


def test_keep_within_band_rounds_its_edges_inwards() -> None:
    # Median 1001: the band 95-105 % is 950.95-1051.05, so whole prices 951-1051.
    band = spec(KeepWithinBand(95.0, 105.0))
    assert price_one(band, Sku(current=10, market=market(1001)))["price"] == 951
    assert price_one(band, Sku(current=5000, market=market(1001)))["price"] == 1051


@pytest.mark.parametrize(
    ("elasticity", "expected"),
    [(-2.0, 2000), (-3.0, 1710), (-1.5, 2090), (-0.5, 2090), (-1.0, 2090), (0.5, 2090)],
)
def test_optimise_profit_is_the_constrained_optimum(elasticity: float, expected: int) -> None:
    # Window: current 1900 ± 10 % = 1710-2090. p* = cost * e / (1 + e): 2000 at e = -2, 1500 at -3, 3000
    # at -1.5; from e = -1 up profit only grows with the price.
    sku = Sku(current=1900, cost=1000, elasticity=elasticity)
    assert price_one(spec(OptimiseProfit(), guardrails=WINDOW), sku)["price"] == expected


@pytest.mark.parametrize(("elasticity", "expected"), [(-2.0, 1710), (-0.5, 2090), (-1.0, 1900)])
def test_optimise_revenue_goes_to_the_end_its_elasticity_favours(elasticity: float, expected: int) -> None:
    sku = Sku(current=1900, elasticity=elasticity)
    assert price_one(spec(OptimiseRevenue(), guardrails=WINDOW), sku)["price"] == expected


def test_the_optimum_respects_guardrails_inside_the_window() -> None:
    guardrails = GuardrailSpec(max_change_percent=10.0, max_price_minor=1950)
    sku = Sku(current=1900, cost=1000, elasticity=-0.5)
    assert price_one(spec(OptimiseProfit(), guardrails=guardrails), sku)["price"] == 1950


@pytest.mark.parametrize(
    ("reliable", "elasticity", "reasons"),
    [
        (False, -2.0, SkipReason.MODEL_UNRELIABLE),
        (True, math.nan, SkipReason.MISSING_ELASTICITY),
        (False, math.nan, SkipReason.MODEL_UNRELIABLE | SkipReason.MISSING_ELASTICITY),
    ],
)
def test_an_unreliable_or_missing_model_is_never_used(reliable: bool, elasticity: float, reasons: int) -> None:
    strategy = spec(OptimiseRevenue(), CostPlus(20.0), guardrails=WINDOW)
    row = price_one(strategy, Sku(current=1000, cost=900, elasticity=elasticity, reliable=reliable))
    assert (row["price"], row["step"], row["skips"][0]) == (1080, 1, reasons)


def test_optimise_profit_needs_the_cost() -> None:
    row = price_one(spec(OptimiseProfit(), guardrails=WINDOW), Sku(current=1000, elasticity=-2.0))
    assert (row["price"], row["step"], row["skips"][0]) == (1000, 1, SkipReason.MISSING_COST)


def test_the_chain_falls_back_step_by_step_and_says_why() -> None:
    chain = spec(MatchLowest(), CostPlus(25.0))
    priced = price(
        chain,
        Sku(current=1500, cost=1000, market=market(1400)),
        Sku(current=1500, cost=1000),
        Sku(current=1500),
    )
    rows = [priced.row(i) for i in range(3)]
    assert [(row["price"], row["step"]) for row in rows] == [(1400, 0), (1250, 1), (1500, 2)]
    assert rows[0]["skips"] == [0, 0, 0]
    assert rows[1]["skips"] == [SkipReason.NO_COMPETITOR_PRICE, 0, 0]
    assert rows[2]["skips"] == [SkipReason.NO_COMPETITOR_PRICE, SkipReason.MISSING_COST, 0]


def test_stale_prices_are_ignored_and_all_stale_is_its_own_reason() -> None:
    chain = spec(MatchLowest(), CostPlus(25.0), max_age=2 * HOUR)
    fresh_and_stale = [(0, 900, 3 * HOUR), (1, 1000, HOUR)]
    priced = price(
        chain,
        Sku(current=1500, cost=1000, market=fresh_and_stale),
        Sku(current=1500, cost=1000, market=market(900, age=3 * HOUR)),
    )
    assert (priced.row(0)["price"], priced.row(0)["step"]) == (1000, 0)
    assert priced.row(1)["skips"][0] == SkipReason.STALE_MARKET_DATA
    assert priced.row(1)["price"] == 1250


def test_prices_only_from_competitors_outside_the_set_mean_no_price() -> None:
    chain = spec(MatchLowest(), competitors=frozenset({5}))
    row = price_one(chain, Sku(current=1500, market=market(1000, 1100)))
    assert (row["price"], row["skips"][0]) == (1500, SkipReason.NO_COMPETITOR_PRICE)


def test_stale_prices_of_the_set_are_stale_not_missing() -> None:
    chain = spec(MatchLowest(), competitors=frozenset({1}), max_age=HOUR)
    sku = Sku(current=1500, market=[(0, 1000, 60.0), (1, 1100, 2 * HOUR)])
    assert price_one(chain, sku)["skips"][0] == SkipReason.STALE_MARKET_DATA


def test_a_rule_whose_price_falls_below_one_minor_unit_is_skipped() -> None:
    chain = spec(BeatLowest(amount_minor=5000), CostPlus(10.0))
    row = price_one(chain, Sku(current=1500, cost=1000, market=market(1000)))
    assert (row["price"], row["skips"][0]) == (1100, SkipReason.NONPOSITIVE_PRICE)


def test_half_a_minor_unit_rounds_to_zero_and_is_skipped() -> None:
    # 1 * (1 - 50 %) = 0.5, which rounds half to even: 0.
    chain = spec(BeatLowest(percent=50.0), CostPlus(0.0))
    row = price_one(chain, Sku(current=5, cost=2, market=market(1)))
    assert (row["price"], row["skips"][0]) == (2, SkipReason.NONPOSITIVE_PRICE)


def test_keep_price_in_the_chain_ends_it() -> None:
    row = price_one(spec(KeepPrice()), Sku(current=1234, cost=1000))
    assert (row["price"], row["step"], row["changed"]) == (1234, 0, False)


def test_median_with_a_filter_uses_only_the_usable_prices() -> None:
    chain = spec(MatchMedian(), max_age=HOUR)
    sku = Sku(current=1500, market=[(0, 1000, 60.0), (1, 1100, 2 * HOUR), (2, 1300, 60.0), (3, 1400, 60.0)])
    assert price_one(chain, sku)["price"] == 1300


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: CostPlus(-1.0), "markup_percent"),
        (lambda: CostPlus(math.nan), "markup_percent"),
        (lambda: CostPlus(True), "markup_percent"),
        (lambda: BeatLowest(), "beat"),
        (lambda: BeatLowest(amount_minor=10, percent=1.0), "beat"),
        (lambda: BeatLowest(amount_minor=0), "beat_amount"),
        (lambda: BeatLowest(percent=100.0), "beat_percent"),
        (lambda: PriceIndex(0.0), "index_percent"),
        (lambda: PriceIndex(98.0, "median"), "reference"),  # type: ignore[arg-type]
        (lambda: KeepWithinBand(110.0, 90.0), "band_low_percent"),
        (lambda: KeepWithinBand(-5.0, 90.0), "band_low_percent"),
        (lambda: StrategySpec("s", ()), "rules"),
        (lambda: StrategySpec("", (KeepPrice(),)), "name"),
        (lambda: StrategySpec("s", (KeepPrice(), CostPlus(1.0))), "rules"),
        (lambda: StrategySpec("s", ("cost_plus",)), "rules"),  # type: ignore[arg-type]
        (lambda: StrategySpec("s", (OptimiseProfit(),)), "max_change_percent"),
        (lambda: StrategySpec("s", (MatchLowest(),), competitors=frozenset({-1})), "competitor_ids"),
        (lambda: StrategySpec("s", (MatchLowest(),), max_market_age_seconds=0), "max_market_age_seconds"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field


def test_the_chain_ends_with_keep_price_once() -> None:
    assert spec(MatchLowest()).steps == (MatchLowest(), KeepPrice())
    assert spec(MatchLowest(), KeepPrice()).steps == (MatchLowest(), KeepPrice())
