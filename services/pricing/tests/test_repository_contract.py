"""The pricing repository contract: the same tests on SQLite, the MongoDB stand-in and (with MONGODB_URI) MongoDB."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from runtime.errors import AlreadyExists, Conflict, NotFound
from runtime.money import Money
from services.pricing.domain.records import (
    Assignment,
    AssignmentLevel,
    ExperimentState,
    JobKind,
    Quote,
    Recommendation,
    RecommendationState,
    RunMode,
    RunState,
)
from services.pricing.repository import Repositories, RunProgress
from services.pricing.tests.storage_support import (
    ORG_A,
    ORG_B,
    START,
    bulk_rows,
    demand_model,
    eur,
    experiment,
    minutes,
    open_repositories,
    open_two_handles,
    quote,
    recommendation,
    run,
    schedule,
    strategy,
)

pytestmark = pytest.mark.timeout(120)

PENDING, APPROVED, REJECTED, APPLIED = (
    RecommendationState.PENDING,
    RecommendationState.APPROVED,
    RecommendationState.REJECTED,
    RecommendationState.APPLIED,
)
NESTED_JSON = {
    "title": "Kaffeebecher „Größe L“ 東京 🎉",
    "nested": {"list": [1, 2.5, None, True, "ü"], "deeper": {"empty": {}, "none": [], "zero": 0}},
    "ключ": "значение",
    'quote"and\\slash': "line\nbreak",
}


@pytest.fixture
async def repositories(engine: Any) -> AsyncIterator[Repositories]:
    """The pricing repositories on each engine of the root conftest (SQLite, MongoDB stand-in, MongoDB)."""
    opened = await open_repositories(engine)
    yield opened
    await opened.close()


@pytest.fixture
async def two_handles(engine: Any) -> AsyncIterator[tuple[Repositories, Repositories]]:
    first, second = await open_two_handles(engine)
    yield first, second
    await first.close()
    await second.close()


def progress(processed: int, total: int = 10, recommended: int = 0, auto_applied: int = 0) -> RunProgress:
    return RunProgress(processed, total, recommended, auto_applied)


# --- schema and values ----------------------------------------------------------------------------


async def test_handles_opened_on_the_same_storage_share_data_and_schema(
    two_handles: tuple[Repositories, Repositories],
) -> None:
    # The second handle created the schema again over the first one's: that must be a no-op.
    first, second = two_handles
    await first.strategies.create(strategy("str_1"))
    assert await second.strategies.get(ORG_A, "str_1") == strategy("str_1")
    with pytest.raises(AlreadyExists):
        await second.strategies.create(strategy("str_2", name="Strategy str_1"))


async def test_json_mappings_round_trip_unicode_and_nesting(repositories: Repositories) -> None:
    stored = strategy("str_json", config=NESTED_JSON)
    await repositories.strategies.create(stored)
    assert await repositories.strategies.get(ORG_A, "str_json") == stored
    queued = run("run_json", scope={"skus": ["ä-1", "東京-2"], "extra": NESTED_JSON})
    await repositories.runs.create(queued)
    assert await repositories.runs.get(ORG_A, "run_json") == queued
    explained = recommendation("run_json", "sku-ü", explanation=NESTED_JSON)
    await repositories.recommendations.put_many([explained])
    assert await repositories.recommendations.get_many(ORG_A, [explained.id]) == {explained.id: explained}
    tested = experiment("exp_json", "sku-ü", sampler=NESTED_JSON)
    await repositories.experiments.create(tested)
    assert await repositories.experiments.get(ORG_A, "exp_json") == tested


async def test_times_come_back_as_utc_milliseconds(repositories: Repositories) -> None:
    # Both engines keep milliseconds (MongoDB's precision), so they return the same instant.
    given = datetime(2026, 3, 1, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    await repositories.strategies.create(strategy("str_t", create_time=given, update_time=given))
    stored = await repositories.strategies.get(ORG_A, "str_t")
    assert stored is not None
    assert stored.create_time == datetime(2026, 3, 1, 9, 0, 0, 123000, tzinfo=UTC)
    assert stored.create_time.tzinfo is UTC
    assert stored.create_time.utcoffset() == timedelta(0)


async def test_money_keeps_minor_units_and_currency(repositories: Repositories) -> None:
    yen = recommendation("run_m", "sku-1", current_price=Money(1500, "JPY"), recommended_price=Money(1450, "JPY"))
    dinar = recommendation("run_m", "sku-2", current_price=Money(12345, "KWD"), recommended_price=Money(0, "KWD"))
    big = recommendation("run_m", "sku-3", current_price=eur(10**15), recommended_price=eur(999_999_999_999_999))
    await repositories.recommendations.put_many([yen, dinar, big])
    stored = await repositories.recommendations.get_many(ORG_A, [yen.id, dinar.id, big.id])
    assert stored == {yen.id: yen, dinar.id: dinar, big.id: big}
    await repositories.quotes.put_many([quote("sku-1", 10**15)])
    ((_, written),) = await repositories.quotes.changes_since(0, limit=10)
    assert written.price == eur(10**15)


# --- strategies -----------------------------------------------------------------------------------


async def test_a_strategy_is_stored_per_organisation(repositories: Repositories) -> None:
    mine = strategy("str_1")
    theirs = strategy("str_1", organization_id=ORG_B, config={"rules": []})
    await repositories.strategies.create(mine)
    await repositories.strategies.create(theirs)
    assert await repositories.strategies.get(ORG_A, "str_1") == mine
    assert await repositories.strategies.get(ORG_B, "str_1") == theirs
    assert await repositories.strategies.get(ORG_A, "missing") is None
    assert await repositories.strategies.get("org_c", "str_1") is None


async def test_strategy_ids_and_names_are_unique_within_an_organisation(repositories: Repositories) -> None:
    await repositories.strategies.create(strategy("str_1", name="Undercut"))
    with pytest.raises(AlreadyExists) as same_id:
        await repositories.strategies.create(strategy("str_1", name="Other"))
    assert same_id.value.field == "id"
    with pytest.raises(AlreadyExists) as same_name:
        await repositories.strategies.create(strategy("str_2", name="Undercut"))
    assert same_name.value.field == "name"
    await repositories.strategies.create(strategy("str_2", name="Undercut", organization_id=ORG_B))
    assert await repositories.strategies.get(ORG_A, "str_2") is None


async def test_get_many_strategies_returns_the_organisations_own(repositories: Repositories) -> None:
    await repositories.strategies.create(strategy("str_1"))
    await repositories.strategies.create(strategy("str_2"))
    await repositories.strategies.create(strategy("str_3", organization_id=ORG_B))
    found = await repositories.strategies.get_many(ORG_A, ["str_1", "str_3", "nope"])
    assert found == {"str_1": strategy("str_1")}
    assert await repositories.strategies.get_many(ORG_A, []) == {}


async def test_strategies_are_listed_by_name_in_pages(repositories: Repositories) -> None:
    names = ["Zeta", "alpha", "Beta", "Ärger", "delta", "Gamma"]
    for index, name in enumerate(names):
        await repositories.strategies.create(strategy(f"str_{index}", name=name))
    await repositories.strategies.create(strategy("str_b", name="Beta", organization_id=ORG_B))
    seen: list[str] = []
    while True:
        page = await repositories.strategies.find(ORG_A, after_name=seen[-1] if seen else "", limit=4)
        seen.extend(s.name for s in page)
        if len(page) < 4:
            break
    assert seen == sorted(names)
    assert [s.name for s in await repositories.strategies.find(ORG_B, after_name="", limit=10)] == ["Beta"]


async def test_a_strategy_update_needs_the_previous_revision(repositories: Repositories) -> None:
    original = strategy("str_1", name="Undercut")
    await repositories.strategies.create(original)
    renamed = replace(original, name="Undercut v2", config={"rules": []}, revision=2, update_time=START + minutes(1))
    await repositories.strategies.update(renamed)
    assert await repositories.strategies.get(ORG_A, "str_1") == renamed

    stale = replace(original, name="Lost", revision=2)
    with pytest.raises(Conflict):
        await repositories.strategies.update(stale)
    skipping = replace(renamed, revision=4)
    with pytest.raises(Conflict):
        await repositories.strategies.update(skipping)
    assert await repositories.strategies.get(ORG_A, "str_1") == renamed

    # The old name is free again.
    await repositories.strategies.create(strategy("str_2", name="Undercut"))


async def test_a_strategy_update_to_a_taken_name_changes_nothing(repositories: Repositories) -> None:
    await repositories.strategies.create(strategy("str_1", name="Undercut"))
    other = strategy("str_2", name="Match")
    await repositories.strategies.create(other)
    with pytest.raises(AlreadyExists) as taken:
        await repositories.strategies.update(replace(other, name="Undercut", revision=2))
    assert taken.value.field == "name"
    assert await repositories.strategies.get(ORG_A, "str_2") == other


async def test_updating_a_missing_strategy_is_not_found(repositories: Repositories) -> None:
    await repositories.strategies.create(strategy("str_1", organization_id=ORG_B))
    with pytest.raises(NotFound):
        await repositories.strategies.update(strategy("str_1", revision=2))
    stored = await repositories.strategies.get(ORG_B, "str_1")
    assert stored is not None
    assert stored.revision == 1


async def test_deleting_a_strategy_touches_only_that_organisation(repositories: Repositories) -> None:
    await repositories.strategies.create(strategy("str_1"))
    await repositories.strategies.create(strategy("str_1", organization_id=ORG_B))
    await repositories.strategies.delete(ORG_A, "str_1")
    await repositories.strategies.delete(ORG_A, "never-was")
    assert await repositories.strategies.get(ORG_A, "str_1") is None
    assert await repositories.strategies.get(ORG_B, "str_1") is not None
    await repositories.strategies.create(strategy("str_1"))


# --- assignments ----------------------------------------------------------------------------------


async def test_assignments_are_replaced_listed_and_deleted(repositories: Repositories) -> None:
    puts = [
        Assignment(ORG_A, AssignmentLevel.PRODUCT, "sku-2", "str_1"),
        Assignment(ORG_A, AssignmentLevel.DEFAULT, "", "str_0"),
        Assignment(ORG_A, AssignmentLevel.CATEGORY, "mugs", "str_2"),
        Assignment(ORG_A, AssignmentLevel.PRODUCT, "sku-1", "str_1"),
        Assignment(ORG_A, AssignmentLevel.BRAND, "Acme", "str_3"),
        Assignment(ORG_A, AssignmentLevel.CATEGORY, "cups", "str_2"),
        Assignment(ORG_B, AssignmentLevel.DEFAULT, "", "str_9"),
    ]
    for assignment in puts:
        await repositories.assignments.put(assignment)
    replaced = Assignment(ORG_A, AssignmentLevel.CATEGORY, "mugs", "str_4")
    await repositories.assignments.put(replaced)
    assert await repositories.assignments.list_all(ORG_A) == [
        Assignment(ORG_A, AssignmentLevel.DEFAULT, "", "str_0"),
        Assignment(ORG_A, AssignmentLevel.CATEGORY, "cups", "str_2"),
        replaced,
        Assignment(ORG_A, AssignmentLevel.BRAND, "Acme", "str_3"),
        Assignment(ORG_A, AssignmentLevel.PRODUCT, "sku-1", "str_1"),
        Assignment(ORG_A, AssignmentLevel.PRODUCT, "sku-2", "str_1"),
    ]
    assert await repositories.assignments.list_all(ORG_B) == [puts[-1]]

    assert await repositories.assignments.uses_strategy(ORG_A, "str_1")
    assert not await repositories.assignments.uses_strategy(ORG_A, "str_9")
    assert not await repositories.assignments.uses_strategy(ORG_B, "str_1")

    assert not await repositories.assignments.delete(ORG_B, AssignmentLevel.PRODUCT, "sku-1")
    assert await repositories.assignments.delete(ORG_A, AssignmentLevel.PRODUCT, "sku-1")
    assert not await repositories.assignments.delete(ORG_A, AssignmentLevel.PRODUCT, "sku-1")
    assert not await repositories.assignments.delete(ORG_A, AssignmentLevel.CATEGORY, "sku-2")
    assert await repositories.assignments.delete(ORG_A, AssignmentLevel.PRODUCT, "sku-2")
    assert not await repositories.assignments.uses_strategy(ORG_A, "str_1")
    assert len(await repositories.assignments.list_all(ORG_A)) == 4


# --- runs -----------------------------------------------------------------------------------------


async def test_a_run_reads_back_equal_and_its_id_is_unique(repositories: Repositories) -> None:
    refit = run(
        "run_1",
        kind=JobKind.REFIT,
        scope={"days": 90},
        mode=RunMode.AUTO,
        state=RunState.FAILED,
        processed=7,
        total=9,
        recommended=3,
        auto_applied=2,
        error="market data missing",
        attempts=2,
        lease_owner="worker-1",
        lease_until=START + minutes(5),
        start_time=START + minutes(1),
        end_time=START + minutes(2),
    )
    await repositories.runs.create(refit)
    assert await repositories.runs.get(ORG_A, "run_1") == refit
    assert await repositories.runs.get(ORG_B, "run_1") is None
    assert await repositories.runs.get(ORG_A, "run_2") is None
    with pytest.raises(AlreadyExists):
        await repositories.runs.create(run("run_1"))


async def test_runs_are_listed_newest_first_in_pages(repositories: Repositories) -> None:
    times = {"run_a": 0, "run_b": 2, "run_c": 2, "run_d": 5, "run_e": 1}
    for run_id, minute in times.items():
        await repositories.runs.create(run(run_id, create_time=START + minutes(minute)))
    await repositories.runs.create(run("run_x", ORG_B, create_time=START + minutes(9)))
    newest_first = ["run_d", "run_c", "run_b", "run_e", "run_a"]

    seen: list[str] = []
    before: tuple[datetime, str] | None = None
    while True:
        page = await repositories.runs.find(ORG_A, before=before, limit=2)
        seen.extend(r.id for r in page)
        if len(page) < 2:
            break
        before = (page[-1].create_time, page[-1].id)
    assert seen == newest_first
    tied = await repositories.runs.find(ORG_A, before=(START + minutes(2), "run_c"), limit=10)
    assert [r.id for r in tied] == ["run_b", "run_e", "run_a"]
    assert [r.id for r in await repositories.runs.find(ORG_B, before=None, limit=10)] == ["run_x"]


async def test_claiming_a_queued_run_takes_it(repositories: Repositories) -> None:
    await repositories.runs.create(run("run_1", attempts=0))
    now = START + minutes(1)
    claimed = await repositories.runs.claim(ORG_A, "run_1", owner="worker-1", lease_until=now + minutes(1), now=now)
    expected = replace(
        run("run_1"),
        state=RunState.RUNNING,
        attempts=1,
        lease_owner="worker-1",
        lease_until=now + minutes(1),
        start_time=now,
    )
    assert claimed == expected
    assert await repositories.runs.get(ORG_A, "run_1") == expected


async def test_a_live_lease_keeps_the_run_with_its_holder(repositories: Repositories) -> None:
    await repositories.runs.create(run("run_1"))
    lease_until = START + minutes(2)
    assert await repositories.runs.claim(ORG_A, "run_1", owner="worker-1", lease_until=lease_until, now=START)
    for owner in ("worker-2", "worker-1"):
        for now in (START + minutes(1), lease_until):
            taken = await repositories.runs.claim(ORG_A, "run_1", owner=owner, lease_until=now + minutes(2), now=now)
            assert taken is None
    stored = await repositories.runs.get(ORG_A, "run_1")
    assert stored is not None
    assert (stored.lease_owner, stored.lease_until, stored.attempts) == ("worker-1", lease_until, 1)


async def test_unknown_finished_and_foreign_runs_cannot_be_claimed(repositories: Repositories) -> None:
    await repositories.runs.create(run("run_done", state=RunState.SUCCEEDED, end_time=START))
    await repositories.runs.create(run("run_failed", state=RunState.FAILED, end_time=START))
    await repositories.runs.create(run("run_b", ORG_B))
    later = START + minutes(60)
    for organization_id, run_id in ((ORG_A, "run_done"), (ORG_A, "run_failed"), (ORG_A, "nope"), (ORG_A, "run_b")):
        claimed = await repositories.runs.claim(organization_id, run_id, owner="w", lease_until=later, now=later)
        assert claimed is None
    assert await repositories.runs.get(ORG_B, "run_b") == run("run_b", ORG_B)


async def test_two_concurrent_claims_have_exactly_one_winner(two_handles: tuple[Repositories, Repositories]) -> None:
    first, second = two_handles
    await first.runs.create(run("run_1"))
    lease_until = START + minutes(5)
    claims = [
        handle.runs.claim(ORG_A, "run_1", owner=f"worker-{n}", lease_until=lease_until, now=START)
        for n, handle in enumerate((first, second, first, second, first, second))
    ]
    results = await asyncio.gather(*claims)
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    (winner,) = winners
    assert winner.attempts == 1
    assert await second.runs.get(ORG_A, "run_1") == winner


async def test_an_expired_lease_is_taken_over_and_the_old_holder_loses_the_run(
    two_handles: tuple[Repositories, Repositories],
) -> None:
    first, second = two_handles
    await first.runs.create(run("run_1"))
    started = START + minutes(1)
    old = await first.runs.claim(ORG_A, "run_1", owner="worker-old", lease_until=started + minutes(1), now=started)
    assert old is not None
    assert await first.runs.heartbeat(
        ORG_A, "run_1", owner="worker-old", lease_until=started + minutes(2), progress=progress(3)
    )

    # worker-old stops heartbeating; its task is redelivered to two workers at once after the lease.
    now = started + minutes(2) + timedelta(milliseconds=1)
    results = await asyncio.gather(
        first.runs.claim(ORG_A, "run_1", owner="worker-new", lease_until=now + minutes(1), now=now),
        second.runs.claim(ORG_A, "run_1", owner="worker-other", lease_until=now + minutes(1), now=now),
    )
    (taken,) = [result for result in results if result is not None]
    assert taken.attempts == 2
    assert taken.start_time == started
    assert taken.processed == 3
    new_owner = taken.lease_owner

    assert not await first.runs.heartbeat(
        ORG_A, "run_1", owner="worker-old", lease_until=now + minutes(9), progress=progress(9)
    )
    assert not await first.runs.finish(
        ORG_A,
        "run_1",
        owner="worker-old",
        state=RunState.SUCCEEDED,
        error="",
        progress=progress(10),
        end_time=now,
    )
    assert await second.runs.get(ORG_A, "run_1") == taken

    assert await second.runs.heartbeat(
        ORG_A, "run_1", owner=new_owner, lease_until=now + minutes(3), progress=progress(6, recommended=4)
    )
    assert not await second.runs.heartbeat(
        ORG_B, "run_1", owner=new_owner, lease_until=now + minutes(3), progress=progress(6)
    )
    end = now + minutes(2)
    assert await second.runs.finish(
        ORG_A,
        "run_1",
        owner=new_owner,
        state=RunState.FAILED,
        error="catalog unavailable",
        progress=progress(8, recommended=5, auto_applied=1),
        end_time=end,
    )
    assert await first.runs.get(ORG_A, "run_1") == replace(
        taken,
        state=RunState.FAILED,
        error="catalog unavailable",
        processed=8,
        total=10,
        recommended=5,
        auto_applied=1,
        lease_until=now + minutes(3),
        end_time=end,
    )
    # Finished is final: no holder, no further heartbeat, finish or claim.
    assert not await second.runs.heartbeat(ORG_A, "run_1", owner=new_owner, lease_until=end, progress=progress(8))
    assert not await second.runs.finish(
        ORG_A, "run_1", owner=new_owner, state=RunState.SUCCEEDED, error="", progress=progress(8), end_time=end
    )
    late = end + minutes(60)
    assert await first.runs.claim(ORG_A, "run_1", owner="worker-late", lease_until=late, now=late) is None


async def test_finish_needs_a_finished_state(repositories: Repositories) -> None:
    await repositories.runs.create(run("run_1"))
    assert await repositories.runs.claim(ORG_A, "run_1", owner="w", lease_until=START + minutes(1), now=START)
    with pytest.raises(ValueError, match="succeeded or failed"):
        await repositories.runs.finish(
            ORG_A, "run_1", owner="w", state=RunState.QUEUED, error="", progress=progress(0), end_time=START
        )
    assert await repositories.runs.finish(
        ORG_A, "run_1", owner="w", state=RunState.SUCCEEDED, error="", progress=progress(10), end_time=START
    )


async def test_find_unfinished_crosses_organisations(repositories: Repositories) -> None:
    cutoff = START + minutes(10)
    await repositories.runs.create(run("run_queued_old", create_time=START + minutes(2)))
    await repositories.runs.create(run("run_queued_b", ORG_B, create_time=START + minutes(1)))
    await repositories.runs.create(run("run_queued_new", create_time=cutoff))
    await repositories.runs.create(run("run_done", state=RunState.SUCCEEDED, create_time=START))
    await repositories.runs.create(run("run_dead", ORG_B, create_time=START + minutes(3)))
    await repositories.runs.create(run("run_live", create_time=START + minutes(4)))
    await repositories.runs.create(run("run_edge", create_time=START + minutes(5)))
    claims = {"run_dead": (ORG_B, cutoff - minutes(1)), "run_live": (ORG_A, cutoff + minutes(1))}
    claims["run_edge"] = (ORG_A, cutoff)
    for run_id, (organization_id, lease_until) in claims.items():
        assert await repositories.runs.claim(organization_id, run_id, owner="w", lease_until=lease_until, now=START)

    found = await repositories.runs.find_unfinished(older_than=cutoff, limit=10)
    assert [(r.organization_id, r.id) for r in found] == [
        (ORG_B, "run_queued_b"),
        (ORG_A, "run_queued_old"),
        (ORG_B, "run_dead"),
    ]
    limited = await repositories.runs.find_unfinished(older_than=cutoff, limit=2)
    assert [r.id for r in limited] == ["run_queued_b", "run_queued_old"]


# --- recommendations ------------------------------------------------------------------------------


async def test_recommendations_read_back_equal_per_organisation(repositories: Repositories) -> None:
    decided = recommendation(
        "run_1",
        "sku-1",
        state=APPLIED,
        conflict=True,
        model_reliable=False,
        decided_by="usr_2",
        decision_reason="looks right",
        apply_error="",
        decide_time=START + minutes(3),
    )
    plain = recommendation("run_1", "sku-2")
    theirs = recommendation("run_1", "sku-1", ORG_B, id="rec_b")
    await repositories.recommendations.put_many([decided, plain, theirs])
    found = await repositories.recommendations.get_many(ORG_A, [decided.id, plain.id, "rec_b", "nope"])
    assert found == {decided.id: decided, plain.id: plain}
    assert await repositories.recommendations.get_many(ORG_B, [decided.id, "rec_b"]) == {"rec_b": theirs}
    assert await repositories.recommendations.get_many(ORG_A, []) == {}
    await repositories.recommendations.put_many([])


async def test_putting_recommendations_again_replaces_only_pending_ones(repositories: Repositories) -> None:
    first = [recommendation("run_1", f"sku-{n}") for n in range(4)]
    await repositories.recommendations.put_many(first)
    moved = await repositories.recommendations.decide(
        ORG_A,
        [first[1].id],
        from_states=[PENDING],
        to_state=APPROVED,
        decided_by="usr_2",
        reason="",
        apply_error="",
        time=START + minutes(1),
    )
    assert moved == [first[1].id]
    await repositories.recommendations.decide(
        ORG_A,
        [first[2].id],
        from_states=[PENDING],
        to_state=REJECTED,
        decided_by="usr_2",
        reason="too low",
        apply_error="",
        time=START + minutes(1),
    )
    decided = await repositories.recommendations.get_many(ORG_A, [first[1].id, first[2].id])

    # The redelivered run computes them again with fresh ids and times.
    again = [
        recommendation(
            "run_1",
            f"sku-{n}",
            id=f"rec_again_{n}",
            recommended_price=eur(1700 + n),
            create_time=START + minutes(5),
            explanation={"attempt": 2},
        )
        for n in range(5)
    ]
    await repositories.recommendations.put_many(again)
    assert await repositories.recommendations.count(ORG_A, "run_1") == 5
    stored = await repositories.recommendations.find(ORG_A, run_id="run_1", state=None, sku=None, after=None, limit=100)
    by_sku = {r.sku: r for r in stored}
    assert by_sku["sku-0"] == replace(again[0], id=first[0].id, create_time=START)
    assert by_sku["sku-3"] == replace(again[3], id=first[3].id, create_time=START)
    assert by_sku["sku-1"] == decided[first[1].id]
    assert by_sku["sku-2"] == decided[first[2].id]
    assert by_sku["sku-4"] == again[4]
    assert await repositories.recommendations.get_many(ORG_A, ["rec_again_0", "rec_again_1"]) == {}

    # Repeating with the stored ids is the same no-op for decided ones.
    await repositories.recommendations.put_many(stored)
    assert (
        await repositories.recommendations.find(ORG_A, run_id="run_1", state=None, sku=None, after=None, limit=100)
        == stored
    )


async def test_a_recommendation_id_cannot_name_two_skus(repositories: Repositories) -> None:
    await repositories.recommendations.put_many([recommendation("run_1", "sku-1", id="rec_1")])
    with pytest.raises(AlreadyExists):
        await repositories.recommendations.put_many([recommendation("run_1", "sku-2", id="rec_1")])
    assert await repositories.recommendations.count(ORG_A, "run_1") == 1


async def test_a_bulk_put_is_idempotent(repositories: Repositories, engine: Any) -> None:
    rows = bulk_rows(engine.kind)
    batch = [
        recommendation("run_bulk", f"sku-{n:05d}", recommended_price=eur(1000 + n), explanation={"n": n})
        for n in range(rows)
    ]
    await repositories.recommendations.put_many(batch)
    await repositories.recommendations.put_many(batch)
    assert await repositories.recommendations.count(ORG_A, "run_bulk") == rows
    page = await repositories.recommendations.find(
        ORG_A, run_id="run_bulk", state=None, sku=None, after=("run_bulk", f"sku-{rows - 3:05d}"), limit=10
    )
    assert page == batch[-2:]


async def test_recommendations_are_found_by_run_state_and_sku_in_pages(repositories: Repositories) -> None:
    stored = [
        recommendation(run_id, sku, state=state)
        for run_id, sku, state in [
            ("run_2", "sku-a", PENDING),
            ("run_1", "sku-b", APPROVED),
            ("run_1", "sku-a", PENDING),
            ("run_3", "sku-a", REJECTED),
            ("run_1", "sku-c", PENDING),
            ("run_2", "sku-c", APPLIED),
        ]
    ]
    await repositories.recommendations.put_many(stored)
    await repositories.recommendations.put_many([recommendation("run_1", "sku-a", ORG_B, id="rec_b")])

    async def keys(**query: Any) -> list[tuple[str, str]]:
        found: list[Recommendation] = []
        while True:
            after = (found[-1].run_id, found[-1].sku) if found else None
            page = await repositories.recommendations.find(ORG_A, after=after, limit=2, **query)
            found.extend(page)
            if len(page) < 2:
                return [(r.run_id, r.sku) for r in found]

    everything = {"run_id": None, "state": None, "sku": None}
    assert await keys(**everything) == [
        ("run_1", "sku-a"),
        ("run_1", "sku-b"),
        ("run_1", "sku-c"),
        ("run_2", "sku-a"),
        ("run_2", "sku-c"),
        ("run_3", "sku-a"),
    ]
    assert await keys(**{**everything, "run_id": "run_1"}) == [
        ("run_1", "sku-a"),
        ("run_1", "sku-b"),
        ("run_1", "sku-c"),
    ]
    assert await keys(**{**everything, "state": PENDING}) == [
        ("run_1", "sku-a"),
        ("run_1", "sku-c"),
        ("run_2", "sku-a"),
    ]
    assert await keys(**{**everything, "sku": "sku-a"}) == [("run_1", "sku-a"), ("run_2", "sku-a"), ("run_3", "sku-a")]
    assert await keys(run_id="run_2", state=APPLIED, sku="sku-c") == [("run_2", "sku-c")]
    assert await keys(run_id="run_9", state=None, sku=None) == []
    theirs = await repositories.recommendations.find(ORG_B, run_id=None, state=None, sku=None, after=None, limit=9)
    assert [r.id for r in theirs] == ["rec_b"]
    assert await repositories.recommendations.count(ORG_A, "run_1") == 3
    assert await repositories.recommendations.count(ORG_B, "run_1") == 1
    assert await repositories.recommendations.count(ORG_A, "run_9") == 0


async def test_decide_moves_only_recommendations_in_the_given_states(repositories: Repositories) -> None:
    batch = [recommendation("run_1", f"sku-{n}") for n in range(4)]
    await repositories.recommendations.put_many(batch)
    await repositories.recommendations.put_many([recommendation("run_1", "sku-0", ORG_B, id="rec_b")])
    ids = [r.id for r in batch]

    async def decide(
        organization_id: str, chosen: list[str], from_states: list[RecommendationState], to_state: RecommendationState
    ) -> list[str]:
        return await repositories.recommendations.decide(
            organization_id,
            chosen,
            from_states=from_states,
            to_state=to_state,
            decided_by="usr_2",
            reason=f"to {to_state.value}",
            apply_error="price below cost" if to_state is PENDING else "",
            time=START + minutes(7),
        )

    assert await decide(ORG_A, [ids[2], ids[0], "nope", "rec_b"], [PENDING], APPROVED) == sorted([ids[0], ids[2]])
    assert await decide(ORG_A, ids, [PENDING], APPROVED) == sorted([ids[1], ids[3]])
    assert await decide(ORG_A, ids, [PENDING], REJECTED) == []
    assert await decide(ORG_A, [ids[0], ids[1]], [APPROVED], APPLIED) == sorted([ids[0], ids[1]])
    # A failed apply goes back to pending with its error.
    assert await decide(ORG_A, [ids[2]], [APPROVED], PENDING) == [ids[2]]
    assert await decide(ORG_A, ids, [PENDING, APPROVED], REJECTED) == sorted([ids[2], ids[3]])
    assert await decide(ORG_A, [], [PENDING], REJECTED) == []
    assert await decide(ORG_B, ids, [PENDING], APPROVED) == []

    stored = await repositories.recommendations.get_many(ORG_A, ids)
    assert [stored[i].state for i in ids] == [APPLIED, APPLIED, REJECTED, REJECTED]
    assert stored[ids[0]] == replace(
        batch[0], state=APPLIED, decided_by="usr_2", decision_reason="to applied", decide_time=START + minutes(7)
    )
    theirs = await repositories.recommendations.get_many(ORG_B, ["rec_b"])
    assert theirs["rec_b"].state is PENDING


async def test_a_pending_recommendation_keeps_a_failed_apply_error(repositories: Repositories) -> None:
    await repositories.recommendations.put_many([recommendation("run_1", "sku-1")])
    rec_id = recommendation("run_1", "sku-1").id
    moved = await repositories.recommendations.decide(
        ORG_A,
        [rec_id],
        from_states=[PENDING],
        to_state=PENDING,
        decided_by="system",
        reason="",
        apply_error="product service unavailable",
        time=START,
    )
    assert moved == [rec_id]
    stored = await repositories.recommendations.get_many(ORG_A, [rec_id])
    assert stored[rec_id].apply_error == "product service unavailable"


# --- demand models --------------------------------------------------------------------------------


async def test_demand_models_are_replaced_by_sku_and_listed_in_order(repositories: Repositories) -> None:
    await repositories.models.put_many([demand_model(f"sku-{n}") for n in (3, 1, 2)])
    await repositories.models.put_many([demand_model("sku-1", ORG_B, elasticity=-0.5)])
    refit = demand_model(
        "sku-2",
        category_id="mugs",
        elasticity=-2.5,
        source="shrunk",
        reliable=False,
        reason="few sales days",
        days=30,
        fit_time=START + minutes(60),
    )
    await repositories.models.put_many([refit, demand_model("sku-0")])
    found = await repositories.models.get_many(ORG_A, ["sku-2", "sku-1", "sku-9"])
    assert found == {"sku-2": refit, "sku-1": demand_model("sku-1")}
    assert await repositories.models.get_many(ORG_A, []) == {}
    first = await repositories.models.find(ORG_A, after_sku="", limit=3)
    assert [m.sku for m in first] == ["sku-0", "sku-1", "sku-2"]
    rest = await repositories.models.find(ORG_A, after_sku="sku-2", limit=3)
    assert rest == [demand_model("sku-3")]
    assert await repositories.models.find(ORG_B, after_sku="", limit=3) == [
        demand_model("sku-1", ORG_B, elasticity=-0.5)
    ]
    await repositories.models.put_many([])


async def test_demand_models_keep_missing_and_infinite_estimates(repositories: Repositories) -> None:
    await repositories.models.put_many(
        [demand_model("sku-1", elasticity=math.nan, standard_error=math.inf, ci_low=-math.inf, ci_high=math.nan)]
    )
    stored = (await repositories.models.get_many(ORG_A, ["sku-1"]))["sku-1"]
    assert math.isnan(stored.elasticity)
    assert math.isnan(stored.ci_high)
    assert (stored.standard_error, stored.ci_low) == (math.inf, -math.inf)


# --- experiments ----------------------------------------------------------------------------------


async def test_an_experiment_reads_back_equal_per_organisation(repositories: Repositories) -> None:
    stopped = experiment(
        "exp_1",
        "sku-1",
        state=ExperimentState.STOPPED,
        candidates=(Money(150, "JPY"), Money(199, "JPY")),
        current_arm=1,
        periods=12,
        stop_reason="winner found",
        winner_arm=1,
        revision=13,
        last_period_time=START + minutes(60),
    )
    await repositories.experiments.create(stopped)
    await repositories.experiments.create(experiment("exp_1", "sku-1", ORG_B))
    assert await repositories.experiments.get(ORG_A, "exp_1") == stopped
    assert await repositories.experiments.get(ORG_A, "exp_2") is None
    assert await repositories.experiments.get("org_c", "exp_1") is None
    with pytest.raises(AlreadyExists) as same_id:
        await repositories.experiments.create(experiment("exp_1", "sku-2"))
    assert same_id.value.field == "id"


async def test_a_sku_has_at_most_one_running_experiment(repositories: Repositories) -> None:
    await repositories.experiments.create(experiment("exp_1", "sku-1"))
    with pytest.raises(AlreadyExists) as busy:
        await repositories.experiments.create(experiment("exp_2", "sku-1"))
    assert busy.value.field == "sku"
    await repositories.experiments.create(experiment("exp_2", "sku-1", state=ExperimentState.STOPPED))
    await repositories.experiments.create(experiment("exp_3", "sku-1", state=ExperimentState.STOPPED))
    await repositories.experiments.create(experiment("exp_1", "sku-1", ORG_B))
    await repositories.experiments.create(experiment("exp_4", "sku-2"))

    # Restarting a stopped one while another runs is refused as well.
    with pytest.raises(AlreadyExists):
        await repositories.experiments.update(
            replace(experiment("exp_2", "sku-1"), state=ExperimentState.RUNNING, revision=2)
        )
    stopped = replace(experiment("exp_1", "sku-1"), state=ExperimentState.STOPPED, stop_reason="manual", revision=2)
    await repositories.experiments.update(stopped)
    await repositories.experiments.create(experiment("exp_5", "sku-1"))
    assert await repositories.experiments.running_for_skus(ORG_A, ["sku-1", "sku-2", "sku-3"]) == {"sku-1", "sku-2"}
    assert await repositories.experiments.running_for_skus(ORG_B, ["sku-1", "sku-2"]) == {"sku-1"}
    assert await repositories.experiments.running_for_skus(ORG_A, []) == set()


async def test_an_experiment_update_needs_the_previous_revision(repositories: Repositories) -> None:
    original = experiment("exp_1", "sku-1")
    await repositories.experiments.create(original)
    advanced = replace(
        original,
        current_arm=2,
        periods=1,
        sampler={"arms": [{"alpha": 3.0, "beta": 1.0}]},
        revision=2,
        last_period_time=START + minutes(60),
    )
    await repositories.experiments.update(advanced)
    assert await repositories.experiments.get(ORG_A, "exp_1") == advanced
    with pytest.raises(Conflict):
        await repositories.experiments.update(replace(original, periods=5, revision=2))
    with pytest.raises(NotFound):
        await repositories.experiments.update(replace(original, organization_id=ORG_B, revision=2))
    assert await repositories.experiments.get(ORG_A, "exp_1") == advanced


async def test_experiments_are_listed_by_id_and_running_ones_by_last_step(repositories: Repositories) -> None:
    hour = minutes(60)
    await repositories.experiments.create(experiment("exp_c", "sku-c", last_period_time=START + 3 * hour))
    await repositories.experiments.create(experiment("exp_a", "sku-a", create_time=START + hour))
    await repositories.experiments.create(experiment("exp_b", "sku-b", state=ExperimentState.STOPPED))
    await repositories.experiments.create(experiment("exp_d", "sku-d", last_period_time=START + 2 * hour))
    await repositories.experiments.create(experiment("exp_z", "sku-z", ORG_B))

    first = await repositories.experiments.find(ORG_A, after_id="", limit=3)
    assert [e.id for e in first] == ["exp_a", "exp_b", "exp_c"]
    assert [e.id for e in await repositories.experiments.find(ORG_A, after_id="exp_c", limit=3)] == ["exp_d"]
    assert [e.id for e in await repositories.experiments.find(ORG_B, after_id="", limit=3)] == ["exp_z"]

    running = await repositories.experiments.find_running(limit=10)
    assert [(e.organization_id, e.id) for e in running] == [
        (ORG_B, "exp_z"),
        (ORG_A, "exp_a"),
        (ORG_A, "exp_d"),
        (ORG_A, "exp_c"),
    ]
    assert [e.id for e in await repositories.experiments.find_running(limit=2)] == ["exp_z", "exp_a"]


# --- quotes ---------------------------------------------------------------------------------------


async def test_quotes_get_increasing_sequences_across_organisations(repositories: Repositories) -> None:
    assert await repositories.quotes.changes_since(0, limit=10) == []
    await repositories.quotes.put_many([quote("sku-1", 100, explanation_id="rec_1"), quote("sku-2", 200)])
    await repositories.quotes.put_many([quote("sku-1", 300, ORG_B)])
    await repositories.quotes.put_many([])
    first = await repositories.quotes.changes_since(0, limit=10)
    assert [q for _, q in first] == [
        Quote(ORG_A, "sku-1", eur(100), "rec_1"),
        Quote(ORG_A, "sku-2", eur(200), ""),
        Quote(ORG_B, "sku-1", eur(300), ""),
    ]
    sequences = [s for s, _ in first]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 3

    # Replacing a quote moves it past every earlier write; its old number is gone.
    await repositories.quotes.put_many([quote("sku-1", 150, explanation_id="rec_2"), quote("sku-3", 50)])
    changes = await repositories.quotes.changes_since(0, limit=10)
    assert [(q.organization_id, q.sku, q.price.amount_minor) for _, q in changes] == [
        (ORG_A, "sku-2", 200),
        (ORG_B, "sku-1", 300),
        (ORG_A, "sku-1", 150),
        (ORG_A, "sku-3", 50),
    ]
    assert changes[2][0] > sequences[-1]
    assert await repositories.quotes.changes_since(changes[1][0], limit=10) == changes[2:]
    assert await repositories.quotes.changes_since(changes[0][0], limit=1) == changes[1:2]
    assert await repositories.quotes.changes_since(changes[-1][0], limit=10) == []


async def test_the_later_quote_of_a_sku_in_one_batch_wins(repositories: Repositories) -> None:
    await repositories.quotes.put_many([quote("sku-1", 100), quote("sku-2", 5), quote("sku-1", 120)])
    changes = await repositories.quotes.changes_since(0, limit=10)
    assert [(q.sku, q.price.amount_minor) for _, q in changes] == [("sku-2", 5), ("sku-1", 120)]


async def test_concurrent_quote_writers_never_share_a_sequence(two_handles: tuple[Repositories, Repositories]) -> None:
    first, second = two_handles
    writes = [
        handle.quotes.put_many([quote(f"sku-{n}-{k}", 100 * n + k) for k in range(5)] + [quote("sku-shared", n)])
        for n, handle in enumerate((first, second) * 4)
    ]
    await asyncio.gather(*writes)
    changes = await first.quotes.changes_since(0, limit=1000)
    sequences = [s for s, _ in changes]
    assert sequences == sorted(set(sequences))
    assert len(changes) == 8 * 5 + 1
    # The shared sku, written last in every batch, holds the value of the batch that got the highest numbers.
    last_sequence, shared = changes[-1]
    assert shared.sku == "sku-shared"
    batch = shared.price.amount_minor
    assert changes[-6:-1] == [(last_sequence - 5 + k, quote(f"sku-{batch}-{k}", 100 * batch + k)) for k in range(5)]


async def test_quotes_are_read_by_sku_within_one_organisation(repositories: Repositories) -> None:
    await repositories.quotes.put_many([quote("sku-1", 100, explanation_id="rec_1"), quote("sku-2", 200)])
    await repositories.quotes.put_many([quote("sku-1", 999, ORG_B)])
    found = await repositories.quotes.get_many(ORG_A, ["sku-1", "sku-2", "nope"])
    assert found == {"sku-1": Quote(ORG_A, "sku-1", eur(100), "rec_1"), "sku-2": Quote(ORG_A, "sku-2", eur(200), "")}
    assert await repositories.quotes.get_many(ORG_A, []) == {}


# --- schedules ------------------------------------------------------------------------------------


async def test_a_schedule_reads_back_equal_per_organisation(repositories: Repositories) -> None:
    ran = schedule(
        "sch_1",
        scope={"category_id": "cat-ü", "extra": NESTED_JSON},
        mode=RunMode.AUTO,
        interval_minutes=10_080,
        start_time=START - minutes(90),
        paused=True,
        next_run_time=START + minutes(10_080),
        last_run_id="run_9",
        last_run_time=START,
        created_by="key_7",
        creator_role=4,
        revision=5,
        update_time=START + minutes(1),
    )
    await repositories.schedules.create(ran)
    await repositories.schedules.create(schedule("sch_1", ORG_B))
    assert await repositories.schedules.get(ORG_A, "sch_1") == ran
    assert await repositories.schedules.get(ORG_B, "sch_1") == schedule("sch_1", ORG_B)
    assert await repositories.schedules.get(ORG_A, "sch_2") is None
    with pytest.raises(AlreadyExists) as same_id:
        await repositories.schedules.create(schedule("sch_1"))
    assert same_id.value.field == "id"
    assert await repositories.schedules.get(ORG_A, "sch_1") == ran


async def test_schedules_are_listed_by_id_in_pages_and_deleted(repositories: Repositories) -> None:
    for schedule_id in ("sch_c", "sch_a", "sch_d", "sch_b"):
        await repositories.schedules.create(schedule(schedule_id))
    await repositories.schedules.create(schedule("sch_z", ORG_B))
    first = await repositories.schedules.find(ORG_A, after_id="", limit=3)
    assert [s.id for s in first] == ["sch_a", "sch_b", "sch_c"]
    assert [s.id for s in await repositories.schedules.find(ORG_A, after_id="sch_c", limit=3)] == ["sch_d"]
    assert await repositories.schedules.delete(ORG_A, "sch_b")
    assert not await repositories.schedules.delete(ORG_A, "sch_b")
    assert not await repositories.schedules.delete(ORG_A, "sch_z")
    assert [s.id for s in await repositories.schedules.find(ORG_A, after_id="", limit=9)] == ["sch_a", "sch_c", "sch_d"]
    assert [s.id for s in await repositories.schedules.find(ORG_B, after_id="", limit=9)] == ["sch_z"]


async def test_a_schedule_update_needs_the_previous_revision(repositories: Repositories) -> None:
    original = schedule("sch_1")
    await repositories.schedules.create(original)
    paused = replace(
        original, paused=True, interval_minutes=15, next_run_time=START + minutes(15), revision=2, update_time=START
    )
    await repositories.schedules.update(paused)
    assert await repositories.schedules.get(ORG_A, "sch_1") == paused
    with pytest.raises(Conflict):
        await repositories.schedules.update(replace(original, interval_minutes=30, revision=2))
    with pytest.raises(Conflict):
        await repositories.schedules.update(replace(paused, revision=4))
    with pytest.raises(NotFound):
        await repositories.schedules.update(replace(paused, organization_id=ORG_B, revision=3))
    # The creation time is the stored one's, whatever the update says.
    await repositories.schedules.update(replace(paused, revision=3, create_time=START + minutes(60)))
    assert await repositories.schedules.get(ORG_A, "sch_1") == replace(paused, revision=3)


async def test_due_schedules_cross_organisations_soonest_first(repositories: Repositories) -> None:
    now = START + minutes(60)
    await repositories.schedules.create(schedule("sch_late", next_run_time=now - minutes(1)))
    await repositories.schedules.create(schedule("sch_b", ORG_B, next_run_time=now - minutes(30)))
    await repositories.schedules.create(schedule("sch_edge", next_run_time=now))
    await repositories.schedules.create(schedule("sch_future", next_run_time=now + timedelta(milliseconds=1)))
    await repositories.schedules.create(schedule("sch_paused", paused=True, next_run_time=START))
    await repositories.schedules.create(schedule("sch_old", next_run_time=now - minutes(45)))

    due = await repositories.schedules.find_due(now=now, limit=10)
    assert [(s.organization_id, s.id) for s in due] == [
        (ORG_A, "sch_old"),
        (ORG_B, "sch_b"),
        (ORG_A, "sch_late"),
        (ORG_A, "sch_edge"),
    ]
    assert [s.id for s in await repositories.schedules.find_due(now=now, limit=2)] == ["sch_old", "sch_b"]
    assert await repositories.schedules.find_due(now=START - minutes(1), limit=10) == []


async def test_advancing_moves_a_schedule_on_once_per_revision(repositories: Repositories) -> None:
    read = schedule("sch_1", revision=3)
    await repositories.schedules.create(read)
    later = START + minutes(60)
    assert await repositories.schedules.advance(read, next_run_time=later, last_run_id="run_1", last_run_time=START)
    advanced = replace(read, next_run_time=later, last_run_id="run_1", last_run_time=START, revision=4)
    assert await repositories.schedules.get(ORG_A, "sch_1") == advanced
    # The same reading again (a second dispatcher, or a retry) finds the revision moved on.
    assert not await repositories.schedules.advance(
        read, next_run_time=later + minutes(60), last_run_id="run_2", last_run_time=later
    )
    assert not await repositories.schedules.advance(
        replace(read, organization_id=ORG_B), next_run_time=later, last_run_id="run_3", last_run_time=START
    )
    # Skipping an occurrence keeps the last run.
    assert await repositories.schedules.advance(
        advanced, next_run_time=later + minutes(60), last_run_id="run_1", last_run_time=START
    )
    assert await repositories.schedules.get(ORG_A, "sch_1") == replace(
        advanced, next_run_time=later + minutes(60), revision=5
    )
    await repositories.schedules.delete(ORG_A, "sch_1")
    assert not await repositories.schedules.advance(
        replace(advanced, revision=5), next_run_time=later, last_run_id="run_4", last_run_time=later
    )


async def test_an_edit_and_a_dispatch_of_one_reading_never_both_win(repositories: Repositories) -> None:
    read = schedule("sch_1")
    await repositories.schedules.create(read)
    await repositories.schedules.update(replace(read, paused=True, revision=2))
    assert not await repositories.schedules.advance(
        read, next_run_time=START + minutes(60), last_run_id="run_1", last_run_time=START
    )
    assert await repositories.schedules.get(ORG_A, "sch_1") == replace(read, paused=True, revision=2)
    assert await repositories.schedules.find_due(now=START, limit=10) == []

    resumed = replace(read, revision=3)
    await repositories.schedules.update(resumed)
    assert await repositories.schedules.advance(
        resumed, next_run_time=START + minutes(60), last_run_id="run_1", last_run_time=START
    )
    with pytest.raises(Conflict):
        await repositories.schedules.update(replace(resumed, interval_minutes=15, revision=4))


async def test_two_concurrent_dispatchers_advance_a_schedule_once(
    two_handles: tuple[Repositories, Repositories],
) -> None:
    first, second = two_handles
    await first.schedules.create(schedule("sch_1"))
    (read_first,) = await first.schedules.find_due(now=START, limit=10)
    (read_second,) = await second.schedules.find_due(now=START, limit=10)
    advances = [
        handle.schedules.advance(read, next_run_time=START + minutes(60), last_run_id=f"run_{n}", last_run_time=START)
        for n, (handle, read) in enumerate(((first, read_first), (second, read_second)) * 3)
    ]
    results = await asyncio.gather(*advances)
    assert results.count(True) == 1
    stored = await second.schedules.get(ORG_A, "sch_1")
    assert stored is not None
    assert stored.revision == 2
    assert stored.last_run_id == f"run_{results.index(True)}"
    assert await first.schedules.find_due(now=START + minutes(59), limit=10) == []
