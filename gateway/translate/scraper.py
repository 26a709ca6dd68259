"""Crawl sources and crawl jobs: REST JSON ⇄ omnipricex.scraper.v1 messages."""

from __future__ import annotations

from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from gateway.schemas.scraper import ExtractionSettingsPatch, NewExtractionSettings, NewSource, SourcePatch
from gateway.translate.common import rfc3339
from omnipricex.scraper.v1 import scraper_pb2 as pb

KIND_NAMES: dict[pb.SourceKind.ValueType, str] = {
    pb.SOURCE_KIND_PRODUCT_URLS: "product_urls",
    pb.SOURCE_KIND_LISTING: "listing",
    pb.SOURCE_KIND_SITEMAP: "sitemap",
}
KINDS_BY_NAME = {name: value for value, name in KIND_NAMES.items()}
HEALTH_NAMES: dict[pb.SourceHealth.ValueType, str] = {
    pb.SOURCE_HEALTH_UNKNOWN: "unknown",
    pb.SOURCE_HEALTH_HEALTHY: "healthy",
    pb.SOURCE_HEALTH_BROKEN: "broken",
}
JOB_STATE_NAMES: dict[pb.CrawlJobState.ValueType, str] = {
    pb.CRAWL_JOB_STATE_QUEUED: "queued",
    pb.CRAWL_JOB_STATE_RUNNING: "running",
    pb.CRAWL_JOB_STATE_SUCCEEDED: "succeeded",
    pb.CRAWL_JOB_STATE_FAILED: "failed",
    pb.CRAWL_JOB_STATE_CANCELLED: "cancelled",
}
TRIGGER_NAMES: dict[pb.CrawlTrigger.ValueType, str] = {
    pb.CRAWL_TRIGGER_MANUAL: "manual",
    pb.CRAWL_TRIGGER_SCHEDULE: "schedule",
}
EXTRACTION_TEXT_FIELDS = (
    "default_currency",
    "decimal_separator",
    "price_selector",
    "title_selector",
    "availability_selector",
    "product_link_selector",
    "next_page_selector",
    "product_url_pattern",
)
PROGRESS_FIELDS = tuple(field.name for field in pb.CrawlProgress.DESCRIPTOR.fields)
_SOURCE_PATHS = ("name", "start_urls", "extraction", "category_id", "schedule_interval_minutes", "max_pages")


def _optional_text(text: str) -> str | None:
    return text or None


def _optional_time(message: Message, name: str) -> str | None:
    return rfc3339(getattr(message, name)) if message.HasField(name) else None


# --- sources --------------------------------------------------------------------------------------


def extraction_json(extraction: pb.ExtractionSettings) -> dict[str, Any]:
    settings: dict[str, Any] = {name: _optional_text(getattr(extraction, name)) for name in EXTRACTION_TEXT_FIELDS}
    settings["render_javascript"] = extraction.render_javascript
    return settings


def source_json(source: pb.Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "competitor_id": source.competitor_id,
        "name": source.name,
        "kind": KIND_NAMES[source.kind],
        "start_urls": list(source.start_urls),
        "extraction": extraction_json(source.extraction),
        "category_id": _optional_text(source.category_id),
        "schedule_interval_minutes": source.schedule_interval_minutes,
        "max_pages": source.max_pages,
        "paused": source.paused,
        "pause_reason": _optional_text(source.pause_reason),
        "paused_until": _optional_time(source, "paused_until"),
        "health": HEALTH_NAMES[source.health],
        "health_reason": _optional_text(source.health_reason),
        "last_crawl_time": _optional_time(source, "last_crawl_time"),
        "next_crawl_time": _optional_time(source, "next_crawl_time"),
        "create_time": rfc3339(source.create_time),
        "update_time": rfc3339(source.update_time),
    }


def _extraction_message(settings: NewExtractionSettings) -> pb.ExtractionSettings:
    message = pb.ExtractionSettings(render_javascript=settings.render_javascript)
    for name in EXTRACTION_TEXT_FIELDS:
        setattr(message, name, getattr(settings, name) or "")
    return message


def source_message(body: NewSource) -> pb.Source:
    return pb.Source(
        competitor_id=body.competitor_id,
        name=body.name,
        kind=KINDS_BY_NAME[body.kind],
        start_urls=body.start_urls,
        extraction=_extraction_message(body.extraction),
        category_id=body.category_id or "",
        schedule_interval_minutes=body.schedule_interval_minutes,
        max_pages=body.max_pages,
    )


def merged_extraction(current: pb.ExtractionSettings, patch: ExtractionSettingsPatch | None) -> pb.ExtractionSettings:
    """The source's extraction settings with the merge patch applied: present settings change, null unsets."""
    merged = pb.ExtractionSettings()
    if patch is None:
        return merged
    merged.CopyFrom(current)
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if name == "render_javascript":
            merged.render_javascript = bool(value)
        else:
            setattr(merged, name, value or "")
    return merged


def extraction_patched(patch: SourcePatch) -> bool:
    """Whether the patch merges into the current extraction settings (the gateway reads them first)."""
    return patch.extraction is not None and bool(patch.extraction.model_fields_set)


def source_patch_message(
    source_id: str, patch: SourcePatch, current_extraction: pb.ExtractionSettings | None
) -> tuple[pb.Source, FieldMask]:
    """The source fields named by the merge patch, and the field mask made of exactly those keys."""
    fields = patch.model_fields_set
    if patch.extraction is not None and not patch.extraction.model_fields_set:
        # An empty object merges nothing into the settings.
        fields = fields - {"extraction"}
    message = pb.Source(
        id=source_id,
        name=patch.name or "",
        start_urls=patch.start_urls or [],
        category_id=patch.category_id or "",
        schedule_interval_minutes=patch.schedule_interval_minutes or 0,
        max_pages=patch.max_pages or 0,
    )
    if "extraction" in fields:
        message.extraction.CopyFrom(merged_extraction(current_extraction or pb.ExtractionSettings(), patch.extraction))
    return message, FieldMask(paths=[name for name in _SOURCE_PATHS if name in fields])


# --- crawl jobs -----------------------------------------------------------------------------------


def job_json(job: pb.CrawlJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "source_id": job.source_id,
        "competitor_id": job.competitor_id,
        "state": JOB_STATE_NAMES[job.state],
        "trigger": TRIGGER_NAMES[job.trigger],
        "progress": {name: getattr(job.progress, name) for name in PROGRESS_FIELDS},
        "finish_reason": _optional_text(job.finish_reason),
        "detail": _optional_text(job.detail),
        "attempts": job.attempts,
        "created_by": job.created_by,
        "create_time": rfc3339(job.create_time),
        "start_time": _optional_time(job, "start_time"),
        "end_time": _optional_time(job, "end_time"),
    }
