"""Webhook deliveries end to end: a real HTTP receiver on loopback, signatures, retries, refusals, restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import Role
from runtime.clock import utcnow
from runtime.errors import FailedPrecondition, InvalidArgument
from services.competitor.alerts.domain import AlertKind, Delivery, DeliveryState, RuleDraft, WebhookDraft
from services.competitor.alerts.repository import AlertStore
from services.competitor.alerts.repository.sqlite import open_sqlite_alert_store
from services.competitor.alerts.signing import verify_signature
from services.competitor.alerts.tests.support import CompetitorNames, FakeCatalog, engine_clock, health, receiver
from services.competitor.alerts.wiring import Alerting, build_alerting
from services.competitor.tests.support import ORG_A, principal

pytestmark = pytest.mark.timeout(60)

FAST = (timedelta(milliseconds=50),) * 5


def alerting_for(
    store: AlertStore, allow_hosts: Sequence[str] = (), resolver: Any = None, delays: Sequence[timedelta] = FAST
) -> Alerting:
    return build_alerting(
        store,
        catalog=FakeCatalog(),
        competitors=CompetitorNames(),
        allow_hosts=allow_hosts,
        resolver=resolver,
        delays=delays,
        jitter=lambda: 1.0,
        idle_seconds=0.05,
        clock=engine_clock,
    )


async def broken_source_alert(alerting: Alerting, minutes: float = 0) -> None:
    """A rule watching extraction health, and a source that breaks: one alert.fired to deliver."""
    if not await alerting.store.rules.enabled(ORG_A):
        draft = RuleDraft(name="Broken sources", kind=AlertKind.EXTRACTION_BROKEN)
        await alerting.rules.create_rule(principal(Role.ANALYST), draft)
    await alerting.engine.source_health_changed(health(minutes, True, reason="no price on 9 of 10 pages"))


async def settled(store: AlertStore, webhook_id: str, done: Callable[[list[Delivery]], bool]) -> list[Delivery]:
    """The webhook's deliveries, oldest first, once `done` holds for them (within a few seconds)."""
    for _ in range(200):
        deliveries = await store.deliveries.find(ORG_A, webhook_id, state=None, before_id=None, limit=100)
        deliveries.reverse()
        if done(deliveries):
            return deliveries
        await asyncio.sleep(0.025)
    raise AssertionError(f"deliveries did not settle: {deliveries}")


def finished(deliveries: list[Delivery]) -> bool:
    return bool(deliveries) and all(delivery.state is not DeliveryState.PENDING for delivery in deliveries)


async def test_a_delivery_arrives_signed(sqlite_store: AlertStore) -> None:
    async with receiver() as hooks:
        alerting = alerting_for(sqlite_store, [f"127.0.0.1:{hooks.port}"])
        created = await alerting.webhooks.create_webhook(principal(), WebhookDraft(url=hooks.url))
        assert created.secret.startswith("whsec_")
        await broken_source_alert(alerting)
        async with alerting.worker:
            (delivery,) = await settled(sqlite_store, created.webhook.id, finished)
    assert delivery.state is DeliveryState.DELIVERED
    assert [(attempt.status_code, attempt.error) for attempt in delivery.attempts] == [(200, "")]
    (request,) = hooks.requests
    assert (request.method, request.path) == ("POST", "/hooks/omnipricex?team=pricing")
    headers = request.headers
    assert headers["host"] == f"127.0.0.1:{hooks.port}"
    assert headers["content-type"] == "application/json"
    assert (headers["x-omnipricex-event"], headers["x-omnipricex-delivery"]) == ("alert.fired", delivery.id)
    signed_at = verify_signature(created.secret, headers["x-omnipricex-signature"], request.body, 300)
    assert str(signed_at) == headers["x-omnipricex-timestamp"]
    body = json.loads(request.body)
    assert body["type"] == "alert.fired"
    assert (
        body["alert"]["message"]
        == "Extraction from Shop X's source “Main catalog” is broken: no price on 9 of 10 pages"
    )
    assert request.body.decode() == delivery.body
    with pytest.raises(ValueError, match="does not match"):
        verify_signature("whsec_someone-else", headers["x-omnipricex-signature"], request.body, 300)


async def test_failed_attempts_are_retried_and_logged(sqlite_store: AlertStore) -> None:
    async with receiver(500, 500) as hooks:
        alerting = alerting_for(sqlite_store, [f"127.0.0.1:{hooks.port}"])
        created = await alerting.webhooks.create_webhook(principal(), WebhookDraft(url=hooks.url))
        await broken_source_alert(alerting)
        async with alerting.worker:
            (delivery,) = await settled(sqlite_store, created.webhook.id, finished)
    assert delivery.state is DeliveryState.DELIVERED
    assert [(attempt.status_code, attempt.error) for attempt in delivery.attempts] == [
        (500, "HTTP 500 Scripted"),
        (500, "HTTP 500 Scripted"),
        (200, ""),
    ]
    first, second, third = (attempt.time for attempt in delivery.attempts)
    assert second - first >= FAST[0]
    assert third - second >= FAST[1]
    assert delivery.finish_time == delivery.attempts[-1].time
    assert len({request.headers["x-omnipricex-delivery"] for request in hooks.requests}) == 1
    for request in hooks.requests:
        verify_signature(created.secret, request.headers["x-omnipricex-signature"], request.body, 300)


async def test_a_delivery_fails_for_good_once_the_retries_are_used(sqlite_store: AlertStore) -> None:
    async with receiver(503, 503, 503, 503) as hooks:
        alerting = alerting_for(sqlite_store, [f"127.0.0.1:{hooks.port}"], delays=FAST[:2])
        created = await alerting.webhooks.create_webhook(principal(), WebhookDraft(url=hooks.url))
        await broken_source_alert(alerting)
        async with alerting.worker:
            (delivery,) = await settled(sqlite_store, created.webhook.id, finished)
    assert delivery.state is DeliveryState.FAILED
    assert [attempt.status_code for attempt in delivery.attempts] == [503, 503, 503]
    assert len(hooks.requests) == 3


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
        ("http://2130706433:{port}/hook", "127.0.0.1 is a loopback address"),
        ("http://0177.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
        ("http://[::1]:{port}/hook", "::1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a cloud metadata address"),
        ("http://10.20.30.40/hook", "10.20.30.40 is a private address"),
    ],
)
async def test_literal_private_addresses_are_refused_at_registration(
    sqlite_store: AlertStore, url: str, reason: str
) -> None:
    alerting = alerting_for(sqlite_store, ["127.0.0.1:1"])
    with pytest.raises(InvalidArgument) as refused:
        await alerting.webhooks.create_webhook(principal(), WebhookDraft(url=url.format(port=8080)))
    assert refused.value.field == "url"
    assert reason in refused.value.message
    assert await sqlite_store.webhooks.count(ORG_A) == 0
    for bad in ("file://hooks.example/in", "gopher://hooks.example/", "hooks.example/in", "https://u:p@hooks.example/"):
        with pytest.raises(InvalidArgument):
            await alerting.webhooks.create_webhook(principal(), WebhookDraft(url=bad))
    await alerting.worker.stop()


async def test_names_resolving_to_private_addresses_are_refused_when_delivering(sqlite_store: AlertStore) -> None:
    async with receiver() as hooks:
        answers = {"hooks.internal.test": ["127.0.0.1"], "mixed.test": ["93.184.215.14", "10.1.2.3"]}

        async def resolve(host: str, port: int) -> list[str]:
            return answers[host]

        alerting = alerting_for(sqlite_store, resolver=resolve)
        loopback = await alerting.webhooks.create_webhook(
            principal(), WebhookDraft(url=f"http://hooks.internal.test:{hooks.port}/in")
        )
        mixed = await alerting.webhooks.create_webhook(principal(), WebhookDraft(url="https://mixed.test/in"))
        await broken_source_alert(alerting)
        async with alerting.worker:
            (refused_loopback,) = await settled(sqlite_store, loopback.webhook.id, finished)
            (refused_mixed,) = await settled(sqlite_store, mixed.webhook.id, finished)
    assert hooks.connections == 0, "no connection reached the listening side"
    assert refused_loopback.state is DeliveryState.FAILED
    ((status, error),) = [(attempt.status_code, attempt.error) for attempt in refused_loopback.attempts]
    assert (status, error) == (
        0,
        "refused: hooks.internal.test resolves to 127.0.0.1, a loopback address (not allow-listed)",
    )
    assert refused_mixed.attempts[-1].error == (
        "refused: mixed.test resolves to 10.1.2.3, a private address (RFC 1918) (not allow-listed)"
    )


async def test_an_allow_listed_name_is_reached_at_its_checked_address(sqlite_store: AlertStore) -> None:
    async with receiver() as hooks:

        async def resolve(host: str, port: int) -> list[str]:
            assert host == "hooks.local.test"
            return ["127.0.0.1"]

        alerting = alerting_for(sqlite_store, ["hooks.local.test"], resolver=resolve)
        created = await alerting.webhooks.create_webhook(
            principal(), WebhookDraft(url=f"http://hooks.local.test:{hooks.port}/in")
        )
        delivery = await alerting.webhooks.test_webhook(principal(), created.webhook.id)
        async with alerting.worker:
            (done,) = await settled(sqlite_store, created.webhook.id, finished)
    assert (done.id, done.state) == (delivery.id, DeliveryState.DELIVERED)
    (request,) = hooks.requests
    assert request.headers["host"] == f"hooks.local.test:{hooks.port}"
    assert request.headers["x-omnipricex-event"] == "ping"
    assert json.loads(request.body) == {
        "id": delivery.event_id,
        "type": "ping",
        "time": json.loads(delivery.body)["time"],
        "webhook_id": created.webhook.id,
    }


async def test_pending_deliveries_resume_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "competitor.sqlite3"
    async with receiver() as hooks:
        allow = [f"127.0.0.1:{hooks.port}"]
        before = await open_sqlite_alert_store(path)
        crashed = alerting_for(before, allow)
        created = await crashed.webhooks.create_webhook(principal(), WebhookDraft(url=hooks.url))
        await broken_source_alert(crashed)
        await broken_source_alert(crashed, minutes=1)
        await crashed.engine.source_health_changed(health(2, True, source_id="src_2"))
        # A worker took one delivery and died before recording what happened to it.
        (taken,) = await before.deliveries.claim_due(utcnow(), timedelta(milliseconds=300), 1)
        await crashed.worker.stop()
        await before.close()
        assert hooks.requests == []

        after = await open_sqlite_alert_store(path)
        restarted = alerting_for(after, allow)
        try:
            await restarted.start()
            deliveries = await settled(after, created.webhook.id, lambda found: len(found) == 2 and finished(found))
        finally:
            await restarted.stop()
    assert taken.id in {delivery.id for delivery in deliveries}
    assert [delivery.state for delivery in deliveries] == [DeliveryState.DELIVERED] * 2
    assert sorted(request.headers["x-omnipricex-delivery"] for request in hooks.requests) == sorted(
        delivery.id for delivery in deliveries
    )


async def test_an_inactive_webhook_gets_nothing(sqlite_store: AlertStore) -> None:
    async with receiver() as hooks:
        alerting = alerting_for(sqlite_store, [f"127.0.0.1:{hooks.port}"])
        created = await alerting.webhooks.create_webhook(principal(), WebhookDraft(url=hooks.url))
        await broken_source_alert(alerting)
        manager = principal()
        await alerting.webhooks.update_webhook(manager, created.webhook.id, WebhookDraft(active=False), ["active"])
        with pytest.raises(FailedPrecondition):
            await alerting.webhooks.test_webhook(manager, created.webhook.id)
        async with alerting.worker:
            (delivery,) = await settled(sqlite_store, created.webhook.id, finished)
        await alerting.engine.source_health_changed(health(5, False))
    assert (delivery.state, delivery.attempts[-1].error) == (DeliveryState.FAILED, "the webhook is inactive")
    assert hooks.connections == 0
    assert len(await sqlite_store.deliveries.find(ORG_A, created.webhook.id, state=None, before_id=None, limit=9)) == 1
