"""Identity's SQLite engine: one file, every multi-step change in one write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.auth import Role
from runtime.errors import AlreadyExists, Conflict, FailedPrecondition
from runtime.storage.sqlite import SqliteDatabase
from services.identity.domain import LAST_OWNER_MESSAGE, ApiKey, AuditEntry, Organization, RefreshToken, User
from services.identity.repository import AuditPosition

SCHEMA = """
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL UNIQUE,
    role INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_organization ON users (organization_id, id);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_family ON refresh_tokens (family_id, created_at);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_user ON refresh_tokens (organization_id, user_id);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    name TEXT NOT NULL,
    role INTEGER NOT NULL,
    display_prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_by_organization ON api_keys (organization_id, id);
CREATE TABLE IF NOT EXISTS audit_entries (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    outcome TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX IF NOT EXISTS audit_entries_newest ON audit_entries (organization_id, time DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_entries_by_actor ON audit_entries (organization_id, actor_id, time DESC, id DESC)
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def _stamp(moment: datetime) -> int:
    """Milliseconds since the epoch (MongoDB's precision too): ordered like the times themselves."""
    return (moment - _EPOCH) // _MILLISECOND


def _stamp_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else _stamp(moment)


def _time(stamp: int) -> datetime:
    return _EPOCH + stamp * _MILLISECOND


def _time_or_none(stamp: int | None) -> datetime | None:
    return None if stamp is None else _time(stamp)


def _organization(row: sqlite3.Row) -> Organization:
    return Organization(id=row["id"], name=row["name"], created_at=_time(row["created_at"]))


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        organization_id=row["organization_id"],
        email=row["email"],
        role=Role(row["role"]),
        disabled=bool(row["disabled"]),
        password_hash=row["password_hash"],
        created_at=_time(row["created_at"]),
        version=row["version"],
    )


def _refresh_token(row: sqlite3.Row) -> RefreshToken:
    return RefreshToken(
        id=row["id"],
        family_id=row["family_id"],
        user_id=row["user_id"],
        organization_id=row["organization_id"],
        token_hash=row["token_hash"],
        created_at=_time(row["created_at"]),
        expires_at=_time(row["expires_at"]),
        used_at=_time_or_none(row["used_at"]),
        revoked_at=_time_or_none(row["revoked_at"]),
    )


def _api_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        organization_id=row["organization_id"],
        name=row["name"],
        role=Role(row["role"]),
        display_prefix=row["display_prefix"],
        secret_hash=row["secret_hash"],
        created_by=row["created_by"],
        created_at=_time(row["created_at"]),
        revoked_at=_time_or_none(row["revoked_at"]),
    )


def _audit_entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        organization_id=row["organization_id"],
        actor_id=row["actor_id"],
        action=row["action"],
        resource=row["resource"],
        outcome=row["outcome"],
        trace_id=row["trace_id"],
        time=_time(row["time"]),
    )


def _insert_user(conn: sqlite3.Connection, user: User) -> None:
    try:
        conn.execute(
            "INSERT INTO users (id, organization_id, email, role, disabled, password_hash, created_at, version)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                user.id,
                user.organization_id,
                user.email,
                int(user.role),
                int(user.disabled),
                user.password_hash,
                _stamp(user.created_at),
                user.version,
            ),
        )
    except sqlite3.IntegrityError as error:
        if "users.email" in str(error):
            raise AlreadyExists(f"a user with email {user.email} already exists", field="email") from None
        raise


def _insert_refresh_token(conn: sqlite3.Connection, token: RefreshToken) -> None:
    conn.execute(
        "INSERT INTO refresh_tokens (id, family_id, user_id, organization_id, token_hash, created_at, expires_at,"
        " used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            token.id,
            token.family_id,
            token.user_id,
            token.organization_id,
            token.token_hash,
            _stamp(token.created_at),
            _stamp(token.expires_at),
            _stamp_or_none(token.used_at),
            _stamp_or_none(token.revoked_at),
        ),
    )


class SqliteIdentityRepository:
    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(path, SCHEMA)

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    # --- organizations ---

    async def create_organization(self, organization: Organization, owner: User) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)",
                (organization.id, organization.name, _stamp(organization.created_at)),
            )
            _insert_user(conn, owner)

        await self._db.write(write)

    async def get_organization(self, organization_id: str) -> Organization | None:
        row = await self._one("SELECT * FROM organizations WHERE id = ?", (organization_id,))
        return None if row is None else _organization(row)

    # --- users ---

    async def add_user(self, user: User) -> None:
        await self._db.write(lambda conn: _insert_user(conn, user))

    async def get_user(self, organization_id: str, user_id: str) -> User | None:
        row = await self._one("SELECT * FROM users WHERE organization_id = ? AND id = ?", (organization_id, user_id))
        return None if row is None else _user(row)

    async def find_user_by_email(self, email: str) -> User | None:
        row = await self._one("SELECT * FROM users WHERE email = ?", (email,))
        return None if row is None else _user(row)

    async def list_users(self, organization_id: str, *, after_id: str, limit: int) -> list[User]:
        rows = await self._all(
            "SELECT * FROM users WHERE organization_id = ? AND id > ? ORDER BY id LIMIT ?",
            (organization_id, after_id, limit),
        )
        return [_user(row) for row in rows]

    async def save_user(self, user: User) -> User:
        def write(conn: sqlite3.Connection) -> User:
            changed = conn.execute(
                "UPDATE users SET role = ?, disabled = ?, version = version + 1"
                " WHERE organization_id = ? AND id = ? AND version = ?",
                (int(user.role), int(user.disabled), user.organization_id, user.id, user.version),
            ).rowcount
            if changed != 1:
                raise Conflict("the user was changed by someone else meanwhile; read it again and retry")
            owners = conn.execute(
                "SELECT COUNT(*) FROM users WHERE organization_id = ? AND role = ? AND disabled = 0",
                (user.organization_id, int(Role.OWNER)),
            ).fetchone()[0]
            if owners == 0:
                raise FailedPrecondition(LAST_OWNER_MESSAGE)  # rolls the update back
            row = conn.execute("SELECT * FROM users WHERE id = ?", (user.id,)).fetchone()
            return _user(row)

        return await self._db.write(write)

    async def set_password_hash(self, organization_id: str, user_id: str, password_hash: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE users SET password_hash = ? WHERE organization_id = ? AND id = ?",
                (password_hash, organization_id, user_id),
            )
        )

    # --- refresh tokens ---

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self._db.write(lambda conn: _insert_refresh_token(conn, token))

    async def find_refresh_token(self, token_hash: str) -> RefreshToken | None:
        row = await self._one("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,))
        return None if row is None else _refresh_token(row)

    async def rotate_refresh_token(self, presented_id: str, successor: RefreshToken, now: datetime) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            # The write lock is held from BEGIN IMMEDIATE, so the check and the mark are one step.
            marked = conn.execute(
                "UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL",
                (_stamp(now), presented_id),
            ).rowcount
            if marked != 1:
                return False
            _insert_refresh_token(conn, successor)
            return True

        return await self._db.write(write)

    async def revoke_refresh_family(self, family_id: str, now: datetime) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                (_stamp(now), family_id),
            )
        )

    async def revoke_user_refresh_tokens(self, organization_id: str, user_id: str, now: datetime) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ?"
                " WHERE organization_id = ? AND user_id = ? AND revoked_at IS NULL",
                (_stamp(now), organization_id, user_id),
            )
        )

    async def refresh_family(self, family_id: str) -> list[RefreshToken]:
        rows = await self._all("SELECT * FROM refresh_tokens WHERE family_id = ? ORDER BY created_at, id", (family_id,))
        return [_refresh_token(row) for row in rows]

    async def delete_expired_refresh_families(self, now: datetime) -> int:
        def write(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM refresh_tokens WHERE family_id IN ("
                " SELECT family_id FROM refresh_tokens GROUP BY family_id HAVING MAX(expires_at) <= ?)",
                (_stamp(now),),
            ).rowcount

        return await self._db.write(write)

    # --- API keys ---

    async def add_api_key(self, key: ApiKey) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO api_keys (id, organization_id, name, role, display_prefix, secret_hash, created_by,"
                " created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.organization_id,
                    key.name,
                    int(key.role),
                    key.display_prefix,
                    key.secret_hash,
                    key.created_by,
                    _stamp(key.created_at),
                    _stamp_or_none(key.revoked_at),
                ),
            )
        )

    async def find_api_key(self, key_id: str) -> ApiKey | None:
        row = await self._one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        return None if row is None else _api_key(row)

    async def get_api_key(self, organization_id: str, key_id: str) -> ApiKey | None:
        row = await self._one("SELECT * FROM api_keys WHERE organization_id = ? AND id = ?", (organization_id, key_id))
        return None if row is None else _api_key(row)

    async def list_api_keys(self, organization_id: str, *, after_id: str, limit: int) -> list[ApiKey]:
        rows = await self._all(
            "SELECT * FROM api_keys WHERE organization_id = ? AND id > ? ORDER BY id LIMIT ?",
            (organization_id, after_id, limit),
        )
        return [_api_key(row) for row in rows]

    async def revoke_api_key(self, organization_id: str, key_id: str, now: datetime) -> ApiKey | None:
        def write(conn: sqlite3.Connection) -> ApiKey | None:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE organization_id = ? AND id = ? AND revoked_at IS NULL",
                (_stamp(now), organization_id, key_id),
            )
            row = conn.execute(
                "SELECT * FROM api_keys WHERE organization_id = ? AND id = ?", (organization_id, key_id)
            ).fetchone()
            return None if row is None else _api_key(row)

        return await self._db.write(write)

    # --- audit log ---

    async def add_audit_entries(self, entries: Sequence[AuditEntry]) -> None:
        rows = [
            (e.organization_id, e.id, e.actor_id, e.action, e.resource, e.outcome, e.trace_id, _stamp(e.time))
            for e in entries
        ]
        if rows:
            await self._db.write(
                lambda conn: conn.executemany(
                    "INSERT OR IGNORE INTO audit_entries"
                    " (organization_id, id, actor_id, action, resource, outcome, trace_id, time)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            )

    async def list_audit_entries(
        self, organization_id: str, *, actor_id: str, before: AuditPosition | None, limit: int
    ) -> list[AuditEntry]:
        clauses = ["organization_id = ?"]
        params: list[Any] = [organization_id]
        if actor_id:
            clauses.append("actor_id = ?")
            params.append(actor_id)
        if before is not None:
            clauses.append("(time < ? OR (time = ? AND id < ?))")
            params += [_stamp(before.time), _stamp(before.time), before.id]
        rows = await self._all(
            f"SELECT * FROM audit_entries WHERE {' AND '.join(clauses)} ORDER BY time DESC, id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [_audit_entry(row) for row in rows]

    # --- helpers ---

    async def _one(self, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self._db.read(lambda conn: conn.execute(sql, params).fetchone())
        return row

    async def _all(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = await self._db.read(lambda conn: conn.execute(sql, params).fetchall())
        return rows
