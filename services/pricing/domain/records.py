"""What the pricing service stores: strategies as configured, runs, recommendations, models, experiments, quotes.

Records hold validated values; strategy and scope configurations are kept as plain JSON-able mappings so
both storage engines keep them as documents, and services.pricing.domain.strategies parses them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runtime.money import Money

JsonObject = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredStrategy:
    organization_id: str
    id: str
    name: str
    # rules, competitor_ids, max_market_age_seconds, guardrails, auto_apply (see strategies.spec_from_json).
    config: JsonObject
    # Grows by one on every stored change; updates check it so concurrent edits are never lost.
    revision: int
    create_time: datetime
    update_time: datetime


class AssignmentLevel(enum.IntEnum):
    """Specificity: a higher level wins over a lower one."""

    DEFAULT = 1
    CATEGORY = 2
    BRAND = 3
    PRODUCT = 4


@dataclass(frozen=True, slots=True)
class Assignment:
    organization_id: str
    level: AssignmentLevel
    # The sku, brand or category id; "" for the default.
    target: str
    strategy_id: str


class JobKind(enum.StrEnum):
    REPRICE = "reprice"
    REFIT = "refit"


class RunMode(enum.StrEnum):
    SUGGEST = "suggest"
    AUTO = "auto"


class RunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED)


@dataclass(frozen=True, slots=True)
class Run:
    """A job of the pricing service (a reprice run or a model refit), with its state and progress."""

    organization_id: str
    id: str
    kind: JobKind
    # {"all": true} | {"category_id": "..."} | {"skus": [...]}, with "schedule_id" when a schedule started
    # it; refits: {"days": n}.
    scope: JsonObject
    mode: RunMode
    state: RunState
    processed: int
    total: int
    recommended: int
    auto_applied: int
    error: str
    # The subject that created it, and its role then: auto-applied prices are applied in its name.
    created_by: str
    creator_role: int
    attempts: int
    # The worker holding the run and until when; another worker may take it over after that.
    lease_owner: str
    lease_until: datetime | None
    create_time: datetime
    start_time: datetime | None
    end_time: datetime | None


class RecommendationState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPLIED = "applied"


@dataclass(frozen=True, slots=True)
class Recommendation:
    organization_id: str
    # Also the explanation's id.
    id: str
    run_id: str
    sku: str
    current_price: Money
    recommended_price: Money
    strategy_id: str
    state: RecommendationState
    conflict: bool
    # Whether an auto-apply policy that needs a reliable model may use it.
    model_reliable: bool
    decided_by: str
    decision_reason: str
    apply_error: str
    create_time: datetime
    decide_time: datetime | None
    explanation: JsonObject


@dataclass(frozen=True, slots=True)
class DemandModelRecord:
    organization_id: str
    sku: str
    category_id: str
    elasticity: float
    standard_error: float
    ci_low: float
    ci_high: float
    # "sku" | "shrunk" | "category"
    source: str
    reliable: bool
    reason: str
    days: int
    fit_time: datetime


class ExperimentState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    organization_id: str
    id: str
    sku: str
    state: ExperimentState
    candidates: tuple[Money, ...]
    current_arm: int
    # The sampler's posterior, as services.pricing.domain.experiments serialises it.
    sampler: JsonObject
    stop_probability: float
    max_periods: int
    periods: int
    stop_reason: str
    winner_arm: int
    revision: int
    create_time: datetime
    last_period_time: datetime | None


@dataclass(frozen=True, slots=True)
class Quote:
    """The price a checkout gets for a sku, and the recommendation that set it ("" when none did)."""

    organization_id: str
    sku: str
    price: Money
    explanation_id: str


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A recurring reprice run: due at start_time and every interval_minutes after it, in its creator's name."""

    organization_id: str
    id: str
    # As a run's scope.
    scope: JsonObject
    mode: RunMode
    interval_minutes: int
    start_time: datetime
    paused: bool
    next_run_time: datetime
    # The last run it started ("" before the first) and when.
    last_run_id: str
    last_run_time: datetime | None
    # The subject that created it, and its role then: its runs are created in that name and role.
    created_by: str
    creator_role: int
    # Grows by one on every stored change, the dispatcher's included, so no two writers both win one state.
    revision: int
    create_time: datetime
    update_time: datetime
