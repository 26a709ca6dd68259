"""/v1/review-items → omnipricex.competitor.v1.ReviewService: the queue of competitor products to match.

Reading needs the viewer role; confirming and rejecting need the analyst role (matching is data work: it
says which of our products a competitor page sells and changes no price).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from gateway.deps import Analyst, Viewer
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.matching import ConfirmBody, ConfirmResult, RejectBody, ReviewItem, ReviewItemPage, ReviewQuery
from gateway.translate.common import next_cursor, page_request
from gateway.translate.competitors import offer_json
from gateway.translate.matching import STATE_BY_NAME, review_item_json
from omnipricex.competitor.v1 import review_pb2 as pb

router = APIRouter(prefix="/v1", tags=["matching"], responses=PROTECTED, default_response_class=JsonResponse)
ReviewItemId = Annotated[str, Path(min_length=1, max_length=64, description="The review item's id.")]


@router.get(
    "/review-items",
    response_model=ReviewItemPage,
    summary="List competitor products waiting for (or past) review, oldest first (viewer)",
    description="`state=pending` is the review queue: products with candidate skus a person should confirm or reject.",
)
async def list_review_items(query: Annotated[ReviewQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.reviews.ListReviewItems(
        pb.ListReviewItemsRequest(
            competitor_id=query.competitor_id or "",
            state=STATE_BY_NAME[query.state] if query.state else pb.REVIEW_STATE_UNSPECIFIED,
            page=page_request(query.limit, query.cursor),
        ),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [review_item_json(item) for item in response.items], "next_cursor": next_cursor(response.page)}
    )


@router.get(
    "/review-items/{item_id}", response_model=ReviewItem, responses=problems(404), summary="Get a review item (viewer)"
)
async def get_review_item(item_id: ReviewItemId, caller: Viewer) -> Response:
    response = await caller.stubs.reviews.GetReviewItem(
        pb.GetReviewItemRequest(id=item_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(review_item_json(response.item))


@router.post(
    "/review-items/{item_id}:confirm",
    response_model=ConfirmResult,
    responses=problems(404),
    summary="Link the product to one of our skus (analyst)",
    description="Creates the product's offer (or re-links it) as a manual match with confidence 1 and records its "
    "last seen price. The sku may be any active sku, not only a candidate. Confirming again changes nothing.",
)
async def confirm_review_item(item_id: ReviewItemId, body: ConfirmBody, caller: Analyst) -> Response:
    response = await caller.stubs.reviews.ConfirmReviewItem(
        pb.ConfirmReviewItemRequest(id=item_id, sku=body.sku), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse({"item": review_item_json(response.item), "offer": offer_json(response.offer)})


@router.post(
    "/review-items/{item_id}:reject",
    response_model=ReviewItem,
    responses=problems(404),
    summary="Reject one candidate sku, or the whole product (analyst)",
    description="Remembered: a rejected sku is never proposed for this product again, a product left without "
    "candidates is not queued again, and a product rejected as a whole stays out of the queue. Refused (400) "
    "while the product is linked to an offer: delete the offer first.",
)
async def reject_review_item(
    item_id: ReviewItemId, caller: Analyst, body: Annotated[RejectBody | None, Body()] = None
) -> Response:
    sku = body.sku if body is not None and body.sku else ""
    response = await caller.stubs.reviews.RejectReviewItem(
        pb.RejectReviewItemRequest(id=item_id, sku=sku), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(review_item_json(response.item))
