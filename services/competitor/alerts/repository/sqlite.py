"""Alert rules, alerts, webhooks and deliveries in SQLite (the competitor service's file, its own tables).

Times are integer milliseconds since the Unix epoch, as in the rest of the competitor service. An alert
change and the deliveries of its notifications are written in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.errors import Conflict
from runtime.money import Money
from runtime.storage.sqlite import SqliteDatabase, epoch_ms, from_epoch_ms
from services.competitor.alerts.domain import (
    Alert,
    AlertChange,
    AlertEvent,
    AlertKind,
    AlertRule,
    AlertState,
    Baseline,
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    EventType,
    Webhook,
    fan_out,
)
from services.competitor.alerts.repository import AlertStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_rules (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    threshold_bp INTEGER NOT NULL,
    hysteresis_bp INTEGER,
    dedup_seconds INTEGER NOT NULL,
    competitor_ids TEXT NOT NULL,
    category_id TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS alerts (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    subject TEXT NOT NULL,
    head_key TEXT,
    competitor_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    url TEXT NOT NULL,
    state INTEGER NOT NULL,
    message TEXT NOT NULL,
    price_currency TEXT,
    price_minor INTEGER,
    reference_currency TEXT,
    reference_minor INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    resolve_time INTEGER,
    occurrences INTEGER NOT NULL,
    checked_time INTEGER NOT NULL,
    notified_state INTEGER,
    notify_time INTEGER,
    revision INTEGER NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS alerts_by_head ON alerts (organization_id, head_key);
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts (organization_id, state, id);
CREATE INDEX IF NOT EXISTS alerts_by_kind ON alerts (organization_id, kind, id);
CREATE INDEX IF NOT EXISTS alerts_by_rule ON alerts (organization_id, rule_id, id);

CREATE TABLE IF NOT EXISTS alert_baselines (
    organization_id TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    price_minor INTEGER NOT NULL,
    observe_time INTEGER NOT NULL,
    PRIMARY KEY (organization_id, offer_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS webhooks (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    secret TEXT NOT NULL,
    alert_kinds TEXT NOT NULL,
    event_types TEXT NOT NULL,
    active INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type INTEGER NOT NULL,
    alert_id TEXT NOT NULL,
    body TEXT NOT NULL,
    state INTEGER NOT NULL,
    attempts TEXT NOT NULL,
    next_attempt_time INTEGER,
    lease_until INTEGER,
    create_time INTEGER NOT NULL,
    finish_time INTEGER,
    PRIMARY KEY (organization_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_webhook ON webhook_deliveries (organization_id, webhook_id, id);
CREATE INDEX IF NOT EXISTS deliveries_due ON webhook_deliveries (next_attempt_time) WHERE state = 1
"""

_RULE_COLUMNS = (
    "organization_id, id, name, kind, threshold_bp, hysteresis_bp, dedup_seconds, competitor_ids, category_id, "
    "enabled, revision, create_time, update_time"
)
_ALERT_COLUMNS = (
    "organization_id, id, rule_id, kind, subject, head_key, competitor_id, sku, offer_id, source_id, url, state, "
    "message, price_currency, price_minor, reference_currency, reference_minor, first_seen, last_seen, "
    "resolve_time, occurrences, checked_time, notified_state, notify_time, revision"
)
_INSERT_ALERT = f"INSERT INTO alerts ({_ALERT_COLUMNS}) VALUES ({', '.join('?' * 25)})"  # noqa: S608
_UPDATE_ALERT = (
    "UPDATE alerts SET head_key = ?, competitor_id = ?, sku = ?, offer_id = ?, source_id = ?, url = ?, state = ?, "
    "message = ?, price_currency = ?, price_minor = ?, reference_currency = ?, reference_minor = ?, first_seen = ?, "
    "last_seen = ?, resolve_time = ?, occurrences = ?, checked_time = ?, notified_state = ?, notify_time = ?, "
    "revision = ? WHERE organization_id = ? AND id = ? AND revision = ?"
)
_WEBHOOK_COLUMNS = (
    "organization_id, id, url, description, secret, alert_kinds, event_types, active, revision, create_time, "
    "update_time"
)
_DELIVERY_COLUMNS = (
    "organization_id, id, webhook_id, event_id, event_type, alert_id, body, state, attempts, next_attempt_time, "
    "create_time, finish_time"
)
_INSERT_DELIVERY = f"INSERT OR IGNORE INTO webhook_deliveries ({_DELIVERY_COLUMNS}) VALUES ({', '.join('?' * 12)})"  # noqa: S608


class SqliteRuleRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def get(self, organization_id: str, rule_id: str) -> AlertRule | None:
        def run(connection: sqlite3.Connection) -> AlertRule | None:
            row = connection.execute(
                f"SELECT {_RULE_COLUMNS} FROM alert_rules WHERE organization_id = ? AND id = ?",  # noqa: S608
                (organization_id, rule_id),
            ).fetchone()
            return None if row is None else _rule(row)

        return await self._db.read(run)

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[AlertRule]:
        def run(connection: sqlite3.Connection) -> list[AlertRule]:
            rows = connection.execute(
                f"SELECT {_RULE_COLUMNS} FROM alert_rules WHERE organization_id = ? AND id > ? "  # noqa: S608
                "ORDER BY id LIMIT ?",
                (organization_id, after_id, limit),
            )
            return [_rule(row) for row in rows]

        return await self._db.read(run)

    async def enabled(self, organization_id: str) -> list[AlertRule]:
        def run(connection: sqlite3.Connection) -> list[AlertRule]:
            rows = connection.execute(
                f"SELECT {_RULE_COLUMNS} FROM alert_rules WHERE organization_id = ? AND enabled = 1 "  # noqa: S608
                "ORDER BY id",
                (organization_id,),
            )
            return [_rule(row) for row in rows]

        return await self._db.read(run)

    async def count(self, organization_id: str) -> int:
        def run(connection: sqlite3.Connection) -> int:
            row = connection.execute(
                "SELECT count(*) FROM alert_rules WHERE organization_id = ?", (organization_id,)
            ).fetchone()
            return int(row[0])

        return await self._db.read(run)

    async def create(self, rule: AlertRule) -> None:
        def run(connection: sqlite3.Connection) -> None:
            try:
                connection.execute(
                    f"INSERT INTO alert_rules ({_RULE_COLUMNS}) VALUES ({', '.join('?' * 13)})",  # noqa: S608
                    _rule_row(rule),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"rule {rule.id!r} already exists") from None

        await self._db.write(run)

    async def update(self, before: AlertRule, after: AlertRule) -> None:
        row = _rule_row(after)

        def run(connection: sqlite3.Connection) -> None:
            cursor = connection.execute(
                "UPDATE alert_rules SET name = ?, kind = ?, threshold_bp = ?, hysteresis_bp = ?, dedup_seconds = ?, "
                "competitor_ids = ?, category_id = ?, enabled = ?, revision = ?, create_time = ?, update_time = ? "
                "WHERE organization_id = ? AND id = ? AND revision = ?",
                (*row[2:], before.organization_id, before.id, before.revision),
            )
            if cursor.rowcount != 1:
                raise Conflict(f"rule {before.id!r} was changed or deleted concurrently")

        await self._db.write(run)

    async def delete(self, organization_id: str, rule_id: str) -> bool:
        def run(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM alert_rules WHERE organization_id = ? AND id = ?", (organization_id, rule_id)
            )
            return bool(cursor.rowcount)

        return await self._db.write(run)


class SqliteAlertRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def get(self, organization_id: str, alert_id: str) -> Alert | None:
        def run(connection: sqlite3.Connection) -> Alert | None:
            row = connection.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE organization_id = ? AND id = ?",  # noqa: S608
                (organization_id, alert_id),
            ).fetchone()
            return None if row is None else _alert(row)

        return await self._db.read(run)

    async def find(
        self,
        organization_id: str,
        *,
        state: AlertState | None,
        kind: AlertKind | None,
        rule_id: str | None,
        before_id: str | None,
        limit: int,
    ) -> list[Alert]:
        clauses = ["organization_id = ?"]
        params: list[Any] = [organization_id]
        for clause, value in (
            ("state = ?", None if state is None else int(state)),
            ("kind = ?", None if kind is None else int(kind)),
            ("rule_id = ?", rule_id),
            ("id < ?", before_id),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?"  # noqa: S608
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[Alert]:
            return [_alert(row) for row in connection.execute(sql, params)]

        return await self._db.read(run)

    async def heads(self, organization_id: str, keys: Collection[str]) -> dict[str, Alert]:
        if not keys:
            return {}
        wanted = json.dumps(list(keys))

        def run(connection: sqlite3.Connection) -> dict[str, Alert]:
            rows = connection.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE organization_id = ? "  # noqa: S608
                "AND head_key IN (SELECT value FROM json_each(?))",
                (organization_id, wanted),
            )
            return {alert.head_key: alert for alert in map(_alert, rows)}

        return await self._db.read(run)

    async def baselines(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Baseline]:
        if not offer_ids:
            return {}
        wanted = json.dumps(list(offer_ids))

        def run(connection: sqlite3.Connection) -> dict[str, Baseline]:
            rows = connection.execute(
                "SELECT offer_id, currency, price_minor, observe_time FROM alert_baselines "
                "WHERE organization_id = ? AND offer_id IN (SELECT value FROM json_each(?))",
                (organization_id, wanted),
            )
            return {row[0]: Baseline(row[0], Money(row[2], row[1]), from_epoch_ms(row[3])) for row in rows}

        return await self._db.read(run)

    async def record(self, organization_id: str, changes: Sequence[AlertChange], baselines: Sequence[Baseline]) -> None:
        events = [event for change in changes for event in change.events]
        baseline_rows = [
            (organization_id, b.offer_id, b.price.currency, b.price.amount_minor, epoch_ms(b.observe_time))
            for b in baselines
        ]

        def run(connection: sqlite3.Connection) -> None:
            for change in changes:
                _write_alert(connection, change)
            if events:
                webhooks = _active_webhooks(connection, organization_id)
                rows = [
                    _delivery_row(delivery)
                    for event in events
                    for delivery in fan_out(organization_id, event, webhooks)
                ]
                connection.executemany(_INSERT_DELIVERY, rows)
            if baseline_rows:
                connection.executemany(
                    "INSERT INTO alert_baselines (organization_id, offer_id, currency, price_minor, observe_time) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (organization_id, offer_id) DO UPDATE SET "
                    "currency = excluded.currency, price_minor = excluded.price_minor, "
                    "observe_time = excluded.observe_time WHERE excluded.observe_time > alert_baselines.observe_time",
                    baseline_rows,
                )

        await self._db.write(run)


def _write_alert(connection: sqlite3.Connection, change: AlertChange) -> None:
    after = change.after
    if change.before is None:
        try:
            connection.execute(_INSERT_ALERT, _alert_row(after))
        except sqlite3.IntegrityError:
            raise Conflict(f"an alert of rule {after.rule_id!r} on {after.subject!r} appeared concurrently") from None
        return
    row = _alert_row(after)
    try:
        cursor = connection.execute(_UPDATE_ALERT, (*row[5:], after.organization_id, after.id, change.before.revision))
    except sqlite3.IntegrityError:
        raise Conflict(f"an alert of rule {after.rule_id!r} on {after.subject!r} appeared concurrently") from None
    if cursor.rowcount != 1:
        raise Conflict(f"alert {after.id!r} was changed concurrently")


def _active_webhooks(connection: sqlite3.Connection, organization_id: str) -> list[Webhook]:
    rows = connection.execute(
        f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE organization_id = ? AND active = 1",  # noqa: S608
        (organization_id,),
    )
    return [_webhook(row) for row in rows]


class SqliteWebhookRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def get(self, organization_id: str, webhook_id: str) -> Webhook | None:
        def run(connection: sqlite3.Connection) -> Webhook | None:
            row = connection.execute(
                f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE organization_id = ? AND id = ?",  # noqa: S608
                (organization_id, webhook_id),
            ).fetchone()
            return None if row is None else _webhook(row)

        return await self._db.read(run)

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[Webhook]:
        def run(connection: sqlite3.Connection) -> list[Webhook]:
            rows = connection.execute(
                f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE organization_id = ? AND id > ? "  # noqa: S608
                "ORDER BY id LIMIT ?",
                (organization_id, after_id, limit),
            )
            return [_webhook(row) for row in rows]

        return await self._db.read(run)

    async def count(self, organization_id: str) -> int:
        def run(connection: sqlite3.Connection) -> int:
            row = connection.execute("SELECT count(*) FROM webhooks WHERE organization_id = ?", (organization_id,))
            return int(row.fetchone()[0])

        return await self._db.read(run)

    async def create(self, webhook: Webhook) -> None:
        def run(connection: sqlite3.Connection) -> None:
            try:
                connection.execute(
                    f"INSERT INTO webhooks ({_WEBHOOK_COLUMNS}) VALUES ({', '.join('?' * 11)})",  # noqa: S608
                    _webhook_row(webhook),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"webhook {webhook.id!r} already exists") from None

        await self._db.write(run)

    async def update(self, before: Webhook, after: Webhook) -> None:
        row = _webhook_row(after)

        def run(connection: sqlite3.Connection) -> None:
            cursor = connection.execute(
                "UPDATE webhooks SET url = ?, description = ?, secret = ?, alert_kinds = ?, event_types = ?, "
                "active = ?, revision = ?, create_time = ?, update_time = ? "
                "WHERE organization_id = ? AND id = ? AND revision = ?",
                (*row[2:], before.organization_id, before.id, before.revision),
            )
            if cursor.rowcount != 1:
                raise Conflict(f"webhook {before.id!r} was changed or deleted concurrently")

        await self._db.write(run)

    async def delete(self, organization_id: str, webhook_id: str) -> bool:
        def run(connection: sqlite3.Connection) -> bool:
            deleted = connection.execute(
                "DELETE FROM webhooks WHERE organization_id = ? AND id = ?", (organization_id, webhook_id)
            ).rowcount
            connection.execute(
                "DELETE FROM webhook_deliveries WHERE organization_id = ? AND webhook_id = ?",
                (organization_id, webhook_id),
            )
            return bool(deleted)

        return await self._db.write(run)


class SqliteDeliveryRepository:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def get(self, organization_id: str, delivery_id: str) -> Delivery | None:
        def run(connection: sqlite3.Connection) -> Delivery | None:
            row = connection.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries "  # noqa: S608
                "WHERE organization_id = ? AND id = ?",
                (organization_id, delivery_id),
            ).fetchone()
            return None if row is None else _delivery(row)

        return await self._db.read(run)

    async def find(
        self,
        organization_id: str,
        webhook_id: str,
        *,
        state: DeliveryState | None,
        before_id: str | None,
        limit: int,
    ) -> list[Delivery]:
        clauses = ["organization_id = ?", "webhook_id = ?"]
        params: list[Any] = [organization_id, webhook_id]
        if state is not None:
            clauses.append("state = ?")
            params.append(int(state))
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        sql = (
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {' AND '.join(clauses)} "  # noqa: S608
            "ORDER BY id DESC LIMIT ?"
        )
        params.append(limit)

        def run(connection: sqlite3.Connection) -> list[Delivery]:
            return [_delivery(row) for row in connection.execute(sql, params)]

        return await self._db.read(run)

    async def enqueue(self, organization_id: str, event: AlertEvent, webhooks: Sequence[Webhook]) -> list[Delivery]:
        deliveries = fan_out(organization_id, event, webhooks)

        def run(connection: sqlite3.Connection) -> None:
            connection.executemany(_INSERT_DELIVERY, [_delivery_row(delivery) for delivery in deliveries])

        await self._db.write(run)
        return deliveries

    async def flush_outbox(self, limit: int) -> int:
        # Deliveries are written in the transaction of their alert change: nothing is ever left to fan out.
        return 0

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        moment, until = epoch_ms(now), epoch_ms(now + lease)

        def run(connection: sqlite3.Connection) -> list[Delivery]:
            rows = connection.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries "  # noqa: S608
                "WHERE state = 1 AND next_attempt_time <= ? AND (lease_until IS NULL OR lease_until <= ?) "
                "ORDER BY next_attempt_time LIMIT ?",
                (moment, moment, limit),
            ).fetchall()
            claimed = [_delivery(row) for row in rows]
            connection.executemany(
                "UPDATE webhook_deliveries SET lease_until = ? WHERE organization_id = ? AND id = ?",
                [(until, delivery.organization_id, delivery.id) for delivery in claimed],
            )
            return claimed

        return await self._db.write(run)

    async def next_due(self, now: datetime) -> datetime | None:
        moment = epoch_ms(now)

        def run(connection: sqlite3.Connection) -> datetime | None:
            row = connection.execute(
                "SELECT min(CASE WHEN lease_until > ? THEN max(next_attempt_time, lease_until) "
                "ELSE next_attempt_time END) FROM webhook_deliveries WHERE state = 1",
                (moment,),
            )
            value = row.fetchone()[0]
            return None if value is None else from_epoch_ms(value)

        return await self._db.read(run)

    async def save(self, delivery: Delivery) -> None:
        def run(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_time = ?, finish_time = ?, "
                "lease_until = NULL WHERE organization_id = ? AND id = ?",
                (
                    int(delivery.state),
                    _attempts_text(delivery.attempts),
                    _ms_or_none(delivery.next_attempt_time),
                    _ms_or_none(delivery.finish_time),
                    delivery.organization_id,
                    delivery.id,
                ),
            )

        await self._db.write(run)


async def open_sqlite_alert_store(path: Path) -> AlertStore:
    """The alert tables in the SQLite file at `path` (the competitor service's own file by default)."""
    database = SqliteDatabase(path, SCHEMA)
    await database.open()
    return AlertStore(
        rules=SqliteRuleRepository(database),
        alerts=SqliteAlertRepository(database),
        webhooks=SqliteWebhookRepository(database),
        deliveries=SqliteDeliveryRepository(database),
        close=database.close,
    )


# --- rows -----------------------------------------------------------------------------------------


def _ms_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else epoch_ms(moment)


def _time_or_none(milliseconds: int | None) -> datetime | None:
    return None if milliseconds is None else from_epoch_ms(milliseconds)


def _money_or_none(currency: str | None, minor: int | None) -> Money | None:
    return None if currency is None or minor is None else Money(minor, currency)


def _rule_row(rule: AlertRule) -> tuple[Any, ...]:
    return (
        rule.organization_id,
        rule.id,
        rule.name,
        int(rule.kind),
        rule.threshold_bp,
        rule.hysteresis_bp,
        int(rule.dedup_window.total_seconds()),
        json.dumps(list(rule.competitor_ids)),
        rule.category_id,
        rule.enabled,
        rule.revision,
        epoch_ms(rule.create_time),
        epoch_ms(rule.update_time),
    )


def _rule(row: Sequence[Any]) -> AlertRule:
    return AlertRule(
        organization_id=row[0],
        id=row[1],
        name=row[2],
        kind=AlertKind(row[3]),
        threshold_bp=row[4],
        hysteresis_bp=row[5],
        dedup_window=timedelta(seconds=row[6]),
        competitor_ids=tuple(json.loads(row[7])),
        category_id=row[8],
        enabled=bool(row[9]),
        revision=row[10],
        create_time=from_epoch_ms(row[11]),
        update_time=from_epoch_ms(row[12]),
    )


def _alert_row(alert: Alert) -> tuple[Any, ...]:
    price, reference = alert.price, alert.reference_price
    return (
        alert.organization_id,
        alert.id,
        alert.rule_id,
        int(alert.kind),
        alert.subject,
        alert.head_key if alert.head else None,
        alert.competitor_id,
        alert.sku,
        alert.offer_id,
        alert.source_id,
        alert.url,
        int(alert.state),
        alert.message,
        None if price is None else price.currency,
        None if price is None else price.amount_minor,
        None if reference is None else reference.currency,
        None if reference is None else reference.amount_minor,
        epoch_ms(alert.first_seen),
        epoch_ms(alert.last_seen),
        _ms_or_none(alert.resolve_time),
        alert.occurrences,
        epoch_ms(alert.checked_time),
        None if alert.notified_state is None else int(alert.notified_state),
        _ms_or_none(alert.notify_time),
        alert.revision,
    )


def _alert(row: Sequence[Any]) -> Alert:
    return Alert(
        organization_id=row[0],
        id=row[1],
        rule_id=row[2],
        kind=AlertKind(row[3]),
        subject=row[4],
        head=row[5] is not None,
        competitor_id=row[6],
        sku=row[7],
        offer_id=row[8],
        source_id=row[9],
        url=row[10],
        state=AlertState(row[11]),
        message=row[12],
        price=_money_or_none(row[13], row[14]),
        reference_price=_money_or_none(row[15], row[16]),
        first_seen=from_epoch_ms(row[17]),
        last_seen=from_epoch_ms(row[18]),
        resolve_time=_time_or_none(row[19]),
        occurrences=row[20],
        checked_time=from_epoch_ms(row[21]),
        notified_state=None if row[22] is None else AlertState(row[22]),
        notify_time=_time_or_none(row[23]),
        revision=row[24],
    )


def _webhook_row(webhook: Webhook) -> tuple[Any, ...]:
    return (
        webhook.organization_id,
        webhook.id,
        webhook.url,
        webhook.description,
        webhook.secret,
        json.dumps([int(kind) for kind in webhook.alert_kinds]),
        json.dumps([int(event) for event in webhook.event_types]),
        webhook.active,
        webhook.revision,
        epoch_ms(webhook.create_time),
        epoch_ms(webhook.update_time),
    )


def _webhook(row: Sequence[Any]) -> Webhook:
    return Webhook(
        organization_id=row[0],
        id=row[1],
        url=row[2],
        description=row[3],
        secret=row[4],
        alert_kinds=tuple(AlertKind(kind) for kind in json.loads(row[5])),
        event_types=tuple(EventType(event) for event in json.loads(row[6])),
        active=bool(row[7]),
        revision=row[8],
        create_time=from_epoch_ms(row[9]),
        update_time=from_epoch_ms(row[10]),
    )


def _attempts_text(attempts: Sequence[DeliveryAttempt]) -> str:
    return json.dumps([[epoch_ms(a.time), a.status_code, a.error, a.duration_ms] for a in attempts], ensure_ascii=False)


def _delivery_row(delivery: Delivery) -> tuple[Any, ...]:
    return (
        delivery.organization_id,
        delivery.id,
        delivery.webhook_id,
        delivery.event_id,
        int(delivery.event_type),
        delivery.alert_id,
        delivery.body,
        int(delivery.state),
        _attempts_text(delivery.attempts),
        _ms_or_none(delivery.next_attempt_time),
        epoch_ms(delivery.create_time),
        _ms_or_none(delivery.finish_time),
    )


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        organization_id=row[0],
        id=row[1],
        webhook_id=row[2],
        event_id=row[3],
        event_type=EventType(row[4]),
        alert_id=row[5],
        body=row[6],
        state=DeliveryState(row[7]),
        attempts=tuple(
            DeliveryAttempt(from_epoch_ms(time), status, error, duration)
            for time, status, error, duration in json.loads(row[8])
        ),
        next_attempt_time=_time_or_none(row[9]),
        create_time=from_epoch_ms(row[10]),
        finish_time=_time_or_none(row[11]),
    )
