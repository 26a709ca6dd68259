"""Quotes for checkout-style clients: current prices and explanation ids, answered from memory."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.auth import Principal
from runtime.errors import InvalidArgument
from services.pricing.quote_book import QuoteBook
from services.pricing.use_cases.common import READ_ROLE

MAX_QUOTE_SKUS = 1_000


class Quotes:
    def __init__(self, book: QuoteBook) -> None:
        self._book = book

    def quote(self, principal: Principal, skus: Sequence[str]) -> tuple[list[int], list[str], list[str]]:
        principal.require(READ_ROLE)
        if len(skus) > MAX_QUOTE_SKUS:
            raise InvalidArgument(f"at most {MAX_QUOTE_SKUS:,} skus per call, got {len(skus):,}", field="skus")
        return self._book.quote(principal.organization_id, skus)
