"""Scraper sources and crawl jobs: the repository contract on every engine, and the use cases on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.auth import CredentialKind, Principal, Role
from runtime.errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.scraper.crawl.contract import SourceKind
from services.scraper.domain import (
    CrawlJob,
    Creator,
    Extraction,
    Health,
    JobState,
    Progress,
    Source,
    SourceDraft,
    Trigger,
    tripped,
)
from services.scraper.repository import Repositories
from services.scraper.repository.mongo import open_mongo_repositories
from services.scraper.repository.sqlite import open_sqlite_repositories
from services.scraper.use_cases import Crawls, CrawlSchedule, CrawlSweeper, Sources

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
ORG = "org_a"
OTHER_ORG = "org_b"


def principal(role: Role = Role.ANALYST, organization_id: str = ORG) -> Principal:
    return Principal(organization_id, "usr_1", role, CredentialKind.ACCESS_TOKEN)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Ids:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count:026d}"


class KnownCompetitors:
    """The competitor service's answer for ids it knows; others are refused as it would refuse them."""

    def __init__(self, *ids: str) -> None:
        self.ids = set(ids)
        self.health_reports: list[tuple[str, bool]] = []

    async def competitor(self, principal: Principal, competitor_id: str) -> object:
        if competitor_id not in self.ids:
            raise InvalidArgument(f"competitor {competitor_id!r} does not exist", field="competitor_id")
        return competitor_id

    async def report_health(
        self,
        principal: Principal,
        *,
        competitor_id: str,
        source_id: str,
        source_name: str,
        broken: bool,
        reason: str,
        when: datetime,
    ) -> None:
        self.health_reports.append((source_id, broken))


class RecordingQueue:
    def __init__(self) -> None:
        self.submitted: list[tuple[str, str]] = []

    def submit(self, organization_id: str, job_id: str) -> None:
        self.submitted.append((organization_id, job_id))


def draft(name: str = "Shop listing", **fields: Any) -> SourceDraft:
    values: dict[str, Any] = {
        "competitor_id": "cmp_1",
        "kind": SourceKind.LISTING,
        "start_urls": ("https://shop.example/c/kettles",),
    }
    values.update(fields)
    return SourceDraft(name=name, **values)


def source(source_id: str = "src_1", name: str = "Shop", organization_id: str = ORG, **fields: Any) -> Source:
    values: dict[str, Any] = {
        "competitor_id": "cmp_1",
        "kind": SourceKind.SITEMAP,
        "start_urls": ("https://shop.example/sitemap.xml",),
        "extraction": Extraction(price_selector=".price"),
        "category_id": "",
        "schedule_interval_minutes": 0,
        "max_pages": 100,
        "created_by": Creator("usr_1", Role.ANALYST),
        "create_time": START,
        "update_time": START,
    }
    values.update(fields)
    return Source(id=source_id, organization_id=organization_id, name=name, **values)


def job(job_id: str, source_id: str = "src_1", **fields: Any) -> CrawlJob:
    values: dict[str, Any] = {
        "organization_id": ORG,
        "competitor_id": "cmp_1",
        "state": JobState.QUEUED,
        "trigger": Trigger.MANUAL,
        "created_by": Creator("usr_1", Role.ANALYST),
        "create_time": START,
    }
    values.update(fields)
    return CrawlJob(id=job_id, source_id=source_id, **values)


@pytest.fixture
async def repositories(engine: Any) -> AsyncIterator[Repositories]:
    if engine.kind == "sqlite":
        opened = await open_sqlite_repositories(engine.sqlite_path("scraper"))
    else:
        opened = await open_mongo_repositories(engine.mongo_database("scraper"))
    yield opened
    await opened.close()


# --- repository contract (every engine) ----------------------------------------------------------------


async def test_sources_round_trip_page_and_stay_in_their_organisation(repositories: Repositories) -> None:
    stored = source("src_1", "Beta", paused_until=START, breaker_trips=2)
    await repositories.sources.create(stored)
    await repositories.sources.create(source("src_2", "Alpha", competitor_id="cmp_2"))
    await repositories.sources.create(source("src_3", "Beta", organization_id=OTHER_ORG))
    assert await repositories.sources.get(ORG, "src_1") == stored
    assert await repositories.sources.get(OTHER_ORG, "src_1") is None
    names = [found.name for found in await repositories.sources.find(ORG, competitor_id="", after=None, limit=10)]
    assert names == ["Alpha", "Beta"]
    after_first = await repositories.sources.find(ORG, competitor_id="", after=("alpha", "src_2"), limit=10)
    assert [found.id for found in after_first] == ["src_1"]
    only_cmp_2 = await repositories.sources.find(ORG, competitor_id="cmp_2", after=None, limit=10)
    assert [found.id for found in only_cmp_2] == ["src_2"]
    with pytest.raises(AlreadyExists):
        await repositories.sources.create(source("src_4", " beta "))


async def test_source_updates_are_revision_checked(repositories: Repositories) -> None:
    before = source()
    await repositories.sources.create(before)
    after = replace(before, name="Renamed", revision=2)
    await repositories.sources.update(before, after)
    with pytest.raises(Conflict):
        await repositories.sources.update(before, replace(before, name="Stale", revision=2))
    assert (await repositories.sources.get(ORG, before.id)) == after


async def test_due_sources_are_those_scheduled_at_or_before_now(repositories: Repositories) -> None:
    await repositories.sources.create(source("src_1", "A", next_crawl_time=START))
    await repositories.sources.create(source("src_2", "B", next_crawl_time=START + timedelta(minutes=5)))
    await repositories.sources.create(source("src_3", "C"))
    assert [found.id for found in await repositories.sources.due(START, 10)] == ["src_1"]


async def test_one_active_crawl_per_source(repositories: Repositories) -> None:
    await repositories.jobs.create(job("crl_1"))
    with pytest.raises(FailedPrecondition):
        await repositories.jobs.create(job("crl_2"))
    await repositories.jobs.create(job("crl_3", source_id="src_other"))
    cancelled = await repositories.jobs.cancel(ORG, "crl_1", now=START)
    assert cancelled is not None
    assert cancelled.state is JobState.CANCELLED
    await repositories.jobs.create(job("crl_2"))


async def test_claim_lease_delivery_and_finish(repositories: Repositories) -> None:
    await repositories.jobs.create(job("crl_1"))
    lease_end = START + timedelta(seconds=30)
    taken = await repositories.jobs.claim(ORG, "crl_1", owner="w1", lease_until=lease_end, now=START)
    assert taken is not None
    assert (taken.state, taken.attempts, taken.lease_owner) == (JobState.RUNNING, 1, "w1")
    assert await repositories.jobs.claim(ORG, "crl_1", owner="w2", lease_until=lease_end, now=START) is None
    assert await repositories.jobs.deliver(
        ORG, "crl_1", owner="w1", urls=["https://s/p/1", "https://s/p/2"], progress=Progress(product_pages=2)
    )
    assert not await repositories.jobs.deliver(ORG, "crl_1", owner="w2", urls=["https://s/p/3"], progress=Progress())
    # The first worker died: once its lease ends another takes over and sees what was delivered.
    later = lease_end + timedelta(seconds=1)
    again = await repositories.jobs.claim(
        ORG, "crl_1", owner="w2", lease_until=later + timedelta(seconds=30), now=later
    )
    assert again is not None
    assert (again.attempts, again.start_time, again.progress.product_pages) == (2, START, 2)
    assert await repositories.jobs.delivered_urls(ORG, "crl_1") == {"https://s/p/1", "https://s/p/2"}
    assert await repositories.jobs.delivered_urls(OTHER_ORG, "crl_1") == set()
    assert not await repositories.jobs.heartbeat(ORG, "crl_1", owner="w1", lease_until=later)
    assert await repositories.jobs.deliver(
        ORG, "crl_1", owner="w2", urls=["https://s/p/2", "https://s/p/3"], progress=Progress(product_pages=2)
    )
    assert await repositories.jobs.finish(
        ORG, "crl_1", owner="w2", state=JobState.SUCCEEDED, finish_reason="finished", detail="", end_time=later
    )
    finished = await repositories.jobs.get(ORG, "crl_1")
    assert finished is not None
    assert (finished.state, finished.progress.product_pages, finished.end_time) == (JobState.SUCCEEDED, 4, later)
    assert len(await repositories.jobs.delivered_urls(ORG, "crl_1")) == 3
    await repositories.jobs.create(job("crl_2"))


async def test_stale_jobs_are_old_queued_ones_and_ended_leases(repositories: Repositories) -> None:
    await repositories.jobs.create(job("crl_1", source_id="s1", create_time=START - timedelta(minutes=10)))
    await repositories.jobs.create(job("crl_2", source_id="s2", create_time=START))
    await repositories.jobs.create(job("crl_3", source_id="s3", create_time=START - timedelta(minutes=10)))
    await repositories.jobs.claim(ORG, "crl_3", owner="w", lease_until=START + timedelta(seconds=5), now=START)
    stale = await repositories.jobs.stale(queued_before=START - timedelta(minutes=1), now=START, limit=10)
    assert [found.id for found in stale] == ["crl_1"]
    later = await repositories.jobs.stale(queued_before=START, now=START + timedelta(seconds=6), limit=10)
    assert {found.id for found in later} == {"crl_1", "crl_3"}


async def test_health_memory_and_profile(repositories: Repositories) -> None:
    await repositories.health.remember("src_1", {"https://s/p/1": {"price_minor": 100}, "https://s/p/2": {"x": 1}})
    await repositories.health.remember("src_1", {"https://s/p/1": {"price_minor": 120}})
    await repositories.health.remember("src_2", {"https://s/p/1": {"price_minor": 7}})
    found = await repositories.health.memories("src_1", ["https://s/p/1", "https://s/p/9"])
    assert found == {"https://s/p/1": {"price_minor": 120}}
    assert await repositories.health.profile("src_1") is None
    await repositories.health.save_profile("src_1", {"state": {"broken": True}})
    assert await repositories.health.profile("src_1") == {"state": {"broken": True}}
    await repositories.health.forget("src_1")
    assert await repositories.health.memories("src_1", ["https://s/p/1"]) == {}
    assert await repositories.health.profile("src_1") is None
    assert await repositories.health.memories("src_2", ["https://s/p/1"]) == {"https://s/p/1": {"price_minor": 7}}


# --- use cases (SQLite) -----------------------------------------------------------------------------------


@pytest.fixture
async def sqlite_repositories(tmp_path: Any) -> AsyncIterator[Repositories]:
    opened = await open_sqlite_repositories(tmp_path / "scraper.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def competitors() -> KnownCompetitors:
    return KnownCompetitors("cmp_1")


@pytest.fixture
def sources(sqlite_repositories: Repositories, competitors: KnownCompetitors, clock: Clock) -> Sources:
    return Sources(sqlite_repositories, competitors, clock=clock, ids=Ids())


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def crawls(sqlite_repositories: Repositories, queue: RecordingQueue, clock: Clock) -> Crawls:
    return Crawls(sqlite_repositories, queue, clock=clock, ids=Ids())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start_urls": ("file://shop.example/prices.html",)}, "start_urls[0]"),
        ({"start_urls": ("gopher://shop.example/1",)}, "start_urls[0]"),
        ({"start_urls": ("http//missing-colon",)}, "start_urls[0]"),
        ({"start_urls": ()}, "start_urls"),
        ({"extraction": Extraction(price_selector="div[[[")}, "extraction.price_selector"),
        ({"extraction": Extraction(next_page_selector="//a[")}, "extraction.next_page_selector"),
        ({"extraction": Extraction(product_url_pattern="(unclosed")}, "extraction.product_url_pattern"),
        ({"extraction": Extraction(default_currency="XYZ")}, "extraction.default_currency"),
        ({"schedule_interval_minutes": 5}, "schedule_interval_minutes"),
        ({"max_pages": 0}, "max_pages"),
        ({"competitor_id": "cmp_unknown"}, "competitor_id"),
    ],
)
async def test_bad_sources_are_refused_naming_the_field_and_nothing_is_stored(
    sources: Sources, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await sources.create(principal(), draft(**fields))
    assert refused.value.field == field
    assert (await sources.list_sources(principal(), competitor_id="", page_size_requested=0, page_token="")).items == []


async def test_blank_or_control_character_names_are_refused(sources: Sources) -> None:
    for name in ("", "   ", "bad\x00name", "x" * 121):
        with pytest.raises(InvalidArgument):
            await sources.create(principal(), draft(name=name))


async def test_sources_need_an_analyst_to_change_and_a_viewer_to_read(sources: Sources) -> None:
    with pytest.raises(PermissionDenied):
        await sources.create(principal(Role.VIEWER), draft())
    created = await sources.create(principal(), draft(name="Kettles", start_urls=("HTTPS://Shop.Example/c/k",)))
    assert created.start_urls[0].startswith("https://shop.example/")
    assert (await sources.get(principal(Role.VIEWER), created.id)) == created
    with pytest.raises(NotFound):
        await sources.get(principal(organization_id=OTHER_ORG), created.id)


async def test_update_keeps_what_the_mask_does_not_name(sources: Sources, clock: Clock) -> None:
    created = await sources.create(principal(), draft(schedule_interval_minutes=60))
    assert created.next_crawl_time is not None
    assert START + timedelta(minutes=60) <= created.next_crawl_time < START + timedelta(minutes=90)
    clock.now = START + timedelta(minutes=1)
    updated = await sources.update(principal(), created.id, draft(name="New name", max_pages=5), ["name"])
    assert (updated.name, updated.max_pages, updated.revision) == ("New name", created.max_pages, 2)
    with pytest.raises(InvalidArgument):
        await sources.update(principal(), created.id, draft(), ["kind"])


async def test_start_crawl_queues_one_job_at_a_time(
    sources: Sources, crawls: Crawls, queue: RecordingQueue, sqlite_repositories: Repositories
) -> None:
    created = await sources.create(principal(), draft())
    started = await crawls.start(principal(), created.id)
    assert started.state is JobState.QUEUED
    assert queue.submitted == [(ORG, started.id)]
    with pytest.raises(FailedPrecondition):
        await crawls.start(principal(), created.id)
    with pytest.raises(FailedPrecondition):
        await sources.delete(principal(), created.id)
    cancelled = await crawls.cancel(principal(), started.id)
    assert cancelled.state is JobState.CANCELLED
    listed = await crawls.list_jobs(principal(Role.VIEWER), source_id=created.id, page_size_requested=0, page_token="")
    assert [found.id for found in listed.items] == [started.id]
    with pytest.raises(NotFound):
        await crawls.start(principal(organization_id=OTHER_ORG), created.id)


async def test_a_paused_source_refuses_crawls_until_resumed(
    sources: Sources, crawls: Crawls, sqlite_repositories: Repositories, clock: Clock
) -> None:
    created = await sources.create(principal(), draft())
    paused = tripped(created, reason="10 consecutive failures fetching shop.example (last: HTTP 503)", now=START)
    await sqlite_repositories.sources.update(created, paused)
    with pytest.raises(FailedPrecondition, match=r"paused.*HTTP 503"):
        await crawls.start(principal(), created.id)
    resumed_source = await sources.resume(principal(), created.id)
    assert not resumed_source.paused
    assert (await crawls.start(principal(), created.id)).state is JobState.QUEUED


async def test_resetting_health_forgets_what_was_learned_and_clears_the_alert(
    sources: Sources, sqlite_repositories: Repositories, competitors: KnownCompetitors
) -> None:
    created = await sources.create(principal(), draft())
    broken = replace(created, health=Health.BROKEN, health_reason="prices vanished", revision=created.revision + 1)
    await sqlite_repositories.sources.update(created, broken)
    await sqlite_repositories.health.remember(created.id, {"https://shop.example/p/1": {"price_minor": 100}})
    await sqlite_repositories.health.save_profile(created.id, {"state": {"broken": True}})
    with pytest.raises(PermissionDenied):
        await sources.reset_health(principal(Role.VIEWER), created.id)
    reset = await sources.reset_health(principal(), created.id)
    assert (reset.health, reset.health_reason) == (Health.UNKNOWN, "")
    assert await sqlite_repositories.health.profile(created.id) is None
    assert await sqlite_repositories.health.memories(created.id, ["https://shop.example/p/1"]) == {}
    assert competitors.health_reports == [(created.id, False)]
    await sources.reset_health(principal(), created.id)
    assert competitors.health_reports == [(created.id, False)], "a source that was not broken has no alert to clear"


def test_the_breaker_doubles_its_pause_each_time_it_opens_in_a_row() -> None:
    first = tripped(source(), reason="down", now=START)
    second = tripped(first, reason="down", now=START)
    assert first.paused_until == START + timedelta(minutes=30)
    assert second.paused_until == START + timedelta(minutes=60)
    many = source(breaker_trips=20)
    assert tripped(many, reason="down", now=START).paused_until == START + timedelta(days=1)


async def test_schedule_starts_due_crawls_once_and_skips_missed_slots(
    sources: Sources, crawls: Crawls, queue: RecordingQueue, sqlite_repositories: Repositories, clock: Clock
) -> None:
    created = await sources.create(principal(), draft(schedule_interval_minutes=60))
    schedule = CrawlSchedule(sqlite_repositories, crawls, clock=clock)
    clock.now = START + timedelta(hours=5, minutes=1)
    assert await schedule.dispatch_due() == 1
    assert await schedule.dispatch_due() == 0
    stored = await sqlite_repositories.sources.get(ORG, created.id)
    assert stored is not None
    first_slot = created.next_crawl_time
    assert first_slot is not None
    assert stored.next_crawl_time is not None
    # Missed slots are skipped: the next one is the first slot after now, on the source's own rhythm.
    assert stored.next_crawl_time > clock.now >= stored.next_crawl_time - timedelta(hours=1)
    assert (stored.next_crawl_time - first_slot) % timedelta(hours=1) == timedelta(0)
    clock.now = stored.next_crawl_time
    assert await schedule.dispatch_due() == 0  # the previous crawl is still queued: this slot is skipped
    jobs = await crawls.list_jobs(principal(), source_id=created.id, page_size_requested=0, page_token="")
    assert [found.trigger for found in jobs.items] == [Trigger.SCHEDULE]


async def test_sweeper_requeues_lost_and_abandoned_crawls(
    sources: Sources, crawls: Crawls, queue: RecordingQueue, sqlite_repositories: Repositories, clock: Clock
) -> None:
    created = await sources.create(principal(), draft())
    started = await crawls.start(principal(), created.id)
    queue.submitted.clear()
    sweeper = CrawlSweeper(sqlite_repositories, queue, clock=clock)
    assert await sweeper.sweep(grace=timedelta(minutes=2)) == 0
    clock.now = START + timedelta(minutes=3)
    assert await sweeper.sweep(grace=timedelta(minutes=2)) == 1
    assert queue.submitted == [(ORG, started.id)]
