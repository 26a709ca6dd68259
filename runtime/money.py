"""Money in integer minor units of an ISO 4217 currency, and its decimal-string form for REST."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import iso4217

from runtime.errors import InvalidArgument

# Large enough for any retail price, small enough to stay exact in int64 and in JSON numbers.
MAX_AMOUNT_MINOR = 10**15
_DECIMAL = re.compile(r"^-?[0-9]{1,16}(\.[0-9]{1,4})?$")


def currency_exponent(code: str, *, field: str = "currency") -> int:
    """Number of minor-unit digits of an ISO 4217 currency; refuses unknown and non-money codes."""
    exponent = _known_exponent(code) if isinstance(code, str) else None
    if exponent is not None:
        return exponent
    return _checked_exponent(code, field)


@lru_cache(maxsize=512)
def _known_exponent(code: str) -> int | None:
    try:
        return _checked_exponent(code, "currency")
    except InvalidArgument:
        return None


def _checked_exponent(code: str, field: str) -> int:
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha() or not code.isupper():
        raise InvalidArgument(f"{code!r} is not an ISO 4217 currency code (three upper-case letters)", field=field)
    try:
        exponent = iso4217.Currency(code).exponent
    except ValueError:
        raise InvalidArgument(f"unknown currency {code!r}", field=field) from None
    if exponent is None:
        raise InvalidArgument(f"{code!r} is not a currency that prices can be set in", field=field)
    return int(exponent)


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        currency_exponent(self.currency)
        if abs(self.amount_minor) > MAX_AMOUNT_MINOR:
            raise InvalidArgument(f"amount {self.amount_minor} is out of range", field="amount")

    @classmethod
    def parse(cls, amount: str, currency: str, *, field: str = "amount") -> Money:
        """Exact conversion of a decimal string ("19.99") to minor units; refuses sub-minor digits."""
        exponent = currency_exponent(currency, field="currency")
        text = amount.strip() if isinstance(amount, str) else ""
        if not _DECIMAL.match(text):
            raise InvalidArgument(f"{amount!r} is not a decimal amount like '19.99'", field=field)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidArgument(f"{amount!r} is not a decimal amount", field=field) from None
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise InvalidArgument(f"{amount!r} has more decimals than {currency} allows ({exponent})", field=field)
        minor = int(scaled)
        if abs(minor) > MAX_AMOUNT_MINOR:
            raise InvalidArgument(f"{amount!r} is out of range", field=field)
        return cls(minor, currency)

    def to_decimal_string(self) -> str:
        exponent = currency_exponent(self.currency)
        return f"{Decimal(self.amount_minor).scaleb(-exponent):.{exponent}f}"
