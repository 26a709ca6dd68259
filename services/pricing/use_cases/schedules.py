"""Reprice schedules: a reprice run started every interval in its creator's name. People create, pause,
resume, re-time and delete them; the dispatcher, called by beat every minute, starts the runs that are due.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from runtime import field_mask
from runtime.auth import CredentialKind, Principal, Role
from runtime.clock import utcnow
from runtime.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from runtime.ids import new_id
from runtime.logging import get_logger
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.pricing.domain.records import RunMode, ScheduleRecord
from services.pricing.domain.recurrence import occurrence_after, occurrence_from
from services.pricing.repository import Repositories
from services.pricing.upstream import Upstream
from services.pricing.use_cases.common import ANALYSE_ROLE, MANAGE_ROLE, READ_ROLE, Clock, millis
from services.pricing.use_cases.pricing_pass import check_scope, validate_scope
from services.pricing.use_cases.runs import Runs

MIN_INTERVAL_MINUTES = 15
MAX_INTERVAL_MINUTES = 10_080
MAX_SCHEDULES = 100
# A first run more than a year away is a typo more often than a plan.
MAX_START_AHEAD = timedelta(days=366)
UPDATABLE_PATHS = ("paused", "interval_minutes")
WRITE_ATTEMPTS = 3
DISPATCH_BATCH = 1_000
# The key of a run's scope that names the schedule which started it.
SCHEDULE_KEY = "schedule_id"

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    scope: Mapping[str, Any]
    mode: RunMode
    interval_minutes: int
    # The first occurrence; None = now.
    start_time: datetime | None
    paused: bool


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """New values; only those an update's paths name are used."""

    paused: bool
    interval_minutes: int


def role_for(mode: RunMode) -> Role:
    """What starting such a run needs: auto mode applies prices, so a pricing manager."""
    return MANAGE_ROLE if mode is RunMode.AUTO else ANALYSE_ROLE


def interval_of(minutes: int) -> timedelta:
    if not MIN_INTERVAL_MINUTES <= minutes <= MAX_INTERVAL_MINUTES:
        raise InvalidArgument(
            f"interval_minutes is {MIN_INTERVAL_MINUTES}-{MAX_INTERVAL_MINUTES:,} (a week)", field="interval_minutes"
        )
    return timedelta(minutes=minutes)


def acting_principal(schedule: ScheduleRecord) -> Principal:
    """Who a schedule's runs act as: its creator, with the role they had when they created it."""
    return Principal(
        schedule.organization_id, schedule.created_by, Role(schedule.creator_role), CredentialKind.ACCESS_TOKEN
    )


class Schedules:
    def __init__(
        self,
        repositories: Repositories,
        upstream: Upstream,
        *,
        clock: Clock = utcnow,
        ids: Callable[[], str] = lambda: new_id("sch_"),
    ) -> None:
        self._schedules = repositories.schedules
        self._upstream = upstream
        self._clock = clock
        self._ids = ids

    async def create(self, principal: Principal, request: ScheduleRequest) -> ScheduleRecord:
        """Checks the scope now, as creating a run does (unknown skus and empty scopes are refused before
        anything is stored)."""
        principal.require(role_for(request.mode))
        interval = interval_of(request.interval_minutes)
        scope = validate_scope(request.scope)
        now = millis(self._clock())
        start = now if request.start_time is None else millis(request.start_time)
        if start > now + MAX_START_AHEAD:
            raise InvalidArgument("start_time is at most a year from now", field="start_time")
        await check_scope(self._upstream, principal, scope)
        # Two concurrent creations may pass together: a soft cap, against runaway scripts.
        existing = await self._schedules.find(principal.organization_id, after_id="", limit=MAX_SCHEDULES)
        if len(existing) >= MAX_SCHEDULES:
            raise FailedPrecondition(f"an organisation has at most {MAX_SCHEDULES} schedules; delete one first")
        schedule = ScheduleRecord(
            organization_id=principal.organization_id,
            id=self._ids(),
            scope=scope,
            mode=request.mode,
            interval_minutes=request.interval_minutes,
            start_time=start,
            paused=request.paused,
            next_run_time=occurrence_from(start, interval, now),
            last_run_id="",
            last_run_time=None,
            created_by=principal.subject_id,
            creator_role=int(principal.role),
            revision=1,
            create_time=now,
            update_time=now,
        )
        await self._schedules.create(schedule)
        return schedule

    async def get(self, principal: Principal, schedule_id: str) -> ScheduleRecord:
        principal.require(READ_ROLE)
        schedule = await self._schedules.get(principal.organization_id, schedule_id)
        if schedule is None:
            raise NotFound(f"schedule {schedule_id!r} does not exist", field="id")
        return schedule

    async def list_schedules(
        self, principal: Principal, *, page_size_requested: int, page_token: str
    ) -> Page[ScheduleRecord]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        after = str(decode_token(page_token).get("after", ""))
        found = await self._schedules.find(principal.organization_id, after_id=after, limit=limit + 1)
        token = encode_token({"after": found[limit - 1].id}) if len(found) > limit else ""
        return Page(found[:limit], token)

    async def update(
        self, principal: Principal, schedule_id: str, change: ScheduleChange, paths: Iterable[str]
    ) -> ScheduleRecord:
        """Pause, resume or re-time it. A running schedule's next run becomes the first occurrence from now on
        (occurrences missed while paused are skipped)."""
        fields = field_mask.parse_update_mask(
            paths, UPDATABLE_PATHS, key="id", key_message="a schedule's id cannot be changed"
        )
        if "interval_minutes" in fields:
            interval_of(change.interval_minutes)
        for _ in range(WRITE_ATTEMPTS):
            existing = await self.get(principal, schedule_id)
            principal.require(role_for(existing.mode))
            paused = change.paused if "paused" in fields else existing.paused
            minutes = change.interval_minutes if "interval_minutes" in fields else existing.interval_minutes
            if (paused, minutes) == (existing.paused, existing.interval_minutes):
                return existing
            now = millis(self._clock())
            next_run_time = existing.next_run_time
            if not paused:
                next_run_time = occurrence_from(existing.start_time, timedelta(minutes=minutes), now)
            changed = replace(
                existing,
                paused=paused,
                interval_minutes=minutes,
                next_run_time=next_run_time,
                revision=existing.revision + 1,
                update_time=max(now, existing.update_time),
            )
            try:
                await self._schedules.update(changed)
            except Conflict:
                continue
            return changed
        raise Conflict(f"schedule {schedule_id!r} is being changed by others right now; try again")

    async def delete(self, principal: Principal, schedule_id: str) -> None:
        """Runs it already started go on."""
        existing = await self.get(principal, schedule_id)
        principal.require(role_for(existing.mode))
        if not await self._schedules.delete(principal.organization_id, schedule_id):
            raise NotFound(f"schedule {schedule_id!r} does not exist", field="id")


class ScheduleDispatcher:
    """Starts the runs of due schedules. However many dispatchers look at once, an occurrence starts at most one
    run: a schedule moves on only through the compare-and-set on the revision they read, and only the one that
    moved it starts the run. Should it die between the two, that occurrence is lost, never doubled."""

    def __init__(
        self, repositories: Repositories, runs: Runs, *, ids: Callable[[], str] = lambda: new_id("run_")
    ) -> None:
        self._schedules = repositories.schedules
        self._stored_runs = repositories.runs
        self._runs = runs
        self._ids = ids

    async def dispatch_due(self, now: datetime) -> int:
        """Start the run of every schedule due at `now`; how many runs were started."""
        now = millis(now)
        started = 0
        for schedule in await self._schedules.find_due(now=now, limit=DISPATCH_BATCH):
            if await self._dispatch(schedule, now):
                started += 1
        return started

    async def _dispatch(self, schedule: ScheduleRecord, now: datetime) -> bool:
        # Occurrences missed while no dispatcher ran are skipped: one run for them all, then the next after now.
        following = occurrence_after(schedule.start_time, timedelta(minutes=schedule.interval_minutes), now)
        if await self._last_run_unfinished(schedule):
            # Runs would pile up behind a stopped worker or a run longer than the interval.
            skipped = await self._schedules.advance(
                schedule,
                next_run_time=following,
                last_run_id=schedule.last_run_id,
                last_run_time=schedule.last_run_time,
            )
            if skipped:
                _log.info("schedule occurrence skipped", schedule_id=schedule.id, unfinished_run=schedule.last_run_id)
            return False
        run_id = self._ids()
        if not await self._schedules.advance(schedule, next_run_time=following, last_run_id=run_id, last_run_time=now):
            return False
        await self._runs.queue_reprice(
            acting_principal(schedule),
            {**schedule.scope, SCHEDULE_KEY: schedule.id},
            schedule.mode,
            total=0,
            run_id=run_id,
        )
        _log.info("scheduled run started", schedule_id=schedule.id, run_id=run_id, next_run_time=following)
        return True

    async def _last_run_unfinished(self, schedule: ScheduleRecord) -> bool:
        if not schedule.last_run_id:
            return False
        last = await self._stored_runs.get(schedule.organization_id, schedule.last_run_id)
        return last is not None and not last.state.finished
