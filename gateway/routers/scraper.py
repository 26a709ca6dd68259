"""/v1/crawl-sources and /v1/crawl-jobs → omnipricex.scraper.v1.SourceService and CrawlJobService."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from gateway.deps import Analyst, Viewer
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.scraper import (
    ID_PATTERN,
    CrawlJob,
    CrawlJobPage,
    CrawlJobQuery,
    NewSource,
    Source,
    SourcePage,
    SourcePatch,
    SourceQuery,
)
from gateway.translate.common import next_cursor, page_request
from gateway.translate.scraper import extraction_patched, job_json, source_json, source_message, source_patch_message
from omnipricex.scraper.v1 import scraper_pb2 as pb

router = APIRouter(prefix="/v1", tags=["crawling"], responses=PROTECTED, default_response_class=JsonResponse)
SourceId = Annotated[str, Path(pattern=ID_PATTERN, description="The crawl source's id.")]
JobId = Annotated[str, Path(pattern=ID_PATTERN, description="The crawl job's id.")]


def source_location(source_id: str) -> str:
    return f"/v1/crawl-sources/{quote(source_id, safe='')}"


def job_location(job_id: str) -> str:
    return f"/v1/crawl-jobs/{quote(job_id, safe='')}"


# --- sources --------------------------------------------------------------------------------------


@router.post(
    "/crawl-sources",
    response_model=Source,
    status_code=201,
    responses=problems(409),
    summary="Add a crawl source to a competitor (analyst)",
    description="Start URLs must be absolute http(s) URLs; selectors and the product URL pattern are compiled now. "
    "A value the service refuses comes back as a 400 problem naming the field in `errors`. Crawls never connect "
    "to private, loopback, link-local or metadata addresses unless the operator allow-lists the host.",
)
async def create_source(body: NewSource, caller: Analyst) -> Response:
    response = await caller.stubs.sources.CreateSource(
        pb.CreateSourceRequest(source=source_message(body)), metadata=caller.metadata, timeout=caller.deadline
    )
    source = response.source
    return JsonResponse(source_json(source), status_code=201, headers={"Location": source_location(source.id)})


@router.get("/crawl-sources", response_model=SourcePage, summary="List crawl sources by name (viewer)")
async def list_sources(query: Annotated[SourceQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.sources.ListSources(
        pb.ListSourcesRequest(competitor_id=query.competitor_id or "", page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [source_json(item) for item in response.sources], "next_cursor": next_cursor(response.page)}
    )


@router.get(
    "/crawl-sources/{source_id}",
    response_model=Source,
    responses=problems(404),
    summary="A crawl source with its health and pause state (viewer)",
)
async def get_source(source_id: SourceId, caller: Viewer) -> Response:
    response = await caller.stubs.sources.GetSource(
        pb.GetSourceRequest(source_id=source_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(source_json(response.source))


@router.patch(
    "/crawl-sources/{source_id}",
    response_model=Source,
    responses=problems(404, 409),
    summary="Change some settings of a crawl source (analyst)",
    description="JSON merge patch (RFC 7396): only the fields present change; `extraction` is merged setting by "
    "setting (null unsets one, `extraction: null` unsets all); null removes the category. The kind and the "
    "competitor never change.",
)
async def update_source(source_id: SourceId, patch: SourcePatch, caller: Analyst) -> Response:
    current = None
    if extraction_patched(patch):
        found = await caller.stubs.sources.GetSource(
            pb.GetSourceRequest(source_id=source_id), metadata=caller.metadata, timeout=caller.deadline
        )
        current = found.source.extraction
    source, mask = source_patch_message(source_id, patch, current)
    response = await caller.stubs.sources.UpdateSource(
        pb.UpdateSourceRequest(source=source, update_mask=mask), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(source_json(response.source))


@router.delete(
    "/crawl-sources/{source_id}",
    status_code=204,
    response_class=Response,
    responses=problems(404),
    summary="Delete a crawl source without a queued or running crawl (analyst)",
    description="Observations its crawls delivered stay with the competitor's offers.",
)
async def delete_source(source_id: SourceId, caller: Analyst) -> Response:
    await caller.stubs.sources.DeleteSource(
        pb.DeleteSourceRequest(source_id=source_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return Response(status_code=204)


@router.post(
    "/crawl-sources/{source_id}:resume",
    response_model=Source,
    responses=problems(404),
    summary="Resume a source its circuit breaker paused (analyst)",
    description="Closes the breaker: a scheduled source is due again at once.",
)
async def resume_source(source_id: SourceId, caller: Analyst) -> Response:
    response = await caller.stubs.sources.ResumeSource(
        pb.ResumeSourceRequest(source_id=source_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(source_json(response.source))


@router.post(
    "/crawl-sources/{source_id}:reset-health",
    response_model=Source,
    responses=problems(404),
    summary="Accept a source's pages as they are now, clearing its broken flag (analyst)",
    description="After a shop's redesign or a real change of currency: forgets the extraction baseline and page "
    "memory the health checks learned, sets health to unknown until the next crawl, and resolves the source's "
    "extraction_broken alert. Observations already quarantined stay quarantined.",
)
async def reset_source_health(source_id: SourceId, caller: Analyst) -> Response:
    response = await caller.stubs.sources.ResetSourceHealth(
        pb.ResetSourceHealthRequest(source_id=source_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(source_json(response.source))


# --- crawl jobs -----------------------------------------------------------------------------------


@router.post(
    "/crawl-sources/{source_id}/crawls",
    response_model=CrawlJob,
    status_code=202,
    responses=problems(404),
    summary="Start a crawl of a source (analyst)",
    description="The crawl is queued; poll the job at its Location for progress. Refused (400, "
    "FAILED_PRECONDITION) while a crawl of the source is queued or running, or while the source is paused.",
)
async def start_crawl(source_id: SourceId, caller: Analyst) -> Response:
    response = await caller.stubs.crawl_jobs.StartCrawl(
        pb.StartCrawlRequest(source_id=source_id), metadata=caller.metadata, timeout=caller.long_deadline
    )
    job = response.job
    return JsonResponse(job_json(job), status_code=202, headers={"Location": job_location(job.id)})


@router.get("/crawl-jobs", response_model=CrawlJobPage, summary="List crawl jobs, newest first (viewer)")
async def list_crawl_jobs(query: Annotated[CrawlJobQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.crawl_jobs.ListCrawlJobs(
        pb.ListCrawlJobsRequest(source_id=query.source_id or "", page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse({"items": [job_json(job) for job in response.jobs], "next_cursor": next_cursor(response.page)})


@router.get(
    "/crawl-jobs/{job_id}",
    response_model=CrawlJob,
    responses=problems(404),
    summary="A crawl job with its state, progress and stats (viewer)",
)
async def get_crawl_job(job_id: JobId, caller: Viewer) -> Response:
    response = await caller.stubs.crawl_jobs.GetCrawlJob(
        pb.GetCrawlJobRequest(job_id=job_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(job_json(response.job))


@router.post(
    "/crawl-jobs/{job_id}:cancel",
    response_model=CrawlJob,
    responses=problems(404),
    summary="Cancel a queued or running crawl; what it delivered stays (analyst)",
    description="A crawl that already ended is returned as it ended.",
)
async def cancel_crawl_job(job_id: JobId, caller: Analyst) -> Response:
    response = await caller.stubs.crawl_jobs.CancelCrawlJob(
        pb.CancelCrawlJobRequest(job_id=job_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(job_json(response.job))
