"""Extraction health of one crawl source, with no I/O: which observations to quarantine, and whether the
source's extraction is broken.

A crawler that records a wrong price is worse than none, so the crawl worker asks this module about every
batch of PageRecords before it sends products on. It passes what it keeps between calls:

- ``PageMemory`` per product URL: the last healthy reading (price, currency, layout fingerprint);
- ``SourceBaseline`` per source: what healthy crawls of it usually look like;
- ``JobTally`` per crawl job: running counts, so signals that need many pages add up across batches;
- ``HealthState`` per source: broken (with the reason) or healthy.

``assess`` answers with the URLs to quarantine (kept and shown, never fed to pricing), the new tally and
state, and the memory to store. When the job ends the worker calls ``finish`` to fold a healthy job into
the baseline. The worker persists each of these objects as it gets them (``to_dict``/``from_dict``).

The signals, each on the whole job so far and on the current batch alone (a shop that breaks in the middle
of a long crawl shows in its batches long before it moves the job's totals):

1. far fewer product pages have a price than usual (the selectors or the markup broke);
2. prices jumped on pages whose layout changed (a redesign moved the price somewhere extraction now misreads);
3. every product suddenly shows the same price (extraction reads a shipping threshold, a banner, a template);
4. the currency changed (a different locale or geolocation served, or a misread sign).

A single page's price moving, however far, is not suspicious unless its layout changed too; a page whose
price jumped while its layout changed, or whose currency changed, is quarantined on its own. Once a signal
fires the source is broken: every priced product page of the job is quarantined from that batch on, and it
stays broken until a later job shows enough clean pages. Broken jobs never teach the baseline.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.scraper.crawl.contract import PageOutcome, PageRecord

# Signal 1, prices vanish. Below this many product pages a few sold-out or discontinued pages without a price
# swing the share too much to mean anything.
MIN_PAGES_FOR_PRICED_SHARE = 20
# Broken when the share of pages with a price falls below half the usual share ...
PRICED_SHARE_DROP_RATIO = 0.5
# ... and at least this far below it: on a source where few pages have a price, half of "few" is noise.
PRICED_SHARE_MIN_DROP = 0.2
# The usual share is trusted once healthy jobs have shown this many product pages.
MIN_BASELINE_PAGES = 20

# Signal 2, layout change with price jumps. A move beyond 30 % up (or the same ratio down, about 23 %) is a
# jump; an ordinary repricing or sale inside that band is left alone even when the layout changed.
PRICE_JUMP_RATIO = 1.3
# Broken when at least this share of the pages that can be compared with their memory (a remembered price
# and layout) changed layout and jumped, over at least this many of them.
LAYOUT_JUMP_SHARE = 0.3
MIN_LAYOUT_CHECKED_PAGES = 10

# Signal 3, one price for every product. With memory: at least this many priced pages, this share of them on
# one price, most of whose pages showed another price last time, while last time's prices were not one price.
SAME_PRICE_MIN_PAGES = 10
SAME_PRICE_SHARE = 0.8
SAME_PRICE_MOVED_SHARE = 0.5
# Without memory of those pages (a first crawl) a single-price shop cannot be told from a broken selector,
# so the bar is higher.
SAME_PRICE_MIN_PAGES_UNREMEMBERED = 20
SAME_PRICE_SHARE_UNREMEMBERED = 0.9

# Signal 4, currency flips: broken when this share of the pages with a known currency to compare with
# changed currency, over at least this many of them.
CURRENCY_FLIP_SHARE = 0.3
MIN_CURRENCY_CHECKED_PAGES = 10

# Recovery: a job with this many product pages, no signal and a normal share of priced pages.
RECOVERY_MIN_PAGES = 10

# Baseline learning. Weight of the newest healthy job in the moving average of the priced share: a few jobs
# to adapt to a real change in the shop, while one odd job cannot move it far.
BASELINE_WEIGHT = 0.3
# Jobs with fewer product pages say too little about the priced share or the currency to learn from.
MIN_PAGES_TO_LEARN = 10
# A source has a usual currency when this share of a healthy job's priced pages use it; a shop selling in
# several currencies has none, and its pages are compared with their own memory only.
USUAL_CURRENCY_SHARE = 0.98
# A layout is usual when it covers this share of a healthy job's product pages, and at least this many:
# a product moving between a shop's usual templates (in stock, sold out, on sale) is no layout change.
USUAL_FINGERPRINT_SHARE = 0.05
USUAL_FINGERPRINT_MIN_PAGES = 3
MAX_USUAL_FINGERPRINTS = 8

# Bounded counts kept in the tally (Space-Saving sketches): exact while a job has at most this many distinct
# keys, and beyond that still certain to hold every key shared by more than 1/size of the pages.
PRICE_SKETCH_SIZE = 32
FINGERPRINT_SKETCH_SIZE = 32
CURRENCY_SKETCH_SIZE = 8
FLIP_SKETCH_SIZE = 8
# The competitor service's limit on a quarantine reason; longer reasons are cut to it.
MAX_REASON_LENGTH = 500
# Fingerprints, currencies and reasons are short; a longer stored text is corrupt data.
MAX_TEXT_LENGTH = 1000

_SIGNAL_ORDER = ("priced_share", "layout_jumps", "same_price", "currency_flips")


class HealthChange(enum.StrEnum):
    """What a batch did to the source's state; the worker raises or clears its alert on a change."""

    UNCHANGED = "unchanged"
    BROKEN = "broken"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class PageMemory:
    """A product URL's last healthy reading."""

    price_minor: int | None
    currency: str | None
    # "" when the crawl did not report one: the layout is then never compared.
    layout_fingerprint: str

    def __post_init__(self) -> None:
        _check_optional_amount(self.price_minor, "price_minor")
        _check_optional_text(self.currency, "currency")
        _check_text(self.layout_fingerprint, "layout_fingerprint")

    def to_dict(self) -> dict[str, Any]:
        return {
            "price_minor": self.price_minor,
            "currency": self.currency,
            "layout_fingerprint": self.layout_fingerprint,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PageMemory:
        _check_keys(data, ("price_minor", "currency", "layout_fingerprint"), "page memory")
        return cls(data["price_minor"], data["currency"], data["layout_fingerprint"])


@dataclass(frozen=True, slots=True)
class SourceBaseline:
    """What healthy crawls of a source look like, learned by ``finish``."""

    # Moving average of the share of product pages with a price; None before a job big enough to learn from.
    priced_share: float | None
    # Product pages in the healthy jobs learned from.
    pages_seen: int
    # The source's common layouts, most recently common first.
    usual_fingerprints: tuple[str, ...]
    usual_currency: str | None

    def __post_init__(self) -> None:
        if self.priced_share is not None and (
            not isinstance(self.priced_share, int | float)
            or isinstance(self.priced_share, bool)
            or not 0.0 <= self.priced_share <= 1.0
        ):
            raise InvalidArgument("priced_share must be a number from 0 to 1", field="priced_share")
        _check_count(self.pages_seen, "pages_seen")
        if not isinstance(self.usual_fingerprints, tuple) or len(self.usual_fingerprints) > MAX_USUAL_FINGERPRINTS:
            raise InvalidArgument(
                f"usual_fingerprints must be a tuple of at most {MAX_USUAL_FINGERPRINTS}", field="usual_fingerprints"
            )
        for fingerprint in self.usual_fingerprints:
            _check_text(fingerprint, "usual_fingerprints", allow_empty=False)
        _check_optional_text(self.usual_currency, "usual_currency")

    @classmethod
    def empty(cls) -> SourceBaseline:
        return cls(priced_share=None, pages_seen=0, usual_fingerprints=(), usual_currency=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "priced_share": self.priced_share,
            "pages_seen": self.pages_seen,
            "usual_fingerprints": list(self.usual_fingerprints),
            "usual_currency": self.usual_currency,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceBaseline:
        _check_keys(data, ("priced_share", "pages_seen", "usual_fingerprints", "usual_currency"), "source baseline")
        return cls(
            priced_share=data["priced_share"],
            pages_seen=data["pages_seen"],
            usual_fingerprints=tuple(_list(data["usual_fingerprints"], "usual_fingerprints")),
            usual_currency=data["usual_currency"],
        )


@dataclass(frozen=True, slots=True)
class PriceCount:
    """How many pages of a job showed one price (a Space-Saving counter)."""

    price_minor: int
    currency: str | None
    # Overstates the true count by at most `error`.
    count: int
    error: int = 0
    # Of these pages, how many had a remembered price, and how many of those remembered a different one.
    remembered: int = 0
    moved: int = 0

    def __post_init__(self) -> None:
        _check_optional_amount(self.price_minor, "price_minor")
        _check_optional_text(self.currency, "currency")
        _check_sketch_counts(self.count, self.error)
        _check_count(self.remembered, "remembered")
        _check_count(self.moved, "moved")
        if not self.moved <= self.remembered <= self.count:
            raise InvalidArgument("a price count needs moved <= remembered <= count", field="prices")

    def to_dict(self) -> dict[str, Any]:
        return {
            "price_minor": self.price_minor,
            "currency": self.currency,
            "count": self.count,
            "error": self.error,
            "remembered": self.remembered,
            "moved": self.moved,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceCount:
        _check_keys(data, ("price_minor", "currency", "count", "error", "remembered", "moved"), "price count")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class KeyCount:
    """How many pages of a job showed one layout, currency or currency change (a Space-Saving counter)."""

    key: str
    count: int
    error: int = 0

    def __post_init__(self) -> None:
        _check_text(self.key, "key", allow_empty=False)
        _check_sketch_counts(self.count, self.error)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "count": self.count, "error": self.error}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyCount:
        _check_keys(data, ("key", "count", "error"), "key count")
        return cls(**data)


_TALLY_COUNTS = (
    "product_pages",
    "priced_pages",
    "remembered_pages",
    "layout_checked",
    "layout_jumps",
    "currency_checked",
    "currency_flips",
)


@dataclass(frozen=True, slots=True)
class JobTally:
    """Running counts of one crawl job (or, inside ``assess``, of one batch)."""

    # Product pages, with or without a price; listings, failures and refusals are not counted.
    product_pages: int = 0
    priced_pages: int = 0
    # Priced pages whose URL had a remembered price.
    remembered_pages: int = 0
    # Priced pages with a remembered price and layout to compare with, and those whose layout changed while
    # their price jumped or their currency changed.
    layout_checked: int = 0
    layout_jumps: int = 0
    # Priced pages with a currency to compare with (their memory's, else the source's usual one), and flips.
    currency_checked: int = 0
    currency_flips: int = 0
    # Priced pages by price; remembered pages by remembered price; product pages by layout; priced pages by
    # currency; flips by "OLD→NEW". Most common first.
    prices: tuple[PriceCount, ...] = ()
    remembered_prices: tuple[PriceCount, ...] = ()
    fingerprints: tuple[KeyCount, ...] = ()
    currencies: tuple[KeyCount, ...] = ()
    flips: tuple[KeyCount, ...] = ()
    # A signal fired during this job: it cannot recover the source nor teach the baseline.
    signalled: bool = False

    def __post_init__(self) -> None:
        for name in _TALLY_COUNTS:
            _check_count(getattr(self, name), name)
        for name, kind, size in (
            ("prices", PriceCount, PRICE_SKETCH_SIZE),
            ("remembered_prices", PriceCount, PRICE_SKETCH_SIZE),
            ("fingerprints", KeyCount, FINGERPRINT_SKETCH_SIZE),
            ("currencies", KeyCount, CURRENCY_SKETCH_SIZE),
            ("flips", KeyCount, FLIP_SKETCH_SIZE),
        ):
            entries = getattr(self, name)
            if not isinstance(entries, tuple) or len(entries) > size or not all(isinstance(e, kind) for e in entries):
                raise InvalidArgument(f"{name} must be a tuple of at most {size} {kind.__name__}", field=name)
        if not isinstance(self.signalled, bool):
            raise InvalidArgument("signalled must be true or false", field="signalled")

    @classmethod
    def empty(cls) -> JobTally:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _TALLY_COUNTS}
        for name in ("prices", "remembered_prices", "fingerprints", "currencies", "flips"):
            data[name] = [entry.to_dict() for entry in getattr(self, name)]
        data["signalled"] = self.signalled
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobTally:
        sketches = ("prices", "remembered_prices", "fingerprints", "currencies", "flips")
        _check_keys(data, (*_TALLY_COUNTS, *sketches, "signalled"), "job tally")
        return cls(
            **{name: data[name] for name in _TALLY_COUNTS},
            prices=tuple(PriceCount.from_dict(_mapping(e, "prices")) for e in _list(data["prices"], "prices")),
            remembered_prices=tuple(
                PriceCount.from_dict(_mapping(e, "remembered_prices"))
                for e in _list(data["remembered_prices"], "remembered_prices")
            ),
            fingerprints=tuple(
                KeyCount.from_dict(_mapping(e, "fingerprints")) for e in _list(data["fingerprints"], "fingerprints")
            ),
            currencies=tuple(
                KeyCount.from_dict(_mapping(e, "currencies")) for e in _list(data["currencies"], "currencies")
            ),
            flips=tuple(KeyCount.from_dict(_mapping(e, "flips")) for e in _list(data["flips"], "flips")),
            signalled=data["signalled"],
        )


@dataclass(frozen=True, slots=True)
class HealthState:
    broken: bool
    # Why, in words, while broken; "" while healthy.
    reason: str

    def __post_init__(self) -> None:
        if not isinstance(self.broken, bool):
            raise InvalidArgument("broken must be true or false", field="broken")
        _check_text(self.reason, "reason")
        if self.broken != bool(self.reason):
            raise InvalidArgument("a broken source needs a reason, and a healthy one has none", field="reason")

    @classmethod
    def healthy(cls) -> HealthState:
        return cls(broken=False, reason="")

    def to_dict(self) -> dict[str, Any]:
        return {"broken": self.broken, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthState:
        _check_keys(data, ("broken", "reason"), "health state")
        return cls(data["broken"], data["reason"])


@dataclass(frozen=True, slots=True)
class Assessment:
    # Product URL → why its observation is quarantined; only pages with a price are listed.
    quarantine: dict[str, str]
    # Product URL → its new memory; never a quarantined reading's price.
    memory_updates: dict[str, PageMemory]
    tally: JobTally
    state: HealthState
    change: HealthChange


def assess(
    batch: Sequence[PageRecord],
    memory: Mapping[str, PageMemory],
    baseline: SourceBaseline,
    tally: JobTally,
    state: HealthState,
) -> Assessment:
    """Judge one batch of a crawl job's pages.

    ``memory`` holds the batch's product URLs (``PageRecord.url``) that have one; ``tally`` is the job's
    tally so far (``JobTally.empty()`` for a job's first batch); ``state`` the source's current state. A URL
    repeated in a batch is judged once, on its last record.
    """
    pages = [_judge(record, memory.get(record.url), baseline) for record in _product_pages(batch)]
    job_counts = _Counts(tally)
    batch_counts = _Counts(JobTally.empty())
    for page in pages:
        job_counts.add(page)
        batch_counts.add(page)
    job_tally = job_counts.freeze(tally.signalled)
    # A signal on the whole job wins over the same signal on the batch: its counts say more.
    signals = {**_signals(batch_counts.freeze(False), baseline), **_signals(job_tally, baseline)}

    change = HealthChange.UNCHANGED
    new_state = state
    if signals:
        new_state = HealthState(True, _clip("; ".join(signals[name] for name in _SIGNAL_ORDER if name in signals)))
        job_tally = replace(job_tally, signalled=True)
        if not state.broken:
            change = HealthChange.BROKEN
    elif state.broken and _recovered(job_tally, baseline):
        new_state = HealthState.healthy()
        change = HealthChange.RECOVERED

    quarantine: dict[str, str] = {}
    memory_updates: dict[str, PageMemory] = {}
    for page in pages:
        if page.price is None:
            continue
        if page.reasons:
            quarantine[page.url] = _clip("; ".join(page.reasons))
        elif new_state.broken:
            quarantine[page.url] = _clip(f"source extraction broken: {new_state.reason}")
        if new_state.broken:
            continue
        if not page.reasons:
            memory_updates[page.url] = PageMemory(page.price[0], page.price[1], page.fingerprint)
        elif page.layout_jump and page.flip is None and page.memory is not None:
            # The old price is kept, the new layout remembered: if the next crawl reads the same layout, its
            # price is an ordinary price change. Without this a product that went on sale with a sale badge
            # would stay quarantined for as long as the sale lasts.
            memory_updates[page.url] = PageMemory(page.memory.price_minor, page.memory.currency, page.fingerprint)
    return Assessment(quarantine, memory_updates, job_tally, new_state, change)


def finish(tally: JobTally, baseline: SourceBaseline, state: HealthState) -> SourceBaseline:
    """The baseline after a completed job: unchanged unless the job was healthy throughout."""
    if state.broken or tally.signalled or tally.product_pages == 0:
        return baseline
    priced_share = baseline.priced_share
    usual_currency = baseline.usual_currency
    if tally.product_pages >= MIN_PAGES_TO_LEARN:
        share = tally.priced_pages / tally.product_pages
        priced_share = share if priced_share is None else (1 - BASELINE_WEIGHT) * priced_share + BASELINE_WEIGHT * share
    if tally.priced_pages >= MIN_PAGES_TO_LEARN:
        top = tally.currencies[0] if tally.currencies else None
        usual = top is not None and top.count - top.error >= USUAL_CURRENCY_SHARE * tally.priced_pages
        usual_currency = top.key if top is not None and usual else None
    fingerprinted = sum(entry.count for entry in tally.fingerprints)
    common = [
        entry.key
        for entry in tally.fingerprints
        if entry.count - entry.error >= max(USUAL_FINGERPRINT_MIN_PAGES, USUAL_FINGERPRINT_SHARE * fingerprinted)
    ]
    merged = list(dict.fromkeys([*common, *baseline.usual_fingerprints]))[:MAX_USUAL_FINGERPRINTS]
    return SourceBaseline(
        priced_share=priced_share,
        pages_seen=baseline.pages_seen + tally.product_pages,
        usual_fingerprints=tuple(merged),
        usual_currency=usual_currency,
    )


# --- one page ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    url: str
    fingerprint: str
    memory: PageMemory | None
    price: tuple[int, str | None] | None = None
    remembered: tuple[int, str | None] | None = None
    layout_checked: bool = False
    layout_jump: bool = False
    currency_checked: bool = False
    flip: str | None = None
    reasons: tuple[str, ...] = ()


def _product_pages(batch: Sequence[PageRecord]) -> Iterable[PageRecord]:
    last = {record.url: record for record in batch if record.outcome is PageOutcome.PRODUCT}
    return last.values()


def _judge(record: PageRecord, memory: PageMemory | None, baseline: SourceBaseline) -> _Page:
    fingerprint = record.layout_fingerprint
    offer = record.offer
    if offer is None or offer.price_minor is None:
        return _Page(record.url, fingerprint, memory)
    price_minor, currency = offer.price_minor, offer.currency
    layout_changed = (
        memory is not None
        and bool(memory.layout_fingerprint)
        and bool(fingerprint)
        and fingerprint != memory.layout_fingerprint
        and fingerprint not in baseline.usual_fingerprints
    )
    while_layout = " while the page layout changed" if layout_changed else ""
    reasons: list[str] = []

    flip = None
    remembered_currency = memory.currency if memory is not None else None
    reference = remembered_currency or baseline.usual_currency
    currency_checked = reference is not None and currency is not None
    if currency_checked and currency != reference:
        flip = f"{reference}→{currency}"
        if remembered_currency:
            reasons.append(f"currency changed from {reference} to {currency}{while_layout}")
        else:
            reasons.append(f"price in {currency} but the source prices in {reference}{while_layout}")

    remembered = None
    layout_checked = layout_jump = False
    if memory is not None and memory.price_minor is not None:
        remembered = (memory.price_minor, memory.currency)
        layout_checked = bool(memory.layout_fingerprint) and bool(fingerprint)
        currency_moved = bool(remembered_currency and currency and remembered_currency != currency)
        jumped = _jumped(memory.price_minor, price_minor)
        layout_jump = layout_changed and (jumped or currency_moved)
        if layout_changed and jumped and not currency_moved:
            old, new = _amount(memory.price_minor, currency), _amount(price_minor, currency)
            reasons.append(f"price {old} → {new}{f' {currency}' if currency else ''}{while_layout}")
    return _Page(
        url=record.url,
        fingerprint=fingerprint,
        memory=memory,
        price=(price_minor, currency),
        remembered=remembered,
        layout_checked=layout_checked,
        layout_jump=layout_jump,
        currency_checked=currency_checked,
        flip=flip,
        reasons=tuple(reasons),
    )


def _jumped(old: int, new: int) -> bool:
    low, high = sorted((old, new))
    if low <= 0:
        return high != low
    return high > low * PRICE_JUMP_RATIO


# --- counting -------------------------------------------------------------------------------------------

_K = TypeVar("_K", bound=Hashable)


class _Sketch(Generic[_K]):
    """Space-Saving (Metwally, Agrawal, El Abbadi 2005) with extra per-key counters.

    At most `size` keys; a key's count overstates its true count by at most its error, and a key held by more
    than 1/size of the items is always present. A replaced key's extra counters start from zero, so they can
    only understate.
    """

    __slots__ = ("rows", "size")

    def __init__(self, size: int, rows: Iterable[tuple[_K, list[int]]]) -> None:
        self.size = size
        self.rows: dict[_K, list[int]] = dict(rows)

    def add(self, key: _K, *extras: int) -> None:
        row = self.rows.get(key)
        if row is not None:
            row[0] += 1
            for index, extra in enumerate(extras, start=2):
                row[index] += extra
            return
        if len(self.rows) < self.size:
            self.rows[key] = [1, 0, *extras]
            return
        victim = min(self.rows, key=lambda candidate: self.rows[candidate][0])
        floor = self.rows.pop(victim)[0]
        self.rows[key] = [floor + 1, floor, *extras]

    def ranked(self) -> list[tuple[_K, list[int]]]:
        return sorted(self.rows.items(), key=lambda item: -item[1][0])


class _Counts:
    """A JobTally while pages are added to it."""

    def __init__(self, tally: JobTally) -> None:
        self.numbers = {name: getattr(tally, name) for name in _TALLY_COUNTS}
        self.prices = _Sketch(
            PRICE_SKETCH_SIZE,
            (((e.price_minor, e.currency), [e.count, e.error, e.remembered, e.moved]) for e in tally.prices),
        )
        self.remembered_prices = _Sketch(
            PRICE_SKETCH_SIZE, (((e.price_minor, e.currency), [e.count, e.error]) for e in tally.remembered_prices)
        )
        self.fingerprints = _keys(FINGERPRINT_SKETCH_SIZE, tally.fingerprints)
        self.currencies = _keys(CURRENCY_SKETCH_SIZE, tally.currencies)
        self.flips = _keys(FLIP_SKETCH_SIZE, tally.flips)

    def add(self, page: _Page) -> None:
        numbers = self.numbers
        numbers["product_pages"] += 1
        if page.fingerprint:
            self.fingerprints.add(page.fingerprint)
        if page.price is None:
            return
        numbers["priced_pages"] += 1
        if page.price[1]:
            self.currencies.add(page.price[1])
        moved = int(page.remembered is not None and page.remembered != page.price)
        self.prices.add(page.price, int(page.remembered is not None), moved)
        if page.remembered is not None:
            numbers["remembered_pages"] += 1
            self.remembered_prices.add(page.remembered)
        numbers["layout_checked"] += page.layout_checked
        numbers["layout_jumps"] += page.layout_jump
        numbers["currency_checked"] += page.currency_checked
        if page.flip is not None:
            numbers["currency_flips"] += 1
            self.flips.add(page.flip)

    def freeze(self, signalled: bool) -> JobTally:
        return JobTally(
            **self.numbers,
            prices=tuple(PriceCount(key[0], key[1], *row) for key, row in self.prices.ranked()),
            remembered_prices=tuple(PriceCount(key[0], key[1], *row) for key, row in self.remembered_prices.ranked()),
            fingerprints=_key_counts(self.fingerprints),
            currencies=_key_counts(self.currencies),
            flips=_key_counts(self.flips),
            signalled=signalled,
        )


def _keys(size: int, entries: tuple[KeyCount, ...]) -> _Sketch[str]:
    return _Sketch(size, ((entry.key, [entry.count, entry.error]) for entry in entries))


def _key_counts(sketch: _Sketch[str]) -> tuple[KeyCount, ...]:
    return tuple(KeyCount(key, row[0], row[1]) for key, row in sketch.ranked())


# --- signals --------------------------------------------------------------------------------------------


def _signals(tally: JobTally, baseline: SourceBaseline) -> dict[str, str]:
    found: dict[str, str] = {}
    if tally.product_pages >= MIN_PAGES_FOR_PRICED_SHARE and (low := _priced_share_low(tally, baseline)):
        found["priced_share"] = low
    if (
        tally.layout_checked >= MIN_LAYOUT_CHECKED_PAGES
        and tally.layout_jumps >= LAYOUT_JUMP_SHARE * tally.layout_checked
    ):
        found["layout_jumps"] = (
            f"the page layout changed and prices jumped on {tally.layout_jumps} of {tally.layout_checked} "
            f"product pages seen before ({_percent(tally.layout_jumps / tally.layout_checked)})"
        )
    if same := _same_price(tally):
        found["same_price"] = same
    if (
        tally.currency_checked >= MIN_CURRENCY_CHECKED_PAGES
        and tally.currency_flips >= CURRENCY_FLIP_SHARE * tally.currency_checked
    ):
        mostly = tally.flips[0].key if tally.flips else ""
        found["currency_flips"] = (
            f"currency changed on {tally.currency_flips} of {tally.currency_checked} product pages"
            + (f" (mostly {mostly})" if mostly else "")
        )
    return found


def _priced_share_low(tally: JobTally, baseline: SourceBaseline) -> str | None:
    usual = baseline.priced_share
    if usual is None or baseline.pages_seen < MIN_BASELINE_PAGES or tally.product_pages == 0:
        return None
    share = tally.priced_pages / tally.product_pages
    if share < usual * PRICED_SHARE_DROP_RATIO and usual - share >= PRICED_SHARE_MIN_DROP:
        return f"only {_percent(share)} of {tally.product_pages} product pages had a price (usually {_percent(usual)})"
    return None


def _same_price(tally: JobTally) -> str | None:
    if not tally.prices:
        return None
    top = tally.prices[0]
    # The count's lower bound: the sketch may overstate a count, never understate it.
    held = top.count - top.error
    priced = tally.priced_pages
    if top.remembered >= SAME_PRICE_MIN_PAGES:
        remembered_top = tally.remembered_prices[0].count if tally.remembered_prices else 0
        sudden = (
            priced >= SAME_PRICE_MIN_PAGES
            and held >= SAME_PRICE_SHARE * priced
            and top.moved >= SAME_PRICE_MOVED_SHARE * top.remembered
            # Last time's prices were not one price already (a shop that sells everything at one price).
            and remembered_top < SAME_PRICE_SHARE * tally.remembered_pages
        )
    else:
        sudden = priced >= SAME_PRICE_MIN_PAGES_UNREMEMBERED and held >= SAME_PRICE_SHARE_UNREMEMBERED * priced
    if not sudden:
        return None
    currency = f" {top.currency}" if top.currency else ""
    return f"{held} of {priced} products show the same price {_amount(top.price_minor, top.currency)}{currency}"


def _recovered(tally: JobTally, baseline: SourceBaseline) -> bool:
    return (
        not tally.signalled and tally.product_pages >= RECOVERY_MIN_PAGES and _priced_share_low(tally, baseline) is None
    )


# --- words and checks -----------------------------------------------------------------------------------


def _percent(share: float) -> str:
    return f"{round(share * 100)} %"


def _amount(minor: int, currency: str | None) -> str:
    if currency:
        try:
            return Money(minor, currency).to_decimal_string()
        except InvalidArgument:
            pass
    return f"{minor} (minor units)"


def _clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_LENGTH else reason[: MAX_REASON_LENGTH - 1] + "…"


def _check_count(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgument(f"{name} must be a whole number of at least 0", field=name)


def _check_optional_amount(value: object, name: str) -> None:
    if value is not None:
        _check_count(value, name)


def _check_sketch_counts(count: object, error: object) -> None:
    _check_count(count, "count")
    _check_count(error, "error")
    if isinstance(count, int) and isinstance(error, int) and not 0 <= error < count:
        raise InvalidArgument("a sketch count needs count >= 1 and error < count", field="count")


def _check_text(value: object, name: str, *, allow_empty: bool = True) -> None:
    if not isinstance(value, str) or (not allow_empty and not value) or len(value) > MAX_TEXT_LENGTH:
        raise InvalidArgument(f"{name} must be {'a' if allow_empty else 'a non-empty'} short text", field=name)


def _check_optional_text(value: object, name: str) -> None:
    if value is not None:
        _check_text(value, name, allow_empty=False)


def _check_keys(data: object, names: tuple[str, ...], what: str) -> None:
    if not isinstance(data, Mapping) or set(data) != set(names):
        raise InvalidArgument(f"a stored {what} must have exactly the fields {', '.join(names)}", field=what)


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"each entry of {name} must be an object", field=name)
    return value


def _list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidArgument(f"{name} must be a list", field=name)
    return list(value)
