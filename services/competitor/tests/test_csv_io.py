"""Offer and observation CSV: columns in any order, file-level refusals and per-record errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runtime.errors import InvalidArgument
from services.competitor import csv_io
from services.competitor.domain import OfferDraft, RowError

SHOP = "cmp_" + "0" * 25 + "1"


def test_offers_are_read_with_their_record_index() -> None:
    text = (
        "competitor_id,url,sku,title\r\n"
        f'{SHOP},https://shop.example/a,A-1,"Mug ""Classic"", 0,3 l"\r\n'
        "\r\n"
        f"{SHOP}, https://shop.example/b ,B-1,東京 🎉\r\n"
    )
    parsed = csv_io.parse_offers(text.encode("utf-8-sig"))
    assert parsed.errors == []
    assert parsed.rows == [
        (0, OfferDraft(SHOP, "https://shop.example/a", "A-1", 'Mug "Classic", 0,3 l')),
        (1, OfferDraft(SHOP, "https://shop.example/b", "B-1", "東京 🎉")),
    ]


def test_offer_columns_may_come_in_any_order_and_title_may_be_left_out() -> None:
    parsed = csv_io.parse_offers(f"sku,competitor_id,url\nA-1,{SHOP},https://shop.example/a\n".encode())
    assert parsed.rows == [(0, OfferDraft(SHOP, "https://shop.example/a", "A-1", ""))]


def test_a_record_with_the_wrong_number_of_fields_is_a_row_error() -> None:
    parsed = csv_io.parse_offers(
        f"competitor_id,url,sku\n{SHOP},https://s.example/a\n{SHOP},https://s.example/b,B\n".encode()
    )
    assert parsed.errors == [
        RowError(0, f"{SHOP}/https://s.example/a", "", "the record has 2 fields but the header has 3")
    ]
    assert [index for index, _ in parsed.rows] == [1]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "the CSV is empty"),
        (b"\n", "the CSV is empty"),
        (b"competitor_id,url,sku,colour\n", "unknown columns 'colour'"),
        (b"competitor_id,url,sku,sku\n", "more than once: sku"),
        (b"competitor_id,sku\n", "required columns are missing: url"),
        (b"competitor_id,url,sku\n\xff\xfe,x,y\n", "not UTF-8: byte 0xff at offset 22 (line 2)"),
        (b'competitor_id,url,sku\n"open,x,y\n', "malformed"),
    ],
)
def test_unreadable_offer_files_are_refused_as_a_whole(data: bytes, says: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        csv_io.parse_offers(data)
    assert caught.value.field == "csv"
    assert says in caught.value.message


def test_observations_are_read_with_times_flags_and_decimal_prices() -> None:
    text = (
        "competitor_id,url,observe_time,price,currency,in_stock\n"
        f"{SHOP},https://s.example/a,2026-03-01T09:30:00Z,19.99,EUR,true\n"
        f"{SHOP},https://s.example/a,2026-03-01T10:30:00.123+01:00,1980,,NO\n"
    )
    parsed = csv_io.parse_observations(text.encode())
    assert parsed.errors == []
    (_, first), (_, second) = parsed.rows
    assert (first.observe_time, first.price, first.currency, first.in_stock) == (
        datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        "19.99",
        "EUR",
        True,
    )
    assert second.observe_time == datetime(2026, 3, 1, 10, 30, 0, 123000, tzinfo=timezone(timedelta(hours=1)))
    assert (second.currency, second.in_stock) == ("", False)
    assert second.key_text == f"{SHOP}/https://s.example/a@2026-03-01T10:30:00.123000+01:00"


@pytest.mark.parametrize(
    ("time", "stock", "field"),
    [
        ("2026-03-01 09:30", "1", "observe_time"),
        ("2026-03-01T09:30:00", "1", "observe_time"),
        ("2026-03-01", "1", "observe_time"),
        ("yesterday", "1", "observe_time"),
        ("2026-03-01T09:30:00Z", "maybe", "in_stock"),
        ("2026-03-01T09:30:00Z", "", "in_stock"),
    ],
)
def test_bad_observation_records_are_row_errors(time: str, stock: str, field: str) -> None:
    text = f"competitor_id,url,observe_time,price,in_stock\n{SHOP},https://s.example/a,{time},1.00,{stock}\n"
    parsed = csv_io.parse_observations(text.encode())
    assert parsed.rows == []
    assert [(error.row, error.field) for error in parsed.errors] == [(0, field)]
    assert parsed.errors[0].key == f"{SHOP}/https://s.example/a@{time}"


def test_observation_files_need_their_columns() -> None:
    with pytest.raises(InvalidArgument, match="required columns are missing: observe_time, in_stock"):
        csv_io.parse_observations(b"competitor_id,url,price\n")
