"""The scraper's repositories on MongoDB: the same documents as the SQLite engine, conditions in filters.

Without multi-document transactions, recording a delivery writes its page keys first and then the
job's progress: a crash between the two can only under-count progress, never deliver a page twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from runtime.errors import AlreadyExists, Conflict, FailedPrecondition
from runtime.storage.mongo import MongoDatabase, ensure_indexes
from services.scraper.domain import PROGRESS_FIELDS, CrawlJob, JobState, Progress, Source
from services.scraper.repository import Repositories
from services.scraper.repository.documents import (
    Document,
    job_document,
    job_from,
    source_document,
    source_from,
    time_text,
)

INDEXES = {
    "sources": [
        IndexModel([("organization_id", ASCENDING), ("name_key", ASCENDING)], unique=True),
        IndexModel([("organization_id", ASCENDING), ("competitor_id", ASCENDING), ("name_key", ASCENDING)]),
        IndexModel([("next_crawl_time", ASCENDING)]),
    ],
    "jobs": [
        IndexModel([("organization_id", ASCENDING), ("source_id", ASCENDING), ("_id", DESCENDING)]),
        IndexModel(
            [("active_source", ASCENDING)], unique=True, partialFilterExpression={"active_source": {"$exists": True}}
        ),
        IndexModel([("state", ASCENDING), ("create_time", ASCENDING)]),
    ],
    "deliveries": [IndexModel([("job_id", ASCENDING), ("url", ASCENDING)], unique=True)],
    "page_memory": [IndexModel([("source_id", ASCENDING), ("url", ASCENDING)], unique=True)],
}


class MongoSources:
    def __init__(self, database: MongoDatabase) -> None:
        self._sources = database["sources"]
        self._memory = database["page_memory"]
        self._profiles = database["health_profiles"]

    async def get(self, organization_id: str, source_id: str) -> Source | None:
        document = await self._sources.find_one({"organization_id": organization_id, "_id": source_id})
        return None if document is None else source_from(document)

    async def find(
        self, organization_id: str, *, competitor_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[Source]:
        query: Document = {"organization_id": organization_id}
        if competitor_id:
            query["competitor_id"] = competitor_id
        if after is not None:
            query["$or"] = [{"name_key": {"$gt": after[0]}}, {"name_key": after[0], "_id": {"$gt": after[1]}}]
        cursor = self._sources.find(query).sort([("name_key", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [source_from(document) async for document in cursor]

    async def create(self, source: Source) -> None:
        try:
            await self._sources.insert_one(source_document(source))
        except DuplicateKeyError:
            raise AlreadyExists(f"a source named {source.name!r} already exists", field="name") from None

    async def update(self, before: Source, after: Source) -> None:
        try:
            result = await self._sources.replace_one(
                {"organization_id": before.organization_id, "_id": before.id, "revision": before.revision},
                source_document(after),
            )
        except DuplicateKeyError:
            raise AlreadyExists(f"a source named {after.name!r} already exists", field="name") from None
        if result.matched_count != 1:
            raise Conflict("the source changed meanwhile; read it again and retry")

    async def delete(self, organization_id: str, source_id: str) -> None:
        result = await self._sources.delete_one({"organization_id": organization_id, "_id": source_id})
        if result.deleted_count:
            await self._memory.delete_many({"source_id": source_id})
            await self._profiles.delete_one({"_id": source_id})

    async def due(self, now: datetime, limit: int) -> list[Source]:
        cursor = (
            self._sources.find({"next_crawl_time": {"$ne": None, "$lte": time_text(now)}})
            .sort("next_crawl_time", ASCENDING)
            .limit(limit)
        )
        return [source_from(document) async for document in cursor]


def _held(organization_id: str, job_id: str, owner: str) -> Document:
    return {"organization_id": organization_id, "_id": job_id, "state": int(JobState.RUNNING), "lease_owner": owner}


def _increments(progress: Progress) -> Document:
    return {f"progress.{name}": getattr(progress, name) for name in PROGRESS_FIELDS if getattr(progress, name)}


class MongoJobs:
    def __init__(self, database: MongoDatabase) -> None:
        self._jobs = database["jobs"]
        self._deliveries = database["deliveries"]

    async def create(self, job: CrawlJob) -> None:
        try:
            await self._jobs.insert_one(job_document(job))
        except DuplicateKeyError:
            raise FailedPrecondition("a crawl of this source is already queued or running") from None

    async def get(self, organization_id: str, job_id: str) -> CrawlJob | None:
        document = await self._jobs.find_one({"organization_id": organization_id, "_id": job_id})
        return None if document is None else job_from(document)

    async def find(self, organization_id: str, *, source_id: str, before: str | None, limit: int) -> list[CrawlJob]:
        query: Document = {"organization_id": organization_id}
        if source_id:
            query["source_id"] = source_id
        if before is not None:
            query["_id"] = {"$lt": before}
        cursor = self._jobs.find(query).sort("_id", DESCENDING).limit(limit)
        return [job_from(document) async for document in cursor]

    async def claim(
        self, organization_id: str, job_id: str, *, owner: str, lease_until: datetime, now: datetime
    ) -> CrawlJob | None:
        # The condition is in the filter, so the server applies it and the change as one step.
        claimable = {
            "organization_id": organization_id,
            "_id": job_id,
            "$or": [
                {"state": int(JobState.QUEUED)},
                {"state": int(JobState.RUNNING), "lease_until": {"$lte": time_text(now)}},
                {"state": int(JobState.RUNNING), "lease_until": None},
            ],
        }
        taken = {
            "state": int(JobState.RUNNING),
            "attempts": {"$add": ["$attempts", 1]},
            # $literal: in a pipeline, a string starting with "$" would be read as a field path.
            "lease_owner": {"$literal": owner},
            "lease_until": time_text(lease_until),
            "start_time": {"$ifNull": ["$start_time", time_text(now)]},
        }
        document = await self._jobs.find_one_and_update(
            claimable, [{"$set": taken}], return_document=ReturnDocument.AFTER
        )
        return None if document is None else job_from(document)

    async def heartbeat(self, organization_id: str, job_id: str, *, owner: str, lease_until: datetime) -> bool:
        result = await self._jobs.update_one(
            _held(organization_id, job_id, owner), {"$set": {"lease_until": time_text(lease_until)}}
        )
        return result.matched_count == 1

    async def deliver(
        self, organization_id: str, job_id: str, *, owner: str, urls: Collection[str], progress: Progress
    ) -> bool:
        if await self._jobs.count_documents(_held(organization_id, job_id, owner), limit=1) == 0:
            return False
        if urls:
            try:
                await self._deliveries.insert_many([{"job_id": job_id, "url": url} for url in urls], ordered=False)
            except BulkWriteError as error:
                if any(problem.get("code") != 11000 for problem in error.details.get("writeErrors", [])):
                    raise
        return await self.add_progress(organization_id, job_id, owner=owner, progress=progress)

    async def delivered_urls(self, organization_id: str, job_id: str) -> set[str]:
        if await self._jobs.count_documents({"organization_id": organization_id, "_id": job_id}, limit=1) == 0:
            return set()
        return {document["url"] async for document in self._deliveries.find({"job_id": job_id}, {"url": 1})}

    async def add_progress(self, organization_id: str, job_id: str, *, owner: str, progress: Progress) -> bool:
        increments = _increments(progress)
        update: Document = {"$inc": increments} if increments else {"$set": {"lease_owner": owner}}
        result = await self._jobs.update_one(_held(organization_id, job_id, owner), update)
        return result.matched_count == 1

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
    ) -> bool:
        result = await self._jobs.update_one(
            _held(organization_id, job_id, owner),
            {
                "$set": {
                    "state": int(state),
                    "finish_reason": finish_reason,
                    "detail": detail,
                    "end_time": time_text(end_time),
                    "lease_until": None,
                },
                "$unset": {"active_source": ""},
            },
        )
        return result.matched_count == 1

    async def cancel(self, organization_id: str, job_id: str, *, now: datetime) -> CrawlJob | None:
        document = await self._jobs.find_one_and_update(
            {
                "organization_id": organization_id,
                "_id": job_id,
                "state": {"$in": [int(JobState.QUEUED), int(JobState.RUNNING)]},
            },
            {
                "$set": {
                    "state": int(JobState.CANCELLED),
                    "finish_reason": "cancelled",
                    "end_time": time_text(now),
                    "lease_until": None,
                },
                "$unset": {"active_source": ""},
            },
            return_document=ReturnDocument.AFTER,
        )
        if document is not None:
            return job_from(document)
        return await self.get(organization_id, job_id)

    async def stale(self, *, queued_before: datetime, now: datetime, limit: int) -> list[CrawlJob]:
        query = {
            "$or": [
                {"state": int(JobState.QUEUED), "create_time": {"$lt": time_text(queued_before)}},
                {"state": int(JobState.RUNNING), "lease_until": {"$lte": time_text(now)}},
                {"state": int(JobState.RUNNING), "lease_until": None},
            ]
        }
        cursor = self._jobs.find(query).sort("create_time", ASCENDING).limit(limit)
        return [job_from(document) async for document in cursor]


class MongoHealth:
    def __init__(self, database: MongoDatabase) -> None:
        self._memory = database["page_memory"]
        self._profiles = database["health_profiles"]

    async def memories(self, source_id: str, urls: Collection[str]) -> dict[str, dict[str, Any]]:
        cursor = self._memory.find({"source_id": source_id, "url": {"$in": list(urls)}})
        return {document["url"]: document["memory"] async for document in cursor}

    async def remember(self, source_id: str, memories: Mapping[str, Mapping[str, Any]]) -> None:
        if memories:
            await self._memory.bulk_write(
                [
                    UpdateOne({"source_id": source_id, "url": url}, {"$set": {"memory": dict(memory)}}, upsert=True)
                    for url, memory in memories.items()
                ],
                ordered=False,
            )

    async def profile(self, source_id: str) -> dict[str, Any] | None:
        document = await self._profiles.find_one({"_id": source_id})
        return None if document is None else dict(document["profile"])

    async def save_profile(self, source_id: str, profile: Mapping[str, Any]) -> None:
        await self._profiles.update_one({"_id": source_id}, {"$set": {"profile": dict(profile)}}, upsert=True)

    async def forget(self, source_id: str) -> None:
        await self._memory.delete_many({"source_id": source_id})
        await self._profiles.delete_one({"_id": source_id})


async def open_mongo_repositories(
    database: MongoDatabase, *, close: Callable[[], Awaitable[None]] | None = None
) -> Repositories:
    """Repositories over `database`, with its indexes ensured; `close` releases the client, if owned."""
    await ensure_indexes(database, INDEXES)

    async def nothing_to_close() -> None:
        return None

    return Repositories(
        sources=MongoSources(database),
        jobs=MongoJobs(database),
        health=MongoHealth(database),
        close=close or nothing_to_close,
    )
