"""The review queue: people confirm or reject the catalog skus matching proposed for competitor products.

Roles: reading needs VIEWER; confirming and rejecting need ANALYST, as matching is data work analysts
do (a confirmed match only says which of our products a competitor page sells; it changes no price).

Confirming links the product to a sku (a candidate or any active sku): its offer is created, or re-linked
if one exists, as a manual match with confidence 1, and the product's last seen price is recorded. The
item is written first and the offer second, so a confirm interrupted in between is completed by repeating
it (confirming is idempotent). Rejecting one sku remembers the pair, so it is never proposed again;
rejecting the whole product keeps it out of the queue for good (a person may still confirm it later).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from runtime.auth import Principal, Role
from runtime.clock import utcnow
from runtime.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from runtime.ids import new_id
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.competitor import domain
from services.competitor.catalog import CatalogReader
from services.competitor.domain import (
    MatchMethod,
    Offer,
    OfferChange,
    OfferContent,
    ReviewChange,
    ReviewItem,
    ReviewState,
)
from services.competitor.market_events import MarketEventSink
from services.competitor.repository import Repositories
from services.competitor.use_cases import MILLISECOND, WRITE_ATTEMPTS, ObservationLog

READ_ROLE = Role.VIEWER
DECIDE_ROLE = Role.ANALYST
SOURCE = "ConfirmReviewItem"


class ReviewQueue:
    def __init__(
        self,
        repositories: Repositories,
        catalog: CatalogReader,
        events: MarketEventSink | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        offer_ids: Callable[[], str] = lambda: new_id(domain.OFFER_ID_PREFIX),
    ) -> None:
        self._reviews = repositories.reviews
        self._offers = repositories.offers
        self._catalog = catalog
        self._log = ObservationLog(repositories, clock=clock, events=events)
        self._clock = clock
        self._offer_ids = offer_ids

    async def list_items(
        self,
        principal: Principal,
        *,
        competitor_id: str,
        state: ReviewState | None,
        page_size_requested: int,
        page_token: str,
    ) -> Page[ReviewItem]:
        """Items by id (oldest first), of one competitor and in one state when given."""
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        wanted = domain.validate_competitor_id(competitor_id, field="competitor_id") if competitor_id else None
        current = [competitor_id, 0 if state is None else int(state)]
        position = decode_token(page_token)
        if position and (position.get("f") != current or not isinstance(position.get("after"), str)):
            raise InvalidArgument("page_token was issued for a different filter", field="page_token")
        items = await self._reviews.find(
            principal.organization_id,
            competitor_id=wanted,
            state=state,
            after_id=str(position.get("after", "")),
            limit=limit + 1,
        )
        if len(items) <= limit:
            return Page(items, "")
        page = items[:limit]
        return Page(page, encode_token({"after": page[-1].id, "f": current}))

    async def get_item(self, principal: Principal, item_id: str) -> ReviewItem:
        principal.require(READ_ROLE)
        return await self._get(principal, item_id)

    async def confirm(self, principal: Principal, item_id: str, sku: str) -> tuple[ReviewItem, Offer]:
        principal.require(DECIDE_ROLE)
        domain.validate_review_id(item_id)
        domain.validate_sku(sku)
        products = await self._catalog.get_many(principal, [sku])
        if sku not in products:
            raise NotFound(f"product {sku!r} does not exist or is not active", field="sku")
        for _ in range(WRITE_ATTEMPTS):
            item = await self._get(principal, item_id)
            existing = (await self._offers.get_by_keys(principal.organization_id, [item.key])).get(item.key)
            now = domain.to_millisecond(self._clock())
            if now <= item.update_time:
                now = item.update_time + MILLISECOND
            content = OfferContent(sku, item.sighting.title, MatchMethod.MANUAL, 1.0)
            if existing is None:
                offer = domain.new_offer(principal.organization_id, self._offer_ids(), item.key, content, now=now)
            else:
                offer = domain.upserted_offer(existing, content, now=max(now, existing.update_time + MILLISECOND))
            after = domain.matched_item(item, None, sku=sku, offer_id=offer.id, now=now)
            try:
                if after is not item:
                    await self._reviews.write([ReviewChange(item, after)])
                if offer is not existing:
                    await self._offers.write([OfferChange(existing, offer)])
            except Conflict:
                continue
            draft = domain.sighting_observation(offer.id, item.sighting)
            if draft is not None:
                recorded = await self._log.record_for(
                    principal, [(0, draft)], {0: item.sighting.url}, offers={offer.id: offer}, source=SOURCE
                )
                if recorded.errors:
                    raise FailedPrecondition(
                        f"the offer is linked, but its last seen price was not recorded: {recorded.errors[0].message}",
                        field="id",
                    )
            return after, offer
        raise Conflict(f"review item {item_id!r} is being changed by others right now; try again")

    async def reject(self, principal: Principal, item_id: str, sku: str) -> ReviewItem:
        """Reject `sku` for the item's product, or the whole product when `sku` is empty."""
        principal.require(DECIDE_ROLE)
        domain.validate_review_id(item_id)
        if sku:
            domain.validate_sku(sku)
        for _ in range(WRITE_ATTEMPTS):
            item = await self._get(principal, item_id)
            if item.state is ReviewState.MATCHED:
                offers = await self._offers.get_by_keys(principal.organization_id, [item.key])
                offer = offers.get(item.key)
                if offer is not None:
                    raise FailedPrecondition(
                        f"this product is matched to sku {offer.sku!r} by offer {offer.id!r}; delete that offer "
                        "first to undo the match",
                        field="id",
                    )
            now = domain.to_millisecond(self._clock())
            if now <= item.update_time:
                now = item.update_time + MILLISECOND
            after = domain.rejected_item(item, sku, now=now)
            if after is item:
                return item
            try:
                await self._reviews.write([ReviewChange(item, after)])
            except Conflict:
                continue
            return after
        raise Conflict(f"review item {item_id!r} is being changed by others right now; try again")

    async def _get(self, principal: Principal, item_id: str) -> ReviewItem:
        domain.validate_review_id(item_id)
        item = await self._reviews.get(principal.organization_id, item_id)
        if item is None:
            raise NotFound(f"review item {item_id!r} does not exist", field="id")
        return item
