"""GTIN check digits (GS1 mod-10) and the allocation of unique GTIN-13s per brand."""

from __future__ import annotations

import random

# GS1 Germany prefixes: the demo retailer sells in EUR, so its suppliers look like German registrants.
_GS1_PREFIXES = range(400, 441)
_ITEM_REFERENCES_PER_COMPANY = 100_000


def gtin_check_digit(body: str) -> int:
    """The check digit that completes `body` (a GTIN without its last digit)."""
    if not body.isdigit():
        raise ValueError(f"GTIN body must be digits, got {body!r}")
    weighted = sum(int(digit) * (3 if position % 2 == 0 else 1) for position, digit in enumerate(reversed(body)))
    return (10 - weighted % 10) % 10


def is_valid_gtin(code: str) -> bool:
    """True for a GTIN-8/12/13/14 whose check digit is right."""
    return len(code) in (8, 12, 13, 14) and code.isdigit() and gtin_check_digit(code[:-1]) == int(code[-1])


class GtinAllocator:
    """Hands out GTIN-13s: one 7-digit company prefix per brand, item references in sequence.

    A brand that uses up its 100,000 item references gets another prefix, so codes stay unique at any count.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._taken_prefixes: set[str] = set()
        self._current: dict[str, tuple[str, int]] = {}

    def next_for(self, brand: str) -> str:
        prefix, item = self._current.get(brand) or (self._new_company_prefix(), 0)
        if item == _ITEM_REFERENCES_PER_COMPANY:
            prefix, item = self._new_company_prefix(), 0
        self._current[brand] = (prefix, item + 1)
        body = f"{prefix}{item:05d}"
        return f"{body}{gtin_check_digit(body)}"

    def _new_company_prefix(self) -> str:
        while True:
            prefix = f"{self._rng.choice(_GS1_PREFIXES)}{self._rng.randrange(10_000):04d}"
            if prefix not in self._taken_prefixes:
                self._taken_prefixes.add(prefix)
                return prefix
