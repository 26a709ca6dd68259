"""Builders for the pricing service's stored records, and its repositories on a storage engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.money import Money
from services.pricing.domain.records import (
    DemandModelRecord,
    ExperimentRecord,
    ExperimentState,
    JobKind,
    Quote,
    Recommendation,
    RecommendationState,
    Run,
    RunMode,
    RunState,
    ScheduleRecord,
    StoredStrategy,
)
from services.pricing.repository import Repositories
from services.pricing.repository.mongo import open_mongo_repositories
from services.pricing.repository.sqlite import open_sqlite_repositories

ORG_A = "org_a"
ORG_B = "org_b"
# Millisecond times: what both engines keep.
START = datetime(2026, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)
STANDIN = "mongodb-standin"
# mongomock scans every document on each write (quadratic), so 10,000 rows would take minutes on the
# stand-in; it runs the same tests at this size. SQLite and a real MongoDB run the full 10,000.
STANDIN_BULK_ROWS = 500
SERVICE = "pricing"


def bulk_rows(engine_kind: str) -> int:
    return STANDIN_BULK_ROWS if engine_kind == STANDIN else 10_000


def eur(amount_minor: int) -> Money:
    return Money(amount_minor, "EUR")


def strategy(strategy_id: str, name: str = "", organization_id: str = ORG_A, **fields: Any) -> StoredStrategy:
    built = StoredStrategy(
        organization_id=organization_id,
        id=strategy_id,
        name=name or f"Strategy {strategy_id}",
        config={
            "rules": [{"kind": "undercut", "amount_minor": 50, "competitor_ids": ["cmp_1", "cmp_2"]}],
            "guardrails": {"min_margin": 0.15, "max_change": 0.2},
            "auto_apply": {"enabled": False},
        },
        revision=1,
        create_time=START,
        update_time=START,
    )
    return replace(built, **fields)


def run(run_id: str, organization_id: str = ORG_A, **fields: Any) -> Run:
    built = Run(
        organization_id=organization_id,
        id=run_id,
        kind=JobKind.REPRICE,
        scope={"all": True},
        mode=RunMode.SUGGEST,
        state=RunState.QUEUED,
        processed=0,
        total=0,
        recommended=0,
        auto_applied=0,
        error="",
        created_by="usr_1",
        creator_role=3,
        attempts=0,
        lease_owner="",
        lease_until=None,
        create_time=START,
        start_time=None,
        end_time=None,
    )
    return replace(built, **fields)


def recommendation(run_id: str, sku: str, organization_id: str = ORG_A, **fields: Any) -> Recommendation:
    built = Recommendation(
        organization_id=organization_id,
        id=f"rec_{run_id}_{sku}",
        run_id=run_id,
        sku=sku,
        current_price=eur(1999),
        recommended_price=eur(1899),
        strategy_id="str_1",
        state=RecommendationState.PENDING,
        conflict=False,
        model_reliable=True,
        decided_by="",
        decision_reason="",
        apply_error="",
        create_time=START,
        decide_time=None,
        explanation={"rule": "undercut", "steps": [{"name": "market", "price_minor": 1949}]},
    )
    return replace(built, **fields)


def demand_model(sku: str, organization_id: str = ORG_A, **fields: Any) -> DemandModelRecord:
    built = DemandModelRecord(
        organization_id=organization_id,
        sku=sku,
        category_id="cups",
        elasticity=-1.75,
        standard_error=0.21,
        ci_low=-2.16,
        ci_high=-1.34,
        source="sku",
        reliable=True,
        reason="",
        days=90,
        fit_time=START,
    )
    return replace(built, **fields)


def experiment(experiment_id: str, sku: str, organization_id: str = ORG_A, **fields: Any) -> ExperimentRecord:
    built = ExperimentRecord(
        organization_id=organization_id,
        id=experiment_id,
        sku=sku,
        state=ExperimentState.RUNNING,
        candidates=(eur(1799), eur(1899), eur(1999)),
        current_arm=0,
        sampler={"arms": [{"alpha": 1.0, "beta": 1.0}, {"alpha": 2.5, "beta": 1.0}, {"alpha": 1.0, "beta": 3.0}]},
        stop_probability=0.95,
        max_periods=28,
        periods=0,
        stop_reason="",
        winner_arm=-1,
        revision=1,
        create_time=START,
        last_period_time=None,
    )
    return replace(built, **fields)


def quote(sku: str, amount_minor: int, organization_id: str = ORG_A, explanation_id: str = "") -> Quote:
    return Quote(organization_id, sku, eur(amount_minor), explanation_id)


def schedule(schedule_id: str, organization_id: str = ORG_A, **fields: Any) -> ScheduleRecord:
    built = ScheduleRecord(
        organization_id=organization_id,
        id=schedule_id,
        scope={"skus": ["sku-1", "sku-2"]},
        mode=RunMode.SUGGEST,
        interval_minutes=60,
        start_time=START,
        paused=False,
        next_run_time=START,
        last_run_id="",
        last_run_time=None,
        created_by="usr_1",
        creator_role=3,
        revision=1,
        create_time=START,
        update_time=START,
    )
    return replace(built, **fields)


def minutes(count: float) -> timedelta:
    return timedelta(minutes=count)


async def open_repositories(engine: Any) -> Repositories:
    if engine.kind == "sqlite":
        return await open_sqlite_repositories(engine.sqlite_path(SERVICE))
    return await open_mongo_repositories(engine.mongo_database(SERVICE))


async def open_two_handles(engine: Any) -> tuple[Repositories, Repositories]:
    """Two repositories on the same storage, as two worker processes would hold them."""
    if engine.kind == "sqlite":
        path = engine.sqlite_path(SERVICE)
        return await open_sqlite_repositories(path), await open_sqlite_repositories(path)
    # The stand-in makes a new in-memory database on every call: both handles must share one.
    database = engine.mongo_database(SERVICE)
    return await open_mongo_repositories(database), await open_mongo_repositories(database)
