"""Order lines as CSV: the header row, then one line per record (RFC 4180, UTF-8)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from runtime.errors import DomainError, InvalidArgument
from runtime.money import Money
from services.analytics.domain import MoneyInput, OrderLine, OrderLineDraft, RowError

COLUMNS = ("order_id", "line_no", "sku", "quantity", "unit_price", "currency", "time", "channel")
HEADER = ",".join(COLUMNS)
# RFC 3339 date-time: the offset is required, and the fraction may carry up to nanoseconds.
_RFC3339 = re.compile(
    r"(?P<base>[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,19}")
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")
# Lone surrogates: how bytes that are not UTF-8 show up after decoding with surrogateescape.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class ParsedCsv:
    """Drafts with the index of the record each came from, and the records that could not be read."""

    rows: list[tuple[int, OrderLineDraft]]
    errors: list[RowError]


def export_csv(lines: Iterable[OrderLine]) -> bytes:
    """Lines in the format parse_csv reads; times in UTC with milliseconds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in lines:
        writer.writerow(
            (
                line.order_id,
                line.line_no,
                line.sku,
                line.quantity,
                line.unit_price.to_decimal_string(),
                line.unit_price.currency,
                line.time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                line.channel,
            )
        )
    return buffer.getvalue().encode()


def parse_csv(data: bytes, *, max_rows: int) -> ParsedCsv:
    """Read a CSV with exactly the header COLUMNS.

    A file that is not this CSV at all (no or another header, UTF-16, more than `max_rows` records)
    raises InvalidArgument; a record that cannot be read becomes a RowError and the others are still
    returned, so every problem is reported in one go.
    """
    if data.startswith(_UTF16_MARKS):
        raise InvalidArgument("the CSV must be UTF-8; this file looks like UTF-16", field="csv")
    # Undecodable bytes are kept as lone surrogates, so they can be refused record by record.
    text = data.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    _check_header(reader)
    rows: list[tuple[int, OrderLineDraft]] = []
    errors: list[RowError] = []
    for index, record in enumerate(_records(reader)):
        if index >= max_rows:
            raise InvalidArgument(f"a CSV import holds at most {max_rows:,} lines", field="csv")
        if isinstance(record, csv.Error):
            errors.append(RowError(index, "", "", f"the record is malformed: {record}"))
            continue
        try:
            rows.append((index, _draft(record)))
        except DomainError as error:
            errors.append(RowError(index, _key(record), error.field, error.message))
    return ParsedCsv(rows, errors)


def _check_header(reader: Iterator[list[str]]) -> None:
    try:
        record = next(reader, None)
    except csv.Error as error:
        raise InvalidArgument(f"the CSV header is malformed: {error}", field="csv") from None
    if not record or record == [""]:
        raise InvalidArgument(f"the CSV is empty; its first row must be the header {HEADER}", field="csv")
    names = [name.strip() for name in record]
    if names != list(COLUMNS):
        shown = ",".join(names)
        raise InvalidArgument(f"the CSV header must be exactly {HEADER}, got {shown[:200]!r}", field="csv")


def _records(reader: Iterator[list[str]]) -> Iterator[list[str] | csv.Error]:
    """Each data record, or the error of one the CSV reader could not parse; blank lines are skipped."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # The reader starts afresh on the next physical line, so the records after it are still read.
            yield error
            continue
        if record and record != [""]:
            yield record


def _draft(record: list[str]) -> OrderLineDraft:
    if len(record) != len(COLUMNS):
        raise InvalidArgument(f"the record has {len(record)} fields but the header has {len(COLUMNS)}")
    for cell in record:
        undecodable = _UNDECODABLE.search(cell)
        if undecodable is not None:
            raise InvalidArgument(f"the record is not UTF-8 text (byte 0x{ord(undecodable.group()) - 0xDC00:02x})")
    order_id, line_no, sku, quantity, unit_price, currency, time, channel = (cell.strip() for cell in record)
    return OrderLineDraft(
        order_id=order_id,
        line_no=_whole_number(line_no, "line_no"),
        sku=sku,
        quantity=_whole_number(quantity, "quantity"),
        unit_price=_money(unit_price, currency),
        time=_time(time),
        channel=channel,
    )


def _key(record: list[str]) -> str:
    if len(record) < 2 or any(_UNDECODABLE.search(cell) for cell in record[:2]):
        return ""
    return f"{record[0].strip()}/{record[1].strip()}"


def _whole_number(cell: str, field: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(cell):
        raise InvalidArgument(f"{field} must be a whole number, got {cell[:40]!r}", field=field)
    return int(cell)


def _money(amount: str, currency: str) -> MoneyInput:
    if not amount:
        raise InvalidArgument("unit_price is required", field="unit_price")
    money = Money.parse(amount, currency, field="unit_price")
    return MoneyInput(money.amount_minor, money.currency)


def _time(cell: str) -> datetime:
    match = _RFC3339.fullmatch(cell)
    if match is None:
        raise InvalidArgument(
            f"time must be RFC 3339 with an offset, like 2026-03-01T09:30:00Z, got {cell[:40]!r}", field="time"
        )
    # Python reads at most microseconds; the ledger keeps milliseconds anyway.
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    offset = "+00:00" if match["offset"].upper() == "Z" else match["offset"]
    text = f"{match['base'].upper().replace(' ', 'T')}.{fraction}{offset}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidArgument(f"time {cell[:40]!r} is not a valid moment: {error}", field="time") from None
