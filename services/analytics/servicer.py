"""gRPC entry points of SalesService: proto messages in, use cases, proto out.

IngestOrderLines and ImportOrderLinesCsv need the pricing_manager role (ledger data feeds prices);
ListOrderLines and GetDemandSeries need viewer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from omnipricex.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from omnipricex.common.v1 import money_pb2, paging_pb2, rows_pb2
from runtime.auth import current_principal
from runtime.money import Money
from runtime.timestamps import from_timestamp, to_timestamp
from services.analytics.domain import DemandPoint, DemandSeries, LineFilter, MoneyInput, OrderLine, OrderLineDraft
from services.analytics.use_cases import IngestResult, SalesLedger

Context = grpc.aio.ServicerContext[Any, Any]


class SalesServicer(analytics_pb2_grpc.SalesServiceServicer):
    def __init__(self, ledger: SalesLedger) -> None:
        self._ledger = ledger

    async def IngestOrderLines(
        self, request: analytics_pb2.IngestOrderLinesRequest, context: Context
    ) -> analytics_pb2.IngestOrderLinesResponse:
        result = await self._ledger.ingest(current_principal(), [line_draft(line) for line in request.lines])
        return analytics_pb2.IngestOrderLinesResponse(**_result_fields(result))

    async def ImportOrderLinesCsv(
        self, request: analytics_pb2.ImportOrderLinesCsvRequest, context: Context
    ) -> analytics_pb2.ImportOrderLinesCsvResponse:
        result = await self._ledger.import_csv(current_principal(), request.csv)
        return analytics_pb2.ImportOrderLinesCsvResponse(**_result_fields(result))

    async def ListOrderLines(
        self, request: analytics_pb2.ListOrderLinesRequest, context: Context
    ) -> analytics_pb2.ListOrderLinesResponse:
        page = await self._ledger.list_lines(
            current_principal(),
            line_filter(request.filter),
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return analytics_pb2.ListOrderLinesResponse(
            lines=[line_message(line) for line in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def GetDemandSeries(
        self, request: analytics_pb2.GetDemandSeriesRequest, context: Context
    ) -> analytics_pb2.GetDemandSeriesResponse:
        series = await self._ledger.demand(
            current_principal(), list(request.skus), start_day=request.start_day, end_day=request.end_day
        )
        return analytics_pb2.GetDemandSeriesResponse(series=[series_message(item) for item in series])


# --- proto → domain -------------------------------------------------------------------------------


def _moment(stamp: Timestamp) -> datetime:
    """The moment of a Timestamp; one outside what Python can hold becomes the nearest it can, which
    validation then refuses as too early or in the future."""
    try:
        return from_timestamp(stamp)
    except (ValueError, OverflowError):
        return (datetime.max if stamp.seconds > 0 else datetime.min).replace(tzinfo=UTC)


def line_draft(message: analytics_pb2.OrderLine) -> OrderLineDraft:
    price = message.unit_price
    return OrderLineDraft(
        order_id=message.order_id,
        line_no=message.line_no,
        sku=message.sku,
        quantity=message.quantity,
        unit_price=MoneyInput(price.amount_minor, price.currency) if message.HasField("unit_price") else None,
        time=_moment(message.time) if message.HasField("time") else None,
        channel=message.channel,
    )


def line_filter(message: analytics_pb2.OrderLineFilter) -> LineFilter:
    return LineFilter(
        sku=message.sku,
        start_time=_moment(message.start_time) if message.HasField("start_time") else None,
        end_time=_moment(message.end_time) if message.HasField("end_time") else None,
    )


# --- domain → proto -------------------------------------------------------------------------------


def _money(value: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=value.amount_minor, currency=value.currency)


def line_message(line: OrderLine) -> analytics_pb2.OrderLine:
    return analytics_pb2.OrderLine(
        order_id=line.order_id,
        line_no=line.line_no,
        sku=line.sku,
        quantity=line.quantity,
        unit_price=_money(line.unit_price),
        time=to_timestamp(line.time),
        channel=line.channel,
    )


def _point_message(point: DemandPoint) -> analytics_pb2.DemandPoint:
    return analytics_pb2.DemandPoint(
        day=point.day.isoformat(),
        unit_price=_money(point.unit_price),
        units=point.units,
        revenue=money_pb2.Money(amount_minor=point.revenue_minor, currency=point.unit_price.currency),
        lines=point.lines,
    )


def series_message(series: DemandSeries) -> analytics_pb2.DemandSeries:
    return analytics_pb2.DemandSeries(sku=series.sku, points=[_point_message(point) for point in series.points])


def _result_fields(result: IngestResult) -> dict[str, Any]:
    errors = [
        rows_pb2.RowError(row=error.row, key=error.key, field=error.field, message=error.message)
        for error in result.errors
    ]
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged, "errors": errors}
