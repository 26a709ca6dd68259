"""The in-process MongoDB stand-in (mongomock-motor) used when no real server is configured.

mongomock cannot run everything the production engine uses; where it cannot, this adapter fills the
gap and says so, so the engine's own code stays as it would run against a real server:
- `bulk_write` with pymongo's UpdateOne/InsertOne/DeleteOne (mongomock fails on the `sort` argument
  that pymongo >= 4.11 passes) is replayed as one call per operation, in order.
- `aggregate` is a coroutine in pymongo's async API but returns its cursor directly in mongomock-motor;
  the adapter awaits nothing and hands the cursor back.
"""

from __future__ import annotations

from typing import Any

from mongomock_motor import AsyncMongoMockClient
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.results import BulkWriteResult

STANDIN_LABEL = "mongodb-standin (mongomock-motor, in-process; not a real MongoDB server)"
ADAPTED_CALLS = ("bulk_write", "aggregate")


class _StandinCollection:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def aggregate(self, pipeline: list[Any], *args: Any, **kwargs: Any) -> Any:
        return self._inner.aggregate(pipeline, *args, **kwargs)

    async def bulk_write(self, requests: list[Any], ordered: bool = True, **_: Any) -> BulkWriteResult:
        inserted = matched = modified = deleted = upserted = 0
        upserted_ids: dict[int, Any] = {}
        for index, op in enumerate(requests):
            doc = op._doc if hasattr(op, "_doc") else None
            if isinstance(op, InsertOne):
                await self._inner.insert_one(doc)
                inserted += 1
                continue
            spec = op._filter
            if isinstance(op, UpdateOne | UpdateMany):
                call = self._inner.update_one if isinstance(op, UpdateOne) else self._inner.update_many
                result = await call(spec, op._doc, upsert=bool(op._upsert), array_filters=op._array_filters)
            elif isinstance(op, ReplaceOne):
                result = await self._inner.replace_one(spec, op._doc, upsert=bool(op._upsert))
            elif isinstance(op, DeleteOne | DeleteMany):
                call = self._inner.delete_one if isinstance(op, DeleteOne) else self._inner.delete_many
                deleted += (await call(spec)).deleted_count
                continue
            else:
                raise TypeError(f"the stand-in cannot replay {type(op).__name__}")
            matched += result.matched_count
            modified += result.modified_count
            if result.upserted_id is not None:
                upserted += 1
                upserted_ids[index] = result.upserted_id
        raw = {
            "nInserted": inserted,
            "nMatched": matched,
            "nModified": modified,
            "nRemoved": deleted,
            "nUpserted": upserted,
            "upserted": [{"index": i, "_id": v} for i, v in upserted_ids.items()],
            "writeErrors": [],
            "writeConcernErrors": [],
        }
        return BulkWriteResult(raw, acknowledged=True)


class _StandinDatabase:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return _StandinCollection(getattr(self._inner, name))

    def __getitem__(self, name: str) -> _StandinCollection:
        return _StandinCollection(self._inner[name])


def standin_database(name: str) -> Any:
    """A fresh in-process database that quacks like pymongo's AsyncDatabase."""
    return _StandinDatabase(AsyncMongoMockClient(tz_aware=True)[name])
