"""Identity's MongoDB engine (PyMongo async), built on single-document atomic operations.

No multi-document transactions: each rule that spans documents is kept by ordering single-document
writes so that every interleaving ends in a safe state (see rotate_refresh_token and save_user).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from runtime.auth import Role
from runtime.errors import AlreadyExists, Conflict, FailedPrecondition
from runtime.storage.mongo import Document, MongoDatabase, ensure_indexes
from services.identity.domain import (
    LAST_OWNER_MESSAGE,
    ApiKey,
    AuditEntry,
    Organization,
    RefreshToken,
    User,
    loses_an_owner,
)
from services.identity.repository import AuditPosition

INDEXES: Mapping[str, Sequence[IndexModel]] = {
    "organizations": [IndexModel([("id", ASCENDING)], unique=True)],
    "users": [
        IndexModel([("email", ASCENDING)], unique=True),
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True),
        IndexModel([("id", ASCENDING)], unique=True),
    ],
    "refresh_tokens": [
        IndexModel([("token_hash", ASCENDING)], unique=True),
        IndexModel([("id", ASCENDING)], unique=True),
        IndexModel([("family_id", ASCENDING), ("created_at", ASCENDING)]),
        IndexModel([("organization_id", ASCENDING), ("user_id", ASCENDING)]),
    ],
    "refresh_families": [
        IndexModel([("family_id", ASCENDING)], unique=True),
        IndexModel([("organization_id", ASCENDING), ("user_id", ASCENDING)]),
        IndexModel([("expires_at", ASCENDING)]),
    ],
    "api_keys": [
        IndexModel([("id", ASCENDING)], unique=True),
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True),
    ],
    "audit_entries": [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True),
        IndexModel([("organization_id", ASCENDING), ("time", DESCENDING), ("id", DESCENDING)]),
        IndexModel([("organization_id", ASCENDING), ("actor_id", ASCENDING), ("time", DESCENDING), ("id", DESCENDING)]),
    ],
}

_NO_ID = {"_id": False}
_PURGE_BATCH = 1000


def _organization(doc: Document) -> Organization:
    return Organization(id=doc["id"], name=doc["name"], created_at=doc["created_at"])


def _user_doc(user: User) -> Document:
    return {
        "id": user.id,
        "organization_id": user.organization_id,
        "email": user.email,
        "role": int(user.role),
        "disabled": user.disabled,
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "version": user.version,
    }


def _user(doc: Document) -> User:
    return User(
        id=doc["id"],
        organization_id=doc["organization_id"],
        email=doc["email"],
        role=Role(doc["role"]),
        disabled=doc["disabled"],
        password_hash=doc["password_hash"],
        created_at=doc["created_at"],
        version=doc["version"],
    )


def _refresh_token_doc(token: RefreshToken) -> Document:
    return {
        "id": token.id,
        "family_id": token.family_id,
        "user_id": token.user_id,
        "organization_id": token.organization_id,
        "token_hash": token.token_hash,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
        "revoked_at": token.revoked_at,
    }


def _refresh_token(doc: Document) -> RefreshToken:
    return RefreshToken(
        id=doc["id"],
        family_id=doc["family_id"],
        user_id=doc["user_id"],
        organization_id=doc["organization_id"],
        token_hash=doc["token_hash"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        used_at=doc["used_at"],
        revoked_at=doc["revoked_at"],
    )


def _api_key_doc(key: ApiKey) -> Document:
    return {
        "id": key.id,
        "organization_id": key.organization_id,
        "name": key.name,
        "role": int(key.role),
        "display_prefix": key.display_prefix,
        "secret_hash": key.secret_hash,
        "created_by": key.created_by,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def _api_key(doc: Document) -> ApiKey:
    return ApiKey(
        id=doc["id"],
        organization_id=doc["organization_id"],
        name=doc["name"],
        role=Role(doc["role"]),
        display_prefix=doc["display_prefix"],
        secret_hash=doc["secret_hash"],
        created_by=doc["created_by"],
        created_at=doc["created_at"],
        revoked_at=doc["revoked_at"],
    )


def _audit_fields(entry: AuditEntry) -> Document:
    """Everything but the key (organization_id, id), which an upsert copies from its filter."""
    return {
        "actor_id": entry.actor_id,
        "action": entry.action,
        "resource": entry.resource,
        "outcome": entry.outcome,
        "trace_id": entry.trace_id,
        "time": entry.time,
    }


def _audit_entry(doc: Document) -> AuditEntry:
    return AuditEntry(
        id=doc["id"],
        organization_id=doc["organization_id"],
        actor_id=doc["actor_id"],
        action=doc["action"],
        resource=doc["resource"],
        outcome=doc["outcome"],
        trace_id=doc["trace_id"],
        time=doc["time"],
    )


class MongoIdentityRepository:
    def __init__(self, database: MongoDatabase, *, client: AsyncMongoClient[Document] | None = None) -> None:
        self._db = database
        self._client = client

    async def open(self) -> None:
        await ensure_indexes(self._db, INDEXES)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    # --- organizations ---

    async def create_organization(self, organization: Organization, owner: User) -> None:
        org_doc = {"id": organization.id, "name": organization.name, "created_at": organization.created_at}
        await self._db.organizations.insert_one(org_doc)
        try:
            await self._insert_user(owner)
        except AlreadyExists:
            await self._db.organizations.delete_one({"id": organization.id})
            raise

    async def get_organization(self, organization_id: str) -> Organization | None:
        doc = await self._db.organizations.find_one({"id": organization_id}, _NO_ID)
        return None if doc is None else _organization(doc)

    # --- users ---

    async def add_user(self, user: User) -> None:
        await self._insert_user(user)

    async def _insert_user(self, user: User) -> None:
        try:
            await self._db.users.insert_one(_user_doc(user))
        except DuplicateKeyError:
            # Ids are random; the one unique key a caller can collide on is the email.
            raise AlreadyExists(f"a user with email {user.email} already exists", field="email") from None

    async def get_user(self, organization_id: str, user_id: str) -> User | None:
        doc = await self._db.users.find_one({"organization_id": organization_id, "id": user_id}, _NO_ID)
        return None if doc is None else _user(doc)

    async def find_user_by_email(self, email: str) -> User | None:
        doc = await self._db.users.find_one({"email": email}, _NO_ID)
        return None if doc is None else _user(doc)

    async def list_users(self, organization_id: str, *, after_id: str, limit: int) -> list[User]:
        cursor = self._db.users.find({"organization_id": organization_id, "id": {"$gt": after_id}}, _NO_ID)
        return [_user(doc) for doc in await cursor.sort("id", ASCENDING).limit(limit).to_list()]

    async def save_user(self, user: User) -> User:
        key = {"organization_id": user.organization_id, "id": user.id}
        before_doc = await self._db.users.find_one_and_update(
            {**key, "version": user.version},
            {"$set": {"role": int(user.role), "disabled": user.disabled}, "$inc": {"version": 1}},
            projection=_NO_ID,
            return_document=ReturnDocument.BEFORE,
        )
        if before_doc is None:
            raise Conflict("the user was changed by someone else meanwhile; read it again and retry")
        before = _user(before_doc)
        after = replace(before, role=user.role, disabled=user.disabled, version=before.version + 1)
        if loses_an_owner(before, after):
            # Counted after our own write: of two changes racing to remove the last two owners, the later
            # one always sees zero and undoes itself, so the organisation never stays without an owner.
            owners = await self._db.users.count_documents(
                {"organization_id": user.organization_id, "role": int(Role.OWNER), "disabled": False}
            )
            if owners == 0:
                await self._db.users.update_one(
                    {**key, "version": after.version},
                    {"$set": {"role": int(before.role), "disabled": before.disabled}, "$inc": {"version": 1}},
                )
                raise FailedPrecondition(LAST_OWNER_MESSAGE)
        return after

    async def set_password_hash(self, organization_id: str, user_id: str, password_hash: str) -> None:
        await self._db.users.update_one(
            {"organization_id": organization_id, "id": user_id}, {"$set": {"password_hash": password_hash}}
        )

    # --- refresh tokens ---

    async def add_refresh_token(self, token: RefreshToken) -> None:
        # The family document carries what spans the family: its revocation and its newest expiry.
        await self._db.refresh_families.update_one(
            {"family_id": token.family_id},
            {
                "$setOnInsert": {
                    "organization_id": token.organization_id,
                    "user_id": token.user_id,
                    "revoked_at": None,
                },
                "$max": {"expires_at": token.expires_at},
            },
            upsert=True,
        )
        await self._db.refresh_tokens.insert_one(_refresh_token_doc(token))

    async def find_refresh_token(self, token_hash: str) -> RefreshToken | None:
        doc = await self._db.refresh_tokens.find_one({"token_hash": token_hash}, _NO_ID)
        return None if doc is None else _refresh_token(doc)

    async def rotate_refresh_token(self, presented_id: str, successor: RefreshToken, now: datetime) -> bool:
        # One atomic compare-and-set: of two concurrent rotations only one finds used_at still unset.
        marked = await self._db.refresh_tokens.find_one_and_update(
            {"id": presented_id, "used_at": None, "revoked_at": None}, {"$set": {"used_at": now}}
        )
        if marked is None:
            return False
        await self._db.refresh_tokens.insert_one(_refresh_token_doc(successor))
        # A revocation flags the family before it revokes the tokens. Either it flagged it before this
        # step (we revoke the successor ourselves) or its token sweep starts after our insert (and takes it).
        family = await self._db.refresh_families.find_one_and_update(
            {"family_id": successor.family_id},
            {"$max": {"expires_at": successor.expires_at}},
            return_document=ReturnDocument.AFTER,
        )
        if family is not None and family.get("revoked_at") is not None:
            await self._db.refresh_tokens.update_one({"id": successor.id}, {"$set": {"revoked_at": now}})
            return False
        return True

    async def revoke_refresh_family(self, family_id: str, now: datetime) -> None:
        await self._db.refresh_families.update_one(
            {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )
        await self._db.refresh_tokens.update_many(
            {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )

    async def revoke_user_refresh_tokens(self, organization_id: str, user_id: str, now: datetime) -> None:
        owner = {"organization_id": organization_id, "user_id": user_id, "revoked_at": None}
        await self._db.refresh_families.update_many(owner, {"$set": {"revoked_at": now}})
        await self._db.refresh_tokens.update_many(owner, {"$set": {"revoked_at": now}})

    async def refresh_family(self, family_id: str) -> list[RefreshToken]:
        cursor = self._db.refresh_tokens.find({"family_id": family_id}, _NO_ID)
        docs = await cursor.sort([("created_at", ASCENDING), ("id", ASCENDING)]).to_list()
        return [_refresh_token(doc) for doc in docs]

    async def delete_expired_refresh_families(self, now: datetime) -> int:
        deleted = 0
        while True:
            expired = self._db.refresh_families.find({"expires_at": {"$lte": now}}, {"_id": False, "family_id": True})
            family_ids = [doc["family_id"] for doc in await expired.limit(_PURGE_BATCH).to_list()]
            if not family_ids:
                return deleted
            batch = {"family_id": {"$in": family_ids}}
            deleted += (await self._db.refresh_tokens.delete_many(batch)).deleted_count
            await self._db.refresh_families.delete_many(batch)

    # --- API keys ---

    async def add_api_key(self, key: ApiKey) -> None:
        await self._db.api_keys.insert_one(_api_key_doc(key))

    async def find_api_key(self, key_id: str) -> ApiKey | None:
        doc = await self._db.api_keys.find_one({"id": key_id}, _NO_ID)
        return None if doc is None else _api_key(doc)

    async def get_api_key(self, organization_id: str, key_id: str) -> ApiKey | None:
        doc = await self._db.api_keys.find_one({"organization_id": organization_id, "id": key_id}, _NO_ID)
        return None if doc is None else _api_key(doc)

    async def list_api_keys(self, organization_id: str, *, after_id: str, limit: int) -> list[ApiKey]:
        cursor = self._db.api_keys.find({"organization_id": organization_id, "id": {"$gt": after_id}}, _NO_ID)
        return [_api_key(doc) for doc in await cursor.sort("id", ASCENDING).limit(limit).to_list()]

    async def revoke_api_key(self, organization_id: str, key_id: str, now: datetime) -> ApiKey | None:
        key = {"organization_id": organization_id, "id": key_id}
        await self._db.api_keys.update_one({**key, "revoked_at": None}, {"$set": {"revoked_at": now}})
        return await self.get_api_key(organization_id, key_id)

    # --- audit log ---

    async def add_audit_entries(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            await self._db.audit_entries.bulk_write(
                [
                    UpdateOne(
                        {"organization_id": e.organization_id, "id": e.id},
                        {"$setOnInsert": _audit_fields(e)},
                        upsert=True,
                    )
                    for e in entries
                ],
                ordered=False,
            )

    async def list_audit_entries(
        self, organization_id: str, *, actor_id: str, before: AuditPosition | None, limit: int
    ) -> list[AuditEntry]:
        query: Document = {"organization_id": organization_id}
        if actor_id:
            query["actor_id"] = actor_id
        if before is not None:
            query["$or"] = [{"time": {"$lt": before.time}}, {"time": before.time, "id": {"$lt": before.id}}]
        cursor = self._db.audit_entries.find(query, _NO_ID)
        docs = await cursor.sort([("time", DESCENDING), ("id", DESCENDING)]).limit(limit).to_list()
        return [_audit_entry(doc) for doc in docs]
