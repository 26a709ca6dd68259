"""The REST shape of competitors, offers, observations and market prices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from gateway.schemas.common import (
    CurrencyCode,
    MoneyString,
    PageQuery,
    RequestModel,
    Rfc3339Time,
    Sku,
    decimals_follow_currency,
    not_nullable,
)

MatchMethodName = Literal["manual", "gtin", "brand_mpn", "fuzzy"]
ExtractionMethodName = Literal["import", "json_ld", "microdata", "rdfa", "opengraph", "selector", "heuristic"]
MAX_BULK_ROWS = 10_000
MAX_MARKET_SKUS = 1_000


Confidence = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=False, description="From 0 to 1.")]


class Competitor(BaseModel):
    id: str
    name: str
    website: str | None = Field(description="Home page (http or https), normalised; null when unknown.")
    default_currency: str = Field(description="ISO 4217 code assumed for its prices when an import omits one.")
    create_time: datetime
    update_time: datetime


class CompetitorPage(BaseModel):
    items: list[Competitor] = Field(description="Ordered by name.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class NewCompetitor(RequestModel):
    name: str = Field(min_length=1, description="Unique in the organisation, regardless of case; 1-120 characters.")
    website: str | None = Field(None, description="http or https URL.")
    default_currency: CurrencyCode


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("cannot be removed (null); leave it out to keep it")
    return value


class CompetitorPatch(RequestModel):
    """JSON merge patch: only the fields present change; null removes the website."""

    name: str | None = Field(None, min_length=1, json_schema_extra=not_nullable)
    website: str | None = Field(None, description="null removes it.")
    default_currency: CurrencyCode | None = Field(None, json_schema_extra=not_nullable)

    @field_validator("name", "default_currency", mode="before")
    @classmethod
    def _required_fields_stay(cls, value: object) -> object:
        return _not_null(value)


class Offer(BaseModel):
    id: str
    competitor_id: str
    sku: str = Field(description="Our sku the competitor's product is matched to.")
    url: str = Field(description="The competitor's product page, normalised (lower-case host, no fragment).")
    title: str
    match_method: MatchMethodName
    match_confidence: float
    create_time: datetime
    update_time: datetime


class OfferPage(BaseModel):
    items: list[Offer] = Field(description="Ordered by id.")
    next_cursor: str | None


class NewOffer(RequestModel):
    competitor_id: str
    url: str = Field(description="http or https URL with a host, at most 2,048 characters.")
    sku: Sku
    title: str = ""
    match_method: MatchMethodName | None = Field(
        None, description="Left out: manual for a new offer or a new sku, else the offer's current match."
    )
    match_confidence: Confidence | None = Field(None, description="From 0 to 1; 1 for manual matches.")


class OfferUpsertBody(RequestModel):
    offers: list[NewOffer] = Field(max_length=MAX_BULK_ROWS)


class OfferUpsertResult(BaseModel):
    items: list[Offer] = Field(description="The offers of the request, in its order, as stored.")
    created: int
    updated: int
    unchanged: int


class ImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int


class OfferQuery(PageQuery):
    sku: Sku | None = Field(None, description="Only the offers matched to this sku.")
    competitor_id: str | None = Field(None, description="Only the offers of this competitor.")


class Observation(BaseModel):
    offer_id: str
    observe_time: datetime = Field(description="When this price (or stock, or quarantine) was first seen.")
    price: str = Field(description="Decimal string in `currency`.")
    currency: str
    in_stock: bool
    extraction_method: ExtractionMethodName
    confidence: float
    quarantined: bool = Field(description="Kept and shown, never used for pricing.")
    quarantine_reason: str | None


class ObservationPage(BaseModel):
    items: list[Observation] = Field(description="Newest first.")
    next_cursor: str | None


class NewObservation(RequestModel):
    model_config = ConfigDict(json_schema_extra=decimals_follow_currency("price"))

    offer_id: str
    observe_time: Rfc3339Time
    price: MoneyString
    currency: CurrencyCode
    in_stock: bool
    extraction_method: ExtractionMethodName | None = Field(None, description="Left out: import.")
    confidence: Confidence | None = Field(None, description="Left out: 1 for imports.")
    quarantined: bool = False
    quarantine_reason: str = Field("", description="Required when quarantined.")


class ObservationBody(RequestModel):
    observations: list[NewObservation] = Field(max_length=MAX_BULK_ROWS)


class ObservationResult(BaseModel):
    created: int = Field(description="Stored as a change of price, stock or quarantine.")
    unchanged: int = Field(
        description="Already stored, or equal to the observation in effect at their time (they only extend it)."
    )


class ObservationQuery(PageQuery):
    offer_id: str
    start_time: AwareDatetime | None = Field(None, description="Inclusive.")
    end_time: AwareDatetime | None = Field(None, description="Exclusive.")


class MarketPrice(BaseModel):
    competitor_id: str
    offer_id: str
    price: str = Field(description="Decimal string in `currency`.")
    currency: str
    in_stock: bool
    observe_time: datetime = Field(description="When this price was last seen.")
    age_seconds: int = Field(description="Seconds between observe_time and the server's clock.")


class SkuMarket(BaseModel):
    sku: str
    prices: list[MarketPrice] = Field(description="One per offer with a usable (non-quarantined) price, lowest first.")


class MarketPage(BaseModel):
    items: list[SkuMarket]
    next_cursor: str | None = Field(description="Only when no sku was given; null on the last page.")


class MarketQuery(PageQuery):
    sku: list[Sku] = Field(
        default_factory=list,
        max_length=MAX_MARKET_SKUS,
        description="Repeat for each sku (up to 1,000), answered in this order; leave out to page through every "
        "sku with offers, ordered by sku.",
    )
    competitor_id: list[str] = Field(default_factory=list, description="Repeat to keep only these competitors.")
