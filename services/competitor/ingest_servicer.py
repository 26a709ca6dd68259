"""gRPC entry points of CrawlIngestService (proto messages in, the ingest use case, proto out), and the
registration of the matching services: crawl ingestion and the review queue."""

from __future__ import annotations

from typing import Any

import grpc

from omnipricex.competitor.v1 import crawl_pb2, crawl_pb2_grpc, review_pb2, review_pb2_grpc
from runtime.auth import current_principal
from runtime.errors import InvalidArgument
from runtime.timestamps import from_timestamp
from services.competitor.catalog import CatalogReader
from services.competitor.domain import MoneyInput, SightingDraft
from services.competitor.ingest import CrawlIngest, IngestRequest, SourceHealthReport
from services.competitor.market_events import MarketEventSink
from services.competitor.repository import Repositories
from services.competitor.review import ReviewQueue
from services.competitor.review_servicer import ReviewServicer
from services.competitor.servicer import EXTRACTION_FROM_PROTO, row_errors

Context = grpc.aio.ServicerContext[Any, Any]


class CrawlIngestServicer(crawl_pb2_grpc.CrawlIngestServiceServicer):
    def __init__(self, ingest: CrawlIngest) -> None:
        self._ingest = ingest

    async def IngestCrawledProducts(
        self, request: crawl_pb2.IngestCrawledProductsRequest, context: Context
    ) -> crawl_pb2.IngestCrawledProductsResponse:
        result = await self._ingest.ingest(
            current_principal(),
            IngestRequest(
                competitor_id=request.competitor_id,
                source_id=request.source_id,
                crawl_job_id=request.crawl_job_id,
                products=[sighting_draft(product, row=index) for index, product in enumerate(request.products)],
            ),
        )
        return crawl_pb2.IngestCrawledProductsResponse(
            observations_created=result.observations_created,
            observations_unchanged=result.observations_unchanged,
            offers_matched=result.offers_matched,
            queued_for_review=result.queued_for_review,
            unmatched=result.unmatched,
            errors=row_errors(list(result.errors)),
        )

    async def ReportSourceHealth(
        self, request: crawl_pb2.ReportSourceHealthRequest, context: Context
    ) -> crawl_pb2.ReportSourceHealthResponse:
        await self._ingest.report_source_health(
            current_principal(),
            SourceHealthReport(
                competitor_id=request.competitor_id,
                source_id=request.source_id,
                source_name=request.source_name,
                broken=request.broken,
                reason=request.reason,
                observe_time=from_timestamp(request.observe_time) if request.HasField("observe_time") else None,
            ),
        )
        return crawl_pb2.ReportSourceHealthResponse()


def sighting_draft(message: crawl_pb2.CrawledProduct, *, row: int) -> SightingDraft:
    method = None
    if message.extraction_method:
        method = EXTRACTION_FROM_PROTO.get(message.extraction_method)
        if method is None:
            raise InvalidArgument(
                f"unknown extraction method {message.extraction_method}", field=f"products[{row}].extraction_method"
            )
    return SightingDraft(
        url=message.url,
        fetch_time=from_timestamp(message.fetch_time) if message.HasField("fetch_time") else None,
        title=message.title,
        brand=message.brand,
        gtin=message.gtin,
        mpn=message.mpn,
        image_url=message.image_url,
        category_id=message.category_id,
        price=MoneyInput(message.price.amount_minor, message.price.currency) if message.HasField("price") else None,
        in_stock=message.in_stock if message.HasField("in_stock") else None,
        extraction_method=method,
        confidence=message.confidence,
        quarantined=message.quarantined,
        quarantine_reason=message.quarantine_reason,
    )


MATCHING_SERVICE_NAMES = (
    crawl_pb2.DESCRIPTOR.services_by_name["CrawlIngestService"].full_name,
    review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name,
)


def add_matching_services(
    server: grpc.aio.Server, repositories: Repositories, catalog: CatalogReader, events: MarketEventSink
) -> None:
    """Serve CrawlIngestService and ReviewService (MATCHING_SERVICE_NAMES) on `server`."""
    crawl_pb2_grpc.add_CrawlIngestServiceServicer_to_server(
        CrawlIngestServicer(CrawlIngest(repositories, catalog, events)), server
    )
    review_pb2_grpc.add_ReviewServiceServicer_to_server(
        ReviewServicer(ReviewQueue(repositories, catalog, events)), server
    )
