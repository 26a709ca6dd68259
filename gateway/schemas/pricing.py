"""The REST shape of pricing: strategies and their assignments, reprice runs, schedules and recommendations,
demand models, price history, simulations, experiments and quotes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from gateway.schemas.common import CurrencyCode, MoneyString, PageQuery, RequestModel, Rfc3339Time, Sku, not_nullable

ReferenceName = Literal["lowest", "median", "mean"]
AssignmentLevelName = Literal["default", "category", "brand", "product"]
RunModeName = Literal["suggest", "auto"]
RunStateName = Literal["queued", "running", "succeeded", "failed"]
RecommendationStateName = Literal["pending", "approved", "rejected", "applied"]
ExperimentStateName = Literal["running", "stopped"]

# The service keeps a percentage to 12 characters; people write a handful of decimals.
PERCENT_PATTERN = r"^\d{1,6}(\.\d{1,5})?$"
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
MAX_NAME_LENGTH = 200
MAX_TARGET_LENGTH = 128
MAX_REASON_LENGTH = 500
MAX_SCOPE_SKUS = 10_000
MAX_DECISIONS = 1_000
MAX_QUOTE_SKUS = 1_000
MIN_INTERVAL_MINUTES, MAX_INTERVAL_MINUTES = 15, 10_080
MIN_CANDIDATES, MAX_CANDIDATES = 2, 6
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _percent_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('percentages are decimal strings such as "2.5", not JSON numbers')
    return value


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("cannot be null; leave it out instead")
    return value


def _kept(value: object) -> object:
    if value is None:
        raise ValueError("cannot be removed (null); leave it out to keep it")
    return value


def exactly_one_of(*names: str) -> Callable[[dict[str, Any]], None]:
    """JSON schema of an object that has exactly one of these properties (a proto oneof)."""

    def extend(schema: dict[str, Any]) -> None:
        schema["oneOf"] = [{"required": [name]} for name in names]

    return extend


Percent = Annotated[
    str,
    Field(
        pattern=PERCENT_PATTERN,
        description='Non-negative decimal percentage as a string (never a JSON number), e.g. "2.5".',
        examples=["2.5"],
    ),
    BeforeValidator(_percent_text),
]
ResourceId = Annotated[str, Field(pattern=ID_PATTERN, description="An id the API issued.")]


# --- strategies ---------------------------------------------------------------------------------------


class CostPlusRule(RequestModel):
    """cost * (1 + markup_percent / 100)."""

    kind: Literal["cost_plus"]
    markup_percent: Percent


class MatchLowestRule(RequestModel):
    """The lowest competitor price."""

    kind: Literal["match_lowest"]


class BeatLowestRule(RequestModel):
    """The lowest competitor price minus beat_amount, or minus beat_percent of it: exactly one of the two."""

    kind: Literal["beat_lowest"]
    beat_amount: MoneyString | None = Field(None, description="In the strategy's currency.")
    beat_percent: Percent | None = None


class MatchMedianRule(RequestModel):
    """The median competitor price."""

    kind: Literal["match_median"]


class PriceIndexRule(RequestModel):
    """index_percent of the market reference: 100 is at the market, 98 is 2 % under it."""

    kind: Literal["price_index"]
    index_percent: Percent
    reference: ReferenceName = "median"


class KeepWithinBandRule(RequestModel):
    """Into [band_low_percent, band_high_percent] of the market median; unchanged when already inside."""

    kind: Literal["keep_within_band"]
    band_low_percent: Percent
    band_high_percent: Percent


class OptimiseProfitRule(RequestModel):
    """Maximise profit on the sku's demand model, within the guardrails and the maximum change."""

    kind: Literal["optimise_profit"]


class OptimiseRevenueRule(RequestModel):
    """Maximise revenue on the sku's demand model, within the guardrails and the maximum change."""

    kind: Literal["optimise_revenue"]


class KeepPriceRule(RequestModel):
    """Keep the current price; ends a chain."""

    kind: Literal["keep_price"]


Rule = Annotated[
    CostPlusRule
    | MatchLowestRule
    | BeatLowestRule
    | MatchMedianRule
    | PriceIndexRule
    | KeepWithinBandRule
    | OptimiseProfitRule
    | OptimiseRevenueRule
    | KeepPriceRule,
    Field(discriminator="kind"),
]


class Ending(RequestModel):
    """How prices from `from_price` up end: in minor units (99 makes x.99) or in a whole-unit digit (9 makes
    129.00); exactly one of the two."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("minor_ending", "whole_digit"))

    from_price: MoneyString | None = Field(
        None, description="Inclusive lower bound of the range, in the strategy's currency; null = from zero."
    )
    minor_ending: int | None = Field(
        None, ge=0, le=9999, description="Minor-unit ending, e.g. 99 for .99.", json_schema_extra=not_nullable
    )
    whole_digit: int | None = Field(
        None, ge=0, le=9, description="Last whole-unit digit, e.g. 9 for 129.00.", json_schema_extra=not_nullable
    )

    @field_validator("minor_ending", "whole_digit", mode="before")
    @classmethod
    def _ending_not_null(cls, value: object) -> object:
        return _not_null(value)

    @model_validator(mode="after")
    def _one_ending(self) -> Ending:
        if (self.minor_ending is None) == (self.whole_digit is None):
            raise ValueError("give exactly one of minor_ending and whole_digit")
        return self


class Guardrails(RequestModel):
    """Bounds every price the strategy sets; amounts are in the strategy's currency."""

    min_margin_percent: Percent | None = Field(
        None, description="Gross margin on price, in [0, 100): price >= cost / (1 - m / 100)."
    )
    min_price: MoneyString | None = None
    max_price: MoneyString | None = None
    max_change_percent: Percent | None = Field(
        None, description="Maximum change per run relative to the current price; the tighter limit wins."
    )
    max_change_amount: MoneyString | None = None
    endings: list[Ending] = Field(default_factory=list, description="Applied last, never across another guardrail.")


class AutoApply(RequestModel):
    """Which recommendations of auto-mode runs apply without a person."""

    enabled: bool = False
    max_change_percent: Percent | None = Field(
        None, description="Only changes within ± this percentage; required when enabled."
    )
    require_reliable_model: bool = Field(
        False, description="Only when the demand model behind the price is reliable (optimising rules)."
    )


_CURRENCY = (
    "Currency of every amount of the strategy (beat_amount, min_price, max_price, max_change_amount, "
    "from_price); given exactly when it has amounts. A strategy with amounts prices only products in it."
)


class NewStrategy(RequestModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="Unique in the organisation.")
    currency: CurrencyCode | None = Field(None, description=_CURRENCY)
    rules: list[Rule] = Field(
        description="The first rule whose inputs are present and fresh sets the price; the chain ends in keeping it."
    )
    competitor_ids: list[str] = Field(default_factory=list, description="Only these competitors' prices; empty = all.")
    max_market_age_seconds: int = Field(
        0, ge=0, le=INT64_MAX, description="Competitor prices older than this are ignored; 0 = 7 days."
    )
    guardrails: Guardrails = Field(default_factory=Guardrails)
    auto_apply: AutoApply = Field(default_factory=AutoApply)


class StrategyPatch(RequestModel):
    """JSON merge patch: only the fields present change, each replaced as a whole. null resets competitor_ids
    (all competitors), max_market_age_seconds (7 days), guardrails (none) and auto_apply (off)."""

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME_LENGTH, json_schema_extra=not_nullable)
    currency: CurrencyCode | None = Field(
        None,
        description="Currency of the amounts in this patch, given only with one; defaults to the strategy's.",
        json_schema_extra=not_nullable,
    )
    rules: list[Rule] | None = Field(None, json_schema_extra=not_nullable)
    competitor_ids: list[str] | None = None
    max_market_age_seconds: int | None = Field(None, ge=0, le=INT64_MAX)
    guardrails: Guardrails | None = None
    auto_apply: AutoApply | None = None

    @field_validator("name", "currency", "rules", mode="before")
    @classmethod
    def _required_fields_stay(cls, value: object) -> object:
        return _kept(value)


class Strategy(BaseModel):
    id: str
    name: str
    currency: str | None = Field(description="Currency of the strategy's amounts; null when it has none.")
    rules: list[Rule]
    competitor_ids: list[str]
    max_market_age_seconds: int
    guardrails: Guardrails
    auto_apply: AutoApply
    create_time: datetime
    update_time: datetime


class StrategyPage(BaseModel):
    items: list[Strategy] = Field(description="Ordered by name.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Assignment(BaseModel):
    level: AssignmentLevelName
    target: str | None = Field(description="The sku, brand or category id; null for the default.")
    strategy_id: str


class AssignmentList(BaseModel):
    items: list[Assignment] = Field(description="Ordered by level, then target.")


class NewAssignment(RequestModel):
    level: AssignmentLevelName
    target: str | None = Field(
        None, max_length=MAX_TARGET_LENGTH, description="The sku, brand or category id; left out for the default."
    )
    strategy_id: ResourceId


class AssignmentQuery(BaseModel):
    level: AssignmentLevelName
    target: str | None = Field(None, max_length=MAX_TARGET_LENGTH, description="Left out for the default.")


# --- runs and recommendations -------------------------------------------------------------------------


class Scope(RequestModel):
    """Exactly one of `all` (true), `category_id` or `skus`."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("all", "category_id", "skus"))

    all: Literal[True] | None = Field(None, description="Every active product.", json_schema_extra=not_nullable)
    category_id: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_TARGET_LENGTH,
        description="Active products in it and its descendants.",
        json_schema_extra=not_nullable,
    )
    skus: list[Sku] | None = Field(None, min_length=1, max_length=MAX_SCOPE_SKUS, json_schema_extra=not_nullable)

    @field_validator("all", "category_id", "skus", mode="before")
    @classmethod
    def _target_not_null(cls, value: object) -> object:
        return _not_null(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> Scope:
        if sum(value is not None for value in (self.all, self.category_id, self.skus)) != 1:
            raise ValueError('a scope is exactly one of {"all": true}, {"category_id": …} or {"skus": […]}')
        return self


class NewRepriceRun(RequestModel):
    scope: Scope
    mode: RunModeName = Field(
        "suggest", description="suggest: recommendations wait for a person; auto: those within policy apply at once."
    )


class RepriceRun(BaseModel):
    id: str
    scope: Scope | None = Field(description="Null for a demand-model refit job.")
    mode: RunModeName
    state: RunStateName
    processed: int = Field(description="Products priced so far.")
    total: int = Field(description="Products in scope.")
    recommended: int = Field(description="Recommendations stored (only changed prices are).")
    auto_applied: int
    error: str | None = Field(description="Why the run failed; null unless it did.")
    created_by: str = Field(
        description="User or API key id; for a run a schedule started, the schedule's creator, in whose name it "
        "prices and applies."
    )
    attempts: int
    create_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    schedule_id: str | None = Field(description="The schedule that started it; null when a caller did.")


class RepriceRunPage(BaseModel):
    items: list[RepriceRun] = Field(description="Newest first.")
    next_cursor: str | None


def _not_nullable_moment(schema: dict[str, Any]) -> None:
    """not_nullable for a Rfc3339Time field, keeping the field's description over the type's."""
    description = schema.get("description")
    not_nullable(schema)
    schema["description"] = description


_INTERVAL = f"Minutes between runs: {MIN_INTERVAL_MINUTES} to {MAX_INTERVAL_MINUTES:,} (a week), exact UTC durations."


class NewRepriceSchedule(RequestModel):
    scope: Scope
    mode: RunModeName = Field(
        "suggest", description="suggest: recommendations wait for a person; auto: those within policy apply at once."
    )
    interval_minutes: int = Field(ge=MIN_INTERVAL_MINUTES, le=MAX_INTERVAL_MINUTES, description=_INTERVAL)
    start_time: Rfc3339Time | None = Field(
        None,
        description="The first run (RFC 3339 with an offset); later ones are whole intervals after it. Now when "
        "left out; a time already passed only sets the rhythm (the first run is then its first occurrence from now "
        "on).",
        json_schema_extra=_not_nullable_moment,
    )
    paused: bool = Field(False, description="A paused schedule starts no runs.")

    @field_validator("start_time", mode="before")
    @classmethod
    def _start_not_null(cls, value: object) -> object:
        return _not_null(value)


class RepriceSchedulePatch(RequestModel):
    """JSON merge patch: only the fields present change."""

    paused: bool | None = Field(
        None,
        description="Pause, or resume: occurrences missed while paused are skipped.",
        json_schema_extra=not_nullable,
    )
    interval_minutes: int | None = Field(
        None,
        ge=MIN_INTERVAL_MINUTES,
        le=MAX_INTERVAL_MINUTES,
        description=f"{_INTERVAL} The next run becomes the first occurrence of the new rhythm from now on.",
        json_schema_extra=not_nullable,
    )

    @field_validator("paused", "interval_minutes", mode="before")
    @classmethod
    def _fields_not_null(cls, value: object) -> object:
        return _kept(value)


class RepriceSchedule(BaseModel):
    id: str
    scope: Scope
    mode: RunModeName
    interval_minutes: int
    start_time: datetime = Field(description="The origin of its rhythm: runs are due whole intervals after it.")
    paused: bool
    next_run_time: datetime = Field(
        description="When the next run is due. Occurrences missed while the scheduler was down start one run for "
        "them all; while the last run is still queued or running, an occurrence starts nothing."
    )
    last_run_id: str | None = Field(description="The last run it started; null before the first.")
    last_run_time: datetime | None
    created_by: str = Field(description="Its runs act in this user's (or API key's) name.")
    create_time: datetime
    update_time: datetime


class RepriceSchedulePage(BaseModel):
    items: list[RepriceSchedule] = Field(description="Oldest first.")
    next_cursor: str | None


class Recommendation(BaseModel):
    id: str = Field(description="Also the id of its explanation.")
    run_id: str
    sku: str
    currency: str
    current_price: str
    recommended_price: str
    change_percent: str = Field(description="(recommended - current) / current * 100, to 2 decimals.")
    strategy_id: str
    state: RecommendationStateName
    conflict: bool = Field(description="Two guardrails conflicted; the explanation says which won.")
    decided_by: str | None
    decision_reason: str | None
    apply_error: str | None = Field(description="Why applying failed, e.g. the catalog price moved since the run.")
    create_time: datetime
    decide_time: datetime | None
    explanation: dict[str, Any] | None = Field(
        description="The trace: inputs (money in minor units), the rule, each guardrail that moved the price, the "
        "ending, and sentences for people. Null in lists unless include_explanations."
    )


class RecommendationPage(BaseModel):
    items: list[Recommendation] = Field(description="By sku within a run, newest run first.")
    next_cursor: str | None


class RecommendationQuery(PageQuery):
    run_id: ResourceId | None = Field(None, description="Only this run's.")
    state: RecommendationStateName | None = None
    sku: Sku | None = None
    include_explanations: bool = False


class Decision(RequestModel):
    ids: list[ResourceId] = Field(min_length=1, max_length=MAX_DECISIONS)
    reason: str = Field("", max_length=MAX_REASON_LENGTH)


class DecisionResult(BaseModel):
    items: list[Recommendation] = Field(description="In request order, as they now stand.")


# --- demand models, price history ---------------------------------------------------------------------


class RefitBody(RequestModel):
    days: int | None = Field(
        None, ge=1, le=INT32_MAX, description="Days of sales to fit on, ending yesterday: 14-730; 180 when left out."
    )


class RefitJob(BaseModel):
    job_id: str = Field(description="GET /v1/reprice-runs/{job_id} shows its progress.")


class DemandModel(BaseModel):
    sku: str
    category_id: str | None
    elasticity: float | None = Field(description="Null when it could not be estimated.")
    standard_error: float | None
    ci_low: float | None = Field(description="Lower end of the 95 % interval.")
    ci_high: float | None
    source: str = Field(description='"sku", "shrunk", "category" or "none".')
    reliable: bool
    reason: str | None = Field(description="Why it is unreliable, when it is.")
    days: int
    fit_time: datetime


class DemandModelPage(BaseModel):
    items: list[DemandModel] = Field(description="Ordered by sku.")
    next_cursor: str | None


class PriceHistoryQuery(BaseModel):
    start: Rfc3339Time | None = Field(None, description="Inclusive; the price in force then is the first point.")
    end: Rfc3339Time | None = Field(None, description="Exclusive.")


class PricePoint(BaseModel):
    price: str
    currency: str
    time: datetime
    actor_id: str
    reason: str


class PriceHistory(BaseModel):
    sku: str
    points: list[PricePoint] = Field(description="Oldest first.")


class PriorPriceQuery(BaseModel):
    at: Rfc3339Time | None = Field(None, description="The moment to judge; now when left out.")


class PriorPrice(BaseModel):
    sku: str
    currency: str
    current_price: str
    is_reduction: bool = Field(description="The price in force at `at` is a reduction from the one before it.")
    reduction_time: datetime | None
    prior_price: str | None = Field(description="Lowest price in the 30 days before the reduction; null if none.")
    window_start: datetime | None


# --- simulations ---------------------------------------------------------------------------------------


class SimulationBody(RequestModel):
    scope: Scope
    strategy_ids: list[ResourceId] = Field(
        default_factory=list, description="Price with this strategy instead of the assignments; empty = assignments."
    )


class Interval(BaseModel):
    estimate: float | None
    low: float | None
    high: float | None


class MoneyInterval(BaseModel):
    estimate: str | None
    low: str | None
    high: str | None


class UnitsForecast(BaseModel):
    today: float | None
    simulated: Interval = Field(description="Estimate and 95 % interval at the simulated prices.")


class MoneyForecast(BaseModel):
    today: str | None
    simulated: MoneyInterval


class ChangeQuantiles(BaseModel):
    p5: str
    p25: str
    p50: str
    p75: str
    p95: str


class Simulation(BaseModel):
    products: int
    changed: int
    raised: int
    lowered: int
    change_percent_quantiles: ChangeQuantiles | None = Field(description="Percent, to 2 decimals.")
    currency: str | None = Field(description="Currency of the forecasts: the one most products in scope have.")
    predicted_products: int
    excluded: int = Field(description="Products left out of the forecasts (other currency, no reliable model).")
    units: UnitsForecast = Field(description="Per day.")
    revenue: MoneyForecast = Field(description="Per day.")
    profit: MoneyForecast = Field(description="Per day.")


# --- experiments, quotes -------------------------------------------------------------------------------


class NewExperiment(RequestModel):
    sku: Sku
    currency: CurrencyCode = Field(description="The product's currency.")
    candidates: list[MoneyString] = Field(min_length=MIN_CANDIDATES, max_length=MAX_CANDIDATES)
    stop_probability: float | None = Field(
        None,
        ge=0.5,
        le=0.999,
        allow_inf_nan=False,
        description="Stops when one price is best with at least this probability; 0.95 when left out.",
    )
    max_periods: int | None = Field(None, ge=1, le=INT32_MAX, description="Days at most; 90 when left out.")


class ExperimentArm(BaseModel):
    price: str
    periods: int
    units: int
    probability_best: float
    revenue_per_period: MoneyInterval


class Experiment(BaseModel):
    id: str
    sku: str
    state: ExperimentStateName
    currency: str
    arms: list[ExperimentArm]
    current_arm: int = Field(description="Index into arms of the price shown now.")
    periods: int
    stop_reason: str | None
    winner_arm: int | None
    create_time: datetime
    last_period_time: datetime | None


class ExperimentPage(BaseModel):
    items: list[Experiment]
    next_cursor: str | None


class StopBody(RequestModel):
    reason: str = Field("", max_length=MAX_REASON_LENGTH)


class QuoteBody(RequestModel):
    skus: list[Sku] = Field(min_length=1, max_length=MAX_QUOTE_SKUS)


class Quote(BaseModel):
    sku: str
    price: str | None = Field(description="Null when the sku has no price.")
    currency: str | None
    explanation_id: str | None = Field(description="The recommendation that set the price, when OmniPriceX did.")


class QuoteList(BaseModel):
    items: list[Quote] = Field(description="In request order.")
