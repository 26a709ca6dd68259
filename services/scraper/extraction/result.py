"""What extraction read from one page, and how."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from runtime.money import Money


class ExtractionMethod(enum.StrEnum):
    """Where the price came from; the names are omnipricex.competitor.v1.ExtractionMethod's."""

    JSON_LD = "json_ld"
    MICRODATA = "microdata"
    RDFA = "rdfa"
    OPENGRAPH = "opengraph"
    SELECTOR = "selector"
    HEURISTIC = "heuristic"


@dataclass(frozen=True, slots=True)
class Reading:
    """One method's view of the page; any field may be missing."""

    method: ExtractionMethod
    price: Money | None = None
    currency: str | None = None
    in_stock: bool | None = None
    title: str | None = None
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    image: str | None = None
    # How sure this method is of its own price before cross-checking (heuristics vary by signal).
    strength: float = 1.0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtractedOffer:
    """An observation candidate: the price of the winning method, other fields filled from any method."""

    price: Money | None
    currency: str | None
    in_stock: bool | None
    title: str | None
    brand: str | None
    gtin: str | None
    mpn: str | None
    image: str | None
    method: ExtractionMethod | None
    confidence: float
    notes: tuple[str, ...] = field(default=())
