"""Reprice schedules end to end over gRPC, with the real catalog beside the pricing service: creating them with
the checks a run gets, the dispatcher starting their runs in the creator's name at the times given to it,
missed and busy occurrences skipped, two dispatchers never starting one occurrence twice, pausing, re-timing,
deleting, and refusals that store nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import SecretStr

from omnipricex.common.v1 import money_pb2
from omnipricex.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from omnipricex.product.v1 import product_pb2
from runtime.auth import Role
from runtime.clock import utcnow
from runtime.jobs.app import create_job_app
from runtime.timestamps import from_timestamp, to_timestamp
from services.pricing.domain.records import JobKind, RunState
from services.pricing.repository.opening import open_repositories
from services.pricing.tasks import DISPATCH_SCHEDULES, app
from services.pricing.tests.mesh_support import ORG_A, ORG_B, PricingMesh, pricing_mesh
from services.pricing.tests.test_pricing_worker import RABBITMQ_URL, wait_for, workers_for
from services.pricing.use_cases.runs import Runs
from services.pricing.use_cases.schedules import ScheduleDispatcher

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
SUGGEST, AUTO = pricing_pb2.RUN_MODE_SUGGEST, pricing_pb2.RUN_MODE_AUTO
ALL = pricing_pb2.Scope(all=True)


def eur(minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=minor, currency="EUR")


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def soon() -> datetime:
    """A start still ahead when the service gets it (a start already passed only sets the rhythm)."""
    return whole_second(utcnow()) + timedelta(seconds=10)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[PricingMesh]:
    async with pricing_mesh(tmp_path) as running:
        await running.products.BulkUpsertProducts(
            product_pb2.BulkUpsertProductsRequest(
                products=[
                    product_pb2.Product(sku="p-1", title="Kettle", price=eur(2000), cost=eur(1000)),
                    product_pb2.Product(sku="p-2", title="Toaster", price=eur(4000), cost=eur(3500)),
                ]
            ),
            metadata=running.metadata(),
        )
        created = await running.strategies.CreateStrategy(
            pricing_pb2.CreateStrategyRequest(
                strategy=pricing_pb2.Strategy(
                    name="cost plus 50",
                    rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent="50")],
                    auto_apply=pricing_pb2.AutoApplyPolicy(enabled=True, max_change_percent="30"),
                )
            ),
            metadata=running.metadata(),
        )
        await running.strategies.SetAssignment(
            pricing_pb2.SetAssignmentRequest(
                assignment=pricing_pb2.Assignment(
                    level=pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT, strategy_id=created.strategy.id
                )
            ),
            metadata=running.metadata(),
        )
        yield running


def schedules(mesh: PricingMesh) -> pricing_pb2_grpc.ScheduleServiceAsyncStub:
    return pricing_pb2_grpc.ScheduleServiceStub(mesh.channels["pricing"])


def dispatcher(mesh: PricingMesh) -> ScheduleDispatcher:
    return ScheduleDispatcher(mesh.repositories, Runs(mesh.repositories, mesh.upstream, mesh.queue))


async def create(
    mesh: PricingMesh,
    *,
    scope: pricing_pb2.Scope = ALL,
    mode: pricing_pb2.RunMode.ValueType = SUGGEST,
    interval_minutes: int = 60,
    start: datetime | None = None,
    role: Role = Role.PRICING_MANAGER,
    user: str = "usr_1",
    **fields: Any,
) -> pricing_pb2.RepriceSchedule:
    schedule = pricing_pb2.RepriceSchedule(scope=scope, mode=mode, interval_minutes=interval_minutes, **fields)
    if start is not None:
        schedule.start_time.CopyFrom(to_timestamp(start))
    created = await schedules(mesh).CreateSchedule(
        pricing_pb2.CreateScheduleRequest(schedule=schedule), metadata=mesh.metadata(role, user=user)
    )
    return created.schedule


async def get(mesh: PricingMesh, schedule_id: str) -> pricing_pb2.RepriceSchedule:
    found = await schedules(mesh).GetSchedule(
        pricing_pb2.GetScheduleRequest(id=schedule_id), metadata=mesh.metadata(Role.VIEWER)
    )
    return found.schedule


async def update(
    mesh: PricingMesh, schedule: pricing_pb2.RepriceSchedule, *paths: str, role: Role = Role.PRICING_MANAGER
) -> pricing_pb2.RepriceSchedule:
    updated = await schedules(mesh).UpdateSchedule(
        pricing_pb2.UpdateScheduleRequest(schedule=schedule, update_mask=field_mask_pb2.FieldMask(paths=paths)),
        metadata=mesh.metadata(role),
    )
    return updated.schedule


async def listed(mesh: PricingMesh, organization_id: str = ORG_A) -> list[pricing_pb2.RepriceSchedule]:
    found = await schedules(mesh).ListSchedules(
        pricing_pb2.ListSchedulesRequest(), metadata=mesh.metadata(Role.VIEWER, organization_id)
    )
    return list(found.schedules)


async def run_of(mesh: PricingMesh, run_id: str) -> pricing_pb2.RepriceRun:
    found = await mesh.reprice.GetRepriceRun(pricing_pb2.GetRepriceRunRequest(id=run_id), metadata=mesh.metadata())
    return found.run


async def test_a_schedule_starts_a_run_per_occurrence_in_its_creators_name(mesh: PricingMesh) -> None:
    start = whole_second(utcnow()) + timedelta(days=1)
    schedule = await create(mesh, start=start, role=Role.ANALYST, user="usr_analyst")
    assert (schedule.interval_minutes, schedule.mode, schedule.paused) == (60, SUGGEST, False)
    assert schedule.scope == ALL
    assert from_timestamp(schedule.start_time) == start
    assert from_timestamp(schedule.next_run_time) == start
    assert (schedule.last_run_id, schedule.HasField("last_run_time")) == ("", False)
    assert schedule.created_by == "usr_analyst"
    assert await get(mesh, schedule.id) == schedule
    assert await listed(mesh) == [schedule]
    assert await listed(mesh, ORG_B) == []

    # Not due a millisecond early; due at its time, once.
    assert await dispatcher(mesh).dispatch_due(start - timedelta(milliseconds=1)) == 0
    assert await dispatcher(mesh).dispatch_due(start) == 1
    assert await dispatcher(mesh).dispatch_due(start) == 0
    ((kind, organization_id, run_id),) = mesh.queue.jobs
    assert (kind, organization_id) == (JobKind.REPRICE, ORG_A)
    moved = await get(mesh, schedule.id)
    assert (moved.last_run_id, from_timestamp(moved.last_run_time)) == (run_id, start)
    assert from_timestamp(moved.next_run_time) == start + HOUR

    (result,) = await mesh.run_jobs()
    assert result is not None
    assert result.state is RunState.SUCCEEDED
    run = await run_of(mesh, run_id)
    assert (run.schedule_id, run.created_by, run.mode, run.scope) == (schedule.id, "usr_analyst", SUGGEST, ALL)
    assert (run.total, run.recommended) == (2, 2)

    # The beat was down for three and a half intervals: one run for them all, then the next one from now.
    assert await dispatcher(mesh).dispatch_due(start + 4.5 * HOUR) == 1
    after_outage = await get(mesh, schedule.id)
    assert from_timestamp(after_outage.next_run_time) == start + 5 * HOUR
    assert len(mesh.queue.jobs) == 1


async def test_an_auto_schedule_applies_prices_as_its_creator(mesh: PricingMesh) -> None:
    start = soon()
    schedule = await create(mesh, mode=AUTO, start=start, user="usr_manager")
    assert await dispatcher(mesh).dispatch_due(start + timedelta(seconds=30)) == 1
    await mesh.run_jobs()
    run = await run_of(mesh, (await get(mesh, schedule.id)).last_run_id)
    assert (run.state, run.auto_applied) == (pricing_pb2.RUN_STATE_SUCCEEDED, 1)
    events = await mesh.products.ListPriceEvents(
        product_pb2.ListPriceEventsRequest(sku="p-1"), metadata=mesh.metadata()
    )
    # p-1 falls 25 %, within the policy: the catalog names the schedule's creator, not a service account.
    assert events.events[0].actor_id == "usr_manager"
    product = await mesh.products.GetProduct(product_pb2.GetProductRequest(sku="p-1"), metadata=mesh.metadata())
    assert product.product.price == eur(1500)


async def test_an_occurrence_starts_nothing_while_the_last_run_is_unfinished(mesh: PricingMesh) -> None:
    start = soon()
    schedule = await create(mesh, start=start, interval_minutes=15)
    quarter = timedelta(minutes=15)
    assert await dispatcher(mesh).dispatch_due(start) == 1
    first_run = (await get(mesh, schedule.id)).last_run_id

    # No worker took the first run yet: the next occurrence passes without piling a second one up.
    assert await dispatcher(mesh).dispatch_due(start + quarter) == 0
    skipped = await get(mesh, schedule.id)
    assert (skipped.last_run_id, from_timestamp(skipped.last_run_time)) == (first_run, start)
    assert from_timestamp(skipped.next_run_time) == start + 2 * quarter
    assert len(mesh.queue.jobs) == 1

    await mesh.run_jobs()
    assert await dispatcher(mesh).dispatch_due(start + 2 * quarter) == 1
    assert (await get(mesh, schedule.id)).last_run_id not in ("", first_run)


async def test_two_dispatchers_at_once_start_one_run_per_occurrence(mesh: PricingMesh) -> None:
    start = soon()
    for _ in range(3):
        await create(mesh, start=start)
    other = await open_repositories(mesh.settings)
    try:
        second = ScheduleDispatcher(other, Runs(other, mesh.upstream, mesh.queue))
        started = await asyncio.gather(
            *(beat.dispatch_due(start) for beat in (dispatcher(mesh), second, dispatcher(mesh), second))
        )
    finally:
        await other.close()
    assert sum(started) == 3
    assert len({run_id for _, _, run_id in mesh.queue.jobs}) == 3
    runs = await mesh.reprice.ListRepriceRuns(pricing_pb2.ListRepriceRunsRequest(), metadata=mesh.metadata())
    assert len(runs.runs) == 3


async def test_a_start_in_the_past_only_sets_the_rhythm(mesh: PricingMesh) -> None:
    before = utcnow()
    start = whole_second(before) - 90 * timedelta(minutes=1)
    schedule = await create(mesh, start=start)
    # The first occurrence from now on: 30 minutes from the creation, give or take the seconds it took.
    assert from_timestamp(schedule.next_run_time) == start + 2 * HOUR
    unset = await create(mesh)
    assert before <= from_timestamp(unset.start_time) == from_timestamp(unset.next_run_time) <= utcnow()
    assert from_timestamp(unset.create_time) == from_timestamp(unset.start_time)


async def test_pausing_resuming_and_retiming(mesh: PricingMesh) -> None:
    start = whole_second(utcnow()) - timedelta(minutes=1)
    schedule = await create(mesh, start=start)
    paused = await update(mesh, pricing_pb2.RepriceSchedule(id=schedule.id, paused=True), "paused")
    assert paused.paused
    assert from_timestamp(paused.update_time) >= from_timestamp(schedule.update_time)
    assert await dispatcher(mesh).dispatch_due(start + 10 * HOUR) == 0

    # Resumed: the occurrences missed while paused are skipped, the next is the first from now on.
    before = utcnow()
    resumed = await update(mesh, pricing_pb2.RepriceSchedule(id=schedule.id, paused=False), "paused")
    assert not resumed.paused
    assert from_timestamp(resumed.next_run_time) == start + HOUR
    assert before < from_timestamp(resumed.next_run_time)

    # A new interval keeps the start as its rhythm's origin.
    retimed = await update(
        mesh, pricing_pb2.RepriceSchedule(id=schedule.id, interval_minutes=15, paused=True), "interval_minutes"
    )
    assert (retimed.interval_minutes, retimed.paused) == (15, False)
    assert from_timestamp(retimed.next_run_time) == start + timedelta(minutes=15)
    assert await update(mesh, retimed, "interval_minutes") == retimed, "an update that changes nothing"

    await schedules(mesh).DeleteSchedule(pricing_pb2.DeleteScheduleRequest(id=schedule.id), metadata=mesh.metadata())
    assert await listed(mesh) == []
    assert await dispatcher(mesh).dispatch_due(start + 10 * HOUR) == 0
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await schedules(mesh).DeleteSchedule(
            pricing_pb2.DeleteScheduleRequest(id=schedule.id), metadata=mesh.metadata()
        )
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_roles_follow_the_mode_and_organisations_stay_apart(mesh: PricingMesh) -> None:
    auto = await create(mesh, mode=AUTO)
    suggest = await create(mesh, role=Role.ANALYST)
    refusals: list[Awaitable[object]] = [
        create(mesh, role=Role.VIEWER),
        create(mesh, mode=AUTO, role=Role.ANALYST),
        update(mesh, pricing_pb2.RepriceSchedule(id=auto.id, paused=True), "paused", role=Role.ANALYST),
        schedules(mesh).DeleteSchedule(
            pricing_pb2.DeleteScheduleRequest(id=auto.id), metadata=mesh.metadata(Role.ANALYST)
        ),
        update(mesh, pricing_pb2.RepriceSchedule(id=suggest.id, paused=True), "paused", role=Role.VIEWER),
    ]
    for refusal in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await refusal
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (
        await update(mesh, pricing_pb2.RepriceSchedule(id=suggest.id, paused=True), "paused", role=Role.ANALYST)
    ).paused
    foreign: list[Awaitable[object]] = [
        schedules(mesh).GetSchedule(
            pricing_pb2.GetScheduleRequest(id=auto.id), metadata=mesh.metadata(organization_id=ORG_B)
        ),
        schedules(mesh).DeleteSchedule(
            pricing_pb2.DeleteScheduleRequest(id=auto.id), metadata=mesh.metadata(organization_id=ORG_B)
        ),
    ]
    for call in foreign:
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await call
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert [item.id for item in await listed(mesh)] == [auto.id, suggest.id]


async def test_bad_schedules_are_refused_and_nothing_is_stored(mesh: PricingMesh) -> None:
    await mesh.products.BulkUpsertProducts(
        product_pb2.BulkUpsertProductsRequest(
            products=[product_pb2.Product(sku="b-only", title="Other org", price=eur(100))]
        ),
        metadata=mesh.metadata(organization_id=ORG_B),
    )
    empty = await mesh.categories.CreateCategory(
        product_pb2.CreateCategoryRequest(category=product_pb2.Category(name="Empty")), metadata=mesh.metadata()
    )
    far = utcnow() + timedelta(days=400)
    invalid_time = pricing_pb2.RepriceSchedule(
        scope=ALL, mode=SUGGEST, interval_minutes=60, start_time=Timestamp(seconds=0, nanos=-1)
    )
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    cases: list[tuple[dict[str, Any], grpc.StatusCode, str]] = [
        ({"interval_minutes": 0}, invalid, "interval_minutes"),
        ({"interval_minutes": -60}, invalid, "interval_minutes"),
        ({"interval_minutes": 14}, invalid, "interval_minutes"),
        ({"interval_minutes": 10_081}, invalid, "interval_minutes"),
        ({"interval_minutes": 2**31 - 1}, invalid, "interval_minutes"),
        ({"scope": pricing_pb2.Scope()}, invalid, "scope"),
        ({"scope": pricing_pb2.Scope(skus=pricing_pb2.SkuList())}, invalid, "scope"),
        ({"scope": pricing_pb2.Scope(skus=pricing_pb2.SkuList(skus=["p-1", "b-only"]))}, invalid, "b-only"),
        ({"scope": pricing_pb2.Scope(category_id="no-such-category")}, invalid, "no-such-category"),
        ({"scope": pricing_pb2.Scope(category_id=empty.category.id)}, grpc.StatusCode.FAILED_PRECONDITION, "no active"),
        ({"mode": pricing_pb2.RUN_MODE_UNSPECIFIED}, invalid, "mode"),
        ({"mode": 7}, invalid, "mode"),
        ({"start": far}, invalid, "start_time"),
    ]
    for fields, code, mentioned in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await create(mesh, **fields)
        assert refused.value.code() == code, fields
        assert mentioned in (refused.value.details() or ""), fields
    with pytest.raises(grpc.aio.AioRpcError) as bad_time:
        await schedules(mesh).CreateSchedule(
            pricing_pb2.CreateScheduleRequest(schedule=invalid_time), metadata=mesh.metadata()
        )
    assert bad_time.value.code() == invalid
    assert await listed(mesh) == []
    assert mesh.queue.jobs == []


async def test_bad_updates_change_nothing(mesh: PricingMesh) -> None:
    schedule = await create(mesh)
    for paths, given in [
        ((), pricing_pb2.RepriceSchedule(id=schedule.id, paused=True)),
        (("scope",), pricing_pb2.RepriceSchedule(id=schedule.id, scope=pricing_pb2.Scope(category_id="c"))),
        (("id",), pricing_pb2.RepriceSchedule(id=schedule.id)),
        (("interval_minutes",), pricing_pb2.RepriceSchedule(id=schedule.id, interval_minutes=0)),
        (("interval_minutes", "paused"), pricing_pb2.RepriceSchedule(id=schedule.id, interval_minutes=20_000)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await update(mesh, given, *paths)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, paths
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await update(mesh, pricing_pb2.RepriceSchedule(id="sch_nope", paused=True), "paused")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert await get(mesh, schedule.id) == schedule


def test_beat_dispatches_schedules_every_minute() -> None:
    (entry,) = [entry for entry in app.conf.beat_schedule.values() if entry["task"] == DISPATCH_SCHEDULES]
    assert entry["schedule"] == 60.0
    assert DISPATCH_SCHEDULES in app.tasks


@pytest.mark.parametrize("broker_kind", ["sqlite", "rabbitmq"])
async def test_the_beat_task_starts_due_runs_in_a_real_worker(
    mesh: PricingMesh, tmp_path: Path, broker_kind: str
) -> None:
    schedule = await create(mesh)
    broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}" if broker_kind == "sqlite" else RABBITMQ_URL
    with workers_for(mesh, broker) as (workers, queue):
        settings = mesh.settings.model_copy(update={"broker_url": SecretStr(broker)})
        publisher = create_job_app("pricing-test-publisher", settings, task_modules=[], queues=[queue])
        workers.start()
        # What beat sends every minute; the worker dispatches, then runs the job it queued.
        publisher.send_task(DISPATCH_SCHEDULES, queue=queue)
        deadline = asyncio.get_running_loop().time() + 60
        while not (started := await get(mesh, schedule.id)).last_run_id:
            assert asyncio.get_running_loop().time() < deadline, workers.output()
            await asyncio.sleep(0.05)
        done = await wait_for(mesh, started.last_run_id, {RunState.SUCCEEDED, RunState.FAILED}, 60, workers)
    assert done.state is RunState.SUCCEEDED, done.error
    assert (done.created_by, done.scope, done.recommended) == ("usr_1", {"all": True, "schedule_id": schedule.id}, 2)
    assert from_timestamp(started.next_run_time) == from_timestamp(schedule.start_time) + HOUR
