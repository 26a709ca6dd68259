"""Market rules with no I/O: valid competitors, offers and observations, how observations fold into
runs of equal prices, and the market prices pricing reads.

Observations and "only changes stored densely": a crawler sees the same price of an offer again and
again, so an observation equal to the one in effect (same price, stock and quarantine) is not stored
as a row. Each offer keeps a Track: its newest run of equal observations (the run's first observation,
which is the offer's newest stored row, and when that price was last seen) and its newest usable
(non-quarantined) price. A repeat only moves the run's last_seen; a change is stored as a row and
starts a new run. Stored rows are therefore the change points of the offer's price history:
ListObservations lists them, and the price in effect at any moment is the newest row at or before it.
A late observation (older than the run's last sighting) is compared with the row in effect at its time;
if it differs it is stored, and if it falls inside the newest run that run is re-stored as resumed at
its last sighting, so the newest row is always the current state.
"""

from __future__ import annotations

import bisect
import enum
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from runtime import field_mask
from runtime.errors import InvalidArgument
from runtime.money import MAX_AMOUNT_MINOR, Money, currency_exponent

# The product service's sku syntax (services/product/domain.py); a test keeps the two equal.
SKU_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
COMPETITOR_ID_PREFIX = "cmp_"
OFFER_ID_PREFIX = "off_"
# runtime.ids.new_id: a prefix and 26 characters of its alphabet.
_ID_BODY = r"[0-9a-z]{26}"
COMPETITOR_ID_PATTERN = re.compile(COMPETITOR_ID_PREFIX + _ID_BODY)
OFFER_ID_PATTERN = re.compile(OFFER_ID_PREFIX + _ID_BODY)
MAX_NAME_LENGTH = 120
MAX_TITLE_LENGTH = 500
MAX_URL_LENGTH = 2048
MAX_QUARANTINE_REASON_LENGTH = 500
# Crawlers' clocks drift; an observation further ahead of ours than this is a bug, not a price.
MAX_CLOCK_SKEW = timedelta(minutes=5)
EARLIEST_OBSERVATION = datetime(2000, 1, 1, tzinfo=UTC)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A host name (any script, as IDNs are typed), an IPv4 address, or an IPv6 address in brackets.
_HOST = re.compile(r"[\w.-]+|\[[0-9A-Fa-f:.]+\]")
# Unicode category Cc (C0, DEL, C1) and, in URLs, any whitespace.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
_CHECKED_CURRENCIES: set[str] = set()


class MatchMethod(enum.IntEnum):
    """How an offer was linked to our sku; the numbers are omnipricex.competitor.v1.MatchMethod's."""

    MANUAL = 1
    GTIN = 2
    BRAND_MPN = 3
    FUZZY = 4


class ExtractionMethod(enum.IntEnum):
    """How a price was read; the numbers are omnipricex.competitor.v1.ExtractionMethod's."""

    IMPORT = 1
    JSON_LD = 2
    MICRODATA = 3
    RDFA = 4
    OPENGRAPH = 5
    SELECTOR = 6
    HEURISTIC = 7


@dataclass(frozen=True, slots=True)
class MoneyInput:
    """An amount as a caller sent it; an empty currency means the competitor's default currency."""

    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row of a bulk call was refused; for CSV the row is the data record, header excluded."""

    row: int
    key: str
    field: str
    message: str


# --- competitors ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompetitorDraft:
    """A competitor's fields as a caller sent them, not yet validated."""

    name: str = ""
    website: str = ""
    default_currency: str = ""


@dataclass(frozen=True, slots=True)
class Competitor:
    organization_id: str
    id: str
    name: str
    website: str
    default_currency: str
    # Grows by one on every stored change; writes check it so concurrent changes are never lost.
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def name_key(self) -> str:
        return name_key(self.name)


COMPETITOR_PATHS = ("name", "website", "default_currency")


def name_key(name: str) -> str:
    """The form names are unique in: "Müller", "MÜLLER" and a decomposed "Müller" are one name."""
    return unicodedata.normalize("NFKC", name).casefold()


def validate_competitor(draft: CompetitorDraft) -> CompetitorDraft:
    return CompetitorDraft(
        name=_text(draft.name, "name", MAX_NAME_LENGTH, required=True),
        website=validate_url(draft.website, field="website", required=False),
        default_currency=_currency(draft.default_currency, "default_currency"),
    )


def new_competitor(organization_id: str, competitor_id: str, content: CompetitorDraft, *, now: datetime) -> Competitor:
    return Competitor(
        organization_id=organization_id,
        id=competitor_id,
        name=content.name,
        website=content.website,
        default_currency=content.default_currency,
        revision=1,
        create_time=now,
        update_time=now,
    )


def parse_competitor_mask(paths: Iterable[str]) -> frozenset[str]:
    return field_mask.parse_update_mask(
        paths, COMPETITOR_PATHS, key="id", key_message="a competitor's id cannot be changed"
    )


def updated_competitor(
    existing: Competitor, draft: CompetitorDraft, paths: Collection[str], *, now: datetime
) -> Competitor:
    """`existing` with the fields named by `paths` taken from `draft`; the same object when nothing differs."""
    merged = validate_competitor(
        CompetitorDraft(
            name=draft.name if "name" in paths else existing.name,
            website=draft.website if "website" in paths else existing.website,
            default_currency=draft.default_currency if "default_currency" in paths else existing.default_currency,
        )
    )
    if (merged.name, merged.website, merged.default_currency) == (
        existing.name,
        existing.website,
        existing.default_currency,
    ):
        return existing
    return replace(
        existing,
        name=merged.name,
        website=merged.website,
        default_currency=merged.default_currency,
        revision=existing.revision + 1,
        update_time=now,
    )


# --- offers ---------------------------------------------------------------------------------------

# (competitor_id, normalised url): an offer's natural key within its organisation.
OfferKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class OfferDraft:
    """One offer as a caller sent it (RPC or CSV row), not yet validated.

    A match_method of None means "not given": a new offer, or one re-linked to another sku, is then a
    manual match with confidence 1, and an existing offer keeps its match.
    """

    competitor_id: str
    url: str
    sku: str
    title: str = ""
    match_method: MatchMethod | None = None
    match_confidence: float = 0.0
    id: str = ""


@dataclass(frozen=True, slots=True)
class OfferContent:
    """The validated fields of an offer a caller controls."""

    sku: str
    title: str
    match_method: MatchMethod | None
    match_confidence: float


@dataclass(frozen=True, slots=True)
class Offer:
    organization_id: str
    id: str
    competitor_id: str
    url: str
    sku: str
    title: str
    match_method: MatchMethod
    match_confidence: float
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def key(self) -> OfferKey:
        return (self.competitor_id, self.url)


@dataclass(frozen=True, slots=True)
class OfferChange:
    """An offer to store: `before` is None for a new offer, else the stored version it replaces."""

    before: Offer | None
    after: Offer


def offer_key_text(competitor_id: str, url: str) -> str:
    return f"{competitor_id}/{url}"


def validate_offer_key(competitor_id: str, url: str) -> OfferKey:
    return (validate_competitor_id(competitor_id, field="competitor_id"), validate_url(url))


def validate_offer(draft: OfferDraft) -> OfferContent:
    method = draft.match_method
    confidence = draft.match_confidence
    if method is not None or confidence:
        confidence = _confidence(confidence, "match_confidence")
    if method is None or method is MatchMethod.MANUAL:
        if confidence not in (0.0, 1.0):
            raise InvalidArgument("a manual match has confidence 1", field="match_confidence")
        confidence = 1.0
    return OfferContent(
        sku=validate_sku(draft.sku),
        title=_text(draft.title, "title", MAX_TITLE_LENGTH),
        match_method=method,
        match_confidence=confidence,
    )


def new_offer(organization_id: str, offer_id: str, key: OfferKey, content: OfferContent, *, now: datetime) -> Offer:
    return Offer(
        organization_id=organization_id,
        id=offer_id,
        competitor_id=key[0],
        url=key[1],
        sku=content.sku,
        title=content.title,
        match_method=content.match_method or MatchMethod.MANUAL,
        match_confidence=content.match_confidence,
        revision=1,
        create_time=now,
        update_time=now,
    )


def upserted_offer(existing: Offer, content: OfferContent, *, now: datetime) -> Offer:
    """`existing` carrying `content`: the same object when nothing differs, else a new revision."""
    method, confidence = content.match_method, content.match_confidence
    if method is None:
        if content.sku == existing.sku:
            method, confidence = existing.match_method, existing.match_confidence
        else:
            # Re-linked to another sku without saying how: the caller decided, so it is a manual match.
            method, confidence = MatchMethod.MANUAL, 1.0
    if (content.sku, content.title, method, confidence) == (
        existing.sku,
        existing.title,
        existing.match_method,
        existing.match_confidence,
    ):
        return existing
    return replace(
        existing,
        sku=content.sku,
        title=content.title,
        match_method=method,
        match_confidence=confidence,
        revision=existing.revision + 1,
        update_time=now,
    )


# --- observations ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationDraft:
    """One observation as a caller sent it, not yet validated.

    An extraction_method of None means "not given": the observation was entered or imported, and its
    confidence is 1 unless given.
    """

    offer_id: str
    observe_time: datetime | None
    price: MoneyInput | None
    in_stock: bool
    extraction_method: ExtractionMethod | None = None
    confidence: float = 0.0
    quarantined: bool = False
    quarantine_reason: str = ""


# Observations, tracks and market prices are built tens of thousands of times per call, and a frozen
# dataclass takes several times longer to build; they are values all the same, never changed once built.
@dataclass(slots=True)
class Observation:
    offer_id: str
    observe_time: datetime
    price: Money
    in_stock: bool
    extraction_method: ExtractionMethod
    confidence: float
    # Kept and shown, never fed to pricing.
    quarantined: bool
    quarantine_reason: str

    @property
    def key_text(self) -> str:
        return observation_key_text(self.offer_id, self.observe_time)


@dataclass(slots=True)
class Run:
    """The newest run of equal observations of an offer: its first (stored as a row) and its last sighting."""

    first: Observation
    last_seen: datetime


@dataclass(slots=True)
class UsablePrice:
    """The newest non-quarantined price of an offer, as pricing may use it, and when it was last seen."""

    price: Money
    in_stock: bool
    seen_time: datetime


@dataclass(slots=True)
class Track:
    """What an offer's observations come to, kept with the offer so no read scans its history."""

    offer_id: str
    competitor_id: str
    run: Run | None
    usable: UsablePrice | None
    # Grows by one on every stored change of the track; writes check it.
    revision: int


@dataclass(slots=True)
class TrackChange:
    before: Track
    after: Track


@dataclass(frozen=True, slots=True)
class ObservationPlan:
    """What recording a batch comes to: rows to store, tracks to move, and how many were new."""

    rows: list[Observation]
    changes: list[TrackChange]
    # Stored as a change of price, stock or quarantine.
    created: int
    # Already stored, or equal to the observation in effect at their time (they only extend its run).
    unchanged: int
    # Non-empty means nothing may be written.
    errors: list[RowError] = field(default_factory=list)
    # Each stored observation that became its offer's current state, beside the state it replaced (None for
    # an offer's first); in time order per offer. Late observations fill in history and are not among them.
    transitions: list[tuple[Observation | None, Observation]] = field(default_factory=list)


def observation_key_text(offer_id: str, observe_time: datetime) -> str:
    return f"{offer_id}@{observe_time.isoformat().replace('+00:00', 'Z')}"


def to_millisecond(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds; truncating makes every engine return the times it was given."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def validate_observe_time(value: datetime | None, *, now: datetime, field: str = "observe_time") -> datetime:
    if value is None:
        raise InvalidArgument("observe_time is required", field=field)
    if value.tzinfo is None:
        raise InvalidArgument("observe_time must carry a time zone", field=field)
    moment = value if value.tzinfo is UTC else value.astimezone(UTC)
    if moment.microsecond % 1000:
        moment = to_millisecond(moment)
    if moment > now + MAX_CLOCK_SKEW:
        raise InvalidArgument(
            f"observe_time {moment.isoformat()} is in the future (more than {MAX_CLOCK_SKEW} ahead of the server)",
            field=field,
        )
    if moment < EARLIEST_OBSERVATION:
        raise InvalidArgument(f"observe_time must not be before {EARLIEST_OBSERVATION.date()}", field=field)
    return moment


def validate_observation(draft: ObservationDraft, observe_time: datetime, *, default_currency: str) -> Observation:
    """The observation if every field is valid; `observe_time` was validated already (it is part of the key)."""
    given = draft.price
    if given is None:
        raise InvalidArgument("price is required", field="price")
    price = _money(given if given.currency else MoneyInput(given.amount_minor, default_currency), "price")
    method = draft.extraction_method
    confidence = draft.confidence
    if method is None:
        method = ExtractionMethod.IMPORT
        confidence = _confidence(confidence, "confidence") if confidence else 1.0
    else:
        confidence = _confidence(confidence, "confidence")
    reason = draft.quarantine_reason
    if reason:
        reason = _text(reason, "quarantine_reason", MAX_QUARANTINE_REASON_LENGTH)
    if draft.quarantined and not reason:
        raise InvalidArgument("a quarantined observation needs a quarantine_reason", field="quarantine_reason")
    if reason and not draft.quarantined:
        raise InvalidArgument("quarantine_reason is only for quarantined observations", field="quarantine_reason")
    # Positional: keywords take three times as long to bind, and this runs per row of a batch.
    return Observation(
        draft.offer_id, observe_time, price, bool(draft.in_stock), method, confidence, bool(draft.quarantined), reason
    )


def same_state(a: Observation, b: Observation) -> bool:
    """Whether `b` tells nothing new after `a`: the same price, stock and quarantine."""
    return a.price == b.price and a.in_stock == b.in_stock and a.quarantined == b.quarantined


def needs_history(track: Track, observation: Observation) -> bool:
    """Whether folding `observation` needs the stored row in effect at its time (it predates the newest run)."""
    return track.run is not None and observation.observe_time < track.run.first.observe_time


def plan_observations(
    tracks: Mapping[str, Track],
    rows_in_effect: Mapping[tuple[str, datetime], Observation],
    observations: Sequence[tuple[int, Observation]],
) -> ObservationPlan:
    """Fold a batch into the offers' tracks.

    `tracks` holds the track of every offer observed; `rows_in_effect` the newest stored row at or
    before the time of each observation that needs_history (absent when there is none). The batch
    has no two observations with the same key.
    """
    # Most offers are observed once per batch: a list for each would be thousands more objects for the
    # garbage collector to scan while the batch is recorded. Only offers observed again get one.
    first: dict[str, tuple[int, Observation]] = {}
    again: dict[str, list[tuple[int, Observation]]] = {}
    for item in observations:
        offer_id = item[1].offer_id
        if offer_id not in first:
            first[offer_id] = item
        elif offer_id in again:
            again[offer_id].append(item)
        else:
            again[offer_id] = [first[offer_id], item]
    planner = _Planner(rows_in_effect)
    for offer_id, item in first.items():
        group = again.get(offer_id)
        if group is None:
            planner.fold(tracks[offer_id], (item,))
        else:
            group.sort(key=lambda entry: entry[1].observe_time)
            planner.fold(tracks[offer_id], group)
    return ObservationPlan(
        planner.rows, planner.changes, planner.created, planner.unchanged, planner.errors, planner.transitions
    )


class _Planner:
    def __init__(self, rows_in_effect: Mapping[tuple[str, datetime], Observation]) -> None:
        self._rows_in_effect = rows_in_effect
        self.rows: list[Observation] = []
        self.changes: list[TrackChange] = []
        self.created = 0
        self.unchanged = 0
        self.errors: list[RowError] = []
        self.transitions: list[tuple[Observation | None, Observation]] = []

    def fold(self, track: Track, group: Sequence[tuple[int, Observation]]) -> None:
        run, usable = track.run, track.usable
        history: _History | None = None
        for row, observation in group:
            moment = observation.observe_time
            if run is None or moment > run.last_seen:
                if run is not None and same_state(run.first, observation):
                    run = Run(run.first, moment)
                    self.unchanged += 1
                else:
                    self.rows.append(observation)
                    self.transitions.append((None if run is None else run.first, observation))
                    run = Run(observation, moment)
                    self.created += 1
            else:
                if history is None:
                    history = _History(
                        run.first, [self._rows_in_effect.get((o.offer_id, o.observe_time)) for _, o in group]
                    )
                try:
                    run = self._late(observation, run, history)
                except InvalidArgument as error:
                    self.errors.append(RowError(row, observation.key_text, error.field, error.message))
                    continue
            if not observation.quarantined and (usable is None or moment > usable.seen_time):
                usable = UsablePrice(observation.price, observation.in_stock, moment)
        # Every change of the run or the usable price makes a new object, so identity tells whether any happened.
        if run is not track.run or usable is not track.usable:
            after = Track(track.offer_id, track.competitor_id, run, usable, track.revision + 1)
            self.changes.append(TrackChange(track, after))

    def _late(self, observation: Observation, run: Run, history: _History) -> Run:
        """Fold an observation no newer than the run's last sighting; returns the newest run afterwards."""
        moment = observation.observe_time
        in_effect = history.at(moment)
        if in_effect is not None and in_effect.observe_time == moment:
            if not same_state(in_effect, observation):
                raise _conflicting(moment)
            self.unchanged += 1
            return run
        if moment == run.last_seen:
            if not same_state(run.first, observation):
                raise _conflicting(moment)
            self.unchanged += 1
            return run
        if in_effect is not None and same_state(in_effect, observation):
            self.unchanged += 1
            return run
        self.rows.append(observation)
        history.add(observation)
        self.created += 1
        if in_effect is None or in_effect.observe_time != run.first.observe_time:
            return run
        # It interrupts the newest run, whose price was seen again at last_seen: store that sighting too.
        resumed = replace(run.first, observe_time=run.last_seen)
        self.rows.append(resumed)
        history.add(resumed)
        return Run(resumed, run.last_seen)


class _History:
    """The rows of one offer known while folding late observations, in time order."""

    def __init__(self, newest: Observation, earlier: Iterable[Observation | None]) -> None:
        found = {row.observe_time: row for row in earlier if row is not None}
        found[newest.observe_time] = newest
        self._times = sorted(found)
        self._rows = [found[moment] for moment in self._times]

    def at(self, moment: datetime) -> Observation | None:
        index = bisect.bisect_right(self._times, moment) - 1
        return self._rows[index] if index >= 0 else None

    def add(self, row: Observation) -> None:
        index = bisect.bisect_right(self._times, row.observe_time)
        self._times.insert(index, row.observe_time)
        self._rows.insert(index, row)


def _conflicting(moment: datetime) -> InvalidArgument:
    return InvalidArgument(
        f"an observation of this offer at {moment.isoformat()} is already recorded with another price, "
        "stock or quarantine; observations are never changed",
        field="observe_time",
    )


# --- market prices --------------------------------------------------------------------------------


@dataclass(slots=True)
class MarketEntry:
    """One offer as the market read finds it: its sku, and its usable price when it has one."""

    sku: str
    competitor_id: str
    offer_id: str
    usable: UsablePrice | None


@dataclass(slots=True)
class MarketPrice:
    competitor_id: str
    offer_id: str
    price: Money
    in_stock: bool
    # When this price was last seen.
    observe_time: datetime
    age_seconds: int


@dataclass(slots=True)
class SkuMarket:
    sku: str
    # Lowest first (by currency, then amount, should one sku's offers be priced in several currencies).
    prices: list[MarketPrice]


def sku_markets(entries: Iterable[MarketEntry], *, now: datetime) -> dict[str, SkuMarket]:
    """Every sku of `entries`, in the order they come, with the usable prices of its offers."""
    markets: dict[str, SkuMarket] = {}
    for entry in entries:
        market = markets.get(entry.sku)
        if market is None:
            market = markets[entry.sku] = SkuMarket(entry.sku, [])
        usable = entry.usable
        if usable is not None:
            age = (now - usable.seen_time).total_seconds()
            market.prices.append(
                MarketPrice(
                    entry.competitor_id,
                    entry.offer_id,
                    usable.price,
                    usable.in_stock,
                    usable.seen_time,
                    max(0, int(age)),
                )
            )
    for market in markets.values():
        if len(market.prices) > 1:
            market.prices.sort(key=_price_order)
    return markets


def _price_order(price: MarketPrice) -> tuple[str, int, str]:
    return (price.price.currency, price.price.amount_minor, price.offer_id)


# --- crawled products and the review queue --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SightingDraft:
    """A competitor product page as a crawl read it, not yet validated.

    A price of None means the page showed none: the product is still matched, but nothing is observed.
    in_stock None means the page did not say.
    """

    url: str
    fetch_time: datetime | None
    title: str = ""
    brand: str = ""
    gtin: str = ""
    mpn: str = ""
    image_url: str = ""
    category_id: str = ""
    price: MoneyInput | None = None
    in_stock: bool | None = None
    extraction_method: ExtractionMethod | None = None
    confidence: float = 0.0
    quarantined: bool = False
    quarantine_reason: str = ""


@dataclass(frozen=True, slots=True)
class Sighting:
    """A validated product page reading. Text read off the page is tidied (whitespace collapsed, control
    characters dropped, clipped to length) rather than refused: the shop wrote it, not the caller."""

    url: str
    fetch_time: datetime
    title: str
    brand: str
    gtin: str
    mpn: str
    image_url: str
    category_id: str
    price: Money | None
    in_stock: bool | None
    extraction_method: ExtractionMethod | None
    confidence: float
    quarantined: bool
    quarantine_reason: str


class ReviewState(enum.IntEnum):
    """Where a competitor product stands in review; the numbers are omnipricex.competitor.v1.ReviewState's."""

    PENDING = 1
    UNMATCHED = 2
    MATCHED = 3
    REJECTED = 4


@dataclass(frozen=True, slots=True)
class ReviewCandidate:
    sku: str
    confidence: float
    method: MatchMethod
    # Our product's title and brand when it was proposed.
    title: str
    brand: str


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A competitor product that is not (or was not at first) one of our offers; one per (competitor, url)."""

    organization_id: str
    id: str
    competitor_id: str
    sighting: Sighting
    source_id: str
    crawl_job_id: str
    state: ReviewState
    # Best first; never a rejected sku; empty unless PENDING.
    candidates: tuple[ReviewCandidate, ...]
    # Sorted.
    rejected_skus: tuple[str, ...]
    # MATCHED: the sku and its offer.
    sku: str
    offer_id: str
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def key(self) -> OfferKey:
        return (self.competitor_id, self.sighting.url)


@dataclass(frozen=True, slots=True)
class ReviewChange:
    """A review item to store: `before` is None for a new item, else the stored version it replaces."""

    before: ReviewItem | None
    after: ReviewItem


REVIEW_ID_PREFIX = "rvw_"
REVIEW_ID_PATTERN = re.compile(REVIEW_ID_PREFIX + _ID_BODY)
MAX_BRAND_LENGTH = 120
MAX_MPN_LENGTH = 120
MAX_GTIN_TEXT_LENGTH = 64
# Ids of other services (crawl sources and jobs, categories) as this service keeps them.
_FOREIGN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_WHITESPACE = re.compile(r"\s+")


def validate_sighting(draft: SightingDraft, *, now: datetime, default_currency: str) -> Sighting:
    url = validate_url(draft.url)
    fetch_time = validate_observe_time(draft.fetch_time, now=now, field="fetch_time")
    price = None
    if draft.price is not None:
        given = draft.price
        price = _money(given if given.currency else MoneyInput(given.amount_minor, default_currency), "price")
        if draft.extraction_method is None:
            raise InvalidArgument("a crawled price needs the extraction_method that read it", field="extraction_method")
    confidence = _confidence(draft.confidence, "confidence")
    reason = _text(draft.quarantine_reason, "quarantine_reason", MAX_QUARANTINE_REASON_LENGTH)
    if draft.quarantined and not reason:
        raise InvalidArgument("a quarantined product needs a quarantine_reason", field="quarantine_reason")
    if reason and not draft.quarantined:
        raise InvalidArgument("quarantine_reason is only for quarantined products", field="quarantine_reason")
    return Sighting(
        url=url,
        fetch_time=fetch_time,
        title=page_text(draft.title, MAX_TITLE_LENGTH),
        brand=page_text(draft.brand, MAX_BRAND_LENGTH),
        gtin=page_text(draft.gtin, MAX_GTIN_TEXT_LENGTH),
        mpn=page_text(draft.mpn, MAX_MPN_LENGTH),
        image_url=_page_url(draft.image_url),
        category_id=validate_foreign_id(draft.category_id, "category_id", required=False),
        price=price,
        in_stock=draft.in_stock,
        extraction_method=draft.extraction_method,
        confidence=confidence,
        quarantined=bool(draft.quarantined),
        quarantine_reason=reason,
    )


def validate_foreign_id(value: str, name: str, *, required: bool = True) -> str:
    if not value and not required:
        return ""
    if not _FOREIGN_ID.fullmatch(value):
        raise InvalidArgument(
            f"{name} must be 1-64 ASCII letters, digits and '-_.:', got {_preview(value)}", field=name
        )
    return value


def page_text(value: str, maximum: int) -> str:
    """Text read off a page, on one line: whitespace runs as one space, no control characters, clipped."""
    if value.isprintable() and "  " not in value and value.strip() == value:
        text = value
    else:
        text = _WHITESPACE.sub(" ", _CONTROL_CHARACTERS.sub(" ", value)).strip()
    return text if len(text) <= maximum else f"{text[: maximum - 1].rstrip()}…"


def _page_url(value: str) -> str:
    """An image URL as the page gave it, or empty when it is not a usable http(s) URL (data:, relative)."""
    try:
        return validate_url(value, field="image_url", required=False)
    except InvalidArgument:
        return ""


def sighting_observation(offer_id: str, sighting: Sighting) -> ObservationDraft | None:
    """The observation a sighting makes of its offer; None when the page showed no price.

    A page that shows a price without saying whether the product is available is taken as in stock.
    """
    if sighting.price is None:
        return None
    return ObservationDraft(
        offer_id=offer_id,
        observe_time=sighting.fetch_time,
        price=MoneyInput(sighting.price.amount_minor, sighting.price.currency),
        in_stock=True if sighting.in_stock is None else sighting.in_stock,
        extraction_method=sighting.extraction_method,
        confidence=sighting.confidence,
        quarantined=sighting.quarantined,
        quarantine_reason=sighting.quarantine_reason,
    )


def validate_review_id(item_id: str, *, field: str = "id") -> str:
    if not REVIEW_ID_PATTERN.fullmatch(item_id):
        raise InvalidArgument(f"{_preview(item_id)} is not a review item id", field=field)
    return item_id


def newest(stored: Sighting, incoming: Sighting) -> Sighting:
    """The later of two sightings of one page; a retried crawl (same time) brings the same reading."""
    return incoming if incoming.fetch_time >= stored.fetch_time else stored


def open_state(candidates: Sequence[ReviewCandidate]) -> ReviewState:
    """The state of an unlinked, not wholly rejected product with these candidates."""
    return ReviewState.PENDING if candidates else ReviewState.UNMATCHED


def new_review_item(
    organization_id: str,
    item_id: str,
    competitor_id: str,
    sighting: Sighting,
    *,
    source_id: str,
    crawl_job_id: str,
    candidates: tuple[ReviewCandidate, ...],
    now: datetime,
) -> ReviewItem:
    return ReviewItem(
        organization_id=organization_id,
        id=item_id,
        competitor_id=competitor_id,
        sighting=sighting,
        source_id=source_id,
        crawl_job_id=crawl_job_id,
        state=open_state(candidates),
        candidates=candidates,
        rejected_skus=(),
        sku="",
        offer_id="",
        revision=1,
        create_time=now,
        update_time=now,
    )


def revised(before: ReviewItem, after: ReviewItem, *, now: datetime) -> ReviewItem:
    """`after` as the next revision of `before`, or `before` itself when its content is the same."""
    if replace(after, revision=before.revision, update_time=before.update_time) == before:
        return before
    return replace(after, revision=before.revision + 1, update_time=now)


def resighted(
    item: ReviewItem,
    sighting: Sighting,
    *,
    source_id: str,
    crawl_job_id: str,
    candidates: tuple[ReviewCandidate, ...] | None,
    now: datetime,
) -> ReviewItem:
    """`item` seen again by a crawl: its newest reading and, unless the whole product was rejected (then
    `candidates` is None), its candidates recomputed, which re-opens a MATCHED item whose offer is gone."""
    latest = newest(item.sighting, sighting)
    fresh = latest is sighting
    after = replace(
        item,
        sighting=latest,
        source_id=source_id if fresh else item.source_id,
        crawl_job_id=crawl_job_id if fresh else item.crawl_job_id,
    )
    if candidates is not None:
        after = replace(after, state=open_state(candidates), candidates=candidates, sku="", offer_id="")
    return revised(item, after, now=now)


def matched_item(item: ReviewItem, sighting: Sighting | None, *, sku: str, offer_id: str, now: datetime) -> ReviewItem:
    """`item` linked to an offer (confirmed by a person, or matched by a later crawl)."""
    after = replace(
        item,
        sighting=item.sighting if sighting is None else newest(item.sighting, sighting),
        state=ReviewState.MATCHED,
        candidates=(),
        rejected_skus=tuple(s for s in item.rejected_skus if s != sku),
        sku=sku,
        offer_id=offer_id,
    )
    return revised(item, after, now=now)


def rejected_item(item: ReviewItem, sku: str, *, now: datetime) -> ReviewItem:
    """`item` with `sku` rejected for it, or the whole product rejected when `sku` is empty.

    The caller has checked that the item is not linked to a live offer.
    """
    if not sku:
        after = replace(item, state=ReviewState.REJECTED, candidates=(), sku="", offer_id="")
        return revised(item, after, now=now)
    remaining = tuple(candidate for candidate in item.candidates if candidate.sku != sku)
    state = ReviewState.REJECTED if item.state is ReviewState.REJECTED else open_state(remaining)
    after = replace(
        item,
        state=state,
        candidates=remaining if state is ReviewState.PENDING else (),
        rejected_skus=tuple(sorted({*item.rejected_skus, sku})),
        sku="",
        offer_id="",
    )
    return revised(item, after, now=now)


# --- validation -----------------------------------------------------------------------------------


def validate_sku(sku: str, *, field: str = "sku") -> str:
    if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
        raise InvalidArgument(
            f"sku must be 1-64 characters of ASCII letters, digits and '-_.:', got {_preview(sku)}", field=field
        )
    return sku


def validate_competitor_id(competitor_id: str, *, field: str = "id") -> str:
    if not COMPETITOR_ID_PATTERN.fullmatch(competitor_id):
        raise InvalidArgument(f"{_preview(competitor_id)} is not a competitor id", field=field)
    return competitor_id


def validate_offer_id(offer_id: str, *, field: str = "id") -> str:
    if not OFFER_ID_PATTERN.fullmatch(offer_id):
        raise InvalidArgument(f"{_preview(offer_id)} is not an offer id", field=field)
    return offer_id


def validate_url(url: str, *, field: str = "url", required: bool = True) -> str:
    """An http(s) URL with a host, normalised: scheme and host in lower case, no default port, no fragment."""
    text = url.strip()
    if not text:
        if required:
            raise InvalidArgument(f"{field} is required", field=field)
        return ""
    if len(text) > MAX_URL_LENGTH:
        raise InvalidArgument(f"{field} must be at most {MAX_URL_LENGTH} characters, got {len(text)}", field=field)
    if _CONTROL_OR_SPACE.search(text):
        raise InvalidArgument(f"{field} must not contain spaces or control characters", field=field)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise InvalidArgument(f"{field} is not a valid URL: {error}", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidArgument(f"{field} must be an http or https URL, got {_preview(text)}", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument(f"{field} must not carry a user name or password", field=field)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if not host or not _HOST.fullmatch(netloc) or ".." in host:
        raise InvalidArgument(f"{field} must name a host, got {_preview(text)}", field=field)
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _money(value: MoneyInput, name: str) -> Money:
    if value.currency not in _CHECKED_CURRENCIES:
        currency_exponent(value.currency, field=f"{name}.currency")
        _CHECKED_CURRENCIES.add(value.currency)
    if value.amount_minor < 0:
        raise InvalidArgument(f"{name} must not be negative", field=name)
    if value.amount_minor > MAX_AMOUNT_MINOR:
        raise InvalidArgument(f"{name} is out of range (at most {MAX_AMOUNT_MINOR} minor units)", field=name)
    return Money(value.amount_minor, value.currency)


def _currency(code: str, name: str) -> str:
    if not code:
        raise InvalidArgument(f"{name} is required", field=name)
    currency_exponent(code, field=name)
    return code


def _confidence(value: float, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a number from 0 to 1", field=name)
    if not 0.0 <= value <= 1.0:
        raise InvalidArgument(f"{name} must be from 0 to 1, got {value}", field=name)
    return float(value)


def _text(value: str, name: str, maximum: int, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidArgument(f"{name} is required", field=name)
    if len(text) > maximum:
        raise InvalidArgument(f"{name} must be at most {maximum} characters, got {len(text)}", field=name)
    if _CONTROL_CHARACTERS.search(text):
        raise InvalidArgument(f"{name} must not contain control characters such as line breaks", field=name)
    return text


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}…"
