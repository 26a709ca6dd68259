"""Alert rules, alerts, webhooks and deliveries in MongoDB (the competitor service's database, alert_* collections).

Without multi-document transactions the outbox lives in the alert document: an alert change and the
notifications it causes are one single-document write; they are then fanned out into delivery
documents whose ids derive from (event, webhook) and pulled from the alert. A crash in between leaves
them in the alert, where flush_outbox (run by the delivery worker) finds and finishes them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from runtime.errors import Conflict
from runtime.money import Money
from runtime.storage.mongo import Document, MongoDatabase
from runtime.storage.mongo import ensure_indexes as create_indexes
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

RULES, ALERTS, BASELINES = "alert_rules", "alerts", "alert_baselines"
WEBHOOKS, DELIVERIES = "alert_webhooks", "alert_webhook_deliveries"
INDEXES: dict[str, list[IndexModel]] = {
    RULES: [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="rules_by_id"),
    ],
    ALERTS: [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="alerts_by_id"),
        # One head per (rule, subject): a superseded alert's slot becomes its own id (no partial index needed).
        IndexModel([("organization_id", ASCENDING), ("slot", ASCENDING)], unique=True, name="alerts_by_slot"),
        IndexModel([("organization_id", ASCENDING), ("state", ASCENDING), ("id", DESCENDING)], name="alerts_by_state"),
        IndexModel([("organization_id", ASCENDING), ("kind", ASCENDING), ("id", DESCENDING)], name="alerts_by_kind"),
        IndexModel([("organization_id", ASCENDING), ("rule_id", ASCENDING), ("id", DESCENDING)], name="alerts_by_rule"),
        IndexModel([("outbox.id", ASCENDING)], sparse=True, name="alerts_with_outbox"),
    ],
    BASELINES: [
        IndexModel([("organization_id", ASCENDING), ("offer_id", ASCENDING)], unique=True, name="baselines_by_offer"),
    ],
    WEBHOOKS: [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="webhooks_by_id"),
    ],
    DELIVERIES: [
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], unique=True, name="deliveries_by_id"),
        IndexModel(
            [("organization_id", ASCENDING), ("webhook_id", ASCENDING), ("id", DESCENDING)],
            name="deliveries_by_webhook",
        ),
        IndexModel([("state", ASCENDING), ("next_attempt_time", ASCENDING)], name="deliveries_due"),
    ],
}

_NO_ID = {"_id": False}
_PENDING = int(DeliveryState.PENDING)
DocumentCollection = AsyncCollection[Document]


async def ensure_indexes(database: MongoDatabase) -> None:
    await create_indexes(database, INDEXES)


class MongoRuleRepository:
    def __init__(self, rules: DocumentCollection) -> None:
        self._rules = rules

    async def get(self, organization_id: str, rule_id: str) -> AlertRule | None:
        document = await self._rules.find_one({"organization_id": organization_id, "id": rule_id}, _NO_ID)
        return None if document is None else _rule(document)

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[AlertRule]:
        cursor = self._rules.find({"organization_id": organization_id, "id": {"$gt": after_id}}, _NO_ID)
        return [_rule(document) for document in await cursor.sort("id", ASCENDING).limit(limit).to_list(None)]

    async def enabled(self, organization_id: str) -> list[AlertRule]:
        cursor = self._rules.find({"organization_id": organization_id, "enabled": True}, _NO_ID).sort("id", ASCENDING)
        return [_rule(document) for document in await cursor.to_list(None)]

    async def count(self, organization_id: str) -> int:
        return await self._rules.count_documents({"organization_id": organization_id})

    async def create(self, rule: AlertRule) -> None:
        try:
            await self._rules.insert_one(_rule_document(rule))
        except DuplicateKeyError:
            raise Conflict(f"rule {rule.id!r} already exists") from None

    async def update(self, before: AlertRule, after: AlertRule) -> None:
        result = await self._rules.replace_one(
            {"organization_id": before.organization_id, "id": before.id, "revision": before.revision},
            _rule_document(after),
        )
        if result.matched_count != 1:
            raise Conflict(f"rule {before.id!r} was changed or deleted concurrently")

    async def delete(self, organization_id: str, rule_id: str) -> bool:
        result = await self._rules.delete_one({"organization_id": organization_id, "id": rule_id})
        return result.deleted_count == 1


class _Outbox:
    """Fans the notifications kept in alert documents out into deliveries, then drops them from the alert."""

    def __init__(self, alerts: DocumentCollection, webhooks: DocumentCollection, deliveries: DocumentCollection):
        self._alerts = alerts
        self._webhooks = webhooks
        self._deliveries = deliveries

    async def fan_out(self, documents: Sequence[Document]) -> int:
        webhooks_by_organization: dict[str, list[Webhook]] = {}
        sent = 0
        for document in documents:
            organization_id = document["organization_id"]
            events = [_event(item) for item in document.get("outbox") or []]
            if not events:
                continue
            if organization_id not in webhooks_by_organization:
                cursor = self._webhooks.find({"organization_id": organization_id, "active": True}, _NO_ID)
                webhooks_by_organization[organization_id] = [_webhook(item) for item in await cursor.to_list(None)]
            webhooks = webhooks_by_organization[organization_id]
            await insert_deliveries(
                self._deliveries,
                [delivery for event in events for delivery in fan_out(organization_id, event, webhooks)],
            )
            await self._alerts.update_one(
                {"organization_id": organization_id, "id": document["id"]},
                {"$pull": {"outbox": {"id": {"$in": [event.id for event in events]}}}},
            )
            sent += len(events)
        return sent


async def insert_deliveries(deliveries: DocumentCollection, rows: Sequence[Delivery]) -> None:
    if not rows:
        return
    # Upserts keyed by the derived id: fanning the same event out again finds its deliveries and adds none.
    await deliveries.bulk_write(
        [
            UpdateOne(
                {"organization_id": row.organization_id, "id": row.id},
                {"$setOnInsert": _delivery_document(row)},
                upsert=True,
            )
            for row in rows
        ],
        ordered=False,
    )


class MongoAlertRepository:
    def __init__(self, alerts: DocumentCollection, baselines: DocumentCollection, outbox: _Outbox) -> None:
        self._alerts = alerts
        self._baselines = baselines
        self._outbox = outbox

    async def get(self, organization_id: str, alert_id: str) -> Alert | None:
        document = await self._alerts.find_one({"organization_id": organization_id, "id": alert_id}, _NO_ID)
        return None if document is None else _alert(document)

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
        selector: Document = {"organization_id": organization_id}
        if state is not None:
            selector["state"] = int(state)
        if kind is not None:
            selector["kind"] = int(kind)
        if rule_id is not None:
            selector["rule_id"] = rule_id
        if before_id is not None:
            selector["id"] = {"$lt": before_id}
        cursor = self._alerts.find(selector, _NO_ID).sort("id", DESCENDING).limit(limit)
        return [_alert(document) for document in await cursor.to_list(None)]

    async def heads(self, organization_id: str, keys: Collection[str]) -> dict[str, Alert]:
        if not keys:
            return {}
        cursor = self._alerts.find({"organization_id": organization_id, "slot": {"$in": list(keys)}}, _NO_ID)
        return {alert.head_key: alert for alert in map(_alert, await cursor.to_list(None))}

    async def baselines(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Baseline]:
        if not offer_ids:
            return {}
        cursor = self._baselines.find(
            {"organization_id": organization_id, "offer_id": {"$in": list(offer_ids)}}, _NO_ID
        )
        return {
            document["offer_id"]: Baseline(
                document["offer_id"],
                Money(document["price_minor"], document["currency"]),
                _aware(document["observe_time"]),
            )
            for document in await cursor.to_list(None)
        }

    async def record(self, organization_id: str, changes: Sequence[AlertChange], baselines: Sequence[Baseline]) -> None:
        with_events: list[Document] = []
        for change in changes:
            document = await self._write(change)
            if change.events:
                with_events.append(document)
        if with_events:
            await self._outbox.fan_out(with_events)
        if baselines:
            await self._baselines.bulk_write(
                [
                    UpdateOne(
                        {"organization_id": organization_id, "offer_id": baseline.offer_id},
                        {
                            "$set": {
                                "currency": baseline.price.currency,
                                "price_minor": baseline.price.amount_minor,
                                "observe_time": baseline.observe_time,
                            }
                        },
                        upsert=True,
                    )
                    for baseline in baselines
                ],
                ordered=False,
            )

    async def _write(self, change: AlertChange) -> Document:
        after = change.after
        document = _alert_document(after)
        outbox = [_event_document(event) for event in change.events]
        try:
            if change.before is None:
                await self._alerts.insert_one({**document, "outbox": outbox})
                return {**document, "outbox": outbox}
            update: Document = {"$set": document}
            if outbox:
                update["$push"] = {"outbox": {"$each": outbox}}
            result = await self._alerts.update_one(
                {"organization_id": after.organization_id, "id": after.id, "revision": change.before.revision}, update
            )
        except DuplicateKeyError:
            raise Conflict(f"an alert of rule {after.rule_id!r} on {after.subject!r} appeared concurrently") from None
        if result.matched_count != 1:
            raise Conflict(f"alert {after.id!r} was changed concurrently")
        return {**document, "outbox": outbox}


class MongoWebhookRepository:
    def __init__(self, webhooks: DocumentCollection, deliveries: DocumentCollection) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries

    async def get(self, organization_id: str, webhook_id: str) -> Webhook | None:
        document = await self._webhooks.find_one({"organization_id": organization_id, "id": webhook_id}, _NO_ID)
        return None if document is None else _webhook(document)

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[Webhook]:
        cursor = self._webhooks.find({"organization_id": organization_id, "id": {"$gt": after_id}}, _NO_ID)
        return [_webhook(document) for document in await cursor.sort("id", ASCENDING).limit(limit).to_list(None)]

    async def count(self, organization_id: str) -> int:
        return await self._webhooks.count_documents({"organization_id": organization_id})

    async def create(self, webhook: Webhook) -> None:
        try:
            await self._webhooks.insert_one(_webhook_document(webhook))
        except DuplicateKeyError:
            raise Conflict(f"webhook {webhook.id!r} already exists") from None

    async def update(self, before: Webhook, after: Webhook) -> None:
        result = await self._webhooks.replace_one(
            {"organization_id": before.organization_id, "id": before.id, "revision": before.revision},
            _webhook_document(after),
        )
        if result.matched_count != 1:
            raise Conflict(f"webhook {before.id!r} was changed or deleted concurrently")

    async def delete(self, organization_id: str, webhook_id: str) -> bool:
        # The webhook first: deliveries a failure leaves behind have no webhook, so the worker drops them.
        result = await self._webhooks.delete_one({"organization_id": organization_id, "id": webhook_id})
        await self._deliveries.delete_many({"organization_id": organization_id, "webhook_id": webhook_id})
        return result.deleted_count == 1


class MongoDeliveryRepository:
    def __init__(self, deliveries: DocumentCollection, alerts: DocumentCollection, outbox: _Outbox) -> None:
        self._deliveries = deliveries
        self._alerts = alerts
        self._outbox = outbox

    async def get(self, organization_id: str, delivery_id: str) -> Delivery | None:
        document = await self._deliveries.find_one({"organization_id": organization_id, "id": delivery_id}, _NO_ID)
        return None if document is None else _delivery(document)

    async def find(
        self,
        organization_id: str,
        webhook_id: str,
        *,
        state: DeliveryState | None,
        before_id: str | None,
        limit: int,
    ) -> list[Delivery]:
        selector: Document = {"organization_id": organization_id, "webhook_id": webhook_id}
        if state is not None:
            selector["state"] = int(state)
        if before_id is not None:
            selector["id"] = {"$lt": before_id}
        cursor = self._deliveries.find(selector, _NO_ID).sort("id", DESCENDING).limit(limit)
        return [_delivery(document) for document in await cursor.to_list(None)]

    async def enqueue(self, organization_id: str, event: AlertEvent, webhooks: Sequence[Webhook]) -> list[Delivery]:
        deliveries = fan_out(organization_id, event, webhooks)
        await insert_deliveries(self._deliveries, deliveries)
        return deliveries

    async def flush_outbox(self, limit: int) -> int:
        cursor = self._alerts.find({"outbox.id": {"$exists": True}}, _NO_ID).limit(limit)
        return await self._outbox.fan_out(await cursor.to_list(None))

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        claimed: list[Delivery] = []
        for _ in range(limit):
            document = await self._deliveries.find_one_and_update(
                {
                    "state": _PENDING,
                    "next_attempt_time": {"$lte": now},
                    "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
                },
                {"$set": {"lease_until": now + lease}},
                projection=_NO_ID,
                sort=[("next_attempt_time", ASCENDING)],
                # The delivery as it matched; the lease is not part of it.
                return_document=ReturnDocument.BEFORE,
            )
            if document is None:
                break
            claimed.append(_delivery(document))
        return claimed

    async def next_due(self, now: datetime) -> datetime | None:
        free = await self._deliveries.find_one(
            {"state": _PENDING, "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]},
            {"_id": False, "next_attempt_time": True},
            sort=[("next_attempt_time", ASCENDING)],
        )
        held = await self._deliveries.find_one(
            {"state": _PENDING, "lease_until": {"$gt": now}},
            {"_id": False, "lease_until": True},
            sort=[("lease_until", ASCENDING)],
        )
        # A held delivery's lease end is a lower bound of when it can be claimed: waking then is early at worst.
        moments = [_aware(free["next_attempt_time"])] if free is not None else []
        if held is not None:
            moments.append(_aware(held["lease_until"]))
        return min(moments, default=None)

    async def save(self, delivery: Delivery) -> None:
        await self._deliveries.update_one(
            {"organization_id": delivery.organization_id, "id": delivery.id},
            {
                "$set": {
                    "state": int(delivery.state),
                    "attempts": [_attempt_document(attempt) for attempt in delivery.attempts],
                    "next_attempt_time": delivery.next_attempt_time,
                    "finish_time": delivery.finish_time,
                    "lease_until": None,
                }
            },
        )


async def open_mongo_alert_store(
    database: MongoDatabase, *, close: Callable[[], Awaitable[None]] | None = None
) -> AlertStore:
    """The alert collections of `database`, with their indexes ensured; `close` releases the client, if owned."""
    await ensure_indexes(database)
    alerts, webhooks, deliveries = database[ALERTS], database[WEBHOOKS], database[DELIVERIES]
    outbox = _Outbox(alerts, webhooks, deliveries)

    async def nothing_to_close() -> None:
        return None

    return AlertStore(
        rules=MongoRuleRepository(database[RULES]),
        alerts=MongoAlertRepository(alerts, database[BASELINES], outbox),
        webhooks=MongoWebhookRepository(webhooks, deliveries),
        deliveries=MongoDeliveryRepository(deliveries, alerts, outbox),
        close=close or nothing_to_close,
    )


# --- documents ------------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value)


def _money_document(money: Money | None) -> Document | None:
    return None if money is None else {"currency": money.currency, "minor": money.amount_minor}


def _money(document: Document | None) -> Money | None:
    return None if document is None else Money(document["minor"], document["currency"])


def _rule_document(rule: AlertRule) -> Document:
    return {
        "organization_id": rule.organization_id,
        "id": rule.id,
        "name": rule.name,
        "kind": int(rule.kind),
        "threshold_bp": rule.threshold_bp,
        "hysteresis_bp": rule.hysteresis_bp,
        "dedup_seconds": int(rule.dedup_window.total_seconds()),
        "competitor_ids": list(rule.competitor_ids),
        "category_id": rule.category_id,
        "enabled": rule.enabled,
        "revision": rule.revision,
        "create_time": rule.create_time,
        "update_time": rule.update_time,
    }


def _rule(document: Document) -> AlertRule:
    return AlertRule(
        organization_id=document["organization_id"],
        id=document["id"],
        name=document["name"],
        kind=AlertKind(document["kind"]),
        threshold_bp=document["threshold_bp"],
        hysteresis_bp=document["hysteresis_bp"],
        dedup_window=timedelta(seconds=document["dedup_seconds"]),
        competitor_ids=tuple(document["competitor_ids"]),
        category_id=document["category_id"],
        enabled=document["enabled"],
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        update_time=_aware(document["update_time"]),
    )


def _alert_document(alert: Alert) -> Document:
    return {
        "organization_id": alert.organization_id,
        "id": alert.id,
        "rule_id": alert.rule_id,
        "kind": int(alert.kind),
        "subject": alert.subject,
        "slot": alert.head_key if alert.head else f"superseded {alert.id}",
        "head": alert.head,
        "competitor_id": alert.competitor_id,
        "sku": alert.sku,
        "offer_id": alert.offer_id,
        "source_id": alert.source_id,
        "url": alert.url,
        "state": int(alert.state),
        "message": alert.message,
        "price": _money_document(alert.price),
        "reference_price": _money_document(alert.reference_price),
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "resolve_time": alert.resolve_time,
        "occurrences": alert.occurrences,
        "checked_time": alert.checked_time,
        "notified_state": None if alert.notified_state is None else int(alert.notified_state),
        "notify_time": alert.notify_time,
        "revision": alert.revision,
    }


def _alert(document: Document) -> Alert:
    notified = document["notified_state"]
    return Alert(
        organization_id=document["organization_id"],
        id=document["id"],
        rule_id=document["rule_id"],
        kind=AlertKind(document["kind"]),
        subject=document["subject"],
        competitor_id=document["competitor_id"],
        sku=document["sku"],
        offer_id=document["offer_id"],
        source_id=document["source_id"],
        url=document["url"],
        state=AlertState(document["state"]),
        message=document["message"],
        price=_money(document["price"]),
        reference_price=_money(document["reference_price"]),
        first_seen=_aware(document["first_seen"]),
        last_seen=_aware(document["last_seen"]),
        resolve_time=_aware_or_none(document["resolve_time"]),
        occurrences=document["occurrences"],
        checked_time=_aware(document["checked_time"]),
        notified_state=None if notified is None else AlertState(notified),
        notify_time=_aware_or_none(document["notify_time"]),
        head=document["head"],
        revision=document["revision"],
    )


def _event_document(event: AlertEvent) -> Document:
    return {
        "id": event.id,
        "type": int(event.type),
        "alert_id": event.alert_id,
        "kind": None if event.kind is None else int(event.kind),
        "time": event.time,
        "queue_time": event.queue_time,
        "body": event.body,
    }


def _event(document: Document) -> AlertEvent:
    kind = document["kind"]
    return AlertEvent(
        id=document["id"],
        type=EventType(document["type"]),
        alert_id=document["alert_id"],
        kind=None if kind is None else AlertKind(kind),
        time=_aware(document["time"]),
        queue_time=_aware(document["queue_time"]),
        body=document["body"],
    )


def _webhook_document(webhook: Webhook) -> Document:
    return {
        "organization_id": webhook.organization_id,
        "id": webhook.id,
        "url": webhook.url,
        "description": webhook.description,
        "secret": webhook.secret,
        "alert_kinds": [int(kind) for kind in webhook.alert_kinds],
        "event_types": [int(event) for event in webhook.event_types],
        "active": webhook.active,
        "revision": webhook.revision,
        "create_time": webhook.create_time,
        "update_time": webhook.update_time,
    }


def _webhook(document: Document) -> Webhook:
    return Webhook(
        organization_id=document["organization_id"],
        id=document["id"],
        url=document["url"],
        description=document["description"],
        secret=document["secret"],
        alert_kinds=tuple(AlertKind(kind) for kind in document["alert_kinds"]),
        event_types=tuple(EventType(event) for event in document["event_types"]),
        active=document["active"],
        revision=document["revision"],
        create_time=_aware(document["create_time"]),
        update_time=_aware(document["update_time"]),
    )


def _attempt_document(attempt: DeliveryAttempt) -> Document:
    return {
        "time": attempt.time,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
    }


def _delivery_document(delivery: Delivery) -> Document:
    return {
        "organization_id": delivery.organization_id,
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "event_type": int(delivery.event_type),
        "alert_id": delivery.alert_id,
        "body": delivery.body,
        "state": int(delivery.state),
        "attempts": [_attempt_document(attempt) for attempt in delivery.attempts],
        "next_attempt_time": delivery.next_attempt_time,
        "lease_until": None,
        "create_time": delivery.create_time,
        "finish_time": delivery.finish_time,
    }


def _delivery(document: Document) -> Delivery:
    return Delivery(
        organization_id=document["organization_id"],
        id=document["id"],
        webhook_id=document["webhook_id"],
        event_id=document["event_id"],
        event_type=EventType(document["event_type"]),
        alert_id=document["alert_id"],
        body=document["body"],
        state=DeliveryState(document["state"]),
        attempts=tuple(
            DeliveryAttempt(_aware(item["time"]), item["status_code"], item["error"], item["duration_ms"])
            for item in document["attempts"]
        ),
        next_attempt_time=_aware_or_none(document["next_attempt_time"]),
        create_time=_aware(document["create_time"]),
        finish_time=_aware_or_none(document["finish_time"]),
    )
