"""What the pricing service needs from storage; SQLite and MongoDB engines both provide it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.pricing.domain.records import (
    Assignment,
    AssignmentLevel,
    DemandModelRecord,
    ExperimentRecord,
    Quote,
    Recommendation,
    RecommendationState,
    Run,
    RunState,
    ScheduleRecord,
    StoredStrategy,
)


class StrategyRepository(Protocol):
    async def create(self, strategy: StoredStrategy) -> None:
        """AlreadyExists when the organisation has a strategy of that name (or that id)."""
        ...

    async def get(self, organization_id: str, strategy_id: str) -> StoredStrategy | None: ...

    async def get_many(self, organization_id: str, strategy_ids: Collection[str]) -> dict[str, StoredStrategy]: ...

    async def find(self, organization_id: str, *, after_name: str, limit: int) -> list[StoredStrategy]:
        """Ordered by name."""
        ...

    async def update(self, strategy: StoredStrategy) -> None:
        """Stores `strategy` if the stored one is at revision strategy.revision - 1 (else Conflict);
        AlreadyExists when the new name is taken."""
        ...

    async def delete(self, organization_id: str, strategy_id: str) -> None: ...


class AssignmentRepository(Protocol):
    async def put(self, assignment: Assignment) -> None:
        """Creates or replaces the assignment of (level, target)."""
        ...

    async def list_all(self, organization_id: str) -> list[Assignment]:
        """Ordered by level, then target."""
        ...

    async def delete(self, organization_id: str, level: AssignmentLevel, target: str) -> bool:
        """Whether there was one."""
        ...

    async def uses_strategy(self, organization_id: str, strategy_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class RunProgress:
    processed: int
    total: int
    recommended: int
    auto_applied: int


class RunRepository(Protocol):
    async def create(self, run: Run) -> None: ...

    async def get(self, organization_id: str, run_id: str) -> Run | None: ...

    async def find(self, organization_id: str, *, before: tuple[datetime, str] | None, limit: int) -> list[Run]:
        """Newest first (by create_time, then id), strictly before `before` when given."""
        ...

    async def claim(
        self, organization_id: str, run_id: str, *, owner: str, lease_until: datetime, now: datetime
    ) -> Run | None:
        """Atomically take the run for `owner` if it is queued, or running under a lease that ended
        before `now`: state RUNNING, attempts + 1, start_time set if unset. None when it is finished,
        unknown, or held by a live lease."""
        ...

    async def heartbeat(
        self, organization_id: str, run_id: str, *, owner: str, lease_until: datetime, progress: RunProgress
    ) -> bool:
        """Extend the lease and record progress while `owner` still holds the run; False when it lost it."""
        ...

    async def finish(
        self,
        organization_id: str,
        run_id: str,
        *,
        owner: str,
        state: RunState,
        error: str,
        progress: RunProgress,
        end_time: datetime,
    ) -> bool:
        """Record the outcome while `owner` still holds the run; False when it lost it."""
        ...

    async def find_unfinished(self, *, older_than: datetime, limit: int) -> list[Run]:
        """Runs of every organisation that are queued since before `older_than`, or running under a lease
        that ended before it: what a sweeper re-queues after a lost message or a dead worker."""
        ...


class RecommendationRepository(Protocol):
    async def put_many(self, recommendations: Sequence[Recommendation]) -> None:
        """Store recommendations, idempotent on (run_id, sku): a repeat replaces a still-pending one
        (same id kept) and leaves a decided one alone. Up to 10,000 per call."""
        ...

    async def get_many(self, organization_id: str, ids: Collection[str]) -> dict[str, Recommendation]: ...

    async def find(
        self,
        organization_id: str,
        *,
        run_id: str | None,
        state: RecommendationState | None,
        sku: str | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[Recommendation]:
        """Ordered by (run_id, sku); strictly after (run_id, sku) when `after` is given."""
        ...

    async def count(self, organization_id: str, run_id: str) -> int: ...

    async def decide(
        self,
        organization_id: str,
        ids: Collection[str],
        *,
        from_states: Collection[RecommendationState],
        to_state: RecommendationState,
        decided_by: str,
        reason: str,
        apply_error: str,
        time: datetime,
    ) -> list[str]:
        """Move the recommendations among `ids` that are in one of `from_states` to `to_state`;
        the ids that moved."""
        ...


class DemandModelRepository(Protocol):
    async def put_many(self, models: Sequence[DemandModelRecord]) -> None:
        """Create or replace by (organisation, sku)."""
        ...

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, DemandModelRecord]: ...

    async def find(self, organization_id: str, *, after_sku: str, limit: int) -> list[DemandModelRecord]:
        """Ordered by sku."""
        ...


class ExperimentRepository(Protocol):
    async def create(self, experiment: ExperimentRecord) -> None:
        """AlreadyExists when the sku already has a running experiment."""
        ...

    async def get(self, organization_id: str, experiment_id: str) -> ExperimentRecord | None: ...

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[ExperimentRecord]:
        """Ordered by id."""
        ...

    async def update(self, experiment: ExperimentRecord) -> None:
        """Stores it if the stored one is at revision experiment.revision - 1; Conflict otherwise."""
        ...

    async def find_running(self, *, limit: int) -> list[ExperimentRecord]:
        """Running experiments of every organisation."""
        ...

    async def running_for_skus(self, organization_id: str, skus: Collection[str]) -> set[str]:
        """The skus among `skus` that have a running experiment (reprice runs leave them alone)."""
        ...


class QuoteRepository(Protocol):
    async def put_many(self, quotes: Sequence[Quote]) -> None:
        """Create or replace by (organisation, sku); each write gets a sequence number above every earlier one."""
        ...

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, Quote]: ...

    async def changes_since(self, sequence: int, *, limit: int) -> list[tuple[int, Quote]]:
        """Quotes of every organisation written after `sequence`, in sequence order."""
        ...


class ScheduleRepository(Protocol):
    async def create(self, schedule: ScheduleRecord) -> None:
        """AlreadyExists when the organisation has a schedule of that id."""
        ...

    async def get(self, organization_id: str, schedule_id: str) -> ScheduleRecord | None: ...

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[ScheduleRecord]:
        """Ordered by id."""
        ...

    async def update(self, schedule: ScheduleRecord) -> None:
        """Stores `schedule` if the stored one is at revision schedule.revision - 1; Conflict otherwise,
        NotFound when there is none."""
        ...

    async def delete(self, organization_id: str, schedule_id: str) -> bool:
        """Whether there was one."""
        ...

    async def find_due(self, *, now: datetime, limit: int) -> list[ScheduleRecord]:
        """Schedules of every organisation that are not paused and due at or before `now`, soonest first."""
        ...

    async def advance(
        self, schedule: ScheduleRecord, *, next_run_time: datetime, last_run_id: str, last_run_time: datetime | None
    ) -> bool:
        """Atomically move the schedule on to its next occurrence if the stored one is still at
        schedule.revision (and bump the revision). False when another dispatcher, an edit or a delete came
        first: of every caller that read the same schedule, exactly one wins."""
        ...


@dataclass(frozen=True)
class Repositories:
    strategies: StrategyRepository
    assignments: AssignmentRepository
    runs: RunRepository
    recommendations: RecommendationRepository
    models: DemandModelRepository
    experiments: ExperimentRepository
    quotes: QuoteRepository
    schedules: ScheduleRepository
    close: Callable[[], Awaitable[None]]
