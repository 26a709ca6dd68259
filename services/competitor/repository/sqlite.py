"""The competitor service's data in one SQLite file: competitors, offers (with their tracks), observations.

Times are integer milliseconds since the Unix epoch: observation rows stay small and compare fast.
Offers are WITHOUT ROWID tables keyed by (organization_id, id): recording a batch reads and updates
10,000 of them by id, one b-tree seek each instead of an index seek and a table seek.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.errors import AlreadyExists, Conflict, FailedPrecondition
from runtime.money import Money
from runtime.storage.sqlite import SqliteDatabase, epoch_ms, from_epoch_ms
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

SCHEMA = """
CREATE TABLE IF NOT EXISTS competitors (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    website TEXT NOT NULL,
    default_currency TEXT NOT NULL,
    revision INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS competitors_by_name ON competitors (organization_id, name_key);

CREATE TABLE IF NOT EXISTS offers (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    competitor_id TEXT NOT NULL,
    url TEXT NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    match_method INTEGER NOT NULL,
    match_confidence REAL NOT NULL,
    revision INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    run_time INTEGER,
    run_currency TEXT,
    run_price_minor INTEGER,
    run_in_stock INTEGER,
    run_extraction_method INTEGER,
    run_confidence REAL,
    run_quarantined INTEGER,
    run_quarantine_reason TEXT,
    run_last_seen INTEGER,
    usable_currency TEXT,
    usable_price_minor INTEGER,
    usable_in_stock INTEGER,
    usable_seen_time INTEGER,
    track_revision INTEGER NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS offers_by_key ON offers (organization_id, competitor_id, url);
CREATE INDEX IF NOT EXISTS offers_by_sku ON offers (organization_id, sku, id);
CREATE INDEX IF NOT EXISTS offers_by_competitor ON offers (organization_id, competitor_id, id);

CREATE TABLE IF NOT EXISTS observations (
    offer_id TEXT NOT NULL,
    observe_time INTEGER NOT NULL,
    currency TEXT NOT NULL,
    price_minor INTEGER NOT NULL,
    in_stock INTEGER NOT NULL,
    extraction_method INTEGER NOT NULL,
    confidence REAL NOT NULL,
    quarantined INTEGER NOT NULL,
    quarantine_reason TEXT NOT NULL,
    PRIMARY KEY (offer_id, observe_time)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS review_items (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    competitor_id TEXT NOT NULL,
    url TEXT NOT NULL,
    fetch_time INTEGER NOT NULL,
    title TEXT NOT NULL,
    brand TEXT NOT NULL,
    gtin TEXT NOT NULL,
    mpn TEXT NOT NULL,
    image_url TEXT NOT NULL,
    category_id TEXT NOT NULL,
    price_currency TEXT,
    price_minor INTEGER,
    in_stock INTEGER,
    extraction_method INTEGER,
    extraction_confidence REAL NOT NULL,
    quarantined INTEGER NOT NULL,
    quarantine_reason TEXT NOT NULL,
    source_id TEXT NOT NULL,
    crawl_job_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    candidates TEXT NOT NULL,
    rejected_skus TEXT NOT NULL,
    sku TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS review_items_by_key ON review_items (organization_id, competitor_id, url);
CREATE INDEX IF NOT EXISTS review_items_by_state ON review_items (organization_id, state, id);
CREATE INDEX IF NOT EXISTS review_items_by_competitor ON review_items (organization_id, competitor_id, state, id)
"""

_COMPETITOR_COLUMNS = (
    "organization_id, id, name, name_key, website, default_currency, revision, create_time, update_time"
)
_SELECT_COMPETITOR = f"SELECT {_COMPETITOR_COLUMNS} FROM competitors"  # noqa: S608 - constant column list
_OFFER_COLUMNS = (
    "organization_id, id, competitor_id, url, sku, title, match_method, match_confidence, revision, "
    "create_time, update_time"
)
_SELECT_OFFER = f"SELECT {_OFFER_COLUMNS} FROM offers"  # noqa: S608
_INSERT_OFFER = f"INSERT INTO offers ({_OFFER_COLUMNS}, track_revision) VALUES ({', '.join('?' * 11)}, 0)"  # noqa: S608
_UPDATE_OFFER = (
    "UPDATE offers SET sku = ?, title = ?, match_method = ?, match_confidence = ?, revision = ?, update_time = ? "
    "WHERE organization_id = ? AND id = ? AND revision = ?"
)
_TRACK_COLUMNS = (
    "id, competitor_id, run_time, run_currency, run_price_minor, run_in_stock, run_extraction_method, "
    "run_confidence, run_quarantined, run_quarantine_reason, run_last_seen, usable_currency, usable_price_minor, "
    "usable_in_stock, usable_seen_time, track_revision"
)
_UPDATE_TRACK = (
    "UPDATE offers SET run_time = ?, run_currency = ?, run_price_minor = ?, run_in_stock = ?, "
    "run_extraction_method = ?, run_confidence = ?, run_quarantined = ?, run_quarantine_reason = ?, "
    "run_last_seen = ?, usable_currency = ?, usable_price_minor = ?, usable_in_stock = ?, usable_seen_time = ?, "
    "track_revision = ? WHERE organization_id = ? AND id = ? AND track_revision = ?"
)
# A repeat of the price in effect only moves when it was last seen.
_TOUCH_TRACK = (
    "UPDATE offers SET run_last_seen = ?, usable_seen_time = ?, track_revision = ? "
    "WHERE organization_id = ? AND id = ? AND track_revision = ?"
)
_OBSERVATION_COLUMNS = (
    "offer_id, observe_time, currency, price_minor, in_stock, extraction_method, confidence, quarantined, "
    "quarantine_reason"
)
_INSERT_OBSERVATION = f"INSERT INTO observations ({_OBSERVATION_COLUMNS}) VALUES ({', '.join('?' * 9)})"  # noqa: S608
_SELECT_OBSERVATION = f"SELECT {_OBSERVATION_COLUMNS} FROM observations"  # noqa: S608
_REVIEW_COLUMNS = (
    "organization_id, id, competitor_id, url, fetch_time, title, brand, gtin, mpn, image_url, category_id, "
    "price_currency, price_minor, in_stock, extraction_method, extraction_confidence, quarantined, "
    "quarantine_reason, source_id, crawl_job_id, state, candidates, rejected_skus, sku, offer_id, revision, "
    "create_time, update_time"
)
_SELECT_REVIEW = f"SELECT {_REVIEW_COLUMNS} FROM review_items"  # noqa: S608
_INSERT_REVIEW = f"INSERT INTO review_items ({_REVIEW_COLUMNS}) VALUES ({', '.join('?' * 28)})"  # noqa: S608
# Everything but the keys (organization, id, competitor, url) and create_time, checked against the revision.
_UPDATE_REVIEW = (
    "UPDATE review_items SET fetch_time = ?, title = ?, brand = ?, gtin = ?, mpn = ?, image_url = ?, "
    "category_id = ?, price_currency = ?, price_minor = ?, in_stock = ?, extraction_method = ?, "
    "extraction_confidence = ?, quarantined = ?, quarantine_reason = ?, source_id = ?, crawl_job_id = ?, "
    "state = ?, candidates = ?, rejected_skus = ?, sku = ?, offer_id = ?, revision = ?, update_time = ? "
    "WHERE organization_id = ? AND id = ? AND revision = ?"
)
_MARKET_COLUMNS = "sku, competitor_id, id, usable_currency, usable_price_minor, usable_in_stock, usable_seen_time"
# Looking members up by value through the Enum class costs more than the rest of a row's conversion.
_EXTRACTION_METHODS = {method.value: method for method in ExtractionMethod}
_MATCH_METHODS = {method.value: method for method in MatchMethod}


class SqliteCompetitorRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def get(self, organization_id: str, competitor_id: str) -> Competitor | None:
        found = await self.get_many(organization_id, [competitor_id])
        return found.get(competitor_id)

    async def get_many(self, organization_id: str, competitor_ids: Collection[str]) -> dict[str, Competitor]:
        if not competitor_ids:
            return {}
        wanted = json.dumps(list(competitor_ids))

        def run(connection: sqlite3.Connection) -> dict[str, Competitor]:
            rows = connection.execute(
                f"{_SELECT_COMPETITOR} WHERE organization_id = ? AND id IN (SELECT value FROM json_each(?))",  # noqa: S608
                (organization_id, wanted),
            )
            return {competitor.id: competitor for competitor in map(_competitor, rows)}

        return await self._db.read(run)

    async def find(self, organization_id: str, *, after: CompetitorPosition | None, limit: int) -> list[Competitor]:
        position = ("", "") if after is None else (after.name_key, after.id)

        def run(connection: sqlite3.Connection) -> list[Competitor]:
            rows = connection.execute(
                f"{_SELECT_COMPETITOR} WHERE organization_id = ? AND (name_key, id) > (?, ?) "
                "ORDER BY name_key, id LIMIT ?",
                (organization_id, *position, limit),
            )
            return [_competitor(row) for row in rows]

        return await self._db.read(run)

    async def create(self, competitor: Competitor) -> None:
        def run(connection: sqlite3.Connection) -> None:
            # Checked inside the write transaction, which holds the database's write lock: no race.
            _check_name(connection, competitor)
            connection.execute(
                f"INSERT INTO competitors ({_COMPETITOR_COLUMNS}) VALUES ({', '.join('?' * 9)})",  # noqa: S608
                _competitor_row(competitor),
            )

        await self._db.write(run)

    async def update(self, before: Competitor, after: Competitor) -> None:
        def run(connection: sqlite3.Connection) -> None:
            _check_name(connection, after)
            cursor = connection.execute(
                "UPDATE competitors SET name = ?, name_key = ?, website = ?, default_currency = ?, revision = ?, "
                "update_time = ? WHERE organization_id = ? AND id = ? AND revision = ?",
                (
                    after.name,
                    after.name_key,
                    after.website,
                    after.default_currency,
                    after.revision,
                    epoch_ms(after.update_time),
                    after.organization_id,
                    after.id,
                    before.revision,
                ),
            )
            if cursor.rowcount != 1:
                raise Conflict(f"competitor {after.id!r} was changed or deleted concurrently")

        await self._db.write(run)

    async def delete(self, organization_id: str, competitor_id: str) -> None:
        def run(connection: sqlite3.Connection) -> None:
            offer = connection.execute(
                "SELECT 1 FROM offers WHERE organization_id = ? AND competitor_id = ? LIMIT 1",
                (organization_id, competitor_id),
            ).fetchone()
            if offer is not None:
                raise _has_offers(competitor_id)
            connection.execute(
                "DELETE FROM competitors WHERE organization_id = ? AND id = ?", (organization_id, competitor_id)
            )
            connection.execute(
                "DELETE FROM review_items WHERE organization_id = ? AND competitor_id = ?",
                (organization_id, competitor_id),
            )

        await self._db.write(run)


def _check_name(connection: sqlite3.Connection, competitor: Competitor) -> None:
    taken = connection.execute(
        "SELECT name FROM competitors WHERE organization_id = ? AND name_key = ? AND id != ?",
        (competitor.organization_id, competitor.name_key, competitor.id),
    ).fetchone()
    if taken is not None:
        raise AlreadyExists(f"a competitor is already named {taken[0]!r}", field="name")


def _has_offers(competitor_id: str) -> FailedPrecondition:
    return FailedPrecondition(f"competitor {competitor_id!r} still has offers; delete them first", field="id")


class SqliteOfferRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def get(self, organization_id: str, offer_id: str) -> Offer | None:
        def run(connection: sqlite3.Connection) -> Offer | None:
            row = connection.execute(
                f"{_SELECT_OFFER} WHERE organization_id = ? AND id = ?", (organization_id, offer_id)
            ).fetchone()
            return None if row is None else _offer(row)

        return await self._db.read(run)

    async def get_by_keys(self, organization_id: str, keys: Collection[OfferKey]) -> dict[OfferKey, Offer]:
        if not keys:
            return {}
        by_competitor: dict[str, list[str]] = {}
        for competitor_id, url in keys:
            by_competitor.setdefault(competitor_id, []).append(url)
        # One query per competitor, so each is a run of seeks on offers_by_key (a crawl batch has one).
        queries = [(organization_id, competitor_id, json.dumps(urls)) for competitor_id, urls in by_competitor.items()]

        def run(connection: sqlite3.Connection) -> dict[OfferKey, Offer]:
            found: dict[OfferKey, Offer] = {}
            for query in queries:
                rows = connection.execute(
                    f"{_SELECT_OFFER} WHERE organization_id = ? AND competitor_id = ? "  # noqa: S608
                    "AND url IN (SELECT value FROM json_each(?))",
                    query,
                )
                found.update((offer.key, offer) for offer in map(_offer, rows))
            return found

        return await self._db.read(run)

    async def get_many(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Offer]:
        if not offer_ids:
            return {}
        wanted = json.dumps(list(offer_ids))

        def run(connection: sqlite3.Connection) -> dict[str, Offer]:
            rows = connection.execute(
                f"{_SELECT_OFFER} WHERE organization_id = ? AND id IN (SELECT value FROM json_each(?))",  # noqa: S608
                (organization_id, wanted),
            )
            return {offer.id: offer for offer in map(_offer, rows)}

        return await self._db.read(run)

    async def find(
        self, organization_id: str, *, sku: str | None, competitor_id: str | None, after_id: str, limit: int
    ) -> list[Offer]:
        clauses = ["organization_id = ?", "id > ?"]
        params: list[Any] = [organization_id, after_id]
        if sku is not None:
            clauses.append("sku = ?")
            params.append(sku)
        if competitor_id is not None:
            clauses.append("competitor_id = ?")
            params.append(competitor_id)
        sql = f"{_SELECT_OFFER} WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?"
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[Offer]:
            return [_offer(row) for row in connection.execute(sql, params)]

        return await self._db.read(run)

    async def write(self, changes: Sequence[OfferChange]) -> None:
        inserts = [_offer_row(change.after) for change in changes if change.before is None]
        updates = [_offer_update(change.before, change.after) for change in changes if change.before is not None]

        def run(connection: sqlite3.Connection) -> None:
            if inserts:
                try:
                    connection.executemany(_INSERT_OFFER, inserts)
                except sqlite3.IntegrityError:
                    raise Conflict("an offer with this competitor and url was created concurrently") from None
            if updates and connection.executemany(_UPDATE_OFFER, updates).rowcount != len(updates):
                raise Conflict("an offer was changed or deleted concurrently")

        await self._db.write(run)

    async def delete(self, organization_id: str, offer_id: str) -> bool:
        def run(connection: sqlite3.Connection) -> bool:
            deleted = connection.execute(
                "DELETE FROM offers WHERE organization_id = ? AND id = ?", (organization_id, offer_id)
            ).rowcount
            if deleted:
                connection.execute("DELETE FROM observations WHERE offer_id = ?", (offer_id,))
            return bool(deleted)

        return await self._db.write(run)


class SqliteObservationRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def tracks(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Track]:
        if not offer_ids:
            return {}
        wanted = json.dumps(list(offer_ids))

        def run(connection: sqlite3.Connection) -> dict[str, Track]:
            cursor = connection.cursor()
            cursor.row_factory = None
            rows = cursor.execute(
                f"SELECT {_TRACK_COLUMNS} FROM offers "  # noqa: S608
                "WHERE organization_id = ? AND id IN (SELECT value FROM json_each(?))",
                (organization_id, wanted),
            )
            return {row[0]: _track(row) for row in rows}

        return await self._db.read(run)

    async def rows_in_effect(self, wanted: Collection[tuple[str, datetime]]) -> dict[tuple[str, datetime], Observation]:
        if not wanted:
            return {}
        queries = list(wanted)

        def run(connection: sqlite3.Connection) -> dict[tuple[str, datetime], Observation]:
            found: dict[tuple[str, datetime], Observation] = {}
            for offer_id, moment in queries:
                row = connection.execute(
                    f"{_SELECT_OBSERVATION} WHERE offer_id = ? AND observe_time <= ? "
                    "ORDER BY observe_time DESC LIMIT 1",
                    (offer_id, epoch_ms(moment)),
                ).fetchone()
                if row is not None:
                    found[offer_id, moment] = _observation(row)
            return found

        return await self._db.read(run)

    async def write(self, organization_id: str, rows: Sequence[Observation], changes: Sequence[TrackChange]) -> None:
        inserts = [_observation_row(row) for row in rows]
        touches: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for change in changes:
            touch = _touch(organization_id, change)
            if touch is not None:
                touches.append(touch)
            else:
                updates.append(_track_update(organization_id, change))

        def run(connection: sqlite3.Connection) -> None:
            moved = connection.executemany(_TOUCH_TRACK, touches).rowcount if touches else 0
            if updates:
                moved += connection.executemany(_UPDATE_TRACK, updates).rowcount
            if moved != len(changes):
                raise Conflict("observations of an offer were recorded concurrently, or the offer was deleted")
            if inserts:
                try:
                    connection.executemany(_INSERT_OBSERVATION, inserts)
                except sqlite3.IntegrityError:
                    raise Conflict("an observation was recorded concurrently") from None

        await self._db.write(run)

    async def find(
        self, offer_id: str, *, start: datetime | None, end: datetime | None, before: datetime | None, limit: int
    ) -> list[Observation]:
        clauses = ["offer_id = ?"]
        params: list[Any] = [offer_id]
        for clause, bound in (("observe_time >= ?", start), ("observe_time < ?", end), ("observe_time < ?", before)):
            if bound is not None:
                clauses.append(clause)
                params.append(epoch_ms(bound))
        sql = f"{_SELECT_OBSERVATION} WHERE {' AND '.join(clauses)} ORDER BY observe_time DESC LIMIT ?"
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[Observation]:
            return [_observation(row) for row in connection.execute(sql, params)]

        return await self._db.read(run)


class SqliteMarketRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def for_skus(
        self, organization_id: str, skus: Collection[str], competitor_ids: Collection[str] | None
    ) -> list[MarketEntry]:
        if not skus:
            return []
        sql = (
            f"SELECT {_MARKET_COLUMNS} FROM offers "  # noqa: S608
            "WHERE organization_id = ? AND sku IN (SELECT value FROM json_each(?))"
        )
        params: list[Any] = [organization_id, json.dumps(list(skus))]
        sql, params = _only_competitors(sql, params, competitor_ids)

        def run(connection: sqlite3.Connection) -> list[MarketEntry]:
            cursor = connection.cursor()
            cursor.row_factory = None
            return [_market_entry(row) for row in cursor.execute(sql, params)]

        return await self._db.read(run)

    async def after_sku(
        self, organization_id: str, after_sku: str, sku_limit: int, competitor_ids: Collection[str] | None
    ) -> list[MarketEntry]:
        sql = f"SELECT {_MARKET_COLUMNS} FROM offers WHERE organization_id = ? AND sku > ?"  # noqa: S608
        params: list[Any] = [organization_id, after_sku]
        sql, params = _only_competitors(sql, params, competitor_ids)
        sql += " ORDER BY sku"

        def run(connection: sqlite3.Connection) -> list[MarketEntry]:
            cursor = connection.cursor()
            cursor.row_factory = None
            return _first_skus(cursor.execute(sql, params), sku_limit)

        return await self._db.read(run)


class SqliteReviewRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def get(self, organization_id: str, item_id: str) -> ReviewItem | None:
        def run(connection: sqlite3.Connection) -> ReviewItem | None:
            row = connection.execute(
                f"{_SELECT_REVIEW} WHERE organization_id = ? AND id = ?", (organization_id, item_id)
            ).fetchone()
            return None if row is None else _review_item(row)

        return await self._db.read(run)

    async def get_by_keys(self, organization_id: str, keys: Collection[OfferKey]) -> dict[OfferKey, ReviewItem]:
        if not keys:
            return {}
        wanted = json.dumps([list(key) for key in keys])

        def run(connection: sqlite3.Connection) -> dict[OfferKey, ReviewItem]:
            rows = connection.execute(
                f"{_SELECT_REVIEW} WHERE organization_id = ? AND (competitor_id, url) IN "  # noqa: S608
                "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))",
                (organization_id, wanted),
            )
            return {item.key: item for item in map(_review_item, rows)}

        return await self._db.read(run)

    async def find(
        self,
        organization_id: str,
        *,
        competitor_id: str | None,
        state: ReviewState | None,
        after_id: str,
        limit: int,
    ) -> list[ReviewItem]:
        clauses = ["organization_id = ?", "id > ?"]
        params: list[Any] = [organization_id, after_id]
        if competitor_id is not None:
            clauses.append("competitor_id = ?")
            params.append(competitor_id)
        if state is not None:
            clauses.append("state = ?")
            params.append(int(state))
        sql = f"{_SELECT_REVIEW} WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?"
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[ReviewItem]:
            return [_review_item(row) for row in connection.execute(sql, params)]

        return await self._db.read(run)

    async def write(self, changes: Sequence[ReviewChange]) -> None:
        inserts = [_review_row(change.after) for change in changes if change.before is None]
        updates = [_review_update(change.before, change.after) for change in changes if change.before is not None]

        def run(connection: sqlite3.Connection) -> None:
            if inserts:
                try:
                    connection.executemany(_INSERT_REVIEW, inserts)
                except sqlite3.IntegrityError:
                    raise Conflict("a review item of this competitor and url was created concurrently") from None
            if updates and connection.executemany(_UPDATE_REVIEW, updates).rowcount != len(updates):
                raise Conflict("a review item was changed concurrently")

        await self._db.write(run)


def _only_competitors(sql: str, params: list[Any], competitor_ids: Collection[str] | None) -> tuple[str, list[Any]]:
    if competitor_ids is None:
        return sql, params
    clause = " AND competitor_id IN (SELECT value FROM json_each(?))"
    return sql + clause, [*params, json.dumps(list(competitor_ids))]


def _first_skus(rows: Iterable[Sequence[Any]], sku_limit: int) -> list[MarketEntry]:
    """The entries of the first `sku_limit` skus of rows ordered by sku; reads no row past them."""
    entries: list[MarketEntry] = []
    skus = 0
    last = None
    for row in rows:
        if row[0] != last:
            skus += 1
            if skus > sku_limit:
                break
            last = row[0]
        entries.append(_market_entry(row))
    return entries


async def open_sqlite_repositories(path: Path) -> Repositories:
    database = SqliteDatabase(path, SCHEMA)
    await database.open()
    return Repositories(
        competitors=SqliteCompetitorRepository(database),
        offers=SqliteOfferRepository(database),
        observations=SqliteObservationRepository(database),
        market=SqliteMarketRepository(database),
        reviews=SqliteReviewRepository(database),
        close=database.close,
    )


# --- rows -----------------------------------------------------------------------------------------


def _competitor_row(competitor: Competitor) -> tuple[Any, ...]:
    return (
        competitor.organization_id,
        competitor.id,
        competitor.name,
        competitor.name_key,
        competitor.website,
        competitor.default_currency,
        competitor.revision,
        epoch_ms(competitor.create_time),
        epoch_ms(competitor.update_time),
    )


def _competitor(row: Sequence[Any]) -> Competitor:
    return Competitor(
        organization_id=row[0],
        id=row[1],
        name=row[2],
        website=row[4],
        default_currency=row[5],
        revision=row[6],
        create_time=from_epoch_ms(row[7]),
        update_time=from_epoch_ms(row[8]),
    )


def _offer_row(offer: Offer) -> tuple[Any, ...]:
    return (
        offer.organization_id,
        offer.id,
        offer.competitor_id,
        offer.url,
        offer.sku,
        offer.title,
        int(offer.match_method),
        offer.match_confidence,
        offer.revision,
        epoch_ms(offer.create_time),
        epoch_ms(offer.update_time),
    )


def _offer_update(before: Offer, after: Offer) -> tuple[Any, ...]:
    return (
        after.sku,
        after.title,
        int(after.match_method),
        after.match_confidence,
        after.revision,
        epoch_ms(after.update_time),
        after.organization_id,
        after.id,
        before.revision,
    )


def _offer(row: Sequence[Any]) -> Offer:
    return Offer(
        organization_id=row[0],
        id=row[1],
        competitor_id=row[2],
        url=row[3],
        sku=row[4],
        title=row[5],
        match_method=_MATCH_METHODS[row[6]],
        match_confidence=row[7],
        revision=row[8],
        create_time=from_epoch_ms(row[9]),
        update_time=from_epoch_ms(row[10]),
    )


def _observation_row(observation: Observation) -> tuple[Any, ...]:
    return (
        observation.offer_id,
        epoch_ms(observation.observe_time),
        observation.price.currency,
        observation.price.amount_minor,
        observation.in_stock,
        int(observation.extraction_method),
        observation.confidence,
        observation.quarantined,
        observation.quarantine_reason,
    )


def _observation(row: Sequence[Any]) -> Observation:
    return Observation(
        offer_id=row[0],
        observe_time=from_epoch_ms(row[1]),
        price=Money(row[3], row[2]),
        in_stock=bool(row[4]),
        extraction_method=_EXTRACTION_METHODS[row[5]],
        confidence=row[6],
        quarantined=bool(row[7]),
        quarantine_reason=row[8],
    )


def _track(row: Sequence[Any]) -> Track:
    # A batch reads thousands of tracks. Their times and prices mostly repeat within the row (a run seen once
    # starts and ends at one moment; the usable price is the run's): equal ones share one immutable object.
    run = None
    if row[2] is not None:
        first = Observation(
            row[0],
            from_epoch_ms(row[2]),
            Money(row[4], row[3]),
            bool(row[5]),
            _EXTRACTION_METHODS[row[6]],
            row[7],
            bool(row[8]),
            row[9],
        )
        run = Run(first, first.observe_time if row[10] == row[2] else from_epoch_ms(row[10]))
    usable = None
    if row[11] is not None:
        if run is not None and row[12] == row[4] and row[11] == row[3]:
            price = run.first.price
        else:
            price = Money(row[12], row[11])
        seen_time = run.last_seen if run is not None and row[14] == row[10] else from_epoch_ms(row[14])
        usable = UsablePrice(price, bool(row[13]), seen_time)
    return Track(row[0], row[1], run, usable, row[15])


def _track_update(organization_id: str, change: TrackChange) -> tuple[Any, ...]:
    after = change.after
    run, usable = after.run, after.usable
    # A track's times are mostly one moment (a run seen once, its price still the usable one): converted once.
    last_seen = None
    if run is None:
        run_columns: tuple[Any, ...] = (None,) * 9
    else:
        first = run.first
        start = epoch_ms(first.observe_time)
        last_seen = start if run.last_seen == first.observe_time else epoch_ms(run.last_seen)
        run_columns = (
            start,
            first.price.currency,
            first.price.amount_minor,
            first.in_stock,
            int(first.extraction_method),
            first.confidence,
            first.quarantined,
            first.quarantine_reason,
            last_seen,
        )
    if usable is None:
        usable_columns: tuple[Any, ...] = (None,) * 4
    else:
        seen = last_seen if run is not None and usable.seen_time == run.last_seen else epoch_ms(usable.seen_time)
        usable_columns = (usable.price.currency, usable.price.amount_minor, usable.in_stock, seen)
    return (*run_columns, *usable_columns, after.revision, organization_id, after.offer_id, change.before.revision)


def _touch(organization_id: str, change: TrackChange) -> tuple[Any, ...] | None:
    """The parameters of _TOUCH_TRACK when only the times of `change` moved, else None."""
    before, after = change.before, change.after
    if before.run is None or after.run is None or after.run.first is not before.run.first:
        return None
    old, new = before.usable, after.usable
    if new is None:
        if old is not None:
            return None
    elif old is None or new.price != old.price or new.in_stock != old.in_stock:
        return None
    last_seen = epoch_ms(after.run.last_seen)
    if new is None:
        seen = None
    elif new.seen_time == after.run.last_seen:
        # Mostly the sighting that moved the run moved the usable price too.
        seen = last_seen
    else:
        seen = epoch_ms(new.seen_time)
    return (last_seen, seen, after.revision, organization_id, after.offer_id, before.revision)


def _market_entry(row: Sequence[Any]) -> MarketEntry:
    usable = None if row[3] is None else UsablePrice(Money(row[4], row[3]), bool(row[5]), from_epoch_ms(row[6]))
    return MarketEntry(sku=row[0], competitor_id=row[1], offer_id=row[2], usable=usable)


def _review_row(item: ReviewItem) -> tuple[Any, ...]:
    return (item.organization_id, item.id, item.competitor_id, item.sighting.url, *_review_fields(item))


def _review_fields(item: ReviewItem) -> tuple[Any, ...]:
    """The columns after the keys, in _REVIEW_COLUMNS order."""
    sighting = item.sighting
    price = sighting.price
    return (
        epoch_ms(sighting.fetch_time),
        sighting.title,
        sighting.brand,
        sighting.gtin,
        sighting.mpn,
        sighting.image_url,
        sighting.category_id,
        None if price is None else price.currency,
        None if price is None else price.amount_minor,
        sighting.in_stock,
        None if sighting.extraction_method is None else int(sighting.extraction_method),
        sighting.confidence,
        sighting.quarantined,
        sighting.quarantine_reason,
        item.source_id,
        item.crawl_job_id,
        int(item.state),
        json.dumps([[c.sku, c.confidence, int(c.method), c.title, c.brand] for c in item.candidates]),
        json.dumps(list(item.rejected_skus)),
        item.sku,
        item.offer_id,
        item.revision,
        epoch_ms(item.create_time),
        epoch_ms(item.update_time),
    )


def _review_update(before: ReviewItem, after: ReviewItem) -> tuple[Any, ...]:
    fields = _review_fields(after)
    # create_time (second to last) never changes.
    return (*fields[:-2], fields[-1], after.organization_id, after.id, before.revision)


def _review_item(row: Sequence[Any]) -> ReviewItem:
    sighting = Sighting(
        url=row[3],
        fetch_time=from_epoch_ms(row[4]),
        title=row[5],
        brand=row[6],
        gtin=row[7],
        mpn=row[8],
        image_url=row[9],
        category_id=row[10],
        price=None if row[11] is None else Money(row[12], row[11]),
        in_stock=None if row[13] is None else bool(row[13]),
        extraction_method=None if row[14] is None else _EXTRACTION_METHODS[row[14]],
        confidence=row[15],
        quarantined=bool(row[16]),
        quarantine_reason=row[17],
    )
    return ReviewItem(
        organization_id=row[0],
        id=row[1],
        competitor_id=row[2],
        sighting=sighting,
        source_id=row[18],
        crawl_job_id=row[19],
        state=ReviewState(row[20]),
        candidates=tuple(
            ReviewCandidate(sku, confidence, _MATCH_METHODS[method], title, brand)
            for sku, confidence, method, title, brand in json.loads(row[21])
        ),
        rejected_skus=tuple(json.loads(row[22])),
        sku=row[23],
        offer_id=row[24],
        revision=row[25],
        create_time=from_epoch_ms(row[26]),
        update_time=from_epoch_ms(row[27]),
    )
