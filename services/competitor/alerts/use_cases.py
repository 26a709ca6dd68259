"""What callers can do with alert rules, alerts and webhooks, for the caller's organisation only.

Roles: viewers read rules and alerts; analysts create, change and delete rules; pricing managers manage
webhooks and read their deliveries (webhooks carry secrets and say where the organisation's data goes).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from runtime.auth import Principal, Role
from runtime.clock import utcnow
from runtime.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from runtime.ids import new_id
from runtime.netguard import AddressPolicy, BlockedDestination, host_and_port, parse_ip_literal
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.competitor.alerts import domain
from services.competitor.alerts.domain import (
    ALERT_ID_PATTERN,
    DELIVERY_ID_PATTERN,
    EVENT_ID_PREFIX,
    RULE_ID_PATTERN,
    WEBHOOK_ID_PATTERN,
    Alert,
    AlertKind,
    AlertRule,
    AlertState,
    Delivery,
    DeliveryState,
    RuleDraft,
    Webhook,
    WebhookDraft,
)
from services.competitor.alerts.engine import CompetitorLookup
from services.competitor.alerts.repository import AlertStore
from services.competitor.domain import to_millisecond

T = TypeVar("T")

READ_ROLE = Role.VIEWER
RULE_WRITE_ROLE = Role.ANALYST
WEBHOOK_ROLE = Role.PRICING_MANAGER
# Every market batch reads the organisation's enabled rules; this keeps that read small.
MAX_RULES = 200
MAX_WEBHOOKS = 20
WRITE_ATTEMPTS = 3
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    webhook: Webhook
    # Shown this once; deliveries are signed with it.
    secret: str


def _now(clock: Callable[[], datetime], *, after: datetime | None = None) -> datetime:
    value = to_millisecond(clock())
    return value if after is None or value > after else after + _MILLISECOND


def _position(page_token: str, key: str) -> str | None:
    position = decode_token(page_token)
    if not position:
        return None
    value = position.get(key)
    if not isinstance(value, str):
        raise InvalidArgument("page_token is not a token this API issued", field="page_token")
    return value


def _page(found: list[T], limit: int, key: Callable[[T], str], name: str) -> Page[T]:
    if len(found) <= limit:
        return Page(found, "")
    return Page(found[:limit], encode_token({name: key(found[limit - 1])}))


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class AlertRules:
    def __init__(
        self,
        store: AlertStore,
        competitors: CompetitorLookup,
        *,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], str] = lambda: new_id(domain.RULE_ID_PREFIX),
        event_ids: Callable[[], str] = lambda: new_id(EVENT_ID_PREFIX),
        on_notify: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._competitors = competitors
        self._clock = clock
        self._ids = ids
        self._event_ids = event_ids
        self._on_notify = on_notify

    async def create_rule(self, principal: Principal, draft: RuleDraft) -> AlertRule:
        principal.require(RULE_WRITE_ROLE)
        organization_id = principal.organization_id
        rule = domain.new_rule(organization_id, self._ids(), draft, now=_now(self._clock))
        await self._check_competitors(organization_id, rule.competitor_ids)
        if await self._store.rules.count(organization_id) >= MAX_RULES:
            raise FailedPrecondition(f"an organisation has at most {MAX_RULES} alert rules; delete some first")
        await self._store.rules.create(rule)
        return rule

    async def get_rule(self, principal: Principal, rule_id: str) -> AlertRule:
        principal.require(READ_ROLE)
        return await self._get(principal, rule_id)

    async def list_rules(self, principal: Principal, *, page_size_requested: int, page_token: str) -> Page[AlertRule]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        after = _position(page_token, "id") or ""
        found = await self._store.rules.find(principal.organization_id, after_id=after, limit=limit + 1)
        return _page(found, limit, lambda rule: rule.id, "id")

    async def update_rule(
        self, principal: Principal, rule_id: str, draft: RuleDraft, paths: Iterable[str]
    ) -> AlertRule:
        """A disabled rule closes its open alerts: it watches nothing any more."""
        principal.require(RULE_WRITE_ROLE)
        existing, rule = await self._change(principal, rule_id, draft, domain.parse_rule_mask(paths))
        if existing.enabled and not rule.enabled:
            await self._close_alerts(rule, "the rule was disabled")
        return rule

    async def delete_rule(self, principal: Principal, rule_id: str) -> None:
        """Closes the rule's open alerts (receivers hear they are resolved); its alerts stay listed."""
        principal.require(RULE_WRITE_ROLE)
        # Disabled first, so no market batch re-opens an alert while they are being closed.
        _, rule = await self._change(principal, rule_id, RuleDraft(enabled=False), frozenset({"enabled"}))
        await self._close_alerts(rule, "the rule was deleted")
        await self._store.rules.delete(rule.organization_id, rule.id)

    async def _change(
        self, principal: Principal, rule_id: str, draft: RuleDraft, fields: frozenset[str]
    ) -> tuple[AlertRule, AlertRule]:
        for _ in range(WRITE_ATTEMPTS):
            existing = await self._get(principal, rule_id)
            rule = domain.updated_rule(existing, draft, fields, now=_now(self._clock, after=existing.update_time))
            if rule is existing:
                return existing, existing
            if rule.competitor_ids != existing.competitor_ids:
                await self._check_competitors(rule.organization_id, rule.competitor_ids)
            try:
                await self._store.rules.update(existing, rule)
            except Conflict:
                continue
            return existing, rule
        raise Conflict(f"rule {rule_id!r} is being changed by others right now; try again")

    async def _close_alerts(self, rule: AlertRule, why: str) -> None:
        conflicts = 0
        while True:
            open_alerts = await self._store.alerts.find(
                rule.organization_id, state=AlertState.OPEN, kind=None, rule_id=rule.id, before_id=None, limit=500
            )
            if not open_alerts:
                return
            now = self._clock()
            changes = [domain.closed(rule, alert, why, now=now, event_ids=self._event_ids) for alert in open_alerts]
            try:
                await self._store.alerts.record(rule.organization_id, changes, [])
            except Conflict:
                conflicts += 1
                if conflicts >= WRITE_ATTEMPTS:
                    raise Conflict(
                        f"the alerts of rule {rule.id!r} are being changed by others right now; try again"
                    ) from None
                continue
            if any(change.events for change in changes):
                self._on_notify()

    async def _check_competitors(self, organization_id: str, competitor_ids: Collection[str]) -> None:
        if not competitor_ids:
            return
        found = await self._competitors.get_many(organization_id, competitor_ids)
        missing = sorted(set(competitor_ids) - set(found))
        if missing:
            raise InvalidArgument(f"unknown competitor {missing[0]!r}", field="competitor_ids")

    async def _get(self, principal: Principal, rule_id: str) -> AlertRule:
        domain.validate_id(rule_id, RULE_ID_PATTERN, "an alert rule id")
        rule = await self._store.rules.get(principal.organization_id, rule_id)
        if rule is None:
            raise NotFound(f"alert rule {rule_id!r} does not exist", field="id")
        return rule


class AlertBoard:
    def __init__(self, store: AlertStore) -> None:
        self._store = store

    async def list_alerts(
        self,
        principal: Principal,
        *,
        state: AlertState | None,
        kind: AlertKind | None,
        rule_id: str,
        page_size_requested: int,
        page_token: str,
    ) -> Page[Alert]:
        """Newest first."""
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        if rule_id:
            domain.validate_id(rule_id, RULE_ID_PATTERN, "an alert rule id", field="rule_id")
        before = _position(page_token, "id")
        found = await self._store.alerts.find(
            principal.organization_id,
            state=state,
            kind=kind,
            rule_id=rule_id or None,
            before_id=before,
            limit=limit + 1,
        )
        return _page(found, limit, lambda alert: alert.id, "id")

    async def get_alert(self, principal: Principal, alert_id: str) -> Alert:
        principal.require(READ_ROLE)
        domain.validate_id(alert_id, ALERT_ID_PATTERN, "an alert id")
        alert = await self._store.alerts.get(principal.organization_id, alert_id)
        if alert is None:
            raise NotFound(f"alert {alert_id!r} does not exist", field="id")
        return alert


class Webhooks:
    def __init__(
        self,
        store: AlertStore,
        policy: AddressPolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], str] = lambda: new_id(domain.WEBHOOK_ID_PREFIX),
        event_ids: Callable[[], str] = lambda: new_id(EVENT_ID_PREFIX),
        secrets_source: Callable[[], str] = new_secret,
        on_notify: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._ids = ids
        self._event_ids = event_ids
        self._secrets = secrets_source
        self._on_notify = on_notify

    async def create_webhook(self, principal: Principal, draft: WebhookDraft) -> CreatedWebhook:
        principal.require(WEBHOOK_ROLE)
        organization_id = principal.organization_id
        secret = self._secrets()
        webhook = domain.new_webhook(organization_id, self._ids(), draft, secret=secret, now=_now(self._clock))
        self._check_destination(webhook.url)
        if await self._store.webhooks.count(organization_id) >= MAX_WEBHOOKS:
            raise FailedPrecondition(f"an organisation has at most {MAX_WEBHOOKS} webhooks; delete some first")
        await self._store.webhooks.create(webhook)
        return CreatedWebhook(webhook, secret)

    async def get_webhook(self, principal: Principal, webhook_id: str) -> Webhook:
        principal.require(WEBHOOK_ROLE)
        return await self._get(principal, webhook_id)

    async def list_webhooks(self, principal: Principal, *, page_size_requested: int, page_token: str) -> Page[Webhook]:
        principal.require(WEBHOOK_ROLE)
        limit = page_size(page_size_requested)
        after = _position(page_token, "id") or ""
        found = await self._store.webhooks.find(principal.organization_id, after_id=after, limit=limit + 1)
        return _page(found, limit, lambda webhook: webhook.id, "id")

    async def update_webhook(
        self, principal: Principal, webhook_id: str, draft: WebhookDraft, paths: Iterable[str]
    ) -> Webhook:
        principal.require(WEBHOOK_ROLE)
        fields = domain.parse_webhook_mask(paths)
        for _ in range(WRITE_ATTEMPTS):
            existing = await self._get(principal, webhook_id)
            webhook = domain.updated_webhook(existing, draft, fields, now=_now(self._clock, after=existing.update_time))
            if webhook is existing:
                return existing
            self._check_destination(webhook.url)
            try:
                await self._store.webhooks.update(existing, webhook)
            except Conflict:
                continue
            return webhook
        raise Conflict(f"webhook {webhook_id!r} is being changed by others right now; try again")

    async def delete_webhook(self, principal: Principal, webhook_id: str) -> None:
        """Deletes the webhook with its delivery log; pending deliveries are dropped."""
        principal.require(WEBHOOK_ROLE)
        webhook = await self._get(principal, webhook_id)
        await self._store.webhooks.delete(webhook.organization_id, webhook.id)

    async def list_deliveries(
        self,
        principal: Principal,
        webhook_id: str,
        *,
        state: DeliveryState | None,
        page_size_requested: int,
        page_token: str,
    ) -> Page[Delivery]:
        """Newest first."""
        principal.require(WEBHOOK_ROLE)
        webhook = await self._get(principal, webhook_id, field="webhook_id")
        limit = page_size(page_size_requested)
        before = _position(page_token, "id")
        found = await self._store.deliveries.find(
            webhook.organization_id, webhook.id, state=state, before_id=before, limit=limit + 1
        )
        return _page(found, limit, lambda delivery: delivery.id, "id")

    async def get_delivery(self, principal: Principal, delivery_id: str) -> Delivery:
        principal.require(WEBHOOK_ROLE)
        domain.validate_id(delivery_id, DELIVERY_ID_PATTERN, "a webhook delivery id")
        delivery = await self._store.deliveries.get(principal.organization_id, delivery_id)
        if delivery is None:
            raise NotFound(f"webhook delivery {delivery_id!r} does not exist", field="id")
        return delivery

    async def test_webhook(self, principal: Principal, webhook_id: str) -> Delivery:
        """Queue a signed `ping` delivery to the webhook; watch it in the webhook's delivery log."""
        principal.require(WEBHOOK_ROLE)
        webhook = await self._get(principal, webhook_id)
        if not webhook.active:
            raise FailedPrecondition(f"webhook {webhook_id!r} is inactive; activate it to test it", field="id")
        event = domain.ping_event(webhook.id, now=self._clock(), event_id=self._event_ids())
        deliveries = await self._store.deliveries.enqueue(webhook.organization_id, event, [webhook])
        self._on_notify()
        return deliveries[0]

    def _check_destination(self, url: str) -> None:
        """A host written as an IP literal is checked now; names are checked on every delivery, as resolved."""
        host, port = host_and_port(url)
        literal = parse_ip_literal(host)
        if literal is None:
            return
        try:
            self._policy.check(host, port, literal)
        except BlockedDestination as error:
            raise InvalidArgument(
                f"webhooks may not deliver to {error.reason}; an operator can allow-list the host "
                "(OMNIPRICEX_FETCH_ALLOW_HOSTS)",
                field="url",
            ) from None

    async def _get(self, principal: Principal, webhook_id: str, *, field: str = "id") -> Webhook:
        domain.validate_id(webhook_id, WEBHOOK_ID_PATTERN, "a webhook id", field=field)
        webhook = await self._store.webhooks.get(principal.organization_id, webhook_id)
        if webhook is None:
            raise NotFound(f"webhook {webhook_id!r} does not exist", field=field)
        return webhook
