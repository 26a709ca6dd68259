from __future__ import annotations

import pytest

from runtime.errors import InvalidArgument
from runtime.money import Money, currency_exponent


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("19.99", "EUR", 1999), ("0.10", "USD", 10), ("500", "JPY", 500), ("1.234", "BHD", 1234), ("7", "EUR", 700)],
)
def test_parse_is_exact(text: str, currency: str, minor: int) -> None:
    money = Money.parse(text, currency)
    assert money.amount_minor == minor
    assert Money.parse(money.to_decimal_string(), currency) == money


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("19.999", "EUR"),
        ("1.5", "JPY"),
        ("abc", "EUR"),
        ("", "EUR"),
        ("1e3", "EUR"),
        ("NaN", "EUR"),
        ("١٢", "EUR"),
        ("1" * 20, "EUR"),
        ("1.00", "XXX"),
        ("1.00", "EURO"),
        ("1.00", "eur"),
        ("1.00", "XAU"),
    ],
)
def test_parse_refuses_what_is_not_an_amount(text: str, currency: str) -> None:
    with pytest.raises(InvalidArgument):
        Money.parse(text, currency)


def test_exponents_follow_iso_4217() -> None:
    assert (currency_exponent("EUR"), currency_exponent("JPY"), currency_exponent("KWD")) == (2, 0, 3)


def test_formatting_keeps_the_currency_digits() -> None:
    assert Money(5, "EUR").to_decimal_string() == "0.05"
    assert Money(-1999, "USD").to_decimal_string() == "-19.99"
    assert Money(1000, "JPY").to_decimal_string() == "1000"
