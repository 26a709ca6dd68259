"""The catalog as CSV: one header row, then one product per record (RFC 4180, UTF-8)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from runtime.errors import DomainError, InvalidArgument
from runtime.money import Money
from services.product.domain import MoneyInput, Product, ProductDraft, ProductStatus, RowError

COLUMNS = (
    "sku",
    "title",
    "brand",
    "gtin",
    "mpn",
    "category_id",
    "currency",
    "cost",
    "price",
    "map_price",
    "stock",
    "status",
    "attributes",
)
REQUIRED_COLUMNS = ("sku", "title", "currency", "price")


@dataclass(frozen=True, slots=True)
class ParsedCsv:
    """Drafts with the index of the record each came from, and the records that could not be read."""

    rows: list[tuple[int, ProductDraft]]
    errors: list[RowError]


def export_csv(products: Iterable[Product]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for product in products:
        writer.writerow(
            (
                product.sku,
                product.title,
                product.brand,
                product.gtin,
                product.mpn,
                product.category_id,
                product.currency,
                _amount(product.cost),
                _amount(product.price),
                _amount(product.map_price),
                str(product.stock),
                product.status.value,
                json.dumps(dict(product.attributes), ensure_ascii=False, separators=(",", ":"))
                if product.attributes
                else "",
            )
        )
    return buffer.getvalue().encode()


def _amount(money: Money | None) -> str:
    return "" if money is None else money.to_decimal_string()


def parse_csv(data: bytes) -> ParsedCsv:
    """Read a CSV as export_csv writes it; columns may come in any order and optional ones may be left out.

    Problems with the file as a whole raise InvalidArgument; a record that cannot be read becomes a
    RowError and the others are still returned, so every problem is reported in one go.
    """
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
        header = _header(next(reader, None))
        rows: list[tuple[int, ProductDraft]] = []
        errors: list[RowError] = []
        index = 0
        for record in reader:
            if not record or record == [""]:
                continue
            try:
                rows.append((index, _draft(record, header)))
            except DomainError as error:
                sku = record[header["sku"]] if len(record) > header["sku"] else ""
                errors.append(RowError(index, sku, error.field, error.message))
            index += 1
    except csv.Error as error:
        raise InvalidArgument(f"the CSV is malformed at line {reader.line_num}: {error}", field="csv") from None
    return ParsedCsv(rows, errors)


def _header(record: list[str] | None) -> dict[str, int]:
    if not record or record == [""]:
        raise InvalidArgument(f"the CSV is empty; its first row must name the columns: {','.join(COLUMNS)}")
    names = [name.strip() for name in record]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise InvalidArgument(
            f"unknown columns {', '.join(map(repr, unknown))}; allowed columns: {','.join(COLUMNS)}", field="csv"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidArgument(f"columns appear more than once: {', '.join(repeated)}", field="csv")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise InvalidArgument(f"required columns are missing: {', '.join(missing)}", field="csv")
    return {name: position for position, name in enumerate(names)}


def _draft(record: list[str], header: dict[str, int]) -> ProductDraft:
    if len(record) != len(header):
        raise InvalidArgument(f"the record has {len(record)} fields but the header has {len(header)}")
    cells = {name: record[position] for name, position in header.items()}
    currency = cells["currency"].strip()
    return ProductDraft(
        sku=cells["sku"].strip(),
        title=cells["title"],
        brand=cells.get("brand", ""),
        gtin=cells.get("gtin", ""),
        mpn=cells.get("mpn", ""),
        category_id=cells.get("category_id", "").strip(),
        cost=_money(cells.get("cost", ""), currency, "cost"),
        price=_money(cells["price"], currency, "price"),
        map_price=_money(cells.get("map_price", ""), currency, "map_price"),
        stock=_stock(cells.get("stock", "")),
        attributes=_attributes(cells.get("attributes", "")),
        status=_status(cells.get("status", "")),
    )


def _money(cell: str, currency: str, field: str) -> MoneyInput | None:
    if not cell.strip():
        return None
    money = Money.parse(cell, currency, field=field)
    return MoneyInput(money.amount_minor, money.currency)


def _stock(cell: str) -> int:
    text = cell.strip()
    if not text:
        return 0
    if not text.lstrip("-").isdigit() or not text.isascii() or len(text) > 20:
        raise InvalidArgument(f"stock must be a whole number, got {text[:40]!r}", field="stock")
    return int(text)


def _status(cell: str) -> ProductStatus | None:
    text = cell.strip().upper()
    if not text:
        return None
    try:
        return ProductStatus(text)
    except ValueError:
        raise InvalidArgument(
            f"status must be one of {', '.join(s.value for s in ProductStatus)}, got {cell[:40]!r}", field="status"
        ) from None


def _attributes(cell: str) -> dict[str, str]:
    if not cell.strip():
        return {}
    try:
        value = json.loads(cell)
    except ValueError as error:
        raise InvalidArgument(f"attributes must be a JSON object: {error}", field="attributes") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(
            'attributes must be a JSON object of text values, like {"colour":"red"}', field="attributes"
        )
    return value
