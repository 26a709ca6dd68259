"""Sales ledger use cases on a real SQLite file: roles, tenancy, idempotence, corrections, CSV, paging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from runtime.auth import Role
from runtime.errors import InvalidArgument, PermissionDenied
from runtime.pagination import decode_token, encode_token
from services.analytics import csv_io
from services.analytics.domain import LineFilter, OrderLine
from services.analytics.tests.support import DAY_1, ORG_B, FakeClock, draft, eur, line, principal
from services.analytics.use_cases import MAX_IMPORT_LINES, MAX_INGEST_LINES, SalesLedger

MANAGER = principal()
VIEWER = principal(Role.VIEWER, subject="usr_viewer")
ANALYST = principal(Role.ANALYST, subject="usr_analyst")
OTHER_ORG = principal(organization_id=ORG_B, subject="usr_b")
CSV_HEADER = csv_io.HEADER + "\n"


async def listed(ledger: SalesLedger, who: Any = MANAGER, request: LineFilter | None = None) -> list[OrderLine]:
    page = await ledger.list_lines(who, request or LineFilter(), page_size_requested=1000, page_token="")
    return page.items


# --- roles ----------------------------------------------------------------------------------------

WRITES: dict[str, Callable[[SalesLedger, Any], Awaitable[object]]] = {
    "ingest": lambda ledger, who: ledger.ingest(who, [draft()]),
    "import": lambda ledger, who: ledger.import_csv(who, csv_io.export_csv([line()])),
}


@pytest.mark.parametrize("write", WRITES, ids=list(WRITES))
@pytest.mark.parametrize("who", [VIEWER, ANALYST], ids=["viewer", "analyst"])
async def test_writes_need_the_pricing_manager_role(ledger: SalesLedger, write: str, who: Any) -> None:
    with pytest.raises(PermissionDenied, match="pricing_manager"):
        await WRITES[write](ledger, who)
    assert await listed(ledger) == []


async def test_viewers_read_lines_and_demand(ledger: SalesLedger) -> None:
    await ledger.ingest(MANAGER, [draft()])
    assert await listed(ledger, VIEWER) == [line()]
    (series,) = await ledger.demand(VIEWER, ["mug-1"], start_day="2026-03-01", end_day="2026-03-01")
    assert [(p.units, p.revenue_minor, p.lines) for p in series.points] == [(2, 3998, 1)]


# --- ingesting ------------------------------------------------------------------------------------


async def test_ingesting_again_changes_nothing_and_other_values_correct_the_line(ledger: SalesLedger) -> None:
    batch = [draft("A-1", 1), draft("A-1", 2, sku="cup-1"), draft("A-2", 1, quantity=-1)]
    first = await ledger.ingest(MANAGER, batch)
    again = await ledger.ingest(MANAGER, batch)
    corrected = await ledger.ingest(MANAGER, [draft("A-1", 2, sku="cup-1", quantity=3), draft("A-3", 1)])

    assert (first.created, first.updated, first.unchanged, first.errors) == (3, 0, 0, [])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert (corrected.created, corrected.updated, corrected.unchanged) == (1, 1, 0)
    stored = {item.key: item.quantity for item in await listed(ledger)}
    assert stored == {"A-1/1": 2, "A-1/2": 3, "A-2/1": -1, "A-3/1": 2}


async def test_a_time_differing_below_a_millisecond_is_the_same_line(ledger: SalesLedger) -> None:
    await ledger.ingest(MANAGER, [draft(time=DAY_1.replace(microsecond=1_000))])
    again = await ledger.ingest(MANAGER, [draft(time=DAY_1.replace(microsecond=1_999))])
    assert (again.updated, again.unchanged) == (0, 1)


async def test_any_bad_line_writes_nothing_and_every_problem_is_reported(ledger: SalesLedger) -> None:
    await ledger.ingest(MANAGER, [draft("A-0", 1, quantity=1)])
    batch = [
        draft("A-0", 1, quantity=9),
        draft("A-1", 1, quantity=0),
        draft("A-2", 1),
        draft("A-2", 1, quantity=5),
        draft("A-3", 1, unit_price=eur(-5), channel="Web"),
        draft("A-4", 1, unit_price=None),
        draft("A-2", 1),
    ]
    result = await ledger.ingest(MANAGER, batch)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 0)
    assert [(e.row, e.key, e.field) for e in result.errors] == [
        (1, "A-1/1", "quantity"),
        (3, "A-2/1", "line_no"),
        (4, "A-3/1", "unit_price"),
        (5, "A-4/1", "unit_price"),
        (6, "A-2/1", "line_no"),
    ]
    assert "appears more than once in this batch (first at row 2)" in result.errors[1].message
    assert [(item.key, item.quantity) for item in await listed(ledger)] == [("A-0/1", 1)]


async def test_times_ahead_of_the_ledgers_clock_are_refused(ledger: SalesLedger, clock: FakeClock) -> None:
    clock.now = DAY_1
    result = await ledger.ingest(MANAGER, [draft(time=DAY_1 + timedelta(minutes=6))])
    assert [(e.field, "future" in e.message) for e in result.errors] == [("time", True)]
    clock.now = DAY_1 + timedelta(minutes=2)
    assert (await ledger.ingest(MANAGER, [draft(time=DAY_1 + timedelta(minutes=6))])).created == 1


async def test_at_most_ten_thousand_lines_per_call(ledger: SalesLedger) -> None:
    assert MAX_INGEST_LINES == 10_000
    with pytest.raises(InvalidArgument) as caught:
        await ledger.ingest(MANAGER, [draft(f"A-{index}") for index in range(MAX_INGEST_LINES + 1)])
    assert (caught.value.field, caught.value.message) == ("lines", "at most 10,000 lines per call, got 10,001")
    empty = await ledger.ingest(MANAGER, [])
    assert (empty.created, empty.updated, empty.unchanged, empty.errors) == (0, 0, 0, [])


async def test_organisation_b_never_sees_organisation_a(ledger: SalesLedger) -> None:
    await ledger.ingest(MANAGER, [draft("A-1", 1, quantity=1)])
    mine = await ledger.ingest(OTHER_ORG, [draft("A-1", 1, quantity=4)])
    assert mine.created == 1
    assert [item.quantity for item in await listed(ledger, OTHER_ORG)] == [4]
    assert [item.quantity for item in await listed(ledger, MANAGER)] == [1]
    (series,) = await ledger.demand(OTHER_ORG, ["mug-1"], start_day="2026-03-01", end_day="2026-03-01")
    assert [point.units for point in series.points] == [4]
    stranger = principal(Role.OWNER, organization_id="org_c")
    assert await listed(ledger, stranger) == []
    (nothing,) = await ledger.demand(stranger, ["mug-1"], start_day="2026-03-01", end_day="2026-03-01")
    assert nothing.points == ()


def ingested_total(outcome: str) -> float:
    return REGISTRY.get_sample_value("omnipricex_order_lines_ingested_total", {"outcome": outcome}) or 0.0


async def test_ingested_lines_are_counted_by_outcome(ledger: SalesLedger) -> None:
    before = {outcome: ingested_total(outcome) for outcome in ("created", "updated", "unchanged")}
    await ledger.ingest(MANAGER, [draft("A-1"), draft("A-2")])
    await ledger.ingest(MANAGER, [draft("A-1"), draft("A-2", quantity=9)])
    await ledger.ingest(MANAGER, [draft("A-3", quantity=0)])
    after = {outcome: ingested_total(outcome) - before[outcome] for outcome in before}
    assert after == {"created": 2, "updated": 1, "unchanged": 1}


# --- CSV ------------------------------------------------------------------------------------------


async def test_a_csv_import_writes_its_lines_and_is_idempotent(ledger: SalesLedger) -> None:
    lines = [line(f"C-{index}", 1 + index % 2, quantity=index + 1) for index in range(20)]
    data = csv_io.export_csv(lines)
    first = await ledger.import_csv(MANAGER, data)
    again = await ledger.import_csv(MANAGER, data)
    assert (first.created, again.unchanged) == (20, 20)
    assert sorted(await listed(ledger), key=lambda item: item.key) == sorted(lines, key=lambda item: item.key)


async def test_a_csv_with_any_bad_record_writes_nothing(ledger: SalesLedger) -> None:
    data = (
        CSV_HEADER
        + "C-1,1,mug-1,1,1.00,EUR,2026-03-01T09:30:00Z,web\n"
        + "C-2,1,mug-1,1,1.00,EUR,2026-03-01T09:30:00,web\n"
        + "C-1,1,mug-1,2,1.00,EUR,2026-03-01T09:30:00Z,web\n"
        + "C-3,1,mug-1,1,-1.00,EUR,2026-03-01T09:30:00Z,web\n"
        + "C-4,1,mug-1,1,1.00,EUR,2099-03-01T09:30:00Z,web\n"
    )
    result = await ledger.import_csv(MANAGER, data.encode())
    assert [(e.row, e.key, e.field) for e in result.errors] == [
        (1, "C-2/1", "time"),
        (2, "C-1/1", "line_no"),
        (3, "C-3/1", "unit_price"),
        (4, "C-4/1", "time"),
    ]
    assert await listed(ledger) == []


async def test_csv_imports_are_bounded(ledger: SalesLedger) -> None:
    assert MAX_IMPORT_LINES == 100_000
    record = b"C-1,1,mug-1,1,1.00,EUR,2026-03-01T09:30:00Z,web\n"
    with pytest.raises(InvalidArgument, match="at most 100,000 lines"):
        await ledger.import_csv(MANAGER, CSV_HEADER.encode() + record * (MAX_IMPORT_LINES + 1))
    with pytest.raises(InvalidArgument, match="larger than 64 MiB"):
        await ledger.import_csv(MANAGER, CSV_HEADER.encode() + b" " * (64 * 1024 * 1024))
    with pytest.raises(InvalidArgument, match="header must be exactly"):
        await ledger.import_csv(MANAGER, b"\x00\x01\x02")


# --- listing --------------------------------------------------------------------------------------


@pytest.fixture
async def many(ledger: SalesLedger) -> list[OrderLine]:
    # Ten orders at the same moment and five a minute later: ties order by order_id, then line_no.
    drafts = [draft(f"T-{index % 10}", 1 + index // 10, time=DAY_1) for index in range(20)]
    drafts += [draft(f"S-{index}", 1, time=DAY_1 + timedelta(minutes=1), sku="cup-1") for index in range(5)]
    await ledger.ingest(MANAGER, drafts)
    return [line(d.order_id, d.line_no, time=d.time, sku=d.sku) for d in drafts]


async def test_listing_pages_through_everything_in_order(ledger: SalesLedger, many: list[OrderLine]) -> None:
    seen: list[OrderLine] = []
    token = ""
    pages = 0
    while True:
        page = await ledger.list_lines(VIEWER, LineFilter(), page_size_requested=4, page_token=token)
        seen.extend(page.items)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(many, key=lambda item: (item.time, item.order_id, item.line_no))
    assert pages == 7


async def test_listing_filters_by_sku_and_time(ledger: SalesLedger, many: list[OrderLine]) -> None:
    by_sku = await listed(ledger, VIEWER, LineFilter(sku="cup-1"))
    assert [item.order_id for item in by_sku] == [f"S-{index}" for index in range(5)]
    later = await listed(ledger, VIEWER, LineFilter(start_time=DAY_1 + timedelta(seconds=1)))
    assert later == by_sku
    earlier = await listed(ledger, VIEWER, LineFilter(end_time=DAY_1 + timedelta(minutes=1)))
    assert len(earlier) == 20


async def test_page_tokens_belong_to_their_filter(ledger: SalesLedger, many: list[OrderLine]) -> None:
    page = await ledger.list_lines(VIEWER, LineFilter(), page_size_requested=2, page_token="")
    with pytest.raises(InvalidArgument, match="different filter"):
        await ledger.list_lines(VIEWER, LineFilter(sku="cup-1"), page_size_requested=2, page_token=page.next_page_token)
    tampered = encode_token(decode_token(page.next_page_token) | {"ms": "soon"})
    overflowing = encode_token(decode_token(page.next_page_token) | {"ms": 10**20})
    for token in ("not-a-token", tampered, overflowing):
        with pytest.raises(InvalidArgument) as caught:
            await ledger.list_lines(VIEWER, LineFilter(), page_size_requested=2, page_token=token)
        assert caught.value.field == "page_token"
    with pytest.raises(InvalidArgument):
        await ledger.list_lines(VIEWER, LineFilter(), page_size_requested=-1, page_token="")


async def test_demand_answers_in_request_order(ledger: SalesLedger, many: list[OrderLine]) -> None:
    series = await ledger.demand(
        VIEWER, ["cup-1", "none-1", "mug-1", "cup-1"], start_day="2026-03-01", end_day="2026-03-01"
    )
    assert [(s.sku, sum(p.units for p in s.points)) for s in series] == [
        ("cup-1", 10),
        ("none-1", 0),
        ("mug-1", 40),
        ("cup-1", 10),
    ]
    with pytest.raises(InvalidArgument) as caught:
        await ledger.demand(VIEWER, ["mug-1"], start_day="2026-03-02", end_day="2026-03-01")
    assert caught.value.field == "start_day"
