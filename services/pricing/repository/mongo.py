"""The pricing service's data in MongoDB: collections strategies, assignments, runs, recommendations,
demand_models, experiments, quotes, counters and schedules.

Times are BSON dates (milliseconds, read back as aware UTC); JSON mappings are sub-documents.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from runtime.errors import AlreadyExists, Conflict, NotFound
from runtime.money import Money
from runtime.storage.mongo import Document, MongoDatabase
from runtime.storage.mongo import ensure_indexes as create_indexes
from services.pricing.domain.records import (
    Assignment,
    AssignmentLevel,
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
from services.pricing.repository import Repositories, RunProgress

INDEXES: dict[str, list[IndexModel]] = {
    "strategies": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="strategies_by_id"),
        IndexModel([("organization_id", ASCENDING), ("name", ASCENDING)], unique=True, name="strategies_by_name"),
    ],
    "assignments": [
        IndexModel(
            [("organization_id", ASCENDING), ("level", ASCENDING), ("target", ASCENDING)],
            unique=True,
            name="assignments_by_target",
        ),
        IndexModel([("organization_id", ASCENDING), ("strategy_id", ASCENDING)], name="assignments_by_strategy"),
    ],
    "runs": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="runs_by_id"),
        IndexModel(
            [("organization_id", ASCENDING), ("create_time", DESCENDING), ("id", DESCENDING)], name="runs_newest"
        ),
        # find_unfinished, across organisations.
        IndexModel([("state", ASCENDING), ("create_time", ASCENDING)], name="runs_by_state"),
        IndexModel([("state", ASCENDING), ("lease_until", ASCENDING)], name="runs_by_lease"),
    ],
    "recommendations": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="recommendations_by_id"),
        IndexModel(
            [("organization_id", ASCENDING), ("run_id", ASCENDING), ("sku", ASCENDING)],
            unique=True,
            name="recommendations_by_run",
        ),
        IndexModel(
            [("organization_id", ASCENDING), ("state", ASCENDING), ("run_id", ASCENDING), ("sku", ASCENDING)],
            name="recommendations_by_state",
        ),
        IndexModel(
            [("organization_id", ASCENDING), ("sku", ASCENDING), ("run_id", ASCENDING)],
            name="recommendations_by_sku",
        ),
    ],
    "demand_models": [
        IndexModel([("organization_id", ASCENDING), ("sku", ASCENDING)], unique=True, name="demand_models_by_sku"),
    ],
    "experiments": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="experiments_by_id"),
        IndexModel(
            [("state", ASCENDING), ("last_step_time", ASCENDING), ("organization_id", ASCENDING), ("id", ASCENDING)],
            name="experiments_by_state",
        ),
    ],
    "quotes": [
        IndexModel([("organization_id", ASCENDING), ("sku", ASCENDING)], unique=True, name="quotes_by_sku"),
        IndexModel([("sequence", ASCENDING)], unique=True, name="quotes_by_sequence"),
    ],
    "schedules": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="schedules_by_id"),
        # find_due, across organisations.
        IndexModel(
            [("paused", ASCENDING), ("next_run_time", ASCENDING), ("organization_id", ASCENDING), ("id", ASCENDING)],
            name="schedules_due",
        ),
    ],
}

_RUNNING = ExperimentState.RUNNING.value
_QUOTE_COUNTER = "quotes"
_NO_ID = {"_id": False}
DocumentCollection = AsyncCollection[Document]


async def ensure_indexes(database: MongoDatabase) -> None:
    """Create the unique and filter indexes the pricing service relies on; run at every start."""
    await create_indexes(database, INDEXES)
    # At most one running experiment per sku. Created on its own with create_index: mongomock's
    # create_indexes drops partialFilterExpression, which would make the index refuse every second
    # experiment of a sku on the stand-in.
    await database["experiments"].create_index(
        [("organization_id", ASCENDING), ("sku", ASCENDING)],
        unique=True,
        name="experiments_running_sku",
        partialFilterExpression={"state": _RUNNING},
    )


class MongoStrategyRepository:
    def __init__(self, strategies: DocumentCollection) -> None:
        self._strategies = strategies

    async def create(self, strategy: StoredStrategy) -> None:
        try:
            await self._strategies.insert_one(_strategy_document(strategy))
        except DuplicateKeyError:
            if await self._exists(strategy.organization_id, strategy.id):
                raise AlreadyExists(f"strategy {strategy.id!r} already exists", field="id") from None
            raise _name_taken(strategy) from None

    async def get(self, organization_id: str, strategy_id: str) -> StoredStrategy | None:
        document = await self._strategies.find_one({"organization_id": organization_id, "id": strategy_id}, _NO_ID)
        return None if document is None else _strategy(document)

    async def get_many(self, organization_id: str, strategy_ids: Collection[str]) -> dict[str, StoredStrategy]:
        if not strategy_ids:
            return {}
        cursor = self._strategies.find({"organization_id": organization_id, "id": {"$in": list(strategy_ids)}}, _NO_ID)
        return {strategy.id: strategy for strategy in map(_strategy, await cursor.to_list(None))}

    async def find(self, organization_id: str, *, after_name: str, limit: int) -> list[StoredStrategy]:
        cursor = (
            self._strategies.find({"organization_id": organization_id, "name": {"$gt": after_name}}, _NO_ID)
            .sort("name", ASCENDING)
            .limit(limit)
        )
        return [_strategy(document) for document in await cursor.to_list(None)]

    async def update(self, strategy: StoredStrategy) -> None:
        stored = {"organization_id": strategy.organization_id, "id": strategy.id, "revision": strategy.revision - 1}
        changes = {
            "name": strategy.name,
            "config": dict(strategy.config),
            "revision": strategy.revision,
            "update_time": strategy.update_time,
        }
        try:
            result = await self._strategies.update_one(stored, {"$set": changes})
        except DuplicateKeyError:
            raise _name_taken(strategy) from None
        if result.matched_count == 0:
            if not await self._exists(strategy.organization_id, strategy.id):
                raise NotFound(f"strategy {strategy.id!r} does not exist", field="id")
            raise Conflict(f"strategy {strategy.id!r} was changed concurrently")

    async def delete(self, organization_id: str, strategy_id: str) -> None:
        await self._strategies.delete_one({"organization_id": organization_id, "id": strategy_id})

    async def _exists(self, organization_id: str, strategy_id: str) -> bool:
        found = await self._strategies.find_one({"organization_id": organization_id, "id": strategy_id}, {"_id": True})
        return found is not None


def _name_taken(strategy: StoredStrategy) -> AlreadyExists:
    return AlreadyExists(f"a strategy is already named {strategy.name!r}", field="name")


class MongoAssignmentRepository:
    def __init__(self, assignments: DocumentCollection) -> None:
        self._assignments = assignments

    async def put(self, assignment: Assignment) -> None:
        await self._assignments.update_one(
            {
                "organization_id": assignment.organization_id,
                "level": int(assignment.level),
                "target": assignment.target,
            },
            {"$set": {"strategy_id": assignment.strategy_id}},
            upsert=True,
        )

    async def list_all(self, organization_id: str) -> list[Assignment]:
        cursor = self._assignments.find({"organization_id": organization_id}, _NO_ID).sort(
            [("level", ASCENDING), ("target", ASCENDING)]
        )
        return [
            Assignment(d["organization_id"], AssignmentLevel(d["level"]), d["target"], d["strategy_id"])
            for d in await cursor.to_list(None)
        ]

    async def delete(self, organization_id: str, level: AssignmentLevel, target: str) -> bool:
        result = await self._assignments.delete_one(
            {"organization_id": organization_id, "level": int(level), "target": target}
        )
        return result.deleted_count > 0

    async def uses_strategy(self, organization_id: str, strategy_id: str) -> bool:
        found = await self._assignments.find_one(
            {"organization_id": organization_id, "strategy_id": strategy_id}, {"_id": True}
        )
        return found is not None


class MongoRunRepository:
    def __init__(self, runs: DocumentCollection) -> None:
        self._runs = runs

    async def create(self, run: Run) -> None:
        try:
            await self._runs.insert_one(_run_document(run))
        except DuplicateKeyError:
            raise AlreadyExists(f"run {run.id!r} already exists", field="id") from None

    async def get(self, organization_id: str, run_id: str) -> Run | None:
        document = await self._runs.find_one({"organization_id": organization_id, "id": run_id}, _NO_ID)
        return None if document is None else _run(document)

    async def find(self, organization_id: str, *, before: tuple[datetime, str] | None, limit: int) -> list[Run]:
        selector: Document = {"organization_id": organization_id}
        if before is not None:
            time, run_id = before
            selector["$or"] = [{"create_time": {"$lt": time}}, {"create_time": time, "id": {"$lt": run_id}}]
        cursor = self._runs.find(selector, _NO_ID).sort([("create_time", DESCENDING), ("id", DESCENDING)]).limit(limit)
        return [_run(document) for document in await cursor.to_list(None)]

    async def claim(
        self, organization_id: str, run_id: str, *, owner: str, lease_until: datetime, now: datetime
    ) -> Run | None:
        # The condition is in the filter, so the server applies it and the change as one step.
        claimable = {
            "organization_id": organization_id,
            "id": run_id,
            "$or": [
                {"state": RunState.QUEUED.value},
                {"state": RunState.RUNNING.value, "lease_until": {"$lt": now}},
            ],
        }
        taken = {
            "state": RunState.RUNNING.value,
            "attempts": {"$add": ["$attempts", 1]},
            # $literal: in a pipeline, a string starting with "$" would be read as a field path.
            "lease_owner": {"$literal": owner},
            "lease_until": lease_until,
            "start_time": {"$ifNull": ["$start_time", now]},
        }
        # No projection: mongomock re-reads the updated document by its _id, and without one by the filter.
        document = await self._runs.find_one_and_update(
            claimable, [{"$set": taken}], return_document=ReturnDocument.AFTER
        )
        return None if document is None else _run(document)

    async def heartbeat(
        self, organization_id: str, run_id: str, *, owner: str, lease_until: datetime, progress: RunProgress
    ) -> bool:
        result = await self._runs.update_one(
            _held(organization_id, run_id, owner),
            {"$set": {"lease_until": lease_until, **_progress_fields(progress)}},
        )
        return result.matched_count == 1

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
        if not state.finished:
            raise ValueError(f"a run finishes as succeeded or failed, not {state.value}")
        result = await self._runs.update_one(
            _held(organization_id, run_id, owner),
            {"$set": {"state": state.value, "error": error, "end_time": end_time, **_progress_fields(progress)}},
        )
        return result.matched_count == 1

    async def find_unfinished(self, *, older_than: datetime, limit: int) -> list[Run]:
        selector = {
            "$or": [
                {"state": RunState.QUEUED.value, "create_time": {"$lt": older_than}},
                {"state": RunState.RUNNING.value, "lease_until": {"$lt": older_than}},
            ]
        }
        cursor = self._runs.find(selector, _NO_ID).sort([("create_time", ASCENDING), ("id", ASCENDING)]).limit(limit)
        return [_run(document) for document in await cursor.to_list(None)]


def _held(organization_id: str, run_id: str, owner: str) -> Document:
    return {"organization_id": organization_id, "id": run_id, "state": RunState.RUNNING.value, "lease_owner": owner}


def _progress_fields(progress: RunProgress) -> Document:
    return {
        "processed": progress.processed,
        "total": progress.total,
        "recommended": progress.recommended,
        "auto_applied": progress.auto_applied,
    }


class MongoRecommendationRepository:
    def __init__(self, recommendations: DocumentCollection) -> None:
        self._recommendations = recommendations

    async def put_many(self, recommendations: Sequence[Recommendation]) -> None:
        if not recommendations:
            return
        operations = []
        for recommendation in recommendations:
            document = _recommendation_document(recommendation)
            key = {
                "organization_id": recommendation.organization_id,
                "run_id": recommendation.run_id,
                "sku": recommendation.sku,
            }
            # Insert when new; otherwise replace only a pending one, keeping its id and create_time.
            operations.append(UpdateOne(key, {"$setOnInsert": document}, upsert=True))
            replaced = {name: value for name, value in document.items() if name not in _KEPT_ON_REPEAT}
            operations.append(UpdateOne({**key, "state": RecommendationState.PENDING.value}, {"$set": replaced}))
        try:
            await self._recommendations.bulk_write(operations, ordered=True)
        except DuplicateKeyError:
            raise _id_reused() from None
        except BulkWriteError as error:
            codes = {write_error.get("code") for write_error in error.details.get("writeErrors", [])}
            if codes == {_DUPLICATE_KEY}:
                raise _id_reused() from None
            raise

    async def get_many(self, organization_id: str, ids: Collection[str]) -> dict[str, Recommendation]:
        if not ids:
            return {}
        cursor = self._recommendations.find({"organization_id": organization_id, "id": {"$in": list(ids)}}, _NO_ID)
        return {r.id: r for r in map(_recommendation, await cursor.to_list(None))}

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
        selector: Document = {"organization_id": organization_id}
        if run_id is not None:
            selector["run_id"] = run_id
        if state is not None:
            selector["state"] = state.value
        if sku is not None:
            selector["sku"] = sku
        if after is not None:
            after_run, after_sku = after
            selector["$or"] = [{"run_id": {"$gt": after_run}}, {"run_id": after_run, "sku": {"$gt": after_sku}}]
        cursor = (
            self._recommendations.find(selector, _NO_ID).sort([("run_id", ASCENDING), ("sku", ASCENDING)]).limit(limit)
        )
        return [_recommendation(document) for document in await cursor.to_list(None)]

    async def count(self, organization_id: str, run_id: str) -> int:
        return await self._recommendations.count_documents({"organization_id": organization_id, "run_id": run_id})

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
        if not ids or not from_states:
            return []
        wanted = list(ids)
        # Without multi-document transactions, the ids this call moved are told apart by a mark only it
        # writes; a later decision on the same recommendation replaces the mark.
        mark = uuid.uuid4().hex
        await self._recommendations.update_many(
            {
                "organization_id": organization_id,
                "id": {"$in": wanted},
                "state": {"$in": [state.value for state in from_states]},
            },
            {
                "$set": {
                    "state": to_state.value,
                    "decided_by": decided_by,
                    "decision_reason": reason,
                    "apply_error": apply_error,
                    "decide_time": time,
                    "decision_mark": mark,
                }
            },
        )
        cursor = self._recommendations.find(
            {"organization_id": organization_id, "id": {"$in": wanted}, "decision_mark": mark}, {"id": True}
        )
        return sorted(document["id"] for document in await cursor.to_list(None))


_KEPT_ON_REPEAT = frozenset({"organization_id", "run_id", "sku", "id", "create_time"})
_DUPLICATE_KEY = 11000


def _id_reused() -> AlreadyExists:
    return AlreadyExists("a recommendation id is already used for another run or sku", field="id")


class MongoDemandModelRepository:
    def __init__(self, models: DocumentCollection) -> None:
        self._models = models

    async def put_many(self, models: Sequence[DemandModelRecord]) -> None:
        if not models:
            return
        operations = [
            ReplaceOne({"organization_id": m.organization_id, "sku": m.sku}, _model_document(m), upsert=True)
            for m in models
        ]
        await self._models.bulk_write(operations, ordered=True)

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, DemandModelRecord]:
        if not skus:
            return {}
        cursor = self._models.find({"organization_id": organization_id, "sku": {"$in": list(skus)}}, _NO_ID)
        return {model.sku: model for model in map(_model, await cursor.to_list(None))}

    async def find(self, organization_id: str, *, after_sku: str, limit: int) -> list[DemandModelRecord]:
        cursor = (
            self._models.find({"organization_id": organization_id, "sku": {"$gt": after_sku}}, _NO_ID)
            .sort("sku", ASCENDING)
            .limit(limit)
        )
        return [_model(document) for document in await cursor.to_list(None)]


class MongoExperimentRepository:
    def __init__(self, experiments: DocumentCollection) -> None:
        self._experiments = experiments

    async def create(self, experiment: ExperimentRecord) -> None:
        try:
            await self._experiments.insert_one(_experiment_document(experiment))
        except DuplicateKeyError:
            if await self._exists(experiment.organization_id, experiment.id):
                raise AlreadyExists(f"experiment {experiment.id!r} already exists", field="id") from None
            raise _sku_busy(experiment) from None

    async def get(self, organization_id: str, experiment_id: str) -> ExperimentRecord | None:
        document = await self._experiments.find_one({"organization_id": organization_id, "id": experiment_id}, _NO_ID)
        return None if document is None else _experiment(document)

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[ExperimentRecord]:
        cursor = (
            self._experiments.find({"organization_id": organization_id, "id": {"$gt": after_id}}, _NO_ID)
            .sort("id", ASCENDING)
            .limit(limit)
        )
        return [_experiment(document) for document in await cursor.to_list(None)]

    async def update(self, experiment: ExperimentRecord) -> None:
        stored = {
            "organization_id": experiment.organization_id,
            "id": experiment.id,
            "revision": experiment.revision - 1,
        }
        document = _experiment_document(experiment)
        changes = {name: value for name, value in document.items() if name not in _EXPERIMENT_KEY}
        try:
            result = await self._experiments.update_one(stored, {"$set": changes})
        except DuplicateKeyError:
            raise _sku_busy(experiment) from None
        if result.matched_count == 0:
            if not await self._exists(experiment.organization_id, experiment.id):
                raise NotFound(f"experiment {experiment.id!r} does not exist", field="id")
            raise Conflict(f"experiment {experiment.id!r} was changed concurrently")

    async def find_running(self, *, limit: int) -> list[ExperimentRecord]:
        cursor = (
            self._experiments.find({"state": _RUNNING}, _NO_ID)
            .sort([("last_step_time", ASCENDING), ("organization_id", ASCENDING), ("id", ASCENDING)])
            .limit(limit)
        )
        return [_experiment(document) for document in await cursor.to_list(None)]

    async def running_for_skus(self, organization_id: str, skus: Collection[str]) -> set[str]:
        if not skus:
            return set()
        cursor = self._experiments.find(
            {"organization_id": organization_id, "state": _RUNNING, "sku": {"$in": list(skus)}}, {"sku": True}
        )
        return {document["sku"] for document in await cursor.to_list(None)}

    async def _exists(self, organization_id: str, experiment_id: str) -> bool:
        found = await self._experiments.find_one(
            {"organization_id": organization_id, "id": experiment_id}, {"_id": True}
        )
        return found is not None


_EXPERIMENT_KEY = frozenset({"organization_id", "id", "create_time"})


def _sku_busy(experiment: ExperimentRecord) -> AlreadyExists:
    return AlreadyExists(f"sku {experiment.sku!r} already has a running experiment", field="sku")


class MongoQuoteRepository:
    def __init__(self, quotes: DocumentCollection, counters: DocumentCollection) -> None:
        self._quotes = quotes
        self._counters = counters

    async def put_many(self, quotes: Sequence[Quote]) -> None:
        if not quotes:
            return
        counter = await self._counters.find_one_and_update(
            {"_id": _QUOTE_COUNTER},
            {"$inc": {"value": len(quotes)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # upsert with ReturnDocument.AFTER always returns one
        first = counter["value"] - len(quotes) + 1
        operations = []
        for sequence, quote in enumerate(quotes, start=first):
            key = {"organization_id": quote.organization_id, "sku": quote.sku}
            fields = {
                "currency": quote.price.currency,
                "price_minor": quote.price.amount_minor,
                "explanation_id": quote.explanation_id,
                "sequence": sequence,
            }
            operations.append(UpdateOne(key, {"$setOnInsert": {**key, **fields}}, upsert=True))
            # A concurrent call may have taken higher numbers and written first: its write stands.
            operations.append(UpdateOne({**key, "sequence": {"$lt": sequence}}, {"$set": fields}))
        await self._quotes.bulk_write(operations, ordered=True)

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, Quote]:
        if not skus:
            return {}
        cursor = self._quotes.find({"organization_id": organization_id, "sku": {"$in": list(skus)}}, _NO_ID)
        return {
            d["sku"]: Quote(d["organization_id"], d["sku"], Money(d["price_minor"], d["currency"]), d["explanation_id"])
            for d in await cursor.to_list(None)
        }

    async def changes_since(self, sequence: int, *, limit: int) -> list[tuple[int, Quote]]:
        cursor = self._quotes.find({"sequence": {"$gt": sequence}}, _NO_ID).sort("sequence", ASCENDING).limit(limit)
        return [
            (
                d["sequence"],
                Quote(d["organization_id"], d["sku"], Money(d["price_minor"], d["currency"]), d["explanation_id"]),
            )
            for d in await cursor.to_list(None)
        ]


class MongoScheduleRepository:
    def __init__(self, schedules: DocumentCollection) -> None:
        self._schedules = schedules

    async def create(self, schedule: ScheduleRecord) -> None:
        try:
            await self._schedules.insert_one(_schedule_document(schedule))
        except DuplicateKeyError:
            raise AlreadyExists(f"schedule {schedule.id!r} already exists", field="id") from None

    async def get(self, organization_id: str, schedule_id: str) -> ScheduleRecord | None:
        document = await self._schedules.find_one({"organization_id": organization_id, "id": schedule_id}, _NO_ID)
        return None if document is None else _schedule(document)

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[ScheduleRecord]:
        cursor = (
            self._schedules.find({"organization_id": organization_id, "id": {"$gt": after_id}}, _NO_ID)
            .sort("id", ASCENDING)
            .limit(limit)
        )
        return [_schedule(document) for document in await cursor.to_list(None)]

    async def update(self, schedule: ScheduleRecord) -> None:
        stored = {"organization_id": schedule.organization_id, "id": schedule.id, "revision": schedule.revision - 1}
        document = _schedule_document(schedule)
        changes = {name: value for name, value in document.items() if name not in _SCHEDULE_KEY}
        result = await self._schedules.update_one(stored, {"$set": changes})
        if result.matched_count == 0:
            found = await self._schedules.find_one(
                {"organization_id": schedule.organization_id, "id": schedule.id}, {"_id": True}
            )
            if found is None:
                raise NotFound(f"schedule {schedule.id!r} does not exist", field="id")
            raise Conflict(f"schedule {schedule.id!r} was changed concurrently")

    async def delete(self, organization_id: str, schedule_id: str) -> bool:
        result = await self._schedules.delete_one({"organization_id": organization_id, "id": schedule_id})
        return result.deleted_count > 0

    async def find_due(self, *, now: datetime, limit: int) -> list[ScheduleRecord]:
        cursor = (
            self._schedules.find({"paused": False, "next_run_time": {"$lte": now}}, _NO_ID)
            .sort([("next_run_time", ASCENDING), ("organization_id", ASCENDING), ("id", ASCENDING)])
            .limit(limit)
        )
        return [_schedule(document) for document in await cursor.to_list(None)]

    async def advance(
        self, schedule: ScheduleRecord, *, next_run_time: datetime, last_run_id: str, last_run_time: datetime | None
    ) -> bool:
        # The revision read is in the filter, so the server checks it and writes as one step.
        result = await self._schedules.update_one(
            {"organization_id": schedule.organization_id, "id": schedule.id, "revision": schedule.revision},
            {
                "$set": {"next_run_time": next_run_time, "last_run_id": last_run_id, "last_run_time": last_run_time},
                "$inc": {"revision": 1},
            },
        )
        return result.matched_count == 1


_SCHEDULE_KEY = frozenset({"organization_id", "id", "create_time"})


async def open_mongo_repositories(
    database: MongoDatabase, *, close: Callable[[], Awaitable[None]] | None = None
) -> Repositories:
    """Repositories over `database`, with its indexes ensured; `close` releases the client, if owned."""
    await ensure_indexes(database)

    async def nothing_to_close() -> None:
        return None

    return Repositories(
        strategies=MongoStrategyRepository(database["strategies"]),
        assignments=MongoAssignmentRepository(database["assignments"]),
        runs=MongoRunRepository(database["runs"]),
        recommendations=MongoRecommendationRepository(database["recommendations"]),
        models=MongoDemandModelRepository(database["demand_models"]),
        experiments=MongoExperimentRepository(database["experiments"]),
        quotes=MongoQuoteRepository(database["quotes"], database["counters"]),
        schedules=MongoScheduleRepository(database["schedules"]),
        close=close or nothing_to_close,
    )


# --- documents ------------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    # The client is tz_aware; this only swaps bson's UTC zone object for the one the domain uses.
    return value.astimezone(UTC)


def _aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _money_document(money: Money) -> Document:
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _money(document: Document) -> Money:
    return Money(document["amount_minor"], document["currency"])


def _strategy_document(strategy: StoredStrategy) -> Document:
    return {
        "organization_id": strategy.organization_id,
        "id": strategy.id,
        "name": strategy.name,
        "config": dict(strategy.config),
        "revision": strategy.revision,
        "create_time": strategy.create_time,
        "update_time": strategy.update_time,
    }


def _strategy(document: Document) -> StoredStrategy:
    return StoredStrategy(
        organization_id=document["organization_id"],
        id=document["id"],
        name=document["name"],
        config=document["config"],
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        update_time=_aware(document["update_time"]),
    )


def _run_document(run: Run) -> Document:
    return {
        "organization_id": run.organization_id,
        "id": run.id,
        "kind": run.kind.value,
        "scope": dict(run.scope),
        "mode": run.mode.value,
        "state": run.state.value,
        "processed": run.processed,
        "total": run.total,
        "recommended": run.recommended,
        "auto_applied": run.auto_applied,
        "error": run.error,
        "created_by": run.created_by,
        "creator_role": run.creator_role,
        "attempts": run.attempts,
        "lease_owner": run.lease_owner,
        "lease_until": run.lease_until,
        "create_time": run.create_time,
        "start_time": run.start_time,
        "end_time": run.end_time,
    }


def _run(document: Document) -> Run:
    return Run(
        organization_id=document["organization_id"],
        id=document["id"],
        kind=JobKind(document["kind"]),
        scope=document["scope"],
        mode=RunMode(document["mode"]),
        state=RunState(document["state"]),
        processed=document["processed"],
        total=document["total"],
        recommended=document["recommended"],
        auto_applied=document["auto_applied"],
        error=document["error"],
        created_by=document["created_by"],
        creator_role=document["creator_role"],
        attempts=document["attempts"],
        lease_owner=document["lease_owner"],
        lease_until=_aware_or_none(document["lease_until"]),
        create_time=_aware(document["create_time"]),
        start_time=_aware_or_none(document["start_time"]),
        end_time=_aware_or_none(document["end_time"]),
    )


def _recommendation_document(recommendation: Recommendation) -> Document:
    return {
        "organization_id": recommendation.organization_id,
        "id": recommendation.id,
        "run_id": recommendation.run_id,
        "sku": recommendation.sku,
        "current_price": _money_document(recommendation.current_price),
        "recommended_price": _money_document(recommendation.recommended_price),
        "strategy_id": recommendation.strategy_id,
        "state": recommendation.state.value,
        "conflict": recommendation.conflict,
        "model_reliable": recommendation.model_reliable,
        "decided_by": recommendation.decided_by,
        "decision_reason": recommendation.decision_reason,
        "apply_error": recommendation.apply_error,
        "create_time": recommendation.create_time,
        "decide_time": recommendation.decide_time,
        "explanation": dict(recommendation.explanation),
    }


def _recommendation(document: Document) -> Recommendation:
    return Recommendation(
        organization_id=document["organization_id"],
        id=document["id"],
        run_id=document["run_id"],
        sku=document["sku"],
        current_price=_money(document["current_price"]),
        recommended_price=_money(document["recommended_price"]),
        strategy_id=document["strategy_id"],
        state=RecommendationState(document["state"]),
        conflict=document["conflict"],
        model_reliable=document["model_reliable"],
        decided_by=document["decided_by"],
        decision_reason=document["decision_reason"],
        apply_error=document["apply_error"],
        create_time=_aware(document["create_time"]),
        decide_time=_aware_or_none(document["decide_time"]),
        explanation=document["explanation"],
    )


def _model_document(model: DemandModelRecord) -> Document:
    return {
        "organization_id": model.organization_id,
        "sku": model.sku,
        "category_id": model.category_id,
        "elasticity": model.elasticity,
        "standard_error": model.standard_error,
        "ci_low": model.ci_low,
        "ci_high": model.ci_high,
        "source": model.source,
        "reliable": model.reliable,
        "reason": model.reason,
        "days": model.days,
        "fit_time": model.fit_time,
    }


def _model(document: Document) -> DemandModelRecord:
    return DemandModelRecord(
        organization_id=document["organization_id"],
        sku=document["sku"],
        category_id=document["category_id"],
        elasticity=document["elasticity"],
        standard_error=document["standard_error"],
        ci_low=document["ci_low"],
        ci_high=document["ci_high"],
        source=document["source"],
        reliable=document["reliable"],
        reason=document["reason"],
        days=document["days"],
        fit_time=_aware(document["fit_time"]),
    )


def _experiment_document(experiment: ExperimentRecord) -> Document:
    return {
        "organization_id": experiment.organization_id,
        "id": experiment.id,
        "sku": experiment.sku,
        "state": experiment.state.value,
        "candidates": [_money_document(money) for money in experiment.candidates],
        "current_arm": experiment.current_arm,
        "sampler": dict(experiment.sampler),
        "stop_probability": experiment.stop_probability,
        "max_periods": experiment.max_periods,
        "periods": experiment.periods,
        "stop_reason": experiment.stop_reason,
        "winner_arm": experiment.winner_arm,
        "revision": experiment.revision,
        "create_time": experiment.create_time,
        "last_period_time": experiment.last_period_time,
        # What find_running orders by: the experiment that moved longest ago comes first.
        "last_step_time": experiment.last_period_time or experiment.create_time,
    }


def _experiment(document: Document) -> ExperimentRecord:
    return ExperimentRecord(
        organization_id=document["organization_id"],
        id=document["id"],
        sku=document["sku"],
        state=ExperimentState(document["state"]),
        candidates=tuple(_money(money) for money in document["candidates"]),
        current_arm=document["current_arm"],
        sampler=document["sampler"],
        stop_probability=document["stop_probability"],
        max_periods=document["max_periods"],
        periods=document["periods"],
        stop_reason=document["stop_reason"],
        winner_arm=document["winner_arm"],
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        last_period_time=_aware_or_none(document["last_period_time"]),
    )


def _schedule_document(schedule: ScheduleRecord) -> Document:
    return {
        "organization_id": schedule.organization_id,
        "id": schedule.id,
        "scope": dict(schedule.scope),
        "mode": schedule.mode.value,
        "interval_minutes": schedule.interval_minutes,
        "start_time": schedule.start_time,
        "paused": schedule.paused,
        "next_run_time": schedule.next_run_time,
        "last_run_id": schedule.last_run_id,
        "last_run_time": schedule.last_run_time,
        "created_by": schedule.created_by,
        "creator_role": schedule.creator_role,
        "revision": schedule.revision,
        "create_time": schedule.create_time,
        "update_time": schedule.update_time,
    }


def _schedule(document: Document) -> ScheduleRecord:
    return ScheduleRecord(
        organization_id=document["organization_id"],
        id=document["id"],
        scope=document["scope"],
        mode=RunMode(document["mode"]),
        interval_minutes=document["interval_minutes"],
        start_time=_aware(document["start_time"]),
        paused=document["paused"],
        next_run_time=_aware(document["next_run_time"]),
        last_run_id=document["last_run_id"],
        last_run_time=_aware_or_none(document["last_run_time"]),
        created_by=document["created_by"],
        creator_role=document["creator_role"],
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        update_time=_aware(document["update_time"]),
    )
