"""The REST shape of crawl sources (where and how competitor prices are crawled) and crawl jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from gateway.schemas.common import CurrencyCode, PageQuery, RequestModel, not_nullable

SourceKindName = Literal["product_urls", "listing", "sitemap"]
SourceHealthName = Literal["unknown", "healthy", "broken"]
CrawlJobStateName = Literal["queued", "running", "succeeded", "failed", "cancelled"]
CrawlTriggerName = Literal["manual", "schedule"]

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
MAX_NAME_LENGTH = 120
MAX_START_URLS = 100
MAX_URL_LENGTH = 2048
MAX_SELECTOR_LENGTH = 1000
MAX_PATTERN_LENGTH = 500
MAX_SCHEDULE_MINUTES = 10_080
MAX_PAGES_LIMIT = 100_000
DEFAULT_MAX_PAGES = 2_000

ResourceId = Annotated[str, Field(pattern=ID_PATTERN, description="An id the API issued.")]
StartUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH, description="An http or https URL.")]
Selector = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_SELECTOR_LENGTH,
        description='CSS, or XPath when it starts with "/", "./" or "("; a "css:" or "xpath:" prefix says so.',
    ),
]
UrlPattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PATTERN_LENGTH,
        description="A regular expression the URLs of product pages match (listings and sitemaps).",
    ),
]
DecimalSeparator = Literal[",", "."]

_START_URLS = (
    f"1-{MAX_START_URLS} absolute http(s) URLs: product pages, category listings or sitemaps by `kind`. Crawls "
    "never connect to private, loopback, link-local or metadata addresses unless an operator allow-lists the host."
)
_SCHEDULE = f"Crawled every this many minutes (15-{MAX_SCHEDULE_MINUTES:,}); 0 means only when started by hand."
_MAX_PAGES = f"Product pages per crawl, 1-{MAX_PAGES_LIMIT:,}."


def _kept(value: object) -> object:
    if value is None:
        raise ValueError("cannot be removed (null); leave it out to keep it")
    return value


# --- sources --------------------------------------------------------------------------------------


class ExtractionSettings(BaseModel):
    """How a source's pages are read; null settings are not set (structured data and heuristics decide)."""

    default_currency: str | None = Field(description="Used when a page shows no currency; else the competitor's.")
    decimal_separator: str | None = Field(description='"," or "." when the shop writes prices one way only.')
    price_selector: str | None
    title_selector: str | None
    availability_selector: str | None
    product_link_selector: str | None = Field(description="Listings: the links to product pages.")
    next_page_selector: str | None = Field(description="Listings: the link to the next page.")
    product_url_pattern: str | None
    render_javascript: bool = Field(description="Pages are fetched through a headless browser.")


class NewExtractionSettings(RequestModel):
    """Every setting is optional; selectors are checked (compiled) before the source is stored."""

    default_currency: CurrencyCode | None = Field(
        None, description="ISO 4217; used when a page shows no currency. Left out: the competitor's."
    )
    decimal_separator: DecimalSeparator | None = Field(
        None, description='"," or "." when the shop writes prices one way only ("1.299,00").'
    )
    price_selector: Selector | None = None
    title_selector: Selector | None = None
    availability_selector: Selector | None = Field(None, description="Its text is read for stock words.")
    product_link_selector: Selector | None = Field(None, description="Listings: the links to product pages.")
    next_page_selector: Selector | None = Field(None, description="Listings: the link to the next page.")
    product_url_pattern: UrlPattern | None = None
    render_javascript: bool = Field(False, description="Fetch pages through a headless browser.")


class ExtractionSettingsPatch(RequestModel):
    """JSON merge patch of the extraction settings: only the settings present change; null unsets one."""

    default_currency: CurrencyCode | None = None
    decimal_separator: DecimalSeparator | None = None
    price_selector: Selector | None = None
    title_selector: Selector | None = None
    availability_selector: Selector | None = None
    product_link_selector: Selector | None = None
    next_page_selector: Selector | None = None
    product_url_pattern: UrlPattern | None = None
    render_javascript: bool | None = Field(None, description="null turns it off.")


class Source(BaseModel):
    id: str
    competitor_id: str
    name: str
    kind: SourceKindName
    start_urls: list[str] = Field(description="Normalised (lower-case host, no fragment).")
    extraction: ExtractionSettings
    category_id: str | None = Field(description="Our category the listing stands for; null when none.")
    schedule_interval_minutes: int = Field(description=_SCHEDULE)
    max_pages: int = Field(description=_MAX_PAGES)
    paused: bool = Field(
        description="Set by the circuit breaker after repeated failures; scheduled crawls wait until "
        "`paused_until` or a resume."
    )
    pause_reason: str | None
    paused_until: datetime | None
    health: SourceHealthName = Field(
        description="broken: extraction looks wrong (see `health_reason`) and its observations are quarantined."
    )
    health_reason: str | None
    last_crawl_time: datetime | None
    next_crawl_time: datetime | None = Field(description="The next scheduled crawl; null when only started by hand.")
    create_time: datetime
    update_time: datetime


class SourcePage(BaseModel):
    items: list[Source] = Field(description="Ordered by name.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class NewSource(RequestModel):
    competitor_id: ResourceId = Field(description="The competitor whose shop this is.")
    name: str = Field(
        min_length=1, max_length=MAX_NAME_LENGTH, description="Unique in the organisation; 1-120 characters."
    )
    kind: SourceKindName
    start_urls: list[StartUrl] = Field(min_length=1, max_length=MAX_START_URLS, description=_START_URLS)
    extraction: NewExtractionSettings = Field(default_factory=NewExtractionSettings)
    category_id: str | None = Field(None, max_length=128, description="Our category the listing stands for.")
    schedule_interval_minutes: int = Field(0, ge=0, le=MAX_SCHEDULE_MINUTES, description=_SCHEDULE)
    max_pages: int = Field(DEFAULT_MAX_PAGES, ge=1, le=MAX_PAGES_LIMIT, description=_MAX_PAGES)


class SourcePatch(RequestModel):
    """JSON merge patch: only the fields present change. `extraction` is merged setting by setting (null there
    unsets one; `extraction: null` unsets them all); null removes the category. The kind and the competitor
    never change."""

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME_LENGTH, json_schema_extra=not_nullable)
    start_urls: list[StartUrl] | None = Field(
        None, min_length=1, max_length=MAX_START_URLS, description=_START_URLS, json_schema_extra=not_nullable
    )
    extraction: ExtractionSettingsPatch | None = None
    category_id: str | None = Field(None, max_length=128, description="null removes it.")
    schedule_interval_minutes: int | None = Field(
        None, ge=0, le=MAX_SCHEDULE_MINUTES, description=_SCHEDULE, json_schema_extra=not_nullable
    )
    max_pages: int | None = Field(
        None, ge=1, le=MAX_PAGES_LIMIT, description=_MAX_PAGES, json_schema_extra=not_nullable
    )

    @field_validator("name", "start_urls", "schedule_interval_minutes", "max_pages", mode="before")
    @classmethod
    def _required_fields_stay(cls, value: object) -> object:
        return _kept(value)


class SourceQuery(PageQuery):
    competitor_id: ResourceId | None = Field(None, description="Only this competitor's sources.")


# --- crawl jobs -----------------------------------------------------------------------------------


class CrawlProgress(BaseModel):
    pages_fetched: int = Field(description="Pages fetched: products, listings and sitemaps.")
    product_pages: int
    products_with_price: int
    pages_failed: int
    pages_refused: int = Field(description="Not fetched on purpose: robots.txt, or the address guard.")
    products_delivered: int = Field(description="Products handed to the competitor service.")
    observations_created: int
    observations_unchanged: int
    offers_matched: int
    queued_for_review: int
    quarantined: int


class CrawlJob(BaseModel):
    id: str
    source_id: str
    competitor_id: str
    state: CrawlJobStateName
    trigger: CrawlTriggerName
    progress: CrawlProgress
    finish_reason: str | None = Field(
        description='How the crawl ended: "finished", "max_pages", "circuit_open", "cancelled", "error", ...; '
        "null until it ends."
    )
    detail: str | None = Field(description="Words for people: why it failed, which host's breaker opened.")
    attempts: int = Field(description="Times a worker took the job (more than 1 after a worker died).")
    created_by: str = Field(description="User or API key id; for a scheduled crawl, the source's creator.")
    create_time: datetime
    start_time: datetime | None
    end_time: datetime | None


class CrawlJobPage(BaseModel):
    items: list[CrawlJob] = Field(description="Newest first.")
    next_cursor: str | None


class CrawlJobQuery(PageQuery):
    source_id: ResourceId | None = Field(None, description="Only this source's crawls.")
