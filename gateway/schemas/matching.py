"""The REST shape of the review queue: competitor products waiting for a person to name our sku."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateway.schemas.common import PageQuery, RequestModel, Sku
from gateway.schemas.competitors import ExtractionMethodName, MatchMethodName, Offer

ReviewStateName = Literal["pending", "unmatched", "matched", "rejected"]


class MatchCandidate(BaseModel):
    sku: str
    confidence: float = Field(description="From 0 to 1.")
    match_method: MatchMethodName = Field(
        description="gtin or brand_mpn when several of our skus share the identifier, else fuzzy."
    )
    title: str = Field(description="Our product's title when it was proposed.")
    brand: str | None


class ReviewItem(BaseModel):
    id: str
    competitor_id: str
    url: str = Field(description="The competitor's product page, normalised.")
    title: str
    brand: str | None
    gtin: str | None = Field(description="As printed on the page.")
    mpn: str | None
    image_url: str | None
    category_id: str | None = Field(description="Our category the crawled listing stands for.")
    price: str | None = Field(description="Decimal string in `currency`; null when the page showed no price.")
    currency: str | None
    in_stock: bool | None = Field(description="null when the page did not say.")
    fetch_time: datetime = Field(description="When the page was last read.")
    extraction_method: ExtractionMethodName | None
    extraction_confidence: float
    quarantined: bool = Field(description="The crawl flagged its source as broken when it read this page.")
    quarantine_reason: str | None
    source_id: str | None
    crawl_job_id: str | None
    state: ReviewStateName = Field(
        description="pending: has candidates; unmatched: none left (nothing resembles it, or every one was "
        "rejected); matched: linked to an offer; rejected: none of our products, never proposed again."
    )
    candidates: list[MatchCandidate] = Field(description="Best first, at most 5; empty unless pending.")
    rejected_skus: list[str] = Field(description="Skus rejected for this product; never proposed again.")
    sku: str | None = Field(description="matched: the sku it is linked to.")
    offer_id: str | None = Field(description="matched: its offer.")
    create_time: datetime
    update_time: datetime


class ReviewItemPage(BaseModel):
    items: list[ReviewItem] = Field(description="Oldest first.")
    next_cursor: str | None


class ReviewQuery(PageQuery):
    competitor_id: str | None = Field(None, description="Only this competitor's products.")
    state: ReviewStateName | None = Field(None, description="Only items in this state; pending is the queue.")


class ConfirmBody(RequestModel):
    sku: Sku = Field(description="A candidate, or any active sku of ours.")


class RejectBody(RequestModel):
    sku: Sku | None = Field(None, description="Reject only this sku for the product; leave out to reject the product.")


class ConfirmResult(BaseModel):
    item: ReviewItem
    offer: Offer = Field(description="The offer the product is now linked to: a manual match with confidence 1.")
