"""The review queue: omnipricex.competitor.v1 ReviewService messages → REST JSON."""

from __future__ import annotations

from typing import Any

from gateway.translate.common import amount, rfc3339
from gateway.translate.competitors import EXTRACTION_NAMES, MATCH_NAMES
from omnipricex.competitor.v1 import review_pb2 as pb

STATE_NAMES: dict[pb.ReviewState.ValueType, str] = {
    pb.REVIEW_STATE_PENDING: "pending",
    pb.REVIEW_STATE_UNMATCHED: "unmatched",
    pb.REVIEW_STATE_MATCHED: "matched",
    pb.REVIEW_STATE_REJECTED: "rejected",
}
STATE_BY_NAME = {name: value for value, name in STATE_NAMES.items()}


def candidate_json(candidate: pb.MatchCandidate) -> dict[str, Any]:
    return {
        "sku": candidate.sku,
        "confidence": candidate.confidence,
        "match_method": MATCH_NAMES[candidate.match_method],
        "title": candidate.title,
        "brand": candidate.brand or None,
    }


def review_item_json(item: pb.ReviewItem) -> dict[str, Any]:
    priced = item.HasField("price")
    return {
        "id": item.id,
        "competitor_id": item.competitor_id,
        "url": item.url,
        "title": item.title,
        "brand": item.brand or None,
        "gtin": item.gtin or None,
        "mpn": item.mpn or None,
        "image_url": item.image_url or None,
        "category_id": item.category_id or None,
        "price": amount(item.price) if priced else None,
        "currency": item.price.currency if priced else None,
        "in_stock": item.in_stock if item.HasField("in_stock") else None,
        "fetch_time": rfc3339(item.fetch_time),
        "extraction_method": EXTRACTION_NAMES.get(item.extraction_method),
        "extraction_confidence": item.extraction_confidence,
        "quarantined": item.quarantined,
        "quarantine_reason": item.quarantine_reason or None,
        "source_id": item.source_id or None,
        "crawl_job_id": item.crawl_job_id or None,
        "state": STATE_NAMES[item.state],
        "candidates": [candidate_json(candidate) for candidate in item.candidates],
        "rejected_skus": list(item.rejected_skus),
        "sku": item.sku or None,
        "offer_id": item.offer_id or None,
        "create_time": rfc3339(item.create_time),
        "update_time": rfc3339(item.update_time),
    }
