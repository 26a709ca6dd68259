"""/v1/alert-rules, /v1/alerts and /v1/webhooks → omnipricex.competitor.v1 AlertRuleService, AlertService and
WebhookService.

Viewers read rules and alerts; analysts manage rules; pricing managers manage webhooks (they hold secrets and
say where the organisation's data goes) and read their delivery logs.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response
from google.protobuf.field_mask_pb2 import FieldMask

from gateway.deps import Analyst, PricingManager, Viewer
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.alerts import (
    ID_PATTERN,
    AlertPage,
    AlertQuery,
    AlertRulePage,
    AlertRulePatch,
    CreatedWebhook,
    DeliveryQuery,
    NewAlertRule,
    NewWebhook,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookPage,
    WebhookPatch,
)
from gateway.schemas.alerts import Alert as AlertModel
from gateway.schemas.alerts import AlertRule as AlertRuleModel
from gateway.schemas.alerts import Webhook as WebhookModel
from gateway.schemas.common import PageQuery
from gateway.translate.common import amount, next_cursor, page_request, rfc3339
from omnipricex.competitor.v1 import alerts_pb2 as pb

router = APIRouter(prefix="/v1", tags=["alerts"], responses=PROTECTED, default_response_class=JsonResponse)
RuleId = Annotated[str, Path(pattern=ID_PATTERN, description="The alert rule's id.")]
AlertId = Annotated[str, Path(pattern=ID_PATTERN, description="The alert's id.")]
WebhookId = Annotated[str, Path(pattern=ID_PATTERN, description="The webhook's id.")]

KIND_NAMES: dict[pb.AlertKind.ValueType, str] = {
    pb.ALERT_KIND_UNDERCUT: "undercut",
    pb.ALERT_KIND_BELOW_MAP: "below_map",
    pb.ALERT_KIND_STOCK_CHANGE: "stock_change",
    pb.ALERT_KIND_NEW_PRODUCT: "new_product",
    pb.ALERT_KIND_PRICE_CHANGE: "price_change",
    pb.ALERT_KIND_EXTRACTION_BROKEN: "extraction_broken",
}
KINDS_BY_NAME = {name: value for value, name in KIND_NAMES.items()}
STATE_NAMES: dict[pb.AlertState.ValueType, str] = {pb.ALERT_STATE_OPEN: "open", pb.ALERT_STATE_RESOLVED: "resolved"}
STATES_BY_NAME = {name: value for value, name in STATE_NAMES.items()}
EVENT_NAMES: dict[pb.WebhookEventType.ValueType, str] = {
    pb.WEBHOOK_EVENT_TYPE_ALERT_FIRED: "alert_fired",
    pb.WEBHOOK_EVENT_TYPE_ALERT_RESOLVED: "alert_resolved",
}
EVENTS_BY_NAME = {name: value for value, name in EVENT_NAMES.items()}
DELIVERY_EVENT_NAMES: dict[pb.WebhookEventType.ValueType, str] = {
    pb.WEBHOOK_EVENT_TYPE_ALERT_FIRED: "alert.fired",
    pb.WEBHOOK_EVENT_TYPE_ALERT_RESOLVED: "alert.resolved",
    pb.WEBHOOK_EVENT_TYPE_PING: "ping",
}
DELIVERY_STATE_NAMES: dict[pb.DeliveryState.ValueType, str] = {
    pb.DELIVERY_STATE_PENDING: "pending",
    pb.DELIVERY_STATE_DELIVERED: "delivered",
    pb.DELIVERY_STATE_FAILED: "failed",
}
DELIVERY_STATES_BY_NAME = {name: value for value, name in DELIVERY_STATE_NAMES.items()}
# Kinds whose rules have a threshold, and those with a hysteresis band.
_THRESHOLD_KINDS = {pb.ALERT_KIND_UNDERCUT, pb.ALERT_KIND_BELOW_MAP, pb.ALERT_KIND_PRICE_CHANGE}
_BAND_KINDS = {pb.ALERT_KIND_UNDERCUT, pb.ALERT_KIND_BELOW_MAP}
_RULE_PATHS = (
    "name",
    "threshold_percent",
    "hysteresis_percent",
    "dedup_window_seconds",
    "competitor_ids",
    "category_id",
    "enabled",
)
_WEBHOOK_PATHS = ("url", "description", "alert_kinds", "event_types", "active")


def rule_location(rule_id: str) -> str:
    return f"/v1/alert-rules/{quote(rule_id, safe='')}"


def webhook_location(webhook_id: str) -> str:
    return f"/v1/webhooks/{quote(webhook_id, safe='')}"


# --- alert rules ----------------------------------------------------------------------------------


@router.get("/alert-rules", response_model=AlertRulePage, summary="List alert rules, oldest first (viewer)")
async def list_alert_rules(query: Annotated[PageQuery, Query()], caller: Viewer) -> Response:
    response = await caller.stubs.alert_rules.ListAlertRules(
        pb.ListAlertRulesRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [rule_json(rule) for rule in response.rules], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/alert-rules",
    response_model=AlertRuleModel,
    status_code=201,
    summary="Create an alert rule (analyst)",
    description="Kinds: undercut (a competitor's in-stock price more than threshold % below ours), below_map (a "
    "reseller below our MAP), stock_change (out of stock fires, back in stock resolves), new_product (a new competitor "
    "product in category_id), price_change (a competitor price moved by more than threshold %), extraction_broken (a "
    "crawl source's extraction broke). Quarantined observations never fire, clear or move a price alert.",
)
async def create_alert_rule(body: NewAlertRule, caller: Analyst) -> Response:
    response = await caller.stubs.alert_rules.CreateAlertRule(
        pb.CreateAlertRuleRequest(rule=_new_rule_message(body)), metadata=caller.metadata, timeout=caller.deadline
    )
    rule = response.rule
    return JsonResponse(rule_json(rule), status_code=201, headers={"Location": rule_location(rule.id)})


@router.get(
    "/alert-rules/{rule_id}",
    response_model=AlertRuleModel,
    responses=problems(404),
    summary="Get an alert rule (viewer)",
)
async def get_alert_rule(rule_id: RuleId, caller: Viewer) -> Response:
    response = await caller.stubs.alert_rules.GetAlertRule(
        pb.GetAlertRuleRequest(id=rule_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(rule_json(response.rule))


@router.patch(
    "/alert-rules/{rule_id}",
    response_model=AlertRuleModel,
    responses=problems(404, 409),
    summary="Change some fields of an alert rule (analyst)",
    description="JSON merge patch (RFC 7396). null puts hysteresis_percent and dedup_window_seconds back to their "
    "defaults. Disabling a rule resolves its open alerts (webhooks hear of it).",
)
async def update_alert_rule(rule_id: RuleId, patch: AlertRulePatch, caller: Analyst) -> Response:
    fields = patch.model_fields_set
    message = pb.AlertRule(
        id=rule_id,
        name=patch.name or "",
        threshold_percent=patch.threshold_percent or "",
        hysteresis_percent=patch.hysteresis_percent or "",
        competitor_ids=patch.competitor_ids or [],
        category_id=patch.category_id or "",
        enabled=bool(patch.enabled),
    )
    if patch.dedup_window_seconds is not None:
        message.dedup_window_seconds = patch.dedup_window_seconds
    response = await caller.stubs.alert_rules.UpdateAlertRule(
        pb.UpdateAlertRuleRequest(rule=message, update_mask=FieldMask(paths=[p for p in _RULE_PATHS if p in fields])),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(rule_json(response.rule))


@router.delete(
    "/alert-rules/{rule_id}",
    status_code=204,
    response_class=Response,
    responses=problems(404),
    summary="Delete an alert rule; its open alerts are resolved and stay listed (analyst)",
)
async def delete_alert_rule(rule_id: RuleId, caller: Analyst) -> Response:
    await caller.stubs.alert_rules.DeleteAlertRule(
        pb.DeleteAlertRuleRequest(id=rule_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return Response(status_code=204)


# --- alerts ---------------------------------------------------------------------------------------


@router.get(
    "/alerts",
    response_model=AlertPage,
    summary="List alerts, newest first (viewer)",
    description="One alert per rule and subject at a time: a condition that clears and fires again within the "
    "rule's dedup window re-opens the same alert (occurrences counts them).",
)
async def list_alerts(query: Annotated[AlertQuery, Query()], caller: Viewer) -> Response:
    request = pb.ListAlertsRequest(
        state=STATES_BY_NAME[query.state] if query.state else pb.ALERT_STATE_UNSPECIFIED,
        kind=KINDS_BY_NAME[query.kind] if query.kind else pb.ALERT_KIND_UNSPECIFIED,
        rule_id=query.rule_id or "",
        page=page_request(query.limit, query.cursor),
    )
    response = await caller.stubs.alerts.ListAlerts(request, metadata=caller.metadata, timeout=caller.deadline)
    return JsonResponse(
        {"items": [alert_json(alert) for alert in response.alerts], "next_cursor": next_cursor(response.page)}
    )


@router.get("/alerts/{alert_id}", response_model=AlertModel, responses=problems(404), summary="Get an alert (viewer)")
async def get_alert(alert_id: AlertId, caller: Viewer) -> Response:
    response = await caller.stubs.alerts.GetAlert(
        pb.GetAlertRequest(id=alert_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(alert_json(response.alert))


# --- webhooks -------------------------------------------------------------------------------------


@router.get("/webhooks", response_model=WebhookPage, summary="List webhooks, oldest first (pricing manager)")
async def list_webhooks(query: Annotated[PageQuery, Query()], caller: PricingManager) -> Response:
    response = await caller.stubs.webhooks.ListWebhooks(
        pb.ListWebhooksRequest(page=page_request(query.limit, query.cursor)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(
        {"items": [webhook_json(item) for item in response.webhooks], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/webhooks",
    response_model=CreatedWebhook,
    status_code=201,
    summary="Register a webhook; its signing secret is shown only in this answer (pricing manager)",
    description="Alert events are POSTed as JSON with X-OmniPriceX-Event, X-OmniPriceX-Delivery, "
    "X-OmniPriceX-Timestamp and X-OmniPriceX-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "
    "'<t>.<raw body>')>. Refuse deliveries whose timestamp is old (replays). Non-2xx answers are retried.",
)
async def create_webhook(body: NewWebhook, caller: PricingManager) -> Response:
    message = pb.Webhook(
        url=body.url,
        description=body.description,
        alert_kinds=[KINDS_BY_NAME[name] for name in body.alert_kinds],
        event_types=[EVENTS_BY_NAME[name] for name in body.event_types],
        active=body.active,
    )
    response = await caller.stubs.webhooks.CreateWebhook(
        pb.CreateWebhookRequest(webhook=message), metadata=caller.metadata, timeout=caller.deadline
    )
    webhook = response.webhook
    return JsonResponse(
        {**webhook_json(webhook), "secret": response.secret},
        status_code=201,
        headers={"Location": webhook_location(webhook.id), "Cache-Control": "no-store"},
    )


@router.get(
    "/webhooks/{webhook_id}",
    response_model=WebhookModel,
    responses=problems(404),
    summary="Get a webhook, without its secret (pricing manager)",
)
async def get_webhook(webhook_id: WebhookId, caller: PricingManager) -> Response:
    response = await caller.stubs.webhooks.GetWebhook(
        pb.GetWebhookRequest(id=webhook_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(webhook_json(response.webhook))


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookModel,
    responses=problems(404, 409),
    summary="Change some fields of a webhook (pricing manager)",
    description="JSON merge patch (RFC 7396). An inactive webhook receives nothing; its pending deliveries fail.",
)
async def update_webhook(webhook_id: WebhookId, patch: WebhookPatch, caller: PricingManager) -> Response:
    fields = patch.model_fields_set
    message = pb.Webhook(
        id=webhook_id,
        url=patch.url or "",
        description=patch.description or "",
        alert_kinds=[KINDS_BY_NAME[name] for name in patch.alert_kinds or []],
        event_types=[EVENTS_BY_NAME[name] for name in patch.event_types or []],
        active=bool(patch.active),
    )
    response = await caller.stubs.webhooks.UpdateWebhook(
        pb.UpdateWebhookRequest(
            webhook=message, update_mask=FieldMask(paths=[p for p in _WEBHOOK_PATHS if p in fields])
        ),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(webhook_json(response.webhook))


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=problems(404),
    summary="Delete a webhook and its delivery log (pricing manager)",
)
async def delete_webhook(webhook_id: WebhookId, caller: PricingManager) -> Response:
    await caller.stubs.webhooks.DeleteWebhook(
        pb.DeleteWebhookRequest(id=webhook_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=WebhookDeliveryPage,
    responses=problems(404),
    summary="A webhook's delivery log, newest first, with every attempt (pricing manager)",
)
async def list_webhook_deliveries(
    webhook_id: WebhookId, query: Annotated[DeliveryQuery, Query()], caller: PricingManager
) -> Response:
    request = pb.ListWebhookDeliveriesRequest(
        webhook_id=webhook_id,
        state=DELIVERY_STATES_BY_NAME[query.state] if query.state else pb.DELIVERY_STATE_UNSPECIFIED,
        page=page_request(query.limit, query.cursor),
    )
    response = await caller.stubs.webhooks.ListWebhookDeliveries(
        request, metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(
        {"items": [delivery_json(item) for item in response.deliveries], "next_cursor": next_cursor(response.page)}
    )


@router.post(
    "/webhooks/{webhook_id}:test",
    response_model=WebhookDelivery,
    status_code=202,
    responses=problems(404),
    summary="Send a signed ping to a webhook; follow it in the delivery log (pricing manager)",
)
async def test_webhook(webhook_id: WebhookId, caller: PricingManager) -> Response:
    response = await caller.stubs.webhooks.TestWebhook(
        pb.TestWebhookRequest(id=webhook_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(delivery_json(response.delivery), status_code=202)


# --- proto ⇄ JSON ---------------------------------------------------------------------------------


def _new_rule_message(body: NewAlertRule) -> pb.AlertRule:
    message = pb.AlertRule(
        name=body.name,
        kind=KINDS_BY_NAME[body.kind],
        threshold_percent=body.threshold_percent or "",
        hysteresis_percent=body.hysteresis_percent or "",
        competitor_ids=body.competitor_ids,
        category_id=body.category_id or "",
        enabled=body.enabled,
    )
    if body.dedup_window_seconds is not None:
        message.dedup_window_seconds = body.dedup_window_seconds
    return message


def rule_json(rule: pb.AlertRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": KIND_NAMES[rule.kind],
        "threshold_percent": rule.threshold_percent if rule.kind in _THRESHOLD_KINDS else None,
        "hysteresis_percent": rule.hysteresis_percent if rule.kind in _BAND_KINDS else None,
        "dedup_window_seconds": rule.dedup_window_seconds,
        "competitor_ids": list(rule.competitor_ids),
        "category_id": rule.category_id or None,
        "enabled": rule.enabled,
        "create_time": rfc3339(rule.create_time),
        "update_time": rfc3339(rule.update_time),
    }


def alert_json(alert: pb.Alert) -> dict[str, Any]:
    price = alert.price if alert.HasField("price") else None
    reference = alert.reference_price if alert.HasField("reference_price") else None
    money = price if price is not None else reference
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "kind": KIND_NAMES[alert.kind],
        "state": STATE_NAMES[alert.state],
        "subject": alert.subject,
        "competitor_id": alert.competitor_id,
        "sku": alert.sku or None,
        "offer_id": alert.offer_id or None,
        "source_id": alert.source_id or None,
        "url": alert.url or None,
        "message": alert.message,
        "price": None if price is None else amount(price),
        "reference_price": None if reference is None else amount(reference),
        "currency": None if money is None else money.currency,
        "first_seen_time": rfc3339(alert.first_seen_time),
        "last_seen_time": rfc3339(alert.last_seen_time),
        "resolve_time": rfc3339(alert.resolve_time) if alert.HasField("resolve_time") else None,
        "occurrences": alert.occurrences,
    }


def webhook_json(webhook: pb.Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "url": webhook.url,
        "description": webhook.description,
        "alert_kinds": [KIND_NAMES[kind] for kind in webhook.alert_kinds],
        "event_types": [EVENT_NAMES[event] for event in webhook.event_types],
        "active": webhook.active,
        "create_time": rfc3339(webhook.create_time),
        "update_time": rfc3339(webhook.update_time),
    }


def delivery_json(delivery: pb.WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "event_type": DELIVERY_EVENT_NAMES[delivery.event_type],
        "alert_id": delivery.alert_id or None,
        "state": DELIVERY_STATE_NAMES[delivery.state],
        "attempts": [
            {
                "time": rfc3339(attempt.attempt_time),
                "status_code": attempt.status_code or None,
                "error": attempt.error or None,
                "duration_ms": attempt.duration_ms,
            }
            for attempt in delivery.attempts
        ],
        "next_attempt_time": rfc3339(delivery.next_attempt_time) if delivery.HasField("next_attempt_time") else None,
        "create_time": rfc3339(delivery.create_time),
        "finish_time": rfc3339(delivery.finish_time) if delivery.HasField("finish_time") else None,
        "body": delivery.body,
    }
