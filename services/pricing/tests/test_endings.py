"""Price endings per range: the nearest ending inside the guardrails, currencies without minor units."""

from __future__ import annotations

import pytest

from runtime.errors import InvalidArgument
from services.pricing.domain.endings import EndingStatus, PriceEnding, PriceEndings
from services.pricing.domain.guardrails import Guardrail, GuardrailSpec
from services.pricing.domain.strategies import KeepPrice, MatchLowest
from services.pricing.tests.engine_support import Row, Sku, market, price_one, spec

# Below 10.00: .99; 10.00-99.99: .95 or .99; from 100.00: whole prices ending in 9.
RETAIL = PriceEndings(
    (
        PriceEnding(0, minor_ending=99),
        PriceEnding(1_000, minor_ending=95),
        PriceEnding(1_000, minor_ending=99),
        PriceEnding(10_000, whole_digit=9),
    )
)


def ended(current: int, endings: PriceEndings = RETAIL, *, exponent: int = 2, change: float | None = None) -> Row:
    guardrails = GuardrailSpec(endings=endings, max_change_percent=change)
    return price_one(spec(KeepPrice(), guardrails=guardrails), Sku(current=current), exponent=exponent)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (437, 399),  # 4.37: 3.99 is nearer than 4.99
        (475, 499),
        (499, 499),
        (1_298, 1_299),  # 12.98: .99 is one cent away
        (1_296, 1_295),
        (1_297, 1_295),  # a tie between 12.95 and 12.99 goes to the lower price
        (12_900, 12_900),  # 129.00 already ends in 9
        (15_000, 14_900),  # 150.00: 149.00 rather than 159.00
        (125_000, 124_900),
    ],
)
def test_the_nearest_ending_of_the_price_range(current: int, expected: int) -> None:
    row = ended(current)
    assert (row["price"], row["ending"]) == (expected, EndingStatus.APPLIED)
    assert row["deltas"] == ({Guardrail.ENDING: expected - current} if expected != current else {})


def test_an_ending_never_crosses_a_guardrail() -> None:
    # Without guardrails 12.97 would become 12.95; a floor of 12.96 leaves only 12.99.
    row = price_one(
        spec(MatchLowest(), guardrails=GuardrailSpec(endings=RETAIL)),
        Sku(current=1_297, map_price=1_296, market=market(1_297)),
    )
    assert (row["price"], row["ending"]) == (1_299, EndingStatus.APPLIED)


def test_an_ending_that_cannot_fit_gives_way_to_one_that_can() -> None:
    # Inside 12.96-13.10 no price ends in .95 (12.95 and 13.95 are outside); 12.99 does.
    row = price_one(
        spec(KeepPrice(), guardrails=GuardrailSpec(endings=RETAIL)),
        Sku(current=1_297, map_price=1_296, max_price=1_310),
    )
    assert (row["price"], row["ending"]) == (1_299, EndingStatus.APPLIED)


def test_no_ending_inside_the_interval_leaves_the_price_and_says_so() -> None:
    row = price_one(
        spec(KeepPrice(), guardrails=GuardrailSpec(endings=RETAIL)),
        Sku(current=1_297, map_price=1_296, max_price=1_298),
    )
    assert (row["price"], row["ending"], row["deltas"]) == (1_297, EndingStatus.SKIPPED_GUARDRAIL, {})


def test_max_change_bounds_the_ending_too() -> None:
    # 150.00 ± 0.5 % is 149.25-150.75: neither 149.00 nor 159.00 fits.
    row = ended(15_000, change=0.5)
    assert (row["price"], row["ending"]) == (15_000, EndingStatus.SKIPPED_GUARDRAIL)


def test_prices_below_the_first_range_get_no_ending() -> None:
    endings = PriceEndings((PriceEnding(1_000, minor_ending=99),))
    assert ended(537, endings)["ending"] == EndingStatus.NONE
    assert ended(1_537, endings)["price"] == 1_499


def test_jpy_has_no_minor_endings_but_whole_digits_work() -> None:
    yen = PriceEndings((PriceEnding(0, minor_ending=99), PriceEnding(1_000, whole_digit=9)))
    small = ended(537, yen, exponent=0)
    assert (small["price"], small["ending"]) == (537, EndingStatus.NOT_APPLICABLE)
    # 1,234 yen: 1,229 and 1,239 are equally near; the lower wins.
    assert ended(1_234, yen, exponent=0)["price"] == 1_229
    assert ended(1_236, yen, exponent=0)["price"] == 1_239


def test_a_range_keeps_the_endings_its_currency_can_have() -> None:
    mixed = PriceEndings((PriceEnding(0, minor_ending=99), PriceEnding(0, whole_digit=9)))
    row = ended(1_234, mixed, exponent=0)
    assert (row["price"], row["ending"]) == (1_229, EndingStatus.APPLIED)


def test_minor_endings_are_minor_units_in_a_three_decimal_currency() -> None:
    # KWD has three decimals: minor ending 99 is x.099, 990 is x.990.
    assert ended(12_345, PriceEndings((PriceEnding(0, minor_ending=99),)), exponent=3)["price"] == 12_099
    assert ended(12_345, PriceEndings((PriceEnding(0, minor_ending=990),)), exponent=3)["price"] == 11_990


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: PriceEnding(0), "endings"),
        (lambda: PriceEnding(0, minor_ending=99, whole_digit=9), "endings"),
        (lambda: PriceEnding(0, whole_digit=10), "whole_digit"),
        (lambda: PriceEnding(0, minor_ending=10_000), "minor_ending"),
        (lambda: PriceEnding(-1, minor_ending=99), "from_price"),
        (lambda: PriceEndings(()), "endings"),
        (lambda: PriceEndings((PriceEnding(0, minor_ending=99), PriceEnding(0, minor_ending=99))), "endings"),
    ],
)
def test_bad_endings_are_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
