"""Scraper use cases: sources, starting and watching crawls, the sweeper and the crawl schedule."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from runtime.auth import CredentialKind, Principal, Role
from runtime.clock import utcnow
from runtime.errors import Conflict, FailedPrecondition, NotFound
from runtime.field_mask import parse_update_mask
from runtime.ids import new_id
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.scraper.domain import (
    JOB_ID_PREFIX,
    SOURCE_ID_PREFIX,
    CrawlJob,
    Creator,
    Health,
    JobState,
    Source,
    SourceDraft,
    Trigger,
    first_crawl_time,
    resumed,
    validated_source,
)
from services.scraper.repository import Repositories

Clock = Callable[[], datetime]
UPDATABLE = ("name", "start_urls", "extraction", "category_id", "schedule_interval_minutes", "max_pages")
SCHEDULE_BATCH = 500


class JobQueue(Protocol):
    def submit(self, organization_id: str, job_id: str) -> None: ...


class CompetitorLookup(Protocol):
    """The competitor service as sources use it (services.scraper.upstream.CompetitorUpstream)."""

    async def competitor(self, principal: Principal, competitor_id: str) -> object: ...

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
    ) -> None: ...


def acting_principal(organization_id: str, creator: Creator) -> Principal:
    """Who a job acts as: its creator, with the role they had when they created it."""
    return Principal(organization_id, creator.subject_id, creator.role, CredentialKind.ACCESS_TOKEN)


class Sources:
    def __init__(
        self,
        repositories: Repositories,
        competitors: CompetitorLookup,
        *,
        clock: Clock = utcnow,
        ids: Callable[[str], str] = new_id,
    ) -> None:
        self._sources = repositories.sources
        self._jobs = repositories.jobs
        self._health = repositories.health
        self._competitors = competitors
        self._clock = clock
        self._ids = ids

    async def create(self, principal: Principal, draft: SourceDraft) -> Source:
        principal.require(Role.ANALYST)
        checked = validated_source(draft)
        await self._competitors.competitor(principal, checked.competitor_id)
        now = self._clock()
        source = Source(
            id=self._ids(SOURCE_ID_PREFIX),
            organization_id=principal.organization_id,
            competitor_id=checked.competitor_id,
            name=checked.name,
            kind=checked.kind,
            start_urls=checked.start_urls,
            extraction=checked.extraction,
            category_id=checked.category_id,
            schedule_interval_minutes=checked.schedule_interval_minutes,
            max_pages=checked.max_pages,
            created_by=Creator.of(principal),
            create_time=now,
            update_time=now,
            next_crawl_time=first_crawl_time(checked, now),
        )
        await self._sources.create(source)
        return source

    async def get(self, principal: Principal, source_id: str) -> Source:
        principal.require(Role.VIEWER)
        source = await self._sources.get(principal.organization_id, source_id)
        if source is None:
            raise NotFound(f"source {source_id!r} does not exist")
        return source

    async def list_sources(
        self, principal: Principal, *, competitor_id: str, page_size_requested: int, page_token: str
    ) -> Page[Source]:
        principal.require(Role.VIEWER)
        limit = page_size(page_size_requested)
        position = decode_token(page_token)
        after = (str(position["k"]), str(position["i"])) if position else None
        found = await self._sources.find(
            principal.organization_id, competitor_id=competitor_id, after=after, limit=limit + 1
        )
        items = found[:limit]
        token = encode_token({"k": items[-1].name_key, "i": items[-1].id}) if len(found) > limit else ""
        return Page(items, token)

    async def update(self, principal: Principal, source_id: str, draft: SourceDraft, mask: Collection[str]) -> Source:
        principal.require(Role.ANALYST)
        fields = parse_update_mask(
            mask, UPDATABLE, key="competitor_id", key_message="a source's competitor cannot change; create another"
        )
        before = await self.get(principal, source_id)
        merged = SourceDraft(
            competitor_id=before.competitor_id,
            **{name: getattr(draft if name in fields else before, name) for name in UPDATABLE},
            kind=before.kind,
        )
        checked = validated_source(merged)
        now = self._clock()
        schedule_changed = checked.schedule_interval_minutes != before.schedule_interval_minutes
        after = replace(
            before,
            name=checked.name,
            start_urls=checked.start_urls,
            extraction=checked.extraction,
            category_id=checked.category_id,
            schedule_interval_minutes=checked.schedule_interval_minutes,
            max_pages=checked.max_pages,
            update_time=now,
            revision=before.revision + 1,
            next_crawl_time=first_crawl_time(checked, now) if schedule_changed else before.next_crawl_time,
        )
        await self._sources.update(before, after)
        return after

    async def delete(self, principal: Principal, source_id: str) -> None:
        principal.require(Role.ANALYST)
        source = await self.get(principal, source_id)
        latest = await self._jobs.find(principal.organization_id, source_id=source.id, before=None, limit=1)
        if latest and latest[0].state.active:
            raise FailedPrecondition("a crawl of this source is queued or running; cancel it first")
        await self._sources.delete(principal.organization_id, source.id)

    async def reset_health(self, principal: Principal, source_id: str) -> Source:
        """Accept the shop's pages as they are now: forget what health learned, and clear the broken flag."""
        principal.require(Role.ANALYST)
        before = await self.get(principal, source_id)
        now = self._clock()
        after = replace(before, health=Health.UNKNOWN, health_reason="", update_time=now, revision=before.revision + 1)
        await self._sources.update(before, after)
        await self._health.forget(before.id)
        if before.health is Health.BROKEN:
            await self._competitors.report_health(
                principal,
                competitor_id=before.competitor_id,
                source_id=before.id,
                source_name=before.name,
                broken=False,
                reason="",
                when=now,
            )
        return after

    async def resume(self, principal: Principal, source_id: str) -> Source:
        principal.require(Role.ANALYST)
        before = await self.get(principal, source_id)
        after = resumed(before, self._clock())
        await self._sources.update(before, after)
        return after


class Crawls:
    def __init__(
        self,
        repositories: Repositories,
        queue: JobQueue,
        *,
        clock: Clock = utcnow,
        ids: Callable[[str], str] = new_id,
    ) -> None:
        self._sources = repositories.sources
        self._jobs = repositories.jobs
        self._queue = queue
        self._clock = clock
        self._ids = ids

    async def start(self, principal: Principal, source_id: str) -> CrawlJob:
        principal.require(Role.ANALYST)
        source = await self._sources.get(principal.organization_id, source_id)
        if source is None:
            raise NotFound(f"source {source_id!r} does not exist")
        source.require_crawlable(self._clock())
        return await self.queue(source, Creator.of(principal), Trigger.MANUAL)

    async def queue(self, source: Source, creator: Creator, trigger: Trigger) -> CrawlJob:
        job = CrawlJob(
            id=self._ids(JOB_ID_PREFIX),
            organization_id=source.organization_id,
            source_id=source.id,
            competitor_id=source.competitor_id,
            state=JobState.QUEUED,
            trigger=trigger,
            created_by=creator,
            create_time=self._clock(),
        )
        await self._jobs.create(job)
        self._queue.submit(job.organization_id, job.id)
        return job

    async def get(self, principal: Principal, job_id: str) -> CrawlJob:
        principal.require(Role.VIEWER)
        job = await self._jobs.get(principal.organization_id, job_id)
        if job is None:
            raise NotFound(f"crawl job {job_id!r} does not exist")
        return job

    async def list_jobs(
        self, principal: Principal, *, source_id: str, page_size_requested: int, page_token: str
    ) -> Page[CrawlJob]:
        principal.require(Role.VIEWER)
        limit = page_size(page_size_requested)
        position = decode_token(page_token)
        before = str(position["b"]) if position else None
        found = await self._jobs.find(principal.organization_id, source_id=source_id, before=before, limit=limit + 1)
        items = found[:limit]
        return Page(items, encode_token({"b": items[-1].id}) if len(found) > limit else "")

    async def cancel(self, principal: Principal, job_id: str) -> CrawlJob:
        principal.require(Role.ANALYST)
        job = await self._jobs.cancel(principal.organization_id, job_id, now=self._clock())
        if job is None:
            raise NotFound(f"crawl job {job_id!r} does not exist")
        return job


class CrawlSweeper:
    """Re-queues crawls whose message was lost or whose worker died (lease ended)."""

    def __init__(self, repositories: Repositories, queue: JobQueue, *, clock: Clock = utcnow) -> None:
        self._jobs = repositories.jobs
        self._queue = queue
        self._clock = clock

    async def sweep(self, *, grace: timedelta) -> int:
        now = self._clock()
        stale = await self._jobs.stale(queued_before=now - grace, now=now, limit=1_000)
        for job in stale:
            self._queue.submit(job.organization_id, job.id)
        return len(stale)


class CrawlSchedule:
    """Starts the crawls that are due. Advancing a source's next time is a revision-checked update, so
    two dispatchers never start the same slot, and missed slots are skipped rather than replayed."""

    def __init__(self, repositories: Repositories, crawls: Crawls, *, clock: Clock = utcnow) -> None:
        self._sources = repositories.sources
        self._crawls = crawls
        self._clock = clock

    async def dispatch_due(self) -> int:
        now = self._clock()
        started = 0
        for source in await self._sources.due(now, SCHEDULE_BATCH):
            if source.next_crawl_time is None or not source.schedule_interval_minutes:
                continue
            interval = timedelta(minutes=source.schedule_interval_minutes)
            following = source.next_crawl_time
            while following <= now:
                following += interval
            advanced = replace(source, next_crawl_time=following, revision=source.revision + 1)
            try:
                await self._sources.update(source, advanced)
            except Conflict:
                continue  # another dispatcher advanced it first, or someone edited it meanwhile
            if source.is_paused(now):
                continue
            try:
                await self._crawls.queue(advanced, source.created_by, Trigger.SCHEDULE)
            except FailedPrecondition:
                continue  # the previous crawl is still running: this slot is skipped
            started += 1
        return started
