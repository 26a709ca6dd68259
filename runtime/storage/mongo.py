"""MongoDB through PyMongo's async client, with each service's indexes created at start-up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
MongoDatabase = AsyncDatabase[Document]


def connect(uri: str) -> AsyncMongoClient[Document]:
    # tz_aware so datetimes come back as aware UTC, like everywhere else in OmniPriceX.
    return AsyncMongoClient(uri, tz_aware=True, appname="omnipricex", serverSelectionTimeoutMS=5000)


async def ensure_indexes(database: MongoDatabase, indexes: Mapping[str, Sequence[IndexModel]]) -> None:
    for collection, models in indexes.items():
        if models:
            await database[collection].create_indexes(list(models))
