"""Offers and observations from CSV: one header row, then one offer or observation per record (RFC 4180, UTF-8).

Columns may come in any order and optional ones may be left out. Problems with the file as a whole
raise InvalidArgument; a record that cannot be read becomes a RowError and the others are still
returned, so every problem is reported in one go.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from runtime.errors import DomainError, InvalidArgument
from services.competitor.domain import OfferDraft, RowError

OFFER_COLUMNS = ("competitor_id", "url", "sku", "title")
OFFER_REQUIRED = ("competitor_id", "url", "sku")
OBSERVATION_COLUMNS = ("competitor_id", "url", "observe_time", "price", "currency", "in_stock")
# currency may be left out: the competitor's default currency is assumed.
OBSERVATION_REQUIRED = ("competitor_id", "url", "observe_time", "price", "in_stock")
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})


@dataclass(frozen=True, slots=True)
class ParsedOffers:
    """Drafts with the index of the record each came from, and the records that could not be read."""

    rows: list[tuple[int, OfferDraft]]
    errors: list[RowError]


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    """One observation record: its offer by natural key, and its price as decimal text."""

    competitor_id: str
    url: str
    observe_time: datetime
    price: str
    # Empty: the competitor's default currency.
    currency: str
    in_stock: bool

    @property
    def key_text(self) -> str:
        return f"{self.competitor_id}/{self.url}@{self.observe_time.isoformat()}"


@dataclass(frozen=True, slots=True)
class ParsedObservations:
    rows: list[tuple[int, ObservationRecord]]
    errors: list[RowError]


def parse_offers(data: bytes) -> ParsedOffers:
    rows: list[tuple[int, OfferDraft]] = []
    errors: list[RowError] = []
    for index, cells in _records(data, OFFER_COLUMNS, OFFER_REQUIRED):
        if isinstance(cells, RowError):
            errors.append(cells)
            continue
        rows.append(
            (
                index,
                OfferDraft(
                    competitor_id=cells["competitor_id"].strip(),
                    url=cells["url"].strip(),
                    sku=cells["sku"].strip(),
                    title=cells.get("title", ""),
                ),
            )
        )
    return ParsedOffers(rows, errors)


def parse_observations(data: bytes) -> ParsedObservations:
    rows: list[tuple[int, ObservationRecord]] = []
    errors: list[RowError] = []
    for index, cells in _records(data, OBSERVATION_COLUMNS, OBSERVATION_REQUIRED):
        if isinstance(cells, RowError):
            errors.append(cells)
            continue
        competitor_id, url = cells["competitor_id"].strip(), cells["url"].strip()
        try:
            record = ObservationRecord(
                competitor_id=competitor_id,
                url=url,
                observe_time=_time(cells["observe_time"]),
                price=cells["price"].strip(),
                currency=cells.get("currency", "").strip(),
                in_stock=_flag(cells["in_stock"]),
            )
        except DomainError as error:
            key = f"{competitor_id}/{url}@{cells['observe_time'].strip()}"
            errors.append(RowError(index, key[:300], error.field, error.message))
            continue
        rows.append((index, record))
    return ParsedObservations(rows, errors)


def _records(
    data: bytes, columns: tuple[str, ...], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str] | RowError]]:
    """Each data record's cells by column name, or the RowError saying why it cannot be read."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InvalidArgument(
            f"the CSV is not UTF-8: byte 0x{data[error.start]:02x} at offset {error.start} (line {line})",
            field="csv",
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = _header(next(reader, None), columns, required)
        index = 0
        for record in reader:
            if not record or record == [""]:
                continue
            if len(record) != len(header):
                key = "/".join(record[header[name]] for name in ("competitor_id", "url") if header[name] < len(record))
                message = f"the record has {len(record)} fields but the header has {len(header)}"
                yield index, RowError(index, key[:300], "", message)
            else:
                yield index, {name: record[position] for name, position in header.items()}
            index += 1
    except csv.Error as error:
        raise InvalidArgument(f"the CSV is malformed at line {reader.line_num}: {error}", field="csv") from None


def _header(record: list[str] | None, columns: tuple[str, ...], required: tuple[str, ...]) -> dict[str, int]:
    if not record or record == [""]:
        raise InvalidArgument(
            f"the CSV is empty; its first row must name the columns: {','.join(columns)}", field="csv"
        )
    names = [name.strip() for name in record]
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise InvalidArgument(
            f"unknown columns {', '.join(map(repr, unknown))}; allowed columns: {','.join(columns)}", field="csv"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidArgument(f"columns appear more than once: {', '.join(repeated)}", field="csv")
    missing = [name for name in required if name not in names]
    if missing:
        raise InvalidArgument(f"required columns are missing: {', '.join(missing)}", field="csv")
    return {name: position for position, name in enumerate(names)}


def _time(cell: str) -> datetime:
    text = cell.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text.upper():
        raise InvalidArgument(
            f"observe_time must be an RFC 3339 time with a zone, like 2026-03-01T09:30:00Z, got {text[:40]!r}",
            field="observe_time",
        )
    return moment


def _flag(cell: str) -> bool:
    text = cell.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidArgument(f"in_stock must be true or false, got {cell[:40]!r}", field="in_stock")
