"""Sales ledger rules: order line validation with clear field errors, line queries and daily demand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.analytics import domain
from services.analytics.domain import DemandPoint, LineFilter, MoneyInput
from services.analytics.tests.support import DAY_1, NOW, draft, eur, line
from services.product import domain as catalog


def refusal(**fields: Any) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_line(draft(**fields), now=NOW)
    return caught.value


# --- order lines ----------------------------------------------------------------------------------

BAD_LINES: list[tuple[dict[str, Any], str, str]] = [
    ({"order_id": ""}, "order_id", "1-64"),
    ({"order_id": "x" * 65}, "order_id", "1-64"),
    ({"order_id": "A 1001"}, "order_id", "ASCII"),
    ({"order_id": "Bestellung-Größe"}, "order_id", "ASCII"),
    ({"order_id": "A-1\n"}, "order_id", "ASCII"),
    ({"order_id": "A,1"}, "order_id", "ASCII"),
    ({"line_no": 0}, "line_no", "from 1"),
    ({"line_no": -3}, "line_no", "from 1"),
    ({"line_no": 2**31}, "line_no", "from 1"),
    ({"sku": ""}, "sku", "1-64"),
    ({"sku": "a/b"}, "sku", "ASCII"),
    ({"sku": "tasse-ü"}, "sku", "ASCII"),
    ({"sku": "x" * 65}, "sku", "1-64"),
    ({"quantity": 0}, "quantity", "must not be zero"),
    ({"quantity": 10**9 + 1}, "quantity", "between"),
    ({"quantity": -(10**9) - 1}, "quantity", "between"),
    ({"quantity": 2**63 - 1}, "quantity", "between"),
    ({"quantity": 10**9, "unit_price": eur(10**7)}, "quantity", "out of range"),
    ({"unit_price": None}, "unit_price", "required"),
    ({"unit_price": eur(-1)}, "unit_price", "must not be negative"),
    ({"unit_price": eur(10**15 + 1)}, "unit_price", "out of range"),
    ({"unit_price": MoneyInput(100, "XYZ")}, "unit_price.currency", "unknown currency"),
    ({"unit_price": MoneyInput(100, "eur")}, "unit_price.currency", "ISO 4217"),
    ({"unit_price": MoneyInput(100, "")}, "unit_price.currency", "ISO 4217"),
    ({"unit_price": MoneyInput(100, "XAU")}, "unit_price.currency", "not a currency"),
    ({"time": None}, "time", "required"),
    ({"time": datetime(2026, 3, 1, 9, 30)}, "time", "UTC offset"),  # naive on purpose
    ({"time": datetime(1999, 12, 31, 23, 59, tzinfo=UTC)}, "time", "before 2000-01-01"),
    ({"time": NOW + timedelta(minutes=5, milliseconds=1)}, "time", "in the future"),
    ({"time": datetime.max.replace(tzinfo=UTC)}, "time", "in the future"),
    ({"channel": ""}, "channel", "1-32"),
    ({"channel": "Web"}, "channel", "lower-case"),
    ({"channel": "web shop"}, "channel", "lower-case"),
    ({"channel": "wéb"}, "channel", "lower-case"),
    ({"channel": "x" * 33}, "channel", "1-32"),
]


@pytest.mark.parametrize(
    ("fields", "field", "says"), BAD_LINES, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_LINES)]
)
def test_bad_lines_are_refused_naming_the_field(fields: dict[str, Any], field: str, says: str) -> None:
    error = refusal(**fields)
    assert error.field == field
    assert says in error.message


def test_a_huge_value_is_shown_shortened_in_the_message() -> None:
    error = refusal(order_id="x" * 1_000_000)
    assert len(error.message) < 200


@pytest.mark.parametrize(
    "fields",
    [
        {"order_id": "web/2026#A-1.x:1_b"},
        {"order_id": "x" * 64, "line_no": 2**31 - 1},
        {"sku": "SKU_2.v3:blue"},
        {"quantity": -3},
        {"quantity": 10**9, "unit_price": eur(10**6)},
        {"unit_price": eur(0)},
        {"unit_price": MoneyInput(500, "JPY")},
        {"time": NOW + timedelta(minutes=5)},
        {"time": datetime(2000, 1, 1, tzinfo=UTC)},
        {"channel": "marketplace_eu-1"},
        {"channel": "x" * 32},
    ],
)
def test_valid_lines_are_accepted(fields: dict[str, Any]) -> None:
    valid = domain.validate_line(draft(**fields), now=NOW)
    for name, value in fields.items():
        if name not in ("unit_price", "time"):
            assert getattr(valid, name) == value


def test_a_return_has_negative_revenue() -> None:
    assert line(quantity=-2, unit_price=eur(1999)).revenue_minor == -3998


def test_time_is_converted_to_utc_in_whole_milliseconds() -> None:
    berlin = timezone(timedelta(hours=1))
    valid = line(time=datetime(2026, 3, 1, 23, 30, 0, 123_456, tzinfo=berlin))
    assert valid.time == datetime(2026, 3, 1, 22, 30, 0, 123_000, tzinfo=UTC)
    assert valid.time.tzinfo is UTC
    assert valid.day == date(2026, 3, 1)
    assert line(time=datetime(2026, 3, 2, 0, 30, tzinfo=berlin)).day == date(2026, 3, 1)


def test_the_natural_key_is_order_and_line() -> None:
    valid = line("A-7", 3)
    assert (valid.natural_key, valid.key, draft("A-7", 3).key) == (("A-7", 3), "A-7/3", "A-7/3")


def test_the_sku_syntax_is_the_catalogs() -> None:
    assert domain.SKU_PATTERN.pattern == catalog.SKU_PATTERN.pattern


# --- listing --------------------------------------------------------------------------------------


def test_a_line_query_rounds_bounds_up_to_whole_milliseconds() -> None:
    start = DAY_1.replace(microsecond=500)
    end = DAY_1.replace(microsecond=2_000)
    query = domain.line_query(LineFilter(sku="mug-1", start_time=start, end_time=end))
    assert query == domain.LineQuery("mug-1", DAY_1.replace(microsecond=1_000), end)
    at_start = line(time=DAY_1)
    assert not domain.line_matches(query, at_start)
    assert domain.line_matches(query, line(time=DAY_1.replace(microsecond=1_000)))
    assert not domain.line_matches(query, line(time=end))
    assert domain.line_query(LineFilter(end_time=datetime.max.replace(tzinfo=UTC))).end == datetime.max.replace(
        tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("request_filter", "field"),
    [
        (LineFilter(start_time=DAY_1, end_time=DAY_1 - timedelta(seconds=1)), "filter.start_time"),
        (LineFilter(sku="a b"), "filter.sku"),
    ],
)
def test_bad_line_filters_are_refused(request_filter: LineFilter, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.line_query(request_filter)
    assert caught.value.field == field


# --- demand ---------------------------------------------------------------------------------------


def test_a_demand_query_keeps_distinct_skus_in_order() -> None:
    query = domain.demand_query(["b-1", "a-1", "b-1"], "2026-03-01", "2026-03-31")
    assert query == domain.DemandQuery(("b-1", "a-1"), date(2026, 3, 1), date(2026, 3, 31))
    assert domain.demand_query(["a"], "2024-01-01", "2025-12-31").end_day == date(2025, 12, 31)


@pytest.mark.parametrize(
    ("skus", "start", "end", "field", "says"),
    [
        ([], "2026-03-01", "2026-03-01", "skus", "at least one"),
        ([f"s-{i}" for i in range(1_001)], "2026-03-01", "2026-03-01", "skus", "at most 1,000"),
        (["ok", "not ok"], "2026-03-01", "2026-03-01", "skus[1]", "sku must be"),
        (["a"], "2026-3-1", "2026-03-01", "start_day", "YYYY-MM-DD"),
        (["a"], "", "2026-03-01", "start_day", "YYYY-MM-DD"),
        (["a"], "2026-03-01T00:00", "2026-03-01", "start_day", "YYYY-MM-DD"),
        (["a"], "\uff12\uff10\uff12\uff16-03-01", "2026-03-01", "start_day", "YYYY-MM-DD"),
        (["a"], "2026-03-01", "2026-02-30", "end_day", "not a calendar day"),
        (["a"], "2026-03-02", "2026-03-01", "start_day", "after"),
        (["a"], "2024-01-01", "2026-01-01", "end_day", "at most 731 days"),
    ],
)
def test_bad_demand_queries_are_refused(skus: list[str], start: str, end: str, field: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.demand_query(skus, start, end)
    assert (caught.value.field, says in caught.value.message) == (field, True), caught.value.message


def test_demand_sums_per_sku_day_and_unit_price() -> None:
    query = domain.demand_query(["mug-1", "cup-1"], "2026-03-01", "2026-03-02")
    lines = [
        line("A-1", 1, quantity=2, unit_price=eur(1000)),
        line("A-2", 1, quantity=3, unit_price=eur(1000), time=DAY_1.replace(hour=23, minute=59)),
        line("A-3", 1, quantity=-1, unit_price=eur(1000)),
        line("A-4", 1, quantity=1, unit_price=eur(900)),
        line("A-5", 1, quantity=4, unit_price=MoneyInput(1000, "USD")),
        line("A-6", 1, quantity=1, unit_price=eur(1000), time=DAY_1 + timedelta(days=1)),
        line("A-7", 1, quantity=9, time=DAY_1 + timedelta(days=2)),
        line("A-8", 1, quantity=9, sku="other"),
    ]
    series = domain.demand_series(["cup-1", "mug-1", "cup-1"], domain.aggregate_demand(query, lines))
    march_1, march_2 = date(2026, 3, 1), date(2026, 3, 2)
    assert [s.sku for s in series] == ["cup-1", "mug-1", "cup-1"]
    assert series[0].points == ()
    assert series[1].points == (
        DemandPoint(march_1, Money(900, "EUR"), 1, 900, 1),
        DemandPoint(march_1, Money(1000, "EUR"), 4, 4000, 3),
        DemandPoint(march_1, Money(1000, "USD"), 4, 4000, 1),
        DemandPoint(march_2, Money(1000, "EUR"), 1, 1000, 1),
    )


def test_epoch_days_round_trip() -> None:
    for day in (date(1970, 1, 1), date(2026, 3, 1), date(2000, 2, 29)):
        assert domain.day_of_epoch(domain.epoch_day(day)) == day
    assert domain.epoch_day(date(1970, 1, 2)) == 1
