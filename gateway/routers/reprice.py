"""/v1/reprice-runs and /v1/recommendations → omnipricex.pricing.v1.RepriceService.

The gateway asks for the lowest role that can ever succeed; the service decides the rest (a suggest-mode
run needs an analyst, an auto-mode run a pricing manager).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from gateway.deps import Analyst, PricingManager, Viewer
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.common import PageQuery
from gateway.schemas.pricing import (
    ID_PATTERN,
    Decision,
    DecisionResult,
    NewRepriceRun,
    Recommendation,
    RecommendationPage,
    RecommendationQuery,
    RepriceRun,
    RepriceRunPage,
)
from gateway.translate.common import next_cursor, page_request
from gateway.translate.pricing import (
    MODES_BY_NAME,
    RECOMMENDATION_STATES_BY_NAME,
    recommendation_json,
    run_json,
    scope_message,
)
from omnipricex.pricing.v1 import pricing_pb2

router = APIRouter(prefix="/v1", tags=["reprice"], responses=PROTECTED, default_response_class=JsonResponse)
RunId = Annotated[str, Path(pattern=ID_PATTERN, description="The run's (or refit job's) id.")]
RecommendationId = Annotated[str, Path(pattern=ID_PATTERN, description="The recommendation's id.")]


def run_location(run_id: str) -> str:
    return f"/v1/reprice-runs/{quote(run_id, safe='')}"


@router.post(
    "/reprice-runs",
    response_model=RepriceRun,
    status_code=202,
    summary="Start a reprice run: suggest mode (analyst), auto mode (pricing manager)",
    description="The run is queued; poll the run at its Location for progress. Unknown skus or categories and "
    "scopes without active products are refused before anything is stored.",
)
async def create_reprice_run(body: NewRepriceRun, caller: Analyst) -> Response:
    response = await caller.stubs.reprice.CreateRepriceRun(
        pricing_pb2.CreateRepriceRunRequest(scope=scope_message(body.scope), mode=MODES_BY_NAME[body.mode]),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    run = response.run
    return JsonResponse(run_json(run), status_code=202, headers={"Location": run_location(run.id)})


@router.get("/reprice-runs", response_model=RepriceRunPage, summary="List runs, newest first (viewer)")
async def list_reprice_runs(query: Annotated[PageQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.reprice.ListRepriceRuns(
        pricing_pb2.ListRepriceRunsRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse({"items": [run_json(run) for run in response.runs], "next_cursor": next_cursor(response.page)})


@router.get(
    "/reprice-runs/{run_id}",
    response_model=RepriceRun,
    responses=problems(404),
    summary="A run or refit job with its progress (viewer)",
)
async def get_reprice_run(run_id: RunId, caller: Viewer) -> Response:
    response = await caller.stubs.reprice.GetRepriceRun(
        pricing_pb2.GetRepriceRunRequest(id=run_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(run_json(response.run))


@router.get("/recommendations", response_model=RecommendationPage, summary="List recommendations (viewer)")
async def list_recommendations(query: Annotated[RecommendationQuery, Query()], caller: Viewer) -> Response:
    request = pricing_pb2.ListRecommendationsRequest(
        run_id=query.run_id or "",
        state=RECOMMENDATION_STATES_BY_NAME[query.state]
        if query.state
        else pricing_pb2.RECOMMENDATION_STATE_UNSPECIFIED,
        sku=query.sku or "",
        include_explanations=query.include_explanations,
        page=page_request(query.limit, query.cursor),
    )
    response = await caller.stubs.reprice.ListRecommendations(
        request, metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(
        {
            "items": [recommendation_json(item) for item in response.recommendations],
            "next_cursor": next_cursor(response.page),
        }
    )


@router.get(
    "/recommendations/{recommendation_id}",
    response_model=Recommendation,
    responses=problems(404),
    summary="A recommendation with its explanation (viewer)",
)
async def get_recommendation(recommendation_id: RecommendationId, caller: Viewer) -> Response:
    response = await caller.stubs.reprice.GetRecommendation(
        pricing_pb2.GetRecommendationRequest(id=recommendation_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(recommendation_json(response.recommendation))


@router.post(
    "/recommendations:approve",
    response_model=DecisionResult,
    responses=problems(404),
    summary="Approve up to 1,000 recommendations and apply them to the catalog (pricing manager)",
    description="Each comes back as it now stands: applied, or approved with `apply_error` when the catalog "
    "price moved since the run.",
)
async def approve_recommendations(body: Decision, caller: PricingManager) -> Response:
    response = await caller.stubs.reprice.ApproveRecommendations(
        pricing_pb2.ApproveRecommendationsRequest(ids=body.ids, reason=body.reason),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return JsonResponse({"items": [recommendation_json(item) for item in response.recommendations]})


@router.post(
    "/recommendations:reject",
    response_model=DecisionResult,
    responses=problems(404),
    summary="Reject up to 1,000 recommendations (pricing manager)",
)
async def reject_recommendations(body: Decision, caller: PricingManager) -> Response:
    response = await caller.stubs.reprice.RejectRecommendations(
        pricing_pb2.RejectRecommendationsRequest(ids=body.ids, reason=body.reason),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    return JsonResponse({"items": [recommendation_json(item) for item in response.recommendations]})
