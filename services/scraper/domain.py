"""Crawl sources and crawl jobs with no I/O: what a valid source is, a job's life, and the breaker's pause.

A source is where and how one competitor's prices are read. Its settings are validated when it is
created or changed (URLs through the address guard's syntax check, selectors compiled, the product URL
pattern compiled), so a crawl never starts from a setting that cannot work.
"""

from __future__ import annotations

import enum
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from runtime.auth import Principal, Role
from runtime.errors import FailedPrecondition, InvalidArgument
from runtime.netguard import validate_fetch_url
from services.scraper.crawl.contract import SourceKind
from services.scraper.extraction.options import SourceOptions
from services.scraper.extraction.selectors import compile_selector

SOURCE_ID_PREFIX = "src_"
JOB_ID_PREFIX = "crl_"
MAX_NAME_LENGTH = 120
MAX_START_URLS = 100
MAX_PATTERN_LENGTH = 500
MIN_SCHEDULE_MINUTES, MAX_SCHEDULE_MINUTES = 15, 7 * 24 * 60
MAX_PAGES_LIMIT = 100_000
DEFAULT_MAX_PAGES = 2_000
# The first pause after the breaker opens; each further opening in a row doubles it, up to a day.
FIRST_PAUSE = timedelta(minutes=30)
LONGEST_PAUSE = timedelta(days=1)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class Health(enum.IntEnum):
    """Numbers are omnipricex.scraper.v1.SourceHealth's."""

    UNKNOWN = 1
    HEALTHY = 2
    BROKEN = 3


class JobState(enum.IntEnum):
    """Numbers are omnipricex.scraper.v1.CrawlJobState's."""

    QUEUED = 1
    RUNNING = 2
    SUCCEEDED = 3
    FAILED = 4
    CANCELLED = 5

    @property
    def active(self) -> bool:
        return self in (JobState.QUEUED, JobState.RUNNING)


class Trigger(enum.IntEnum):
    MANUAL = 1
    SCHEDULE = 2


@dataclass(frozen=True, slots=True)
class Extraction:
    """How a source's pages are read; empty strings are "not set"."""

    default_currency: str = ""
    decimal_separator: str = ""
    price_selector: str = ""
    title_selector: str = ""
    availability_selector: str = ""
    product_link_selector: str = ""
    next_page_selector: str = ""
    product_url_pattern: str = ""
    render_javascript: bool = False

    def validated(self) -> Extraction:
        self.options(fallback_currency=None)
        for name in ("product_link_selector", "next_page_selector"):
            selector = getattr(self, name)
            if selector:
                compile_selector(selector, field=f"extraction.{name}")
        if self.product_url_pattern:
            if len(self.product_url_pattern) > MAX_PATTERN_LENGTH:
                raise InvalidArgument(
                    f"product_url_pattern is longer than {MAX_PATTERN_LENGTH} characters",
                    field="extraction.product_url_pattern",
                )
            try:
                re.compile(self.product_url_pattern)
            except re.error as error:
                raise InvalidArgument(
                    f"product_url_pattern is not a regular expression: {error}", field="extraction.product_url_pattern"
                ) from None
        return self

    def options(self, *, fallback_currency: str | None) -> SourceOptions:
        try:
            return SourceOptions(
                default_currency=self.default_currency or fallback_currency,
                decimal_separator=self.decimal_separator or None,
                price_selector=self.price_selector or None,
                title_selector=self.title_selector or None,
                availability_selector=self.availability_selector or None,
            )
        except InvalidArgument as error:
            raise InvalidArgument(str(error), field=f"extraction.{error.field or 'options'}") from None


@dataclass(frozen=True, slots=True)
class Creator:
    """Who a source or job acts for: crawl results reach the competitor service in this name."""

    subject_id: str
    role: Role

    @classmethod
    def of(cls, principal: Principal) -> Creator:
        return cls(principal.subject_id, principal.role)


@dataclass(frozen=True, slots=True)
class SourceDraft:
    competitor_id: str
    name: str
    kind: SourceKind
    start_urls: tuple[str, ...]
    extraction: Extraction = field(default_factory=Extraction)
    category_id: str = ""
    schedule_interval_minutes: int = 0
    max_pages: int = DEFAULT_MAX_PAGES


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    organization_id: str
    competitor_id: str
    name: str
    kind: SourceKind
    start_urls: tuple[str, ...]
    extraction: Extraction
    category_id: str
    schedule_interval_minutes: int
    max_pages: int
    created_by: Creator
    create_time: datetime
    update_time: datetime
    revision: int = 1
    paused: bool = False
    pause_reason: str = ""
    paused_until: datetime | None = None
    # Breaker openings in a row; a crawl that ends normally resets it.
    breaker_trips: int = 0
    health: Health = Health.UNKNOWN
    health_reason: str = ""
    last_crawl_time: datetime | None = None
    next_crawl_time: datetime | None = None

    @property
    def name_key(self) -> str:
        return name_key(self.name)

    def is_paused(self, now: datetime) -> bool:
        return self.paused and (self.paused_until is None or self.paused_until > now)

    def require_crawlable(self, now: datetime) -> None:
        if self.is_paused(now):
            until = f" until {self.paused_until.isoformat()}" if self.paused_until else ""
            raise FailedPrecondition(f"source {self.name!r} is paused{until}: {self.pause_reason}; resume it first")


def name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def validated_source(draft: SourceDraft) -> SourceDraft:
    """The draft with its name trimmed and URLs normalised; InvalidArgument naming the field otherwise."""
    name = draft.name.strip() if isinstance(draft.name, str) else ""
    if not name:
        raise InvalidArgument("a source needs a name", field="name")
    if len(name) > MAX_NAME_LENGTH or _CONTROL.search(name):
        raise InvalidArgument(f"name must be 1-{MAX_NAME_LENGTH} printable characters", field="name")
    if not isinstance(draft.kind, SourceKind):
        raise InvalidArgument("kind must be product_urls, listing or sitemap", field="kind")
    if not draft.start_urls:
        raise InvalidArgument("a source needs at least one start URL", field="start_urls")
    if len(draft.start_urls) > MAX_START_URLS:
        raise InvalidArgument(f"a source has at most {MAX_START_URLS} start URLs", field="start_urls")
    urls: list[str] = []
    for index, url in enumerate(draft.start_urls):
        normalised = validate_fetch_url(url, field=f"start_urls[{index}]")
        if normalised not in urls:
            urls.append(normalised)
    interval = draft.schedule_interval_minutes
    if interval != 0 and not MIN_SCHEDULE_MINUTES <= interval <= MAX_SCHEDULE_MINUTES:
        raise InvalidArgument(
            f"schedule_interval_minutes must be 0 (manual) or {MIN_SCHEDULE_MINUTES}-{MAX_SCHEDULE_MINUTES}",
            field="schedule_interval_minutes",
        )
    if not 1 <= draft.max_pages <= MAX_PAGES_LIMIT:
        raise InvalidArgument(f"max_pages must be 1-{MAX_PAGES_LIMIT:,}", field="max_pages")
    return replace(draft, name=name, start_urls=tuple(urls), extraction=draft.extraction.validated())


def first_crawl_time(draft: SourceDraft, now: datetime) -> datetime | None:
    """A new source's first scheduled crawl: one to one and a half intervals from now (a crawl can be started
    by hand before), spread by its name so that sources created together do not all crawl at the same moment."""
    if not draft.schedule_interval_minutes:
        return None
    interval = timedelta(minutes=draft.schedule_interval_minutes)
    spread = zlib.crc32(name_key(draft.name).encode()) % 1000 / 2000
    return now + interval * (1 + spread)


def tripped(source: Source, *, reason: str, now: datetime) -> Source:
    """The source paused by its breaker; every opening in a row doubles the pause."""
    pause = min(FIRST_PAUSE * (2**source.breaker_trips), LONGEST_PAUSE)
    return replace(
        source,
        paused=True,
        pause_reason=reason,
        paused_until=now + pause,
        breaker_trips=source.breaker_trips + 1,
        update_time=now,
        revision=source.revision + 1,
    )


def resumed(source: Source, now: datetime) -> Source:
    return replace(
        source,
        paused=False,
        pause_reason="",
        paused_until=None,
        breaker_trips=0,
        update_time=now,
        revision=source.revision + 1,
        next_crawl_time=now if source.schedule_interval_minutes else None,
    )


@dataclass(frozen=True, slots=True)
class Progress:
    pages_fetched: int = 0
    product_pages: int = 0
    products_with_price: int = 0
    pages_failed: int = 0
    pages_refused: int = 0
    products_delivered: int = 0
    observations_created: int = 0
    observations_unchanged: int = 0
    offers_matched: int = 0
    queued_for_review: int = 0
    quarantined: int = 0

    def plus(self, other: Progress) -> Progress:
        return Progress(**{name: getattr(self, name) + getattr(other, name) for name in PROGRESS_FIELDS})

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in PROGRESS_FIELDS}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Progress:
        return cls(**{name: int(raw.get(name, 0)) for name in PROGRESS_FIELDS})


PROGRESS_FIELDS: Sequence[str] = tuple(Progress.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class CrawlJob:
    id: str
    organization_id: str
    source_id: str
    competitor_id: str
    state: JobState
    trigger: Trigger
    created_by: Creator
    create_time: datetime
    progress: Progress = field(default_factory=Progress)
    finish_reason: str = ""
    detail: str = ""
    attempts: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    lease_owner: str = ""
    lease_until: datetime | None = None
