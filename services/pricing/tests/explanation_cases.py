"""Priced rows of every kind an explanation tells apart: fallbacks and skip reasons, each market rule,
the optimisers in each elasticity regime, every guardrail's move, conflicts, endings applied, skipped and
not applicable, currencies with 0, 2 and 3 minor digits, and competitors without a name.

explanations_before_traces.json holds what explain() said of every row of these cases before explanations
were rendered from stored traces; test_explanation checks that rendering a trace still says exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.pricing.domain.endings import PriceEnding, PriceEndings
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
    StrategySpec,
)
from services.pricing.tests.engine_support import HOUR, Priced, Sku, price, spec

BEFORE_TRACES = Path(__file__).with_name("explanations_before_traces.json")
NAMES = {0: "A", 1: "B", 2: "C", 3: "Dé shop"}
NINETY_NINE = PriceEndings((PriceEnding(0, minor_ending=99),))
TEN_PERCENT = GuardrailSpec(max_change_percent=10.0)


@dataclass(frozen=True)
class Case:
    strategies: list[StrategySpec]
    skus: list[Sku]
    exponent: int = 2
    names: Mapping[int, str] | None = None

    def priced(self) -> Priced:
        return price(self.strategies, *self.skus, exponent=self.exponent)


CASES = {
    "map beats the maximum price": Case(
        [spec(MatchLowest(), guardrails=GuardrailSpec(max_price_minor=1780))],
        [Sku(current=1900, cost=1200, map_price=1800, market=[(0, 1750, 2 * HOUR), (1, 1999, 600.0), (2, 2100, 60.0)])],
        names=NAMES,
    ),
    "fallbacks and their reasons": Case(
        [spec(MatchLowest(), CostPlus(25.0), competitors=frozenset({1, 3}), max_age=HOUR)],
        [
            Sku(current=1500, cost=1000, market=[(1, 1400, 3 * HOUR)]),
            Sku(current=1500, cost=1000, market=[(0, 1400, 60.0)]),
            Sku(current=1500, cost=1000, market=[(0, 1300, 60.0), (1, 1450, 60.0), (3, 1480, 5 * HOUR)]),
            Sku(current=1500, market=[(2, 1400, 60.0)]),
            Sku(current=1500),
        ],
        names=NAMES,
    ),
    "market rules side by side": Case(
        [
            spec(MatchMedian()),
            spec(PriceIndex(98.0, Reference.MEAN)),
            spec(PriceIndex(105.5, Reference.LOWEST)),
            spec(KeepWithinBand(95.0, 105.0)),
            spec(BeatLowest(amount_minor=50)),
            spec(BeatLowest(percent=2.5)),
        ],
        [
            Sku(current=2000, market=[(0, 1999, 60.0), (1, 2100, 60.0)], strategy=0),
            Sku(current=2000, market=[(0, 1900, 60.0), (1, 2000, 90.0), (2, 2300, 86_400.0)], strategy=1),
            Sku(current=2000, market=[(0, 1900, 60.0), (2, 2300, 7200.0)], strategy=2),
            Sku(current=2000, market=[(0, 2010, 60.0)], strategy=3),
            Sku(current=2500, market=[(0, 2010, 60.0), (1, 2030, 60.0), (2, 1990, 60.0)], strategy=3),
            Sku(current=2500, market=[(3, 2010, 45.0)], strategy=4),
            Sku(current=2500, market=[(1, 2010, 60.0), (3, 1999, 59.0)], strategy=5),
            Sku(current=2500, market=[(0, 1990, 60.0), (1, 2020, 60.0), (2, 2050, 60.0)], strategy=0),
        ],
        names=NAMES,
    ),
    "a price below one minor unit is skipped": Case(
        [spec(BeatLowest(amount_minor=100_000), KeepPrice(), guardrails=GuardrailSpec(endings=NINETY_NINE))],
        [Sku(current=1234, market=[(0, 500, 60.0)])],
        names=NAMES,
    ),
    "optimisers": Case(
        [
            spec(OptimiseProfit(), CostPlus(30.0), guardrails=TEN_PERCENT),
            spec(OptimiseRevenue(), guardrails=GuardrailSpec(max_change_minor=300)),
        ],
        [
            Sku(current=1900, cost=1000, elasticity=-3.0, se=0.5),
            Sku(current=1900, cost=1000, elasticity=-0.5, se=0.25),
            Sku(current=1900, cost=1000, elasticity=-2.2),
            Sku(current=1900, cost=1000, elasticity=-3.0, reliable=False),
            Sku(current=1900, cost=1000),
            Sku(current=1900, elasticity=-3.0),
            Sku(current=1900, elasticity=-3.0, se=0.4, strategy=1),
            Sku(current=1900, elasticity=-0.4, strategy=1),
            Sku(current=1900, elasticity=-1.0, se=0.1, strategy=1),
            Sku(current=1900, reliable=False, strategy=1),
        ],
    ),
    "each guardrail moves the price": Case(
        [
            spec(MatchLowest(), guardrails=GuardrailSpec(min_margin=0.3)),
            spec(MatchLowest(), guardrails=GuardrailSpec(max_change_percent=10.0)),
            spec(MatchLowest(), guardrails=GuardrailSpec(min_price_minor=1800, max_price_minor=1900)),
            spec(CostPlus(80.0), guardrails=GuardrailSpec(max_change_minor=150, min_margin=0.123456)),
        ],
        [
            Sku(current=2000, cost=1500, market=[(0, 1600, 60.0)], strategy=0),
            Sku(current=2000, cost=1500, market=[(0, 1400, 60.0)], strategy=0),
            Sku(current=2000, market=[(0, 1500, 60.0)], strategy=1),
            Sku(current=2000, market=[(0, 1500, 60.0)], strategy=2),
            Sku(current=2000, market=[(0, 2500, 60.0)], strategy=2),
            Sku(current=2000, map_price=1950, market=[(0, 1500, 60.0)], strategy=2),
            Sku(current=2000, min_price=1990, max_price=2100, market=[(0, 1500, 60.0)], strategy=2),
            Sku(current=2000, cost=1500, strategy=3),
        ],
    ),
    "conflicts": Case(
        [
            spec(MatchLowest(), guardrails=GuardrailSpec(min_margin=0.1, max_change_percent=10.0)),
            spec(MatchLowest(), guardrails=GuardrailSpec(max_price_minor=3000, max_change_percent=10.0)),
            spec(MatchLowest(), guardrails=GuardrailSpec(max_price_minor=1000)),
        ],
        [
            Sku(current=1000, cost=1500, market=[(0, 900, 60.0)], strategy=0),
            Sku(current=5000, market=[(0, 4000, 60.0)], strategy=1),
            Sku(current=1200, cost=1100, map_price=1150, market=[(0, 900, 60.0)], strategy=2),
            Sku(current=1200, cost=1100, min_price=1300, market=[(0, 900, 60.0)], strategy=2),
        ],
    ),
    "endings": Case(
        [
            spec(KeepPrice(), guardrails=GuardrailSpec(endings=NINETY_NINE)),
            spec(
                CostPlus(50.0),
                guardrails=GuardrailSpec(
                    endings=PriceEndings(
                        (
                            PriceEnding(1000, minor_ending=95),
                            PriceEnding(1000, minor_ending=99),
                            PriceEnding(10_000, whole_digit=9),
                        )
                    )
                ),
            ),
        ],
        [
            Sku(current=1250, map_price=1240, max_price=1260),
            Sku(current=1250),
            Sku(current=1299),
            Sku(current=1000, cost=600, strategy=1),
            Sku(current=1000, cost=5000, strategy=1),
            Sku(current=1000, cost=500, strategy=1),
        ],
    ),
    "yen": Case(
        [
            spec(KeepPrice(), guardrails=GuardrailSpec(endings=PriceEndings((PriceEnding(0, whole_digit=9),)))),
            spec(KeepPrice(), guardrails=GuardrailSpec(endings=NINETY_NINE)),
            spec(MatchLowest(), guardrails=GuardrailSpec(min_margin=0.25)),
        ],
        [
            Sku(current=1234),
            Sku(current=1234, strategy=1),
            Sku(current=1500, cost=1000, market=[(2, 1100, 30.0)], strategy=2),
        ],
        exponent=0,
        names=NAMES,
    ),
    "three minor digits and unnamed competitors": Case(
        [spec(MatchMedian(), CostPlus(12.5), guardrails=GuardrailSpec(max_change_percent=5.0))],
        [
            Sku(current=12_345, cost=10_000, market=[(7, 12_001, 60.0), (9, 12_500, 3 * 86_400.0 + 5)]),
            Sku(current=12_345, cost=10_000),
        ],
        exponent=3,
    ),
}
