"""What the scraper asks of the competitor service over gRPC: competitors, crawl results, source health.

Calls are made in a principal's name: the caller's for requests, the job creator's for crawls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import grpc

from omnipricex.competitor.v1 import competitor_pb2, competitor_pb2_grpc, crawl_pb2, crawl_pb2_grpc
from runtime.auth import Principal
from runtime.clients import callee_error, open_channel
from runtime.credentials import Credentials
from runtime.errors import (
    InvalidArgument,
)
from runtime.identity_client import access_tokens
from runtime.settings import Settings
from runtime.timestamps import to_timestamp


@dataclass(frozen=True, slots=True)
class CompetitorInfo:
    id: str
    name: str
    default_currency: str


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    observations_created: int
    observations_unchanged: int
    offers_matched: int
    queued_for_review: int


class CompetitorUpstream:
    def __init__(self, settings: Settings) -> None:
        self._channel = open_channel(
            settings.competitor_address,
            settings,
            read_only_services=["omnipricex.competitor.v1.CompetitorService"],
        )
        self._competitors = competitor_pb2_grpc.CompetitorServiceStub(self._channel)
        self._ingest = crawl_pb2_grpc.CrawlIngestServiceStub(self._channel)
        self._credentials = Credentials(access_tokens(settings))
        self._deadline = settings.rpc_deadline_seconds
        self._long_deadline = settings.long_rpc_deadline_seconds

    async def close(self) -> None:
        await self._channel.close()

    async def competitor(self, principal: Principal, competitor_id: str) -> CompetitorInfo:
        try:
            response = await self._competitors.GetCompetitor(
                competitor_pb2.GetCompetitorRequest(id=competitor_id),
                metadata=self._credentials.metadata(principal),
                timeout=self._deadline,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise InvalidArgument(f"competitor {competitor_id!r} does not exist", field="competitor_id") from None
            raise callee_error(error, "the competitor service") from None
        found = response.competitor
        return CompetitorInfo(found.id, found.name, found.default_currency)

    async def ingest(
        self,
        principal: Principal,
        *,
        competitor_id: str,
        source_id: str,
        job_id: str,
        products: Sequence[crawl_pb2.CrawledProduct],
    ) -> IngestOutcome:
        request = crawl_pb2.IngestCrawledProductsRequest(
            competitor_id=competitor_id, source_id=source_id, crawl_job_id=job_id, products=products
        )
        try:
            response = await self._ingest.IngestCrawledProducts(
                request, metadata=self._credentials.metadata(principal), timeout=self._long_deadline
            )
        except grpc.aio.AioRpcError as error:
            raise callee_error(error, "the competitor service") from None
        if response.errors:
            first = response.errors[0]
            raise InvalidArgument(
                f"the competitor service refused {len(response.errors)} crawled product(s); "
                f"first: {first.key}: {first.message}"
            )
        return IngestOutcome(
            response.observations_created,
            response.observations_unchanged,
            response.offers_matched,
            response.queued_for_review,
        )

    async def report_health(
        self,
        principal: Principal,
        *,
        competitor_id: str,
        source_id: str,
        source_name: str,
        broken: bool,
        reason: str,
        when: datetime,
    ) -> None:
        request = crawl_pb2.ReportSourceHealthRequest(
            competitor_id=competitor_id,
            source_id=source_id,
            source_name=source_name,
            broken=broken,
            reason=reason,
            observe_time=to_timestamp(when),
        )
        try:
            await self._ingest.ReportSourceHealth(
                request, metadata=self._credentials.metadata(principal), timeout=self._deadline
            )
        except grpc.aio.AioRpcError as error:
            raise callee_error(error, "the competitor service") from None
