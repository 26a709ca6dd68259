"""Demand models, price history and the Omnibus prior price, simulations, experiments and quotes →
omnipricex.pricing.v1 DemandModelService, PriceHistoryService, SimulationService, ExperimentService and
QuoteService."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Query, Response

from gateway.deps import Analyst, PricingManager, Viewer
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.routers.reprice import run_location
from gateway.schemas.common import SKU_PATTERN, PageQuery
from gateway.schemas.pricing import (
    ID_PATTERN,
    DemandModel,
    DemandModelPage,
    Experiment,
    ExperimentPage,
    NewExperiment,
    PriceHistory,
    PriceHistoryQuery,
    PriorPrice,
    PriorPriceQuery,
    QuoteBody,
    QuoteList,
    RefitBody,
    RefitJob,
    Simulation,
    SimulationBody,
    StopBody,
)
from gateway.translate.common import next_cursor, page_request
from gateway.translate.pricing import (
    experiment_json,
    experiment_request,
    history_json,
    model_json,
    prior_price_json,
    quotes_json,
    scope_message,
    simulation_json,
)
from omnipricex.pricing.v1 import pricing_pb2
from runtime.timestamps import to_timestamp

router = APIRouter(prefix="/v1", tags=["pricing insights"], responses=PROTECTED, default_response_class=JsonResponse)
SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="The product's sku.")]
ExperimentId = Annotated[str, Path(pattern=ID_PATTERN, description="The experiment's id.")]


@router.post(
    "/quotes",
    response_model=QuoteList,
    summary="Current prices of up to 1,000 skus, for checkout-style clients (viewer)",
    description="Answered from memory. A sku without a price has null price, currency and explanation_id; "
    "explanation_id is the recommendation that set the price (GET /v1/recommendations/{id}).",
)
async def quote_prices(body: QuoteBody, caller: Viewer) -> Response:
    response = await caller.stubs.quotes.QuotePrices(
        pricing_pb2.QuotePricesRequest(skus=body.skus), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(quotes_json(body.skus, response))


@router.post(
    "/demand-models:refit",
    response_model=RefitJob,
    status_code=202,
    summary="Refit every sku's demand model from the sales ledger (analyst)",
    description="The refit is queued as a job; GET /v1/reprice-runs/{job_id} (its Location) shows its progress.",
)
async def refit_demand_models(caller: Analyst, body: Annotated[RefitBody | None, Body()] = None) -> Response:
    response = await caller.stubs.demand_models.RefitDemandModels(
        pricing_pb2.RefitDemandModelsRequest(days=(body.days or 0) if body is not None else 0),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return JsonResponse(
        {"job_id": response.job_id}, status_code=202, headers={"Location": run_location(response.job_id)}
    )


@router.get("/demand-models", response_model=DemandModelPage, summary="List demand models by sku (viewer)")
async def list_demand_models(query: Annotated[PageQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.demand_models.ListDemandModels(
        pricing_pb2.ListDemandModelsRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [model_json(item) for item in response.models], "next_cursor": next_cursor(response.page)}
    )


@router.get(
    "/demand-models/{sku}",
    response_model=DemandModel,
    responses=problems(404),
    summary="A sku's demand model (viewer)",
)
async def get_demand_model(sku: SkuPath, caller: Viewer) -> Response:
    response = await caller.stubs.demand_models.GetDemandModel(
        pricing_pb2.GetDemandModelRequest(sku=sku), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(model_json(response.model))


@router.get(
    "/products/{sku}/price-history",
    response_model=PriceHistory,
    responses=problems(404),
    summary="A product's prices over time (viewer)",
)
async def get_price_history(sku: SkuPath, query: Annotated[PriceHistoryQuery, Query()], caller: Viewer) -> Response:
    request = pricing_pb2.GetPriceHistoryRequest(sku=sku)
    if query.start is not None:
        request.start_time.CopyFrom(to_timestamp(query.start))
    if query.end is not None:
        request.end_time.CopyFrom(to_timestamp(query.end))
    response = await caller.stubs.price_history.GetPriceHistory(
        request, metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(history_json(sku, response))


@router.get(
    "/products/{sku}/prior-price",
    response_model=PriorPrice,
    responses=problems(404),
    summary="The EU Omnibus prior price of a reduction (viewer)",
    description="Directive 2019/2161, art. 6a: the lowest price applied in the 30 days before the reduction "
    "in force at `at`.",
)
async def get_prior_price(sku: SkuPath, query: Annotated[PriorPriceQuery, Query()], caller: Viewer) -> Response:
    request = pricing_pb2.GetPriorPriceRequest(sku=sku)
    if query.at is not None:
        request.at_time.CopyFrom(to_timestamp(query.at))
    response = await caller.stubs.price_history.GetPriorPrice(
        request, metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(prior_price_json(sku, response))


@router.post(
    "/simulations",
    response_model=Simulation,
    summary="Price a scope without storing or applying anything, and forecast the effect (analyst)",
    description="Forecasts are per day, today against the simulated prices, over the products with a reliable "
    "demand model and a known cost in the forecast currency.",
)
async def simulate(body: SimulationBody, caller: Analyst) -> Response:
    response = await caller.stubs.simulation.Simulate(
        pricing_pb2.SimulateRequest(scope=scope_message(body.scope), strategy_ids=body.strategy_ids),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return JsonResponse(simulation_json(response))


@router.post(
    "/experiments",
    response_model=Experiment,
    status_code=201,
    responses=problems(409),
    summary="Start a price experiment on one sku (pricing manager)",
    description="Every candidate must lie within the sku's guardrails; the first chosen price is shown at once.",
)
async def create_experiment(body: NewExperiment, caller: PricingManager) -> Response:
    response = await caller.stubs.experiments.CreateExperiment(
        experiment_request(body), metadata=caller.metadata, timeout=caller.deadline
    )
    experiment = response.experiment
    return JsonResponse(
        experiment_json(experiment),
        status_code=201,
        headers={"Location": f"/v1/experiments/{quote(experiment.id, safe='')}"},
    )


@router.get("/experiments", response_model=ExperimentPage, summary="List experiments (viewer)")
async def list_experiments(query: Annotated[PageQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.experiments.ListExperiments(
        pricing_pb2.ListExperimentsRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [experiment_json(item) for item in response.experiments], "next_cursor": next_cursor(response.page)}
    )


@router.get(
    "/experiments/{experiment_id}",
    response_model=Experiment,
    responses=problems(404),
    summary="An experiment with each price's results (viewer)",
)
async def get_experiment(experiment_id: ExperimentId, caller: Viewer) -> Response:
    response = await caller.stubs.experiments.GetExperiment(
        pricing_pb2.GetExperimentRequest(id=experiment_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(experiment_json(response.experiment))


@router.post(
    "/experiments/{experiment_id}:stop",
    response_model=Experiment,
    responses=problems(404),
    summary="Stop an experiment; the price shown last stays (pricing manager)",
)
async def stop_experiment(
    experiment_id: ExperimentId, caller: PricingManager, body: Annotated[StopBody | None, Body()] = None
) -> Response:
    response = await caller.stubs.experiments.StopExperiment(
        pricing_pb2.StopExperimentRequest(id=experiment_id, reason=body.reason if body else ""),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(experiment_json(response.experiment))
