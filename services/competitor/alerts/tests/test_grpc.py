"""AlertRuleService, AlertService and WebhookService over real gRPC: the shared bootstrap, roles, translation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from omnipricex.common.v1 import paging_pb2
from omnipricex.competitor.v1 import alerts_pb2 as pb
from omnipricex.competitor.v1 import alerts_pb2_grpc
from runtime.auth import AccessTokens, Role
from runtime.grpc_server import ServiceDefinition
from runtime.testing.grpc import access_tokens, metadata_as, rpc_refusal, serving
from services.competitor.alerts.repository.sqlite import open_sqlite_alert_store
from services.competitor.alerts.tests.support import (
    SHOP,
    CompetitorNames,
    FakeCatalog,
    engine_clock,
    health,
    item,
    seen,
)
from services.competitor.alerts.wiring import ALERT_SERVICE_NAMES, Alerting, build_alerting
from services.competitor.tests.support import ORG_A, ORG_B

pytestmark = pytest.mark.timeout(60)


@dataclass
class Client:
    rules: alerts_pb2_grpc.AlertRuleServiceAsyncStub
    alerts: alerts_pb2_grpc.AlertServiceAsyncStub
    webhooks: alerts_pb2_grpc.WebhookServiceAsyncStub
    alerting: Alerting
    tokens: AccessTokens

    def as_(self, role: Role, organization_id: str = ORG_A) -> tuple[tuple[str, str], ...]:
        return metadata_as(self.tokens, role, organization_id)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    tokens = access_tokens()
    store = await open_sqlite_alert_store(tmp_path / "competitor.sqlite3")
    alerting = build_alerting(
        store,
        catalog=FakeCatalog(item("SKU-1", 9580)),
        competitors=CompetitorNames(),
        allow_hosts=["127.0.0.1"],
        clock=engine_clock,
    )
    definition = ServiceDefinition(
        name="competitor", service_names=ALERT_SERVICE_NAMES, register=alerting.register, on_stop=alerting.stop
    )
    async with serving(definition, tokens) as channel:
        yield Client(
            alerts_pb2_grpc.AlertRuleServiceStub(channel),
            alerts_pb2_grpc.AlertServiceStub(channel),
            alerts_pb2_grpc.WebhookServiceStub(channel),
            alerting,
            tokens,
        )


async def test_rules_over_grpc(client: Client) -> None:
    analyst, viewer = client.as_(Role.ANALYST), client.as_(Role.VIEWER)
    undercut = pb.AlertRule(
        name="Undercut by 10 %", kind=pb.ALERT_KIND_UNDERCUT, threshold_percent="10", competitor_ids=[SHOP]
    )
    code, _ = await rpc_refusal(client.rules.CreateAlertRule(pb.CreateAlertRuleRequest(rule=undercut), metadata=viewer))
    assert code is grpc.StatusCode.PERMISSION_DENIED
    created = (await client.rules.CreateAlertRule(pb.CreateAlertRuleRequest(rule=undercut), metadata=analyst)).rule
    assert (created.threshold_percent, created.hysteresis_percent, created.dedup_window_seconds) == ("10", "1", 21600)
    assert (created.enabled, list(created.competitor_ids), created.kind) == (True, [SHOP], pb.ALERT_KIND_UNDERCUT)
    assert created.id.startswith("rul_")

    wrong = pb.AlertRule(name="x", kind=pb.ALERT_KIND_UNDERCUT, threshold_percent="150")
    code, details = await rpc_refusal(
        client.rules.CreateAlertRule(pb.CreateAlertRuleRequest(rule=wrong), metadata=analyst)
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "threshold_percent")
    unknown = pb.AlertRule(name="x", kind=pb.ALERT_KIND_STOCK_CHANGE, competitor_ids=["cmp_" + "9" * 26])
    code, details = await rpc_refusal(
        client.rules.CreateAlertRule(pb.CreateAlertRuleRequest(rule=unknown), metadata=analyst)
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "competitor_ids")
    stock = pb.AlertRule(name="Stock", kind=pb.ALERT_KIND_STOCK_CHANGE, dedup_window_seconds=0, enabled=False)
    second = (await client.rules.CreateAlertRule(pb.CreateAlertRuleRequest(rule=stock), metadata=analyst)).rule
    assert (second.dedup_window_seconds, second.enabled, second.threshold_percent) == (0, False, "")

    page = await client.rules.ListAlertRules(
        pb.ListAlertRulesRequest(page=paging_pb2.PageRequest(page_size=1)), metadata=viewer
    )
    assert [rule.id for rule in page.rules] == [created.id]
    rest = await client.rules.ListAlertRules(
        pb.ListAlertRulesRequest(page=paging_pb2.PageRequest(page_token=page.page.next_page_token)), metadata=viewer
    )
    assert ([rule.id for rule in rest.rules], rest.page.next_page_token) == ([second.id], "")

    patch = pb.AlertRule(id=created.id, threshold_percent="20", hysteresis_percent="5")
    updated = (
        await client.rules.UpdateAlertRule(
            pb.UpdateAlertRuleRequest(
                rule=patch, update_mask=FieldMask(paths=["threshold_percent", "hysteresis_percent"])
            ),
            metadata=analyst,
        )
    ).rule
    assert (updated.threshold_percent, updated.hysteresis_percent, updated.name) == ("20", "5", created.name)
    code, _ = await rpc_refusal(
        client.rules.UpdateAlertRule(
            pb.UpdateAlertRuleRequest(rule=patch, update_mask=FieldMask(paths=["kind"])), metadata=analyst
        )
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT

    other_org = client.as_(Role.OWNER, ORG_B)
    code, _ = await rpc_refusal(client.rules.GetAlertRule(pb.GetAlertRuleRequest(id=created.id), metadata=other_org))
    assert code is grpc.StatusCode.NOT_FOUND
    await client.rules.DeleteAlertRule(pb.DeleteAlertRuleRequest(id=created.id), metadata=analyst)
    code, _ = await rpc_refusal(client.rules.GetAlertRule(pb.GetAlertRuleRequest(id=created.id), metadata=viewer))
    assert code is grpc.StatusCode.NOT_FOUND
    code, _ = await rpc_refusal(client.rules.GetAlertRule(pb.GetAlertRuleRequest(id="nonsense"), metadata=viewer))
    assert code is grpc.StatusCode.INVALID_ARGUMENT


async def test_alerts_over_grpc(client: Client) -> None:
    analyst, viewer = client.as_(Role.ANALYST), client.as_(Role.VIEWER)
    for rule in (
        pb.AlertRule(name="Undercut", kind=pb.ALERT_KIND_UNDERCUT, threshold_percent="10"),
        pb.AlertRule(name="Broken", kind=pb.ALERT_KIND_EXTRACTION_BROKEN),
    ):
        await client.rules.CreateAlertRule(pb.CreateAlertRuleRequest(rule=rule), metadata=analyst)
    await client.alerting.engine.prices_seen([seen(0, 8404)])
    await client.alerting.engine.source_health_changed(health(1, True))
    await client.alerting.engine.source_health_changed(health(2, False))

    listed = await client.alerts.ListAlerts(pb.ListAlertsRequest(), metadata=viewer)
    by_kind_listed = {alert.kind: alert for alert in listed.alerts}
    assert len(listed.alerts) == len(by_kind_listed) == 2
    broken, undercut = by_kind_listed[pb.ALERT_KIND_EXTRACTION_BROKEN], by_kind_listed[pb.ALERT_KIND_UNDERCUT]
    assert (broken.state, broken.HasField("resolve_time"), broken.source_id) == (pb.ALERT_STATE_RESOLVED, True, "src_1")
    assert (undercut.state, undercut.HasField("resolve_time"), undercut.occurrences) == (pb.ALERT_STATE_OPEN, False, 1)
    assert undercut.message == "Shop X sells SKU-1 at 84.04 EUR, 12.3 % below our 95.80 EUR"
    assert (undercut.price.amount_minor, undercut.reference_price.amount_minor) == (8404, 9580)
    only_open = await client.alerts.ListAlerts(pb.ListAlertsRequest(state=pb.ALERT_STATE_OPEN), metadata=viewer)
    assert [alert.id for alert in only_open.alerts] == [undercut.id]
    by_kind = await client.alerts.ListAlerts(
        pb.ListAlertsRequest(kind=pb.ALERT_KIND_EXTRACTION_BROKEN), metadata=viewer
    )
    assert [alert.id for alert in by_kind.alerts] == [broken.id]
    got = await client.alerts.GetAlert(pb.GetAlertRequest(id=undercut.id), metadata=viewer)
    assert got.alert == undercut
    code, _ = await rpc_refusal(client.alerts.ListAlerts(pb.ListAlertsRequest(state=99), metadata=viewer))  # type: ignore[arg-type]
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    elsewhere = await client.alerts.ListAlerts(pb.ListAlertsRequest(), metadata=client.as_(Role.OWNER, ORG_B))
    assert list(elsewhere.alerts) == []


async def test_webhooks_over_grpc(client: Client) -> None:
    manager, analyst = client.as_(Role.PRICING_MANAGER), client.as_(Role.ANALYST)
    hook = pb.Webhook(url="https://hooks.example/in", description="Slack bridge", alert_kinds=[pb.ALERT_KIND_UNDERCUT])
    code, _ = await rpc_refusal(client.webhooks.CreateWebhook(pb.CreateWebhookRequest(webhook=hook), metadata=analyst))
    assert code is grpc.StatusCode.PERMISSION_DENIED
    created = await client.webhooks.CreateWebhook(pb.CreateWebhookRequest(webhook=hook), metadata=manager)
    assert created.secret.startswith("whsec_")
    assert (created.webhook.active, list(created.webhook.alert_kinds)) == (True, [pb.ALERT_KIND_UNDERCUT])
    got = (await client.webhooks.GetWebhook(pb.GetWebhookRequest(id=created.webhook.id), metadata=manager)).webhook
    assert got == created.webhook
    assert created.secret not in str(got)

    private = pb.Webhook(url="http://192.168.1.10/hook")
    code, details = await rpc_refusal(
        client.webhooks.CreateWebhook(pb.CreateWebhookRequest(webhook=private), metadata=manager)
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("url: webhooks may not deliver to 192.168.1.10 is a private address")
    patch = pb.Webhook(id=created.webhook.id, event_types=[pb.WEBHOOK_EVENT_TYPE_ALERT_FIRED])
    updated = await client.webhooks.UpdateWebhook(
        pb.UpdateWebhookRequest(webhook=patch, update_mask=FieldMask(paths=["event_types"])), metadata=manager
    )
    assert list(updated.webhook.event_types) == [pb.WEBHOOK_EVENT_TYPE_ALERT_FIRED]

    ping = (await client.webhooks.TestWebhook(pb.TestWebhookRequest(id=created.webhook.id), metadata=manager)).delivery
    assert (ping.event_type, ping.state, ping.webhook_id) == (
        pb.WEBHOOK_EVENT_TYPE_PING,
        pb.DELIVERY_STATE_PENDING,
        created.webhook.id,
    )
    log = await client.webhooks.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(webhook_id=created.webhook.id), metadata=manager
    )
    assert [delivery.id for delivery in log.deliveries] == [ping.id]
    listed = await client.webhooks.ListWebhooks(pb.ListWebhooksRequest(), metadata=manager)
    assert [webhook.id for webhook in listed.webhooks] == [created.webhook.id]
    await client.webhooks.DeleteWebhook(pb.DeleteWebhookRequest(id=created.webhook.id), metadata=manager)
    code, _ = await rpc_refusal(
        client.webhooks.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(webhook_id=created.webhook.id), metadata=manager
        )
    )
    assert code is grpc.StatusCode.NOT_FOUND
