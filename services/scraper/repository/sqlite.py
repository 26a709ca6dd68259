"""The scraper's repositories on one SQLite file: documents beside the columns queries use."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from runtime.errors import AlreadyExists, Conflict, FailedPrecondition
from runtime.storage.sqlite import SqliteDatabase
from services.scraper.domain import CrawlJob, JobState, Progress, Source
from services.scraper.repository import Repositories
from services.scraper.repository.documents import (
    Document,
    job_document,
    job_from,
    source_document,
    source_from,
    time_text,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    competitor_id TEXT NOT NULL,
    name_key TEXT NOT NULL,
    next_crawl_time TEXT,
    doc BLOB NOT NULL,
    UNIQUE (organization_id, name_key)
);
CREATE INDEX IF NOT EXISTS sources_due ON sources (next_crawl_time) WHERE next_crawl_time IS NOT NULL;
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    active_source TEXT UNIQUE,
    create_time TEXT NOT NULL,
    lease_until TEXT,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_source ON jobs (organization_id, source_id, id);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (state, create_time) WHERE state IN (1, 2);
CREATE TABLE IF NOT EXISTS deliveries (
    job_id TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (job_id, url)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS page_memory (
    source_id TEXT NOT NULL,
    url TEXT NOT NULL,
    doc BLOB NOT NULL,
    PRIMARY KEY (source_id, url)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS health_profiles (
    source_id TEXT PRIMARY KEY,
    doc BLOB NOT NULL
);
"""

_IN_CHUNK = 500


def _load(row: sqlite3.Row) -> Document:
    document: Document = orjson.loads(row["doc"])
    return document


class SqliteSources:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def get(self, organization_id: str, source_id: str) -> Source | None:
        def read(connection: sqlite3.Connection) -> Source | None:
            row = connection.execute(
                "SELECT doc FROM sources WHERE organization_id = ? AND id = ?", (organization_id, source_id)
            ).fetchone()
            return None if row is None else source_from(_load(row))

        return await self._db.read(read)

    async def find(
        self, organization_id: str, *, competitor_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[Source]:
        clauses = ["organization_id = ?"]
        parameters: list[Any] = [organization_id]
        if competitor_id:
            clauses.append("competitor_id = ?")
            parameters.append(competitor_id)
        if after is not None:
            clauses.append("(name_key, id) > (?, ?)")
            parameters.extend(after)
        query = f"SELECT doc FROM sources WHERE {' AND '.join(clauses)} ORDER BY name_key, id LIMIT ?"  # noqa: S608

        def read(connection: sqlite3.Connection) -> list[Source]:
            return [source_from(_load(row)) for row in connection.execute(query, (*parameters, limit))]

        return await self._db.read(read)

    async def create(self, source: Source) -> None:
        document = source_document(source)

        def write(connection: sqlite3.Connection) -> None:
            try:
                connection.execute(
                    "INSERT INTO sources (id, organization_id, competitor_id, name_key, next_crawl_time, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    _source_row(document),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"a source named {source.name!r} already exists", field="name") from None

        await self._db.write(write)

    async def update(self, before: Source, after: Source) -> None:
        document = source_document(after)

        def write(connection: sqlite3.Connection) -> None:
            row = connection.execute(
                "SELECT doc FROM sources WHERE organization_id = ? AND id = ?", (before.organization_id, before.id)
            ).fetchone()
            if row is None or _load(row)["revision"] != before.revision:
                raise Conflict("the source changed meanwhile; read it again and retry")
            try:
                connection.execute(
                    "UPDATE sources SET id = ?, organization_id = ?, competitor_id = ?, name_key = ?, "
                    "next_crawl_time = ?, doc = ? WHERE id = ?",
                    (*_source_row(document), before.id),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"a source named {after.name!r} already exists", field="name") from None

        await self._db.write(write)

    async def delete(self, organization_id: str, source_id: str) -> None:
        def write(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM sources WHERE organization_id = ? AND id = ?", (organization_id, source_id))
            connection.execute("DELETE FROM page_memory WHERE source_id = ?", (source_id,))
            connection.execute("DELETE FROM health_profiles WHERE source_id = ?", (source_id,))

        await self._db.write(write)

    async def due(self, now: datetime, limit: int) -> list[Source]:
        def read(connection: sqlite3.Connection) -> list[Source]:
            rows = connection.execute(
                "SELECT doc FROM sources WHERE next_crawl_time IS NOT NULL AND next_crawl_time <= ? "
                "ORDER BY next_crawl_time LIMIT ?",
                (time_text(now), limit),
            )
            return [source_from(_load(row)) for row in rows]

        return await self._db.read(read)


def _source_row(document: Document) -> tuple[Any, ...]:
    return (
        document["_id"],
        document["organization_id"],
        document["competitor_id"],
        document["name_key"],
        document["next_crawl_time"],
        orjson.dumps(document),
    )


class SqliteJobs:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def create(self, job: CrawlJob) -> None:
        document = job_document(job)

        def write(connection: sqlite3.Connection) -> None:
            try:
                connection.execute(
                    "INSERT INTO jobs (id, organization_id, source_id, state, active_source, create_time, "
                    "lease_until, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    _job_row(document),
                )
            except sqlite3.IntegrityError:
                raise FailedPrecondition("a crawl of this source is already queued or running") from None

        await self._db.write(write)

    async def get(self, organization_id: str, job_id: str) -> CrawlJob | None:
        def read(connection: sqlite3.Connection) -> CrawlJob | None:
            row = connection.execute(
                "SELECT doc FROM jobs WHERE organization_id = ? AND id = ?", (organization_id, job_id)
            ).fetchone()
            return None if row is None else job_from(_load(row))

        return await self._db.read(read)

    async def find(self, organization_id: str, *, source_id: str, before: str | None, limit: int) -> list[CrawlJob]:
        clauses = ["organization_id = ?"]
        parameters: list[Any] = [organization_id]
        if source_id:
            clauses.append("source_id = ?")
            parameters.append(source_id)
        if before is not None:
            clauses.append("id < ?")
            parameters.append(before)
        query = f"SELECT doc FROM jobs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?"  # noqa: S608

        def read(connection: sqlite3.Connection) -> list[CrawlJob]:
            return [job_from(_load(row)) for row in connection.execute(query, (*parameters, limit))]

        return await self._db.read(read)

    async def _change(
        self, organization_id: str, job_id: str, change: Callable[[CrawlJob], CrawlJob | None]
    ) -> CrawlJob | None:
        """Read, change and store one job in a single write transaction; None when `change` declines."""

        def write(connection: sqlite3.Connection) -> CrawlJob | None:
            row = connection.execute(
                "SELECT doc FROM jobs WHERE organization_id = ? AND id = ?", (organization_id, job_id)
            ).fetchone()
            if row is None:
                return None
            changed = change(job_from(_load(row)))
            if changed is not None:
                _store_job(connection, changed)
            return changed

        return await self._db.write(write)

    async def claim(
        self, organization_id: str, job_id: str, *, owner: str, lease_until: datetime, now: datetime
    ) -> CrawlJob | None:
        def change(job: CrawlJob) -> CrawlJob | None:
            takeable = job.state is JobState.QUEUED or (
                job.state is JobState.RUNNING and (job.lease_until is None or job.lease_until <= now)
            )
            if not takeable:
                return None
            return replace(
                job,
                state=JobState.RUNNING,
                attempts=job.attempts + 1,
                start_time=job.start_time or now,
                lease_owner=owner,
                lease_until=lease_until,
            )

        return await self._change(organization_id, job_id, change)

    async def heartbeat(self, organization_id: str, job_id: str, *, owner: str, lease_until: datetime) -> bool:
        def change(job: CrawlJob) -> CrawlJob | None:
            return replace(job, lease_until=lease_until) if _held(job, owner) else None

        return await self._change(organization_id, job_id, change) is not None

    async def deliver(
        self, organization_id: str, job_id: str, *, owner: str, urls: Collection[str], progress: Progress
    ) -> bool:
        def write(connection: sqlite3.Connection) -> bool:
            row = connection.execute(
                "SELECT doc FROM jobs WHERE organization_id = ? AND id = ?", (organization_id, job_id)
            ).fetchone()
            if row is None:
                return False
            job = job_from(_load(row))
            if not _held(job, owner):
                return False
            connection.executemany(
                "INSERT OR IGNORE INTO deliveries (job_id, url) VALUES (?, ?)", [(job_id, url) for url in urls]
            )
            _store_job(connection, replace(job, progress=job.progress.plus(progress)))
            return True

        return await self._db.write(write)

    async def delivered_urls(self, organization_id: str, job_id: str) -> set[str]:
        def read(connection: sqlite3.Connection) -> set[str]:
            owned = connection.execute(
                "SELECT 1 FROM jobs WHERE organization_id = ? AND id = ?", (organization_id, job_id)
            ).fetchone()
            if owned is None:
                return set()
            return {row[0] for row in connection.execute("SELECT url FROM deliveries WHERE job_id = ?", (job_id,))}

        return await self._db.read(read)

    async def add_progress(self, organization_id: str, job_id: str, *, owner: str, progress: Progress) -> bool:
        def change(job: CrawlJob) -> CrawlJob | None:
            return replace(job, progress=job.progress.plus(progress)) if _held(job, owner) else None

        return await self._change(organization_id, job_id, change) is not None

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
        def change(job: CrawlJob) -> CrawlJob | None:
            if not _held(job, owner):
                return None
            return replace(
                job, state=state, finish_reason=finish_reason, detail=detail, end_time=end_time, lease_until=None
            )

        return await self._change(organization_id, job_id, change) is not None

    async def cancel(self, organization_id: str, job_id: str, *, now: datetime) -> CrawlJob | None:
        def write(connection: sqlite3.Connection) -> CrawlJob | None:
            row = connection.execute(
                "SELECT doc FROM jobs WHERE organization_id = ? AND id = ?", (organization_id, job_id)
            ).fetchone()
            if row is None:
                return None
            job = job_from(_load(row))
            if not job.state.active:
                return job
            cancelled = replace(
                job, state=JobState.CANCELLED, finish_reason="cancelled", end_time=now, lease_until=None
            )
            _store_job(connection, cancelled)
            return cancelled

        return await self._db.write(write)

    async def stale(self, *, queued_before: datetime, now: datetime, limit: int) -> list[CrawlJob]:
        def read(connection: sqlite3.Connection) -> list[CrawlJob]:
            rows = connection.execute(
                "SELECT doc FROM jobs WHERE (state = 1 AND create_time < ?) OR "
                "(state = 2 AND (lease_until IS NULL OR lease_until <= ?)) ORDER BY create_time LIMIT ?",
                (time_text(queued_before), time_text(now), limit),
            )
            return [job_from(_load(row)) for row in rows]

        return await self._db.read(read)


def _held(job: CrawlJob, owner: str) -> bool:
    return job.state is JobState.RUNNING and job.lease_owner == owner


def _job_row(document: Document) -> tuple[Any, ...]:
    return (
        document["_id"],
        document["organization_id"],
        document["source_id"],
        document["state"],
        document.get("active_source"),
        document["create_time"],
        document["lease_until"],
        orjson.dumps(document),
    )


def _store_job(connection: sqlite3.Connection, job: CrawlJob) -> None:
    row = _job_row(job_document(job))
    connection.execute(
        "UPDATE jobs SET state = ?, active_source = ?, lease_until = ?, doc = ? WHERE id = ?",
        (row[3], row[4], row[6], row[7], row[0]),
    )


class SqliteHealth:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def memories(self, source_id: str, urls: Collection[str]) -> dict[str, dict[str, Any]]:
        wanted = list(urls)

        def read(connection: sqlite3.Connection) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in connection.execute(
                    f"SELECT url, doc FROM page_memory WHERE source_id = ? AND url IN ({marks})",  # noqa: S608
                    (source_id, *chunk),
                ):
                    found[row["url"]] = orjson.loads(row["doc"])
            return found

        return await self._db.read(read)

    async def remember(self, source_id: str, memories: Mapping[str, Mapping[str, Any]]) -> None:
        rows = [(source_id, url, orjson.dumps(dict(memory))) for url, memory in memories.items()]

        def write(connection: sqlite3.Connection) -> None:
            connection.executemany(
                "INSERT INTO page_memory (source_id, url, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (source_id, url) DO UPDATE SET doc = excluded.doc",
                rows,
            )

        await self._db.write(write)

    async def profile(self, source_id: str) -> dict[str, Any] | None:
        def read(connection: sqlite3.Connection) -> dict[str, Any] | None:
            row = connection.execute("SELECT doc FROM health_profiles WHERE source_id = ?", (source_id,)).fetchone()
            return None if row is None else _load(row)

        return await self._db.read(read)

    async def save_profile(self, source_id: str, profile: Mapping[str, Any]) -> None:
        document = orjson.dumps(dict(profile))

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO health_profiles (source_id, doc) VALUES (?, ?) "
                "ON CONFLICT (source_id) DO UPDATE SET doc = excluded.doc",
                (source_id, document),
            )

        await self._db.write(write)

    async def forget(self, source_id: str) -> None:
        def write(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM page_memory WHERE source_id = ?", (source_id,))
            connection.execute("DELETE FROM health_profiles WHERE source_id = ?", (source_id,))

        await self._db.write(write)


async def open_sqlite_repositories(path: Path) -> Repositories:
    db = SqliteDatabase(path, SCHEMA)
    await db.open()
    return Repositories(sources=SqliteSources(db), jobs=SqliteJobs(db), health=SqliteHealth(db), close=db.close)
