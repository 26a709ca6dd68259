"""gRPC entry points of ReviewService: proto messages in, the review queue, proto out."""

from __future__ import annotations

from typing import Any

import grpc

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.competitor.v1 import competitor_pb2, review_pb2, review_pb2_grpc
from runtime.auth import current_principal
from runtime.errors import InvalidArgument
from runtime.timestamps import to_timestamp
from services.competitor.domain import ReviewCandidate, ReviewItem, ReviewState
from services.competitor.review import ReviewQueue
from services.competitor.servicer import offer_message

Context = grpc.aio.ServicerContext[Any, Any]

STATE_FROM_PROTO = {number: ReviewState(number) for number in review_pb2.ReviewState.values() if number}


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    def __init__(self, queue: ReviewQueue) -> None:
        self._queue = queue

    async def ListReviewItems(
        self, request: review_pb2.ListReviewItemsRequest, context: Context
    ) -> review_pb2.ListReviewItemsResponse:
        state = None
        if request.state:
            state = STATE_FROM_PROTO.get(request.state)
            if state is None:
                raise InvalidArgument(f"unknown review state {request.state}", field="state")
        page = await self._queue.list_items(
            current_principal(),
            competitor_id=request.competitor_id,
            state=state,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return review_pb2.ListReviewItemsResponse(
            items=[review_item_message(item) for item in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def GetReviewItem(
        self, request: review_pb2.GetReviewItemRequest, context: Context
    ) -> review_pb2.GetReviewItemResponse:
        item = await self._queue.get_item(current_principal(), request.id)
        return review_pb2.GetReviewItemResponse(item=review_item_message(item))

    async def ConfirmReviewItem(
        self, request: review_pb2.ConfirmReviewItemRequest, context: Context
    ) -> review_pb2.ConfirmReviewItemResponse:
        item, offer = await self._queue.confirm(current_principal(), request.id, request.sku)
        return review_pb2.ConfirmReviewItemResponse(item=review_item_message(item), offer=offer_message(offer))

    async def RejectReviewItem(
        self, request: review_pb2.RejectReviewItemRequest, context: Context
    ) -> review_pb2.RejectReviewItemResponse:
        item = await self._queue.reject(current_principal(), request.id, request.sku)
        return review_pb2.RejectReviewItemResponse(item=review_item_message(item))


def candidate_message(candidate: ReviewCandidate) -> review_pb2.MatchCandidate:
    return review_pb2.MatchCandidate(
        sku=candidate.sku,
        confidence=candidate.confidence,
        match_method=competitor_pb2.MatchMethod.ValueType(candidate.method.value),
        title=candidate.title,
        brand=candidate.brand,
    )


def review_item_message(item: ReviewItem) -> review_pb2.ReviewItem:
    sighting = item.sighting
    message = review_pb2.ReviewItem(
        id=item.id,
        competitor_id=item.competitor_id,
        url=sighting.url,
        title=sighting.title,
        brand=sighting.brand,
        gtin=sighting.gtin,
        mpn=sighting.mpn,
        image_url=sighting.image_url,
        category_id=sighting.category_id,
        fetch_time=to_timestamp(sighting.fetch_time),
        extraction_confidence=sighting.confidence,
        quarantined=sighting.quarantined,
        quarantine_reason=sighting.quarantine_reason,
        source_id=item.source_id,
        crawl_job_id=item.crawl_job_id,
        state=review_pb2.ReviewState.ValueType(item.state.value),
        candidates=[candidate_message(candidate) for candidate in item.candidates],
        rejected_skus=item.rejected_skus,
        sku=item.sku,
        offer_id=item.offer_id,
        create_time=to_timestamp(item.create_time),
        update_time=to_timestamp(item.update_time),
    )
    if sighting.price is not None:
        message.price.CopyFrom(
            money_pb2.Money(amount_minor=sighting.price.amount_minor, currency=sighting.price.currency)
        )
    if sighting.in_stock is not None:
        message.in_stock = sighting.in_stock
    if sighting.extraction_method is not None:
        message.extraction_method = competitor_pb2.ExtractionMethod.ValueType(sighting.extraction_method.value)
    return message
