"""Competitors, offers, observations and market prices: REST JSON ⇄ omnipricex.competitor.v1 messages."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from google.protobuf.field_mask_pb2 import FieldMask

from gateway.schemas.competitors import CompetitorPatch, NewCompetitor, NewObservation, NewOffer
from gateway.translate.common import amount, money_message, rfc3339
from omnipricex.competitor.v1 import competitor_pb2 as pb
from runtime.timestamps import to_timestamp

MATCH_NAMES: dict[pb.MatchMethod.ValueType, str] = {
    pb.MATCH_METHOD_MANUAL: "manual",
    pb.MATCH_METHOD_GTIN: "gtin",
    pb.MATCH_METHOD_BRAND_MPN: "brand_mpn",
    pb.MATCH_METHOD_FUZZY: "fuzzy",
}
MATCH_BY_NAME = {name: value for value, name in MATCH_NAMES.items()}
EXTRACTION_NAMES: dict[pb.ExtractionMethod.ValueType, str] = {
    pb.EXTRACTION_METHOD_IMPORT: "import",
    pb.EXTRACTION_METHOD_JSON_LD: "json_ld",
    pb.EXTRACTION_METHOD_MICRODATA: "microdata",
    pb.EXTRACTION_METHOD_RDFA: "rdfa",
    pb.EXTRACTION_METHOD_OPENGRAPH: "opengraph",
    pb.EXTRACTION_METHOD_SELECTOR: "selector",
    pb.EXTRACTION_METHOD_HEURISTIC: "heuristic",
}
EXTRACTION_BY_NAME = {name: value for value, name in EXTRACTION_NAMES.items()}
_COMPETITOR_PATHS = ("name", "website", "default_currency")


def competitor_json(competitor: pb.Competitor) -> dict[str, Any]:
    return {
        "id": competitor.id,
        "name": competitor.name,
        "website": competitor.website or None,
        "default_currency": competitor.default_currency,
        "create_time": rfc3339(competitor.create_time),
        "update_time": rfc3339(competitor.update_time),
    }


def competitor_message(body: NewCompetitor) -> pb.Competitor:
    return pb.Competitor(name=body.name, website=body.website or "", default_currency=body.default_currency)


def competitor_patch_message(competitor_id: str, patch: CompetitorPatch) -> tuple[pb.Competitor, FieldMask]:
    """The fields named by the merge patch, and the field mask made of exactly those keys."""
    fields = patch.model_fields_set
    message = pb.Competitor(
        id=competitor_id,
        name=patch.name or "",
        website=patch.website or "",
        default_currency=patch.default_currency or "",
    )
    return message, FieldMask(paths=[name for name in _COMPETITOR_PATHS if name in fields])


def offer_json(offer: pb.Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "competitor_id": offer.competitor_id,
        "sku": offer.sku,
        "url": offer.url,
        "title": offer.title,
        "match_method": MATCH_NAMES[offer.match_method],
        "match_confidence": offer.match_confidence,
        "create_time": rfc3339(offer.create_time),
        "update_time": rfc3339(offer.update_time),
    }


def offer_message(body: NewOffer) -> pb.Offer:
    return pb.Offer(
        competitor_id=body.competitor_id,
        url=body.url,
        sku=body.sku,
        title=body.title,
        match_method=MATCH_BY_NAME[body.match_method] if body.match_method else pb.MATCH_METHOD_UNSPECIFIED,
        match_confidence=body.match_confidence or 0.0,
    )


def observation_json(observation: pb.Observation) -> dict[str, Any]:
    return {
        "offer_id": observation.offer_id,
        "observe_time": rfc3339(observation.observe_time),
        "price": amount(observation.price),
        "currency": observation.price.currency,
        "in_stock": observation.in_stock,
        "extraction_method": EXTRACTION_NAMES[observation.extraction_method],
        "confidence": observation.confidence,
        "quarantined": observation.quarantined,
        "quarantine_reason": observation.quarantine_reason or None,
    }


def observation_messages(rows: list[NewObservation]) -> list[pb.Observation]:
    """Every row translated, or one refusal listing every row whose price does not fit its currency."""
    messages: list[pb.Observation] = []
    errors: list[Any] = []
    for index, row in enumerate(rows):
        try:
            price = money_message(row.price, row.currency, "body", "observations", index, "price")
        except RequestValidationError as error:
            errors.extend(error.errors())
            continue
        messages.append(
            pb.Observation(
                offer_id=row.offer_id,
                observe_time=to_timestamp(row.observe_time),
                price=price,
                in_stock=row.in_stock,
                extraction_method=EXTRACTION_BY_NAME[row.extraction_method]
                if row.extraction_method
                else pb.EXTRACTION_METHOD_UNSPECIFIED,
                confidence=row.confidence or 0.0,
                quarantined=row.quarantined,
                quarantine_reason=row.quarantine_reason,
            )
        )
    if errors:
        raise RequestValidationError(errors)
    return messages


def sku_market_json(market: pb.SkuMarket) -> dict[str, Any]:
    return {
        "sku": market.sku,
        "prices": [
            {
                "competitor_id": price.competitor_id,
                "offer_id": price.offer_id,
                "price": amount(price.price),
                "currency": price.price.currency,
                "in_stock": price.in_stock,
                "observe_time": rfc3339(price.observe_time),
                "age_seconds": price.age_seconds,
            }
            for price in market.prices
        ],
    }
