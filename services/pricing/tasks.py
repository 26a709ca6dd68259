"""The pricing service's Celery tasks on the `pricing` queue: reprice runs, model refits, and the
periodic sweep, experiment periods and reprice-schedule dispatch that beat schedules.

Each task takes ids only and is idempotent on them (the run row's atomic claim decides who works), so
at-least-once delivery, redelivery after a killed worker and the sweeper's re-queues are all safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from celery.schedules import crontab

from runtime.clock import utcnow
from runtime.jobs.app import JobApp, create_job_app
from runtime.jobs.worker import worker_identity
from runtime.logging import get_logger
from runtime.settings import Settings, get_settings
from services.pricing.domain.records import JobKind
from services.pricing.repository import Repositories
from services.pricing.repository.opening import open_repositories
from services.pricing.upstream import Upstream
from services.pricing.use_cases.experiments import Experiments
from services.pricing.use_cases.models import RefitExecutor
from services.pricing.use_cases.reprice import RepriceExecutor
from services.pricing.use_cases.runs import Runs, RunSweeper
from services.pricing.use_cases.schedules import ScheduleDispatcher

QUEUE = f"{get_settings().job_queue_prefix}pricing"
EXECUTE = "pricing.execute_job"
SWEEP = "pricing.sweep"
ADVANCE_EXPERIMENTS = "pricing.advance_experiments"
DISPATCH_SCHEDULES = "pricing.dispatch_schedules"
# Reprice schedules are due on the minute at the finest (intervals are 15 minutes or more).
DISPATCH_SECONDS = 60.0

T = TypeVar("T")
_log = get_logger(__name__)

app: JobApp = create_job_app("pricing", get_settings(), task_modules=[], queues=[QUEUE])
app.conf.beat_schedule = {
    "sweep-unfinished-jobs": {"task": SWEEP, "schedule": get_settings().job_sweep_seconds},
    "advance-price-experiments": {"task": ADVANCE_EXPERIMENTS, "schedule": crontab(minute=5)},
    "dispatch-reprice-schedules": {"task": DISPATCH_SCHEDULES, "schedule": DISPATCH_SECONDS},
}


def _with_services(work: Callable[[Repositories, Upstream, Settings], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = get_settings()
        repositories = await open_repositories(settings)
        upstream = Upstream(settings)
        try:
            return await work(repositories, upstream, settings)
        finally:
            await upstream.close()
            await repositories.close()

    return asyncio.run(run())


class CeleryJobQueue:
    """Submits stored jobs to the workers (the server and the sweeper use it)."""

    def __init__(self, job_app: JobApp, queue: str = QUEUE) -> None:
        self._app = job_app
        self._queue = queue

    def submit(self, kind: JobKind, organization_id: str, run_id: str) -> None:
        self._app.send_task(EXECUTE, args=[kind.value, organization_id, run_id], queue=self._queue)


@app.job(EXECUTE)
def execute_job(kind: str, organization_id: str, run_id: str) -> str:
    async def work(repositories: Repositories, upstream: Upstream, settings: Settings) -> str:
        executor: RepriceExecutor | RefitExecutor
        lease = timedelta(seconds=settings.job_lease_seconds)
        if JobKind(kind) is JobKind.REFIT:
            executor = RefitExecutor(repositories, upstream, worker_id=worker_identity(), lease=lease)
        else:
            executor = RepriceExecutor(repositories, upstream, worker_id=worker_identity(), lease=lease)
        result = await executor.execute(organization_id, run_id)
        outcome = "not mine" if result is None else result.state.value
        _log.info("job done", kind=kind, run_id=run_id, outcome=outcome)
        return outcome

    return _with_services(work)


@app.job(SWEEP)
def sweep() -> int:
    async def work(repositories: Repositories, upstream: Upstream, settings: Settings) -> int:
        # Queued jobs get a few sweep periods to start before their message counts as lost.
        grace = timedelta(seconds=max(settings.job_lease_seconds, 3 * settings.job_sweep_seconds))
        return await RunSweeper(repositories, CeleryJobQueue(app)).sweep(grace=grace)

    return _with_services(work)


@app.job(ADVANCE_EXPERIMENTS)
def advance_experiments() -> int:
    async def work(repositories: Repositories, upstream: Upstream, settings: Settings) -> int:
        return await Experiments(repositories, upstream).advance_all()

    return _with_services(work)


@app.job(DISPATCH_SCHEDULES)
def dispatch_schedules() -> int:
    async def work(repositories: Repositories, upstream: Upstream, settings: Settings) -> int:
        runs = Runs(repositories, upstream, CeleryJobQueue(app))
        return await ScheduleDispatcher(repositories, runs).dispatch_due(utcnow())

    return _with_services(work)
