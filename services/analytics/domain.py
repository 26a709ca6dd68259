"""Sales ledger rules with no I/O: what a valid order line is, how lines are listed, and daily demand."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from runtime.errors import InvalidArgument
from runtime.money import MAX_AMOUNT_MINOR, Money, currency_exponent

ORDER_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:/#-]{1,64}")
# The catalog's sku syntax (services.product.domain.SKU_PATTERN); a test keeps the two the same.
SKU_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
CHANNEL_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")
_DAY_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_LINE_NO = 2**31 - 1
MAX_QUANTITY = 10**9
# Order times come from other systems' clocks, which may run a little ahead of ours.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_DEMAND_SKUS = 1_000
MAX_DEMAND_DAYS = 731
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY = date(1970, 1, 1)
_MILLISECOND = timedelta(milliseconds=1)

LineKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class MoneyInput:
    """An amount as a caller sent it, before its currency and range are checked."""

    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class OrderLineDraft:
    """One order line as a caller sent it (RPC or CSV record), not yet validated."""

    order_id: str
    line_no: int
    sku: str
    quantity: int
    unit_price: MoneyInput | None
    time: datetime | None
    channel: str

    @property
    def key(self) -> str:
        return f"{self.order_id}/{self.line_no}"


@dataclass(frozen=True, slots=True)
class OrderLine:
    order_id: str
    line_no: int
    sku: str
    # Negative for a return.
    quantity: int
    unit_price: Money
    # Aware UTC, whole milliseconds.
    time: datetime
    channel: str

    @property
    def key(self) -> str:
        return f"{self.order_id}/{self.line_no}"

    @property
    def natural_key(self) -> LineKey:
        return (self.order_id, self.line_no)

    @property
    def revenue_minor(self) -> int:
        """quantity times unit price, in minor units of the unit price's currency (negative for a return)."""
        return self.quantity * self.unit_price.amount_minor

    @property
    def day(self) -> date:
        """The UTC calendar day of the order."""
        return self.time.date()


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row of a bulk call was refused; for CSV the row is the data record, header excluded."""

    row: int
    key: str
    field: str
    message: str


# --- validation -------------------------------------------------------------------------------


def validate_line(draft: OrderLineDraft, *, now: datetime) -> OrderLine:
    """The line if every field is valid; InvalidArgument naming the first bad field otherwise."""
    order_id = _matching(draft.order_id, ORDER_ID_PATTERN, "order_id", "1-64 ASCII letters, digits and '-_.:/#'")
    if isinstance(draft.line_no, bool) or not isinstance(draft.line_no, int) or not 1 <= draft.line_no <= MAX_LINE_NO:
        raise InvalidArgument(
            f"line_no must be a whole number from 1 to {MAX_LINE_NO}, got {draft.line_no!r}", field="line_no"
        )
    sku = validate_sku(draft.sku)
    quantity = _quantity(draft.quantity)
    unit_price = _unit_price(draft.unit_price)
    if abs(quantity * unit_price.amount_minor) > MAX_AMOUNT_MINOR:
        raise InvalidArgument(
            f"quantity times unit_price is out of range (at most {MAX_AMOUNT_MINOR} minor units per line)",
            field="quantity",
        )
    channel = _matching(draft.channel, CHANNEL_PATTERN, "channel", "1-32 lower-case ASCII letters, digits, '_' and '-'")
    return OrderLine(order_id, draft.line_no, sku, quantity, unit_price, _time(draft.time, now), channel)


def validate_sku(sku: str, *, field: str = "sku") -> str:
    return _matching(sku, SKU_PATTERN, field, "1-64 ASCII letters, digits and '-_.:'", name="sku")


def _matching(value: str, pattern: re.Pattern[str], field: str, rule: str, *, name: str = "") -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidArgument(f"{name or field} must be {rule}, got {_preview(value)}", field=field)
    return value


def _quantity(quantity: int) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidArgument("quantity must be a whole number", field="quantity")
    if quantity == 0:
        raise InvalidArgument("quantity must not be zero (negative for a return)", field="quantity")
    if abs(quantity) > MAX_QUANTITY:
        raise InvalidArgument(f"quantity must be between -{MAX_QUANTITY} and {MAX_QUANTITY}", field="quantity")
    return quantity


def _unit_price(value: MoneyInput | None) -> Money:
    if value is None:
        raise InvalidArgument("unit_price is required", field="unit_price")
    currency_exponent(value.currency, field="unit_price.currency")
    if value.amount_minor < 0:
        raise InvalidArgument("unit_price must not be negative", field="unit_price")
    if value.amount_minor > MAX_AMOUNT_MINOR:
        raise InvalidArgument(
            f"unit_price is out of range (at most {MAX_AMOUNT_MINOR} minor units)", field="unit_price"
        )
    return Money(value.amount_minor, value.currency)


def _time(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        raise InvalidArgument("time is required", field="time")
    if value.tzinfo is None:
        raise InvalidArgument("time must carry a UTC offset", field="time")
    moment = whole_milliseconds(value.astimezone(UTC))
    if moment < EARLIEST_TIME:
        raise InvalidArgument(
            f"time must not be before {EARLIEST_TIME:%Y-%m-%d}, got {moment.isoformat()}", field="time"
        )
    if moment > now + MAX_CLOCK_AHEAD:
        raise InvalidArgument(f"time {moment.isoformat()} is in the future", field="time")
    return moment


def whole_milliseconds(moment: datetime) -> datetime:
    """`moment` without its sub-millisecond digits, which MongoDB cannot keep; every engine then agrees."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def to_milliseconds(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, the form SQLite stores and page tokens carry."""
    return (moment - EPOCH) // _MILLISECOND


def from_milliseconds(milliseconds: int) -> datetime:
    return EPOCH + timedelta(milliseconds=milliseconds)


def _ceil_milliseconds(moment: datetime) -> datetime:
    truncated = whole_milliseconds(moment)
    if truncated == moment:
        return moment
    try:
        return truncated + _MILLISECOND
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}…"


# --- listing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineFilter:
    """The filter a caller asked for, not yet validated."""

    sku: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class LineQuery:
    """A validated filter as the repositories run it; None means unbounded."""

    sku: str | None = None
    # Inclusive, in whole milliseconds like the stored times.
    start: datetime | None = None
    # Exclusive, in whole milliseconds.
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class LinePosition:
    """Where a page of lines ends: lines after this in (time, order_id, line_no) order come next."""

    time: datetime
    order_id: str
    line_no: int


def line_query(request: LineFilter) -> LineQuery:
    start, end = request.start_time, request.end_time
    if start is not None and end is not None and start > end:
        raise InvalidArgument("filter.start_time must not be after filter.end_time", field="filter.start_time")
    # Rounding both bounds up keeps "at or after start" and "before end" exact for millisecond times.
    return LineQuery(
        sku=validate_sku(request.sku, field="filter.sku") if request.sku else None,
        start=None if start is None else _ceil_milliseconds(start.astimezone(UTC)),
        end=None if end is None else _ceil_milliseconds(end.astimezone(UTC)),
    )


def line_order(line: OrderLine) -> tuple[datetime, str, int]:
    return (line.time, line.order_id, line.line_no)


def line_matches(query: LineQuery, line: OrderLine) -> bool:
    """What every repository's filter must select; the contract tests compare engines against it."""
    return (
        (query.sku is None or line.sku == query.sku)
        and (query.start is None or line.time >= query.start)
        and (query.end is None or line.time < query.end)
    )


# --- demand --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemandQuery:
    """Distinct valid skus and an inclusive range of UTC days."""

    skus: tuple[str, ...]
    start_day: date
    end_day: date


@dataclass(frozen=True, slots=True)
class DemandPoint:
    """Units and revenue of one sku on one UTC day at one unit price."""

    day: date
    unit_price: Money
    units: int
    # Exact sum of quantity times unit price, in minor units of the unit price's currency.
    revenue_minor: int
    lines: int


@dataclass(frozen=True, slots=True)
class DemandSeries:
    sku: str
    points: tuple[DemandPoint, ...]


def demand_query(skus: Sequence[str], start_day: str, end_day: str) -> DemandQuery:
    if not skus:
        raise InvalidArgument("name at least one sku", field="skus")
    if len(skus) > MAX_DEMAND_SKUS:
        raise InvalidArgument(f"at most {MAX_DEMAND_SKUS:,} skus per call, got {len(skus):,}", field="skus")
    distinct = tuple(dict.fromkeys(validate_sku(sku, field=f"skus[{index}]") for index, sku in enumerate(skus)))
    start, end = parse_day(start_day, "start_day"), parse_day(end_day, "end_day")
    if start > end:
        raise InvalidArgument("start_day must not be after end_day", field="start_day")
    days = (end - start).days + 1
    if days > MAX_DEMAND_DAYS:
        raise InvalidArgument(f"at most {MAX_DEMAND_DAYS} days per call, got {days}", field="end_day")
    return DemandQuery(distinct, start, end)


def parse_day(text: str, field: str) -> date:
    if not _DAY_PATTERN.fullmatch(text):
        raise InvalidArgument(f"{field} must be a day as YYYY-MM-DD, got {_preview(text)}", field=field)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{field} {text!r} is not a calendar day", field=field) from None


def epoch_day(day: date) -> int:
    """Days since 1970-01-01, the form repositories store and group by."""
    return (day - EPOCH_DAY).days


def day_of_epoch(days: int) -> date:
    return EPOCH_DAY + timedelta(days=days)


def point_order(point: DemandPoint) -> tuple[date, int, str]:
    return (point.day, point.unit_price.amount_minor, point.unit_price.currency)


def demand_series(requested: Sequence[str], points: Iterable[tuple[str, DemandPoint]]) -> list[DemandSeries]:
    """One series per requested sku, in request order (a repeated sku repeats its series), points in order."""
    by_sku: dict[str, list[DemandPoint]] = {}
    for sku, point in points:
        by_sku.setdefault(sku, []).append(point)
    ordered = {sku: tuple(sorted(found, key=point_order)) for sku, found in by_sku.items()}
    return [DemandSeries(sku, ordered.get(sku, ())) for sku in requested]


def aggregate_demand(query: DemandQuery, lines: Iterable[OrderLine]) -> list[tuple[str, DemandPoint]]:
    """What every repository's aggregation must produce; the contract tests compare engines against it."""
    wanted = set(query.skus)
    totals: dict[tuple[str, date, Money], tuple[int, int, int]] = {}
    for line in lines:
        if line.sku in wanted and query.start_day <= line.day <= query.end_day:
            key = (line.sku, line.day, line.unit_price)
            units, revenue, count = totals.get(key, (0, 0, 0))
            totals[key] = (units + line.quantity, revenue + line.revenue_minor, count + 1)
    return [
        (sku, DemandPoint(day, price, units, revenue, count))
        for (sku, day, price), (units, revenue, count) in totals.items()
    ]
