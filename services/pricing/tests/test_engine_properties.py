"""Random skus and strategies through the engine, checked against the rules written out per row in Python.

Zero violations: every recommended price keeps every guardrail unless the row is flagged with that rule as
the loser (and then a higher-priority winner is named and holds); endings never cross a guardrail and are
the nearest fitting ones; the chain picks the first rule whose inputs are there, for the stated reasons;
prices are whole; the same inputs give the same outcome, in any row order.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.pricing.domain.endings import EndingStatus, PriceEnding, PriceEndings
from services.pricing.domain.engine import PricingEngine, PricingInputs, PricingOutcome
from services.pricing.domain.guardrails import PRIORITY, ROUNDING_SLACK, Guardrail, GuardrailSpec, guardrails_in
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
    Rule,
    SkipReason,
    StrategySpec,
)

TOP = 30_000
# Amounts on round figures too, so that prices often sit exactly between two endings.
money = st.one_of(st.integers(1, TOP), st.integers(1, TOP // 50).map(lambda units: units * 50)).map(float)

rules = st.one_of(
    st.builds(CostPlus, st.floats(0, 200)),
    st.just(MatchLowest()),
    st.builds(BeatLowest, amount_minor=st.integers(1, 3_000)),
    st.builds(BeatLowest, percent=st.floats(0.01, 99.0)),
    st.just(MatchMedian()),
    st.builds(PriceIndex, st.floats(1, 300), st.sampled_from(list(Reference))),
    st.floats(1, 200).flatmap(lambda low: st.builds(KeepWithinBand, st.just(low), st.floats(low, 300))),
    st.just(OptimiseProfit()),
    st.just(OptimiseRevenue()),
    st.just(KeepPrice()),
)
# Few distinct starts, so that ranges often have several endings to choose from.
starts = st.sampled_from([0, 0, 0, 700, 2_000, 9_000])
endings = st.lists(
    st.one_of(
        st.builds(PriceEnding, starts, minor_ending=st.sampled_from([0, 50, 95, 99]) | st.integers(0, 999)),
        st.builds(PriceEnding, starts, whole_digit=st.integers(0, 9)),
    ),
    min_size=1,
    max_size=5,
    unique=True,
).map(lambda items: PriceEndings(tuple(items)))


@st.composite
def guardrail_specs(draw: st.DrawFn, needs_change: bool) -> GuardrailSpec:
    low = draw(st.one_of(st.none(), st.none(), st.none(), st.integers(1, TOP // 4)))
    high = draw(st.one_of(st.none(), st.none(), st.none(), st.integers(max(low or 1, TOP // 8), TOP)))
    # Round figures too: 3 / (1 - 0.9) and 200 * 1.15 miss whole numbers by a float rounding error.
    percent = draw(st.one_of(st.none(), st.floats(0, 2), st.floats(0, 60), st.sampled_from([7.0, 10.0, 14.0, 15.0])))
    amount = draw(st.none() | st.integers(0, 5_000))
    if needs_change and percent is None and amount is None:
        percent = draw(st.floats(0, 60))
    return GuardrailSpec(
        min_margin=draw(st.one_of(st.none(), st.floats(0, 0.95), st.sampled_from([0.1, 0.3, 0.7, 0.9]))),
        min_price_minor=low,
        max_price_minor=high,
        max_change_percent=percent,
        max_change_minor=amount,
        endings=draw(st.one_of(st.none(), endings, endings)),
    )


@st.composite
def strategy_specs(draw: st.DrawFn) -> StrategySpec:
    chain = draw(st.lists(rules, min_size=1, max_size=3))
    if any(isinstance(rule, KeepPrice) for rule in chain):
        chain = [*chain[: [isinstance(rule, KeepPrice) for rule in chain].index(True)], KeepPrice()]
    optimising = any(isinstance(rule, OptimiseProfit | OptimiseRevenue) for rule in chain)
    return StrategySpec(
        "random",
        tuple(chain),
        competitors=frozenset(draw(st.sets(st.integers(0, 5), max_size=3))),
        max_market_age_seconds=draw(st.none() | st.floats(60, 10_000)),
        guardrails=draw(guardrail_specs(optimising)),
    )


def maybe(values: st.SearchStrategy[float], chance_of_none: float = 0.3) -> st.SearchStrategy[float]:
    return st.one_of(st.just(math.nan), values) if chance_of_none else values


@dataclass(frozen=True)
class Case:
    strategies: list[StrategySpec]
    exponent: int
    inputs: PricingInputs


def near(current: float, low: float, high: float) -> st.SearchStrategy[float]:
    """An amount around the current price (as real costs, bounds and market prices are), or anywhere."""
    around = st.floats(low, high).map(lambda factor: float(max(1, round(current * factor))))
    return st.one_of(around, around, around, money)


@st.composite
def sku_row(draw: st.DrawFn, k: int, strategies: int) -> dict[str, Any]:
    current = draw(money)
    low, high = draw(maybe(near(current, 0.3, 1.0))), draw(maybe(near(current, 0.9, 2.5)))
    market = draw(st.lists(maybe(near(current, 0.6, 1.6)), min_size=k, max_size=k))
    return {
        "current_price": current,
        "strategy": draw(st.integers(0, strategies - 1)),
        "cost": draw(maybe(near(current, 0.3, 1.2))),
        "map_price": draw(maybe(near(current, 0.5, 1.3), 0.7)),
        "min_price": min(low, high),
        "max_price": max(low, high) if not math.isnan(low) else high,
        "market_price": market,
        "market_competitor": [-1 if math.isnan(p) else draw(st.integers(0, 5)) for p in market],
        "market_age_seconds": draw(st.lists(st.floats(0, 12_000), min_size=k, max_size=k)),
        "elasticity": draw(maybe(st.sampled_from([-1.0, -2.0]) | st.floats(-6, 1))),
        "elasticity_reliable": draw(st.booleans()),
    }


@st.composite
def cases(draw: st.DrawFn) -> Case:
    strategies = draw(st.lists(strategy_specs(), min_size=1, max_size=3))
    k = draw(st.integers(0, 4))
    rows = draw(st.lists(sku_row(k, len(strategies)), max_size=20))
    column = {name: [row[name] for row in rows] for name in COLUMNS}
    matrix = {name: np.array(column[name], dtype=float).reshape(len(rows), k) for name in COLUMNS[-3:]}
    inputs = PricingInputs.build(
        current_price=column["current_price"],
        strategy=np.array(column["strategy"], dtype=np.int64),
        cost=column["cost"],
        map_price=column["map_price"],
        min_price=column["min_price"],
        max_price=column["max_price"],
        elasticity=column["elasticity"],
        elasticity_reliable=column["elasticity_reliable"],
        market_price=matrix["market_price"],
        market_competitor=matrix["market_competitor"].astype(np.int32),
        market_age_seconds=matrix["market_age_seconds"],
    )
    return Case(strategies, draw(st.sampled_from([0, 2, 3])), inputs)


COLUMNS = (
    "current_price",
    "strategy",
    "cost",
    "map_price",
    "min_price",
    "max_price",
    "elasticity",
    "elasticity_reliable",
    "market_price",
    "market_competitor",
    "market_age_seconds",
)


class Row:
    """One row's inputs as Python numbers, and the rules that apply to it written out plainly."""

    def __init__(self, case: Case, index: int) -> None:
        inputs = case.inputs
        self.spec = case.strategies[int(inputs.strategy[index])]
        self.current = float(inputs.current_price[index])
        self.cost = float(inputs.cost[index])
        self.map_price = float(inputs.map_price[index])
        self.min_price = float(inputs.min_price[index])
        self.max_price = float(inputs.max_price[index])
        self.elasticity = float(inputs.elasticity[index])
        self.reliable = bool(inputs.elasticity_reliable[index])
        known = [
            (int(c), float(p), float(a))
            for p, c, a in zip(
                inputs.market_price[index],
                inputs.market_competitor[index],
                inputs.market_age_seconds[index],
                strict=True,
            )
            if not math.isnan(p)
        ]
        wanted = self.spec.competitors
        self.in_set = [entry for entry in known if not wanted or entry[0] in wanted]
        limit = self.spec.max_market_age_seconds
        self.usable = sorted(p for _, p, age in self.in_set if limit is None or age <= limit)

    def bounds(self) -> dict[Guardrail, tuple[float, float]]:
        """(lowest, highest) whole price each rule allows; rules without a bound for this row are left out."""
        guard = self.spec.guardrails
        result: dict[Guardrail, tuple[float, float]] = {}
        if not math.isnan(self.cost):
            result[Guardrail.COST_FLOOR] = (self.cost, math.inf)
            if guard.min_margin is not None:
                result[Guardrail.MARGIN_FLOOR] = (_up(self.cost / (1 - guard.min_margin)), math.inf)
        if not math.isnan(self.map_price):
            result[Guardrail.MAP] = (self.map_price, math.inf)
        lows = [v for v in (self.min_price, guard.min_price_minor) if v is not None and not math.isnan(v)]
        highs = [v for v in (self.max_price, guard.max_price_minor) if v is not None and not math.isnan(v)]
        if lows:
            result[Guardrail.MIN_PRICE] = (max(lows), math.inf)
        if highs:
            result[Guardrail.MAX_PRICE] = (-math.inf, min(highs))
        if guard.limits_change:
            low, high = -math.inf, math.inf
            if guard.max_change_percent is not None:
                low = _up(self.current * (1 - guard.max_change_percent / 100))
                high = _down(self.current * (1 + guard.max_change_percent / 100))
            if guard.max_change_minor is not None:
                low = max(low, self.current - guard.max_change_minor)
                high = min(high, self.current + guard.max_change_minor)
            result[Guardrail.MAX_CHANGE] = (low, high)
        return result

    def reasons(self, rule: Rule) -> int:
        """Why the chain must skip `rule` for this row (0: it applies), before the price-below-one check."""
        reasons = 0
        needs_cost = isinstance(rule, CostPlus | OptimiseProfit)
        if needs_cost and math.isnan(self.cost):
            reasons |= SkipReason.MISSING_COST
        if isinstance(rule, OptimiseProfit | OptimiseRevenue):
            if not self.reliable:
                reasons |= SkipReason.MODEL_UNRELIABLE
            if math.isnan(self.elasticity):
                reasons |= SkipReason.MISSING_ELASTICITY
        if isinstance(rule, MatchLowest | BeatLowest | MatchMedian | PriceIndex | KeepWithinBand) and not self.usable:
            reasons |= SkipReason.STALE_MARKET_DATA if self.in_set else SkipReason.NO_COMPETITOR_PRICE
        return reasons

    def rule_price(self, rule: Rule, floor: float, ceiling: float) -> float:
        """The rule's unrounded price, as strategies.py documents it."""
        usable = self.usable
        if isinstance(rule, KeepPrice):
            return self.current
        if isinstance(rule, CostPlus):
            return self.cost * (1.0 + rule.markup_percent / 100.0)
        if isinstance(rule, OptimiseProfit):
            e = self.elasticity
            return min(max(self.cost * e / (1.0 + e), floor), ceiling) if e < -1 else ceiling
        if isinstance(rule, OptimiseRevenue):
            e = self.elasticity
            return ceiling if e > -1 else floor if e < -1 else min(max(self.current, floor), ceiling)
        if isinstance(rule, MatchLowest):
            return usable[0]
        if isinstance(rule, BeatLowest):
            if rule.amount_minor is not None:
                return usable[0] - rule.amount_minor
            return usable[0] * (1.0 - (rule.percent or 0.0) / 100.0)
        if isinstance(rule, MatchMedian):
            return statistics.median(usable)
        reference = statistics.median(usable)
        if isinstance(rule, PriceIndex):
            if rule.reference is Reference.LOWEST:
                reference = usable[0]
            elif rule.reference is Reference.MEAN:
                reference = sum(usable) / len(usable)
            return reference * (rule.index_percent / 100.0)
        assert isinstance(rule, KeepWithinBand)
        low = math.ceil(reference * (rule.low_percent / 100.0) - ROUNDING_SLACK)
        high = math.floor(reference * (rule.high_percent / 100.0) + ROUNDING_SLACK)
        return min(max(self.current, low), high)


def _up(bound: float) -> float:
    """A lower bound as a whole price (float arithmetic may land a hair above a whole number)."""
    return math.ceil(bound - ROUNDING_SLACK)


def _down(bound: float) -> float:
    return math.floor(bound + ROUNDING_SLACK)


def _beats(winner: tuple[float, float], loser: tuple[float, float]) -> bool:
    return winner[0] > loser[1] or winner[1] < loser[0]


def lattices(spec: StrategySpec, exponent: int, price: float) -> tuple[bool, list[tuple[int, int]]]:
    """Whether price endings are configured for `price`'s range, and the ones this currency has."""
    configured = spec.guardrails.endings
    if configured is None:
        return False, []
    starts = [ending.from_minor for ending in configured.endings if ending.from_minor <= price]
    if not starts:
        return False, []
    found = [ending.lattice(exponent) for ending in configured.endings if ending.from_minor == max(starts)]
    return True, [lattice for lattice in found if lattice is not None]


def check_row(case: Case, outcome: PricingOutcome, index: int) -> None:
    row = Row(case, index)
    price = int(outcome.recommended[index])
    floor, ceiling = float(outcome.floor[index]), float(outcome.ceiling[index])
    assert price >= 1
    assert floor <= price <= ceiling

    # Guardrails: each holds, unless flagged as the loser of a conflict with a higher-priority winner.
    lost, won = int(outcome.conflict_lost[index]), int(outcome.conflict_won[index])
    bounds = row.bounds()
    for rule, (low, high) in bounds.items():
        holds = low <= price <= high
        assert holds != bool(lost & rule.bit), (rule, low, price, high, lost)
    losers, winners = guardrails_in(lost), guardrails_in(won)
    assert bool(losers) == bool(winners)
    for winner in winners:
        # Each winner ranks above a loser whose bound lies across its own.
        beaten = [loser for loser in losers if _beats(bounds[winner], bounds[loser])]
        assert beaten
        assert all(PRIORITY.index(winner) < PRIORITY.index(loser) for loser in beaten)
    for loser in losers:
        assert any(_beats(bounds[winner], bounds[loser]) for winner in winners)
    if not lost:
        # Without a conflict the interval is exactly what the rules allow (and at least one minor unit).
        assert floor == max([1.0, *(low for low, _ in bounds.values())])
        assert ceiling == min([math.inf, *(high for _, high in bounds.values())])

    # The chain: the first rule whose inputs are there, the reasons for the ones skipped.
    steps = row.spec.steps
    step = int(outcome.chain_step[index])
    strategy_price = int(outcome.strategy_price[index])
    for skipped in range(step):
        reasons = int(outcome.skip_reasons[index, skipped])
        expected = row.reasons(steps[skipped])
        assert reasons
        assert reasons == expected or (not expected and reasons == SkipReason.NONPOSITIVE_PRICE)
        if reasons == SkipReason.NONPOSITIVE_PRICE:
            assert round(row.rule_price(steps[skipped], floor, ceiling)) < 1
    assert not outcome.skip_reasons[index, step:].any()
    assert row.reasons(steps[step]) == 0
    assert strategy_price == round(row.rule_price(steps[step], floor, ceiling)) >= 1

    # Moves add up; the ending is the nearest fitting one, or none fits.
    deltas = [int(d) for d in outcome.guardrail_delta[index]]
    assert strategy_price + sum(deltas) == price
    before_ending = price - deltas[Guardrail.ENDING]
    configured, found = lattices(row.spec, case.exponent, before_ending)
    candidates = sorted(
        {
            before_ending - (before_ending - rest) % modulus + shift
            for modulus, rest in found
            for shift in (0, modulus)
            if floor <= before_ending - (before_ending - rest) % modulus + shift <= ceiling
        },
        key=lambda candidate: (abs(candidate - before_ending), candidate),
    )
    status = EndingStatus(int(outcome.ending[index]))
    if not configured:
        assert (status, deltas[Guardrail.ENDING]) == (EndingStatus.NONE, 0)
    elif not found:
        assert (status, deltas[Guardrail.ENDING]) == (EndingStatus.NOT_APPLICABLE, 0)
    elif not candidates:
        assert (status, deltas[Guardrail.ENDING]) == (EndingStatus.SKIPPED_GUARDRAIL, 0)
    else:
        assert (status, price) == (EndingStatus.APPLIED, candidates[0])
    assert bool(outcome.changed[index]) == (price != row.current)


@settings(max_examples=250, deadline=None)
@given(cases())
def test_every_price_keeps_the_rules(case: Case) -> None:
    engine = PricingEngine(case.strategies, case.exponent)
    outcome = engine.price(case.inputs)
    assert outcome.recommended.dtype == np.int64
    for index in range(len(case.inputs)):
        check_row(case, outcome, index)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_the_same_inputs_give_the_same_outcome_in_any_order(case: Case) -> None:
    engine = PricingEngine(case.strategies, case.exponent)
    first, second = engine.price(case.inputs), engine.price(case.inputs)
    order = np.argsort(case.inputs.strategy, kind="stable")
    inputs = case.inputs
    regrouped = engine.price(
        PricingInputs.build(
            current_price=inputs.current_price[order],
            strategy=inputs.strategy[order],
            cost=inputs.cost[order],
            map_price=inputs.map_price[order],
            min_price=inputs.min_price[order],
            max_price=inputs.max_price[order],
            market_price=inputs.market_price[order],
            market_competitor=inputs.market_competitor[order],
            market_age_seconds=inputs.market_age_seconds[order],
            elasticity=inputs.elasticity[order],
            elasticity_reliable=inputs.elasticity_reliable[order],
        )
    )
    for name in PricingOutcome.__dataclass_fields__:
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
        assert np.array_equal(getattr(first, name)[order], getattr(regrouped, name)), name
