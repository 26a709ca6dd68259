"""Checks shared by the pricing specs: each returns the clean value or raises InvalidArgument naming the field."""

from __future__ import annotations

import math
from collections.abc import Iterable

from runtime.errors import InvalidArgument
from runtime.money import MAX_AMOUNT_MINOR


def number(
    value: object,
    field: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    maximum: float | None = None,
) -> float:
    """A finite real number within the given limits (minimum/maximum inclusive, above/below exclusive)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{value!r} is not a finite number", field=field)
    clean = float(value)
    if minimum is not None and clean < minimum:
        raise InvalidArgument(f"{clean:g} is below the minimum {minimum:g}", field=field)
    if above is not None and clean <= above:
        raise InvalidArgument(f"{clean:g} must be above {above:g}", field=field)
    if below is not None and clean >= below:
        raise InvalidArgument(f"{clean:g} must be below {below:g}", field=field)
    if maximum is not None and clean > maximum:
        raise InvalidArgument(f"{clean:g} is above the maximum {maximum:g}", field=field)
    return clean


def optional_number(value: object, field: str, *, minimum: float | None = None) -> float | None:
    return None if value is None else number(value, field, minimum=minimum)


def amount_minor(value: object, field: str, *, minimum: int = 0) -> int:
    """A whole number of minor units in [minimum, MAX_AMOUNT_MINOR]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{value!r} is not a whole number of minor units", field=field)
    if not minimum <= value <= MAX_AMOUNT_MINOR:
        raise InvalidArgument(f"{value} is outside {minimum}..{MAX_AMOUNT_MINOR}", field=field)
    return value


def optional_amount_minor(value: object, field: str, *, minimum: int = 0) -> int | None:
    return None if value is None else amount_minor(value, field, minimum=minimum)


def competitor_ids(values: Iterable[object], field: str) -> frozenset[int]:
    """A set of competitor ids (non-negative ints, the column ids of the market matrices); empty = every one."""
    if isinstance(values, str | bytes):
        raise InvalidArgument("competitors must be a set of competitor ids", field=field)
    ids: set[int] = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise InvalidArgument(f"{value!r} is not a competitor id (0..2^31-1)", field=field)
        ids.add(value)
    return frozenset(ids)
