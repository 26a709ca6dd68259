"""Per-source extraction options, validated when built so a bad selector never reaches a crawl."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.errors import InvalidArgument
from runtime.money import currency_exponent
from services.scraper.extraction.selectors import compile_selector


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How to read one competitor's pages: its usual currency and number style, and operator selectors.

    A selector is XPath when it starts with "/", "./" or "(" (or is prefixed "xpath:"), else CSS
    (or prefixed "css:"). The price and title selectors read the matched element's ``content``
    attribute or text; the availability selector's text is read for stock words.
    """

    default_currency: str | None = None
    decimal_separator: str | None = None
    price_selector: str | None = None
    title_selector: str | None = None
    availability_selector: str | None = None

    def __post_init__(self) -> None:
        if self.default_currency is not None:
            currency_exponent(self.default_currency, field="default_currency")
        if self.decimal_separator not in (None, ",", "."):
            raise InvalidArgument(
                f"decimal separator must be ',' or '.', not {self.decimal_separator!r}", field="decimal_separator"
            )
        for name in ("price_selector", "title_selector", "availability_selector"):
            selector = getattr(self, name)
            if selector is not None:
                compile_selector(selector, field=name)
