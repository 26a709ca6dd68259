"""gRPC entry points of AlertRuleService, AlertService and WebhookService: proto in, use cases, proto out."""

from __future__ import annotations

from typing import Any, TypeVar

import grpc

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.competitor.v1 import alerts_pb2 as pb
from omnipricex.competitor.v1 import alerts_pb2_grpc
from runtime.auth import current_principal
from runtime.errors import InvalidArgument
from runtime.money import Money
from runtime.timestamps import to_timestamp
from services.competitor.alerts.domain import (
    BAND_KINDS,
    THRESHOLD_KINDS,
    Alert,
    AlertKind,
    AlertRule,
    AlertState,
    Delivery,
    DeliveryState,
    RuleDraft,
    Webhook,
    WebhookDraft,
    format_percent,
)
from services.competitor.alerts.use_cases import AlertBoard, AlertRules, Webhooks

Context = grpc.aio.ServicerContext[Any, Any]
E = TypeVar("E", AlertState, AlertKind, DeliveryState)


class AlertRuleServicer(alerts_pb2_grpc.AlertRuleServiceServicer):
    def __init__(self, rules: AlertRules) -> None:
        self._rules = rules

    async def CreateAlertRule(self, request: pb.CreateAlertRuleRequest, context: Context) -> pb.CreateAlertRuleResponse:
        rule = await self._rules.create_rule(current_principal(), rule_draft(request.rule))
        return pb.CreateAlertRuleResponse(rule=rule_message(rule))

    async def GetAlertRule(self, request: pb.GetAlertRuleRequest, context: Context) -> pb.GetAlertRuleResponse:
        rule = await self._rules.get_rule(current_principal(), request.id)
        return pb.GetAlertRuleResponse(rule=rule_message(rule))

    async def ListAlertRules(self, request: pb.ListAlertRulesRequest, context: Context) -> pb.ListAlertRulesResponse:
        page = await self._rules.list_rules(
            current_principal(), page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return pb.ListAlertRulesResponse(
            rules=[rule_message(rule) for rule in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def UpdateAlertRule(self, request: pb.UpdateAlertRuleRequest, context: Context) -> pb.UpdateAlertRuleResponse:
        rule = await self._rules.update_rule(
            current_principal(), request.rule.id, rule_draft(request.rule), list(request.update_mask.paths)
        )
        return pb.UpdateAlertRuleResponse(rule=rule_message(rule))

    async def DeleteAlertRule(self, request: pb.DeleteAlertRuleRequest, context: Context) -> pb.DeleteAlertRuleResponse:
        await self._rules.delete_rule(current_principal(), request.id)
        return pb.DeleteAlertRuleResponse()


class AlertServicer(alerts_pb2_grpc.AlertServiceServicer):
    def __init__(self, board: AlertBoard) -> None:
        self._board = board

    async def ListAlerts(self, request: pb.ListAlertsRequest, context: Context) -> pb.ListAlertsResponse:
        page = await self._board.list_alerts(
            current_principal(),
            state=_optional_enum(AlertState, request.state, "state"),
            kind=_optional_enum(AlertKind, request.kind, "kind"),
            rule_id=request.rule_id,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return pb.ListAlertsResponse(
            alerts=[alert_message(alert) for alert in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def GetAlert(self, request: pb.GetAlertRequest, context: Context) -> pb.GetAlertResponse:
        alert = await self._board.get_alert(current_principal(), request.id)
        return pb.GetAlertResponse(alert=alert_message(alert))


class WebhookServicer(alerts_pb2_grpc.WebhookServiceServicer):
    def __init__(self, webhooks: Webhooks) -> None:
        self._webhooks = webhooks

    async def CreateWebhook(self, request: pb.CreateWebhookRequest, context: Context) -> pb.CreateWebhookResponse:
        created = await self._webhooks.create_webhook(current_principal(), webhook_draft(request.webhook))
        return pb.CreateWebhookResponse(webhook=webhook_message(created.webhook), secret=created.secret)

    async def GetWebhook(self, request: pb.GetWebhookRequest, context: Context) -> pb.GetWebhookResponse:
        webhook = await self._webhooks.get_webhook(current_principal(), request.id)
        return pb.GetWebhookResponse(webhook=webhook_message(webhook))

    async def ListWebhooks(self, request: pb.ListWebhooksRequest, context: Context) -> pb.ListWebhooksResponse:
        page = await self._webhooks.list_webhooks(
            current_principal(), page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return pb.ListWebhooksResponse(
            webhooks=[webhook_message(webhook) for webhook in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def UpdateWebhook(self, request: pb.UpdateWebhookRequest, context: Context) -> pb.UpdateWebhookResponse:
        webhook = await self._webhooks.update_webhook(
            current_principal(),
            request.webhook.id,
            webhook_draft(request.webhook),
            list(request.update_mask.paths),
        )
        return pb.UpdateWebhookResponse(webhook=webhook_message(webhook))

    async def DeleteWebhook(self, request: pb.DeleteWebhookRequest, context: Context) -> pb.DeleteWebhookResponse:
        await self._webhooks.delete_webhook(current_principal(), request.id)
        return pb.DeleteWebhookResponse()

    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Context
    ) -> pb.ListWebhookDeliveriesResponse:
        page = await self._webhooks.list_deliveries(
            current_principal(),
            request.webhook_id,
            state=_optional_enum(DeliveryState, request.state, "state"),
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[delivery_message(delivery) for delivery in page.items],
            page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    async def TestWebhook(self, request: pb.TestWebhookRequest, context: Context) -> pb.TestWebhookResponse:
        delivery = await self._webhooks.test_webhook(current_principal(), request.id)
        return pb.TestWebhookResponse(delivery=delivery_message(delivery))


# --- proto → domain -------------------------------------------------------------------------------


def _optional_enum(kind: type[E], value: int, field: str) -> E | None:
    if value == 0:
        return None
    try:
        return kind(value)
    except ValueError:
        raise InvalidArgument(f"{value} is not a known {field}", field=field) from None


def rule_draft(message: pb.AlertRule) -> RuleDraft:
    return RuleDraft(
        name=message.name,
        kind=message.kind,
        threshold_percent=message.threshold_percent,
        hysteresis_percent=message.hysteresis_percent,
        dedup_window_seconds=message.dedup_window_seconds if message.HasField("dedup_window_seconds") else None,
        competitor_ids=list(message.competitor_ids),
        category_id=message.category_id,
        enabled=message.enabled if message.HasField("enabled") else None,
    )


def webhook_draft(message: pb.Webhook) -> WebhookDraft:
    return WebhookDraft(
        url=message.url,
        description=message.description,
        alert_kinds=list(message.alert_kinds),
        event_types=list(message.event_types),
        active=message.active if message.HasField("active") else None,
    )


# --- domain → proto -------------------------------------------------------------------------------


def _money(value: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=value.amount_minor, currency=value.currency)


def rule_message(rule: AlertRule) -> pb.AlertRule:
    return pb.AlertRule(
        id=rule.id,
        name=rule.name,
        kind=pb.AlertKind.ValueType(rule.kind.value),
        threshold_percent=format_percent(rule.threshold_bp) if rule.kind in THRESHOLD_KINDS else "",
        hysteresis_percent=format_percent(rule.band_bp) if rule.kind in BAND_KINDS else "",
        dedup_window_seconds=int(rule.dedup_window.total_seconds()),
        competitor_ids=rule.competitor_ids,
        category_id=rule.category_id,
        enabled=rule.enabled,
        create_time=to_timestamp(rule.create_time),
        update_time=to_timestamp(rule.update_time),
    )


def alert_message(alert: Alert) -> pb.Alert:
    message = pb.Alert(
        id=alert.id,
        rule_id=alert.rule_id,
        kind=pb.AlertKind.ValueType(alert.kind.value),
        state=pb.AlertState.ValueType(alert.state.value),
        subject=alert.subject,
        competitor_id=alert.competitor_id,
        sku=alert.sku,
        offer_id=alert.offer_id,
        source_id=alert.source_id,
        url=alert.url,
        message=alert.message,
        first_seen_time=to_timestamp(alert.first_seen),
        last_seen_time=to_timestamp(alert.last_seen),
        occurrences=alert.occurrences,
    )
    if alert.price is not None:
        message.price.CopyFrom(_money(alert.price))
    if alert.reference_price is not None:
        message.reference_price.CopyFrom(_money(alert.reference_price))
    if alert.resolve_time is not None:
        message.resolve_time.CopyFrom(to_timestamp(alert.resolve_time))
    return message


def webhook_message(webhook: Webhook) -> pb.Webhook:
    return pb.Webhook(
        id=webhook.id,
        url=webhook.url,
        description=webhook.description,
        alert_kinds=[pb.AlertKind.ValueType(kind.value) for kind in webhook.alert_kinds],
        event_types=[pb.WebhookEventType.ValueType(event.value) for event in webhook.event_types],
        active=webhook.active,
        create_time=to_timestamp(webhook.create_time),
        update_time=to_timestamp(webhook.update_time),
    )


def delivery_message(delivery: Delivery) -> pb.WebhookDelivery:
    message = pb.WebhookDelivery(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=pb.WebhookEventType.ValueType(delivery.event_type.value),
        alert_id=delivery.alert_id,
        state=pb.DeliveryState.ValueType(delivery.state.value),
        attempts=[
            pb.DeliveryAttempt(
                attempt_time=to_timestamp(attempt.time),
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
            for attempt in delivery.attempts
        ],
        create_time=to_timestamp(delivery.create_time),
        body=delivery.body,
    )
    if delivery.next_attempt_time is not None:
        message.next_attempt_time.CopyFrom(to_timestamp(delivery.next_attempt_time))
    if delivery.finish_time is not None:
        message.finish_time.CopyFrom(to_timestamp(delivery.finish_time))
    return message
