"""gRPC entry points of CompetitorService, OfferService, ObservationService and MarketService:
proto messages in, use cases, proto out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from omnipricex.common.v1 import money_pb2, paging_pb2, rows_pb2
from omnipricex.competitor.v1 import competitor_pb2, competitor_pb2_grpc
from runtime.auth import current_principal
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.timestamps import from_timestamp, to_timestamp
from services.competitor.domain import (
    Competitor,
    CompetitorDraft,
    ExtractionMethod,
    MarketPrice,
    MatchMethod,
    MoneyInput,
    Observation,
    ObservationDraft,
    Offer,
    OfferDraft,
    RowError,
    SkuMarket,
)
from services.competitor.use_cases import CompetitorDirectory, MarketBoard, ObservationLog, OfferCatalog

Context = grpc.aio.ServicerContext[Any, Any]


class CompetitorServicer(competitor_pb2_grpc.CompetitorServiceServicer):
    def __init__(self, directory: CompetitorDirectory) -> None:
        self._directory = directory

    async def CreateCompetitor(
        self, request: competitor_pb2.CreateCompetitorRequest, context: Context
    ) -> competitor_pb2.CreateCompetitorResponse:
        competitor = await self._directory.create_competitor(current_principal(), competitor_draft(request.competitor))
        return competitor_pb2.CreateCompetitorResponse(competitor=competitor_message(competitor))

    async def GetCompetitor(
        self, request: competitor_pb2.GetCompetitorRequest, context: Context
    ) -> competitor_pb2.GetCompetitorResponse:
        competitor = await self._directory.get_competitor(current_principal(), request.id)
        return competitor_pb2.GetCompetitorResponse(competitor=competitor_message(competitor))

    async def ListCompetitors(
        self, request: competitor_pb2.ListCompetitorsRequest, context: Context
    ) -> competitor_pb2.ListCompetitorsResponse:
        page = await self._directory.list_competitors(
            current_principal(), page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return competitor_pb2.ListCompetitorsResponse(
            competitors=[competitor_message(competitor) for competitor in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def UpdateCompetitor(
        self, request: competitor_pb2.UpdateCompetitorRequest, context: Context
    ) -> competitor_pb2.UpdateCompetitorResponse:
        competitor = await self._directory.update_competitor(
            current_principal(),
            request.competitor.id,
            competitor_draft(request.competitor),
            list(request.update_mask.paths),
        )
        return competitor_pb2.UpdateCompetitorResponse(competitor=competitor_message(competitor))

    async def DeleteCompetitor(
        self, request: competitor_pb2.DeleteCompetitorRequest, context: Context
    ) -> competitor_pb2.DeleteCompetitorResponse:
        await self._directory.delete_competitor(current_principal(), request.id)
        return competitor_pb2.DeleteCompetitorResponse()


class OfferServicer(competitor_pb2_grpc.OfferServiceServicer):
    def __init__(self, catalog: OfferCatalog) -> None:
        self._catalog = catalog

    async def UpsertOffers(
        self, request: competitor_pb2.UpsertOffersRequest, context: Context
    ) -> competitor_pb2.UpsertOffersResponse:
        drafts = [offer_draft(message, row=index) for index, message in enumerate(request.offers)]
        result = await self._catalog.upsert_offers(current_principal(), drafts)
        return competitor_pb2.UpsertOffersResponse(
            offers=[offer_message(offer) for offer in result.offers],
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
            errors=row_errors(result.errors),
        )

    async def ImportOffersCsv(
        self, request: competitor_pb2.ImportOffersCsvRequest, context: Context
    ) -> competitor_pb2.ImportOffersCsvResponse:
        result = await self._catalog.import_csv(current_principal(), request.csv)
        return competitor_pb2.ImportOffersCsvResponse(
            created=result.created, updated=result.updated, unchanged=result.unchanged, errors=row_errors(result.errors)
        )

    async def GetOffer(
        self, request: competitor_pb2.GetOfferRequest, context: Context
    ) -> competitor_pb2.GetOfferResponse:
        offer = await self._catalog.get_offer(current_principal(), request.id)
        return competitor_pb2.GetOfferResponse(offer=offer_message(offer))

    async def ListOffers(
        self, request: competitor_pb2.ListOffersRequest, context: Context
    ) -> competitor_pb2.ListOffersResponse:
        page = await self._catalog.list_offers(
            current_principal(),
            sku=request.sku,
            competitor_id=request.competitor_id,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return competitor_pb2.ListOffersResponse(
            offers=[offer_message(offer) for offer in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def DeleteOffer(
        self, request: competitor_pb2.DeleteOfferRequest, context: Context
    ) -> competitor_pb2.DeleteOfferResponse:
        await self._catalog.delete_offer(current_principal(), request.id)
        return competitor_pb2.DeleteOfferResponse()


class ObservationServicer(competitor_pb2_grpc.ObservationServiceServicer):
    def __init__(self, log: ObservationLog) -> None:
        self._log = log

    async def RecordObservations(
        self, request: competitor_pb2.RecordObservationsRequest, context: Context
    ) -> competitor_pb2.RecordObservationsResponse:
        drafts = [observation_draft(message, row=index) for index, message in enumerate(request.observations)]
        result = await self._log.record(current_principal(), drafts)
        return competitor_pb2.RecordObservationsResponse(
            created=result.created, unchanged=result.unchanged, errors=row_errors(result.errors)
        )

    async def ImportObservationsCsv(
        self, request: competitor_pb2.ImportObservationsCsvRequest, context: Context
    ) -> competitor_pb2.ImportObservationsCsvResponse:
        result = await self._log.import_csv(current_principal(), request.csv)
        return competitor_pb2.ImportObservationsCsvResponse(
            created=result.created, unchanged=result.unchanged, errors=row_errors(result.errors)
        )

    async def ListObservations(
        self, request: competitor_pb2.ListObservationsRequest, context: Context
    ) -> competitor_pb2.ListObservationsResponse:
        page = await self._log.list_observations(
            current_principal(),
            offer_id=request.offer_id,
            start=_optional_time(request, "start_time"),
            end=_optional_time(request, "end_time"),
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return competitor_pb2.ListObservationsResponse(
            observations=[observation_message(observation) for observation in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )


class MarketServicer(competitor_pb2_grpc.MarketServiceServicer):
    def __init__(self, board: MarketBoard) -> None:
        self._board = board

    async def ListMarketPrices(
        self, request: competitor_pb2.ListMarketPricesRequest, context: Context
    ) -> competitor_pb2.ListMarketPricesResponse:
        page = await self._board.list_market_prices(
            current_principal(),
            skus=list(request.skus),
            competitor_ids=list(request.competitor_ids),
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return competitor_pb2.ListMarketPricesResponse(
            markets=[sku_market_message(market) for market in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )


# --- proto → domain -------------------------------------------------------------------------------

MATCH_FROM_PROTO = {number: MatchMethod(number) for number in competitor_pb2.MatchMethod.values() if number}
EXTRACTION_FROM_PROTO = {
    number: ExtractionMethod(number) for number in competitor_pb2.ExtractionMethod.values() if number
}


def competitor_draft(message: competitor_pb2.Competitor) -> CompetitorDraft:
    return CompetitorDraft(name=message.name, website=message.website, default_currency=message.default_currency)


def offer_draft(message: competitor_pb2.Offer, *, row: int) -> OfferDraft:
    method = None
    if message.match_method:
        method = MATCH_FROM_PROTO.get(message.match_method)
        if method is None:
            raise InvalidArgument(f"unknown match method {message.match_method}", field=f"offers[{row}].match_method")
    return OfferDraft(
        competitor_id=message.competitor_id,
        url=message.url,
        sku=message.sku,
        title=message.title,
        match_method=method,
        match_confidence=message.match_confidence,
        id=message.id,
    )


def observation_draft(message: competitor_pb2.Observation, *, row: int) -> ObservationDraft:
    method = None
    if message.extraction_method:
        method = EXTRACTION_FROM_PROTO.get(message.extraction_method)
        if method is None:
            raise InvalidArgument(
                f"unknown extraction method {message.extraction_method}", field=f"observations[{row}].extraction_method"
            )
    return ObservationDraft(
        offer_id=message.offer_id,
        observe_time=from_timestamp(message.observe_time) if message.HasField("observe_time") else None,
        price=MoneyInput(message.price.amount_minor, message.price.currency) if message.HasField("price") else None,
        in_stock=message.in_stock,
        extraction_method=method,
        confidence=message.confidence,
        quarantined=message.quarantined,
        quarantine_reason=message.quarantine_reason,
    )


def _optional_time(
    request: competitor_pb2.ListObservationsRequest, name: Literal["start_time", "end_time"]
) -> datetime | None:
    if not request.HasField(name):
        return None
    stamp: Timestamp = getattr(request, name)
    return from_timestamp(stamp)


# --- domain → proto -------------------------------------------------------------------------------


def _money(value: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=value.amount_minor, currency=value.currency)


def competitor_message(competitor: Competitor) -> competitor_pb2.Competitor:
    return competitor_pb2.Competitor(
        id=competitor.id,
        name=competitor.name,
        website=competitor.website,
        default_currency=competitor.default_currency,
        create_time=to_timestamp(competitor.create_time),
        update_time=to_timestamp(competitor.update_time),
    )


def offer_message(offer: Offer) -> competitor_pb2.Offer:
    return competitor_pb2.Offer(
        id=offer.id,
        competitor_id=offer.competitor_id,
        sku=offer.sku,
        url=offer.url,
        title=offer.title,
        match_method=competitor_pb2.MatchMethod.ValueType(offer.match_method.value),
        match_confidence=offer.match_confidence,
        create_time=to_timestamp(offer.create_time),
        update_time=to_timestamp(offer.update_time),
    )


def observation_message(observation: Observation) -> competitor_pb2.Observation:
    return competitor_pb2.Observation(
        offer_id=observation.offer_id,
        observe_time=to_timestamp(observation.observe_time),
        price=_money(observation.price),
        in_stock=observation.in_stock,
        extraction_method=competitor_pb2.ExtractionMethod.ValueType(observation.extraction_method.value),
        confidence=observation.confidence,
        quarantined=observation.quarantined,
        quarantine_reason=observation.quarantine_reason,
    )


def market_price_message(price: MarketPrice) -> competitor_pb2.MarketPrice:
    return competitor_pb2.MarketPrice(
        competitor_id=price.competitor_id,
        offer_id=price.offer_id,
        price=_money(price.price),
        in_stock=price.in_stock,
        observe_time=to_timestamp(price.observe_time),
        age_seconds=price.age_seconds,
    )


def sku_market_message(market: SkuMarket) -> competitor_pb2.SkuMarket:
    return competitor_pb2.SkuMarket(sku=market.sku, prices=[market_price_message(price) for price in market.prices])


def row_errors(errors: list[RowError]) -> list[rows_pb2.RowError]:
    return [
        rows_pb2.RowError(row=error.row, key=error.key, field=error.field, message=error.message) for error in errors
    ]
