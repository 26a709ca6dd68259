"""The analytics service over real gRPC: the shared server bootstrap, tokens, proto translation, status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from omnipricex.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from omnipricex.common.v1 import money_pb2, paging_pb2
from runtime.auth import AccessTokens, Role
from runtime.testing.auth import RecordingAuditSink
from runtime.testing.grpc import access_tokens, metadata_as, rpc_refusal, serving
from runtime.timestamps import to_timestamp
from services.analytics.repository.sqlite import open_sqlite_repositories
from services.analytics.server import SERVICE_NAMES, build_definition
from services.analytics.tests.support import DAY_1, ORG_A, ORG_B


@dataclass
class Client:
    sales: analytics_pb2_grpc.SalesServiceAsyncStub
    tokens: AccessTokens
    audit: RecordingAuditSink

    def as_(self, role: Role, organization_id: str = ORG_A) -> tuple[tuple[str, str], ...]:
        return metadata_as(self.tokens, role, organization_id)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    tokens, audit = access_tokens(), RecordingAuditSink()
    repositories = await open_sqlite_repositories(tmp_path / "analytics.sqlite3")
    async with serving(build_definition(repositories), tokens, audit) as channel:
        yield Client(analytics_pb2_grpc.SalesServiceStub(channel), tokens, audit)


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def order_line(order_id: str = "A-1001", line_no: int = 1, **fields: Any) -> analytics_pb2.OrderLine:
    values: dict[str, Any] = {
        "sku": "mug-1",
        "quantity": 2,
        "unit_price": eur(1999),
        "time": to_timestamp(DAY_1),
        "channel": "web",
    }
    values.update(fields)
    return analytics_pb2.OrderLine(order_id=order_id, line_no=line_no, **values)


def ingest(lines: list[analytics_pb2.OrderLine]) -> analytics_pb2.IngestOrderLinesRequest:
    return analytics_pb2.IngestOrderLinesRequest(lines=lines)


async def test_the_service_names_its_proto_service() -> None:
    assert SERVICE_NAMES == ("omnipricex.analytics.v1.SalesService",)


async def test_ingest_list_and_demand_over_grpc(client: Client) -> None:
    manager, viewer = client.as_(Role.PRICING_MANAGER), client.as_(Role.VIEWER)
    sent = [
        order_line("A-1", 1, time=Timestamp(seconds=to_timestamp(DAY_1).seconds, nanos=123_456_789)),
        order_line("A-1", 2, quantity=-1, unit_price=money_pb2.Money(amount_minor=500, currency="JPY")),
        order_line("A-2", 1, sku="cup-1", channel="store"),
    ]
    first = await client.sales.IngestOrderLines(ingest(sent), metadata=manager)
    assert (first.created, first.updated, first.unchanged, list(first.errors)) == (3, 0, 0, [])
    again = await client.sales.IngestOrderLines(ingest(sent), metadata=manager)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    listed = await client.sales.ListOrderLines(analytics_pb2.ListOrderLinesRequest(), metadata=viewer)
    assert [(line.order_id, line.line_no) for line in listed.lines] == [("A-1", 2), ("A-2", 1), ("A-1", 1)]
    assert listed.lines[2].time.nanos == 123_000_000
    assert listed.lines[0] == sent[1]
    assert listed.page.next_page_token == ""

    demand = await client.sales.GetDemandSeries(
        analytics_pb2.GetDemandSeriesRequest(
            skus=["mug-1", "cup-1", "none-1"], start_day="2026-03-01", end_day="2026-03-01"
        ),
        metadata=viewer,
    )
    assert [series.sku for series in demand.series] == ["mug-1", "cup-1", "none-1"]
    assert list(demand.series[0].points) == [
        analytics_pb2.DemandPoint(
            day="2026-03-01",
            unit_price=money_pb2.Money(amount_minor=500, currency="JPY"),
            units=-1,
            revenue=money_pb2.Money(amount_minor=-500, currency="JPY"),
            lines=1,
        ),
        analytics_pb2.DemandPoint(day="2026-03-01", unit_price=eur(1999), units=2, revenue=eur(3998), lines=1),
    ]
    assert list(demand.series[2].points) == []
    assert [record.action.rsplit("/", 1)[-1] for record in client.audit.records] == [
        "IngestOrderLines",
        "IngestOrderLines",
    ]


async def test_refused_rows_come_back_in_the_response_and_nothing_is_written(client: Client) -> None:
    manager = client.as_(Role.PRICING_MANAGER)
    no_price = order_line("A-3", 1)
    no_price.ClearField("unit_price")
    no_time = order_line("A-4", 1)
    no_time.ClearField("time")
    batch = [
        order_line("A-1", 1),
        order_line("A-1", 1),
        order_line("A-2", 0),
        no_price,
        no_time,
        order_line("A-5", 1, time=Timestamp(seconds=2**62)),
        order_line("A-6", 1, unit_price=money_pb2.Money(amount_minor=100, currency="EURO")),
    ]
    result = await client.sales.IngestOrderLines(ingest(batch), metadata=manager)
    assert result.created == 0
    assert [(error.row, error.key, error.field) for error in result.errors] == [
        (1, "A-1/1", "line_no"),
        (2, "A-2/0", "line_no"),
        (3, "A-3/1", "unit_price"),
        (4, "A-4/1", "time"),
        (5, "A-5/1", "time"),
        (6, "A-6/1", "unit_price.currency"),
    ]
    assert result.errors[4].message.endswith("is in the future")
    listed = await client.sales.ListOrderLines(analytics_pb2.ListOrderLinesRequest(), metadata=manager)
    assert list(listed.lines) == []


async def test_errors_arrive_as_status_codes_with_the_field(client: Client) -> None:
    manager, viewer = client.as_(Role.PRICING_MANAGER), client.as_(Role.VIEWER)
    code, _ = await rpc_refusal(client.sales.ListOrderLines(analytics_pb2.ListOrderLinesRequest()))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert await rpc_refusal(client.sales.IngestOrderLines(ingest([order_line()]), metadata=viewer)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "this needs the pricing_manager role or higher",
    )
    assert await rpc_refusal(
        client.sales.ImportOrderLinesCsv(
            analytics_pb2.ImportOrderLinesCsvRequest(csv=b""), metadata=client.as_(Role.ANALYST)
        )
    ) == (grpc.StatusCode.PERMISSION_DENIED, "this needs the pricing_manager role or higher")
    code, details = await rpc_refusal(
        client.sales.IngestOrderLines(ingest([order_line(f"A-{i}") for i in range(10_001)]), metadata=manager)
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "lines: at most 10,000 lines per call, got 10,001")
    code, details = await rpc_refusal(
        client.sales.ImportOrderLinesCsv(
            analytics_pb2.ImportOrderLinesCsvRequest(csv=b'{"lines":[]}'), metadata=manager
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "csv")
    code, details = await rpc_refusal(
        client.sales.ListOrderLines(
            analytics_pb2.ListOrderLinesRequest(page=paging_pb2.PageRequest(page_token="junk")), metadata=viewer
        )
    )
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token: page_token is not a token this API issued",
    )
    code, details = await rpc_refusal(
        client.sales.GetDemandSeries(
            analytics_pb2.GetDemandSeriesRequest(skus=["mug-1"], start_day="2026-03-01", end_day="2028-03-01"),
            metadata=viewer,
        )
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "end_day: at most 731 days per call, got 732")
    code, details = await rpc_refusal(
        client.sales.ListOrderLines(
            analytics_pb2.ListOrderLinesRequest(
                filter=analytics_pb2.OrderLineFilter(start_time=to_timestamp(DAY_1), end_time=Timestamp(seconds=0))
            ),
            metadata=viewer,
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "filter.start_time")


async def test_another_organisation_sees_nothing(client: Client) -> None:
    await client.sales.IngestOrderLines(ingest([order_line()]), metadata=client.as_(Role.PRICING_MANAGER))
    other = client.as_(Role.OWNER, ORG_B)
    listed = await client.sales.ListOrderLines(analytics_pb2.ListOrderLinesRequest(), metadata=other)
    assert list(listed.lines) == []
    demand = await client.sales.GetDemandSeries(
        analytics_pb2.GetDemandSeriesRequest(skus=["mug-1"], start_day="2026-03-01", end_day="2026-03-01"),
        metadata=other,
    )
    assert list(demand.series[0].points) == []


async def test_csv_import_and_paging_over_grpc(client: Client) -> None:
    manager, viewer = client.as_(Role.PRICING_MANAGER), client.as_(Role.VIEWER)
    records = "".join(f"C-{i:03d},1,mug-1,1,4.50,EUR,2026-03-01T10:{i % 60:02d}:00+01:00,web\r\n" for i in range(120))
    data = ("\ufefforder_id,line_no,sku,quantity,unit_price,currency,time,channel\r\n" + records).encode()
    imported = await client.sales.ImportOrderLinesCsv(
        analytics_pb2.ImportOrderLinesCsvRequest(csv=data), metadata=manager
    )
    assert (imported.created, imported.updated, imported.unchanged, list(imported.errors)) == (120, 0, 0, [])

    seen: list[str] = []
    token = ""
    while True:
        page = await client.sales.ListOrderLines(
            analytics_pb2.ListOrderLinesRequest(
                filter=analytics_pb2.OrderLineFilter(sku="mug-1"),
                page=paging_pb2.PageRequest(page_size=50, page_token=token),
            ),
            metadata=viewer,
        )
        seen.extend(line.order_id for line in page.lines)
        token = page.page.next_page_token
        if not token:
            break
    expected = sorted((f"C-{i:03d}" for i in range(120)), key=lambda order_id: (int(order_id[2:]) % 60, order_id))
    assert seen == expected

    bad = data + b"C-999,1,mug-1,1,4.50,EUR,2026-03-01T10:00:00,web\r\n"
    refused = await client.sales.ImportOrderLinesCsv(
        analytics_pb2.ImportOrderLinesCsvRequest(csv=bad), metadata=manager
    )
    assert [(error.row, error.key, error.field) for error in refused.errors] == [(120, "C-999/1", "time")]
    assert (refused.created, refused.updated, refused.unchanged) == (0, 0, 0)
