"""Price history and the EU Omnibus prior price (Directive 98/6/EC art. 6a, as inserted by 2019/2161).

When a price is reduced, the seller must show the lowest price it applied during at least the 30 days
before the reduction. Each reduction is judged on its own: a price that is lower than the price before it
is a reduction, and its prior price is the lowest price in force at any moment of the 30 days before it.
Member states may treat progressive reductions of one campaign differently (art. 6a(5)); that is a
policy this function does not guess at. Prices in another currency than the one judged are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from runtime.errors import FailedPrecondition
from runtime.money import Money

OMNIBUS_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class PriceChangeRecord:
    """One price change of a product: the price in force from `time` on."""

    time: datetime
    price: Money
    actor_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PriorPrice:
    current_price: Money
    is_reduction: bool
    reduction_time: datetime | None
    prior_price: Money | None
    window_start: datetime | None


def price_in_force(history: Sequence[PriceChangeRecord], at: datetime) -> int | None:
    """Index of the change in force at `at` in an oldest-first history, or None before the first."""
    found = None
    for index, change in enumerate(history):
        if change.time > at:
            break
        found = index
    return found


def prior_price(history: Sequence[PriceChangeRecord], at: datetime) -> PriorPrice:
    """The Omnibus prior price of the price in force at `at`; `history` is oldest first."""
    current_index = price_in_force(history, at)
    if current_index is None:
        raise FailedPrecondition("the product had no price at that time", field="at_time")
    current = history[current_index]
    previous = _previous_in_currency(history, current_index)
    if previous is None or previous.price.amount_minor <= current.price.amount_minor:
        return PriorPrice(current.price, False, None, None, None)
    window_start = current.time - OMNIBUS_WINDOW
    in_force_at_start = price_in_force(history, window_start)
    candidates = [
        change.price.amount_minor
        for index, change in enumerate(history[:current_index])
        if change.price.currency == current.price.currency
        and (change.time >= window_start or index == in_force_at_start)
    ]
    return PriorPrice(
        current_price=current.price,
        is_reduction=True,
        reduction_time=current.time,
        prior_price=Money(min(candidates), current.price.currency),
        window_start=window_start,
    )


def _previous_in_currency(history: Sequence[PriceChangeRecord], index: int) -> PriceChangeRecord | None:
    """The price before `index`, when it can be compared with it (same currency)."""
    if index == 0:
        return None
    previous = history[index - 1]
    return previous if previous.price.currency == history[index].price.currency else None
