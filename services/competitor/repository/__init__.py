"""What the competitor service needs from storage; SQLite and MongoDB engines both provide it.

An offer's track (its newest run of observations and newest usable price) is stored with the offer,
so recording observations reads and moves one record per offer, and the market read is one indexed
query on offers by sku that never touches the observation history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.competitor.domain import (
    Competitor,
    MarketEntry,
    Observation,
    Offer,
    OfferChange,
    OfferKey,
    ReviewChange,
    ReviewItem,
    ReviewState,
    Track,
    TrackChange,
)


@dataclass(frozen=True, slots=True)
class CompetitorPosition:
    """Where a page of competitors ends: competitors after this (name_key, id) come next."""

    name_key: str
    id: str


class CompetitorRepository(Protocol):
    async def get(self, organization_id: str, competitor_id: str) -> Competitor | None: ...

    async def get_many(self, organization_id: str, competitor_ids: Collection[str]) -> dict[str, Competitor]: ...

    async def find(self, organization_id: str, *, after: CompetitorPosition | None, limit: int) -> list[Competitor]:
        """Competitors ordered by name_key, then id."""
        ...

    async def create(self, competitor: Competitor) -> None:
        """AlreadyExists (field "name") when another competitor of the organisation has the same name_key."""
        ...

    async def update(self, before: Competitor, after: Competitor) -> None:
        """Conflict when the stored competitor is no longer at `before`'s revision (or is gone);
        AlreadyExists (field "name") when the new name is taken."""
        ...

    async def delete(self, organization_id: str, competitor_id: str) -> None:
        """FailedPrecondition while the competitor has offers; nothing happens when it does not exist.
        Its review items go with it."""
        ...


class OfferRepository(Protocol):
    async def get(self, organization_id: str, offer_id: str) -> Offer | None: ...

    async def get_by_keys(self, organization_id: str, keys: Collection[OfferKey]) -> dict[OfferKey, Offer]: ...

    async def get_many(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Offer]: ...

    async def find(
        self, organization_id: str, *, sku: str | None, competitor_id: str | None, after_id: str, limit: int
    ) -> list[Offer]:
        """Offers with an id greater than `after_id`, of the sku and competitor when given, ordered by id."""
        ...

    async def write(self, changes: Sequence[OfferChange]) -> None:
        """Store new and changed offers.

        A new offer (`before` None) must not exist yet (by id or by key), and a changed one must still
        be at the revision of `before`; otherwise Conflict. SQLite writes all of it or nothing; MongoDB
        (no multi-document atomicity without a replica set) may leave a prefix written on failure, and
        running the same upsert again completes it.
        """
        ...

    async def delete(self, organization_id: str, offer_id: str) -> bool:
        """Delete the offer and its observations; False when there was no such offer."""
        ...


class ObservationRepository(Protocol):
    """Observation rows belong to an offer; callers check the offer's organisation before reading them."""

    async def tracks(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Track]:
        """The track of each offer of the organisation among `offer_ids` (missing ones are left out)."""
        ...

    async def rows_in_effect(self, wanted: Collection[tuple[str, datetime]]) -> dict[tuple[str, datetime], Observation]:
        """For each (offer_id, time), the newest stored row of that offer at or before that time, if any."""
        ...

    async def write(self, organization_id: str, rows: Sequence[Observation], changes: Sequence[TrackChange]) -> None:
        """Store new rows and move tracks; Conflict when a track is no longer at its `before` revision.

        SQLite writes all of it or nothing. MongoDB stores the rows first (idempotently) and then the
        tracks, so a failure in between leaves rows no track points past, which a retry folds again.
        """
        ...

    async def find(
        self, offer_id: str, *, start: datetime | None, end: datetime | None, before: datetime | None, limit: int
    ) -> list[Observation]:
        """Rows of the offer newest first, observed in [start, end) and strictly before `before` when given."""
        ...


class MarketRepository(Protocol):
    async def for_skus(
        self, organization_id: str, skus: Collection[str], competitor_ids: Collection[str] | None
    ) -> list[MarketEntry]:
        """The offers of these skus (of these competitors when given), in no particular order."""
        ...

    async def after_sku(
        self, organization_id: str, after_sku: str, sku_limit: int, competitor_ids: Collection[str] | None
    ) -> list[MarketEntry]:
        """The offers of the first `sku_limit` skus greater than `after_sku` that have offers, ordered by sku."""
        ...


class ReviewRepository(Protocol):
    """Competitor products waiting for (or past) review, unique by id and by (competitor_id, url)."""

    async def get(self, organization_id: str, item_id: str) -> ReviewItem | None: ...

    async def get_by_keys(self, organization_id: str, keys: Collection[OfferKey]) -> dict[OfferKey, ReviewItem]: ...

    async def find(
        self,
        organization_id: str,
        *,
        competitor_id: str | None,
        state: ReviewState | None,
        after_id: str,
        limit: int,
    ) -> list[ReviewItem]:
        """Items with an id greater than `after_id`, of the competitor and in the state when given, by id."""
        ...

    async def write(self, changes: Sequence[ReviewChange]) -> None:
        """Store new and changed items, with the same promises as OfferRepository.write: a new item must not
        exist yet (by id or by key) and a changed one must still be at `before`'s revision, else Conflict."""
        ...


@dataclass(frozen=True)
class Repositories:
    competitors: CompetitorRepository
    offers: OfferRepository
    observations: ObservationRepository
    market: MarketRepository
    reviews: ReviewRepository
    close: Callable[[], Awaitable[None]]
