"""Guardrails: the feasible interval every recommended price lies in, and how much each rule moved it.

Order of application (each rule's move is recorded in this order, as a signed delta in minor units):
  1. margin floor   price ≥ cost / (1 - min_margin)     (gross margin on price; needs a known cost)
  2. cost floor     price ≥ cost                         (always on when the cost is known)
  3. MAP            price ≥ the product's minimum advertised price
  4. min price      price ≥ max(product minimum, strategy minimum)
  5. max price      price ≤ min(product maximum, strategy maximum)
  6. max change     current·(1 - pct) ≤ price ≤ current·(1 + pct) and |price - current| ≤ amount; the
                    tighter of the two limits wins
  7. ending         see endings.py; never leaves the interval
Every price is also at least one minor unit. Bounds are rounded to whole minor units inwards: a lower bound
up, an upper bound down (after allowing 1e-6 of a minor unit for float rounding, exact for any price below
2^33 minor units).

Conflicts: the lower bounds (1-4 and the lower side of 6) never conflict with each other, nor do the upper
ones. When a lower bound lies above an upper bound, the rule with the higher priority holds and the other
gives way as little as possible. Priority, highest first:
  never below cost > MAP > margin floor > min price > max price > max change.
The feasible interval is built in that order; the row is flagged with the rules that lost (they do not hold
at the recommended price) and the rules that beat them (bitmasks of Guardrail.bit). Then rules 1-6 are
applied in the order above, each clamped to the interval, so their deltas add up to the interval's clip of
the strategy's price.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.errors import InvalidArgument
from services.pricing.domain import checks
from services.pricing.domain.endings import PriceEndings

# What float64 arithmetic (cost / (1 - m), current * (1 + p)) may be off by before rounding to minor units.
ROUNDING_SLACK = 1e-6

FloatArray = NDArray[np.float64]


class Guardrail(enum.IntEnum):
    """A guardrail, numbered in order of application (its column in PricingOutcome.guardrail_delta)."""

    MARGIN_FLOOR = 0
    COST_FLOOR = 1
    MAP = 2
    MIN_PRICE = 3
    MAX_PRICE = 4
    MAX_CHANGE = 5
    ENDING = 6

    @property
    def bit(self) -> int:
        return 1 << self.value


PRIORITY = (
    Guardrail.COST_FLOOR,
    Guardrail.MAP,
    Guardrail.MARGIN_FLOOR,
    Guardrail.MIN_PRICE,
    Guardrail.MAX_PRICE,
    Guardrail.MAX_CHANGE,
)


def guardrails_in(mask: int) -> list[Guardrail]:
    """The guardrails of a bitmask, in order of application."""
    return [rule for rule in Guardrail if mask & rule.bit]


@dataclass(frozen=True, slots=True)
class GuardrailSpec:
    """A strategy's guardrails; money in minor units of the currency the strategy prices in."""

    min_margin: float | None = None
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    max_change_percent: float | None = None
    max_change_minor: int | None = None
    endings: PriceEndings | None = None

    def __post_init__(self) -> None:
        if self.min_margin is not None:
            checks.number(self.min_margin, "min_margin", minimum=0.0, below=1.0)
        checks.optional_amount_minor(self.min_price_minor, "min_price", minimum=1)
        checks.optional_amount_minor(self.max_price_minor, "max_price", minimum=1)
        if (
            self.min_price_minor is not None
            and self.max_price_minor is not None
            and self.min_price_minor > self.max_price_minor
        ):
            raise InvalidArgument("the minimum price is above the maximum price", field="min_price")
        checks.optional_number(self.max_change_percent, "max_change_percent", minimum=0.0)
        checks.optional_amount_minor(self.max_change_minor, "max_change_amount")
        if self.endings is not None and not isinstance(self.endings, PriceEndings):
            raise InvalidArgument("endings must be PriceEndings", field="endings")

    @property
    def limits_change(self) -> bool:
        return self.max_change_percent is not None or self.max_change_minor is not None


@dataclass(frozen=True, slots=True)
class RuleBounds:
    """Each rule's bound per row in whole minor units: NaN where a floor does not apply, inf for max price.

    A rule that applies to no row of the block is None; change is (down, up).
    """

    margin_floor: FloatArray | None
    cost_floor: FloatArray | None
    map_floor: FloatArray | None
    min_price: FloatArray | None
    max_price: FloatArray | None
    change: tuple[FloatArray, FloatArray] | None

    def floors(self) -> list[tuple[Guardrail, FloatArray]]:
        """The lower bounds that outrank max price, in order of application."""
        floors = (
            (Guardrail.MARGIN_FLOOR, self.margin_floor),
            (Guardrail.COST_FLOOR, self.cost_floor),
            (Guardrail.MAP, self.map_floor),
            (Guardrail.MIN_PRICE, self.min_price),
        )
        return [(rule, bound) for rule, bound in floors if bound is not None]


@dataclass(frozen=True, slots=True)
class Interval:
    """The feasible interval per row after conflicts, and the conflict flags (Guardrail bitmasks)."""

    floor: FloatArray
    ceiling: FloatArray
    lost: NDArray[np.uint8]
    won: NDArray[np.uint8]


def _round_up(values: FloatArray) -> FloatArray:
    values -= ROUNDING_SLACK
    return np.ceil(values, out=values)


def _round_down(values: FloatArray) -> FloatArray:
    values += ROUNDING_SLACK
    return np.floor(values, out=values)


def _any_known(values: FloatArray) -> bool:
    return not np.isnan(values).all()


def rule_bounds(
    spec: GuardrailSpec,
    current: FloatArray,
    cost: FloatArray,
    map_price: FloatArray,
    min_price: FloatArray,
    max_price: FloatArray,
) -> RuleBounds:
    """The bounds of each rule for these rows (product arrays: NaN = none)."""
    cost_known = _any_known(cost)
    margin_floor = None
    if spec.min_margin is not None and cost_known:
        margin_floor = _round_up(cost * (1.0 / (1.0 - spec.min_margin)))
    if spec.min_price_minor is not None:
        min_bound: FloatArray | None = np.fmax(min_price, float(spec.min_price_minor))
    else:
        min_bound = min_price if _any_known(min_price) else None
    if spec.max_price_minor is not None:
        max_bound: FloatArray | None = np.fmin(max_price, float(spec.max_price_minor))
    else:
        max_bound = np.fmin(max_price, np.inf) if _any_known(max_price) else None
    change = None
    if spec.max_change_percent is not None:
        change = (
            _round_up(current * (1.0 - spec.max_change_percent / 100.0)),
            _round_down(current * (1.0 + spec.max_change_percent / 100.0)),
        )
    if spec.max_change_minor is not None:
        amount = float(spec.max_change_minor)
        if change is None:
            change = (current - amount, current + amount)
        else:
            np.maximum(change[0], current - amount, out=change[0])
            np.minimum(change[1], current + amount, out=change[1])
    return RuleBounds(
        margin_floor,
        cost if cost_known else None,
        map_price if _any_known(map_price) else None,
        min_bound,
        max_bound,
        change,
    )


def resolve(bounds: RuleBounds, n: int) -> Interval:
    """The feasible interval of n rows, built in priority order; flags the rules that gave way and the winners."""
    floors = bounds.floors()
    # Every price is at least one minor unit.
    high = np.full(n, 1.0) if not floors else np.fmax(floors[0][1], 1.0)
    for _, bound in floors[1:]:
        np.fmax(high, bound, out=high)
    losses: list[tuple[Guardrail, NDArray[np.bool_], FloatArray | None]] = []
    if bounds.max_price is None:
        ceiling = np.full(n, np.inf)
    else:
        # Every rule that outranks max price is a floor: max price gives way to the highest of them.
        ceiling = np.maximum(bounds.max_price, high)
        losses.append((Guardrail.MAX_PRICE, bounds.max_price < high, bounds.max_price))
    if bounds.change is None:
        floor = high
    else:
        down, up = bounds.change
        floor = np.maximum(high, np.minimum(down, ceiling))
        losses.append((Guardrail.MAX_CHANGE, up < high, up))
        # Held below current - change by max price (itself possibly held up by the floors): max price won.
        losses.append((Guardrail.MAX_CHANGE, down > ceiling, None))
        np.minimum(ceiling, np.maximum(up, floor), out=ceiling)
    lost = np.zeros(n, dtype=np.uint8)
    won = np.zeros(n, dtype=np.uint8)
    for loser, mask, beaten_bound in losses:
        if not mask.any():
            continue
        rows = np.flatnonzero(mask)
        lost[rows] |= np.uint8(loser.bit)
        if beaten_bound is None:
            won[rows] |= np.uint8(Guardrail.MAX_PRICE.bit)
            continue
        beaten = beaten_bound[rows]
        for winner, bound in floors:
            won[rows] |= np.where(bound[rows] > beaten, np.uint8(winner.bit), np.uint8(0))
    return Interval(floor, ceiling, lost, won)


def apply_in_order(bounds: RuleBounds, interval: Interval, price: FloatArray, delta: NDArray[np.int64]) -> FloatArray:
    """Clips `price` into the interval rule by rule, writing each rule's move into the zeroed delta[rule].

    A rule that gave way in a conflict is clamped to the interval first, so the moves add up to the
    interval's clip. (The floors outranking max price never need it: the ceiling is at least each of them.)
    When few rows move, only those are walked rule by rule.
    """
    clipped = np.maximum(price, interval.floor)
    np.minimum(clipped, interval.ceiling, out=clipped)
    moved = clipped != price
    count = np.count_nonzero(moved)
    if not count:
        return clipped
    rows: slice | NDArray[np.intp] = slice(None) if count * 4 > len(price) else np.flatnonzero(moved)
    losers = int(np.bitwise_or.reduce(interval.lost[rows])) if len(interval.lost) else 0
    floor, ceiling, step = interval.floor[rows], interval.ceiling[rows], price[rows]
    for rule, bound in bounds.floors():
        after = np.fmax(step, bound[rows])
        _record(delta[rule], rows, after, step)
        step = after
    if bounds.max_price is not None:
        upper = bounds.max_price[rows]
        if losers & Guardrail.MAX_PRICE.bit:
            upper = np.maximum(upper, floor)
        after = np.minimum(step, upper)
        _record(delta[Guardrail.MAX_PRICE], rows, after, step)
        step = after
    if bounds.change is not None:
        down, up = bounds.change[0][rows], bounds.change[1][rows]
        if losers & Guardrail.MAX_CHANGE.bit:
            down, up = np.minimum(down, ceiling), np.maximum(up, floor)
        after = np.maximum(step, down)
        np.minimum(after, up, out=after)
        _record(delta[Guardrail.MAX_CHANGE], rows, after, step)
    return clipped


def _record(delta: NDArray[np.int64], rows: slice | NDArray[np.intp], after: FloatArray, before: FloatArray) -> None:
    if isinstance(rows, slice):
        np.subtract(after, before, out=delta, casting="unsafe")
    else:
        delta[rows] = after - before
