"""The pricing service's data in one SQLite file: strategies, assignments, runs, recommendations, demand
models, experiments, quotes and schedules.

Times are stored as fixed-width ISO text in UTC, truncated to milliseconds like MongoDB keeps them, so
both engines return the same values and text order is time order.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from runtime.errors import AlreadyExists, Conflict, NotFound
from runtime.money import Money
from runtime.storage.sqlite import SqliteDatabase
from services.pricing.domain.records import (
    Assignment,
    AssignmentLevel,
    DemandModelRecord,
    ExperimentRecord,
    ExperimentState,
    JobKind,
    JsonObject,
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

SCHEMA = """
CREATE TABLE IF NOT EXISTS strategies (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    revision INTEGER NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS strategies_by_name ON strategies (organization_id, name);

CREATE TABLE IF NOT EXISTS assignments (
    organization_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    target TEXT NOT NULL,
    strategy_id TEXT NOT NULL,
    PRIMARY KEY (organization_id, level, target)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS assignments_by_strategy ON assignments (organization_id, strategy_id);

CREATE TABLE IF NOT EXISTS runs (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    processed INTEGER NOT NULL,
    total INTEGER NOT NULL,
    recommended INTEGER NOT NULL,
    auto_applied INTEGER NOT NULL,
    error TEXT NOT NULL,
    created_by TEXT NOT NULL,
    creator_role INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    lease_owner TEXT NOT NULL,
    lease_until TEXT,
    create_time TEXT NOT NULL,
    start_time TEXT,
    end_time TEXT,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_newest ON runs (organization_id, create_time, id);
CREATE INDEX IF NOT EXISTS runs_queued ON runs (create_time) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS runs_leased ON runs (lease_until) WHERE state = 'running';

CREATE TABLE IF NOT EXISTS recommendations (
    organization_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    id TEXT NOT NULL,
    current_currency TEXT NOT NULL,
    current_minor INTEGER NOT NULL,
    recommended_currency TEXT NOT NULL,
    recommended_minor INTEGER NOT NULL,
    strategy_id TEXT NOT NULL,
    state TEXT NOT NULL,
    conflict INTEGER NOT NULL,
    model_reliable INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    decision_reason TEXT NOT NULL,
    apply_error TEXT NOT NULL,
    create_time TEXT NOT NULL,
    decide_time TEXT,
    explanation TEXT NOT NULL,
    PRIMARY KEY (organization_id, run_id, sku)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS recommendations_by_id ON recommendations (organization_id, id);
CREATE INDEX IF NOT EXISTS recommendations_by_state ON recommendations (organization_id, state, run_id, sku);
CREATE INDEX IF NOT EXISTS recommendations_by_sku ON recommendations (organization_id, sku, run_id);

CREATE TABLE IF NOT EXISTS demand_models (
    organization_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    category_id TEXT NOT NULL,
    elasticity REAL,
    standard_error REAL,
    ci_low REAL,
    ci_high REAL,
    source TEXT NOT NULL,
    reliable INTEGER NOT NULL,
    reason TEXT NOT NULL,
    days INTEGER NOT NULL,
    fit_time TEXT NOT NULL,
    PRIMARY KEY (organization_id, sku)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS experiments (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    sku TEXT NOT NULL,
    state TEXT NOT NULL,
    candidates TEXT NOT NULL,
    current_arm INTEGER NOT NULL,
    sampler TEXT NOT NULL,
    stop_probability REAL,
    max_periods INTEGER NOT NULL,
    periods INTEGER NOT NULL,
    stop_reason TEXT NOT NULL,
    winner_arm INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    create_time TEXT NOT NULL,
    last_period_time TEXT,
    last_step_time TEXT NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS experiments_running_sku ON experiments (organization_id, sku)
    WHERE state = 'running';
CREATE INDEX IF NOT EXISTS experiments_running ON experiments (last_step_time, organization_id, id)
    WHERE state = 'running';

CREATE TABLE IF NOT EXISTS quotes (
    organization_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    currency TEXT NOT NULL,
    price_minor INTEGER NOT NULL,
    explanation_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    PRIMARY KEY (organization_id, sku)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS quotes_by_sequence ON quotes (sequence);

CREATE TABLE IF NOT EXISTS schedules (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    mode TEXT NOT NULL,
    interval_minutes INTEGER NOT NULL,
    start_time TEXT NOT NULL,
    paused INTEGER NOT NULL,
    next_run_time TEXT NOT NULL,
    last_run_id TEXT NOT NULL,
    last_run_time TEXT,
    created_by TEXT NOT NULL,
    creator_role INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (next_run_time, organization_id, id) WHERE paused = 0
"""

# Constant column lists and placeholders only: no value is ever formatted into SQL.
_STRATEGY_COLUMNS = "organization_id, id, name, config, revision, create_time, update_time"
_SELECT_STRATEGY = f"SELECT {_STRATEGY_COLUMNS} FROM strategies"  # noqa: S608

_RUN_COLUMNS = (
    "organization_id, id, kind, scope, mode, state, processed, total, recommended, auto_applied, error, "
    "created_by, creator_role, attempts, lease_owner, lease_until, create_time, start_time, end_time"
)
_SELECT_RUN = f"SELECT {_RUN_COLUMNS} FROM runs"  # noqa: S608

_RECOMMENDATION_COLUMNS = (
    "organization_id, run_id, sku, id, current_currency, current_minor, recommended_currency, recommended_minor, "
    "strategy_id, state, conflict, model_reliable, decided_by, decision_reason, apply_error, create_time, "
    "decide_time, explanation"
)
_SELECT_RECOMMENDATION = f"SELECT {_RECOMMENDATION_COLUMNS} FROM recommendations"  # noqa: S608
# Without statistics (ANALYZE) SQLite prefers scanning the organisation's part of the primary key, already in
# (run_id, sku) order, over a better index: 100 ms instead of 7 for 1,000 ids among 300,000. The queries
# that need another index name it.
_BY_ID, _BY_STATE, _BY_SKU = (
    "INDEXED BY recommendations_by_id",
    "INDEXED BY recommendations_by_state",
    "INDEXED BY recommendations_by_sku",
)
# A repeat (same run and sku) replaces a still-pending recommendation but keeps its id and create_time.
_UPSERT_RECOMMENDATION = (
    f"INSERT INTO recommendations ({_RECOMMENDATION_COLUMNS}) VALUES ({', '.join('?' * 18)}) "  # noqa: S608
    "ON CONFLICT (organization_id, run_id, sku) DO UPDATE SET "
    "current_currency = excluded.current_currency, current_minor = excluded.current_minor, "
    "recommended_currency = excluded.recommended_currency, recommended_minor = excluded.recommended_minor, "
    "strategy_id = excluded.strategy_id, state = excluded.state, conflict = excluded.conflict, "
    "model_reliable = excluded.model_reliable, decided_by = excluded.decided_by, "
    "decision_reason = excluded.decision_reason, apply_error = excluded.apply_error, "
    "decide_time = excluded.decide_time, explanation = excluded.explanation "
    "WHERE recommendations.state = 'pending'"
)

_MODEL_COLUMNS = (
    "organization_id, sku, category_id, elasticity, standard_error, ci_low, ci_high, source, reliable, reason, "
    "days, fit_time"
)
_SELECT_MODEL = f"SELECT {_MODEL_COLUMNS} FROM demand_models"  # noqa: S608
_UPSERT_MODEL = (
    f"INSERT INTO demand_models ({_MODEL_COLUMNS}) VALUES ({', '.join('?' * 12)}) "  # noqa: S608
    "ON CONFLICT (organization_id, sku) DO UPDATE SET "
    "category_id = excluded.category_id, elasticity = excluded.elasticity, "
    "standard_error = excluded.standard_error, ci_low = excluded.ci_low, ci_high = excluded.ci_high, "
    "source = excluded.source, reliable = excluded.reliable, reason = excluded.reason, days = excluded.days, "
    "fit_time = excluded.fit_time"
)

_EXPERIMENT_COLUMNS = (
    "organization_id, id, sku, state, candidates, current_arm, sampler, stop_probability, max_periods, periods, "
    "stop_reason, winner_arm, revision, create_time, last_period_time, last_step_time"
)
_SELECT_EXPERIMENT = f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments"  # noqa: S608
_INSERT_EXPERIMENT = f"INSERT INTO experiments ({_EXPERIMENT_COLUMNS}) VALUES ({', '.join('?' * 16)})"  # noqa: S608
_UPDATE_EXPERIMENT = (
    "UPDATE experiments SET sku = ?, state = ?, candidates = ?, current_arm = ?, sampler = ?, "
    "stop_probability = ?, max_periods = ?, periods = ?, stop_reason = ?, winner_arm = ?, revision = ?, "
    "last_period_time = ?, last_step_time = ? WHERE organization_id = ? AND id = ? AND revision = ?"
)

_UPSERT_QUOTE = (
    "INSERT INTO quotes (organization_id, sku, currency, price_minor, explanation_id, sequence) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (organization_id, sku) DO UPDATE SET "
    "currency = excluded.currency, price_minor = excluded.price_minor, "
    "explanation_id = excluded.explanation_id, sequence = excluded.sequence"
)

_SCHEDULE_COLUMNS = (
    "organization_id, id, scope, mode, interval_minutes, start_time, paused, next_run_time, last_run_id, "
    "last_run_time, created_by, creator_role, revision, create_time, update_time"
)
_SELECT_SCHEDULE = f"SELECT {_SCHEDULE_COLUMNS} FROM schedules"  # noqa: S608
_INSERT_SCHEDULE = f"INSERT INTO schedules ({_SCHEDULE_COLUMNS}) VALUES ({', '.join('?' * 15)})"  # noqa: S608
_UPDATE_SCHEDULE = (
    "UPDATE schedules SET scope = ?, mode = ?, interval_minutes = ?, start_time = ?, paused = ?, "
    "next_run_time = ?, last_run_id = ?, last_run_time = ?, created_by = ?, creator_role = ?, revision = ?, "
    "update_time = ? WHERE organization_id = ? AND id = ? AND revision = ?"
)
# One statement is the compare-and-set: of the dispatchers that read one revision, one UPDATE matches.
_ADVANCE_SCHEDULE = (
    "UPDATE schedules SET next_run_time = ?, last_run_id = ?, last_run_time = ?, revision = revision + 1 "
    "WHERE organization_id = ? AND id = ? AND revision = ?"
)

_IN_JSON_LIST = "IN (SELECT value FROM json_each(?))"
_SELECT_QUOTES_BY_SKU = (
    "SELECT organization_id, sku, currency, price_minor, explanation_id FROM quotes "  # noqa: S608
    f"WHERE organization_id = ? AND sku {_IN_JSON_LIST}"
)

# One statement is the compare-and-set: whoever's UPDATE matches first holds the run.
_CLAIM_RUN = (
    "UPDATE runs SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?, "  # noqa: S608
    "start_time = COALESCE(start_time, ?) WHERE organization_id = ? AND id = ? "
    "AND (state = 'queued' OR (state = 'running' AND lease_until < ?)) "
    f"RETURNING {_RUN_COLUMNS}"
)
_DECIDE_RECOMMENDATIONS = (
    f"UPDATE recommendations {_BY_ID} SET state = ?, decided_by = ?, decision_reason = ?, apply_error = ?, "  # noqa: S608
    "decide_time = ? "
    f"WHERE organization_id = ? AND id {_IN_JSON_LIST} AND state {_IN_JSON_LIST} RETURNING id"
)
_RUNNING_SKUS = (
    "SELECT sku FROM experiments INDEXED BY experiments_running_sku "  # noqa: S608
    f"WHERE organization_id = ? AND state = 'running' AND sku {_IN_JSON_LIST}"
)


class SqliteStrategyRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def create(self, strategy: StoredStrategy) -> None:
        def run(connection: sqlite3.Connection) -> None:
            taken = connection.execute(
                "SELECT 1 FROM strategies WHERE organization_id = ? AND id = ?",
                (strategy.organization_id, strategy.id),
            ).fetchone()
            if taken is not None:
                raise AlreadyExists(f"strategy {strategy.id!r} already exists", field="id")
            try:
                connection.execute(
                    f"INSERT INTO strategies ({_STRATEGY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    _strategy_row(strategy),
                )
            except sqlite3.IntegrityError:
                raise _name_taken(strategy) from None

        await self._db.write(run)

    async def get(self, organization_id: str, strategy_id: str) -> StoredStrategy | None:
        def run(connection: sqlite3.Connection) -> StoredStrategy | None:
            row = connection.execute(
                f"{_SELECT_STRATEGY} WHERE organization_id = ? AND id = ?", (organization_id, strategy_id)
            ).fetchone()
            return None if row is None else _strategy(row)

        return await self._db.read(run)

    async def get_many(self, organization_id: str, strategy_ids: Collection[str]) -> dict[str, StoredStrategy]:
        if not strategy_ids:
            return {}
        wanted = json.dumps(list(strategy_ids))

        def run(connection: sqlite3.Connection) -> dict[str, StoredStrategy]:
            rows = connection.execute(
                f"{_SELECT_STRATEGY} WHERE organization_id = ? AND id {_IN_JSON_LIST}", (organization_id, wanted)
            )
            return {strategy.id: strategy for strategy in map(_strategy, rows)}

        return await self._db.read(run)

    async def find(self, organization_id: str, *, after_name: str, limit: int) -> list[StoredStrategy]:
        def run(connection: sqlite3.Connection) -> list[StoredStrategy]:
            rows = connection.execute(
                f"{_SELECT_STRATEGY} WHERE organization_id = ? AND name > ? ORDER BY name LIMIT ?",
                (organization_id, after_name, limit),
            )
            return [_strategy(row) for row in rows]

        return await self._db.read(run)

    async def update(self, strategy: StoredStrategy) -> None:
        def run(connection: sqlite3.Connection) -> None:
            try:
                cursor = connection.execute(
                    "UPDATE strategies SET name = ?, config = ?, revision = ?, update_time = ? "
                    "WHERE organization_id = ? AND id = ? AND revision = ?",
                    (
                        strategy.name,
                        _json_text(strategy.config),
                        strategy.revision,
                        _time_text(strategy.update_time),
                        strategy.organization_id,
                        strategy.id,
                        strategy.revision - 1,
                    ),
                )
            except sqlite3.IntegrityError:
                raise _name_taken(strategy) from None
            if cursor.rowcount == 0:
                exists = connection.execute(
                    "SELECT 1 FROM strategies WHERE organization_id = ? AND id = ?",
                    (strategy.organization_id, strategy.id),
                ).fetchone()
                if exists is None:
                    raise NotFound(f"strategy {strategy.id!r} does not exist", field="id")
                raise Conflict(f"strategy {strategy.id!r} was changed concurrently")

        await self._db.write(run)

    async def delete(self, organization_id: str, strategy_id: str) -> None:
        def run(connection: sqlite3.Connection) -> None:
            connection.execute(
                "DELETE FROM strategies WHERE organization_id = ? AND id = ?", (organization_id, strategy_id)
            )

        await self._db.write(run)


def _name_taken(strategy: StoredStrategy) -> AlreadyExists:
    return AlreadyExists(f"a strategy is already named {strategy.name!r}", field="name")


class SqliteAssignmentRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def put(self, assignment: Assignment) -> None:
        def run(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO assignments (organization_id, level, target, strategy_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (organization_id, level, target) DO UPDATE SET strategy_id = excluded.strategy_id",
                (assignment.organization_id, int(assignment.level), assignment.target, assignment.strategy_id),
            )

        await self._db.write(run)

    async def list_all(self, organization_id: str) -> list[Assignment]:
        def run(connection: sqlite3.Connection) -> list[Assignment]:
            rows = connection.execute(
                "SELECT organization_id, level, target, strategy_id FROM assignments WHERE organization_id = ? "
                "ORDER BY level, target",
                (organization_id,),
            )
            return [Assignment(row[0], AssignmentLevel(row[1]), row[2], row[3]) for row in rows]

        return await self._db.read(run)

    async def delete(self, organization_id: str, level: AssignmentLevel, target: str) -> bool:
        def run(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM assignments WHERE organization_id = ? AND level = ? AND target = ?",
                (organization_id, int(level), target),
            )
            return cursor.rowcount > 0

        return await self._db.write(run)

    async def uses_strategy(self, organization_id: str, strategy_id: str) -> bool:
        def run(connection: sqlite3.Connection) -> bool:
            row = connection.execute(
                "SELECT 1 FROM assignments WHERE organization_id = ? AND strategy_id = ? LIMIT 1",
                (organization_id, strategy_id),
            ).fetchone()
            return row is not None

        return await self._db.read(run)


class SqliteRunRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def create(self, run: Run) -> None:
        row = _run_row(run)

        def write(connection: sqlite3.Connection) -> None:
            try:
                connection.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 19)})", row)  # noqa: S608
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"run {run.id!r} already exists", field="id") from None

        await self._db.write(write)

    async def get(self, organization_id: str, run_id: str) -> Run | None:
        def read(connection: sqlite3.Connection) -> Run | None:
            row = connection.execute(
                f"{_SELECT_RUN} WHERE organization_id = ? AND id = ?", (organization_id, run_id)
            ).fetchone()
            return None if row is None else _run(row)

        return await self._db.read(read)

    async def find(self, organization_id: str, *, before: tuple[datetime, str] | None, limit: int) -> list[Run]:
        clauses, params = ["organization_id = ?"], [organization_id]
        if before is not None:
            clauses.append("(create_time, id) < (?, ?)")
            params.extend((_time_text(before[0]), before[1]))
        sql = f"{_SELECT_RUN} WHERE {' AND '.join(clauses)} ORDER BY create_time DESC, id DESC LIMIT ?"

        def read(connection: sqlite3.Connection) -> list[Run]:
            return [_run(row) for row in connection.execute(sql, (*params, limit))]

        return await self._db.read(read)

    async def claim(
        self, organization_id: str, run_id: str, *, owner: str, lease_until: datetime, now: datetime
    ) -> Run | None:
        now_text = _time_text(now)

        def write(connection: sqlite3.Connection) -> Run | None:
            rows = connection.execute(
                _CLAIM_RUN,
                (owner, _time_text(lease_until), now_text, organization_id, run_id, now_text),
            ).fetchall()
            return _run(rows[0]) if rows else None

        return await self._db.write(write)

    async def heartbeat(
        self, organization_id: str, run_id: str, *, owner: str, lease_until: datetime, progress: RunProgress
    ) -> bool:
        def write(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "UPDATE runs SET lease_until = ?, processed = ?, total = ?, recommended = ?, auto_applied = ? "
                "WHERE organization_id = ? AND id = ? AND state = 'running' AND lease_owner = ?",
                (_time_text(lease_until), *_progress_row(progress), organization_id, run_id, owner),
            )
            return cursor.rowcount == 1

        return await self._db.write(write)

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
        _require_finished(state)

        def write(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "UPDATE runs SET state = ?, error = ?, processed = ?, total = ?, recommended = ?, auto_applied = ?, "
                "end_time = ? WHERE organization_id = ? AND id = ? AND state = 'running' AND lease_owner = ?",
                (
                    state.value,
                    error,
                    *_progress_row(progress),
                    _time_text(end_time),
                    organization_id,
                    run_id,
                    owner,
                ),
            )
            return cursor.rowcount == 1

        return await self._db.write(write)

    async def find_unfinished(self, *, older_than: datetime, limit: int) -> list[Run]:
        cutoff = _time_text(older_than)

        def read(connection: sqlite3.Connection) -> list[Run]:
            rows = connection.execute(
                f"{_SELECT_RUN} WHERE (state = 'queued' AND create_time < ?) "
                "OR (state = 'running' AND lease_until < ?) ORDER BY create_time, id LIMIT ?",
                (cutoff, cutoff, limit),
            )
            return [_run(row) for row in rows]

        return await self._db.read(read)


def _require_finished(state: RunState) -> None:
    if not state.finished:
        raise ValueError(f"a run finishes as succeeded or failed, not {state.value}")


class SqliteRecommendationRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def put_many(self, recommendations: Sequence[Recommendation]) -> None:
        if not recommendations:
            return
        rows = [_recommendation_row(recommendation) for recommendation in recommendations]

        def write(connection: sqlite3.Connection) -> None:
            try:
                connection.executemany(_UPSERT_RECOMMENDATION, rows)
            except sqlite3.IntegrityError:
                raise AlreadyExists("a recommendation id is already used for another run or sku", field="id") from None

        await self._db.write(write)

    async def get_many(self, organization_id: str, ids: Collection[str]) -> dict[str, Recommendation]:
        if not ids:
            return {}
        wanted = json.dumps(list(ids))

        def read(connection: sqlite3.Connection) -> dict[str, Recommendation]:
            rows = connection.execute(
                f"{_SELECT_RECOMMENDATION} {_BY_ID} WHERE organization_id = ? AND id {_IN_JSON_LIST}",
                (organization_id, wanted),
            )
            return {recommendation.id: recommendation for recommendation in map(_recommendation, rows)}

        return await self._db.read(read)

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
        clauses, params = ["organization_id = ?"], [organization_id]
        if run_id is not None:
            clauses.append("run_id = ?")
            params.append(run_id)
        if state is not None:
            clauses.append("state = ?")
            params.append(state.value)
        if sku is not None:
            clauses.append("sku = ?")
            params.append(sku)
        if after is not None:
            clauses.append("(run_id, sku) > (?, ?)")
            params.extend(after)
        index = _BY_SKU if sku is not None else _BY_STATE if state is not None else ""
        sql = f"{_SELECT_RECOMMENDATION} {index} WHERE {' AND '.join(clauses)} ORDER BY run_id, sku LIMIT ?"

        def read(connection: sqlite3.Connection) -> list[Recommendation]:
            return [_recommendation(row) for row in connection.execute(sql, (*params, limit))]

        return await self._db.read(read)

    async def count(self, organization_id: str, run_id: str) -> int:
        def read(connection: sqlite3.Connection) -> int:
            row = connection.execute(
                "SELECT COUNT(*) FROM recommendations WHERE organization_id = ? AND run_id = ?",
                (organization_id, run_id),
            ).fetchone()
            return int(row[0])

        return await self._db.read(read)

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
        params = (
            to_state.value,
            decided_by,
            reason,
            apply_error,
            _time_text(time),
            organization_id,
            json.dumps(list(ids)),
            json.dumps([state.value for state in from_states]),
        )

        def write(connection: sqlite3.Connection) -> list[str]:
            rows = connection.execute(_DECIDE_RECOMMENDATIONS, params).fetchall()
            return sorted(row[0] for row in rows)

        return await self._db.write(write)


class SqliteDemandModelRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def put_many(self, models: Sequence[DemandModelRecord]) -> None:
        if not models:
            return
        rows = [_model_row(model) for model in models]

        def write(connection: sqlite3.Connection) -> None:
            connection.executemany(_UPSERT_MODEL, rows)

        await self._db.write(write)

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, DemandModelRecord]:
        if not skus:
            return {}
        wanted = json.dumps(list(skus))

        def read(connection: sqlite3.Connection) -> dict[str, DemandModelRecord]:
            rows = connection.execute(
                f"{_SELECT_MODEL} WHERE organization_id = ? AND sku {_IN_JSON_LIST}", (organization_id, wanted)
            )
            return {model.sku: model for model in map(_model, rows)}

        return await self._db.read(read)

    async def find(self, organization_id: str, *, after_sku: str, limit: int) -> list[DemandModelRecord]:
        def read(connection: sqlite3.Connection) -> list[DemandModelRecord]:
            rows = connection.execute(
                f"{_SELECT_MODEL} WHERE organization_id = ? AND sku > ? ORDER BY sku LIMIT ?",
                (organization_id, after_sku, limit),
            )
            return [_model(row) for row in rows]

        return await self._db.read(read)


class SqliteExperimentRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def create(self, experiment: ExperimentRecord) -> None:
        row = _experiment_row(experiment)

        def write(connection: sqlite3.Connection) -> None:
            taken = connection.execute(
                "SELECT 1 FROM experiments WHERE organization_id = ? AND id = ?",
                (experiment.organization_id, experiment.id),
            ).fetchone()
            if taken is not None:
                raise AlreadyExists(f"experiment {experiment.id!r} already exists", field="id")
            try:
                connection.execute(_INSERT_EXPERIMENT, row)
            except sqlite3.IntegrityError:
                raise _sku_busy(experiment) from None

        await self._db.write(write)

    async def get(self, organization_id: str, experiment_id: str) -> ExperimentRecord | None:
        def read(connection: sqlite3.Connection) -> ExperimentRecord | None:
            row = connection.execute(
                f"{_SELECT_EXPERIMENT} WHERE organization_id = ? AND id = ?", (organization_id, experiment_id)
            ).fetchone()
            return None if row is None else _experiment(row)

        return await self._db.read(read)

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[ExperimentRecord]:
        def read(connection: sqlite3.Connection) -> list[ExperimentRecord]:
            rows = connection.execute(
                f"{_SELECT_EXPERIMENT} WHERE organization_id = ? AND id > ? ORDER BY id LIMIT ?",
                (organization_id, after_id, limit),
            )
            return [_experiment(row) for row in rows]

        return await self._db.read(read)

    async def update(self, experiment: ExperimentRecord) -> None:
        row = _experiment_row(experiment)
        # The columns after organization_id, id and create_time, then the stored one's key and revision.
        params = (*row[2:13], *row[14:], experiment.organization_id, experiment.id, experiment.revision - 1)

        def write(connection: sqlite3.Connection) -> None:
            try:
                cursor = connection.execute(_UPDATE_EXPERIMENT, params)
            except sqlite3.IntegrityError:
                raise _sku_busy(experiment) from None
            if cursor.rowcount == 0:
                exists = connection.execute(
                    "SELECT 1 FROM experiments WHERE organization_id = ? AND id = ?",
                    (experiment.organization_id, experiment.id),
                ).fetchone()
                if exists is None:
                    raise NotFound(f"experiment {experiment.id!r} does not exist", field="id")
                raise Conflict(f"experiment {experiment.id!r} was changed concurrently")

        await self._db.write(write)

    async def find_running(self, *, limit: int) -> list[ExperimentRecord]:
        def read(connection: sqlite3.Connection) -> list[ExperimentRecord]:
            rows = connection.execute(
                f"{_SELECT_EXPERIMENT} WHERE state = 'running' ORDER BY last_step_time, organization_id, id LIMIT ?",
                (limit,),
            )
            return [_experiment(row) for row in rows]

        return await self._db.read(read)

    async def running_for_skus(self, organization_id: str, skus: Collection[str]) -> set[str]:
        if not skus:
            return set()
        wanted = json.dumps(list(skus))

        def read(connection: sqlite3.Connection) -> set[str]:
            rows = connection.execute(_RUNNING_SKUS, (organization_id, wanted))
            return {row[0] for row in rows}

        return await self._db.read(read)


def _sku_busy(experiment: ExperimentRecord) -> AlreadyExists:
    return AlreadyExists(f"sku {experiment.sku!r} already has a running experiment", field="sku")


class SqliteQuoteRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def put_many(self, quotes: Sequence[Quote]) -> None:
        if not quotes:
            return

        def write(connection: sqlite3.Connection) -> None:
            # Inside the write transaction no other writer can take the same numbers.
            last = connection.execute("SELECT COALESCE(MAX(sequence), 0) FROM quotes").fetchone()[0]
            connection.executemany(
                _UPSERT_QUOTE,
                (
                    (q.organization_id, q.sku, q.price.currency, q.price.amount_minor, q.explanation_id, last + n)
                    for n, q in enumerate(quotes, start=1)
                ),
            )

        await self._db.write(write)

    async def get_many(self, organization_id: str, skus: Collection[str]) -> dict[str, Quote]:
        if not skus:
            return {}
        wanted = json.dumps(list(skus))

        def read(connection: sqlite3.Connection) -> dict[str, Quote]:
            rows = connection.execute(_SELECT_QUOTES_BY_SKU, (organization_id, wanted))
            return {row[1]: Quote(row[0], row[1], Money(row[3], row[2]), row[4]) for row in rows}

        return await self._db.read(read)

    async def changes_since(self, sequence: int, *, limit: int) -> list[tuple[int, Quote]]:
        def read(connection: sqlite3.Connection) -> list[tuple[int, Quote]]:
            rows = connection.execute(
                "SELECT sequence, organization_id, sku, currency, price_minor, explanation_id FROM quotes "
                "WHERE sequence > ? ORDER BY sequence LIMIT ?",
                (sequence, limit),
            )
            return [(row[0], Quote(row[1], row[2], Money(row[4], row[3]), row[5])) for row in rows]

        return await self._db.read(read)


class SqliteScheduleRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def create(self, schedule: ScheduleRecord) -> None:
        row = _schedule_row(schedule)

        def write(connection: sqlite3.Connection) -> None:
            try:
                connection.execute(_INSERT_SCHEDULE, row)
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"schedule {schedule.id!r} already exists", field="id") from None

        await self._db.write(write)

    async def get(self, organization_id: str, schedule_id: str) -> ScheduleRecord | None:
        def read(connection: sqlite3.Connection) -> ScheduleRecord | None:
            row = connection.execute(
                f"{_SELECT_SCHEDULE} WHERE organization_id = ? AND id = ?", (organization_id, schedule_id)
            ).fetchone()
            return None if row is None else _schedule(row)

        return await self._db.read(read)

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[ScheduleRecord]:
        def read(connection: sqlite3.Connection) -> list[ScheduleRecord]:
            rows = connection.execute(
                f"{_SELECT_SCHEDULE} WHERE organization_id = ? AND id > ? ORDER BY id LIMIT ?",
                (organization_id, after_id, limit),
            )
            return [_schedule(row) for row in rows]

        return await self._db.read(read)

    async def update(self, schedule: ScheduleRecord) -> None:
        row = _schedule_row(schedule)
        # The columns after organization_id and id but create_time, then the stored one's key and revision.
        params = (*row[2:13], row[14], schedule.organization_id, schedule.id, schedule.revision - 1)

        def write(connection: sqlite3.Connection) -> None:
            if connection.execute(_UPDATE_SCHEDULE, params).rowcount == 0:
                exists = connection.execute(
                    "SELECT 1 FROM schedules WHERE organization_id = ? AND id = ?",
                    (schedule.organization_id, schedule.id),
                ).fetchone()
                if exists is None:
                    raise NotFound(f"schedule {schedule.id!r} does not exist", field="id")
                raise Conflict(f"schedule {schedule.id!r} was changed concurrently")

        await self._db.write(write)

    async def delete(self, organization_id: str, schedule_id: str) -> bool:
        def write(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM schedules WHERE organization_id = ? AND id = ?", (organization_id, schedule_id)
            )
            return cursor.rowcount > 0

        return await self._db.write(write)

    async def find_due(self, *, now: datetime, limit: int) -> list[ScheduleRecord]:
        def read(connection: sqlite3.Connection) -> list[ScheduleRecord]:
            rows = connection.execute(
                f"{_SELECT_SCHEDULE} INDEXED BY schedules_due WHERE paused = 0 AND next_run_time <= ? "
                "ORDER BY next_run_time, organization_id, id LIMIT ?",
                (_time_text(now), limit),
            )
            return [_schedule(row) for row in rows]

        return await self._db.read(read)

    async def advance(
        self, schedule: ScheduleRecord, *, next_run_time: datetime, last_run_id: str, last_run_time: datetime | None
    ) -> bool:
        params = (
            _time_text(next_run_time),
            last_run_id,
            _time_text_or_none(last_run_time),
            schedule.organization_id,
            schedule.id,
            schedule.revision,
        )

        def write(connection: sqlite3.Connection) -> bool:
            return connection.execute(_ADVANCE_SCHEDULE, params).rowcount == 1

        return await self._db.write(write)


async def open_sqlite_repositories(path: Path) -> Repositories:
    database = SqliteDatabase(path, SCHEMA)
    await database.open()
    return Repositories(
        strategies=SqliteStrategyRepository(database),
        assignments=SqliteAssignmentRepository(database),
        runs=SqliteRunRepository(database),
        recommendations=SqliteRecommendationRepository(database),
        models=SqliteDemandModelRepository(database),
        experiments=SqliteExperimentRepository(database),
        quotes=SqliteQuoteRepository(database),
        schedules=SqliteScheduleRepository(database),
        close=database.close,
    )


# --- rows -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _time_text(value: datetime) -> str:
    # Fixed width and UTC, so text order is time order; milliseconds, like MongoDB. Cached: every row
    # of a run carries the same times.
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _time_text_or_none(value: datetime | None) -> str | None:
    return None if value is None else _time_text(value)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _time_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _json_text(value: JsonObject) -> str:
    # orjson: several times faster than json.dumps per row of a large run. It writes NaN as null, which
    # is why traces and configurations never hold NaN (unknowns are null already).
    return orjson.dumps(dict(value)).decode()


def _real(value: float | None) -> float:
    # SQLite stores NaN as NULL; a fit that found no estimate keeps NaN.
    return math.nan if value is None else value


def _strategy_row(strategy: StoredStrategy) -> tuple[Any, ...]:
    return (
        strategy.organization_id,
        strategy.id,
        strategy.name,
        _json_text(strategy.config),
        strategy.revision,
        _time_text(strategy.create_time),
        _time_text(strategy.update_time),
    )


def _strategy(row: Sequence[Any]) -> StoredStrategy:
    return StoredStrategy(
        organization_id=row[0],
        id=row[1],
        name=row[2],
        config=json.loads(row[3]),
        revision=row[4],
        create_time=_time(row[5]),
        update_time=_time(row[6]),
    )


def _progress_row(progress: RunProgress) -> tuple[int, int, int, int]:
    return (progress.processed, progress.total, progress.recommended, progress.auto_applied)


def _run_row(run: Run) -> tuple[Any, ...]:
    return (
        run.organization_id,
        run.id,
        run.kind.value,
        _json_text(run.scope),
        run.mode.value,
        run.state.value,
        run.processed,
        run.total,
        run.recommended,
        run.auto_applied,
        run.error,
        run.created_by,
        run.creator_role,
        run.attempts,
        run.lease_owner,
        _time_text_or_none(run.lease_until),
        _time_text(run.create_time),
        _time_text_or_none(run.start_time),
        _time_text_or_none(run.end_time),
    )


def _run(row: Sequence[Any]) -> Run:
    return Run(
        organization_id=row[0],
        id=row[1],
        kind=JobKind(row[2]),
        scope=json.loads(row[3]),
        mode=RunMode(row[4]),
        state=RunState(row[5]),
        processed=row[6],
        total=row[7],
        recommended=row[8],
        auto_applied=row[9],
        error=row[10],
        created_by=row[11],
        creator_role=row[12],
        attempts=row[13],
        lease_owner=row[14],
        lease_until=_time_or_none(row[15]),
        create_time=_time(row[16]),
        start_time=_time_or_none(row[17]),
        end_time=_time_or_none(row[18]),
    )


def _recommendation_row(recommendation: Recommendation) -> tuple[Any, ...]:
    return (
        recommendation.organization_id,
        recommendation.run_id,
        recommendation.sku,
        recommendation.id,
        recommendation.current_price.currency,
        recommendation.current_price.amount_minor,
        recommendation.recommended_price.currency,
        recommendation.recommended_price.amount_minor,
        recommendation.strategy_id,
        recommendation.state.value,
        recommendation.conflict,
        recommendation.model_reliable,
        recommendation.decided_by,
        recommendation.decision_reason,
        recommendation.apply_error,
        _time_text(recommendation.create_time),
        _time_text_or_none(recommendation.decide_time),
        _json_text(recommendation.explanation),
    )


def _recommendation(row: Sequence[Any]) -> Recommendation:
    return Recommendation(
        organization_id=row[0],
        run_id=row[1],
        sku=row[2],
        id=row[3],
        current_price=Money(row[5], row[4]),
        recommended_price=Money(row[7], row[6]),
        strategy_id=row[8],
        state=RecommendationState(row[9]),
        conflict=bool(row[10]),
        model_reliable=bool(row[11]),
        decided_by=row[12],
        decision_reason=row[13],
        apply_error=row[14],
        create_time=_time(row[15]),
        decide_time=_time_or_none(row[16]),
        explanation=json.loads(row[17]),
    )


def _model_row(model: DemandModelRecord) -> tuple[Any, ...]:
    return (
        model.organization_id,
        model.sku,
        model.category_id,
        model.elasticity,
        model.standard_error,
        model.ci_low,
        model.ci_high,
        model.source,
        model.reliable,
        model.reason,
        model.days,
        _time_text(model.fit_time),
    )


def _model(row: Sequence[Any]) -> DemandModelRecord:
    return DemandModelRecord(
        organization_id=row[0],
        sku=row[1],
        category_id=row[2],
        elasticity=_real(row[3]),
        standard_error=_real(row[4]),
        ci_low=_real(row[5]),
        ci_high=_real(row[6]),
        source=row[7],
        reliable=bool(row[8]),
        reason=row[9],
        days=row[10],
        fit_time=_time(row[11]),
    )


def _experiment_row(experiment: ExperimentRecord) -> tuple[Any, ...]:
    last_step = experiment.last_period_time or experiment.create_time
    return (
        experiment.organization_id,
        experiment.id,
        experiment.sku,
        experiment.state.value,
        json.dumps([[money.amount_minor, money.currency] for money in experiment.candidates]),
        experiment.current_arm,
        _json_text(experiment.sampler),
        experiment.stop_probability,
        experiment.max_periods,
        experiment.periods,
        experiment.stop_reason,
        experiment.winner_arm,
        experiment.revision,
        _time_text(experiment.create_time),
        _time_text_or_none(experiment.last_period_time),
        # What find_running orders by: the experiment that moved longest ago comes first.
        _time_text(last_step),
    )


def _experiment(row: Sequence[Any]) -> ExperimentRecord:
    return ExperimentRecord(
        organization_id=row[0],
        id=row[1],
        sku=row[2],
        state=ExperimentState(row[3]),
        candidates=tuple(Money(minor, currency) for minor, currency in json.loads(row[4])),
        current_arm=row[5],
        sampler=json.loads(row[6]),
        stop_probability=_real(row[7]),
        max_periods=row[8],
        periods=row[9],
        stop_reason=row[10],
        winner_arm=row[11],
        revision=row[12],
        create_time=_time(row[13]),
        last_period_time=_time_or_none(row[14]),
    )


def _schedule_row(schedule: ScheduleRecord) -> tuple[Any, ...]:
    return (
        schedule.organization_id,
        schedule.id,
        _json_text(schedule.scope),
        schedule.mode.value,
        schedule.interval_minutes,
        _time_text(schedule.start_time),
        schedule.paused,
        _time_text(schedule.next_run_time),
        schedule.last_run_id,
        _time_text_or_none(schedule.last_run_time),
        schedule.created_by,
        schedule.creator_role,
        schedule.revision,
        _time_text(schedule.create_time),
        _time_text(schedule.update_time),
    )


def _schedule(row: Sequence[Any]) -> ScheduleRecord:
    return ScheduleRecord(
        organization_id=row[0],
        id=row[1],
        scope=json.loads(row[2]),
        mode=RunMode(row[3]),
        interval_minutes=row[4],
        start_time=_time(row[5]),
        paused=bool(row[6]),
        next_run_time=_time(row[7]),
        last_run_id=row[8],
        last_run_time=_time_or_none(row[9]),
        created_by=row[10],
        creator_role=row[11],
        revision=row[12],
        create_time=_time(row[13]),
        update_time=_time(row[14]),
    )
