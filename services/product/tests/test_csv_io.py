"""CSV export and import: round trips, file-level refusals and per-record errors."""

from __future__ import annotations

import pytest

from runtime.errors import InvalidArgument
from services.product import csv_io, domain
from services.product.domain import MoneyInput, ProductDraft, ProductStatus, RowError
from services.product.tests.support import ORG_A, START, draft, eur

HEADER = ",".join(csv_io.COLUMNS)


def product(product_draft: ProductDraft) -> domain.Product:
    return domain.new_product(ORG_A, product_draft.sku, domain.validate_draft(product_draft), now=START)


def parse(text: str) -> csv_io.ParsedCsv:
    return csv_io.parse_csv(text.encode())


def test_export_writes_a_header_and_money_as_decimal_strings() -> None:
    exported = csv_io.export_csv(
        [product(draft("mug-1", title="Mug", gtin="4006381333931", map_price=eur(1800), category_id="kitchen"))]
    ).decode()
    lines = exported.split("\r\n")
    assert lines[0] == HEADER
    assert lines[1] == 'mug-1,Mug,Acme,4006381333931,,kitchen,EUR,12.00,19.99,18.00,5,ACTIVE,"{""colour"":""red""}"'
    assert lines[2] == ""


def test_export_then_import_gives_back_the_same_products() -> None:
    originals = [
        product(draft("a-1", title='Mug "Classic", 0,3 l', attributes={"größe": "L", "note": "a,b"})),
        product(draft("a-2", title="東京 🎉", cost=None, attributes={}, status=ProductStatus.DRAFT)),
        product(draft("jp-1", price=MoneyInput(500, "JPY"), cost=MoneyInput(350, "JPY"), stock=0)),
        product(draft("bh-1", price=MoneyInput(1234, "BHD"), cost=None, map_price=MoneyInput(1000, "BHD"))),
    ]
    parsed = csv_io.parse_csv(csv_io.export_csv(originals))
    assert parsed.errors == []
    assert [index for index, _ in parsed.rows] == [0, 1, 2, 3]
    restored = [domain.validate_draft(row) for _, row in parsed.rows]
    assert restored == [p.content for p in originals]
    assert [row.sku for _, row in parsed.rows] == ["a-1", "a-2", "jp-1", "bh-1"]


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out() -> None:
    parsed = parse("price,currency,sku,title\r\n4.50,EUR,s-1,Spoon\r\n")
    assert parsed.errors == []
    ((index, row),) = parsed.rows
    assert index == 0
    assert row == ProductDraft(sku="s-1", title="Spoon", price=eur(450))


def test_a_byte_order_mark_and_blank_lines_are_ignored() -> None:
    data = ("\ufeff" + "sku,title,currency,price\n\ns-1,Spoon,EUR,1\n\ns-2,Fork,EUR,2\n").encode()
    parsed = csv_io.parse_csv(data)
    assert [(index, row.sku) for index, row in parsed.rows] == [(0, "s-1"), (1, "s-2")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the CSV is empty"),
        (b"\n\n", "the CSV is empty"),
        (b"sku,title,currency\nx,y,EUR\n", "required columns are missing: price"),
        (b"sku,title,currency,price,colour\n", "unknown columns 'colour'"),
        (b"sku,title,currency,price,sku\n", "columns appear more than once: sku"),
        (b'sku,title,currency,price\nx,"unterminated,EUR,1\n', "the CSV is malformed at line"),
        (b"sku,title,currency,price\nx,M\xfcller,EUR,1\n", "the CSV is not UTF-8: byte 0xfc at offset 28 (line 2)"),
    ],
)
def test_problems_with_the_whole_file_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        csv_io.parse_csv(data)
    assert message in caught.value.message


def test_records_that_cannot_be_read_are_reported_by_index_sku_and_field() -> None:
    parsed = parse(
        "sku,title,currency,price,cost,stock,status,attributes\r\n"
        "ok-1,Fine,EUR,1.00,,,,\r\n"
        "bad-price,x,EUR,1.999,,,,\r\n"
        "bad-amount,x,EUR,twelve,,,,\r\n"
        "bad-stock,x,EUR,1,,3.5,,\r\n"
        "bad-status,x,EUR,1,,,SOLD,\r\n"
        "bad-json,x,EUR,1,,,,{nope}\r\n"
        'bad-attrs,x,EUR,1,,,,"{""n"": 1}"\r\n'
        "bad-currency,x,EURO,1,,,,\r\n"
        "short,x,EUR\r\n"
        "ok-2,Fine,EUR,2.00,0.50,7,draft,\r\n"
    )
    assert [row.sku for _, row in parsed.rows] == ["ok-1", "ok-2"]
    assert [index for index, _ in parsed.rows] == [0, 9]
    assert [(e.row, e.sku, e.field) for e in parsed.errors] == [
        (1, "bad-price", "price"),
        (2, "bad-amount", "price"),
        (3, "bad-stock", "stock"),
        (4, "bad-status", "status"),
        (5, "bad-json", "attributes"),
        (6, "bad-attrs", "attributes"),
        (7, "bad-currency", "currency"),
        (8, "short", ""),
    ]
    assert "more decimals than EUR allows" in parsed.errors[0].message
    assert parsed.errors[7] == RowError(8, "short", "", "the record has 3 fields but the header has 8")
    assert parsed.rows[1][1].status is ProductStatus.DRAFT


def test_empty_optional_cells_mean_unset() -> None:
    ((_, row),) = parse("sku,title,currency,price,cost,map_price,stock,status,attributes\nx,T,EUR,1,,,,,\n").rows
    assert (row.cost, row.map_price, row.stock, row.status, row.attributes) == (None, None, 0, None, {})


def test_a_negative_price_is_read_and_left_to_validation_to_refuse() -> None:
    ((_, row),) = parse("sku,title,currency,price\nx,T,EUR,-5.00\n").rows
    assert row.price == eur(-500)
    with pytest.raises(InvalidArgument, match="must not be negative"):
        domain.validate_draft(row)
