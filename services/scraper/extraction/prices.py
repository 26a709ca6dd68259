"""Price text ("1.299,00 €", "£1,299", "1 299 kr") to Money in integer minor units, locale-aware."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from price_parser import Price

from runtime.errors import InvalidArgument
from runtime.money import Money, currency_exponent

# Above this many major units a "price" is a parse error (a phone number, an SKU), not a retail price.
MAX_PLAUSIBLE_MAJOR = 10**8

_PLAIN_DECIMAL = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,6})?$")
_MINUS_BEFORE_NUMBER = re.compile(r"[-\u2212]\s*(?:[^\w\s]{1,3}|[A-Z]{3})?\s*$")
_FIRST_DIGIT = re.compile(r"\d")

# Symbols that name exactly one currency.
_UNAMBIGUOUS_SYMBOLS = {
    "€": "EUR",
    "£": "GBP",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₴": "UAH",
    "zł": "PLN",
    "Kč": "CZK",
    "Ft": "HUF",
    "R$": "BRL",
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "Fr.": "CHF",
    "SFr.": "CHF",
}
# Symbols shared by several currencies: the source's default decides among them, else the first is assumed.
_AMBIGUOUS_SYMBOLS = {
    "$": ("USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN"),
    "¥": ("JPY", "CNY"),
    "￥": ("JPY", "CNY"),
    "円": ("JPY",),
    "元": ("CNY",),
    "kr": ("SEK", "NOK", "DKK", "ISK"),
    "kr.": ("DKK", "SEK", "NOK", "ISK"),
}


def currency_from_symbol(symbol: str | None, default_currency: str | None) -> str | None:
    """ISO code for a currency sign or code as written on a page; None when it names no known currency."""
    if not symbol:
        return None
    text = symbol.strip()
    if text in _UNAMBIGUOUS_SYMBOLS:
        return _UNAMBIGUOUS_SYMBOLS[text]
    candidates = _AMBIGUOUS_SYMBOLS.get(text) or _AMBIGUOUS_SYMBOLS.get(text.lower())
    if candidates:
        return default_currency if default_currency in candidates else candidates[0]
    code = text.upper()
    if len(code) == 3 and code.isalpha():
        try:
            currency_exponent(code)
        except InvalidArgument:
            return None
        return code
    return None


def parse_price(
    text: str,
    *,
    default_currency: str | None = None,
    decimal_separator: str | None = None,
    currency_hint: str | None = None,
    machine_readable: bool = False,
    field: str = "price",
) -> Money:
    """A positive, plausible price written as on a page; the page's currency wins over the source's default.

    ``currency_hint`` is a currency stated next to the amount (priceCurrency, product:price:currency).
    ``machine_readable`` marks structured-data values, where "1.299" means one point two nine nine
    (schema.org mandates "." as the decimal mark); in visible text it means one thousand two hundred
    ninety-nine unless the source says "." is its decimal separator.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgument("no price text", field=field)
    stripped = text.strip()
    if _PLAIN_DECIMAL.match(stripped) and (machine_readable or decimal_separator == "."):
        amount: Decimal | None = Decimal(stripped)
        symbol = None
    else:
        if _is_negative(stripped):
            raise InvalidArgument(f"{text!r} is a negative price", field=field)
        parsed = Price.fromstring(stripped, decimal_separator=decimal_separator)
        amount, symbol = parsed.amount, parsed.currency
    if amount is None:
        raise InvalidArgument(f"{text!r} holds no number", field=field)
    currency = (
        currency_from_symbol(currency_hint, default_currency)
        or currency_from_symbol(symbol, default_currency)
        or default_currency
    )
    if currency is None:
        raise InvalidArgument(f"{text!r} names no currency and the source has no default", field=field)
    return to_money(amount, currency, field=field, source=text)


def to_money(amount: Decimal, currency: str, *, field: str = "price", source: str = "") -> Money:
    """Exact minor units; refuses zero, negative, implausibly large and sub-minor amounts."""
    exponent = currency_exponent(currency, field="currency")
    shown = source or str(amount)
    try:
        scaled = amount.scaleb(exponent)
        exact = scaled == scaled.to_integral_value()
    except InvalidOperation:
        raise InvalidArgument(f"{shown!r} is not a number", field=field) from None
    if not exact:
        raise InvalidArgument(f"{shown!r} has more decimals than {currency} allows ({exponent})", field=field)
    minor = int(scaled)
    if minor <= 0:
        raise InvalidArgument(f"{shown!r} is not a positive price", field=field)
    if minor > MAX_PLAUSIBLE_MAJOR * 10**exponent:
        raise InvalidArgument(f"{shown!r} is implausibly large for a price", field=field)
    return Money(minor, currency)


def _is_negative(text: str) -> bool:
    first_digit = _FIRST_DIGIT.search(text)
    return first_digit is not None and bool(_MINUS_BEFORE_NUMBER.search(text[: first_digit.start()]))
