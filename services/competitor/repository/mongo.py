"""The competitor service's data in MongoDB: collections competitors, offers (tracks embedded), observations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from runtime.errors import AlreadyExists, Conflict, FailedPrecondition
from runtime.money import Money
from runtime.storage.mongo import Document, MongoDatabase
from runtime.storage.mongo import ensure_indexes as create_indexes
from services.competitor.domain import (
    Competitor,
    ExtractionMethod,
    MarketEntry,
    MatchMethod,
    Observation,
    Offer,
    OfferChange,
    OfferKey,
    ReviewCandidate,
    ReviewChange,
    ReviewItem,
    ReviewState,
    Run,
    Sighting,
    Track,
    TrackChange,
    UsablePrice,
)
from services.competitor.repository import CompetitorPosition, Repositories

INDEXES: dict[str, list[IndexModel]] = {
    "competitors": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="competitors_by_id"),
        IndexModel([("organization_id", ASCENDING), ("name_key", ASCENDING)], unique=True, name="competitors_by_name"),
    ],
    "offers": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="offers_by_id"),
        IndexModel(
            [("organization_id", ASCENDING), ("competitor_id", ASCENDING), ("url", ASCENDING)],
            unique=True,
            name="offers_by_key",
        ),
        IndexModel([("organization_id", ASCENDING), ("sku", ASCENDING), ("id", ASCENDING)], name="offers_by_sku"),
        IndexModel(
            [("organization_id", ASCENDING), ("competitor_id", ASCENDING), ("id", ASCENDING)],
            name="offers_by_competitor",
        ),
    ],
    "observations": [
        IndexModel([("offer_id", ASCENDING), ("observe_time", DESCENDING)], unique=True, name="observations_by_key"),
    ],
    "review_items": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="review_items_by_id"),
        IndexModel(
            [("organization_id", ASCENDING), ("competitor_id", ASCENDING), ("url", ASCENDING)],
            unique=True,
            name="review_items_by_key",
        ),
        IndexModel(
            [("organization_id", ASCENDING), ("state", ASCENDING), ("id", ASCENDING)], name="review_items_by_state"
        ),
        IndexModel(
            [("organization_id", ASCENDING), ("competitor_id", ASCENDING), ("state", ASCENDING), ("id", ASCENDING)],
            name="review_items_by_competitor",
        ),
    ],
}

_NO_ID = {"_id": False}
_DUPLICATE_KEY = 11000
# What the market read needs of an offer: never its history, never its run.
_MARKET_FIELDS = {"_id": False, "sku": True, "competitor_id": True, "id": True, "track.usable": True}
_TRACK_FIELDS = {"_id": False, "id": True, "competitor_id": True, "track": True}
DocumentCollection = AsyncCollection[Document]


async def ensure_indexes(database: MongoDatabase) -> None:
    """Create the unique and query indexes the competitor service relies on; run at every start."""
    await create_indexes(database, INDEXES)


class MongoCompetitorRepository:
    def __init__(
        self, competitors: DocumentCollection, offers: DocumentCollection, reviews: DocumentCollection
    ) -> None:
        self._competitors = competitors
        self._offers = offers
        self._reviews = reviews

    async def get(self, organization_id: str, competitor_id: str) -> Competitor | None:
        document = await self._competitors.find_one({"organization_id": organization_id, "id": competitor_id}, _NO_ID)
        return None if document is None else _competitor(document)

    async def get_many(self, organization_id: str, competitor_ids: Collection[str]) -> dict[str, Competitor]:
        if not competitor_ids:
            return {}
        cursor = self._competitors.find(
            {"organization_id": organization_id, "id": {"$in": list(competitor_ids)}}, _NO_ID
        )
        return {competitor.id: competitor for competitor in map(_competitor, await cursor.to_list(None))}

    async def find(self, organization_id: str, *, after: CompetitorPosition | None, limit: int) -> list[Competitor]:
        selector: Document = {"organization_id": organization_id}
        if after is not None:
            selector["$or"] = [
                {"name_key": {"$gt": after.name_key}},
                {"name_key": after.name_key, "id": {"$gt": after.id}},
            ]
        cursor = self._competitors.find(selector, _NO_ID).sort([("name_key", ASCENDING), ("id", ASCENDING)])
        return [_competitor(document) for document in await cursor.limit(limit).to_list(None)]

    async def create(self, competitor: Competitor) -> None:
        try:
            await self._competitors.insert_one(_competitor_document(competitor))
        except DuplicateKeyError as error:
            raise _taken(error, competitor) from None

    async def update(self, before: Competitor, after: Competitor) -> None:
        try:
            result = await self._competitors.update_one(
                {"organization_id": before.organization_id, "id": before.id, "revision": before.revision},
                {
                    "$set": {
                        "name": after.name,
                        "name_key": after.name_key,
                        "website": after.website,
                        "default_currency": after.default_currency,
                        "revision": after.revision,
                        "update_time": after.update_time,
                    }
                },
            )
        except DuplicateKeyError:
            # The id never changes, so the name is the only unique key an update can collide on.
            raise _name_taken(after) from None
        if result.matched_count != 1:
            raise Conflict(f"competitor {after.id!r} was changed or deleted concurrently")

    async def delete(self, organization_id: str, competitor_id: str) -> None:
        offer = await self._offers.find_one(
            {"organization_id": organization_id, "competitor_id": competitor_id}, {"_id": True}
        )
        if offer is not None:
            raise FailedPrecondition(f"competitor {competitor_id!r} still has offers; delete them first", field="id")
        await self._competitors.delete_one({"organization_id": organization_id, "id": competitor_id})
        await self._reviews.delete_many({"organization_id": organization_id, "competitor_id": competitor_id})


def _taken(error: DuplicateKeyError, competitor: Competitor) -> Exception:
    key_pattern = (error.details or {}).get("keyPattern") or {}
    if "name_key" in key_pattern:
        return _name_taken(competitor)
    return Conflict(f"competitor {competitor.id!r} already exists")


def _name_taken(competitor: Competitor) -> AlreadyExists:
    return AlreadyExists(f"a competitor is already named {competitor.name!r}", field="name")


class MongoOfferRepository:
    def __init__(self, offers: DocumentCollection, observations: DocumentCollection) -> None:
        self._offers = offers
        self._observations = observations

    async def get(self, organization_id: str, offer_id: str) -> Offer | None:
        document = await self._offers.find_one({"organization_id": organization_id, "id": offer_id}, _NO_ID)
        return None if document is None else _offer(document)

    async def get_by_keys(self, organization_id: str, keys: Collection[OfferKey]) -> dict[OfferKey, Offer]:
        if not keys:
            return {}
        by_competitor: dict[str, list[str]] = {}
        for competitor_id, url in keys:
            by_competitor.setdefault(competitor_id, []).append(url)
        selector: Document = {
            "organization_id": organization_id,
            "$or": [{"competitor_id": cid, "url": {"$in": urls}} for cid, urls in by_competitor.items()],
        }
        cursor = self._offers.find(selector, _NO_ID)
        return {offer.key: offer for offer in map(_offer, await cursor.to_list(None))}

    async def get_many(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Offer]:
        if not offer_ids:
            return {}
        cursor = self._offers.find({"organization_id": organization_id, "id": {"$in": list(offer_ids)}}, _NO_ID)
        return {offer.id: offer for offer in map(_offer, await cursor.to_list(None))}

    async def find(
        self, organization_id: str, *, sku: str | None, competitor_id: str | None, after_id: str, limit: int
    ) -> list[Offer]:
        selector: Document = {"organization_id": organization_id, "id": {"$gt": after_id}}
        if sku is not None:
            selector["sku"] = sku
        if competitor_id is not None:
            selector["competitor_id"] = competitor_id
        cursor = self._offers.find(selector, _NO_ID).sort("id", ASCENDING).limit(limit)
        return [_offer(document) for document in await cursor.to_list(None)]

    async def write(self, changes: Sequence[OfferChange]) -> None:
        operations = []
        inserts = 0
        for change in changes:
            after = change.after
            if change.before is None:
                inserts += 1
                operations.append(
                    UpdateOne(
                        {
                            "organization_id": after.organization_id,
                            "competitor_id": after.competitor_id,
                            "url": after.url,
                        },
                        {"$setOnInsert": _offer_document(after)},
                        upsert=True,
                    )
                )
            else:
                before = change.before
                operations.append(
                    UpdateOne(
                        {"organization_id": before.organization_id, "id": before.id, "revision": before.revision},
                        {"$set": _offer_fields(after)},
                    )
                )
        if not operations:
            return
        try:
            result = await self._offers.bulk_write(operations, ordered=True)
        except BulkWriteError:
            raise Conflict("an offer was created or changed concurrently") from None
        if result.upserted_count != inserts or result.matched_count != len(operations) - inserts:
            raise Conflict("an offer was created or changed concurrently")

    async def delete(self, organization_id: str, offer_id: str) -> bool:
        # The offer first: rows left by a failure in between belong to no offer, so nothing reads them.
        result = await self._offers.delete_one({"organization_id": organization_id, "id": offer_id})
        if result.deleted_count == 0:
            return False
        await self._observations.delete_many({"offer_id": offer_id})
        return True


class MongoObservationRepository:
    def __init__(self, offers: DocumentCollection, observations: DocumentCollection) -> None:
        self._offers = offers
        self._observations = observations

    async def tracks(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Track]:
        if not offer_ids:
            return {}
        cursor = self._offers.find({"organization_id": organization_id, "id": {"$in": list(offer_ids)}}, _TRACK_FIELDS)
        return {document["id"]: _track(document) for document in await cursor.to_list(None)}

    async def rows_in_effect(self, wanted: Collection[tuple[str, datetime]]) -> dict[tuple[str, datetime], Observation]:
        found: dict[tuple[str, datetime], Observation] = {}
        for offer_id, moment in wanted:
            document = await self._observations.find_one(
                {"offer_id": offer_id, "observe_time": {"$lte": moment}},
                _NO_ID,
                sort=[("observe_time", DESCENDING)],
            )
            if document is not None:
                found[offer_id, moment] = _observation(document)
        return found

    async def write(self, organization_id: str, rows: Sequence[Observation], changes: Sequence[TrackChange]) -> None:
        if rows:
            try:
                await self._observations.insert_many([_observation_document(row) for row in rows], ordered=False)
            except BulkWriteError as error:
                # Rows of an earlier attempt that failed before moving its tracks: they are the same rows.
                if any(item.get("code") != _DUPLICATE_KEY for item in error.details.get("writeErrors", [])):
                    raise
        if not changes:
            return
        operations = [
            UpdateOne(
                {
                    "organization_id": organization_id,
                    "id": change.after.offer_id,
                    "track.revision": change.before.revision,
                },
                {"$set": {"track": _track_document(change.after)}},
            )
            for change in changes
        ]
        result = await self._offers.bulk_write(operations, ordered=False)
        if result.matched_count != len(operations):
            raise Conflict("observations of an offer were recorded concurrently, or the offer was deleted")

    async def find(
        self, offer_id: str, *, start: datetime | None, end: datetime | None, before: datetime | None, limit: int
    ) -> list[Observation]:
        bounds: Document = {}
        if start is not None:
            bounds["$gte"] = start
        upper = min((bound for bound in (end, before) if bound is not None), default=None)
        if upper is not None:
            bounds["$lt"] = upper
        selector: Document = {"offer_id": offer_id}
        if bounds:
            selector["observe_time"] = bounds
        cursor = self._observations.find(selector, _NO_ID).sort("observe_time", DESCENDING).limit(limit)
        return [_observation(document) for document in await cursor.to_list(None)]


class MongoMarketRepository:
    def __init__(self, offers: DocumentCollection) -> None:
        self._offers = offers

    async def for_skus(
        self, organization_id: str, skus: Collection[str], competitor_ids: Collection[str] | None
    ) -> list[MarketEntry]:
        if not skus:
            return []
        selector = _market_selector(organization_id, {"$in": list(skus)}, competitor_ids)
        cursor = self._offers.find(selector, _MARKET_FIELDS)
        return [_market_entry(document) for document in await cursor.to_list(None)]

    async def after_sku(
        self, organization_id: str, after_sku: str, sku_limit: int, competitor_ids: Collection[str] | None
    ) -> list[MarketEntry]:
        selector = _market_selector(organization_id, {"$gt": after_sku}, competitor_ids)
        cursor = self._offers.find(selector, _MARKET_FIELDS).sort([("sku", ASCENDING), ("id", ASCENDING)])
        entries: list[MarketEntry] = []
        skus = 0
        last = None
        try:
            async for document in cursor:
                if document["sku"] != last:
                    skus += 1
                    if skus > sku_limit:
                        break
                    last = document["sku"]
                entries.append(_market_entry(document))
        finally:
            await cursor.close()
        return entries


class MongoReviewRepository:
    def __init__(self, reviews: DocumentCollection) -> None:
        self._reviews = reviews

    async def get(self, organization_id: str, item_id: str) -> ReviewItem | None:
        document = await self._reviews.find_one({"organization_id": organization_id, "id": item_id}, _NO_ID)
        return None if document is None else _review_item(document)

    async def get_by_keys(self, organization_id: str, keys: Collection[OfferKey]) -> dict[OfferKey, ReviewItem]:
        if not keys:
            return {}
        by_competitor: dict[str, list[str]] = {}
        for competitor_id, url in keys:
            by_competitor.setdefault(competitor_id, []).append(url)
        selector: Document = {
            "organization_id": organization_id,
            "$or": [{"competitor_id": cid, "url": {"$in": urls}} for cid, urls in by_competitor.items()],
        }
        cursor = self._reviews.find(selector, _NO_ID)
        return {item.key: item for item in map(_review_item, await cursor.to_list(None))}

    async def find(
        self,
        organization_id: str,
        *,
        competitor_id: str | None,
        state: ReviewState | None,
        after_id: str,
        limit: int,
    ) -> list[ReviewItem]:
        selector: Document = {"organization_id": organization_id, "id": {"$gt": after_id}}
        if competitor_id is not None:
            selector["competitor_id"] = competitor_id
        if state is not None:
            selector["state"] = int(state)
        cursor = self._reviews.find(selector, _NO_ID).sort("id", ASCENDING).limit(limit)
        return [_review_item(document) for document in await cursor.to_list(None)]

    async def write(self, changes: Sequence[ReviewChange]) -> None:
        operations = []
        inserts = 0
        for change in changes:
            after = change.after
            if change.before is None:
                inserts += 1
                operations.append(
                    UpdateOne(
                        {
                            "organization_id": after.organization_id,
                            "competitor_id": after.competitor_id,
                            "url": after.sighting.url,
                        },
                        {"$setOnInsert": _review_document(after)},
                        upsert=True,
                    )
                )
            else:
                before = change.before
                operations.append(
                    UpdateOne(
                        {"organization_id": before.organization_id, "id": before.id, "revision": before.revision},
                        {"$set": _review_fields(after)},
                    )
                )
        if not operations:
            return
        try:
            result = await self._reviews.bulk_write(operations, ordered=True)
        except BulkWriteError:
            raise Conflict("a review item was created or changed concurrently") from None
        if result.upserted_count != inserts or result.matched_count != len(operations) - inserts:
            raise Conflict("a review item was created or changed concurrently")


def _market_selector(organization_id: str, sku: Document, competitor_ids: Collection[str] | None) -> Document:
    selector: Document = {"organization_id": organization_id, "sku": sku}
    if competitor_ids is not None:
        selector["competitor_id"] = {"$in": list(competitor_ids)}
    return selector


async def open_mongo_repositories(
    database: MongoDatabase, *, close: Callable[[], Awaitable[None]] | None = None
) -> Repositories:
    """Repositories over `database`, with its indexes ensured; `close` releases the client, if owned."""
    await ensure_indexes(database)
    competitors, offers, observations = database["competitors"], database["offers"], database["observations"]
    reviews = database["review_items"]

    async def nothing_to_close() -> None:
        return None

    return Repositories(
        competitors=MongoCompetitorRepository(competitors, offers, reviews),
        offers=MongoOfferRepository(offers, observations),
        observations=MongoObservationRepository(offers, observations),
        market=MongoMarketRepository(offers),
        reviews=MongoReviewRepository(reviews),
        close=close or nothing_to_close,
    )


# --- documents ------------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    # The client is tz_aware; this only swaps bson's UTC zone object for the one the domain uses.
    return value.astimezone(UTC)


def _competitor_document(competitor: Competitor) -> Document:
    return {
        "organization_id": competitor.organization_id,
        "id": competitor.id,
        "name": competitor.name,
        "name_key": competitor.name_key,
        "website": competitor.website,
        "default_currency": competitor.default_currency,
        "revision": competitor.revision,
        "create_time": competitor.create_time,
        "update_time": competitor.update_time,
    }


def _competitor(document: Document) -> Competitor:
    return Competitor(
        organization_id=document["organization_id"],
        id=document["id"],
        name=document["name"],
        website=document["website"],
        default_currency=document["default_currency"],
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        update_time=_aware(document["update_time"]),
    )


def _offer_fields(offer: Offer) -> Document:
    """The fields an upsert may change."""
    return {
        "sku": offer.sku,
        "title": offer.title,
        "match_method": int(offer.match_method),
        "match_confidence": offer.match_confidence,
        "revision": offer.revision,
        "update_time": offer.update_time,
    }


def _offer_document(offer: Offer) -> Document:
    return {
        "organization_id": offer.organization_id,
        "id": offer.id,
        "competitor_id": offer.competitor_id,
        "url": offer.url,
        **_offer_fields(offer),
        "create_time": offer.create_time,
        "track": {"run": None, "usable": None, "revision": 0},
    }


def _offer(document: Document) -> Offer:
    return Offer(
        organization_id=document["organization_id"],
        id=document["id"],
        competitor_id=document["competitor_id"],
        url=document["url"],
        sku=document["sku"],
        title=document["title"],
        match_method=MatchMethod(document["match_method"]),
        match_confidence=document["match_confidence"],
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        update_time=_aware(document["update_time"]),
    )


def _observation_document(observation: Observation) -> Document:
    return {
        "offer_id": observation.offer_id,
        "observe_time": observation.observe_time,
        "currency": observation.price.currency,
        "price_minor": observation.price.amount_minor,
        "in_stock": observation.in_stock,
        "extraction_method": int(observation.extraction_method),
        "confidence": observation.confidence,
        "quarantined": observation.quarantined,
        "quarantine_reason": observation.quarantine_reason,
    }


def _observation(document: Document) -> Observation:
    return Observation(
        offer_id=document["offer_id"],
        observe_time=_aware(document["observe_time"]),
        price=Money(document["price_minor"], document["currency"]),
        in_stock=document["in_stock"],
        extraction_method=ExtractionMethod(document["extraction_method"]),
        confidence=document["confidence"],
        quarantined=document["quarantined"],
        quarantine_reason=document["quarantine_reason"],
    )


def _usable_document(usable: UsablePrice | None) -> Document | None:
    if usable is None:
        return None
    return {
        "currency": usable.price.currency,
        "price_minor": usable.price.amount_minor,
        "in_stock": usable.in_stock,
        "seen_time": usable.seen_time,
    }


def _usable(document: Document | None) -> UsablePrice | None:
    if document is None:
        return None
    return UsablePrice(
        Money(document["price_minor"], document["currency"]), document["in_stock"], _aware(document["seen_time"])
    )


def _track_document(track: Track) -> Document:
    run = None
    if track.run is not None:
        run = {"first": _observation_document(track.run.first), "last_seen": track.run.last_seen}
    return {"run": run, "usable": _usable_document(track.usable), "revision": track.revision}


def _track(document: Document) -> Track:
    track = document["track"]
    run = track["run"]
    return Track(
        offer_id=document["id"],
        competitor_id=document["competitor_id"],
        run=None if run is None else Run(_observation(run["first"]), _aware(run["last_seen"])),
        usable=_usable(track["usable"]),
        revision=track["revision"],
    )


def _market_entry(document: Document) -> MarketEntry:
    return MarketEntry(
        sku=document["sku"],
        competitor_id=document["competitor_id"],
        offer_id=document["id"],
        usable=_usable(document.get("track", {}).get("usable")),
    )


def _review_fields(item: ReviewItem) -> Document:
    """The fields a change may set: all but the keys (organization, id, competitor, url) and create_time."""
    sighting = item.sighting
    price = sighting.price
    return {
        "fetch_time": sighting.fetch_time,
        "title": sighting.title,
        "brand": sighting.brand,
        "gtin": sighting.gtin,
        "mpn": sighting.mpn,
        "image_url": sighting.image_url,
        "category_id": sighting.category_id,
        "price": None if price is None else {"currency": price.currency, "amount_minor": price.amount_minor},
        "in_stock": sighting.in_stock,
        "extraction_method": None if sighting.extraction_method is None else int(sighting.extraction_method),
        "extraction_confidence": sighting.confidence,
        "quarantined": sighting.quarantined,
        "quarantine_reason": sighting.quarantine_reason,
        "source_id": item.source_id,
        "crawl_job_id": item.crawl_job_id,
        "state": int(item.state),
        "candidates": [
            {
                "sku": candidate.sku,
                "confidence": candidate.confidence,
                "method": int(candidate.method),
                "title": candidate.title,
                "brand": candidate.brand,
            }
            for candidate in item.candidates
        ],
        "rejected_skus": list(item.rejected_skus),
        "sku": item.sku,
        "offer_id": item.offer_id,
        "revision": item.revision,
        "update_time": item.update_time,
    }


def _review_document(item: ReviewItem) -> Document:
    return {
        "organization_id": item.organization_id,
        "id": item.id,
        "competitor_id": item.competitor_id,
        "url": item.sighting.url,
        **_review_fields(item),
        "create_time": item.create_time,
    }


def _review_item(document: Document) -> ReviewItem:
    price = document["price"]
    method = document["extraction_method"]
    sighting = Sighting(
        url=document["url"],
        fetch_time=_aware(document["fetch_time"]),
        title=document["title"],
        brand=document["brand"],
        gtin=document["gtin"],
        mpn=document["mpn"],
        image_url=document["image_url"],
        category_id=document["category_id"],
        price=None if price is None else Money(price["amount_minor"], price["currency"]),
        in_stock=document["in_stock"],
        extraction_method=None if method is None else ExtractionMethod(method),
        confidence=document["extraction_confidence"],
        quarantined=document["quarantined"],
        quarantine_reason=document["quarantine_reason"],
    )
    return ReviewItem(
        organization_id=document["organization_id"],
        id=document["id"],
        competitor_id=document["competitor_id"],
        sighting=sighting,
        source_id=document["source_id"],
        crawl_job_id=document["crawl_job_id"],
        state=ReviewState(document["state"]),
        candidates=tuple(
            ReviewCandidate(
                candidate["sku"],
                candidate["confidence"],
                MatchMethod(candidate["method"]),
                candidate["title"],
                candidate["brand"],
            )
            for candidate in document["candidates"]
        ),
        rejected_skus=tuple(document["rejected_skus"]),
        sku=document["sku"],
        offer_id=document["offer_id"],
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        update_time=_aware(document["update_time"]),
    )
