"""Order lines as CSV: round trips, file-level refusals and per-record errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runtime.errors import InvalidArgument
from services.analytics import csv_io, domain
from services.analytics.domain import MoneyInput, OrderLineDraft
from services.analytics.tests.support import NOW, eur, line

HEADER = "order_id,line_no,sku,quantity,unit_price,currency,time,channel"


def parse(text: str, *, max_rows: int = 100) -> csv_io.ParsedCsv:
    return csv_io.parse_csv(text.encode(), max_rows=max_rows)


def refused_file(data: bytes) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        csv_io.parse_csv(data, max_rows=100)
    assert caught.value.field == "csv"
    return caught.value


def test_the_header_is_the_one_the_contract_names() -> None:
    assert csv_io.HEADER == HEADER


def test_export_then_parse_gives_back_the_same_lines() -> None:
    originals = [
        line("A-1001", 1),
        line("web/2026#7", 2, quantity=-1, unit_price=MoneyInput(500, "JPY"), channel="store"),
        line("B.1:x", 3, unit_price=MoneyInput(12345, "KWD"), time=datetime(2026, 3, 1, 23, 59, 59, 999_000, UTC)),
        line("C-1", 1, unit_price=eur(0)),
    ]
    exported = csv_io.export_csv(originals)
    assert exported.decode().split("\r\n")[:2] == [HEADER, "A-1001,1,mug-1,2,19.99,EUR,2026-03-01T09:30:00.000Z,web"]
    parsed = csv_io.parse_csv(exported, max_rows=100)
    assert parsed.errors == []
    assert [index for index, _ in parsed.rows] == [0, 1, 2, 3]
    assert [domain.validate_line(draft, now=NOW) for _, draft in parsed.rows] == originals


def test_a_byte_order_mark_blank_lines_spaces_and_any_offset_are_accepted() -> None:
    text = (
        "\ufeff" + HEADER + "\r\n\r\n"
        " A-1 , 1 , mug-1 , -2 , 19.99 , EUR , 2026-03-01T10:30:00.123456789+01:00 , web \r\n"
        "A-2,1,mug-1,3,5,JPY,2026-03-01 09:30:00z,store\n"
    )
    parsed = csv_io.parse_csv(text.encode(), max_rows=100)
    assert parsed.errors == []
    assert parsed.rows == [
        (
            0,
            OrderLineDraft(
                "A-1", 1, "mug-1", -2, eur(1999), datetime(2026, 3, 1, 9, 30, 0, 123_456, tzinfo=UTC), "web"
            ),
        ),
        (
            1,
            OrderLineDraft(
                "A-2", 1, "mug-1", 3, MoneyInput(5, "JPY"), datetime(2026, 3, 1, 9, 30, tzinfo=UTC), "store"
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("record", "field", "says"),
    [
        ("A-1,1,mug-1,2,19.99,EUR,2026-03-01T09:30:00Z", "", "7 fields but the header has 8"),
        ("A-1,1,mug-1,2,19.99,EUR,2026-03-01T09:30:00Z,web,extra", "", "9 fields"),
        ("A-1,one,mug-1,2,19.99,EUR,2026-03-01T09:30:00Z,web", "line_no", "whole number"),
        ("A-1,1,mug-1,2.5,19.99,EUR,2026-03-01T09:30:00Z,web", "quantity", "whole number"),
        ("A-1,1,mug-1,\uff11,19.99,EUR,2026-03-01T09:30:00Z,web", "quantity", "whole number"),
        ("A-1,1,mug-1,99999999999999999999,19.99,EUR,2026-03-01T09:30:00Z,web", "quantity", "whole number"),
        ("A-1,1,mug-1,2,,EUR,2026-03-01T09:30:00Z,web", "unit_price", "required"),
        ("A-1,1,mug-1,2,19.999,EUR,2026-03-01T09:30:00Z,web", "unit_price", "more decimals"),
        ("A-1,1,mug-1,2,19.99,JPY,2026-03-01T09:30:00Z,web", "unit_price", "more decimals"),
        ("A-1,1,mug-1,2,1e3,EUR,2026-03-01T09:30:00Z,web", "unit_price", "decimal amount"),
        ("A-1,1,mug-1,2,19.99,XYZ,2026-03-01T09:30:00Z,web", "currency", "unknown currency"),
        ("A-1,1,mug-1,2,19.99,,2026-03-01T09:30:00Z,web", "currency", "ISO 4217"),
        ("A-1,1,mug-1,2,19.99,EUR,2026-03-01T09:30:00,web", "time", "with an offset"),
        ("A-1,1,mug-1,2,19.99,EUR,2026-03-01,web", "time", "RFC 3339"),
        ("A-1,1,mug-1,2,19.99,EUR,1772357400,web", "time", "RFC 3339"),
        ("A-1,1,mug-1,2,19.99,EUR,2026-02-30T09:30:00Z,web", "time", "not a valid moment"),
        ("A-1,1,mug-1,2,19.99,EUR,2026-03-01T09:30:00+25:00,web", "time", "not a valid moment"),
        ("A-1,1,mug-1,2,19.99,EUR,0001-01-01T00:30:00+01:00,web", "time", "not a valid moment"),
        ("A-1,1,mug-1,2,19.99,EUR,9999-12-31T23:30:00-01:00,web", "time", "not a valid moment"),
    ],
)
def test_unreadable_records_become_row_errors(record: str, field: str, says: str) -> None:
    parsed = parse(f"{HEADER}\nOK-1,1,mug-1,1,1.00,EUR,2026-03-01T09:30:00Z,web\n{record}\n")
    assert [index for index, _ in parsed.rows] == [0]
    ((error),) = parsed.errors
    order_id, line_no = record.split(",")[:2]
    assert (error.row, error.key, error.field) == (1, f"{order_id}/{line_no}", field)
    assert says in error.message, error.message


def test_values_that_read_but_break_the_rules_are_left_to_validation() -> None:
    parsed = parse(f"{HEADER}\nA-1,1,mug-1,2,-19.99,EUR,2026-03-01T09:30:00Z,Web\n")
    ((_, draft),) = parsed.rows
    assert (draft.unit_price, draft.channel) == (MoneyInput(-1999, "EUR"), "Web")


def test_bytes_that_are_not_utf8_refuse_only_their_record() -> None:
    data = (
        f"{HEADER}\n".encode()
        + "A-1,1,tasse-größe,1,1.00,EUR,2026-03-01T09:30:00Z,web\n".encode("latin-1")
        + b"A-2,1,mug-1,1,1.00,EUR,2026-03-01T09:30:00Z,web\n"
    )
    parsed = csv_io.parse_csv(data, max_rows=100)
    assert [index for index, _ in parsed.rows] == [1]
    ((error),) = parsed.errors
    assert (error.row, error.key, error.message) == (0, "A-1/1", "the record is not UTF-8 text (byte 0xf6)")


def test_malformed_quoting_refuses_that_record_and_reading_goes_on() -> None:
    parsed = parse(
        f'{HEADER}\n"A-1"x,1,mug-1,1,1.00,EUR,2026-03-01T09:30:00Z,web\n'
        "A-2,1,mug-1,1,1.00,EUR,2026-03-01T09:30:00Z,web\n"
        '"A-3,1,mug-1,1,1.00,EUR,2026-03-01T09:30:00Z,web\n'
    )
    assert [index for index, _ in parsed.rows] == [1]
    assert [(error.row, error.key) for error in parsed.errors] == [(0, ""), (2, "")]
    assert all("malformed" in error.message for error in parsed.errors)


def test_unicode_in_a_field_is_read_and_left_to_validation() -> None:
    parsed = parse(f"{HEADER}\nBestellung-ä,1,東京,1,1.00,EUR,2026-03-01T09:30:00Z,web 🎉\n")
    ((_, draft),) = parsed.rows
    assert (draft.order_id, draft.sku, draft.channel) == ("Bestellung-ä", "東京", "web 🎉")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"\xef\xbb\xbf", "empty"),
        (b"order_id,line_no,sku\nA-1,1,x\n", "must be exactly"),
        (b"sku,order_id,line_no,quantity,unit_price,currency,time,channel\n", "must be exactly"),
        (b"order_id,line_no,sku,quantity,unit_price,currency,time,channel,note\n", "must be exactly"),
        (b'{"lines": []}', "must be exactly"),
        (HEADER.encode("utf-16"), "UTF-16"),
        (b'"order_id\n', "malformed"),
    ],
)
def test_files_that_are_not_this_csv_are_refused_whole(data: bytes, says: str) -> None:
    assert says in refused_file(data).message


def test_a_header_alone_is_an_empty_import() -> None:
    parsed = parse(HEADER + "\r\n")
    assert (parsed.rows, parsed.errors) == ([], [])


def test_more_records_than_allowed_are_refused_whole() -> None:
    record = "A-{},1,mug-1,1,1.00,EUR,2026-03-01T09:30:00Z,web\n"
    exactly = HEADER + "\n" + "".join(record.format(i) for i in range(5))
    assert len(parse(exactly, max_rows=5).rows) == 5
    with pytest.raises(InvalidArgument) as caught:
        parse(exactly + record.format(99), max_rows=5)
    assert "at most 5 lines" in caught.value.message
