"""What alerting needs from storage; SQLite and MongoDB engines both provide it.

The outbox: an alert change and the webhook deliveries of the notifications it causes are stored
together, so a crash never loses a notification nor sends one for a change that was not stored.
SQLite writes both in one transaction. MongoDB (no multi-document transactions without a replica set)
stores the notifications inside the alert's own document in the same single-document write, then fans
them out into delivery rows with ids derived from (event, webhook) and drops them from the document;
`flush_outbox` finishes any fan-out a crash interrupted, and running it again never duplicates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.competitor.alerts.domain import (
    Alert,
    AlertChange,
    AlertEvent,
    AlertKind,
    AlertRule,
    AlertState,
    Baseline,
    Delivery,
    DeliveryState,
    Webhook,
)


class RuleRepository(Protocol):
    async def get(self, organization_id: str, rule_id: str) -> AlertRule | None: ...

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[AlertRule]:
        """Rules with an id greater than `after_id`, ordered by id (creation order)."""
        ...

    async def enabled(self, organization_id: str) -> list[AlertRule]: ...

    async def count(self, organization_id: str) -> int: ...

    async def create(self, rule: AlertRule) -> None: ...

    async def update(self, before: AlertRule, after: AlertRule) -> None:
        """Conflict when the stored rule is no longer at `before`'s revision (or is gone)."""
        ...

    async def delete(self, organization_id: str, rule_id: str) -> bool: ...


class AlertRepository(Protocol):
    async def get(self, organization_id: str, alert_id: str) -> Alert | None: ...

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
        """Alerts newest first (by id), with an id less than `before_id` when given."""
        ...

    async def heads(self, organization_id: str, keys: Collection[str]) -> dict[str, Alert]:
        """The head alert of each head key (see domain.head_key) that has one."""
        ...

    async def baselines(self, organization_id: str, offer_ids: Collection[str]) -> dict[str, Baseline]: ...

    async def record(self, organization_id: str, changes: Sequence[AlertChange], baselines: Sequence[Baseline]) -> None:
        """Store the changes (in order) with a pending delivery per active webhook that wants each of their
        events, and move the baselines.

        Conflict when a changed alert is no longer at its `before` revision, or another head of the same
        (rule, subject) appeared. SQLite writes all of it or nothing; MongoDB writes alert by alert (each
        with its events), so a retry re-reads the heads and skips readings already applied.
        """
        ...


class WebhookRepository(Protocol):
    async def get(self, organization_id: str, webhook_id: str) -> Webhook | None: ...

    async def find(self, organization_id: str, *, after_id: str, limit: int) -> list[Webhook]: ...

    async def count(self, organization_id: str) -> int: ...

    async def create(self, webhook: Webhook) -> None: ...

    async def update(self, before: Webhook, after: Webhook) -> None:
        """Conflict when the stored webhook is no longer at `before`'s revision (or is gone)."""
        ...

    async def delete(self, organization_id: str, webhook_id: str) -> bool:
        """Delete the webhook and its deliveries; False when there was no such webhook."""
        ...


class DeliveryRepository(Protocol):
    async def get(self, organization_id: str, delivery_id: str) -> Delivery | None: ...

    async def find(
        self,
        organization_id: str,
        webhook_id: str,
        *,
        state: DeliveryState | None,
        before_id: str | None,
        limit: int,
    ) -> list[Delivery]:
        """The webhook's deliveries newest first (by id), with an id less than `before_id` when given."""
        ...

    async def enqueue(self, organization_id: str, event: AlertEvent, webhooks: Sequence[Webhook]) -> list[Delivery]:
        """Pending deliveries of an event that belongs to no alert (a ping); idempotent on their ids."""
        ...

    async def flush_outbox(self, limit: int) -> int:
        """Fan out notifications stored with alerts but not yet turned into deliveries; how many were."""
        ...

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        """Pending deliveries due at `now`, oldest due first, leased to the caller for `lease`: no other
        worker claims them until the lease runs out (which is how a crashed worker's claims come back)."""
        ...

    async def next_due(self, now: datetime) -> datetime | None:
        """About when claim_due may next find something: the earliest due time of the pending deliveries no one
        holds, or the earliest end of a lease still held at `now`; None when nothing is pending."""
        ...

    async def save(self, delivery: Delivery) -> None:
        """Store an attempt's outcome (attempts, state, next attempt) and release the lease.
        Nothing happens when the delivery is gone (its webhook was deleted meanwhile)."""
        ...


@dataclass(frozen=True)
class AlertStore:
    rules: RuleRepository
    alerts: AlertRepository
    webhooks: WebhookRepository
    deliveries: DeliveryRepository
    close: Callable[[], Awaitable[None]]
