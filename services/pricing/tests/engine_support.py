"""Builders for the pricing core's tests: skus as rows, priced through the real engine."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from services.pricing.domain.engine import PricingEngine, PricingInputs, PricingOutcome
from services.pricing.domain.guardrails import Guardrail, GuardrailSpec
from services.pricing.domain.strategies import Rule, StrategySpec

NAN = math.nan
HOUR = 3600.0


@dataclass(frozen=True)
class Sku:
    current: int
    cost: float = NAN
    map_price: float = NAN
    min_price: float = NAN
    max_price: float = NAN
    # (competitor id, price in minor units, age in seconds)
    market: Sequence[tuple[int, int, float]] = ()
    elasticity: float = NAN
    reliable: bool = True
    se: float = NAN
    strategy: int = 0


class Row(TypedDict):
    price: int
    strategy_price: int
    step: int
    skips: list[int]
    deltas: dict[Guardrail, int]
    lost: int
    won: int
    ending: int
    changed: bool
    floor: float
    ceiling: float


@dataclass(frozen=True)
class Priced:
    engine: PricingEngine
    inputs: PricingInputs
    outcome: PricingOutcome

    def row(self, index: int = 0) -> Row:
        """One row of the outcome as plain Python values."""
        out = self.outcome
        return {
            "price": int(out.recommended[index]),
            "strategy_price": int(out.strategy_price[index]),
            "step": int(out.chain_step[index]),
            "skips": [int(code) for code in out.skip_reasons[index]],
            "deltas": {
                rule: int(out.guardrail_delta[index, rule]) for rule in Guardrail if out.guardrail_delta[index, rule]
            },
            "lost": int(out.conflict_lost[index]),
            "won": int(out.conflict_won[index]),
            "ending": int(out.ending[index]),
            "changed": bool(out.changed[index]),
            "floor": float(out.floor[index]),
            "ceiling": float(out.ceiling[index]),
        }


def spec(
    *rules: Rule,
    guardrails: GuardrailSpec | None = None,
    competitors: frozenset[int] = frozenset(),
    max_age: float | None = None,
) -> StrategySpec:
    return StrategySpec(
        "test", rules, competitors=competitors, max_market_age_seconds=max_age, guardrails=guardrails or GuardrailSpec()
    )


def inputs_of(skus: Sequence[Sku]) -> PricingInputs:
    k = max((len(sku.market) for sku in skus), default=0)
    prices = np.full((len(skus), k), np.nan)
    ids = np.full((len(skus), k), -1, dtype=np.int32)
    ages = np.zeros((len(skus), k))
    for row, sku in enumerate(skus):
        for column, (competitor, price, age) in enumerate(sku.market):
            prices[row, column], ids[row, column], ages[row, column] = price, competitor, age
    return PricingInputs.build(
        current_price=[sku.current for sku in skus],
        strategy=np.array([sku.strategy for sku in skus], dtype=np.int64),
        cost=[sku.cost for sku in skus],
        map_price=[sku.map_price for sku in skus],
        min_price=[sku.min_price for sku in skus],
        max_price=[sku.max_price for sku in skus],
        market_price=prices,
        market_competitor=ids,
        market_age_seconds=ages,
        elasticity=[sku.elasticity for sku in skus],
        elasticity_reliable=[sku.reliable for sku in skus],
        elasticity_se=[sku.se for sku in skus],
    )


def price(strategies: StrategySpec | Sequence[StrategySpec], *skus: Sku, exponent: int = 2) -> Priced:
    specs = [strategies] if isinstance(strategies, StrategySpec) else list(strategies)
    engine = PricingEngine(specs, exponent)
    inputs = inputs_of(skus)
    return Priced(engine, inputs, engine.price(inputs))


def price_one(strategy: StrategySpec, sku: Sku, *, exponent: int = 2) -> Row:
    return price(strategy, sku, exponent=exponent).row()


def market(*prices: int, age: float = HOUR) -> list[tuple[int, int, float]]:
    """Competitor i offers prices[i], all of the same age."""
    return [(competitor, amount, age) for competitor, amount in enumerate(prices)]
