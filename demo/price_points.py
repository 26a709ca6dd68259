"""Retail price points: amounts in minor units snapped to the endings shoppers expect (4.49, 19.95, 129.99).

Cheap items move in whole euros, mid-range ones in steps of five ending in 4 or 9, dearer ones end in 9 on
the tens and big-ticket items step by fifty (1,249.99). Cent endings .49 only appear below 100 EUR.
"""

from __future__ import annotations

from typing import Literal

CentEnding = Literal[99, 95, 49]
CENT_ENDINGS: tuple[CentEnding, ...] = (99, 95, 49)


def _grid(amount_minor: int, ending: CentEnding) -> tuple[int, int]:
    """(first point, step) of the price-point grid that covers `amount_minor`, both in minor units."""
    if amount_minor < 1_000:
        return ending, 100
    if amount_minor < 10_000:
        return 400 + ending, 500
    cents = 99 if ending == 49 else ending
    if amount_minor < 100_000:
        return 900 + cents, 1_000
    return 4_900 + cents, 5_000


def nearest_price_point(amount_minor: int, ending: CentEnding) -> int:
    """The price point closest to `amount_minor` (never below the smallest point of its grid)."""
    first, step = _grid(amount_minor, ending)
    steps = max(0, (amount_minor - first + step // 2) // step)
    return first + steps * step


def price_point_at_most(limit_minor: int, ending: CentEnding) -> int | None:
    """The highest price point that does not exceed `limit_minor`, or None when there is none."""
    first, step = _grid(limit_minor, ending)
    if limit_minor < first:
        return None
    return first + (limit_minor - first) // step * step
