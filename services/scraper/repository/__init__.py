"""What the scraper service needs from storage; SQLite and MongoDB engines both provide it.

Sources and jobs are stored as documents (the codec in documents.py is shared by both engines) with the
fields queries need beside them. A job's delivered pages are rows keyed by (job, url): a crawl resumed
after its worker died skips them, so nothing is fetched or counted twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.scraper.domain import CrawlJob, JobState, Progress, Source


class SourceRepository(Protocol):
    async def get(self, organization_id: str, source_id: str) -> Source | None: ...

    async def find(
        self, organization_id: str, *, competitor_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[Source]:
        """Ordered by (name_key, id); only the competitor's when competitor_id is not empty."""
        ...

    async def create(self, source: Source) -> None:
        """AlreadyExists (field "name") when the organisation has a source of that name."""
        ...

    async def update(self, before: Source, after: Source) -> None:
        """Conflict when the stored source is no longer at `before`'s revision; AlreadyExists for a taken name."""
        ...

    async def delete(self, organization_id: str, source_id: str) -> None: ...

    async def due(self, now: datetime, limit: int) -> list[Source]:
        """Sources of every organisation whose next scheduled crawl is at or before now."""
        ...


class JobRepository(Protocol):
    async def create(self, job: CrawlJob) -> None:
        """FailedPrecondition when a crawl of the same source is queued or running."""
        ...

    async def get(self, organization_id: str, job_id: str) -> CrawlJob | None: ...

    async def find(self, organization_id: str, *, source_id: str, before: str | None, limit: int) -> list[CrawlJob]:
        """Newest first (ids sort by creation); only the source's when source_id is not empty."""
        ...

    async def claim(
        self, organization_id: str, job_id: str, *, owner: str, lease_until: datetime, now: datetime
    ) -> CrawlJob | None:
        """Take the job if it is queued, or running under a lease that ended; None otherwise."""
        ...

    async def heartbeat(self, organization_id: str, job_id: str, *, owner: str, lease_until: datetime) -> bool:
        """Extend the lease; False when `owner` no longer holds a running job (cancelled, taken over)."""
        ...

    async def deliver(
        self, organization_id: str, job_id: str, *, owner: str, urls: Collection[str], progress: Progress
    ) -> bool:
        """Record delivered product pages and add `progress`, in one write, while `owner` holds the job."""
        ...

    async def delivered_urls(self, organization_id: str, job_id: str) -> set[str]: ...

    async def add_progress(self, organization_id: str, job_id: str, *, owner: str, progress: Progress) -> bool: ...

    async def finish(
        self,
        organization_id: str,
        job_id: str,
        *,
        owner: str,
        state: JobState,
        finish_reason: str,
        detail: str,
        end_time: datetime,
    ) -> bool: ...

    async def cancel(self, organization_id: str, job_id: str, *, now: datetime) -> CrawlJob | None:
        """Cancel a queued or running job; None when it does not exist. A finished job is returned as is."""
        ...

    async def stale(self, *, queued_before: datetime, now: datetime, limit: int) -> list[CrawlJob]:
        """Jobs of every organisation queued since before `queued_before`, or running under an ended lease."""
        ...


class HealthRepository(Protocol):
    """Extraction-health memory per source: the last healthy reading of each product URL, and the
    source's baseline and state, as documents the health module defines."""

    async def memories(self, source_id: str, urls: Collection[str]) -> dict[str, dict[str, Any]]: ...

    async def remember(self, source_id: str, memories: Mapping[str, Mapping[str, Any]]) -> None: ...

    async def profile(self, source_id: str) -> dict[str, Any] | None: ...

    async def save_profile(self, source_id: str, profile: Mapping[str, Any]) -> None: ...

    async def forget(self, source_id: str) -> None:
        """Drop the source's page memory and profile: its next crawl learns from scratch."""
        ...


@dataclass
class Repositories:
    sources: SourceRepository
    jobs: JobRepository
    health: HealthRepository
    close: Callable[[], Awaitable[None]]
