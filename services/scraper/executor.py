"""Runs one crawl job in a crawl worker: the Scrapy crawl in a child process, its pages judged for
extraction health and delivered to the competitor service in batches, progress and lease kept as it goes.

A job is held under a lease. Every delivered product page is recorded with the job, in the same write as
the progress it adds; a later attempt (after a worker died) passes those pages to the crawl as already
done, so nothing is fetched, counted or delivered twice, and nothing accepted is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from omnipricex.common.v1 import money_pb2
from omnipricex.competitor.v1 import competitor_pb2, crawl_pb2
from runtime.auth import Principal
from runtime.clock import from_iso, utcnow
from runtime.errors import Conflict, Unavailable
from runtime.logging import get_logger
from runtime.settings import Settings
from runtime.timestamps import to_timestamp
from services.scraper import health, metrics
from services.scraper.crawl.contract import CrawlSpec, CrawlSummary, PageOutcome, PageRecord, decode_line
from services.scraper.domain import CrawlJob, Health, JobState, Progress, Source, tripped
from services.scraper.repository import Repositories
from services.scraper.upstream import CompetitorInfo, IngestOutcome
from services.scraper.use_cases import acting_principal

Clock = Callable[[], datetime]
BATCH_PAGES = 200
FLUSH_SECONDS = 1.0
# Delivery retries inside one attempt, before the job itself fails over to Celery's retries.
DELIVERY_ATTEMPTS = 4
DELIVERY_BACKOFF_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1
_log = get_logger(__name__)

_METHODS = {
    "json_ld": competitor_pb2.EXTRACTION_METHOD_JSON_LD,
    "microdata": competitor_pb2.EXTRACTION_METHOD_MICRODATA,
    "rdfa": competitor_pb2.EXTRACTION_METHOD_RDFA,
    "opengraph": competitor_pb2.EXTRACTION_METHOD_OPENGRAPH,
    "selector": competitor_pb2.EXTRACTION_METHOD_SELECTOR,
    "heuristic": competitor_pb2.EXTRACTION_METHOD_HEURISTIC,
}


class Market(Protocol):
    """The competitor service as the crawl worker uses it (services.scraper.upstream.CompetitorUpstream)."""

    async def competitor(self, principal: Principal, competitor_id: str) -> CompetitorInfo: ...

    async def ingest(
        self,
        principal: Principal,
        *,
        competitor_id: str,
        source_id: str,
        job_id: str,
        products: Sequence[crawl_pb2.CrawledProduct],
    ) -> IngestOutcome: ...

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


def _die_with_parent() -> None:
    # The crawl must not outlive a worker that was killed: a new attempt will redo its undelivered pages.
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class _Run:
    job: CrawlJob
    source: Source
    principal: Principal
    baseline: health.SourceBaseline
    state: health.HealthState
    tally: health.JobTally
    last_failure: str = ""


class CrawlExecutor:
    def __init__(
        self,
        repositories: Repositories,
        market: Market,
        settings: Settings,
        *,
        worker_id: str,
        lease: timedelta,
        clock: Clock = utcnow,
        batch_pages: int = BATCH_PAGES,
    ) -> None:
        self._repositories = repositories
        self._market = market
        self._settings = settings
        self._worker_id = worker_id
        self._lease = lease
        self._clock = clock
        self._batch_pages = batch_pages

    async def execute(self, organization_id: str, job_id: str) -> CrawlJob | None:
        """Run the job if it can be taken; None when another worker holds it or it is finished."""
        now = self._clock()
        jobs = self._repositories.jobs
        job = await jobs.claim(organization_id, job_id, owner=self._worker_id, lease_until=now + self._lease, now=now)
        if job is None:
            return None
        source = await self._repositories.sources.get(organization_id, job.source_id)
        if source is None:
            return await self._finish(job, JobState.FAILED, "error", "the source was deleted")
        if source.is_paused(now):
            return await self._finish(job, JobState.FAILED, "paused", f"the source is paused: {source.pause_reason}")
        principal = acting_principal(organization_id, job.created_by)
        competitor = await self._market.competitor(principal, source.competitor_id)
        profile = await self._repositories.health.profile(source.id)
        run = _Run(
            job=job,
            source=source,
            principal=principal,
            baseline=health.SourceBaseline.from_dict(profile["baseline"]) if profile else health.SourceBaseline.empty(),
            state=health.HealthState.from_dict(profile["state"]) if profile else health.HealthState.healthy(),
            tally=health.JobTally.empty(),
        )
        skip = await jobs.delivered_urls(organization_id, job_id)
        spec = self._spec(job, source, competitor, skip)
        summary = await self._crawl(run, spec)
        return await self._conclude(run, summary)

    def _spec(self, job: CrawlJob, source: Source, competitor: CompetitorInfo, skip: set[str]) -> CrawlSpec:
        extraction = source.extraction
        settings = self._settings
        return CrawlSpec(
            job_id=job.id,
            source_id=source.id,
            kind=source.kind,
            start_urls=source.start_urls,
            max_pages=source.max_pages,
            default_currency=extraction.default_currency or competitor.default_currency or None,
            decimal_separator=extraction.decimal_separator or None,
            price_selector=extraction.price_selector or None,
            title_selector=extraction.title_selector or None,
            availability_selector=extraction.availability_selector or None,
            product_link_selector=extraction.product_link_selector or None,
            next_page_selector=extraction.next_page_selector or None,
            product_url_pattern=extraction.product_url_pattern or None,
            render_javascript=extraction.render_javascript,
            skip_urls=tuple(sorted(skip)),
            user_agent=settings.crawl_user_agent,
            allow_hosts=tuple(settings.fetch_allow_hosts),
            max_page_bytes=settings.crawl_max_page_bytes,
            concurrency_per_domain=settings.crawl_concurrency_per_domain,
            download_delay_seconds=settings.crawl_download_delay_seconds,
            timeout_seconds=settings.crawl_timeout_seconds,
            proxies=tuple(settings.crawl_proxies),
        )

    async def _crawl(self, run: _Run, spec: CrawlSpec) -> CrawlSummary | None:
        folder = self._settings.data_dir / "crawls"
        folder.mkdir(parents=True, exist_ok=True)
        spec_path = folder / f"{spec.job_id}.json"
        spec_path.write_bytes(spec.to_json())
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.scraper.crawl",
            str(spec_path),
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent,
            limit=16 * 1024 * 1024,
        )
        try:
            return await self._follow(run, process)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), timeout=10)
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            spec_path.unlink(missing_ok=True)

    async def _follow(self, run: _Run, process: asyncio.subprocess.Process) -> CrawlSummary | None:
        assert process.stdout is not None
        loop = asyncio.get_running_loop()
        pending: list[PageRecord] = []
        summary: CrawlSummary | None = None
        last_flush = last_beat = loop.time()
        while True:
            try:
                line = await asyncio.wait_for(process.stdout.readline(), timeout=FLUSH_SECONDS)
            except TimeoutError:
                line = None
            if line == b"":
                break
            if line:
                item = decode_line(line)
                if isinstance(item, CrawlSummary):
                    summary = item
                else:
                    pending.append(item)
            now = loop.time()
            if pending and (len(pending) >= self._batch_pages or now - last_flush >= FLUSH_SECONDS):
                if not await self._deliver(run, pending):
                    return None
                pending = []
                last_flush = last_beat = now
            elif now - last_beat >= self._lease.total_seconds() / 3:
                if not await self._heartbeat(run):
                    return None
                last_beat = now
        if pending and not await self._deliver(run, pending):
            return None
        await process.wait()
        return summary

    async def _heartbeat(self, run: _Run) -> bool:
        held = await self._repositories.jobs.heartbeat(
            run.job.organization_id, run.job.id, owner=self._worker_id, lease_until=self._clock() + self._lease
        )
        if not held:
            _log.info("crawl stopped: job no longer held", job_id=run.job.id)
        return held

    async def _deliver(self, run: _Run, records: Sequence[PageRecord]) -> bool:
        """Judge, send and record one batch; False when the job was cancelled or taken over."""
        if not await self._heartbeat(run):
            return False
        source = run.source
        products = [record for record in records if record.outcome is PageOutcome.PRODUCT]
        failures = [record for record in records if record.outcome is PageOutcome.FAILED]
        if failures:
            run.last_failure = f"{failures[-1].url}: {failures[-1].error}"
        memories = await self._repositories.health.memories(source.id, [record.url for record in products])
        assessment = health.assess(
            products,
            {url: health.PageMemory.from_dict(memory) for url, memory in memories.items()},
            run.baseline,
            run.tally,
            run.state,
        )
        run.tally = assessment.tally
        run.state = assessment.state
        crawled = [
            _crawled(record, source.category_id, assessment.quarantine.get(record.url, ""))
            for record in products
            if record.offer is not None
        ]
        outcome = await self._ingest(run, crawled) if crawled else IngestOutcome(0, 0, 0, 0)
        progress = Progress(
            pages_fetched=sum(record.outcome in (PageOutcome.PRODUCT, PageOutcome.LISTING) for record in records),
            product_pages=len(products),
            products_with_price=sum(
                record.offer is not None and record.offer.price_minor is not None for record in products
            ),
            pages_failed=sum(record.outcome is PageOutcome.FAILED for record in records),
            pages_refused=sum(record.outcome is PageOutcome.REFUSED for record in records),
            products_delivered=len(crawled),
            observations_created=outcome.observations_created,
            observations_unchanged=outcome.observations_unchanged,
            offers_matched=outcome.offers_matched,
            queued_for_review=outcome.queued_for_review,
            quarantined=sum(1 for product in crawled if product.quarantined),
        )
        metrics.count_progress(progress)
        held = await self._repositories.jobs.deliver(
            run.job.organization_id,
            run.job.id,
            owner=self._worker_id,
            urls=[record.url for record in products],
            progress=progress,
        )
        if assessment.memory_updates:
            await self._repositories.health.remember(
                source.id, {url: memory.to_dict() for url, memory in assessment.memory_updates.items()}
            )
        if assessment.change is not health.HealthChange.UNCHANGED:
            await self._save_health(run)
        return held

    async def _ingest(self, run: _Run, crawled: Sequence[crawl_pb2.CrawledProduct]) -> IngestOutcome:
        for attempt in range(DELIVERY_ATTEMPTS):
            try:
                return await self._market.ingest(
                    run.principal,
                    competitor_id=run.source.competitor_id,
                    source_id=run.source.id,
                    job_id=run.job.id,
                    products=crawled,
                )
            except Unavailable:
                if attempt == DELIVERY_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(DELIVERY_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable")

    async def _save_health(self, run: _Run) -> None:
        """Store the profile, show the state on the source, and tell alerting when it flipped."""
        await self._repositories.health.save_profile(
            run.source.id, {"baseline": run.baseline.to_dict(), "state": run.state.to_dict()}
        )
        state = run.state
        wanted = Health.BROKEN if state.broken else Health.HEALTHY
        source = await self._update_source(
            run.source, lambda current: replace(current, health=wanted, health_reason=state.reason)
        )
        was_broken = run.source.health is Health.BROKEN
        run.source = source
        if state.broken != was_broken:
            await self._market.report_health(
                run.principal,
                competitor_id=source.competitor_id,
                source_id=source.id,
                source_name=source.name,
                broken=state.broken,
                reason=state.reason,
                when=self._clock(),
            )

    async def _update_source(self, source: Source, change: Callable[[Source], Source]) -> Source:
        for _ in range(5):
            current = await self._repositories.sources.get(source.organization_id, source.id)
            if current is None:
                return source
            after = replace(change(current), revision=current.revision + 1, update_time=self._clock())
            try:
                await self._repositories.sources.update(current, after)
            except Conflict:
                continue
            return after
        raise Conflict("the source kept changing while the crawl recorded its state")

    async def _conclude(self, run: _Run, summary: CrawlSummary | None) -> CrawlJob | None:
        current = await self._repositories.jobs.get(run.job.organization_id, run.job.id)
        if current is None or current.state is not JobState.RUNNING or current.lease_owner != self._worker_id:
            return current
        now = self._clock()
        if summary is None:
            return await self._finish(run.job, JobState.FAILED, "error", "the crawl process ended without a summary")
        progress = current.progress
        if summary.finish_reason == "circuit_open" or (progress.pages_fetched == 0 and progress.pages_failed > 0):
            # A crawl that could fetch nothing at all failed as surely as one whose breaker opened.
            reason = (
                summary.detail
                if summary.finish_reason == "circuit_open"
                else (f"no page could be fetched ({progress.pages_failed} failed; last: {run.last_failure})")
            )
            paused = await self._update_source(run.source, lambda source: tripped(source, reason=reason, now=now))
            until = paused.paused_until.isoformat() if paused.paused_until else "further notice"
            return await self._finish(
                run.job, JobState.FAILED, "circuit_open", f"{reason}; the source is paused until {until}"
            )
        if summary.finish_reason in ("error", "robots_unavailable"):
            return await self._finish(run.job, JobState.FAILED, summary.finish_reason, summary.detail)
        run.baseline = health.finish(run.tally, run.baseline, run.state)
        await self._save_health(run)
        await self._update_source(run.source, lambda source: replace(source, last_crawl_time=now, breaker_trips=0))
        return await self._finish(run.job, JobState.SUCCEEDED, summary.finish_reason, summary.detail)

    async def _finish(self, job: CrawlJob, state: JobState, reason: str, detail: str) -> CrawlJob | None:
        await self._repositories.jobs.finish(
            job.organization_id,
            job.id,
            owner=self._worker_id,
            state=state,
            finish_reason=reason,
            detail=detail,
            end_time=self._clock(),
        )
        metrics.count_finished(state.name.lower(), reason)
        _log.info("crawl finished", job_id=job.id, state=state.name, reason=reason, detail=detail)
        return await self._repositories.jobs.get(job.organization_id, job.id)


def _crawled(record: PageRecord, category_id: str, quarantine_reason: str) -> crawl_pb2.CrawledProduct:
    offer = record.offer
    assert offer is not None
    product = crawl_pb2.CrawledProduct(
        url=record.final_url or record.url,
        fetch_time=to_timestamp(from_iso(record.fetch_time)),
        title=offer.title or "",
        brand=offer.brand or "",
        gtin=offer.gtin or "",
        mpn=offer.mpn or "",
        image_url=offer.image or "",
        category_id=category_id,
        extraction_method=_METHODS.get(offer.method or "", competitor_pb2.EXTRACTION_METHOD_UNSPECIFIED),
        confidence=offer.confidence,
        quarantined=bool(quarantine_reason),
        quarantine_reason=quarantine_reason,
    )
    if offer.price_minor is not None and offer.currency:
        product.price.CopyFrom(money_pb2.Money(amount_minor=offer.price_minor, currency=offer.currency))
    if offer.in_stock is not None:
        product.in_stock = offer.in_stock
    return product
