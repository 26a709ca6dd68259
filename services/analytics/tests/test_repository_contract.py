"""The repository contract: the same tests on SQLite, the MongoDB stand-in and (with MONGODB_URI) MongoDB."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.analytics import domain
from services.analytics.domain import LineFilter, LinePosition, LineQuery, MoneyInput, OrderLine
from services.analytics.repository import Repositories
from services.analytics.repository.sqlite import DEMAND_QUERY
from services.analytics.tests.support import (
    DAY_1,
    ORG_A,
    ORG_B,
    FakeClock,
    bulk_lines,
    draft,
    eur,
    line,
    principal,
)
from services.analytics.use_cases import SalesLedger

pytestmark = pytest.mark.timeout(120)


async def everything(repositories: Repositories, query: LineQuery, page: int = 7) -> list[OrderLine]:
    found: list[OrderLine] = []
    while True:
        after = LinePosition(*domain.line_order(found[-1])) if found else None
        batch = await repositories.order_lines.find(ORG_A, query, after=after, limit=page)
        found.extend(batch)
        if len(batch) < page:
            return found


# --- storing --------------------------------------------------------------------------------------


async def test_stored_lines_read_back_equal(repositories: Repositories) -> None:
    stored = [
        line("A-1001", 1, time=DAY_1.replace(microsecond=123_000)),
        line("web/2026#7", 2, quantity=-1, unit_price=MoneyInput(500, "JPY"), channel="store"),
        line("B.1:x", 3, unit_price=MoneyInput(12345, "KWD"), sku="SKU_2.v3:blue"),
        line("C-1", 1, unit_price=eur(10**15), quantity=1),
    ]
    await repositories.order_lines.upsert(ORG_A, stored)
    keys = [item.natural_key for item in stored] + [("A-1001", 2), ("nope", 1)]
    found = await repositories.order_lines.get_many(ORG_A, keys)
    assert found == {item.natural_key: item for item in stored}
    assert all(item.time.tzinfo is UTC for item in found.values())
    assert await repositories.order_lines.get_many(ORG_A, []) == {}


async def test_a_line_with_the_same_key_replaces_the_stored_one(repositories: Repositories) -> None:
    await repositories.order_lines.upsert(ORG_A, [line("A-1", 1), line("A-1", 2)])
    corrected = line("A-1", 1, quantity=5, unit_price=eur(1799), sku="cup-1", channel="store")
    await repositories.order_lines.upsert(ORG_A, [corrected])
    found = await repositories.order_lines.get_many(ORG_A, [("A-1", 1), ("A-1", 2)])
    assert found == {("A-1", 1): corrected, ("A-1", 2): line("A-1", 2)}
    assert len(await everything(repositories, LineQuery())) == 2


async def test_organisations_never_see_each_others_lines(repositories: Repositories) -> None:
    await repositories.order_lines.upsert(ORG_A, [line("A-1", 1, quantity=1)])
    await repositories.order_lines.upsert(ORG_B, [line("A-1", 1, quantity=7)])
    assert (await repositories.order_lines.get_many(ORG_A, [("A-1", 1)]))[("A-1", 1)].quantity == 1
    assert (await repositories.order_lines.get_many(ORG_B, [("A-1", 1)]))[("A-1", 1)].quantity == 7
    assert await repositories.order_lines.get_many("org_c", [("A-1", 1)]) == {}
    assert await repositories.order_lines.find("org_c", LineQuery(), after=None, limit=10) == []
    query = domain.demand_query(["mug-1"], "2026-03-01", "2026-03-01")
    ((_, point),) = await repositories.order_lines.demand(ORG_B, query)
    assert point.units == 7


# --- listing and demand ---------------------------------------------------------------------------


def ledger_lines() -> list[OrderLine]:
    """Lines over three skus, five UTC days, two currencies, with returns and many equal times."""
    pick = random.Random(7)
    lines = []
    for number in range(80):
        time = DAY_1 + timedelta(hours=pick.choice([0, 6, 14.5, 24, 38, 60, 95]))
        for line_no in range(1, pick.randint(1, 3) + 1):
            currency, price = pick.choice([("EUR", 1999), ("EUR", 1799), ("EUR", 0), ("USD", 2199)])
            lines.append(
                line(
                    f"O-{pick.randint(0, 10**6):07d}-{number}",
                    line_no,
                    sku=pick.choice(["mug-1", "cup-1", "plate-1"]),
                    quantity=pick.choice([1, 1, 2, 3, -1, 12]),
                    unit_price=MoneyInput(price, currency),
                    time=time,
                    channel=pick.choice(["web", "store"]),
                )
            )
    return lines


@pytest.fixture
async def ledger_data(repositories: Repositories) -> list[OrderLine]:
    lines = ledger_lines()
    await repositories.order_lines.upsert(ORG_A, lines)
    await repositories.order_lines.upsert(ORG_B, lines[:20])
    return lines


QUERIES = [
    LineQuery(),
    LineQuery(sku="mug-1"),
    LineQuery(sku="nothing"),
    LineQuery(start=DAY_1 + timedelta(hours=6)),
    LineQuery(end=DAY_1 + timedelta(hours=24)),
    LineQuery(start=DAY_1 + timedelta(hours=6), end=DAY_1 + timedelta(hours=38)),
    LineQuery(sku="cup-1", start=DAY_1 + timedelta(hours=14.5), end=DAY_1 + timedelta(hours=60)),
    LineQuery(start=DAY_1, end=DAY_1),
    domain.line_query(LineFilter(end_time=datetime.max.replace(tzinfo=UTC))),
]


@pytest.mark.parametrize("query", QUERIES, ids=[f"q{i}" for i in range(len(QUERIES))])
async def test_listing_selects_and_orders_what_the_domain_says(
    repositories: Repositories, ledger_data: list[OrderLine], query: LineQuery
) -> None:
    expected = sorted((item for item in ledger_data if domain.line_matches(query, item)), key=domain.line_order)
    assert await everything(repositories, query) == expected
    assert await everything(repositories, query, page=1000) == expected


@pytest.mark.parametrize(
    ("skus", "start", "end"),
    [
        (["mug-1", "cup-1", "plate-1"], "2026-03-01", "2026-03-31"),
        (["mug-1"], "2026-03-02", "2026-03-03"),
        (["cup-1", "nothing"], "2026-03-01", "2026-03-01"),
        (["plate-1"], "2026-04-01", "2026-04-30"),
    ],
)
async def test_demand_sums_what_the_domain_says(
    repositories: Repositories, ledger_data: list[OrderLine], skus: list[str], start: str, end: str
) -> None:
    query = domain.demand_query(skus, start, end)
    found = await repositories.order_lines.demand(ORG_A, query)
    expected = domain.aggregate_demand(query, ledger_data)
    assert domain.demand_series(skus, found) == domain.demand_series(skus, expected)
    assert sorted(found, key=lambda item: (item[0], domain.point_order(item[1]))) == sorted(
        expected, key=lambda item: (item[0], domain.point_order(item[1]))
    )


async def test_sqlite_sums_demand_from_its_covering_index_in_group_order(
    sqlite_repositories: Repositories, tmp_path: Path
) -> None:
    with closing(sqlite3.connect(tmp_path / "analytics.sqlite3")) as connection:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {DEMAND_QUERY}", (ORG_A, '["a"]', 0, 9))]
    assert any("USING COVERING INDEX order_lines_by_sku_day" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


# --- through the use cases ------------------------------------------------------------------------


async def test_a_full_batch_is_written_and_one_bad_line_writes_nothing(repositories: Repositories, engine: Any) -> None:
    ledger = SalesLedger(repositories, clock=FakeClock())
    count = bulk_lines(engine.kind)
    batch = [draft(f"B-{index:05d}", 1 + index % 3, quantity=1 + index % 5) for index in range(count)]
    bad_index = count - 2
    bad = [*batch[:bad_index], draft("B-bad", 1, unit_price=eur(-1)), *batch[bad_index + 1 :]]
    refused = await ledger.ingest(principal(), bad)
    assert (refused.created, refused.updated, refused.unchanged) == (0, 0, 0)
    assert [(e.row, e.key, e.field) for e in refused.errors] == [(bad_index, "B-bad/1", "unit_price")]
    assert await repositories.order_lines.find(ORG_A, LineQuery(), after=None, limit=10) == []

    written = await ledger.ingest(principal(), batch)
    assert (written.created, written.updated, written.unchanged, written.errors) == (count, 0, 0, [])
    batch[5] = draft(batch[5].order_id, batch[5].line_no, quantity=-1)
    again = await ledger.ingest(principal(), batch)
    assert (again.created, again.updated, again.unchanged) == (0, 1, count - 1)
    query = domain.demand_query(["mug-1"], "2026-03-01", "2026-03-01")
    ((_, point),) = await repositories.order_lines.demand(ORG_A, query)
    assert point.lines == count
    assert point.units == sum(item.quantity for item in batch)
    assert point.revenue_minor == point.units * 1999
