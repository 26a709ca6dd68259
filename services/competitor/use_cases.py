"""What callers of the competitor service can do, for the caller's organisation only.

Roles: every read (competitors, offers, observations, market prices) needs VIEWER; every write
(competitors, offers, observations and their CSV imports) needs PRICING_MANAGER. Crawl ingestion and
review decisions (services.competitor.ingest, services.competitor.review) need ANALYST.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from runtime.auth import Principal, Role
from runtime.clock import from_iso, utcnow
from runtime.errors import Conflict, DomainError, InvalidArgument, NotFound
from runtime.ids import new_id
from runtime.logging import get_logger
from runtime.money import Money
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.competitor import csv_io, domain, metrics
from services.competitor.domain import (
    Competitor,
    CompetitorDraft,
    MoneyInput,
    Observation,
    ObservationDraft,
    Offer,
    OfferChange,
    OfferContent,
    OfferDraft,
    OfferKey,
    RowError,
    SkuMarket,
    Track,
)
from services.competitor.market_events import MarketEventSink, PriceSeen
from services.competitor.repository import CompetitorPosition, Repositories

T = TypeVar("T")
_log = get_logger(__name__)

MAX_BULK_ROWS = 10_000
MAX_IMPORT_ROWS = 100_000
# The largest message the shared gRPC server accepts.
MAX_CSV_BYTES = 64 * 1024 * 1024
MAX_MARKET_SKUS = 1_000
MAX_COMPETITOR_FILTER = 1_000
# A write that lost a race re-reads and recomputes; more attempts than this means heavy contention.
WRITE_ATTEMPTS = 3
# Keys in row errors quote what the caller sent, cut to this length.
MAX_KEY_TEXT = 300

READ_ROLE = Role.VIEWER
WRITE_ROLE = Role.PRICING_MANAGER
MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class OfferResult:
    # The offers of the call in request order, as stored; empty when errors were found.
    offers: list[Offer]
    created: int
    updated: int
    unchanged: int
    # Non-empty means nothing was written.
    errors: list[RowError]


@dataclass(frozen=True, slots=True)
class ObservationResult:
    created: int
    unchanged: int
    # Non-empty means nothing was written.
    errors: list[RowError]


def _now(clock: Callable[[], datetime], *, after: datetime | None = None) -> datetime:
    """The time of a change, in milliseconds (what MongoDB keeps) and later than the change it follows."""
    value = domain.to_millisecond(clock())
    return value if after is None or value > after else after + MILLISECOND


def _clip(text: str) -> str:
    return text if len(text) <= MAX_KEY_TEXT else f"{text[: MAX_KEY_TEXT - 1]}…"


def _sorted(errors: Iterable[RowError]) -> list[RowError]:
    return sorted(errors, key=lambda error: (error.row, error.field))


class CompetitorDirectory:
    def __init__(
        self,
        repositories: Repositories,
        *,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], str] = lambda: new_id(domain.COMPETITOR_ID_PREFIX),
    ) -> None:
        self._competitors = repositories.competitors
        self._clock = clock
        self._ids = ids

    async def create_competitor(self, principal: Principal, draft: CompetitorDraft) -> Competitor:
        principal.require(WRITE_ROLE)
        content = domain.validate_competitor(draft)
        competitor = domain.new_competitor(principal.organization_id, self._ids(), content, now=_now(self._clock))
        await self._competitors.create(competitor)
        return competitor

    async def get_competitor(self, principal: Principal, competitor_id: str) -> Competitor:
        principal.require(READ_ROLE)
        return await self._get(principal, competitor_id)

    async def list_competitors(
        self, principal: Principal, *, page_size_requested: int, page_token: str
    ) -> Page[Competitor]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        position = decode_token(page_token)
        after = None
        if position:
            name, competitor_id = position.get("name_key"), position.get("id")
            if not isinstance(name, str) or not isinstance(competitor_id, str):
                raise InvalidArgument("page_token is not a token this API issued", field="page_token")
            after = CompetitorPosition(name, competitor_id)
        found = await self._competitors.find(principal.organization_id, after=after, limit=limit + 1)
        if len(found) <= limit:
            return Page(found, "")
        last = found[limit - 1]
        return Page(found[:limit], encode_token({"name_key": last.name_key, "id": last.id}))

    async def update_competitor(
        self, principal: Principal, competitor_id: str, draft: CompetitorDraft, paths: Iterable[str]
    ) -> Competitor:
        principal.require(WRITE_ROLE)
        fields = domain.parse_competitor_mask(paths)
        for _ in range(WRITE_ATTEMPTS):
            existing = await self._get(principal, competitor_id)
            now = _now(self._clock, after=existing.update_time)
            competitor = domain.updated_competitor(existing, draft, fields, now=now)
            if competitor is existing:
                return existing
            try:
                await self._competitors.update(existing, competitor)
            except Conflict:
                continue
            return competitor
        raise Conflict(f"competitor {competitor_id!r} is being changed by others right now; try again")

    async def delete_competitor(self, principal: Principal, competitor_id: str) -> None:
        """Refused while the competitor has offers, so no offer is left pointing at nothing."""
        principal.require(WRITE_ROLE)
        competitor = await self._get(principal, competitor_id)
        await self._competitors.delete(competitor.organization_id, competitor.id)

    async def _get(self, principal: Principal, competitor_id: str) -> Competitor:
        domain.validate_competitor_id(competitor_id)
        competitor = await self._competitors.get(principal.organization_id, competitor_id)
        if competitor is None:
            raise NotFound(f"competitor {competitor_id!r} does not exist", field="id")
        return competitor


class OfferCatalog:
    def __init__(
        self,
        repositories: Repositories,
        *,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], str] = lambda: new_id(domain.OFFER_ID_PREFIX),
    ) -> None:
        self._offers = repositories.offers
        self._competitors = repositories.competitors
        self._clock = clock
        self._ids = ids

    async def get_offer(self, principal: Principal, offer_id: str) -> Offer:
        principal.require(READ_ROLE)
        domain.validate_offer_id(offer_id)
        offer = await self._offers.get(principal.organization_id, offer_id)
        if offer is None:
            raise NotFound(f"offer {offer_id!r} does not exist", field="id")
        return offer

    async def list_offers(
        self, principal: Principal, *, sku: str, competitor_id: str, page_size_requested: int, page_token: str
    ) -> Page[Offer]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        wanted_sku = domain.validate_sku(sku) if sku else None
        wanted_competitor = (
            domain.validate_competitor_id(competitor_id, field="competitor_id") if competitor_id else None
        )
        position = decode_token(page_token)
        if position and (position.get("f") != [sku, competitor_id] or not isinstance(position.get("after"), str)):
            raise InvalidArgument("page_token was issued for a different filter", field="page_token")
        offers = await self._offers.find(
            principal.organization_id,
            sku=wanted_sku,
            competitor_id=wanted_competitor,
            after_id=str(position.get("after", "")),
            limit=limit + 1,
        )
        if len(offers) <= limit:
            return Page(offers, "")
        page = offers[:limit]
        return Page(page, encode_token({"after": page[-1].id, "f": [sku, competitor_id]}))

    async def delete_offer(self, principal: Principal, offer_id: str) -> None:
        """Delete the offer and its observations."""
        principal.require(WRITE_ROLE)
        domain.validate_offer_id(offer_id)
        if not await self._offers.delete(principal.organization_id, offer_id):
            raise NotFound(f"offer {offer_id!r} does not exist", field="id")

    async def upsert_offers(self, principal: Principal, drafts: Sequence[OfferDraft]) -> OfferResult:
        """Create or change up to MAX_BULK_ROWS offers by (competitor_id, url): all of them, or none and why."""
        principal.require(WRITE_ROLE)
        if len(drafts) > MAX_BULK_ROWS:
            raise InvalidArgument(f"at most {MAX_BULK_ROWS:,} offers per call, got {len(drafts):,}", field="offers")
        return await self._upsert(principal, list(enumerate(drafts)), [])

    async def import_csv(self, principal: Principal, data: bytes) -> OfferResult:
        principal.require(WRITE_ROLE)
        parsed = csv_io.parse_offers(_csv_size_checked(data))
        _check_import_rows(len(parsed.rows) + len(parsed.errors), "offers")
        return await self._upsert(principal, parsed.rows, parsed.errors)

    async def _upsert(
        self, principal: Principal, rows: Sequence[tuple[int, OfferDraft]], unreadable: Sequence[RowError]
    ) -> OfferResult:
        valid, errors = self._validate(rows)
        errors.extend(unreadable)
        competitor_ids = {key[0] for _, key, _, _ in valid}
        known = await self._competitors.get_many(principal.organization_id, competitor_ids)
        for index, key, _, _ in valid:
            if key[0] not in known:
                errors.append(
                    RowError(
                        index,
                        _clip(domain.offer_key_text(*key)),
                        "competitor_id",
                        f"competitor {key[0]!r} does not exist",
                    )
                )
        if errors:
            return OfferResult([], 0, 0, 0, _sorted(errors))
        for _ in range(WRITE_ATTEMPTS):
            try:
                return await self._write(principal, valid)
            except Conflict:
                continue
        raise Conflict("the offers of this batch are being changed by others right now; try again")

    @staticmethod
    def _validate(
        rows: Sequence[tuple[int, OfferDraft]],
    ) -> tuple[list[tuple[int, OfferKey, OfferContent, str]], list[RowError]]:
        """Every row checked on its own and against the others; (row, key, content, id given) per valid row."""
        valid: list[tuple[int, OfferKey, OfferContent, str]] = []
        errors: list[RowError] = []
        first_row: dict[OfferKey, int] = {}
        for index, draft in rows:
            try:
                key = domain.validate_offer_key(draft.competitor_id, draft.url)
                if key in first_row:
                    raise InvalidArgument(
                        f"this competitor and url appear more than once in this batch (first at row {first_row[key]})",
                        field="url",
                    )
                first_row[key] = index
                content = domain.validate_offer(draft)
                if draft.id:
                    domain.validate_offer_id(draft.id)
            except DomainError as error:
                key_text = domain.offer_key_text(draft.competitor_id, draft.url)
                errors.append(RowError(index, _clip(key_text), error.field, error.message))
                continue
            valid.append((index, key, content, draft.id))
        return valid, errors

    async def _write(
        self, principal: Principal, rows: Sequence[tuple[int, OfferKey, OfferContent, str]]
    ) -> OfferResult:
        organization_id = principal.organization_id
        existing = await self._offers.get_by_keys(organization_id, [key for _, key, _, _ in rows])
        latest = max((offer.update_time for offer in existing.values()), default=None)
        now = _now(self._clock, after=latest)
        stored: list[Offer] = []
        changes: list[OfferChange] = []
        errors: list[RowError] = []
        created = updated = unchanged = 0
        for index, key, content, given_id in rows:
            before = existing.get(key)
            if given_id and (before is None or before.id != given_id):
                errors.append(_id_mismatch(index, key, given_id, before))
                continue
            if before is None:
                after = domain.new_offer(organization_id, self._ids(), key, content, now=now)
                created += 1
            else:
                after = domain.upserted_offer(before, content, now=now)
                if after is before:
                    unchanged += 1
                    stored.append(before)
                    continue
                updated += 1
            changes.append(OfferChange(before, after))
            stored.append(after)
        if errors:
            return OfferResult([], 0, 0, 0, _sorted(errors))
        if changes:
            await self._offers.write(changes)
        metrics.count_offers(created=created, updated=updated, unchanged=unchanged)
        return OfferResult(stored, created, updated, unchanged, [])


def _id_mismatch(index: int, key: OfferKey, given_id: str, before: Offer | None) -> RowError:
    if before is None:
        message = "a new offer's id is set by the server; leave id empty"
    else:
        message = f"the offer of this competitor and url is {before.id!r}, not {given_id!r}"
    return RowError(index, _clip(domain.offer_key_text(*key)), "id", message)


class ObservationLog:
    """Records observations; after storing, tells `events` (when given) of every change of an offer's price,
    stock or quarantine (PriceSeen), its first observation included."""

    def __init__(
        self,
        repositories: Repositories,
        *,
        clock: Callable[[], datetime] = utcnow,
        events: MarketEventSink | None = None,
    ) -> None:
        self._observations = repositories.observations
        self._offers = repositories.offers
        self._competitors = repositories.competitors
        self._clock = clock
        self._events = events

    async def record(self, principal: Principal, drafts: Sequence[ObservationDraft]) -> ObservationResult:
        """Record up to MAX_BULK_ROWS observations: all of them, or none and why. Idempotent on
        (offer_id, observe_time); an observation equal to the one in effect only extends its run."""
        principal.require(WRITE_ROLE)
        if len(drafts) > MAX_BULK_ROWS:
            raise InvalidArgument(
                f"at most {MAX_BULK_ROWS:,} observations per call, got {len(drafts):,}", field="observations"
            )
        return await self._record(principal, enumerate(drafts), [], {}, source="RecordObservations")

    async def record_for(
        self,
        principal: Principal,
        rows: Sequence[tuple[int, ObservationDraft]],
        key_texts: Mapping[int, str],
        *,
        offers: Mapping[str, Offer],
        source: str,
    ) -> ObservationResult:
        """Record observations another use case made (of `offers`, known to it) after checking the caller's
        role itself; `key_texts` name each row in errors."""
        return await self._record(principal, rows, [], key_texts, source=source, offers=offers)

    async def import_csv(self, principal: Principal, data: bytes) -> ObservationResult:
        """Observations from CSV; each row names its offer by competitor_id and url, which must exist."""
        principal.require(WRITE_ROLE)
        parsed = csv_io.parse_observations(_csv_size_checked(data))
        _check_import_rows(len(parsed.rows) + len(parsed.errors), "observations")
        errors = list(parsed.errors)
        keys: dict[int, OfferKey] = {}
        for index, record in parsed.rows:
            try:
                keys[index] = domain.validate_offer_key(record.competitor_id, record.url)
            except DomainError as error:
                errors.append(RowError(index, _clip(record.key_text), error.field, error.message))
        organization_id = principal.organization_id
        offers = await self._offers.get_by_keys(organization_id, set(keys.values()))
        needs_currency = {keys[index][0] for index, record in parsed.rows if not record.currency and index in keys}
        currencies = await self._default_currencies(organization_id, needs_currency)
        drafts: list[tuple[int, ObservationDraft]] = []
        key_texts: dict[int, str] = {}
        for index, record in parsed.rows:
            key = keys.get(index)
            if key is None:
                continue
            key_texts[index] = _clip(record.key_text)
            offer = offers.get(key)
            try:
                if offer is None:
                    raise InvalidArgument(f"competitor {key[0]!r} has no offer with this url", field="url")
                price = Money.parse(record.price, record.currency or currencies.get(key[0], ""), field="price")
            except DomainError as error:
                errors.append(RowError(index, key_texts[index], error.field, error.message))
                continue
            drafts.append(
                (
                    index,
                    ObservationDraft(
                        offer_id=offer.id,
                        observe_time=record.observe_time,
                        price=MoneyInput(price.amount_minor, price.currency),
                        in_stock=record.in_stock,
                    ),
                )
            )
        return await self._record(principal, drafts, errors, key_texts, source="ImportObservationsCsv")

    async def list_observations(
        self,
        principal: Principal,
        *,
        offer_id: str,
        start: datetime | None,
        end: datetime | None,
        page_size_requested: int,
        page_token: str,
    ) -> Page[Observation]:
        """The offer's stored observations (its changes of price, stock or quarantine), newest first."""
        principal.require(READ_ROLE)
        domain.validate_offer_id(offer_id, field="offer_id")
        limit = page_size(page_size_requested)
        if start is not None and end is not None and start >= end:
            raise InvalidArgument("start_time must be before end_time", field="start_time")
        before = _observation_position(decode_token(page_token), offer_id)
        if await self._offers.get(principal.organization_id, offer_id) is None:
            raise NotFound(f"offer {offer_id!r} does not exist", field="offer_id")
        rows = await self._observations.find(offer_id, start=start, end=end, before=before, limit=limit + 1)
        if len(rows) <= limit:
            return Page(rows, "")
        last = rows[limit - 1]
        return Page(rows[:limit], encode_token({"offer": offer_id, "before": last.observe_time.isoformat()}))

    async def _record(
        self,
        principal: Principal,
        rows: Iterable[tuple[int, ObservationDraft]],
        unreadable: Sequence[RowError],
        key_texts: Mapping[int, str],
        *,
        source: str,
        offers: Mapping[str, Offer] | None = None,
    ) -> ObservationResult:
        organization_id = principal.organization_id
        now = self._clock()
        errors = list(unreadable)
        keyed: list[tuple[int, ObservationDraft, datetime]] = []
        first_row: dict[tuple[str, datetime], int] = {}
        for index, draft in rows:
            try:
                domain.validate_offer_id(draft.offer_id, field="offer_id")
                moment = domain.validate_observe_time(draft.observe_time, now=now)
                key = (draft.offer_id, moment)
                first = first_row.get(key)
                if first is not None:
                    raise InvalidArgument(
                        f"this offer and observe_time appear more than once in this batch (first at row {first})",
                        field="observe_time",
                    )
                first_row[key] = index
            except DomainError as error:
                errors.append(RowError(index, key_texts.get(index) or _draft_key(draft), error.field, error.message))
                continue
            keyed.append((index, draft, moment))
        if not keyed and not errors:
            return ObservationResult(0, 0, [])
        for _ in range(WRITE_ATTEMPTS):
            tracks = await self._observations.tracks(organization_id, {draft.offer_id for _, draft, _ in keyed})
            valid, invalid = await self._validate(organization_id, keyed, tracks, key_texts)
            if errors or invalid:
                return ObservationResult(0, 0, _sorted([*errors, *invalid]))
            wanted = {
                (observation.offer_id, observation.observe_time)
                for _, observation in valid
                if domain.needs_history(tracks[observation.offer_id], observation)
            }
            in_effect = await self._observations.rows_in_effect(wanted)
            plan = domain.plan_observations(tracks, in_effect, valid)
            if plan.errors:
                refused = [
                    RowError(error.row, key_texts.get(error.row, error.key), error.field, error.message)
                    for error in plan.errors
                ]
                return ObservationResult(0, 0, _sorted(refused))
            try:
                await self._observations.write(organization_id, plan.rows, plan.changes)
            except Conflict:
                continue
            quarantined = sum(1 for _, observation in valid if observation.quarantined)
            metrics.count_observations(source, created=plan.created, unchanged=plan.unchanged, quarantined=quarantined)
            if plan.transitions and self._events is not None:
                await self._tell(self._events, organization_id, plan.transitions, offers or {})
            return ObservationResult(plan.created, plan.unchanged, [])
        raise Conflict("observations of these offers are being recorded by others right now; try again")

    async def _validate(
        self,
        organization_id: str,
        keyed: Sequence[tuple[int, ObservationDraft, datetime]],
        tracks: Mapping[str, Track],
        key_texts: Mapping[int, str],
    ) -> tuple[list[tuple[int, Observation]], list[RowError]]:
        needs_currency = {
            tracks[draft.offer_id].competitor_id
            for _, draft, _ in keyed
            if draft.price is not None and not draft.price.currency and draft.offer_id in tracks
        }
        currencies = await self._default_currencies(organization_id, needs_currency)
        valid: list[tuple[int, Observation]] = []
        errors: list[RowError] = []
        for index, draft, moment in keyed:
            track = tracks.get(draft.offer_id)
            try:
                if track is None:
                    raise InvalidArgument(f"offer {draft.offer_id!r} does not exist", field="offer_id")
                default_currency = currencies.get(track.competitor_id, "")
                valid.append((index, domain.validate_observation(draft, moment, default_currency=default_currency)))
            except DomainError as error:
                key = key_texts.get(index) or domain.observation_key_text(draft.offer_id, moment)
                errors.append(RowError(index, key, error.field, error.message))
        return valid, errors

    async def _default_currencies(self, organization_id: str, competitor_ids: Collection[str]) -> dict[str, str]:
        if not competitor_ids:
            return {}
        competitors = await self._competitors.get_many(organization_id, competitor_ids)
        return {competitor.id: competitor.default_currency for competitor in competitors.values()}

    async def _tell(
        self,
        sink: MarketEventSink,
        organization_id: str,
        transitions: Sequence[tuple[Observation | None, Observation]],
        known: Mapping[str, Offer],
    ) -> None:
        missing = {after.offer_id for _, after in transitions if after.offer_id not in known}
        offers = {**known, **await self._offers.get_many(organization_id, missing)} if missing else known
        events = []
        for before, after in transitions:
            offer = offers.get(after.offer_id)
            if offer is None:
                continue
            events.append(
                PriceSeen(
                    organization_id=organization_id,
                    competitor_id=offer.competitor_id,
                    offer_id=offer.id,
                    sku=offer.sku,
                    url=offer.url,
                    title=offer.title,
                    observe_time=after.observe_time,
                    price=after.price,
                    in_stock=after.in_stock,
                    quarantined=after.quarantined,
                    previous_price=None if before is None else before.price,
                    previous_in_stock=None if before is None else before.in_stock,
                )
            )
        await tell(sink.prices_seen(events), "prices_seen")


async def tell(delivery: Awaitable[None], what: str) -> None:
    """Hand events to the sink; what they describe is stored already, so a failing sink is logged, not raised."""
    try:
        await delivery
    except Exception:
        _log.exception("market event sink failed", events=what)


def _draft_key(draft: ObservationDraft) -> str:
    moment = "" if draft.observe_time is None else draft.observe_time.isoformat()
    return _clip(f"{draft.offer_id}@{moment}")


def _observation_position(position: dict[str, object], offer_id: str) -> datetime | None:
    if not position:
        return None
    before = position.get("before")
    if position.get("offer") != offer_id or not isinstance(before, str):
        raise InvalidArgument("page_token was issued for a different request", field="page_token")
    try:
        return from_iso(before)
    except ValueError:
        raise InvalidArgument("page_token is not a token this API issued", field="page_token") from None


class MarketBoard:
    """Market prices as pricing reads them: the newest usable price of every offer of a sku."""

    def __init__(self, repositories: Repositories, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._market = repositories.market
        self._clock = clock

    async def list_market_prices(
        self,
        principal: Principal,
        *,
        skus: Sequence[str],
        competitor_ids: Sequence[str],
        page_size_requested: int,
        page_token: str,
    ) -> Page[SkuMarket]:
        """The given skus in request order, or, when none are given, every sku with offers page by page."""
        principal.require(READ_ROLE)
        wanted = _market_skus(skus)
        competitors = _competitor_filter(competitor_ids)
        organization_id = principal.organization_id
        if wanted:
            if page_token:
                raise InvalidArgument("page_token applies only when no skus are given", field="page_token")
            entries = await self._market.for_skus(organization_id, wanted, competitors)
            markets = domain.sku_markets(entries, now=self._clock())
            metrics.count_market_skus(len(wanted))
            return Page([markets.get(sku) or SkuMarket(sku, []) for sku in wanted], "")
        limit = page_size(page_size_requested)
        fingerprint = _fingerprint(competitors)
        position = decode_token(page_token)
        if position and (position.get("c") != fingerprint or not isinstance(position.get("after"), str)):
            raise InvalidArgument("page_token was issued for a different competitor filter", field="page_token")
        entries = await self._market.after_sku(organization_id, str(position.get("after", "")), limit + 1, competitors)
        page = list(domain.sku_markets(entries, now=self._clock()).values())
        metrics.count_market_skus(min(len(page), limit))
        if len(page) <= limit:
            return Page(page, "")
        page = page[:limit]
        return Page(page, encode_token({"after": page[-1].sku, "c": fingerprint}))


def _market_skus(skus: Sequence[str]) -> list[str]:
    if len(skus) > MAX_MARKET_SKUS:
        raise InvalidArgument(f"at most {MAX_MARKET_SKUS:,} skus per call, got {len(skus):,}", field="skus")
    seen: set[str] = set()
    for index, sku in enumerate(skus):
        domain.validate_sku(sku, field=f"skus[{index}]")
        if sku in seen:
            raise InvalidArgument(f"sku {sku!r} appears more than once", field=f"skus[{index}]")
        seen.add(sku)
    return list(skus)


def _competitor_filter(competitor_ids: Sequence[str]) -> frozenset[str] | None:
    if not competitor_ids:
        return None
    if len(competitor_ids) > MAX_COMPETITOR_FILTER:
        raise InvalidArgument(
            f"at most {MAX_COMPETITOR_FILTER:,} competitor_ids per call, got {len(competitor_ids):,}",
            field="competitor_ids",
        )
    for index, competitor_id in enumerate(competitor_ids):
        domain.validate_competitor_id(competitor_id, field=f"competitor_ids[{index}]")
    return frozenset(competitor_ids)


def _fingerprint(competitors: frozenset[str] | None) -> str:
    """A short digest of a competitor filter, kept in page tokens so a token is used with its filter."""
    canonical = json.dumps(sorted(competitors) if competitors is not None else None)
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


def _csv_size_checked(data: bytes) -> bytes:
    if len(data) > MAX_CSV_BYTES:
        raise InvalidArgument(f"the CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB", field="csv")
    return data


def _check_import_rows(count: int, what: str) -> None:
    if count > MAX_IMPORT_ROWS:
        raise InvalidArgument(f"a CSV import holds at most {MAX_IMPORT_ROWS:,} {what}, got {count:,}", field="csv")
