"""Sources and jobs as plain documents, the one codec both storage engines use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runtime.auth import Role
from services.scraper.crawl.contract import SourceKind
from services.scraper.domain import (
    CrawlJob,
    Creator,
    Extraction,
    Health,
    JobState,
    Progress,
    Source,
    Trigger,
)

Document = dict[str, Any]


def time_text(value: datetime) -> str:
    """Fixed-width UTC text, so stored times compare correctly as strings in both engines."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _required_time(text: str) -> datetime:
    parsed = parse_time(text)
    if parsed is None:
        raise ValueError("stored time is missing")
    return parsed


def _optional_text(value: datetime | None) -> str | None:
    return None if value is None else time_text(value)


def source_document(source: Source) -> Document:
    return {
        "_id": source.id,
        "organization_id": source.organization_id,
        "competitor_id": source.competitor_id,
        "name": source.name,
        "name_key": source.name_key,
        "kind": source.kind.value,
        "start_urls": list(source.start_urls),
        "extraction": {name: getattr(source.extraction, name) for name in Extraction.__dataclass_fields__},
        "category_id": source.category_id,
        "schedule_interval_minutes": source.schedule_interval_minutes,
        "max_pages": source.max_pages,
        "created_by": {"subject_id": source.created_by.subject_id, "role": int(source.created_by.role)},
        "create_time": time_text(source.create_time),
        "update_time": time_text(source.update_time),
        "revision": source.revision,
        "paused": source.paused,
        "pause_reason": source.pause_reason,
        "paused_until": _optional_text(source.paused_until),
        "breaker_trips": source.breaker_trips,
        "health": int(source.health),
        "health_reason": source.health_reason,
        "last_crawl_time": _optional_text(source.last_crawl_time),
        "next_crawl_time": _optional_text(source.next_crawl_time),
    }


def source_from(document: Document) -> Source:
    creator = document["created_by"]
    return Source(
        id=document["_id"],
        organization_id=document["organization_id"],
        competitor_id=document["competitor_id"],
        name=document["name"],
        kind=SourceKind(document["kind"]),
        start_urls=tuple(document["start_urls"]),
        extraction=Extraction(**document["extraction"]),
        category_id=document["category_id"],
        schedule_interval_minutes=document["schedule_interval_minutes"],
        max_pages=document["max_pages"],
        created_by=Creator(creator["subject_id"], Role(creator["role"])),
        create_time=_required_time(document["create_time"]),
        update_time=_required_time(document["update_time"]),
        revision=document["revision"],
        paused=document["paused"],
        pause_reason=document["pause_reason"],
        paused_until=parse_time(document["paused_until"]),
        breaker_trips=document["breaker_trips"],
        health=Health(document["health"]),
        health_reason=document["health_reason"],
        last_crawl_time=parse_time(document["last_crawl_time"]),
        next_crawl_time=parse_time(document["next_crawl_time"]),
    )


def job_document(job: CrawlJob) -> Document:
    return {
        "_id": job.id,
        "organization_id": job.organization_id,
        "source_id": job.source_id,
        "competitor_id": job.competitor_id,
        "state": int(job.state),
        # Set only while queued or running: a unique index on it allows one active crawl per source.
        **({"active_source": job.source_id} if job.state.active else {}),
        "trigger": int(job.trigger),
        "created_by": {"subject_id": job.created_by.subject_id, "role": int(job.created_by.role)},
        "create_time": time_text(job.create_time),
        "progress": job.progress.as_dict(),
        "finish_reason": job.finish_reason,
        "detail": job.detail,
        "attempts": job.attempts,
        "start_time": _optional_text(job.start_time),
        "end_time": _optional_text(job.end_time),
        "lease_owner": job.lease_owner,
        "lease_until": _optional_text(job.lease_until),
    }


def job_from(document: Document) -> CrawlJob:
    creator = document["created_by"]
    return CrawlJob(
        id=document["_id"],
        organization_id=document["organization_id"],
        source_id=document["source_id"],
        competitor_id=document["competitor_id"],
        state=JobState(document["state"]),
        trigger=Trigger(document["trigger"]),
        created_by=Creator(creator["subject_id"], Role(creator["role"])),
        create_time=_required_time(document["create_time"]),
        progress=Progress.from_dict(document["progress"]),
        finish_reason=document["finish_reason"],
        detail=document["detail"],
        attempts=document["attempts"],
        start_time=parse_time(document["start_time"]),
        end_time=parse_time(document["end_time"]),
        lease_owner=document["lease_owner"],
        lease_until=parse_time(document["lease_until"]),
    )
