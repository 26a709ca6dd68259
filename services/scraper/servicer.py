"""gRPC entry points of SourceService and CrawlJobService: proto messages in, use cases, proto out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from omnipricex.common.v1 import paging_pb2
from omnipricex.scraper.v1 import scraper_pb2, scraper_pb2_grpc
from runtime.auth import current_principal
from runtime.errors import InvalidArgument
from runtime.timestamps import to_timestamp
from services.scraper.crawl.contract import SourceKind
from services.scraper.domain import PROGRESS_FIELDS, CrawlJob, Extraction, Source, SourceDraft
from services.scraper.use_cases import Crawls, Sources

Context = grpc.aio.ServicerContext[Any, Any]

_KINDS = {
    scraper_pb2.SOURCE_KIND_PRODUCT_URLS: SourceKind.PRODUCT_URLS,
    scraper_pb2.SOURCE_KIND_LISTING: SourceKind.LISTING,
    scraper_pb2.SOURCE_KIND_SITEMAP: SourceKind.SITEMAP,
}
_KIND_NUMBERS = {kind: number for number, kind in _KINDS.items()}


def _time(moment: datetime | None) -> Timestamp | None:
    return None if moment is None else to_timestamp(moment)


def source_draft(message: scraper_pb2.Source) -> SourceDraft:
    kind = _KINDS.get(message.kind)
    if kind is None:
        raise InvalidArgument("kind must be SOURCE_KIND_PRODUCT_URLS, _LISTING or _SITEMAP", field="kind")
    extraction = message.extraction
    return SourceDraft(
        competitor_id=message.competitor_id,
        name=message.name,
        kind=kind,
        start_urls=tuple(message.start_urls),
        extraction=Extraction(
            default_currency=extraction.default_currency,
            decimal_separator=extraction.decimal_separator,
            price_selector=extraction.price_selector,
            title_selector=extraction.title_selector,
            availability_selector=extraction.availability_selector,
            product_link_selector=extraction.product_link_selector,
            next_page_selector=extraction.next_page_selector,
            product_url_pattern=extraction.product_url_pattern,
            render_javascript=extraction.render_javascript,
        ),
        category_id=message.category_id,
        schedule_interval_minutes=message.schedule_interval_minutes,
        max_pages=message.max_pages,
    )


def source_message(source: Source) -> scraper_pb2.Source:
    extraction = source.extraction
    return scraper_pb2.Source(
        id=source.id,
        competitor_id=source.competitor_id,
        name=source.name,
        kind=_KIND_NUMBERS[source.kind],
        start_urls=source.start_urls,
        extraction=scraper_pb2.ExtractionSettings(
            default_currency=extraction.default_currency,
            decimal_separator=extraction.decimal_separator,
            price_selector=extraction.price_selector,
            title_selector=extraction.title_selector,
            availability_selector=extraction.availability_selector,
            product_link_selector=extraction.product_link_selector,
            next_page_selector=extraction.next_page_selector,
            product_url_pattern=extraction.product_url_pattern,
            render_javascript=extraction.render_javascript,
        ),
        category_id=source.category_id,
        schedule_interval_minutes=source.schedule_interval_minutes,
        max_pages=source.max_pages,
        paused=source.paused,
        pause_reason=source.pause_reason,
        paused_until=_time(source.paused_until),
        health=int(source.health),  # type: ignore[arg-type]
        health_reason=source.health_reason,
        last_crawl_time=_time(source.last_crawl_time),
        next_crawl_time=_time(source.next_crawl_time),
        create_time=to_timestamp(source.create_time),
        update_time=to_timestamp(source.update_time),
    )


def job_message(job: CrawlJob) -> scraper_pb2.CrawlJob:
    return scraper_pb2.CrawlJob(
        id=job.id,
        source_id=job.source_id,
        competitor_id=job.competitor_id,
        state=int(job.state),  # type: ignore[arg-type]
        trigger=int(job.trigger),  # type: ignore[arg-type]
        progress=scraper_pb2.CrawlProgress(**{name: getattr(job.progress, name) for name in PROGRESS_FIELDS}),
        finish_reason=job.finish_reason,
        detail=job.detail,
        attempts=job.attempts,
        created_by=job.created_by.subject_id,
        create_time=to_timestamp(job.create_time),
        start_time=_time(job.start_time),
        end_time=_time(job.end_time),
    )


class SourceServicer(scraper_pb2_grpc.SourceServiceServicer):
    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    async def CreateSource(
        self, request: scraper_pb2.CreateSourceRequest, context: Context
    ) -> scraper_pb2.CreateSourceResponse:
        source = await self._sources.create(current_principal(), source_draft(request.source))
        return scraper_pb2.CreateSourceResponse(source=source_message(source))

    async def GetSource(self, request: scraper_pb2.GetSourceRequest, context: Context) -> scraper_pb2.GetSourceResponse:
        source = await self._sources.get(current_principal(), request.source_id)
        return scraper_pb2.GetSourceResponse(source=source_message(source))

    async def ListSources(
        self, request: scraper_pb2.ListSourcesRequest, context: Context
    ) -> scraper_pb2.ListSourcesResponse:
        page = await self._sources.list_sources(
            current_principal(),
            competitor_id=request.competitor_id,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return scraper_pb2.ListSourcesResponse(
            sources=[source_message(source) for source in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def UpdateSource(
        self, request: scraper_pb2.UpdateSourceRequest, context: Context
    ) -> scraper_pb2.UpdateSourceResponse:
        paths = list(request.update_mask.paths)
        message = scraper_pb2.Source()
        message.CopyFrom(request.source)
        if message.kind == scraper_pb2.SOURCE_KIND_UNSPECIFIED:
            # The kind never changes; any valid one lets the rest of the message be read.
            message.kind = scraper_pb2.SOURCE_KIND_PRODUCT_URLS
        source = await self._sources.update(current_principal(), request.source.id, source_draft(message), paths)
        return scraper_pb2.UpdateSourceResponse(source=source_message(source))

    async def DeleteSource(
        self, request: scraper_pb2.DeleteSourceRequest, context: Context
    ) -> scraper_pb2.DeleteSourceResponse:
        await self._sources.delete(current_principal(), request.source_id)
        return scraper_pb2.DeleteSourceResponse()

    async def ResumeSource(
        self, request: scraper_pb2.ResumeSourceRequest, context: Context
    ) -> scraper_pb2.ResumeSourceResponse:
        source = await self._sources.resume(current_principal(), request.source_id)
        return scraper_pb2.ResumeSourceResponse(source=source_message(source))

    async def ResetSourceHealth(
        self, request: scraper_pb2.ResetSourceHealthRequest, context: Context
    ) -> scraper_pb2.ResetSourceHealthResponse:
        source = await self._sources.reset_health(current_principal(), request.source_id)
        return scraper_pb2.ResetSourceHealthResponse(source=source_message(source))


class CrawlJobServicer(scraper_pb2_grpc.CrawlJobServiceServicer):
    def __init__(self, crawls: Crawls) -> None:
        self._crawls = crawls

    async def StartCrawl(
        self, request: scraper_pb2.StartCrawlRequest, context: Context
    ) -> scraper_pb2.StartCrawlResponse:
        job = await self._crawls.start(current_principal(), request.source_id)
        return scraper_pb2.StartCrawlResponse(job=job_message(job))

    async def GetCrawlJob(
        self, request: scraper_pb2.GetCrawlJobRequest, context: Context
    ) -> scraper_pb2.GetCrawlJobResponse:
        job = await self._crawls.get(current_principal(), request.job_id)
        return scraper_pb2.GetCrawlJobResponse(job=job_message(job))

    async def ListCrawlJobs(
        self, request: scraper_pb2.ListCrawlJobsRequest, context: Context
    ) -> scraper_pb2.ListCrawlJobsResponse:
        page = await self._crawls.list_jobs(
            current_principal(),
            source_id=request.source_id,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return scraper_pb2.ListCrawlJobsResponse(
            jobs=[job_message(job) for job in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def CancelCrawlJob(
        self, request: scraper_pb2.CancelCrawlJobRequest, context: Context
    ) -> scraper_pb2.CancelCrawlJobResponse:
        job = await self._crawls.cancel(current_principal(), request.job_id)
        return scraper_pb2.CancelCrawlJobResponse(job=job_message(job))
