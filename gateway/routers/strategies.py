"""/v1/strategies and /v1/strategy-assignments → omnipricex.pricing.v1.StrategyService."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from gateway.deps import PricingManager, Viewer
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.common import PageQuery
from gateway.schemas.pricing import (
    ID_PATTERN,
    Assignment,
    AssignmentList,
    AssignmentQuery,
    NewAssignment,
    NewStrategy,
    Strategy,
    StrategyPage,
    StrategyPatch,
)
from gateway.translate.common import next_cursor, page_request
from gateway.translate.pricing import (
    LEVELS_BY_NAME,
    assignment_json,
    assignment_message,
    patch_needs_currency,
    strategy_currency,
    strategy_json,
    strategy_message,
    strategy_patch_message,
)
from omnipricex.pricing.v1 import pricing_pb2

router = APIRouter(prefix="/v1", tags=["strategies"], responses=PROTECTED, default_response_class=JsonResponse)
StrategyId = Annotated[str, Path(pattern=ID_PATTERN, description="The strategy's id.")]


@router.get("/strategies", response_model=StrategyPage, summary="List strategies by name (viewer)")
async def list_strategies(query: Annotated[PageQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.strategies.ListStrategies(
        pricing_pb2.ListStrategiesRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [strategy_json(item) for item in response.strategies], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/strategies",
    response_model=Strategy,
    status_code=201,
    responses=problems(409),
    summary="Create a strategy (pricing manager)",
    description="Percentages are decimal strings; amounts are decimal strings in the strategy's `currency`.",
)
async def create_strategy(body: NewStrategy, caller: PricingManager) -> Response:
    response = await caller.stubs.strategies.CreateStrategy(
        pricing_pb2.CreateStrategyRequest(strategy=strategy_message(body)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    strategy = response.strategy
    return JsonResponse(
        strategy_json(strategy),
        status_code=201,
        headers={"Location": f"/v1/strategies/{quote(strategy.id, safe='')}"},
    )


@router.get(
    "/strategies/{strategy_id}", response_model=Strategy, responses=problems(404), summary="Get a strategy (viewer)"
)
async def get_strategy(strategy_id: StrategyId, caller: Viewer) -> Response:
    response = await caller.stubs.strategies.GetStrategy(
        pricing_pb2.GetStrategyRequest(id=strategy_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(strategy_json(response.strategy))


@router.patch(
    "/strategies/{strategy_id}",
    response_model=Strategy,
    responses=problems(404, 409),
    summary="Change some fields of a strategy (pricing manager)",
    description="JSON merge patch (RFC 7396): only the fields present change, each replaced as a whole "
    "(`rules`, `guardrails` and `auto_apply` included). null resets `competitor_ids` (all competitors), "
    "`max_market_age_seconds` (7 days), `guardrails` (none) and `auto_apply` (off). Amounts are in "
    "`currency` when given, else in the strategy's currency.",
)
async def update_strategy(strategy_id: StrategyId, patch: StrategyPatch, caller: PricingManager) -> Response:
    currency = patch.currency
    if patch_needs_currency(patch):
        current = await caller.stubs.strategies.GetStrategy(
            pricing_pb2.GetStrategyRequest(id=strategy_id), metadata=caller.metadata, timeout=caller.deadline
        )
        currency = strategy_currency(current.strategy)
    strategy, mask = strategy_patch_message(strategy_id, patch, currency)
    response = await caller.stubs.strategies.UpdateStrategy(
        pricing_pb2.UpdateStrategyRequest(strategy=strategy, update_mask=mask),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(strategy_json(response.strategy))


@router.delete(
    "/strategies/{strategy_id}",
    status_code=204,
    response_class=Response,
    responses=problems(404),
    summary="Delete a strategy that is not assigned (pricing manager)",
)
async def delete_strategy(strategy_id: StrategyId, caller: PricingManager) -> Response:
    await caller.stubs.strategies.DeleteStrategy(
        pricing_pb2.DeleteStrategyRequest(id=strategy_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return Response(status_code=204)


@router.get(
    "/strategy-assignments",
    response_model=AssignmentList,
    summary="Every strategy assignment (viewer)",
    description="The most specific assignment prices a product: product, then brand, then category (nearest "
    "ancestor first), then the default.",
)
async def list_assignments(caller: Viewer) -> Response:
    response = await caller.stubs.strategies.ListAssignments(
        pricing_pb2.ListAssignmentsRequest(), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse({"items": [assignment_json(item) for item in response.assignments]})


@router.put(
    "/strategy-assignments",
    response_model=Assignment,
    responses=problems(404),
    summary="Assign a strategy to the default, a category, a brand or a product (pricing manager)",
    description="Creates or replaces the assignment of (level, target).",
)
async def set_assignment(body: NewAssignment, caller: PricingManager) -> Response:
    response = await caller.stubs.strategies.SetAssignment(
        pricing_pb2.SetAssignmentRequest(assignment=assignment_message(body)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(assignment_json(response.assignment))


@router.delete(
    "/strategy-assignments",
    status_code=204,
    response_class=Response,
    responses=problems(404),
    summary="Remove the assignment of (level, target) (pricing manager)",
)
async def delete_assignment(query: Annotated[AssignmentQuery, Query()], caller: PricingManager) -> Response:
    await caller.stubs.strategies.DeleteAssignment(
        pricing_pb2.DeleteAssignmentRequest(level=LEVELS_BY_NAME[query.level], target=query.target or ""),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return Response(status_code=204)
