"""Reprice runs: created by an RPC, executed by a worker, read back with their progress."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from runtime.auth import Principal
from runtime.clock import from_iso, utcnow
from runtime.errors import InvalidArgument, NotFound
from runtime.ids import new_id
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.pricing.domain.records import JobKind, Run, RunMode, RunState
from services.pricing.repository import Repositories
from services.pricing.upstream import Upstream
from services.pricing.use_cases.common import ANALYSE_ROLE, MANAGE_ROLE, READ_ROLE, Clock, millis
from services.pricing.use_cases.pricing_pass import check_scope, validate_scope

DEFAULT_REFIT_DAYS = 180
MAX_REFIT_DAYS = 730


class JobQueue(Protocol):
    """Hands a stored job to the workers; the job's row, not the message, is the source of truth."""

    def submit(self, kind: JobKind, organization_id: str, run_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RunRequest:
    scope: Mapping[str, Any]
    mode: RunMode


class Runs:
    def __init__(
        self,
        repositories: Repositories,
        upstream: Upstream,
        queue: JobQueue,
        *,
        clock: Clock = utcnow,
        ids: Callable[[], str] = lambda: new_id("run_"),
    ) -> None:
        self._runs = repositories.runs
        self._upstream = upstream
        self._queue = queue
        self._clock = clock
        self._ids = ids

    async def create_reprice(self, principal: Principal, request: RunRequest) -> Run:
        """Checks the scope now (unknown skus and empty scopes are refused before anything is stored),
        stores the run and queues it. Suggest mode needs an analyst; auto mode applies prices, so a
        pricing manager."""
        principal.require(MANAGE_ROLE if request.mode is RunMode.AUTO else ANALYSE_ROLE)
        scope = validate_scope(request.scope)
        # A catalog or category is only checked for being non-empty here; the worker counts it as it loads.
        total = await check_scope(self._upstream, principal, scope)
        return await self.queue_reprice(principal, scope, request.mode, total=total or 0)

    async def queue_reprice(
        self, principal: Principal, scope: Mapping[str, Any], mode: RunMode, *, total: int, run_id: str = ""
    ) -> Run:
        """Store a reprice run of a scope already checked for `principal` and queue it; the worker counts the
        products when `total` is not known yet (0)."""
        run = self._new_run(principal, JobKind.REPRICE, scope, mode, total=total, run_id=run_id)
        await self._runs.create(run)
        self._queue.submit(run.kind, run.organization_id, run.id)
        return run

    async def create_refit(self, principal: Principal, days: int) -> Run:
        principal.require(ANALYSE_ROLE)
        days = days or DEFAULT_REFIT_DAYS
        if not 14 <= days <= MAX_REFIT_DAYS:
            raise InvalidArgument(f"fit on 14-{MAX_REFIT_DAYS} days of sales", field="days")
        run = self._new_run(principal, JobKind.REFIT, {"days": days}, RunMode.SUGGEST, total=0)
        await self._runs.create(run)
        self._queue.submit(run.kind, run.organization_id, run.id)
        return run

    def _new_run(
        self,
        principal: Principal,
        kind: JobKind,
        scope: Mapping[str, Any],
        mode: RunMode,
        *,
        total: int,
        run_id: str = "",
    ) -> Run:
        return Run(
            organization_id=principal.organization_id,
            id=run_id or self._ids(),
            kind=kind,
            scope=dict(scope),
            mode=mode,
            state=RunState.QUEUED,
            processed=0,
            total=total,
            recommended=0,
            auto_applied=0,
            error="",
            created_by=principal.subject_id,
            creator_role=int(principal.role),
            attempts=0,
            lease_owner="",
            lease_until=None,
            create_time=millis(self._clock()),
            start_time=None,
            end_time=None,
        )

    async def get(self, principal: Principal, run_id: str) -> Run:
        principal.require(READ_ROLE)
        run = await self._runs.get(principal.organization_id, run_id)
        if run is None:
            raise NotFound(f"run {run_id!r} does not exist", field="id")
        return run

    async def list_runs(self, principal: Principal, *, page_size_requested: int, page_token: str) -> Page[Run]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        position = decode_token(page_token)
        before = None
        if position:
            try:
                before = (from_iso(str(position["time"])), str(position["id"]))
            except (KeyError, ValueError):
                raise InvalidArgument("page_token is not valid", field="page_token") from None
        runs = await self._runs.find(principal.organization_id, before=before, limit=limit + 1)
        if len(runs) <= limit:
            return Page(runs, "")
        last = runs[limit - 1]
        return Page(runs[:limit], encode_token({"time": last.create_time.isoformat(), "id": last.id}))


class RunSweeper:
    """Re-queues jobs whose message was lost or whose worker died: queued for too long, or running under
    a lease that ended. Workers take a job only through its row's atomic claim, so a job queued twice
    still runs once at a time, and a finished job is never run again."""

    def __init__(self, repositories: Repositories, queue: JobQueue, *, clock: Clock = utcnow) -> None:
        self._runs = repositories.runs
        self._queue = queue
        self._clock = clock

    async def sweep(self, *, grace: timedelta) -> int:
        stale = await self._runs.find_unfinished(older_than=self._clock() - grace, limit=1_000)
        for run in stale:
            self._queue.submit(run.kind, run.organization_id, run.id)
        return len(stale)
