"""gRPC entry points of the pricing services: proto messages in, use cases, proto out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from runtime.auth import current_principal
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.timestamps import from_timestamp, to_timestamp
from services.pricing.domain.experiments import ExperimentReport
from services.pricing.domain.records import (
    Assignment,
    AssignmentLevel,
    DemandModelRecord,
    ExperimentRecord,
    ExperimentState,
    Recommendation,
    RecommendationState,
    Run,
    RunMode,
    RunState,
    ScheduleRecord,
    StoredStrategy,
)
from services.pricing.domain.simulation import Estimate
from services.pricing.strategy_config import config_from_proto, fill_proto
from services.pricing.use_cases.experiments import Experiments
from services.pricing.use_cases.history import PriceHistory
from services.pricing.use_cases.models import DemandModels
from services.pricing.use_cases.quotes import Quotes
from services.pricing.use_cases.recommendations import Recommendations, explanation_of
from services.pricing.use_cases.reprice import change_percent
from services.pricing.use_cases.runs import RunRequest, Runs
from services.pricing.use_cases.schedules import SCHEDULE_KEY, ScheduleChange, ScheduleRequest, Schedules
from services.pricing.use_cases.simulation import Simulations
from services.pricing.use_cases.strategies import Strategies

Context = grpc.aio.ServicerContext[Any, Any]

RUN_STATES = {
    RunState.QUEUED: pricing_pb2.RUN_STATE_QUEUED,
    RunState.RUNNING: pricing_pb2.RUN_STATE_RUNNING,
    RunState.SUCCEEDED: pricing_pb2.RUN_STATE_SUCCEEDED,
    RunState.FAILED: pricing_pb2.RUN_STATE_FAILED,
}
RUN_MODES = {RunMode.SUGGEST: pricing_pb2.RUN_MODE_SUGGEST, RunMode.AUTO: pricing_pb2.RUN_MODE_AUTO}
MODES_BY_NUMBER = {number: mode for mode, number in RUN_MODES.items()}
RECOMMENDATION_STATES = {
    RecommendationState.PENDING: pricing_pb2.RECOMMENDATION_STATE_PENDING,
    RecommendationState.APPROVED: pricing_pb2.RECOMMENDATION_STATE_APPROVED,
    RecommendationState.REJECTED: pricing_pb2.RECOMMENDATION_STATE_REJECTED,
    RecommendationState.APPLIED: pricing_pb2.RECOMMENDATION_STATE_APPLIED,
}
STATES_BY_NUMBER = {number: state for state, number in RECOMMENDATION_STATES.items()}
LEVELS = {
    AssignmentLevel.DEFAULT: pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT,
    AssignmentLevel.CATEGORY: pricing_pb2.ASSIGNMENT_LEVEL_CATEGORY,
    AssignmentLevel.BRAND: pricing_pb2.ASSIGNMENT_LEVEL_BRAND,
    AssignmentLevel.PRODUCT: pricing_pb2.ASSIGNMENT_LEVEL_PRODUCT,
}
LEVELS_BY_NUMBER = {number: level for level, number in LEVELS.items()}


def money_message(money: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=money.amount_minor, currency=money.currency)


def money_of(message: money_pb2.Money, field: str) -> Money:
    if not message.currency:
        raise InvalidArgument("an amount needs its currency", field=field)
    return Money(message.amount_minor, message.currency)


def page(token: str) -> paging_pb2.PageResponse:
    return paging_pb2.PageResponse(next_page_token=token)


def mode_of(number: int) -> RunMode:
    mode: RunMode | None = MODES_BY_NUMBER.get(number)  # type: ignore[call-overload]
    if mode is None:
        raise InvalidArgument("mode must be SUGGEST or AUTO", field="mode")
    return mode


def time_of(message: Any, field: str) -> datetime | None:
    """An optional Timestamp field; None when unset."""
    if not message.HasField(field):
        return None
    try:
        return from_timestamp(getattr(message, field))
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{field} is not a valid time", field=field) from None


def level_of(number: int) -> AssignmentLevel:
    level: AssignmentLevel | None = LEVELS_BY_NUMBER.get(number)  # type: ignore[call-overload]
    if level is None:
        raise InvalidArgument("level must be DEFAULT, CATEGORY, BRAND or PRODUCT", field="level")
    return level


# --- messages ---------------------------------------------------------------------------------------


def strategy_message(strategy: StoredStrategy) -> pricing_pb2.Strategy:
    message = pricing_pb2.Strategy(
        id=strategy.id,
        name=strategy.name,
        create_time=to_timestamp(strategy.create_time),
        update_time=to_timestamp(strategy.update_time),
    )
    fill_proto(strategy.config, message)
    return message


def scope_message(scope: dict[str, Any] | Any) -> pricing_pb2.Scope:
    if scope.get("skus"):
        return pricing_pb2.Scope(skus=pricing_pb2.SkuList(skus=scope["skus"]))
    if scope.get("category_id"):
        return pricing_pb2.Scope(category_id=scope["category_id"])
    return pricing_pb2.Scope(all=True)


def scope_of(message: pricing_pb2.Scope) -> dict[str, Any]:
    target = message.WhichOneof("target")
    if target == "all" and message.all:
        return {"all": True}
    if target == "category_id":
        return {"category_id": message.category_id}
    if target == "skus":
        return {"skus": list(message.skus.skus)}
    raise InvalidArgument("the scope is all, a category or a list of skus", field="scope")


def run_message(run: Run) -> pricing_pb2.RepriceRun:
    message = pricing_pb2.RepriceRun(
        id=run.id,
        mode=RUN_MODES[run.mode],
        state=RUN_STATES[run.state],
        processed=run.processed,
        total=run.total,
        recommended=run.recommended,
        auto_applied=run.auto_applied,
        error=run.error,
        created_by=run.created_by,
        attempts=run.attempts,
        create_time=to_timestamp(run.create_time),
        schedule_id=str(run.scope.get(SCHEDULE_KEY, "")),
    )
    if "days" not in run.scope:
        message.scope.CopyFrom(scope_message(run.scope))
    if run.start_time is not None:
        message.start_time.CopyFrom(to_timestamp(run.start_time))
    if run.end_time is not None:
        message.end_time.CopyFrom(to_timestamp(run.end_time))
    return message


def schedule_message(schedule: ScheduleRecord) -> pricing_pb2.RepriceSchedule:
    message = pricing_pb2.RepriceSchedule(
        id=schedule.id,
        scope=scope_message(schedule.scope),
        mode=RUN_MODES[schedule.mode],
        interval_minutes=schedule.interval_minutes,
        start_time=to_timestamp(schedule.start_time),
        paused=schedule.paused,
        next_run_time=to_timestamp(schedule.next_run_time),
        last_run_id=schedule.last_run_id,
        created_by=schedule.created_by,
        create_time=to_timestamp(schedule.create_time),
        update_time=to_timestamp(schedule.update_time),
    )
    if schedule.last_run_time is not None:
        message.last_run_time.CopyFrom(to_timestamp(schedule.last_run_time))
    return message


def recommendation_message(rec: Recommendation, *, explanation: bool) -> pricing_pb2.Recommendation:
    message = pricing_pb2.Recommendation(
        id=rec.id,
        run_id=rec.run_id,
        sku=rec.sku,
        current_price=money_message(rec.current_price),
        recommended_price=money_message(rec.recommended_price),
        change_percent=change_percent(rec.current_price, rec.recommended_price),
        strategy_id=rec.strategy_id,
        state=RECOMMENDATION_STATES[rec.state],
        conflict=rec.conflict,
        decided_by=rec.decided_by,
        decision_reason=rec.decision_reason,
        apply_error=rec.apply_error,
        create_time=to_timestamp(rec.create_time),
    )
    if rec.decide_time is not None:
        message.decide_time.CopyFrom(to_timestamp(rec.decide_time))
    if explanation:
        message.explanation.CopyFrom(json_format.ParseDict(explanation_of(rec), struct_pb2.Struct()))
    return message


def model_message(model: DemandModelRecord) -> pricing_pb2.DemandModel:
    return pricing_pb2.DemandModel(
        sku=model.sku,
        category_id=model.category_id,
        elasticity=model.elasticity,
        standard_error=model.standard_error,
        ci_low=model.ci_low,
        ci_high=model.ci_high,
        source=model.source,
        reliable=model.reliable,
        reason=model.reason,
        days=model.days,
        fit_time=to_timestamp(model.fit_time),
    )


def interval(estimate: float, low: float, high: float) -> pricing_pb2.Interval:
    return pricing_pb2.Interval(estimate=estimate, low=low, high=high)


def experiment_message(experiment: ExperimentRecord, report: ExperimentReport) -> pricing_pb2.Experiment:
    message = pricing_pb2.Experiment(
        id=experiment.id,
        sku=experiment.sku,
        state=(
            pricing_pb2.EXPERIMENT_STATE_RUNNING
            if experiment.state is ExperimentState.RUNNING
            else pricing_pb2.EXPERIMENT_STATE_STOPPED
        ),
        current_arm=experiment.current_arm,
        periods=experiment.periods,
        stop_reason=experiment.stop_reason,
        winner_arm=experiment.winner_arm,
        create_time=to_timestamp(experiment.create_time),
    )
    for price, candidate in zip(experiment.candidates, report.candidates, strict=True):
        message.arms.add(
            price=money_message(price),
            periods=candidate.periods,
            units=candidate.units,
            probability_best=candidate.probability_best,
            revenue_per_period=interval(candidate.revenue_per_period, candidate.revenue_low, candidate.revenue_high),
        )
    if experiment.last_period_time is not None:
        message.last_period_time.CopyFrom(to_timestamp(experiment.last_period_time))
    return message


# --- servicers --------------------------------------------------------------------------------------


class StrategyServicer(pricing_pb2_grpc.StrategyServiceServicer):
    def __init__(self, strategies: Strategies) -> None:
        self._strategies = strategies

    async def CreateStrategy(
        self, request: pricing_pb2.CreateStrategyRequest, context: Context
    ) -> pricing_pb2.CreateStrategyResponse:
        principal = current_principal()
        config = config_from_proto(request.strategy)
        strategy = await self._strategies.create(principal, request.strategy.name, config)
        return pricing_pb2.CreateStrategyResponse(strategy=strategy_message(strategy))

    async def GetStrategy(
        self, request: pricing_pb2.GetStrategyRequest, context: Context
    ) -> pricing_pb2.GetStrategyResponse:
        strategy = await self._strategies.get(current_principal(), request.id)
        return pricing_pb2.GetStrategyResponse(strategy=strategy_message(strategy))

    async def ListStrategies(
        self, request: pricing_pb2.ListStrategiesRequest, context: Context
    ) -> pricing_pb2.ListStrategiesResponse:
        found = await self._strategies.list_strategies(
            current_principal(), page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return pricing_pb2.ListStrategiesResponse(
            strategies=[strategy_message(item) for item in found.items], page=page(found.next_page_token)
        )

    async def UpdateStrategy(
        self, request: pricing_pb2.UpdateStrategyRequest, context: Context
    ) -> pricing_pb2.UpdateStrategyResponse:
        principal = current_principal()
        paths = list(request.update_mask.paths)
        # The masked parts are validated together with the stored rest by the use case.
        config = config_from_proto(request.strategy, validate=False)
        strategy = await self._strategies.update(principal, request.strategy.id, request.strategy.name, config, paths)
        return pricing_pb2.UpdateStrategyResponse(strategy=strategy_message(strategy))

    async def DeleteStrategy(
        self, request: pricing_pb2.DeleteStrategyRequest, context: Context
    ) -> pricing_pb2.DeleteStrategyResponse:
        await self._strategies.delete(current_principal(), request.id)
        return pricing_pb2.DeleteStrategyResponse()

    async def SetAssignment(
        self, request: pricing_pb2.SetAssignmentRequest, context: Context
    ) -> pricing_pb2.SetAssignmentResponse:
        principal = current_principal()
        item = request.assignment
        assignment = await self._strategies.assign(
            principal, Assignment(principal.organization_id, level_of(item.level), item.target, item.strategy_id)
        )
        return pricing_pb2.SetAssignmentResponse(assignment=assignment_message(assignment))

    async def ListAssignments(
        self, request: pricing_pb2.ListAssignmentsRequest, context: Context
    ) -> pricing_pb2.ListAssignmentsResponse:
        found = await self._strategies.assignments(current_principal())
        return pricing_pb2.ListAssignmentsResponse(assignments=[assignment_message(item) for item in found])

    async def DeleteAssignment(
        self, request: pricing_pb2.DeleteAssignmentRequest, context: Context
    ) -> pricing_pb2.DeleteAssignmentResponse:
        await self._strategies.unassign(current_principal(), level_of(request.level), request.target)
        return pricing_pb2.DeleteAssignmentResponse()


def assignment_message(assignment: Assignment) -> pricing_pb2.Assignment:
    return pricing_pb2.Assignment(
        level=LEVELS[assignment.level], target=assignment.target, strategy_id=assignment.strategy_id
    )


class RepriceServicer(pricing_pb2_grpc.RepriceServiceServicer):
    def __init__(self, runs: Runs, recommendations: Recommendations) -> None:
        self._runs = runs
        self._recommendations = recommendations

    async def CreateRepriceRun(
        self, request: pricing_pb2.CreateRepriceRunRequest, context: Context
    ) -> pricing_pb2.CreateRepriceRunResponse:
        mode = mode_of(request.mode)
        run = await self._runs.create_reprice(current_principal(), RunRequest(scope_of(request.scope), mode))
        return pricing_pb2.CreateRepriceRunResponse(run=run_message(run))

    async def GetRepriceRun(
        self, request: pricing_pb2.GetRepriceRunRequest, context: Context
    ) -> pricing_pb2.GetRepriceRunResponse:
        return pricing_pb2.GetRepriceRunResponse(run=run_message(await self._runs.get(current_principal(), request.id)))

    async def ListRepriceRuns(
        self, request: pricing_pb2.ListRepriceRunsRequest, context: Context
    ) -> pricing_pb2.ListRepriceRunsResponse:
        found = await self._runs.list_runs(
            current_principal(), page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return pricing_pb2.ListRepriceRunsResponse(
            runs=[run_message(run) for run in found.items], page=page(found.next_page_token)
        )

    async def ListRecommendations(
        self, request: pricing_pb2.ListRecommendationsRequest, context: Context
    ) -> pricing_pb2.ListRecommendationsResponse:
        state = None
        if request.state:
            state = STATES_BY_NUMBER.get(request.state)
            if state is None:
                raise InvalidArgument("state is not a recommendation state", field="state")
        found = await self._recommendations.list_recommendations(
            current_principal(),
            run_id=request.run_id,
            state=state,
            sku=request.sku,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return pricing_pb2.ListRecommendationsResponse(
            recommendations=[
                recommendation_message(item, explanation=request.include_explanations) for item in found.items
            ],
            page=page(found.next_page_token),
        )

    async def GetRecommendation(
        self, request: pricing_pb2.GetRecommendationRequest, context: Context
    ) -> pricing_pb2.GetRecommendationResponse:
        found = await self._recommendations.get(current_principal(), request.id)
        return pricing_pb2.GetRecommendationResponse(recommendation=recommendation_message(found, explanation=True))

    async def ApproveRecommendations(
        self, request: pricing_pb2.ApproveRecommendationsRequest, context: Context
    ) -> pricing_pb2.ApproveRecommendationsResponse:
        found = await self._recommendations.approve(current_principal(), list(request.ids), request.reason)
        return pricing_pb2.ApproveRecommendationsResponse(
            recommendations=[recommendation_message(item, explanation=False) for item in found]
        )

    async def RejectRecommendations(
        self, request: pricing_pb2.RejectRecommendationsRequest, context: Context
    ) -> pricing_pb2.RejectRecommendationsResponse:
        found = await self._recommendations.reject(current_principal(), list(request.ids), request.reason)
        return pricing_pb2.RejectRecommendationsResponse(
            recommendations=[recommendation_message(item, explanation=False) for item in found]
        )


class ScheduleServicer(pricing_pb2_grpc.ScheduleServiceServicer):
    def __init__(self, schedules: Schedules) -> None:
        self._schedules = schedules

    async def CreateSchedule(
        self, request: pricing_pb2.CreateScheduleRequest, context: Context
    ) -> pricing_pb2.CreateScheduleResponse:
        given = request.schedule
        schedule = await self._schedules.create(
            current_principal(),
            ScheduleRequest(
                scope=scope_of(given.scope),
                mode=mode_of(given.mode),
                interval_minutes=given.interval_minutes,
                start_time=time_of(given, "start_time"),
                paused=given.paused,
            ),
        )
        return pricing_pb2.CreateScheduleResponse(schedule=schedule_message(schedule))

    async def GetSchedule(
        self, request: pricing_pb2.GetScheduleRequest, context: Context
    ) -> pricing_pb2.GetScheduleResponse:
        schedule = await self._schedules.get(current_principal(), request.id)
        return pricing_pb2.GetScheduleResponse(schedule=schedule_message(schedule))

    async def ListSchedules(
        self, request: pricing_pb2.ListSchedulesRequest, context: Context
    ) -> pricing_pb2.ListSchedulesResponse:
        found = await self._schedules.list_schedules(
            current_principal(), page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return pricing_pb2.ListSchedulesResponse(
            schedules=[schedule_message(item) for item in found.items], page=page(found.next_page_token)
        )

    async def UpdateSchedule(
        self, request: pricing_pb2.UpdateScheduleRequest, context: Context
    ) -> pricing_pb2.UpdateScheduleResponse:
        given = request.schedule
        schedule = await self._schedules.update(
            current_principal(),
            given.id,
            ScheduleChange(paused=given.paused, interval_minutes=given.interval_minutes),
            list(request.update_mask.paths),
        )
        return pricing_pb2.UpdateScheduleResponse(schedule=schedule_message(schedule))

    async def DeleteSchedule(
        self, request: pricing_pb2.DeleteScheduleRequest, context: Context
    ) -> pricing_pb2.DeleteScheduleResponse:
        await self._schedules.delete(current_principal(), request.id)
        return pricing_pb2.DeleteScheduleResponse()


class DemandModelServicer(pricing_pb2_grpc.DemandModelServiceServicer):
    def __init__(self, runs: Runs, models: DemandModels) -> None:
        self._runs = runs
        self._models = models

    async def RefitDemandModels(
        self, request: pricing_pb2.RefitDemandModelsRequest, context: Context
    ) -> pricing_pb2.RefitDemandModelsResponse:
        run = await self._runs.create_refit(current_principal(), request.days)
        return pricing_pb2.RefitDemandModelsResponse(job_id=run.id)

    async def GetDemandModel(
        self, request: pricing_pb2.GetDemandModelRequest, context: Context
    ) -> pricing_pb2.GetDemandModelResponse:
        model = await self._models.get(current_principal(), request.sku)
        return pricing_pb2.GetDemandModelResponse(model=model_message(model))

    async def ListDemandModels(
        self, request: pricing_pb2.ListDemandModelsRequest, context: Context
    ) -> pricing_pb2.ListDemandModelsResponse:
        found = await self._models.list_models(
            current_principal(), page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return pricing_pb2.ListDemandModelsResponse(
            models=[model_message(item) for item in found.items], page=page(found.next_page_token)
        )


class PriceHistoryServicer(pricing_pb2_grpc.PriceHistoryServiceServicer):
    def __init__(self, history: PriceHistory) -> None:
        self._history = history

    async def GetPriceHistory(
        self, request: pricing_pb2.GetPriceHistoryRequest, context: Context
    ) -> pricing_pb2.GetPriceHistoryResponse:
        points = await self._history.history(
            current_principal(),
            request.sku,
            start=from_timestamp(request.start_time) if request.HasField("start_time") else None,
            end=from_timestamp(request.end_time) if request.HasField("end_time") else None,
        )
        return pricing_pb2.GetPriceHistoryResponse(
            points=[
                pricing_pb2.PricePoint(
                    price=money_message(point.price),
                    time=to_timestamp(point.time),
                    actor_id=point.actor_id,
                    reason=point.reason,
                )
                for point in points
            ]
        )

    async def GetPriorPrice(
        self, request: pricing_pb2.GetPriorPriceRequest, context: Context
    ) -> pricing_pb2.GetPriorPriceResponse:
        result = await self._history.prior_price(
            current_principal(),
            request.sku,
            at=from_timestamp(request.at_time) if request.HasField("at_time") else None,
        )
        message = pricing_pb2.GetPriorPriceResponse(
            current_price=money_message(result.current_price), is_reduction=result.is_reduction
        )
        if result.reduction_time is not None:
            message.reduction_time.CopyFrom(to_timestamp(result.reduction_time))
        if result.prior_price is not None:
            message.prior_price.CopyFrom(money_message(result.prior_price))
        if result.window_start is not None:
            message.window_start.CopyFrom(to_timestamp(result.window_start))
        return message


class SimulationServicer(pricing_pb2_grpc.SimulationServiceServicer):
    def __init__(self, simulations: Simulations) -> None:
        self._simulations = simulations

    async def Simulate(self, request: pricing_pb2.SimulateRequest, context: Context) -> pricing_pb2.SimulateResponse:
        report = await self._simulations.simulate(
            current_principal(), scope_of(request.scope), list(request.strategy_ids)
        )

        def pair(estimate: Estimate) -> tuple[pricing_pb2.Interval, pricing_pb2.Interval]:
            today = interval(estimate.today, estimate.today, estimate.today)
            return today, interval(estimate.predicted, estimate.low, estimate.high)

        units_today, units_simulated = pair(report.units)
        revenue_today, revenue_simulated = pair(report.revenue)
        profit_today, profit_simulated = pair(report.profit)
        return pricing_pb2.SimulateResponse(
            products=report.products,
            changed=report.changed,
            raised=report.raised,
            lowered=report.lowered,
            change_percent_quantiles=report.change_percent_quantiles,
            currency=report.currency,
            predicted_products=report.predicted_products,
            excluded=report.excluded,
            units_today=units_today,
            units_simulated=units_simulated,
            revenue_today=revenue_today,
            revenue_simulated=revenue_simulated,
            profit_today=profit_today,
            profit_simulated=profit_simulated,
        )


class ExperimentServicer(pricing_pb2_grpc.ExperimentServiceServicer):
    def __init__(self, experiments: Experiments) -> None:
        self._experiments = experiments

    async def CreateExperiment(
        self, request: pricing_pb2.CreateExperimentRequest, context: Context
    ) -> pricing_pb2.CreateExperimentResponse:
        experiment = await self._experiments.create(
            current_principal(),
            request.sku,
            [money_of(candidate, "candidates") for candidate in request.candidates],
            stop_probability=request.stop_probability,
            max_periods=request.max_periods,
        )
        _, report = await self._experiments.get(current_principal(), experiment.id)
        return pricing_pb2.CreateExperimentResponse(experiment=experiment_message(experiment, report))

    async def GetExperiment(
        self, request: pricing_pb2.GetExperimentRequest, context: Context
    ) -> pricing_pb2.GetExperimentResponse:
        experiment, report = await self._experiments.get(current_principal(), request.id)
        return pricing_pb2.GetExperimentResponse(experiment=experiment_message(experiment, report))

    async def ListExperiments(
        self, request: pricing_pb2.ListExperimentsRequest, context: Context
    ) -> pricing_pb2.ListExperimentsResponse:
        found = await self._experiments.list_experiments(
            current_principal(), page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return pricing_pb2.ListExperimentsResponse(
            experiments=[experiment_message(experiment, report) for experiment, report in found.items],
            page=page(found.next_page_token),
        )

    async def StopExperiment(
        self, request: pricing_pb2.StopExperimentRequest, context: Context
    ) -> pricing_pb2.StopExperimentResponse:
        await self._experiments.stop(current_principal(), request.id, request.reason)
        experiment, report = await self._experiments.get(current_principal(), request.id)
        return pricing_pb2.StopExperimentResponse(experiment=experiment_message(experiment, report))


class QuoteServicer(pricing_pb2_grpc.QuoteServiceServicer):
    def __init__(self, quotes: Quotes) -> None:
        self._quotes = quotes

    async def QuotePrices(
        self, request: pricing_pb2.QuotePricesRequest, context: Context
    ) -> pricing_pb2.QuotePricesResponse:
        amounts, currencies, explanation_ids = self._quotes.quote(current_principal(), list(request.skus))
        return pricing_pb2.QuotePricesResponse(
            amount_minor=amounts, currency=currencies, explanation_id=explanation_ids
        )
