"""The scraper's Celery tasks on the `crawl` queue: crawl jobs, and the sweep and schedule that beat runs.

Each task takes ids only and is idempotent on them (the job row's atomic claim decides who works), so
at-least-once delivery, redelivery after a killed worker and the sweeper's re-queues are all safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from runtime.jobs.app import JobApp, create_job_app
from runtime.jobs.worker import worker_identity
from runtime.logging import get_logger
from runtime.settings import Settings, get_settings
from services.scraper.executor import CrawlExecutor
from services.scraper.repository import Repositories
from services.scraper.repository.opening import open_repositories
from services.scraper.upstream import CompetitorUpstream
from services.scraper.use_cases import Crawls, CrawlSchedule, CrawlSweeper

QUEUE = f"{get_settings().job_queue_prefix}crawl"
EXECUTE = "scraper.execute_crawl"
SWEEP = "scraper.sweep"
DISPATCH_SCHEDULES = "scraper.dispatch_schedules"
DISPATCH_SECONDS = 60.0

T = TypeVar("T")
_log = get_logger(__name__)

app: JobApp = create_job_app("scraper", get_settings(), task_modules=[], queues=[QUEUE])
app.conf.beat_schedule = {
    "sweep-unfinished-crawls": {"task": SWEEP, "schedule": get_settings().job_sweep_seconds},
    "dispatch-crawl-schedules": {"task": DISPATCH_SCHEDULES, "schedule": DISPATCH_SECONDS},
}


class CeleryCrawlQueue:
    """Submits stored crawl jobs to the workers (the server, the sweeper and the schedule use it)."""

    def __init__(self, job_app: JobApp, queue: str = QUEUE) -> None:
        self._app = job_app
        self._queue = queue

    def submit(self, organization_id: str, job_id: str) -> None:
        self._app.send_task(EXECUTE, args=[organization_id, job_id], queue=self._queue)


def _with_services(work: Callable[[Repositories, CompetitorUpstream, Settings], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = get_settings()
        repositories = await open_repositories(settings)
        upstream = CompetitorUpstream(settings)
        try:
            return await work(repositories, upstream, settings)
        finally:
            await upstream.close()
            await repositories.close()

    return asyncio.run(run())


@app.job(EXECUTE)
def execute_crawl(organization_id: str, job_id: str) -> str:
    async def work(repositories: Repositories, upstream: CompetitorUpstream, settings: Settings) -> str:
        executor = CrawlExecutor(
            repositories,
            upstream,
            settings,
            worker_id=worker_identity(),
            lease=timedelta(seconds=settings.job_lease_seconds),
        )
        job = await executor.execute(organization_id, job_id)
        outcome = "not mine" if job is None else job.state.name.lower()
        _log.info("crawl job done", job_id=job_id, outcome=outcome)
        return outcome

    return _with_services(work)


@app.job(SWEEP)
def sweep() -> int:
    async def work(repositories: Repositories, upstream: CompetitorUpstream, settings: Settings) -> int:
        # Queued crawls get a few sweep periods to start before their message counts as lost.
        grace = timedelta(seconds=max(settings.job_lease_seconds, 3 * settings.job_sweep_seconds))
        return await CrawlSweeper(repositories, CeleryCrawlQueue(app)).sweep(grace=grace)

    return _with_services(work)


@app.job(DISPATCH_SCHEDULES)
def dispatch_schedules() -> int:
    async def work(repositories: Repositories, upstream: CompetitorUpstream, settings: Settings) -> int:
        return await CrawlSchedule(repositories, Crawls(repositories, CeleryCrawlQueue(app))).dispatch_due()

    return _with_services(work)
