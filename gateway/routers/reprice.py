"""/v1/reprice-runs and /v1/recommendations → omnipricex.pricing.v1.RepriceService; /v1/reprice-schedules →
omnipricex.pricing.v1.ScheduleService.

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
    NewRepriceSchedule,
    Recommendation,
    RecommendationPage,
    RecommendationQuery,
    RepriceRun,
    RepriceRunPage,
    RepriceSchedule,
    RepriceSchedulePage,
    RepriceSchedulePatch,
)
from gateway.translate.common import next_cursor, page_request
from gateway.translate.pricing import (
    MODES_BY_NAME,
    RECOMMENDATION_STATES_BY_NAME,
    recommendation_json,
    run_json,
    schedule_json,
    schedule_message,
    schedule_patch_message,
    scope_message,
)
from omnipricex.pricing.v1 import pricing_pb2

router = APIRouter(prefix="/v1", tags=["reprice"], responses=PROTECTED, default_response_class=JsonResponse)
RunId = Annotated[str, Path(pattern=ID_PATTERN, description="The run's (or refit job's) id.")]
RecommendationId = Annotated[str, Path(pattern=ID_PATTERN, description="The recommendation's id.")]
ScheduleId = Annotated[str, Path(pattern=ID_PATTERN, description="The schedule's id.")]


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


def schedule_location(schedule_id: str) -> str:
    return f"/v1/reprice-schedules/{quote(schedule_id, safe='')}"


@router.post(
    "/reprice-schedules",
    response_model=RepriceSchedule,
    status_code=201,
    summary="Schedule a recurring reprice run: suggest mode (analyst), auto mode (pricing manager)",
    description="Runs start at `start_time` and every `interval_minutes` after it, in the creator's name; each "
    "shows up among the reprice runs with its `schedule_id`. The scope is checked now, as for a run.",
)
async def create_reprice_schedule(body: NewRepriceSchedule, caller: Analyst) -> Response:
    response = await caller.stubs.schedules.CreateSchedule(
        pricing_pb2.CreateScheduleRequest(schedule=schedule_message(body)),
        metadata=caller.metadata,
        timeout=caller.long_deadline,
    )
    schedule = response.schedule
    return JsonResponse(schedule_json(schedule), status_code=201, headers={"Location": schedule_location(schedule.id)})


@router.get("/reprice-schedules", response_model=RepriceSchedulePage, summary="List schedules, oldest first (viewer)")
async def list_reprice_schedules(query: Annotated[PageQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.schedules.ListSchedules(
        pricing_pb2.ListSchedulesRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [schedule_json(item) for item in response.schedules], "next_cursor": next_cursor(response.page)}
    )


@router.get(
    "/reprice-schedules/{schedule_id}",
    response_model=RepriceSchedule,
    responses=problems(404),
    summary="A schedule with its next and last run (viewer)",
)
async def get_reprice_schedule(schedule_id: ScheduleId, caller: Viewer) -> Response:
    response = await caller.stubs.schedules.GetSchedule(
        pricing_pb2.GetScheduleRequest(id=schedule_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(schedule_json(response.schedule))


@router.patch(
    "/reprice-schedules/{schedule_id}",
    response_model=RepriceSchedule,
    responses=problems(404, 409),
    summary="Pause, resume or re-time a schedule: suggest mode (analyst), auto mode (pricing manager)",
    description="JSON merge patch (RFC 7396) of `paused` and `interval_minutes`.",
)
async def update_reprice_schedule(schedule_id: ScheduleId, patch: RepriceSchedulePatch, caller: Analyst) -> Response:
    schedule, mask = schedule_patch_message(schedule_id, patch)
    response = await caller.stubs.schedules.UpdateSchedule(
        pricing_pb2.UpdateScheduleRequest(schedule=schedule, update_mask=mask),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(schedule_json(response.schedule))


@router.delete(
    "/reprice-schedules/{schedule_id}",
    status_code=204,
    response_class=Response,
    responses=problems(404),
    summary="Delete a schedule; runs it started go on: suggest mode (analyst), auto mode (pricing manager)",
)
async def delete_reprice_schedule(schedule_id: ScheduleId, caller: Analyst) -> Response:
    await caller.stubs.schedules.DeleteSchedule(
        pricing_pb2.DeleteScheduleRequest(id=schedule_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return Response(status_code=204)


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
