"""Alert rules, alerts and webhook deliveries, with no I/O.

A rule judges what the market reports (a price seen, a new product, a source's health) into a Reading:
the condition is FIRING, CLEAR, or HOLDING (inside the hysteresis band, where nothing changes). One
alert per (rule, subject) is the head that readings move; the subject is the offer, the product's URL
(new products) or the crawl source (extraction health).

Anti-flap, in two parts:
- Hysteresis: UNDERCUT and BELOW_MAP fire when the gap is more than N % and clear only once it is back
  to N - h % or less (h defaults to min(1 point, N / 5)).
- Dedup window (per rule, default 6 h): a condition that clears and fires again within the window of
  the last notification re-opens the same alert (occurrences + 1) and is not sent again; receivers are
  told it is firing once the window has passed and it still is. A "resolved" is sent whenever receivers
  last heard "fired". One-off kinds (PRICE_CHANGE, NEW_PRODUCT) have nothing to clear: their alert is
  resolved as it fires, and recurrences within the window fold into it.

Quarantined observations are not facts: they never fire, clear or move a price alert.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from runtime import field_mask
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.netguard import validate_fetch_url
from services.competitor.domain import COMPETITOR_ID_PATTERN, SKU_PATTERN, to_millisecond
from services.competitor.market_events import NewCompetitorProduct, PriceSeen, SourceHealthChanged

RULE_ID_PREFIX = "rul_"
ALERT_ID_PREFIX = "alt_"
WEBHOOK_ID_PREFIX = "whk_"
EVENT_ID_PREFIX = "evt_"
DELIVERY_ID_PREFIX = "dlv_"
_ID_BODY = r"[0-9a-z]{26}"
RULE_ID_PATTERN = re.compile(RULE_ID_PREFIX + _ID_BODY)
ALERT_ID_PATTERN = re.compile(ALERT_ID_PREFIX + _ID_BODY)
WEBHOOK_ID_PATTERN = re.compile(WEBHOOK_ID_PREFIX + _ID_BODY)
DELIVERY_ID_PATTERN = re.compile(DELIVERY_ID_PREFIX + _ID_BODY + r"_[0-9a-f]{8}")

MAX_NAME_LENGTH = 120
MAX_DESCRIPTION_LENGTH = 500
MAX_RULE_COMPETITORS = 100
# Percentages are kept in basis points (hundredths of a percent): comparisons stay exact integers.
BASIS_POINTS = 10_000
MAX_PERCENT_BP = 100 * 100
DEFAULT_BAND_BP = 100
PERCENT_PATTERN = re.compile(r"(\d{1,3})(?:\.(\d{1,2}))?")
DEFAULT_DEDUP_WINDOW = timedelta(hours=6)
MAX_DEDUP_WINDOW = timedelta(days=30)
# Retry delays after each failed delivery attempt; after the last one the delivery has failed for good.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
JITTER = 0.2
MAX_ERROR_LENGTH = 300
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


class AlertKind(enum.IntEnum):
    """The numbers are omnipricex.competitor.v1.AlertKind's."""

    UNDERCUT = 1
    BELOW_MAP = 2
    STOCK_CHANGE = 3
    NEW_PRODUCT = 4
    PRICE_CHANGE = 5
    EXTRACTION_BROKEN = 6


# Judged from prices seen; quarantined observations never reach them.
PRICE_KINDS = frozenset({AlertKind.UNDERCUT, AlertKind.BELOW_MAP, AlertKind.STOCK_CHANGE, AlertKind.PRICE_CHANGE})
ONE_OFF_KINDS = frozenset({AlertKind.PRICE_CHANGE, AlertKind.NEW_PRODUCT})
THRESHOLD_KINDS = frozenset({AlertKind.UNDERCUT, AlertKind.BELOW_MAP, AlertKind.PRICE_CHANGE})
BAND_KINDS = frozenset({AlertKind.UNDERCUT, AlertKind.BELOW_MAP})
# Need our price or MAP from the catalog.
CATALOG_KINDS = frozenset({AlertKind.UNDERCUT, AlertKind.BELOW_MAP})


class AlertState(enum.IntEnum):
    OPEN = 1
    RESOLVED = 2


class EventType(enum.IntEnum):
    """What a webhook delivery tells; the numbers are omnipricex.competitor.v1.WebhookEventType's."""

    ALERT_FIRED = 1
    ALERT_RESOLVED = 2
    PING = 3


EVENT_NAMES = {EventType.ALERT_FIRED: "alert.fired", EventType.ALERT_RESOLVED: "alert.resolved", EventType.PING: "ping"}
SELECTABLE_EVENTS = frozenset({EventType.ALERT_FIRED, EventType.ALERT_RESOLVED})


class DeliveryState(enum.IntEnum):
    PENDING = 1
    DELIVERED = 2
    FAILED = 3


class Status(enum.Enum):
    FIRING = "firing"
    # Inside the hysteresis band: an open alert stays open, a resolved one stays resolved.
    HOLDING = "holding"
    CLEAR = "clear"


# --- rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleDraft:
    """A rule as a caller sent it, not yet validated. None means "not given" (the default applies)."""

    name: str = ""
    kind: int = 0
    threshold_percent: str = ""
    # Empty: the default band, min(1 point, threshold / 5).
    hysteresis_percent: str = ""
    dedup_window_seconds: int | None = None
    competitor_ids: Sequence[str] = ()
    category_id: str = ""
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class AlertRule:
    organization_id: str
    id: str
    name: str
    kind: AlertKind
    threshold_bp: int
    # None: the default band (see band_bp).
    hysteresis_bp: int | None
    dedup_window: timedelta
    # Empty: every competitor.
    competitor_ids: tuple[str, ...]
    # NEW_PRODUCT only: the category watched.
    category_id: str
    enabled: bool
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def band_bp(self) -> int:
        """The hysteresis in effect, in basis points."""
        if self.hysteresis_bp is not None:
            return self.hysteresis_bp
        return default_band_bp(self.kind, self.threshold_bp)

    def watches(self, competitor_id: str) -> bool:
        return not self.competitor_ids or competitor_id in self.competitor_ids


RULE_PATHS = (
    "name",
    "threshold_percent",
    "hysteresis_percent",
    "dedup_window_seconds",
    "competitor_ids",
    "category_id",
    "enabled",
)


def default_band_bp(kind: AlertKind, threshold_bp: int) -> int:
    return min(DEFAULT_BAND_BP, threshold_bp // 5) if kind in BAND_KINDS else 0


def parse_percent(text: str, *, field: str) -> int:
    """A decimal percentage such as "12.5" in basis points; at most two decimals."""
    match = PERCENT_PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidArgument(
            f"{field} must be a decimal percentage such as '12.5' (at most two decimals), got {_preview(text)}",
            field=field,
        )
    whole, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(fraction)


def format_percent(basis_points: int) -> str:
    """Basis points as the shortest decimal percentage: 1250 -> "12.5", 1000 -> "10"."""
    whole, fraction = divmod(basis_points, 100)
    return str(whole) if fraction == 0 else f"{whole}.{fraction:02d}".rstrip("0")


def validate_rule(draft: RuleDraft) -> RuleDraft:
    """The draft with every field checked and normalised (kind, thresholds, window, filters)."""
    kind = _kind(draft.kind)
    threshold = _threshold(kind, draft.threshold_percent)
    band = _band(kind, threshold, draft.hysteresis_percent)
    window = draft.dedup_window_seconds
    if window is not None and not 0 <= window <= MAX_DEDUP_WINDOW.total_seconds():
        raise InvalidArgument(
            f"dedup_window_seconds must be from 0 to {int(MAX_DEDUP_WINDOW.total_seconds())} (30 days), got {window}",
            field="dedup_window_seconds",
        )
    return RuleDraft(
        name=_text(draft.name, "name", MAX_NAME_LENGTH, required=True),
        kind=kind,
        threshold_percent=format_percent(threshold) if kind in THRESHOLD_KINDS else "",
        hysteresis_percent="" if band is None else format_percent(band),
        dedup_window_seconds=window,
        competitor_ids=_competitor_ids(draft.competitor_ids),
        category_id=_category(kind, draft.category_id),
        enabled=draft.enabled,
    )


def new_rule(organization_id: str, rule_id: str, draft: RuleDraft, *, now: datetime) -> AlertRule:
    content = validate_rule(draft)
    kind = AlertKind(content.kind)
    return AlertRule(
        organization_id=organization_id,
        id=rule_id,
        name=content.name,
        kind=kind,
        threshold_bp=parse_percent(content.threshold_percent, field="threshold_percent")
        if kind in THRESHOLD_KINDS
        else 0,
        hysteresis_bp=parse_percent(content.hysteresis_percent, field="hysteresis_percent")
        if content.hysteresis_percent
        else None,
        dedup_window=DEFAULT_DEDUP_WINDOW
        if content.dedup_window_seconds is None
        else timedelta(seconds=content.dedup_window_seconds),
        competitor_ids=tuple(content.competitor_ids),
        category_id=content.category_id,
        enabled=True if content.enabled is None else content.enabled,
        revision=1,
        create_time=now,
        update_time=now,
    )


def parse_rule_mask(paths: Iterable[str]) -> frozenset[str]:
    fields = field_mask.parse_update_mask(paths, RULE_PATHS, key="id", key_message="a rule's id cannot be changed")
    if "kind" in fields:
        raise InvalidArgument("a rule's kind cannot be changed; create another rule", field="update_mask")
    return fields


def updated_rule(existing: AlertRule, draft: RuleDraft, paths: Collection[str], *, now: datetime) -> AlertRule:
    """`existing` with the fields named by `paths` taken from `draft`; the same object when nothing differs.

    A hysteresis left at its default follows a new threshold; an explicit one must still fit it."""
    merged = RuleDraft(
        name=draft.name if "name" in paths else existing.name,
        kind=existing.kind,
        threshold_percent=draft.threshold_percent
        if "threshold_percent" in paths
        else (format_percent(existing.threshold_bp) if existing.kind in THRESHOLD_KINDS else ""),
        hysteresis_percent=draft.hysteresis_percent
        if "hysteresis_percent" in paths
        else ("" if existing.hysteresis_bp is None else format_percent(existing.hysteresis_bp)),
        dedup_window_seconds=draft.dedup_window_seconds
        if "dedup_window_seconds" in paths
        else int(existing.dedup_window.total_seconds()),
        competitor_ids=draft.competitor_ids if "competitor_ids" in paths else existing.competitor_ids,
        category_id=draft.category_id if "category_id" in paths else existing.category_id,
        enabled=bool(draft.enabled) if "enabled" in paths else existing.enabled,
    )
    fresh = new_rule(existing.organization_id, existing.id, merged, now=now)
    same = (
        fresh.name,
        fresh.threshold_bp,
        fresh.hysteresis_bp,
        fresh.dedup_window,
        fresh.competitor_ids,
        fresh.category_id,
        fresh.enabled,
    ) == (
        existing.name,
        existing.threshold_bp,
        existing.hysteresis_bp,
        existing.dedup_window,
        existing.competitor_ids,
        existing.category_id,
        existing.enabled,
    )
    if same:
        return existing
    return replace(fresh, revision=existing.revision + 1, create_time=existing.create_time)


def _kind(value: int) -> AlertKind:
    try:
        return AlertKind(value)
    except ValueError:
        names = ", ".join(kind.name for kind in AlertKind)
        raise InvalidArgument(f"kind is required: one of {names}", field="kind") from None


def _threshold(kind: AlertKind, text: str) -> int:
    if kind not in THRESHOLD_KINDS:
        if text.strip():
            raise InvalidArgument(f"{kind.name} rules take no threshold_percent", field="threshold_percent")
        return 0
    if kind is AlertKind.BELOW_MAP:
        # Any price under MAP by default; a threshold tolerates small gaps.
        value = parse_percent(text, field="threshold_percent") if text.strip() else 0
        if value >= MAX_PERCENT_BP:
            raise InvalidArgument(
                "threshold_percent must be from 0 to below 100 for BELOW_MAP", field="threshold_percent"
            )
        return value
    if not text.strip():
        raise InvalidArgument(f"threshold_percent is required for {kind.name} rules", field="threshold_percent")
    value = parse_percent(text, field="threshold_percent")
    if not 0 < value <= MAX_PERCENT_BP:
        raise InvalidArgument(
            f"threshold_percent must be more than 0 and at most 100, got {format_percent(value)}",
            field="threshold_percent",
        )
    return value


def _band(kind: AlertKind, threshold: int, text: str) -> int | None:
    if not text.strip():
        return None
    if kind not in BAND_KINDS:
        raise InvalidArgument(
            f"{kind.name} rules take no hysteresis_percent (only UNDERCUT and BELOW_MAP have a band)",
            field="hysteresis_percent",
        )
    value = parse_percent(text, field="hysteresis_percent")
    if value > threshold:
        raise InvalidArgument(
            f"hysteresis_percent must be at most threshold_percent ({format_percent(threshold)}), "
            f"got {format_percent(value)}",
            field="hysteresis_percent",
        )
    return value


def _competitor_ids(values: Sequence[str]) -> tuple[str, ...]:
    unique = sorted(set(values))
    if len(unique) > MAX_RULE_COMPETITORS:
        raise InvalidArgument(
            f"a rule watches at most {MAX_RULE_COMPETITORS} competitors, got {len(unique)}", field="competitor_ids"
        )
    for value in unique:
        if not COMPETITOR_ID_PATTERN.fullmatch(value):
            raise InvalidArgument(f"{_preview(value)} is not a competitor id", field="competitor_ids")
    return tuple(unique)


def _category(kind: AlertKind, value: str) -> str:
    text = value.strip()
    if kind is not AlertKind.NEW_PRODUCT:
        if text:
            raise InvalidArgument("only NEW_PRODUCT rules watch a category", field="category_id")
        return ""
    if not text:
        raise InvalidArgument(
            "category_id is required for NEW_PRODUCT rules: the category to watch", field="category_id"
        )
    if not SKU_PATTERN.fullmatch(text):
        raise InvalidArgument(f"{_preview(text)} is not a category id", field="category_id")
    return text


# --- readings: what one market event means for one rule ------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    subject: str
    at: datetime
    status: Status
    message: str
    competitor_id: str
    sku: str = ""
    offer_id: str = ""
    source_id: str = ""
    url: str = ""
    price: Money | None = None
    reference_price: Money | None = None


def money_text(money: Money) -> str:
    return f"{money.to_decimal_string()} {money.currency}"


def _percent_of(part: int, whole: int) -> str:
    """part / whole in percent, to one decimal; a small non-zero share keeps enough digits not to read as 0."""
    exact = Decimal(part) * 100 / Decimal(whole)
    for step in ("0.1", "0.01"):
        value = exact.quantize(Decimal(step), rounding=ROUND_HALF_UP)
        if value or not part:
            return f"{value} %"
    return "under 0.01 %"


def _band_status(gap_minor: int, base_minor: int, threshold_bp: int, band_bp: int) -> Status:
    """FIRING above threshold %, CLEAR at threshold - band % or below, HOLDING between (exact integers)."""
    scaled = gap_minor * BASIS_POINTS
    if scaled > threshold_bp * base_minor:
        return Status.FIRING
    if scaled <= (threshold_bp - band_bp) * base_minor:
        return Status.CLEAR
    return Status.HOLDING


def _price_reading(seen: PriceSeen, status: Status, message: str, reference: Money | None) -> Reading:
    return Reading(
        subject=seen.offer_id,
        at=seen.observe_time,
        status=status,
        message=message,
        competitor_id=seen.competitor_id,
        sku=seen.sku,
        offer_id=seen.offer_id,
        url=seen.url,
        price=seen.price,
        reference_price=reference,
    )


def judge_undercut(rule: AlertRule, seen: PriceSeen, ours: Money, competitor: str) -> Reading | None:
    """Gap = how far below our price theirs is. Out of stock never undercuts. None when not comparable."""
    if seen.quarantined or ours.currency != seen.price.currency or ours.amount_minor <= 0:
        return None
    theirs = seen.price
    if not seen.in_stock:
        message = f"{competitor} is out of stock of {seen.sku}, so no longer undercuts our {money_text(ours)}"
        return _price_reading(seen, Status.CLEAR, message, ours)
    gap = ours.amount_minor - theirs.amount_minor
    status = _band_status(gap, ours.amount_minor, rule.threshold_bp, rule.band_bp)
    if gap > 0:
        message = (
            f"{competitor} sells {seen.sku} at {money_text(theirs)}, "
            f"{_percent_of(gap, ours.amount_minor)} below our {money_text(ours)}"
        )
    elif gap == 0:
        message = f"{competitor} sells {seen.sku} at our price, {money_text(ours)}"
    else:
        message = (
            f"{competitor} sells {seen.sku} at {money_text(theirs)}, "
            f"{_percent_of(-gap, ours.amount_minor)} above our {money_text(ours)}"
        )
    return _price_reading(seen, status, message, ours)


def judge_below_map(rule: AlertRule, seen: PriceSeen, map_price: Money | None, competitor: str) -> Reading | None:
    """Gap = how far below our MAP their advertised price is, in stock or not. A sku without MAP clears."""
    if seen.quarantined:
        return None
    theirs = seen.price
    if map_price is None:
        return _price_reading(seen, Status.CLEAR, f"{seen.sku} has no MAP any more", None)
    if map_price.currency != theirs.currency or map_price.amount_minor <= 0:
        return None
    gap = map_price.amount_minor - theirs.amount_minor
    status = _band_status(gap, map_price.amount_minor, rule.threshold_bp, rule.band_bp)
    if gap > 0:
        message = (
            f"{competitor} sells {seen.sku} at {money_text(theirs)}, "
            f"{_percent_of(gap, map_price.amount_minor)} below its MAP of {money_text(map_price)}"
        )
    else:
        message = f"{competitor} sells {seen.sku} at {money_text(theirs)}, not below its MAP of {money_text(map_price)}"
    return _price_reading(seen, status, message, map_price)


def judge_stock(seen: PriceSeen, competitor: str) -> Reading | None:
    """Out of stock fires; back in stock resolves."""
    if seen.quarantined:
        return None
    if seen.in_stock:
        message = f"{competitor} has {seen.sku} in stock at {money_text(seen.price)}"
        return _price_reading(seen, Status.CLEAR, message, None)
    return _price_reading(seen, Status.FIRING, f"{competitor} is out of stock of {seen.sku}", None)


def judge_price_change(rule: AlertRule, seen: PriceSeen, before: Money | None, competitor: str) -> Reading | None:
    """A move of more than threshold % from the price before (the last one that was a fact)."""
    if seen.quarantined or before is None or before.currency != seen.price.currency or before.amount_minor <= 0:
        return None
    now = seen.price
    move = now.amount_minor - before.amount_minor
    if abs(move) * BASIS_POINTS <= rule.threshold_bp * before.amount_minor:
        return None
    verb, sign = ("raised", "+") if move > 0 else ("cut", "-")
    message = (
        f"{competitor} {verb} {seen.sku} from {money_text(before)} to {money_text(now)} "
        f"({sign}{_percent_of(abs(move), before.amount_minor)})"
    )
    return _price_reading(seen, Status.FIRING, message, before)


def judge_new_product(rule: AlertRule, product: NewCompetitorProduct, competitor: str) -> Reading | None:
    if not product.category_id or product.category_id != rule.category_id:
        return None
    title = product.title or product.url
    message = f"{competitor} lists a new product in category {product.category_id}: “{title}”"
    if product.price is not None:
        message += f" at {money_text(product.price)}"
    message += f", matched to {product.sku}" if product.sku else ", waiting for review"
    return Reading(
        subject=product.url,
        at=product.observe_time,
        status=Status.FIRING,
        message=message,
        competitor_id=product.competitor_id,
        sku=product.sku,
        url=product.url,
        price=product.price,
    )


def judge_source_health(event: SourceHealthChanged, competitor: str) -> Reading:
    source = f"{competitor}'s source “{event.source_name}”"
    if event.broken:
        reason = f": {event.reason}" if event.reason else ""
        message, status = f"Extraction from {source} is broken{reason}", Status.FIRING
    else:
        message, status = f"Extraction from {source} works again", Status.CLEAR
    return Reading(
        subject=event.source_id,
        at=event.observe_time,
        status=status,
        message=message,
        competitor_id=event.competitor_id,
        source_id=event.source_id,
    )


# --- alerts ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    organization_id: str
    id: str
    rule_id: str
    kind: AlertKind
    subject: str
    competitor_id: str
    sku: str
    offer_id: str
    source_id: str
    url: str
    state: AlertState
    message: str
    price: Money | None
    reference_price: Money | None
    first_seen: datetime
    last_seen: datetime
    resolve_time: datetime | None
    occurrences: int
    # The newest reading applied: an older one (late, or a retry of the same) changes nothing.
    checked_time: datetime
    # What webhook receivers were last told and when; the dedup window counts from that moment.
    notified_state: AlertState | None
    notify_time: datetime | None
    # The newest alert of its (rule, subject), the one readings move.
    head: bool
    revision: int

    @property
    def head_key(self) -> str:
        return head_key(self.rule_id, self.subject)


def head_key(rule_id: str, subject: str) -> str:
    return f"{rule_id} {subject}"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A notification owed to webhooks, stored with the alert change that caused it (the outbox)."""

    id: str
    type: EventType
    alert_id: str
    # None for pings.
    kind: AlertKind | None
    # When what it tells happened (the market's time); its deliveries are due from queue_time, when it was made.
    time: datetime
    queue_time: datetime
    body: str


@dataclass(frozen=True, slots=True)
class AlertChange:
    before: Alert | None
    after: Alert
    events: tuple[AlertEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Baseline:
    """The last price of an offer that was a fact, which PRICE_CHANGE compares with."""

    offer_id: str
    price: Money
    observe_time: datetime


IdSource = Callable[[], str]


def advance(
    rule: AlertRule,
    head: Alert | None,
    reading: Reading,
    *,
    now: datetime,
    alert_ids: IdSource,
    event_ids: IdSource,
) -> list[AlertChange]:
    """What one reading does to the head alert of its (rule, subject): the changes to store, in order.
    `now` is when the reading is judged: the notifications it makes are due from then."""
    at = to_millisecond(reading.at)
    now = to_millisecond(now)
    if head is not None and at <= head.checked_time:
        return []
    if rule.kind in ONE_OFF_KINDS:
        return _advance_one_off(rule, head, reading, at, now, alert_ids, event_ids)
    if head is not None and head.state is AlertState.OPEN:
        moved = replace(
            head,
            message=reading.message,
            price=reading.price,
            reference_price=reading.reference_price,
            checked_time=at,
            revision=head.revision + 1,
        )
        if reading.status is Status.CLEAR:
            moved = replace(moved, state=AlertState.RESOLVED, resolve_time=at)
        elif reading.status is Status.FIRING:
            moved = replace(moved, last_seen=at)
        return [_told(rule, head, moved, at, now, event_ids)]
    if reading.status is not Status.FIRING:
        return []
    if head is not None and head.resolve_time is not None and at - head.resolve_time < rule.dedup_window:
        reopened = replace(
            head,
            state=AlertState.OPEN,
            resolve_time=None,
            occurrences=head.occurrences + 1,
            last_seen=at,
            message=reading.message,
            price=reading.price,
            reference_price=reading.reference_price,
            checked_time=at,
            revision=head.revision + 1,
        )
        return [_told(rule, head, reopened, at, now, event_ids)]
    fresh = _new_alert(rule, reading, at, alert_ids())
    return [*_superseded(head), _told(rule, None, fresh, at, now, event_ids)]


def _advance_one_off(
    rule: AlertRule,
    head: Alert | None,
    reading: Reading,
    at: datetime,
    now: datetime,
    alert_ids: IdSource,
    event_ids: IdSource,
) -> list[AlertChange]:
    if reading.status is not Status.FIRING:
        return []
    if head is not None and head.notify_time is not None and at - head.notify_time < rule.dedup_window:
        folded = replace(
            head,
            occurrences=head.occurrences + 1,
            last_seen=at,
            message=reading.message,
            price=reading.price,
            reference_price=reading.reference_price,
            checked_time=at,
            revision=head.revision + 1,
        )
        return [AlertChange(head, folded)]
    fired = replace(_new_alert(rule, reading, at, alert_ids()), state=AlertState.RESOLVED, resolve_time=at)
    event = _event(rule, fired, EventType.ALERT_FIRED, at, now, event_ids())
    told = replace(fired, notified_state=AlertState.OPEN, notify_time=at)
    return [*_superseded(head), AlertChange(None, told, (event,))]


def _superseded(head: Alert | None) -> list[AlertChange]:
    if head is None:
        return []
    return [AlertChange(head, replace(head, head=False, revision=head.revision + 1))]


def _new_alert(rule: AlertRule, reading: Reading, at: datetime, alert_id: str) -> Alert:
    return Alert(
        organization_id=rule.organization_id,
        id=alert_id,
        rule_id=rule.id,
        kind=rule.kind,
        subject=reading.subject,
        competitor_id=reading.competitor_id,
        sku=reading.sku,
        offer_id=reading.offer_id,
        source_id=reading.source_id,
        url=reading.url,
        state=AlertState.OPEN,
        message=reading.message,
        price=reading.price,
        reference_price=reading.reference_price,
        first_seen=at,
        last_seen=at,
        resolve_time=None,
        occurrences=1,
        checked_time=at,
        notified_state=None,
        notify_time=None,
        head=True,
        revision=1,
    )


def _told(
    rule: AlertRule, before: Alert | None, after: Alert, at: datetime, now: datetime, event_ids: IdSource
) -> AlertChange:
    """The change, with a notification when receivers should hear of the alert's state.

    "Resolved" is always sent to receivers who last heard "fired". "Fired" is sent unless receivers
    heard from this alert within the dedup window: a flap inside the window stays quiet, and a
    condition still firing once the window is over is told then."""
    if after.notified_state is after.state:
        return AlertChange(before, after)
    if after.state is AlertState.RESOLVED:
        if after.notified_state is not AlertState.OPEN:
            return AlertChange(before, after)
        event_type = EventType.ALERT_RESOLVED
    else:
        if after.notify_time is not None and at - after.notify_time < rule.dedup_window:
            return AlertChange(before, after)
        event_type = EventType.ALERT_FIRED
    event = _event(rule, after, event_type, at, now, event_ids())
    return AlertChange(before, replace(after, notified_state=after.state, notify_time=at), (event,))


def closed(rule: AlertRule, alert: Alert, why: str, *, now: datetime, event_ids: IdSource) -> AlertChange:
    """An open alert of a rule that was disabled or deleted: it watches nothing any more."""
    now = to_millisecond(now)
    at = max(now, alert.checked_time)
    after = replace(
        alert,
        state=AlertState.RESOLVED,
        resolve_time=at,
        message=f"{alert.message} (closed: {why})",
        checked_time=at,
        revision=alert.revision + 1,
    )
    return _told(rule, alert, after, at, now, event_ids)


def _event(
    rule: AlertRule, alert: Alert, event_type: EventType, at: datetime, now: datetime, event_id: str
) -> AlertEvent:
    body = {
        "id": event_id,
        "type": EVENT_NAMES[event_type],
        "time": rfc3339(at),
        "rule": {"id": rule.id, "name": rule.name},
        "alert": alert_json(alert),
    }
    return AlertEvent(event_id, event_type, alert.id, alert.kind, at, now, _json(body))


def ping_event(webhook_id: str, *, now: datetime, event_id: str) -> AlertEvent:
    at = to_millisecond(now)
    body = {"id": event_id, "type": EVENT_NAMES[EventType.PING], "time": rfc3339(at), "webhook_id": webhook_id}
    return AlertEvent(event_id, EventType.PING, "", None, at, at, _json(body))


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as webhook bodies carry it."""
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "kind": alert.kind.name.lower(),
        "state": "open" if alert.state is AlertState.OPEN else "resolved",
        "subject": alert.subject,
        "competitor_id": alert.competitor_id,
        "sku": alert.sku or None,
        "offer_id": alert.offer_id or None,
        "source_id": alert.source_id or None,
        "url": alert.url or None,
        "message": alert.message,
        "price": _money_json(alert.price),
        "reference_price": _money_json(alert.reference_price),
        "first_seen_time": rfc3339(alert.first_seen),
        "last_seen_time": rfc3339(alert.last_seen),
        "resolve_time": None if alert.resolve_time is None else rfc3339(alert.resolve_time),
        "occurrences": alert.occurrences,
    }


def _money_json(money: Money | None) -> dict[str, str] | None:
    return None if money is None else {"amount": money.to_decimal_string(), "currency": money.currency}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- webhooks and deliveries ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookDraft:
    url: str = ""
    description: str = ""
    alert_kinds: Sequence[int] = ()
    event_types: Sequence[int] = ()
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class Webhook:
    organization_id: str
    id: str
    url: str
    description: str
    # Kept as given: every delivery is signed with it. Shown once, when the webhook is created.
    secret: str
    # Empty: every kind, every event.
    alert_kinds: tuple[AlertKind, ...]
    event_types: tuple[EventType, ...]
    active: bool
    revision: int
    create_time: datetime
    update_time: datetime

    def wants(self, event: AlertEvent) -> bool:
        if not self.active:
            return False
        if event.type is EventType.PING:
            return True
        if self.event_types and event.type not in self.event_types:
            return False
        return not self.alert_kinds or event.kind in self.alert_kinds


WEBHOOK_PATHS = ("url", "description", "alert_kinds", "event_types", "active")


def validate_webhook(draft: WebhookDraft) -> WebhookDraft:
    """Syntax only (http or https, a host, no credentials), normalised; where it may connect is checked by the
    caller (a literal address at registration, every resolved address at delivery)."""
    kinds = []
    for value in draft.alert_kinds:
        try:
            kinds.append(AlertKind(value))
        except ValueError:
            raise InvalidArgument(f"{_preview(value)} is not an alert kind", field="alert_kinds") from None
    events = []
    for value in draft.event_types:
        try:
            event = EventType(value)
        except ValueError:
            event = None
        if event not in SELECTABLE_EVENTS:
            raise InvalidArgument(
                "event_types may name ALERT_FIRED and ALERT_RESOLVED (pings always go through)", field="event_types"
            )
        events.append(event)
    return WebhookDraft(
        url=validate_fetch_url(draft.url, field="url"),
        description=_text(draft.description, "description", MAX_DESCRIPTION_LENGTH),
        alert_kinds=tuple(sorted(set(kinds))),
        event_types=tuple(sorted({event for event in events if event is not None})),
        active=draft.active,
    )


def new_webhook(organization_id: str, webhook_id: str, draft: WebhookDraft, *, secret: str, now: datetime) -> Webhook:
    content = validate_webhook(draft)
    return Webhook(
        organization_id=organization_id,
        id=webhook_id,
        url=content.url,
        description=content.description,
        secret=secret,
        alert_kinds=tuple(AlertKind(kind) for kind in content.alert_kinds),
        event_types=tuple(EventType(event) for event in content.event_types),
        active=True if content.active is None else content.active,
        revision=1,
        create_time=now,
        update_time=now,
    )


def parse_webhook_mask(paths: Iterable[str]) -> frozenset[str]:
    return field_mask.parse_update_mask(paths, WEBHOOK_PATHS, key="id", key_message="a webhook's id cannot be changed")


def updated_webhook(existing: Webhook, draft: WebhookDraft, paths: Collection[str], *, now: datetime) -> Webhook:
    merged = WebhookDraft(
        url=draft.url if "url" in paths else existing.url,
        description=draft.description if "description" in paths else existing.description,
        alert_kinds=draft.alert_kinds if "alert_kinds" in paths else existing.alert_kinds,
        event_types=draft.event_types if "event_types" in paths else existing.event_types,
        active=bool(draft.active) if "active" in paths else existing.active,
    )
    fresh = new_webhook(existing.organization_id, existing.id, merged, secret=existing.secret, now=now)
    if (fresh.url, fresh.description, fresh.alert_kinds, fresh.event_types, fresh.active) == (
        existing.url,
        existing.description,
        existing.alert_kinds,
        existing.event_types,
        existing.active,
    ):
        return existing
    return replace(fresh, revision=existing.revision + 1, create_time=existing.create_time)


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    time: datetime
    # 0 when no response came (refused address, connection error, timeout).
    status_code: int
    error: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Delivery:
    organization_id: str
    id: str
    webhook_id: str
    event_id: str
    event_type: EventType
    alert_id: str
    body: str
    state: DeliveryState
    attempts: tuple[DeliveryAttempt, ...]
    next_attempt_time: datetime | None
    create_time: datetime
    finish_time: datetime | None


def delivery_id(event_id: str, webhook_id: str) -> str:
    """The same for the same (event, webhook): fanning an event out again never delivers it twice."""
    suffix = hashlib.sha256(webhook_id.encode()).hexdigest()[:8]
    return f"{DELIVERY_ID_PREFIX}{event_id.removeprefix(EVENT_ID_PREFIX)}_{suffix}"


def fan_out(organization_id: str, event: AlertEvent, webhooks: Iterable[Webhook]) -> list[Delivery]:
    """One pending delivery of the event per active webhook that wants it, due when the event was made."""
    return [
        Delivery(
            organization_id=organization_id,
            id=delivery_id(event.id, webhook.id),
            webhook_id=webhook.id,
            event_id=event.id,
            event_type=event.type,
            alert_id=event.alert_id,
            body=event.body,
            state=DeliveryState.PENDING,
            attempts=(),
            next_attempt_time=event.queue_time,
            create_time=event.queue_time,
            finish_time=None,
        )
        for webhook in webhooks
        if webhook.organization_id == organization_id and webhook.wants(event)
    ]


def attempted(
    delivery: Delivery,
    attempt: DeliveryAttempt,
    *,
    delivered: bool,
    delays: Sequence[timedelta] = RETRY_DELAYS,
    jitter: float = 1.0,
) -> Delivery:
    """The delivery after one attempt: delivered, retried after the next delay (times `jitter`), or failed
    for good once every delay has been waited."""
    attempts = (*delivery.attempts, replace(attempt, error=_clip(attempt.error)))
    if delivered:
        return replace(
            delivery, attempts=attempts, state=DeliveryState.DELIVERED, next_attempt_time=None, finish_time=attempt.time
        )
    if len(attempts) > len(delays):
        return replace(
            delivery, attempts=attempts, state=DeliveryState.FAILED, next_attempt_time=None, finish_time=attempt.time
        )
    wait = delays[len(attempts) - 1] * jitter
    return replace(delivery, attempts=attempts, next_attempt_time=to_millisecond(attempt.time + wait))


def given_up(delivery: Delivery, *, now: datetime, why: str) -> Delivery:
    """A delivery that cannot be made at all (its webhook was switched off): failed, with the reason."""
    at = to_millisecond(now)
    attempt = DeliveryAttempt(time=at, status_code=0, error=why, duration_ms=0)
    return replace(
        delivery,
        attempts=(*delivery.attempts, attempt),
        state=DeliveryState.FAILED,
        next_attempt_time=None,
        finish_time=at,
    )


# --- shared ---------------------------------------------------------------------------------------


def validate_id(value: str, pattern: re.Pattern[str], what: str, *, field: str = "id") -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidArgument(f"{_preview(value)} is not {what}", field=field)
    return value


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else f"{text[: MAX_ERROR_LENGTH - 1]}…"


def _text(value: str, name: str, maximum: int, *, required: bool = False) -> str:
    text = unicodedata.normalize("NFC", value.strip())
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
