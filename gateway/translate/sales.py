"""Order lines and demand: REST JSON ⇄ omnipricex.analytics.v1 messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.exceptions import RequestValidationError

from gateway.schemas.sales import NewOrderLine, OrderLineQuery
from gateway.translate.common import amount, money_message, rfc3339
from omnipricex.analytics.v1 import analytics_pb2
from omnipricex.common.v1 import money_pb2
from runtime.money import currency_exponent
from runtime.timestamps import to_timestamp


def line_messages(rows: list[NewOrderLine]) -> list[analytics_pb2.OrderLine]:
    """Every row translated, or one refusal listing every row whose unit price does not fit its currency."""
    messages: list[analytics_pb2.OrderLine] = []
    errors: list[Any] = []
    for index, row in enumerate(rows):
        try:
            price = money_message(row.unit_price, row.currency, "body", "lines", index, "unit_price")
        except RequestValidationError as error:
            errors.extend(error.errors())
            continue
        messages.append(
            analytics_pb2.OrderLine(
                order_id=row.order_id,
                line_no=row.line_no,
                sku=row.sku,
                quantity=row.quantity,
                unit_price=price,
                time=to_timestamp(row.time),
                channel=row.channel,
            )
        )
    if errors:
        raise RequestValidationError(errors)
    return messages


def line_filter(query: OrderLineQuery) -> analytics_pb2.OrderLineFilter:
    message = analytics_pb2.OrderLineFilter(sku=query.sku or "")
    if query.start is not None:
        message.start_time.CopyFrom(to_timestamp(query.start))
    if query.end is not None:
        message.end_time.CopyFrom(to_timestamp(query.end))
    return message


def line_json(line: analytics_pb2.OrderLine) -> dict[str, Any]:
    return {
        "order_id": line.order_id,
        "line_no": line.line_no,
        "sku": line.sku,
        "quantity": line.quantity,
        "unit_price": amount(line.unit_price),
        "currency": line.unit_price.currency,
        "time": rfc3339(line.time),
        "channel": line.channel,
    }


def demand_json(response: analytics_pb2.GetDemandSeriesResponse) -> dict[str, Any]:
    return {
        "series": [
            {"sku": series.sku, "points": [_point_json(point) for point in series.points]} for series in response.series
        ]
    }


def _point_json(point: analytics_pb2.DemandPoint) -> dict[str, Any]:
    return {
        "day": point.day,
        "unit_price": amount(point.unit_price),
        "currency": point.unit_price.currency,
        "units": point.units,
        "revenue": _total(point.revenue),
        "lines": point.lines,
    }


def _total(money: money_pb2.Money) -> str:
    # A sum may pass the range of a single price (runtime.money.Money), so it is formatted here directly.
    exponent = currency_exponent(money.currency)
    return f"{Decimal(money.amount_minor).scaleb(-exponent):.{exponent}f}"
