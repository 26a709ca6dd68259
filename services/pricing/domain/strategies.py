"""Strategy specs and their fallback chains, evaluated for many skus at once.

A strategy is a chain of rules: each row takes its price from the first rule whose inputs it has, and every
chain ends in keeping the current price. A rule is skipped for a row, with reason codes (SkipReason), when
its cost is unknown, no usable competitor price is left (none from the strategy's competitor set, or all
older than max_market_age_seconds), its demand model is unreliable or missing, or its price would round
below one minor unit.

Prices are rounded to the nearest minor unit (halves to even). The optimising rules search the row's
feasible interval from the guardrails (which always includes the maximum change per run, required for
them) on a constant-elasticity demand q = a·p^e, and give the constrained optimum:
  profit   e < -1: p* = cost·e / (1 + e) clipped to the interval; e ≥ -1: the interval's upper end
  revenue  e < -1: the lower end; e > -1: the upper end; e = -1: revenue is flat, keep the current price
An unreliable model (reliable flag false, or elasticity not a finite number) is never used.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from runtime.errors import InvalidArgument
from services.pricing.domain import checks
from services.pricing.domain.guardrails import ROUNDING_SLACK, GuardrailSpec
from services.pricing.domain.market import MarketView, Reference

MAX_RULES = 8
MAX_NAME_LENGTH = 200

FloatArray = NDArray[np.float64]
ReasonArray = NDArray[np.uint8]


class SkipReason(enum.IntFlag):
    """Why a rule of the chain was skipped for a row (several may hold)."""

    MISSING_COST = 1
    NO_COMPETITOR_PRICE = 2
    STALE_MARKET_DATA = 4
    MODEL_UNRELIABLE = 8
    MISSING_ELASTICITY = 16
    NONPOSITIVE_PRICE = 32


@dataclass(frozen=True, slots=True)
class CostPlus:
    """cost * (1 + markup_percent / 100)."""

    markup_percent: float
    kind: ClassVar[str] = "cost_plus"

    def __post_init__(self) -> None:
        checks.number(self.markup_percent, "markup_percent", minimum=0.0)


@dataclass(frozen=True, slots=True)
class MatchLowest:
    kind: ClassVar[str] = "match_lowest"
    reference: ClassVar[Reference] = Reference.LOWEST


@dataclass(frozen=True, slots=True)
class BeatLowest:
    """The lowest competitor price minus amount_minor, or minus percent of it: exactly one is given."""

    amount_minor: int | None = None
    percent: float | None = None
    kind: ClassVar[str] = "beat_lowest"
    reference: ClassVar[Reference] = Reference.LOWEST

    def __post_init__(self) -> None:
        if (self.amount_minor is None) == (self.percent is None):
            raise InvalidArgument("beat the lowest price by an amount or by a percentage, not both", field="beat")
        checks.optional_amount_minor(self.amount_minor, "beat_amount", minimum=1)
        if self.percent is not None:
            checks.number(self.percent, "beat_percent", above=0.0, below=100.0)


@dataclass(frozen=True, slots=True)
class MatchMedian:
    kind: ClassVar[str] = "match_median"
    reference: ClassVar[Reference] = Reference.MEDIAN


@dataclass(frozen=True, slots=True)
class PriceIndex:
    """index_percent of the market reference: 100 = at the market, 98 = 2 % under it."""

    index_percent: float
    reference: Reference = Reference.MEDIAN
    kind: ClassVar[str] = "price_index"

    def __post_init__(self) -> None:
        checks.number(self.index_percent, "index_percent", above=0.0, maximum=10_000.0)
        if not isinstance(self.reference, Reference):
            raise InvalidArgument(f"{self.reference!r} is not lowest, median or mean", field="reference")


@dataclass(frozen=True, slots=True)
class KeepWithinBand:
    """Moves the current price into [low, high] percent of the market median; unchanged when inside."""

    low_percent: float
    high_percent: float
    kind: ClassVar[str] = "keep_within_band"
    reference: ClassVar[Reference] = Reference.MEDIAN

    def __post_init__(self) -> None:
        checks.number(self.low_percent, "band_low_percent", above=0.0, maximum=10_000.0)
        checks.number(self.high_percent, "band_high_percent", above=0.0, maximum=10_000.0)
        if self.low_percent > self.high_percent:
            raise InvalidArgument("the band's low end is above its high end", field="band_low_percent")


@dataclass(frozen=True, slots=True)
class OptimiseProfit:
    kind: ClassVar[str] = "optimise_profit"


@dataclass(frozen=True, slots=True)
class OptimiseRevenue:
    kind: ClassVar[str] = "optimise_revenue"


@dataclass(frozen=True, slots=True)
class KeepPrice:
    kind: ClassVar[str] = "keep_price"


CompetitorRule = MatchLowest | BeatLowest | MatchMedian | PriceIndex | KeepWithinBand
Rule = CostPlus | CompetitorRule | OptimiseProfit | OptimiseRevenue | KeepPrice
RULE_TYPES = (
    CostPlus,
    MatchLowest,
    BeatLowest,
    MatchMedian,
    PriceIndex,
    KeepWithinBand,
    OptimiseProfit,
    OptimiseRevenue,
    KeepPrice,
)
COMPETITOR_RULES = (MatchLowest, BeatLowest, MatchMedian, PriceIndex, KeepWithinBand)


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """A named chain of rules with its competitor set, market age limit and guardrails.

    `competitors` are the competitor ids of the market matrices (empty = every competitor);
    max_market_age_seconds None = no age limit.
    """

    name: str
    rules: tuple[Rule, ...]
    competitors: frozenset[int] = frozenset()
    max_market_age_seconds: float | None = None
    guardrails: GuardrailSpec = field(default_factory=GuardrailSpec)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not 0 < len(self.name.strip()) <= MAX_NAME_LENGTH:
            raise InvalidArgument(f"a strategy name has 1-{MAX_NAME_LENGTH} characters", field="name")
        object.__setattr__(self, "rules", tuple(self.rules))
        if not 0 < len(self.rules) <= MAX_RULES:
            raise InvalidArgument(f"a strategy has 1-{MAX_RULES} rules", field="rules")
        for rule in self.rules:
            if not isinstance(rule, RULE_TYPES):
                raise InvalidArgument(f"{rule!r} is not a pricing rule", field="rules")
        if any(isinstance(rule, KeepPrice) for rule in self.rules[:-1]):
            raise InvalidArgument("keep price ends a chain: the rules after it could never apply", field="rules")
        object.__setattr__(self, "competitors", checks.competitor_ids(self.competitors, "competitor_ids"))
        if self.max_market_age_seconds is not None:
            checks.number(self.max_market_age_seconds, "max_market_age_seconds", above=0.0)
        if not isinstance(self.guardrails, GuardrailSpec):
            raise InvalidArgument("guardrails must be a GuardrailSpec", field="guardrails")
        optimising = any(isinstance(rule, OptimiseProfit | OptimiseRevenue) for rule in self.rules)
        if optimising and not self.guardrails.limits_change:
            raise InvalidArgument(
                "an optimising rule searches within the maximum change per run: set one", field="max_change_percent"
            )

    @property
    def steps(self) -> tuple[Rule, ...]:
        """The chain as evaluated: the rules, then keep price unless they already end with it."""
        return self.rules if isinstance(self.rules[-1], KeepPrice) else (*self.rules, KeepPrice())

    @property
    def uses_market(self) -> bool:
        return any(isinstance(rule, COMPETITOR_RULES) for rule in self.rules)

    @property
    def uses_model(self) -> bool:
        return any(isinstance(rule, OptimiseProfit | OptimiseRevenue) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class ChainRows:
    """The inputs of one strategy's rows that its rules read (market None when no rule needs it)."""

    current: FloatArray
    cost: FloatArray
    elasticity: FloatArray
    reliable: NDArray[np.bool_]
    market: MarketView | None


def run_chain(
    spec: StrategySpec,
    rows: ChainRows,
    floor: FloatArray,
    ceiling: FloatArray,
    step_used: NDArray[np.int8],
    skipped: NDArray[np.uint8],
) -> FloatArray:
    """The strategy's price per row (whole minor units), before guardrails.

    Writes the index of the chain step that set each price into `step_used` and, for every step before
    it, the SkipReason bits into skipped[step] (zeroed by the caller; shape (steps, n)).
    """
    price = rows.current.copy()
    pending: NDArray[np.bool_] | None = None
    market_reasons: ReasonArray | None = None
    for index, rule in enumerate(spec.steps):
        if isinstance(rule, KeepPrice):
            if pending is None:
                step_used[...] = index
            else:
                np.copyto(step_used, np.int8(index), where=pending)
            break
        if isinstance(rule, COMPETITOR_RULES) and market_reasons is None:
            assert rows.market is not None
            market_reasons = _market_reasons(rows.market)
        candidate, reasons = _candidate(rule, rows, floor, ceiling, market_reasons)
        if pending is None:
            skipped[index] = reasons
            pending = reasons != 0
            take = ~pending
        else:
            np.multiply(reasons, pending, out=skipped[index])
            take = pending & (reasons == 0)
            pending &= ~take
        np.copyto(price, candidate, where=take)
        np.copyto(step_used, np.int8(index), where=take)
        if not pending.any():
            break
    return np.rint(price, out=price)


def _market_reasons(market: MarketView) -> ReasonArray:
    available = market.available
    reasons = np.zeros(len(available), dtype=np.uint8)
    missing = np.flatnonzero(~available)
    if len(missing):
        reasons[missing] = np.where(
            market.in_set(missing),
            np.uint8(SkipReason.STALE_MARKET_DATA),
            np.uint8(SkipReason.NO_COMPETITOR_PRICE),
        )
    return reasons


def _flag(mask: NDArray[np.bool_], reason: SkipReason) -> ReasonArray:
    return np.left_shift(mask.view(np.uint8), reason.bit_length() - 1)


def _candidate(
    rule: Rule,
    rows: ChainRows,
    floor: FloatArray,
    ceiling: FloatArray,
    market_reasons: ReasonArray | None,
) -> tuple[FloatArray, ReasonArray]:
    """The rule's price per row and its skip reasons (0 where the rule applies)."""
    if isinstance(rule, CostPlus):
        candidate = rows.cost * (1.0 + rule.markup_percent / 100.0)
        return candidate, _flag(np.isnan(rows.cost), SkipReason.MISSING_COST) | _too_low(candidate)
    if isinstance(rule, COMPETITOR_RULES):
        assert rows.market is not None
        assert market_reasons is not None
        reference = rows.market.reference(rule.reference)
        candidate = _competitor_price(rule, reference, rows.current)
        return candidate, market_reasons | _too_low(candidate)
    reasons = _flag(~rows.reliable, SkipReason.MODEL_UNRELIABLE)
    elasticity = rows.elasticity
    reasons |= _flag(~np.isfinite(elasticity), SkipReason.MISSING_ELASTICITY)
    if isinstance(rule, OptimiseProfit):
        reasons |= _flag(np.isnan(rows.cost), SkipReason.MISSING_COST)
        with np.errstate(divide="ignore", invalid="ignore"):
            unconstrained = rows.cost * elasticity / (1.0 + elasticity)
        candidate = np.clip(unconstrained, floor, ceiling)
        np.copyto(candidate, ceiling, where=elasticity >= -1.0)
        return candidate, reasons
    assert isinstance(rule, OptimiseRevenue)
    candidate = np.where(elasticity > -1.0, ceiling, floor)
    flat = elasticity == -1.0
    if flat.any():
        np.copyto(candidate, np.clip(rows.current, floor, ceiling), where=flat)
    return candidate, reasons


def _competitor_price(rule: CompetitorRule, reference: FloatArray, current: FloatArray) -> FloatArray:
    if isinstance(rule, MatchLowest | MatchMedian):
        return reference
    if isinstance(rule, BeatLowest):
        if rule.amount_minor is not None:
            return reference - rule.amount_minor
        assert rule.percent is not None
        return reference * (1.0 - rule.percent / 100.0)
    if isinstance(rule, PriceIndex):
        return reference * (rule.index_percent / 100.0)
    low = np.ceil(reference * (rule.low_percent / 100.0) - ROUNDING_SLACK)
    high = np.floor(reference * (rule.high_percent / 100.0) + ROUNDING_SLACK)
    return np.minimum(np.maximum(current, low), high)


def _too_low(candidate: FloatArray) -> ReasonArray:
    """Prices that would round below one minor unit: 0.5 rounds (half to even) to 0. NaN candidates are
    skipped for another reason."""
    return _flag(candidate <= 0.5, SkipReason.NONPOSITIVE_PRICE)
