"""Crawled products in: each becomes an observation of its offer, a new offer by matching, or a review item.

IngestCrawledProducts, per product of a batch (all products validated first: a batch with any bad
product writes nothing and says which and why):

1. an offer with the same (competitor, normalised url) exists: its price is recorded as an observation
   (change-only, quarantine carried through) and its title follows the page;
2. otherwise the product is matched against the catalog (services.competitor.matching): an exact GTIN or
   brand + MPN match, or a fuzzy one of at least AUTO_MATCH_CONFIDENCE, creates an offer with its
   match method and confidence, and the price is recorded;
3. otherwise it is kept as a review item (natural key competitor + url) with its latest reading and
   candidates: PENDING with candidates, UNMATCHED without. Skus a person rejected for it are never
   proposed, and a product a person rejected as a whole is only kept up to date.

Writes go observations of existing offers first (the only step whose refusal depends on stored data, so a
refused batch writes nothing), then review items, then new offers, then their observations. A retried batch
finds its offers and items and changes nothing more; a crash between steps is completed by the retry.
Market events (prices seen, new competitor products) are told after the data is stored; a product is
"new" when the call found neither an offer nor a review item for it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from runtime.auth import Principal, Role
from runtime.clock import utcnow
from runtime.errors import Conflict, DomainError, InvalidArgument, NotFound
from runtime.ids import new_id
from services.competitor import domain
from services.competitor.catalog import CatalogItem, CatalogReader
from services.competitor.domain import (
    ObservationDraft,
    Offer,
    OfferChange,
    OfferContent,
    OfferKey,
    ReviewCandidate,
    ReviewChange,
    ReviewItem,
    ReviewState,
    RowError,
    Sighting,
    SightingDraft,
)
from services.competitor.market_events import MarketEventSink, NewCompetitorProduct, SourceHealthChanged
from services.competitor.matching import Candidate, CatalogIndex, MatchOutcome, ProductFacts
from services.competitor.repository import Repositories
from services.competitor.use_cases import MAX_KEY_TEXT, MILLISECOND, WRITE_ATTEMPTS, ObservationLog, tell

# The crawl worker calls in the name of the job's creator; analysts may start crawls.
INGEST_ROLE = Role.ANALYST
MAX_INGEST_PRODUCTS = 1_000
MAX_SOURCE_NAME_LENGTH = 120
MAX_REASON_LENGTH = 500
SOURCE = "IngestCrawledProducts"
# Catalog indexes kept at most (one per organisation); the least recently used goes first.
MAX_INDEXES = 16


@dataclass(frozen=True, slots=True)
class IngestRequest:
    competitor_id: str
    source_id: str
    crawl_job_id: str
    products: Sequence[SightingDraft]


@dataclass(frozen=True, slots=True)
class IngestResult:
    observations_created: int = 0
    observations_unchanged: int = 0
    # Products newly linked to an offer by matching in this call.
    offers_matched: int = 0
    # Products waiting for review (PENDING).
    queued_for_review: int = 0
    # Products kept without a candidate (UNMATCHED), or rejected as a whole.
    unmatched: int = 0
    # Non-empty means nothing was written.
    errors: tuple[RowError, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceHealthReport:
    competitor_id: str
    source_id: str
    source_name: str
    broken: bool
    reason: str
    # None: now.
    observe_time: datetime | None


class CatalogMatcher:
    """A CatalogIndex per organisation, rebuilt only when the catalog snapshot it was built from changes."""

    def __init__(self, catalog: CatalogReader) -> None:
        self._catalog = catalog
        self._indexes: OrderedDict[str, tuple[tuple[CatalogItem, ...], CatalogIndex, dict[str, CatalogItem]]] = (
            OrderedDict()
        )

    async def index(self, principal: Principal) -> tuple[CatalogIndex, dict[str, CatalogItem]]:
        organization_id = principal.organization_id
        snapshot = tuple(await self._catalog.items(principal))
        cached = self._indexes.get(organization_id)
        if cached is not None and (cached[0] is snapshot or cached[0] == snapshot):
            self._indexes.move_to_end(organization_id)
            return cached[1], cached[2]
        # Building takes a second or two for 100,000 items: off the event loop, so other calls go on.
        index = await asyncio.to_thread(CatalogIndex, snapshot)
        by_sku = {item.sku: item for item in snapshot}
        self._indexes[organization_id] = (snapshot, index, by_sku)
        self._indexes.move_to_end(organization_id)
        while len(self._indexes) > MAX_INDEXES:
            self._indexes.popitem(last=False)
        return index, by_sku


class CrawlIngest:
    def __init__(
        self,
        repositories: Repositories,
        catalog: CatalogReader,
        events: MarketEventSink,
        *,
        clock: Callable[[], datetime] = utcnow,
        offer_ids: Callable[[], str] = lambda: new_id(domain.OFFER_ID_PREFIX),
        review_ids: Callable[[], str] = lambda: new_id(domain.REVIEW_ID_PREFIX),
    ) -> None:
        self._competitors = repositories.competitors
        self._offers = repositories.offers
        self._reviews = repositories.reviews
        self._log = ObservationLog(repositories, clock=clock, events=events)
        self._matcher = CatalogMatcher(catalog)
        self._events = events
        self._clock = clock
        self._offer_ids = offer_ids
        self._review_ids = review_ids

    async def ingest(self, principal: Principal, request: IngestRequest) -> IngestResult:
        principal.require(INGEST_ROLE)
        competitor_id = domain.validate_competitor_id(request.competitor_id, field="competitor_id")
        source_id = domain.validate_foreign_id(request.source_id, "source_id", required=False)
        crawl_job_id = domain.validate_foreign_id(request.crawl_job_id, "crawl_job_id", required=False)
        if len(request.products) > MAX_INGEST_PRODUCTS:
            raise InvalidArgument(
                f"at most {MAX_INGEST_PRODUCTS:,} products per call, got {len(request.products):,}", field="products"
            )
        competitor = await self._competitors.get(principal.organization_id, competitor_id)
        if competitor is None:
            raise NotFound(f"competitor {competitor_id!r} does not exist", field="competitor_id")
        sightings, errors = _validate(request.products, now=self._clock(), default_currency=competitor.default_currency)
        if errors:
            return IngestResult(errors=tuple(errors))
        batch = _Batch(competitor_id, source_id, crawl_job_id, sightings)
        for _ in range(WRITE_ATTEMPTS):
            try:
                return await self._ingest(principal, batch)
            except Conflict:
                continue
        raise Conflict("the offers or review items of this batch are being changed by others right now; try again")

    async def report_source_health(self, principal: Principal, report: SourceHealthReport) -> None:
        """Tell alerting that a source broke or recovered; nothing is stored here."""
        principal.require(INGEST_ROLE)
        competitor_id = domain.validate_competitor_id(report.competitor_id, field="competitor_id")
        source_id = domain.validate_foreign_id(report.source_id, "source_id")
        name = domain.page_text(report.source_name, MAX_SOURCE_NAME_LENGTH)
        if not name:
            raise InvalidArgument("source_name is required", field="source_name")
        reason = domain.page_text(report.reason, MAX_REASON_LENGTH)
        if report.broken and not reason:
            raise InvalidArgument("a broken source needs a reason", field="reason")
        now = self._clock()
        moment = now if report.observe_time is None else domain.validate_observe_time(report.observe_time, now=now)
        if await self._competitors.get(principal.organization_id, competitor_id) is None:
            raise NotFound(f"competitor {competitor_id!r} does not exist", field="competitor_id")
        await self._events.source_health_changed(
            SourceHealthChanged(
                organization_id=principal.organization_id,
                competitor_id=competitor_id,
                source_id=source_id,
                source_name=name,
                broken=report.broken,
                reason=reason if report.broken else "",
                observe_time=moment,
            )
        )

    async def _ingest(self, principal: Principal, batch: _Batch) -> IngestResult:
        organization_id = principal.organization_id
        keys = [(batch.competitor_id, sighting.url) for _, sighting in batch.sightings]
        offers = await self._offers.get_by_keys(organization_id, keys)
        key_texts = {row: sighting.url for row, sighting in batch.sightings}
        known: list[tuple[int, Sighting, Offer]] = []
        unknown: list[tuple[int, Sighting]] = []
        for (row, sighting), key in zip(batch.sightings, keys, strict=True):
            offer = offers.get(key)
            if offer is None:
                unknown.append((row, sighting))
            else:
                known.append((row, sighting, offer))
        seen = await self._log.record_for(
            principal,
            _observations((row, sighting, offer) for row, sighting, offer in known),
            key_texts,
            offers={offer.id: offer for _, _, offer in known},
            source=SOURCE,
        )
        if seen.errors:
            return IngestResult(errors=tuple(seen.errors))
        renamed = self._renamed_offers(known)
        if renamed:
            await self._offers.write(renamed)
        if not unknown:
            return IngestResult(seen.created, seen.unchanged)
        outcome = await self._place(principal, batch, unknown)
        if outcome.review_changes:
            await self._reviews.write(outcome.review_changes)
        if outcome.new_offers:
            await self._offers.write([OfferChange(None, offer) for _, _, offer in outcome.new_offers])
        matched = await self._log.record_for(
            principal,
            _observations(outcome.new_offers),
            key_texts,
            offers={offer.id: offer for _, _, offer in outcome.new_offers},
            source=SOURCE,
        )
        if matched.errors:
            # The new offers have no history an observation could conflict with, and validation already
            # checked every field; reaching this is a bug, not bad input.
            raise RuntimeError(f"recording the prices of newly matched products failed: {matched.errors[0].message}")
        if outcome.first_seen:
            await tell(self._events.new_products_seen(outcome.first_seen), "new_products_seen")
        return IngestResult(
            observations_created=seen.created + matched.created,
            observations_unchanged=seen.unchanged + matched.unchanged,
            offers_matched=len(outcome.new_offers),
            queued_for_review=outcome.queued,
            unmatched=outcome.unmatched,
        )

    def _renamed_offers(self, known: Sequence[tuple[int, Sighting, Offer]]) -> list[OfferChange]:
        """Offers whose title changed on the page: an offer keeps the competitor's title as last seen."""
        renamed = [
            (sighting, offer) for _, sighting, offer in known if sighting.title and sighting.title != offer.title
        ]
        if not renamed:
            return []
        now = domain.to_millisecond(self._clock())
        changes = []
        for sighting, offer in renamed:
            content = OfferContent(offer.sku, sighting.title, offer.match_method, offer.match_confidence)
            after = domain.upserted_offer(offer, content, now=max(now, offer.update_time + MILLISECOND))
            changes.append(OfferChange(offer, after))
        return changes

    async def _place(self, principal: Principal, batch: _Batch, unknown: Sequence[tuple[int, Sighting]]) -> _Placement:
        """Match or queue the products without an offer; nothing is written here."""
        organization_id = principal.organization_id
        items = await self._reviews.get_by_keys(organization_id, [(batch.competitor_id, s.url) for _, s in unknown])
        queries: list[tuple[int, ProductFacts, frozenset[str]]] = []
        for row, sighting in unknown:
            item = items.get((batch.competitor_id, sighting.url))
            if item is None:
                batch.first_seen.add(sighting.url)
            if item is None or item.state is not ReviewState.REJECTED:
                facts = ProductFacts(sighting.title, sighting.brand, sighting.gtin, sighting.mpn)
                queries.append((row, facts, frozenset(item.rejected_skus if item else ())))
        outcomes: dict[int, MatchOutcome] = {}
        by_sku: dict[str, CatalogItem] = {}
        if queries:
            index, by_sku = await self._matcher.index(principal)
            # Matching 1,000 products takes a good part of a second: off the event loop.
            outcomes = await asyncio.to_thread(_match_all, index, queries)
        now = domain.to_millisecond(self._clock())
        latest = max((item.update_time for item in items.values()), default=now)
        if now <= latest and items:
            now = latest + MILLISECOND
        placement = _Placement()
        for row, sighting in unknown:
            key: OfferKey = (batch.competitor_id, sighting.url)
            item = items.get(key)
            after: ReviewItem | None
            sku = hint = ""
            if item is not None and item.state is ReviewState.REJECTED:
                after = domain.resighted(
                    item, sighting, source_id=batch.source_id, crawl_job_id=batch.crawl_job_id, candidates=None, now=now
                )
                placement.unmatched += 1
            elif (match := outcomes[row].match) is not None:
                content = OfferContent(match.sku, sighting.title, match.method, match.confidence)
                offer = domain.new_offer(organization_id, self._offer_ids(), key, content, now=now)
                placement.new_offers.append((row, sighting, offer))
                sku = match.sku
                after = (
                    None if item is None else domain.matched_item(item, sighting, sku=sku, offer_id=offer.id, now=now)
                )
            else:
                candidates = tuple(_candidate(found, by_sku) for found in outcomes[row].candidates)
                if item is None:
                    after = domain.new_review_item(
                        organization_id,
                        self._review_ids(),
                        batch.competitor_id,
                        sighting,
                        source_id=batch.source_id,
                        crawl_job_id=batch.crawl_job_id,
                        candidates=candidates,
                        now=now,
                    )
                else:
                    after = domain.resighted(
                        item,
                        sighting,
                        source_id=batch.source_id,
                        crawl_job_id=batch.crawl_job_id,
                        candidates=candidates,
                        now=now,
                    )
                if after.state is ReviewState.PENDING:
                    placement.queued += 1
                    hint = after.candidates[0].sku
                else:
                    placement.unmatched += 1
            if after is not None and after is not item:
                placement.review_changes.append(ReviewChange(item, after))
            if sighting.url in batch.first_seen:
                placement.first_seen.append(
                    NewCompetitorProduct(
                        organization_id=organization_id,
                        competitor_id=batch.competitor_id,
                        url=sighting.url,
                        title=sighting.title,
                        category_id=sighting.category_id or _category(sku or hint, by_sku),
                        sku=sku,
                        price=sighting.price,
                        observe_time=sighting.fetch_time,
                    )
                )
        return placement


@dataclass(slots=True)
class _Batch:
    competitor_id: str
    source_id: str
    crawl_job_id: str
    sightings: list[tuple[int, Sighting]]
    # Urls this call found neither an offer nor a review item for, kept across attempts: a retry after a
    # lost race finds the items its own first attempt wrote.
    first_seen: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Placement:
    review_changes: list[ReviewChange] = field(default_factory=list)
    new_offers: list[tuple[int, Sighting, Offer]] = field(default_factory=list)
    first_seen: list[NewCompetitorProduct] = field(default_factory=list)
    queued: int = 0
    unmatched: int = 0


def _validate(
    drafts: Sequence[SightingDraft], *, now: datetime, default_currency: str
) -> tuple[list[tuple[int, Sighting]], list[RowError]]:
    sightings: list[tuple[int, Sighting]] = []
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for row, draft in enumerate(drafts):
        try:
            sighting = domain.validate_sighting(draft, now=now, default_currency=default_currency)
            if sighting.url in first_row:
                raise InvalidArgument(
                    f"this url appears more than once in this batch (first at row {first_row[sighting.url]})",
                    field="url",
                )
        except DomainError as error:
            errors.append(RowError(row, _clip(draft.url), error.field, error.message))
            continue
        first_row[sighting.url] = row
        sightings.append((row, sighting))
    return sightings, errors


def _clip(text: str) -> str:
    return text if len(text) <= MAX_KEY_TEXT else f"{text[: MAX_KEY_TEXT - 1]}…"


def _observations(rows: Iterable[tuple[int, Sighting, Offer]]) -> list[tuple[int, ObservationDraft]]:
    drafts = []
    for row, sighting, offer in rows:
        draft = domain.sighting_observation(offer.id, sighting)
        if draft is not None:
            drafts.append((row, draft))
    return drafts


def _match_all(
    index: CatalogIndex, queries: Sequence[tuple[int, ProductFacts, frozenset[str]]]
) -> dict[int, MatchOutcome]:
    return {row: index.match(facts, rejected=rejected) for row, facts, rejected in queries}


def _candidate(found: Candidate, by_sku: Mapping[str, CatalogItem]) -> ReviewCandidate:
    item = by_sku.get(found.sku)
    return ReviewCandidate(
        found.sku,
        found.confidence,
        found.method,
        "" if item is None else item.title,
        "" if item is None else item.brand,
    )


def _category(sku: str, by_sku: Mapping[str, CatalogItem]) -> str:
    item = by_sku.get(sku) if sku else None
    return "" if item is None else item.category_id
