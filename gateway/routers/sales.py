"""/v1/sales → omnipricex.analytics.v1.SalesService.

Recording lines needs the pricing manager role (ledger data feeds prices); reading needs viewer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute

from gateway.deps import PricingManager, Viewer
from gateway.errors import problem, problem_type
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.sales import Demand, DemandQuery, IngestBody, IngestResult, OrderLinePage, OrderLineQuery
from gateway.translate.common import next_cursor, page_request
from gateway.translate.sales import demand_json, line_filter, line_json, line_messages
from omnipricex.analytics.v1 import analytics_pb2

BULK_BODY_LIMIT = 32 * 1024 * 1024
_CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv"})
_IDEMPOTENCE = (
    "Idempotent on (order_id, line_no): a line sent again with the same values changes nothing; with other "
    "values it corrects the stored line. If any row is refused, nothing is written and the 422 problem lists "
    "every refused row in `errors` as {row, key, field, message}, key being order_id/line_no."
)

router = APIRouter(prefix="/v1/sales", tags=["sales"], responses=PROTECTED, default_response_class=JsonResponse)


@router.post(
    "/order-lines",
    response_model=IngestResult,
    responses=problems(413),
    summary="Record up to 10,000 order lines in one all-or-nothing call (pricing manager)",
    description=_IDEMPOTENCE,
)
async def ingest_order_lines(request: Request, body: IngestBody, caller: PricingManager) -> Response:
    response = await caller.stubs.sales.IngestOrderLines(
        analytics_pb2.IngestOrderLinesRequest(lines=line_messages(body.lines)),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return _ingest_result(request, response, len(body.lines))


@router.post(
    "/order-lines:import",
    response_model=IngestResult,
    responses=problems(413, 415),
    summary="Record up to 100,000 order lines from CSV, all or nothing (pricing manager)",
    description="The body is UTF-8 CSV with exactly the header "
    "`order_id,line_no,sku,quantity,unit_price,currency,time,channel`; unit_price is a decimal string and "
    "time RFC 3339 with an offset. Row numbers in errors count data lines from zero, header excluded. " + _IDEMPOTENCE,
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
async def import_order_lines(request: Request, caller: PricingManager) -> Response:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in _CSV_MEDIA_TYPES:
        return problem(
            request,
            415,
            "send the CSV with Content-Type: text/csv",
            type_=problem_type("unsupported-media-type"),
        )
    response = await caller.stubs.sales.ImportOrderLinesCsv(
        analytics_pb2.ImportOrderLinesCsvRequest(csv=await request.body()),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return _ingest_result(request, response, None)


def _ingest_result(
    request: Request,
    response: analytics_pb2.IngestOrderLinesResponse | analytics_pb2.ImportOrderLinesCsvResponse,
    rows: int | None,
) -> Response:
    if not response.errors:
        return JsonResponse({"created": response.created, "updated": response.updated, "unchanged": response.unchanged})
    errors = [
        {"row": error.row, "key": error.key, "field": error.field, "message": error.message}
        for error in response.errors
    ]
    refused_rows = len({error.row for error in response.errors})
    of_rows = f" of {rows}" if rows is not None else ""
    return problem(
        request,
        422,
        f"{refused_rows}{of_rows} rows were refused; nothing was written",
        type_=problem_type("rows-refused"),
        errors=errors,
    )


@router.get(
    "/order-lines",
    response_model=OrderLinePage,
    summary="List order lines by time, oldest first (viewer)",
)
async def list_order_lines(query: Annotated[OrderLineQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.sales.ListOrderLines(
        analytics_pb2.ListOrderLinesRequest(filter=line_filter(query), page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [line_json(line) for line in response.lines], "next_cursor": next_cursor(response.page)}
    )


@router.get(
    "/demand",
    response_model=Demand,
    summary="Daily units and revenue per sku and unit price (viewer)",
    description="Up to 1,000 skus (repeat `sku`) over at most 731 UTC days. Lines in different currencies "
    "make separate points, as the currency is part of the unit price.",
)
async def get_demand(query: Annotated[DemandQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.sales.GetDemandSeries(
        analytics_pb2.GetDemandSeriesRequest(
            skus=query.sku, start_day=query.start.isoformat(), end_day=query.end.isoformat()
        ),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return JsonResponse(demand_json(response))


# Bulk and CSV bodies carry many lines; every other body stays under the app's default limit.
LARGE_BODY_LIMITS = {
    route.path: BULK_BODY_LIMIT
    for route in router.routes
    if isinstance(route, APIRoute) and route.endpoint in (ingest_order_lines, import_order_lines)
}
