"""/v1/competitors, /v1/offers, /v1/observations and /v1/market-prices → omnipricex.competitor.v1."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.routing import APIRoute

from gateway.deps import PricingManager, Viewer
from gateway.errors import problem, problem_type
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.common import PageQuery
from gateway.schemas.competitors import (
    Competitor,
    CompetitorPage,
    CompetitorPatch,
    ImportResult,
    MarketPage,
    MarketQuery,
    NewCompetitor,
    ObservationBody,
    ObservationPage,
    ObservationQuery,
    ObservationResult,
    Offer,
    OfferPage,
    OfferQuery,
    OfferUpsertBody,
    OfferUpsertResult,
)
from gateway.translate.common import next_cursor, page_request
from gateway.translate.competitors import (
    competitor_json,
    competitor_message,
    competitor_patch_message,
    observation_json,
    observation_messages,
    offer_json,
    offer_message,
    sku_market_json,
)
from omnipricex.common.v1 import rows_pb2
from omnipricex.competitor.v1 import competitor_pb2 as pb
from runtime.timestamps import to_timestamp

BULK_BODY_LIMIT = 32 * 1024 * 1024
_CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv"})
_CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}}

router = APIRouter(prefix="/v1", tags=["competitors"], responses=PROTECTED, default_response_class=JsonResponse)
CompetitorId = Annotated[str, Path(min_length=1, max_length=64, description="The competitor's id.")]
OfferId = Annotated[str, Path(min_length=1, max_length=64, description="The offer's id.")]


# --- competitors ----------------------------------------------------------------------------------


@router.get("/competitors", response_model=CompetitorPage, summary="List competitors by name (viewer)")
async def list_competitors(query: Annotated[PageQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.competitors.ListCompetitors(
        pb.ListCompetitorsRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [competitor_json(item) for item in response.competitors], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/competitors",
    response_model=Competitor,
    status_code=201,
    responses=problems(409),
    summary="Add a competitor to watch (pricing manager)",
)
async def create_competitor(body: NewCompetitor, caller: PricingManager) -> Response:
    response = await caller.stubs.competitors.CreateCompetitor(
        pb.CreateCompetitorRequest(competitor=competitor_message(body)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    competitor = response.competitor
    return JsonResponse(
        competitor_json(competitor),
        status_code=201,
        headers={"Location": f"/v1/competitors/{quote(competitor.id, safe='')}"},
    )


@router.get(
    "/competitors/{competitor_id}",
    response_model=Competitor,
    responses=problems(404),
    summary="Get a competitor (viewer)",
)
async def get_competitor(competitor_id: CompetitorId, caller: Viewer) -> Response:
    response = await caller.stubs.competitors.GetCompetitor(
        pb.GetCompetitorRequest(id=competitor_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(competitor_json(response.competitor))


@router.patch(
    "/competitors/{competitor_id}",
    response_model=Competitor,
    responses=problems(404, 409),
    summary="Change some fields of a competitor (pricing manager)",
    description="JSON merge patch (RFC 7396): only the fields present change; null removes the website.",
)
async def update_competitor(competitor_id: CompetitorId, patch: CompetitorPatch, caller: PricingManager) -> Response:
    competitor, mask = competitor_patch_message(competitor_id, patch)
    response = await caller.stubs.competitors.UpdateCompetitor(
        pb.UpdateCompetitorRequest(competitor=competitor, update_mask=mask),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(competitor_json(response.competitor))


@router.delete(
    "/competitors/{competitor_id}",
    status_code=204,
    response_class=Response,
    responses=problems(404),
    summary="Delete a competitor without offers (pricing manager)",
)
async def delete_competitor(competitor_id: CompetitorId, caller: PricingManager) -> Response:
    await caller.stubs.competitors.DeleteCompetitor(
        pb.DeleteCompetitorRequest(id=competitor_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return Response(status_code=204)


# --- offers ---------------------------------------------------------------------------------------


@router.get("/offers", response_model=OfferPage, summary="List offers, by sku or competitor (viewer)")
async def list_offers(query: Annotated[OfferQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.offers.ListOffers(
        pb.ListOffersRequest(
            sku=query.sku or "",
            competitor_id=query.competitor_id or "",
            page=page_request(query.limit, query.cursor),
        ),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [offer_json(item) for item in response.offers], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/offers",
    response_model=OfferUpsertResult,
    responses=problems(413),
    summary="Create or update up to 10,000 offers in one all-or-nothing call (pricing manager)",
    description="Idempotent on (competitor_id, url): the same offer again changes nothing, another sku re-links it. "
    "If any row is refused, nothing is written and the 422 problem lists every refused row in `errors` as "
    "{row, key, field, message}.",
)
async def upsert_offers(request: Request, body: OfferUpsertBody, caller: PricingManager) -> Response:
    response = await caller.stubs.offers.UpsertOffers(
        pb.UpsertOffersRequest(offers=[offer_message(row) for row in body.offers]),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    if response.errors:
        return _rows_refused(request, response.errors, len(body.offers))
    return JsonResponse(
        {
            "items": [offer_json(item) for item in response.offers],
            "created": response.created,
            "updated": response.updated,
            "unchanged": response.unchanged,
        }
    )


@router.post(
    "/offers:import",
    response_model=ImportResult,
    responses=problems(413, 415),
    summary="Create or update offers from CSV, all or nothing (pricing manager)",
    description="The body is UTF-8 CSV with the header competitor_id,url,sku,title (title may be left out), up to "
    "100,000 rows. Row numbers in errors count data lines from zero, header excluded.",
    openapi_extra=_CSV_BODY,
)
async def import_offers(request: Request, caller: PricingManager) -> Response:
    csv = await _csv_body(request)
    if isinstance(csv, Response):
        return csv
    response = await caller.stubs.offers.ImportOffersCsv(
        pb.ImportOffersCsvRequest(csv=csv), metadata=caller.metadata, timeout=caller.long_deadline
    )
    if response.errors:
        return _rows_refused(request, response.errors, None)
    return JsonResponse({"created": response.created, "updated": response.updated, "unchanged": response.unchanged})


@router.get("/offers/{offer_id}", response_model=Offer, responses=problems(404), summary="Get an offer (viewer)")
async def get_offer(offer_id: OfferId, caller: Viewer) -> Response:
    response = await caller.stubs.offers.GetOffer(
        pb.GetOfferRequest(id=offer_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(offer_json(response.offer))


@router.delete(
    "/offers/{offer_id}",
    status_code=204,
    response_class=Response,
    responses=problems(404),
    summary="Delete an offer and its observations (pricing manager)",
)
async def delete_offer(offer_id: OfferId, caller: PricingManager) -> Response:
    await caller.stubs.offers.DeleteOffer(
        pb.DeleteOfferRequest(id=offer_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return Response(status_code=204)


# --- observations ---------------------------------------------------------------------------------


@router.get(
    "/observations",
    response_model=ObservationPage,
    responses=problems(404),
    summary="An offer's price history, newest first (viewer)",
    description="Only changes are stored: each observation is the first of a run of equal ones (same price, stock "
    "and quarantine), and is in effect until the next.",
)
async def list_observations(query: Annotated[ObservationQuery, Query()], caller: Viewer) -> Response:
    request = pb.ListObservationsRequest(offer_id=query.offer_id, page=page_request(query.limit, query.cursor))
    if query.start_time is not None:
        request.start_time.CopyFrom(to_timestamp(query.start_time))
    if query.end_time is not None:
        request.end_time.CopyFrom(to_timestamp(query.end_time))
    response = await caller.stubs.observations.ListObservations(
        request, metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(
        {"items": [observation_json(item) for item in response.observations], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/observations",
    response_model=ObservationResult,
    responses=problems(413),
    summary="Record up to 10,000 price observations in one all-or-nothing call (pricing manager)",
    description="Idempotent on (offer_id, observe_time). An observation equal to the one in effect at its time is "
    "not stored again; it only extends how long that price was seen. If any row is refused, nothing is written "
    "and the 422 problem lists every refused row in `errors`.",
)
async def record_observations(request: Request, body: ObservationBody, caller: PricingManager) -> Response:
    response = await caller.stubs.observations.RecordObservations(
        pb.RecordObservationsRequest(observations=observation_messages(body.observations)),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    if response.errors:
        return _rows_refused(request, response.errors, len(body.observations))
    return JsonResponse({"created": response.created, "unchanged": response.unchanged})


@router.post(
    "/observations:import",
    response_model=ObservationResult,
    responses=problems(413, 415),
    summary="Record observations from CSV, all or nothing (pricing manager)",
    description="The body is UTF-8 CSV with the header competitor_id,url,observe_time,price,currency,in_stock; each "
    "row names an existing offer by competitor and url, an empty currency means the competitor's default.",
    openapi_extra=_CSV_BODY,
)
async def import_observations(request: Request, caller: PricingManager) -> Response:
    csv = await _csv_body(request)
    if isinstance(csv, Response):
        return csv
    response = await caller.stubs.observations.ImportObservationsCsv(
        pb.ImportObservationsCsvRequest(csv=csv), metadata=caller.metadata, timeout=caller.long_deadline
    )
    if response.errors:
        return _rows_refused(request, response.errors, None)
    return JsonResponse({"created": response.created, "unchanged": response.unchanged})


# --- market prices --------------------------------------------------------------------------------


@router.get(
    "/market-prices",
    response_model=MarketPage,
    summary="The newest usable competitor price of every offer of some skus (viewer)",
    description="Quarantined observations are never used: an offer whose newest observation is quarantined shows "
    "its newest usable one. Give up to 1,000 `sku`s, or none to page through every sku with offers.",
)
async def list_market_prices(query: Annotated[MarketQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.market.ListMarketPrices(
        pb.ListMarketPricesRequest(
            skus=query.sku, competitor_ids=query.competitor_id, page=page_request(query.limit, query.cursor)
        ),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [sku_market_json(item) for item in response.markets], "next_cursor": next_cursor(response.page)}
    )


# --- shared ---------------------------------------------------------------------------------------


async def _csv_body(request: Request) -> bytes | Response:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in _CSV_MEDIA_TYPES:
        return problem(
            request, 415, "send the CSV with Content-Type: text/csv", type_=problem_type("unsupported-media-type")
        )
    return await request.body()


def _rows_refused(request: Request, errors: Iterable[rows_pb2.RowError], rows: int | None) -> Response:
    refused = [{"row": error.row, "key": error.key, "field": error.field, "message": error.message} for error in errors]
    of_rows = f" of {rows}" if rows is not None else ""
    return problem(
        request,
        422,
        f"{len({error['row'] for error in refused})}{of_rows} rows were refused; nothing was written",
        type_=problem_type("rows-refused"),
        errors=refused,
    )


# Bulk upserts and CSV imports carry many rows; every other body stays under the app's default limit.
LARGE_BODY_LIMITS = {
    route.path: BULK_BODY_LIMIT
    for route in router.routes
    if isinstance(route, APIRoute)
    and route.endpoint in (upsert_offers, import_offers, record_observations, import_observations)
}
