"""TEST SCAFFOLDING — an in-memory stand-in for the pricing service, for the gateway's translation tests.

Served by the real runtime bootstrap on loopback (auth interceptor, error mapping), like
gateway.tests.standin_services. It keeps its data in dicts, checks roles as the real service does, records
every request with the deadline it arrived with, and implements just enough behaviour for the gateway's
tests. The real service is services/pricing and is tested there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from runtime.auth import Role, current_principal
from runtime.clock import utcnow
from runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from runtime.grpc_server import ServiceDefinition
from runtime.ids import new_id
from runtime.pagination import decode_token, encode_token, page_size
from runtime.timestamps import from_timestamp, to_timestamp

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")
UPDATABLE_PATHS = frozenset({"name", "rules", "competitor_ids", "max_market_age_seconds", "guardrails", "auto_apply"})
DEFAULT_REFIT_DAYS = 180
PRICING_SERVICES = tuple(service.full_name for service in pricing_pb2.DESCRIPTOR.services_by_name.values())


def now() -> Timestamp:
    return to_timestamp(utcnow())


@dataclass
class Call:
    method: str
    request: Any
    # Seconds left of the deadline the gateway set, when it arrived.
    time_remaining: float | None


@dataclass
class PricingStandin:
    """The stand-in's data per organisation, and every request it received."""

    calls: list[Call] = field(default_factory=list)
    # Active products by sku → currency, and categories → their skus (shared by every organisation).
    products: dict[str, str] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    strategies: dict[tuple[str, str], pricing_pb2.Strategy] = field(default_factory=dict)
    assignments: dict[tuple[str, int, str], pricing_pb2.Assignment] = field(default_factory=dict)
    runs: dict[tuple[str, str], pricing_pb2.RepriceRun] = field(default_factory=dict)
    recommendations: dict[tuple[str, str], pricing_pb2.Recommendation] = field(default_factory=dict)
    models: dict[tuple[str, str], pricing_pb2.DemandModel] = field(default_factory=dict)
    price_points: dict[tuple[str, str], list[pricing_pb2.PricePoint]] = field(default_factory=dict)
    prior_prices: dict[tuple[str, str], pricing_pb2.GetPriorPriceResponse] = field(default_factory=dict)
    simulation: pricing_pb2.SimulateResponse = field(default_factory=pricing_pb2.SimulateResponse)
    experiments: dict[tuple[str, str], pricing_pb2.Experiment] = field(default_factory=dict)
    quotes: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    schedules: dict[tuple[str, str], pricing_pb2.RepriceSchedule] = field(default_factory=dict)

    def record(self, method: str, request: Any, context: Context, role: Role = Role.VIEWER) -> str:
        """Logs the call, checks the caller's role and returns its organisation."""
        self.calls.append(Call(method, request, context.time_remaining()))
        principal = current_principal()
        principal.require(role)
        return principal.organization_id

    def last(self, method: str) -> Any:
        return next(call.request for call in reversed(self.calls) if call.method == method)

    def last_call(self, method: str) -> Call:
        return next(call for call in reversed(self.calls) if call.method == method)

    def deadline_left(self, method: str) -> float:
        """Seconds the last call of `method` had left when it arrived; every call must carry a deadline."""
        remaining = self.last_call(method).time_remaining
        assert remaining is not None, f"{method} came without a deadline"
        return remaining

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]


def _page(items: Sequence[T], page: paging_pb2.PageRequest) -> tuple[list[T], paging_pb2.PageResponse]:
    """Offset pages over an already ordered list."""
    start = int(decode_token(page.page_token).get("offset", 0))
    size = page_size(page.page_size)
    chunk = list(items[start : start + size])
    token = encode_token({"offset": start + size}) if start + size < len(items) else ""
    return chunk, paging_pb2.PageResponse(next_page_token=token)


def _found(store: dict[tuple[str, str], T], organization_id: str, key: str, what: str, field_name: str = "id") -> T:
    found = store.get((organization_id, key))
    if found is None:
        raise NotFound(f"{what} {key!r} does not exist", field=field_name)
    return found


def _check_rules(strategy: pricing_pb2.Strategy) -> None:
    for index, rule in enumerate(strategy.rules):
        if rule.kind == pricing_pb2.RULE_KIND_BEAT_LOWEST and rule.HasField("beat_amount") == bool(rule.beat_percent):
            raise InvalidArgument(
                "beat the lowest price by an amount or by a percentage, not both", field=f"rules[{index}].beat"
            )


class StrategyStandin(pricing_pb2_grpc.StrategyServiceServicer):
    def __init__(self, state: PricingStandin) -> None:
        self.state = state

    async def CreateStrategy(self, request: Any, context: Context) -> pricing_pb2.CreateStrategyResponse:
        org = self.state.record("CreateStrategy", request, context, Role.PRICING_MANAGER)
        if any(key[0] == org and item.name == request.strategy.name for key, item in self.state.strategies.items()):
            raise AlreadyExists(f"a strategy named {request.strategy.name!r} exists", field="name")
        _check_rules(request.strategy)
        strategy = pricing_pb2.Strategy()
        strategy.CopyFrom(request.strategy)
        strategy.id = new_id("stg_")
        strategy.create_time.CopyFrom(now())
        strategy.update_time.CopyFrom(strategy.create_time)
        self.state.strategies[org, strategy.id] = strategy
        return pricing_pb2.CreateStrategyResponse(strategy=strategy)

    async def GetStrategy(self, request: Any, context: Context) -> pricing_pb2.GetStrategyResponse:
        org = self.state.record("GetStrategy", request, context)
        return pricing_pb2.GetStrategyResponse(strategy=_found(self.state.strategies, org, request.id, "strategy"))

    async def ListStrategies(self, request: Any, context: Context) -> pricing_pb2.ListStrategiesResponse:
        org = self.state.record("ListStrategies", request, context)
        ordered = sorted((item for key, item in self.state.strategies.items() if key[0] == org), key=lambda s: s.name)
        items, page = _page(ordered, request.page)
        return pricing_pb2.ListStrategiesResponse(strategies=items, page=page)

    async def UpdateStrategy(self, request: Any, context: Context) -> pricing_pb2.UpdateStrategyResponse:
        org = self.state.record("UpdateStrategy", request, context, Role.PRICING_MANAGER)
        strategy = _found(self.state.strategies, org, request.strategy.id, "strategy")
        unknown = set(request.update_mask.paths) - UPDATABLE_PATHS
        if unknown:
            raise InvalidArgument(f"cannot update {', '.join(sorted(unknown))}", field="update_mask")
        changed = pricing_pb2.Strategy()
        changed.CopyFrom(strategy)
        request.update_mask.MergeMessage(
            request.strategy, changed, replace_message_field=True, replace_repeated_field=True
        )
        _check_rules(changed)
        changed.update_time.CopyFrom(now())
        self.state.strategies[org, changed.id] = changed
        return pricing_pb2.UpdateStrategyResponse(strategy=changed)

    async def DeleteStrategy(self, request: Any, context: Context) -> pricing_pb2.DeleteStrategyResponse:
        org = self.state.record("DeleteStrategy", request, context, Role.PRICING_MANAGER)
        _found(self.state.strategies, org, request.id, "strategy")
        if any(key[0] == org and item.strategy_id == request.id for key, item in self.state.assignments.items()):
            raise FailedPrecondition("the strategy is assigned; remove its assignments first", field="id")
        del self.state.strategies[org, request.id]
        return pricing_pb2.DeleteStrategyResponse()

    async def SetAssignment(self, request: Any, context: Context) -> pricing_pb2.SetAssignmentResponse:
        org = self.state.record("SetAssignment", request, context, Role.PRICING_MANAGER)
        assignment = request.assignment
        if assignment.level == pricing_pb2.ASSIGNMENT_LEVEL_UNSPECIFIED:
            raise InvalidArgument("level must be DEFAULT, CATEGORY, BRAND or PRODUCT", field="level")
        _found(self.state.strategies, org, assignment.strategy_id, "strategy")
        self.state.assignments[org, assignment.level, assignment.target] = assignment
        return pricing_pb2.SetAssignmentResponse(assignment=assignment)

    async def ListAssignments(self, request: Any, context: Context) -> pricing_pb2.ListAssignmentsResponse:
        org = self.state.record("ListAssignments", request, context)
        found = sorted((key[1:], item) for key, item in self.state.assignments.items() if key[0] == org)
        return pricing_pb2.ListAssignmentsResponse(assignments=[item for _, item in found])

    async def DeleteAssignment(self, request: Any, context: Context) -> pricing_pb2.DeleteAssignmentResponse:
        org = self.state.record("DeleteAssignment", request, context, Role.PRICING_MANAGER)
        if self.state.assignments.pop((org, request.level, request.target), None) is None:
            raise NotFound("there is no such assignment", field="target")
        return pricing_pb2.DeleteAssignmentResponse()


def _products_in(state: PricingStandin, scope: pricing_pb2.Scope) -> list[str]:
    target = scope.WhichOneof("target")
    if target == "skus":
        missing = [sku for sku in scope.skus.skus if sku not in state.products]
        if missing:
            raise InvalidArgument(f"no active product with sku {missing[0]!r}", field="scope.skus")
        return list(scope.skus.skus)
    if target == "category_id":
        if scope.category_id not in state.categories:
            raise InvalidArgument(f"category {scope.category_id!r} does not exist", field="scope.category_id")
        skus = state.categories[scope.category_id]
        if not skus:
            raise FailedPrecondition(f"category {scope.category_id!r} has no active products to price", field="scope")
        return skus
    if target == "all":
        return list(state.products)
    raise InvalidArgument("the scope is all, a category or a list of skus", field="scope")


def _check_mode(mode: int) -> None:
    """Suggest mode needs an analyst (the caller's minimum), auto mode a pricing manager."""
    if mode not in (pricing_pb2.RUN_MODE_SUGGEST, pricing_pb2.RUN_MODE_AUTO):
        raise InvalidArgument("mode must be SUGGEST or AUTO", field="mode")
    if mode == pricing_pb2.RUN_MODE_AUTO:
        current_principal().require(Role.PRICING_MANAGER)


def _check_interval(minutes: int) -> None:
    if not 15 <= minutes <= 10_080:
        raise InvalidArgument("interval_minutes is 15-10,080 (a week)", field="interval_minutes")


class RepriceStandin(pricing_pb2_grpc.RepriceServiceServicer):
    def __init__(self, state: PricingStandin) -> None:
        self.state = state

    async def CreateRepriceRun(self, request: Any, context: Context) -> pricing_pb2.CreateRepriceRunResponse:
        org = self.state.record("CreateRepriceRun", request, context, Role.ANALYST)
        _check_mode(request.mode)
        run = pricing_pb2.RepriceRun(
            id=new_id("run_"),
            scope=request.scope,
            mode=request.mode,
            state=pricing_pb2.RUN_STATE_QUEUED,
            total=len(_products_in(self.state, request.scope)),
            created_by=current_principal().subject_id,
            create_time=now(),
        )
        self.state.runs[org, run.id] = run
        return pricing_pb2.CreateRepriceRunResponse(run=run)

    async def GetRepriceRun(self, request: Any, context: Context) -> pricing_pb2.GetRepriceRunResponse:
        org = self.state.record("GetRepriceRun", request, context)
        return pricing_pb2.GetRepriceRunResponse(run=_found(self.state.runs, org, request.id, "run"))

    async def ListRepriceRuns(self, request: Any, context: Context) -> pricing_pb2.ListRepriceRunsResponse:
        org = self.state.record("ListRepriceRuns", request, context)
        newest_first = [item for key, item in reversed(self.state.runs.items()) if key[0] == org]
        items, page = _page(newest_first, request.page)
        return pricing_pb2.ListRepriceRunsResponse(runs=items, page=page)

    async def ListRecommendations(self, request: Any, context: Context) -> pricing_pb2.ListRecommendationsResponse:
        org = self.state.record("ListRecommendations", request, context)
        matching = []
        for (owner, _), stored in self.state.recommendations.items():
            wanted = (not request.run_id or stored.run_id == request.run_id) and (
                not request.state or stored.state == request.state
            )
            if owner == org and wanted and (not request.sku or stored.sku == request.sku):
                item = pricing_pb2.Recommendation()
                item.CopyFrom(stored)
                if not request.include_explanations:
                    item.ClearField("explanation")
                matching.append(item)
        items, page = _page(sorted(matching, key=lambda item: item.sku), request.page)
        return pricing_pb2.ListRecommendationsResponse(recommendations=items, page=page)

    async def GetRecommendation(self, request: Any, context: Context) -> pricing_pb2.GetRecommendationResponse:
        org = self.state.record("GetRecommendation", request, context)
        found = _found(self.state.recommendations, org, request.id, "recommendation")
        return pricing_pb2.GetRecommendationResponse(recommendation=found)

    def _decide(self, org: str, request: Any, state: pricing_pb2.RecommendationState.ValueType) -> list[Any]:
        if not request.ids:
            raise InvalidArgument("name at least one recommendation", field="ids")
        decided = [_found(self.state.recommendations, org, rid, "recommendation", "ids") for rid in request.ids]
        answered = []
        for item in decided:
            item.state = state
            item.decided_by = current_principal().subject_id
            item.decision_reason = request.reason
            item.decide_time.CopyFrom(now())
            copy = pricing_pb2.Recommendation()
            copy.CopyFrom(item)
            copy.ClearField("explanation")
            answered.append(copy)
        return answered

    async def ApproveRecommendations(
        self, request: Any, context: Context
    ) -> pricing_pb2.ApproveRecommendationsResponse:
        org = self.state.record("ApproveRecommendations", request, context, Role.PRICING_MANAGER)
        decided = self._decide(org, request, pricing_pb2.RECOMMENDATION_STATE_APPLIED)
        return pricing_pb2.ApproveRecommendationsResponse(recommendations=decided)

    async def RejectRecommendations(self, request: Any, context: Context) -> pricing_pb2.RejectRecommendationsResponse:
        org = self.state.record("RejectRecommendations", request, context, Role.PRICING_MANAGER)
        decided = self._decide(org, request, pricing_pb2.RECOMMENDATION_STATE_REJECTED)
        return pricing_pb2.RejectRecommendationsResponse(recommendations=decided)


class ScheduleStandin(pricing_pb2_grpc.ScheduleServiceServicer):
    """Keeps schedules as given; the real service's rhythm and dispatch are tested in services/pricing."""

    def __init__(self, state: PricingStandin) -> None:
        self.state = state

    async def CreateSchedule(self, request: Any, context: Context) -> pricing_pb2.CreateScheduleResponse:
        org = self.state.record("CreateSchedule", request, context, Role.ANALYST)
        given = request.schedule
        _check_mode(given.mode)
        _check_interval(given.interval_minutes)
        _products_in(self.state, given.scope)
        schedule = pricing_pb2.RepriceSchedule(
            id=new_id("sch_"),
            scope=given.scope,
            mode=given.mode,
            interval_minutes=given.interval_minutes,
            paused=given.paused,
            created_by=current_principal().subject_id,
            create_time=now(),
        )
        schedule.start_time.CopyFrom(given.start_time if given.HasField("start_time") else schedule.create_time)
        schedule.next_run_time.CopyFrom(schedule.start_time)
        schedule.update_time.CopyFrom(schedule.create_time)
        self.state.schedules[org, schedule.id] = schedule
        return pricing_pb2.CreateScheduleResponse(schedule=schedule)

    async def GetSchedule(self, request: Any, context: Context) -> pricing_pb2.GetScheduleResponse:
        org = self.state.record("GetSchedule", request, context)
        return pricing_pb2.GetScheduleResponse(schedule=_found(self.state.schedules, org, request.id, "schedule"))

    async def ListSchedules(self, request: Any, context: Context) -> pricing_pb2.ListSchedulesResponse:
        org = self.state.record("ListSchedules", request, context)
        oldest_first = [item for key, item in self.state.schedules.items() if key[0] == org]
        items, page = _page(oldest_first, request.page)
        return pricing_pb2.ListSchedulesResponse(schedules=items, page=page)

    async def UpdateSchedule(self, request: Any, context: Context) -> pricing_pb2.UpdateScheduleResponse:
        org = self.state.record("UpdateSchedule", request, context, Role.ANALYST)
        schedule = _found(self.state.schedules, org, request.schedule.id, "schedule")
        _check_mode(schedule.mode)
        paths = set(request.update_mask.paths)
        if not paths or paths - {"paused", "interval_minutes"}:
            raise InvalidArgument("update_mask names paused and / or interval_minutes", field="update_mask")
        if "interval_minutes" in paths:
            _check_interval(request.schedule.interval_minutes)
            schedule.interval_minutes = request.schedule.interval_minutes
        if "paused" in paths:
            schedule.paused = request.schedule.paused
        schedule.update_time.CopyFrom(now())
        return pricing_pb2.UpdateScheduleResponse(schedule=schedule)

    async def DeleteSchedule(self, request: Any, context: Context) -> pricing_pb2.DeleteScheduleResponse:
        org = self.state.record("DeleteSchedule", request, context, Role.ANALYST)
        _check_mode(_found(self.state.schedules, org, request.id, "schedule").mode)
        del self.state.schedules[org, request.id]
        return pricing_pb2.DeleteScheduleResponse()


class DemandModelStandin(pricing_pb2_grpc.DemandModelServiceServicer):
    def __init__(self, state: PricingStandin) -> None:
        self.state = state

    async def RefitDemandModels(self, request: Any, context: Context) -> pricing_pb2.RefitDemandModelsResponse:
        org = self.state.record("RefitDemandModels", request, context, Role.ANALYST)
        days = request.days or DEFAULT_REFIT_DAYS
        if not 14 <= days <= 730:
            raise InvalidArgument("fit on 14-730 days of sales", field="days")
        # Like the real service: the job is a run without a scope.
        job = pricing_pb2.RepriceRun(
            id=new_id("run_"),
            mode=pricing_pb2.RUN_MODE_SUGGEST,
            state=pricing_pb2.RUN_STATE_QUEUED,
            created_by=current_principal().subject_id,
            create_time=now(),
        )
        self.state.runs[org, job.id] = job
        return pricing_pb2.RefitDemandModelsResponse(job_id=job.id)

    async def GetDemandModel(self, request: Any, context: Context) -> pricing_pb2.GetDemandModelResponse:
        org = self.state.record("GetDemandModel", request, context)
        return pricing_pb2.GetDemandModelResponse(
            model=_found(self.state.models, org, request.sku, "demand model of", "sku")
        )

    async def ListDemandModels(self, request: Any, context: Context) -> pricing_pb2.ListDemandModelsResponse:
        org = self.state.record("ListDemandModels", request, context)
        ordered = sorted((item for key, item in self.state.models.items() if key[0] == org), key=lambda m: m.sku)
        items, page = _page(ordered, request.page)
        return pricing_pb2.ListDemandModelsResponse(models=items, page=page)


class PriceHistoryStandin(pricing_pb2_grpc.PriceHistoryServiceServicer):
    def __init__(self, state: PricingStandin) -> None:
        self.state = state

    async def GetPriceHistory(self, request: Any, context: Context) -> pricing_pb2.GetPriceHistoryResponse:
        org = self.state.record("GetPriceHistory", request, context)
        points = _found(self.state.price_points, org, request.sku, "product", "sku")
        start = from_timestamp(request.start_time) if request.HasField("start_time") else None
        end = from_timestamp(request.end_time) if request.HasField("end_time") else None
        if start is not None and end is not None and start >= end:
            raise InvalidArgument("start_time must be before end_time", field="start_time")
        kept = [
            point
            for point in points
            if (start is None or from_timestamp(point.time) >= start)
            and (end is None or from_timestamp(point.time) < end)
        ]
        return pricing_pb2.GetPriceHistoryResponse(points=kept)

    async def GetPriorPrice(self, request: Any, context: Context) -> pricing_pb2.GetPriorPriceResponse:
        org = self.state.record("GetPriorPrice", request, context)
        return _found(self.state.prior_prices, org, request.sku, "product", "sku")


class SimulationStandin(pricing_pb2_grpc.SimulationServiceServicer):
    def __init__(self, state: PricingStandin) -> None:
        self.state = state

    async def Simulate(self, request: Any, context: Context) -> pricing_pb2.SimulateResponse:
        self.state.record("Simulate", request, context, Role.ANALYST)
        if len(request.strategy_ids) > 1:
            raise InvalidArgument(
                "simulate one strategy over the scope, or none for the assignments", field="strategy_ids"
            )
        return self.state.simulation


class ExperimentStandin(pricing_pb2_grpc.ExperimentServiceServicer):
    def __init__(self, state: PricingStandin) -> None:
        self.state = state

    async def CreateExperiment(self, request: Any, context: Context) -> pricing_pb2.CreateExperimentResponse:
        org = self.state.record("CreateExperiment", request, context, Role.PRICING_MANAGER)
        currency = self.state.products.get(request.sku)
        if currency is None:
            raise InvalidArgument(f"no active product with sku {request.sku!r}", field="sku")
        if any(candidate.currency != currency for candidate in request.candidates):
            raise InvalidArgument(f"candidates are in the product's currency {currency}", field="candidates")
        experiment = pricing_pb2.Experiment(
            id=new_id("exp_"),
            sku=request.sku,
            state=pricing_pb2.EXPERIMENT_STATE_RUNNING,
            winner_arm=-1,
            create_time=now(),
        )
        for candidate in request.candidates:
            experiment.arms.add(price=candidate, probability_best=1 / len(request.candidates))
        self.state.experiments[org, experiment.id] = experiment
        return pricing_pb2.CreateExperimentResponse(experiment=experiment)

    async def GetExperiment(self, request: Any, context: Context) -> pricing_pb2.GetExperimentResponse:
        org = self.state.record("GetExperiment", request, context)
        return pricing_pb2.GetExperimentResponse(
            experiment=_found(self.state.experiments, org, request.id, "experiment")
        )

    async def ListExperiments(self, request: Any, context: Context) -> pricing_pb2.ListExperimentsResponse:
        org = self.state.record("ListExperiments", request, context)
        ordered = sorted((item for key, item in self.state.experiments.items() if key[0] == org), key=lambda e: e.id)
        items, page = _page(ordered, request.page)
        return pricing_pb2.ListExperimentsResponse(experiments=items, page=page)

    async def StopExperiment(self, request: Any, context: Context) -> pricing_pb2.StopExperimentResponse:
        org = self.state.record("StopExperiment", request, context, Role.PRICING_MANAGER)
        experiment = _found(self.state.experiments, org, request.id, "experiment")
        if experiment.state != pricing_pb2.EXPERIMENT_STATE_STOPPED:
            best = max(range(len(experiment.arms)), key=lambda index: experiment.arms[index].probability_best)
            experiment.state = pricing_pb2.EXPERIMENT_STATE_STOPPED
            reason = f": {request.reason}" if request.reason else ""
            experiment.stop_reason = f"stopped by {current_principal().subject_id}{reason}"
            experiment.winner_arm = best
        return pricing_pb2.StopExperimentResponse(experiment=experiment)


class QuoteStandin(pricing_pb2_grpc.QuoteServiceServicer):
    def __init__(self, state: PricingStandin) -> None:
        self.state = state

    async def QuotePrices(self, request: Any, context: Context) -> pricing_pb2.QuotePricesResponse:
        org = self.state.record("QuotePrices", request, context)
        found = [self.state.quotes.get((org, sku), (-1, "", "")) for sku in request.skus]
        return pricing_pb2.QuotePricesResponse(
            amount_minor=[item[0] for item in found],
            currency=[item[1] for item in found],
            explanation_id=[item[2] for item in found],
        )


def pricing_definition(state: PricingStandin) -> ServiceDefinition:
    def register(server: grpc.aio.Server) -> None:
        pricing_pb2_grpc.add_StrategyServiceServicer_to_server(StrategyStandin(state), server)
        pricing_pb2_grpc.add_RepriceServiceServicer_to_server(RepriceStandin(state), server)
        pricing_pb2_grpc.add_ScheduleServiceServicer_to_server(ScheduleStandin(state), server)
        pricing_pb2_grpc.add_DemandModelServiceServicer_to_server(DemandModelStandin(state), server)
        pricing_pb2_grpc.add_PriceHistoryServiceServicer_to_server(PriceHistoryStandin(state), server)
        pricing_pb2_grpc.add_SimulationServiceServicer_to_server(SimulationStandin(state), server)
        pricing_pb2_grpc.add_ExperimentServiceServicer_to_server(ExperimentStandin(state), server)
        pricing_pb2_grpc.add_QuoteServiceServicer_to_server(QuoteStandin(state), server)

    return ServiceDefinition("pricing-standin", PRICING_SERVICES, register)


def money(amount_minor: int, currency: str = "EUR") -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)
