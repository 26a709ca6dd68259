"""The REST shape of the sales ledger: order lines and daily demand."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gateway.schemas.common import (
    CurrencyCode,
    MoneyString,
    PageQuery,
    RequestModel,
    Rfc3339Time,
    Sku,
    decimals_follow_currency,
)

ORDER_ID_PATTERN = r"^[A-Za-z0-9_.:/#-]{1,64}$"
CHANNEL_PATTERN = r"^[a-z0-9_-]{1,32}$"
MAX_INGEST_LINES = 10_000
MAX_DEMAND_SKUS = 1_000
MAX_QUANTITY = 10**9
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _day_text(value: Any) -> Any:
    if not isinstance(value, str) or not _DAY.match(value):
        raise ValueError('days are written YYYY-MM-DD, such as "2026-03-01"')
    return value


Day = Annotated[date, Field(strict=False, examples=["2026-03-01"]), BeforeValidator(_day_text)]


class OrderLine(BaseModel):
    order_id: str
    line_no: int
    sku: str
    quantity: int = Field(description="Units sold; negative for a return.")
    unit_price: str = Field(description="Decimal string in `currency`: the price per unit paid, before tax.")
    currency: str
    time: datetime = Field(description="When the order was placed, UTC, to the millisecond.")
    channel: str


class OrderLinePage(BaseModel):
    items: list[OrderLine] = Field(description="Ordered by time, then order_id, then line_no.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class NewOrderLine(RequestModel):
    model_config = ConfigDict(json_schema_extra=decimals_follow_currency("unit_price"))

    order_id: str = Field(pattern=ORDER_ID_PATTERN, description="1-64 ASCII letters, digits and -_.:/#")
    line_no: int = Field(ge=1, le=2**31 - 1, description="1-based position of the line in its order.")
    sku: Sku
    quantity: int = Field(
        ge=-MAX_QUANTITY, le=MAX_QUANTITY, description="Units sold, never zero; negative for a return."
    )
    unit_price: MoneyString = Field(description="Price per unit paid, before tax: a decimal string in `currency`.")
    currency: CurrencyCode
    time: Rfc3339Time = Field(description="When the order was placed: RFC 3339 with an offset, not in the future.")
    channel: str = Field(pattern=CHANNEL_PATTERN, description='Sales channel, e.g. "web", "marketplace", "store".')


class IngestBody(RequestModel):
    lines: list[NewOrderLine] = Field(max_length=MAX_INGEST_LINES)


class IngestResult(BaseModel):
    created: int
    updated: int = Field(description="Lines stored before with other values, now corrected.")
    unchanged: int = Field(description="Lines stored before with the same values.")


class OrderLineQuery(PageQuery):
    sku: Sku | None = Field(None, description="Only the lines of this sku.")
    start: Rfc3339Time | None = Field(None, description="Lines ordered at or after this time.")
    end: Rfc3339Time | None = Field(None, description="Lines ordered before this time.")


class DemandQuery(BaseModel):
    sku: list[Sku] = Field(min_length=1, max_length=MAX_DEMAND_SKUS, description="Repeat for several skus.")
    start: Day = Field(description="First UTC day included.")
    end: Day = Field(description="Last UTC day included; at most 731 days after start.")


class DemandPoint(BaseModel):
    day: date = Field(description="UTC calendar day.")
    unit_price: str = Field(description="Decimal string in `currency`.")
    currency: str
    units: int = Field(description="Units sold, net of returns.")
    revenue: str = Field(description="Decimal string: the exact sum of quantity times unit price.")
    lines: int = Field(description="Order lines behind this point.")


class DemandSeries(BaseModel):
    sku: str
    points: list[DemandPoint] = Field(description="By day, then unit price; days without sales have no point.")


class Demand(BaseModel):
    series: list[DemandSeries] = Field(description="One per requested sku, in request order.")
