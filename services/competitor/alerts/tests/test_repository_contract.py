"""The alert store's contract: the same tests on SQLite, the MongoDB stand-in and (with MONGODB_URI) MongoDB."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from runtime.errors import Conflict
from services.competitor.alerts import domain
from services.competitor.alerts.domain import (
    Alert,
    AlertChange,
    AlertKind,
    AlertRule,
    AlertState,
    Baseline,
    DeliveryAttempt,
    DeliveryState,
    RuleDraft,
    Webhook,
    WebhookDraft,
)
from services.competitor.alerts.repository import AlertStore
from services.competitor.alerts.tests.support import OFFER, OTHER_OFFER, at, eur, health, rule, seen
from services.competitor.tests.support import ORG_A, ORG_B, START, SequentialIds

pytestmark = pytest.mark.timeout(60)


def webhook(number: int, organization_id: str = ORG_A, **fields: Any) -> Webhook:
    draft = WebhookDraft(url=f"https://hooks.example/{number}", **fields)
    return domain.new_webhook(organization_id, f"whk_{number:026d}", draft, secret=f"whsec_{number}", now=START)


def fired(the_rule: AlertRule, minutes: float, *, offer_id: str = OFFER) -> list[AlertChange]:
    """The changes of an out-of-stock (or broken source) reading on a fresh head."""
    ids = SequentialIds(f"alt_{int(minutes):03d}")
    events = SequentialIds(f"evt_{int(minutes):03d}")
    if the_rule.kind is AlertKind.EXTRACTION_BROKEN:
        reading = domain.judge_source_health(health(minutes, True), "Shop X")
    else:
        judged = domain.judge_stock(seen(minutes, 100, in_stock=False, offer_id=offer_id), "Shop X")
        assert judged is not None
        reading = judged
    return domain.advance(the_rule, None, reading, now=at(minutes), alert_ids=ids, event_ids=events)


# --- rules ----------------------------------------------------------------------------------------


async def test_rules_are_created_listed_updated_and_deleted(store: AlertStore) -> None:
    first = rule(AlertKind.UNDERCUT, threshold_percent="12.5", competitor_ids=["cmp_" + "0" * 25 + "1"])
    second = rule(AlertKind.NEW_PRODUCT, category_id="kettles", enabled=False, dedup_window_seconds=0)
    elsewhere = rule(AlertKind.STOCK_CHANGE, organization_id=ORG_B)
    for created in (first, second, elsewhere):
        await store.rules.create(created)
    assert await store.rules.get(ORG_A, first.id) == first
    assert await store.rules.get(ORG_B, first.id) is None
    assert await store.rules.get(ORG_A, second.id) == second
    assert await store.rules.find(ORG_A, after_id="", limit=1) == [first]
    assert await store.rules.find(ORG_A, after_id=first.id, limit=5) == [second]
    assert await store.rules.enabled(ORG_A) == [first]
    assert (await store.rules.count(ORG_A), await store.rules.count(ORG_B)) == (2, 1)
    with pytest.raises(Conflict):
        await store.rules.create(first)

    changed = domain.updated_rule(first, RuleDraft(hysteresis_percent="0.5"), {"hysteresis_percent"}, now=at(1))
    await store.rules.update(first, changed)
    assert await store.rules.get(ORG_A, first.id) == changed
    with pytest.raises(Conflict):
        await store.rules.update(first, replace(changed, name="lost update"))
    assert await store.rules.delete(ORG_A, first.id)
    assert not await store.rules.delete(ORG_A, first.id)
    assert await store.rules.get(ORG_A, first.id) is None
    assert await store.rules.count(ORG_B) == 1


# --- alerts and the outbox ------------------------------------------------------------------------


async def test_an_alert_and_the_deliveries_of_its_events_are_stored_together(store: AlertStore) -> None:
    to_all, to_map_only, switched_off = webhook(1), webhook(2, alert_kinds=[AlertKind.BELOW_MAP]), webhook(3)
    for created in (to_all, to_map_only, replace(switched_off, active=False), webhook(4, ORG_B)):
        await store.webhooks.create(created)
    stock = rule(AlertKind.STOCK_CHANGE)
    changes = fired(stock, 0)
    await store.alerts.record(ORG_A, changes, [])

    alert = changes[-1].after
    assert await store.alerts.get(ORG_A, alert.id) == alert
    assert await store.alerts.get(ORG_B, alert.id) is None
    assert await store.alerts.heads(ORG_A, [alert.head_key, "rul_x nothing"]) == {alert.head_key: alert}
    (event,) = changes[-1].events
    (delivery,) = await store.deliveries.find(ORG_A, to_all.id, state=None, before_id=None, limit=10)
    assert (delivery.id, delivery.event_id, delivery.event_type, delivery.alert_id) == (
        domain.delivery_id(event.id, to_all.id),
        event.id,
        event.type,
        alert.id,
    )
    assert (delivery.state, delivery.attempts, delivery.next_attempt_time) == (DeliveryState.PENDING, (), at(0))
    assert json.loads(delivery.body)["alert"]["id"] == alert.id
    assert await store.deliveries.get(ORG_A, delivery.id) == delivery
    for other in (to_map_only, switched_off):
        assert await store.deliveries.find(ORG_A, other.id, state=None, before_id=None, limit=10) == []
    assert await store.deliveries.flush_outbox(100) == 0, "nothing is left to fan out after a completed write"


async def test_one_head_per_rule_and_subject(store: AlertStore) -> None:
    stock = rule(AlertKind.STOCK_CHANGE)
    first = fired(stock, 0)
    await store.alerts.record(ORG_A, first, [])
    with pytest.raises(Conflict):
        await store.alerts.record(ORG_A, fired(stock, 1), [])
    head = first[-1].after
    with pytest.raises(Conflict):
        await store.alerts.record(ORG_A, [AlertChange(replace(head, revision=7), replace(head, revision=8))], [])

    resolved = replace(head, state=AlertState.RESOLVED, resolve_time=at(2), checked_time=at(2), revision=2)
    await store.alerts.record(ORG_A, [AlertChange(head, resolved)], [])
    later = domain.judge_stock(seen(600, 100, in_stock=False), "Shop X")
    assert later is not None
    replacing = domain.advance(
        stock, resolved, later, now=at(600), alert_ids=SequentialIds("alt_z"), event_ids=SequentialIds("e")
    )
    assert [change.after.head for change in replacing] == [False, True]
    await store.alerts.record(ORG_A, replacing, [])
    new_head = replacing[-1].after
    assert await store.alerts.heads(ORG_A, [head.head_key]) == {head.head_key: new_head}
    old = await store.alerts.get(ORG_A, head.id)
    assert old is not None
    assert (old.head, old.state) == (False, AlertState.RESOLVED)
    other_offer = fired(stock, 3, offer_id=OTHER_OFFER)
    await store.alerts.record(ORG_A, other_offer, [])
    assert len(await store.alerts.heads(ORG_A, [head.head_key, other_offer[-1].after.head_key])) == 2


async def test_alerts_are_listed_newest_first_with_filters(store: AlertStore) -> None:
    stock, broken = rule(AlertKind.STOCK_CHANGE), rule(AlertKind.EXTRACTION_BROKEN)
    recorded: list[Alert] = []
    for minutes, the_rule, offer in ((0, stock, OFFER), (1, broken, OFFER), (2, stock, OTHER_OFFER)):
        changes = fired(the_rule, minutes, offer_id=offer)
        await store.alerts.record(ORG_A, changes, [])
        recorded.append(changes[-1].after)
    await store.alerts.record(ORG_B, fired(rule(AlertKind.STOCK_CHANGE, ORG_B), 3), [])
    newest_first = sorted(recorded, key=lambda alert: alert.id, reverse=True)

    async def ids(**filters: Any) -> list[str]:
        values: dict[str, Any] = {"state": None, "kind": None, "rule_id": None, "before_id": None, "limit": 10}
        values.update(filters)
        return [alert.id for alert in await store.alerts.find(ORG_A, **values)]

    assert await ids() == [alert.id for alert in newest_first]
    assert await ids(limit=1) == [newest_first[0].id]
    assert await ids(before_id=newest_first[0].id) == [alert.id for alert in newest_first[1:]]
    assert await ids(kind=AlertKind.EXTRACTION_BROKEN) == [recorded[1].id]
    assert await ids(rule_id=stock.id) == [recorded[2].id, recorded[0].id]
    assert await ids(state=AlertState.RESOLVED) == []
    assert await ids(state=AlertState.OPEN, kind=AlertKind.STOCK_CHANGE, limit=1) == [recorded[2].id]


async def test_baselines_move_forward(store: AlertStore) -> None:
    await store.alerts.record(ORG_A, [], [Baseline(OFFER, eur(8404), at(0)), Baseline(OTHER_OFFER, eur(1), at(0))])
    await store.alerts.record(ORG_A, [], [Baseline(OFFER, eur(9900), at(5))])
    await store.alerts.record(ORG_B, [], [Baseline(OFFER, eur(5), at(9))])
    assert await store.alerts.baselines(ORG_A, [OFFER, OTHER_OFFER, "off_none"]) == {
        OFFER: Baseline(OFFER, eur(9900), at(5)),
        OTHER_OFFER: Baseline(OTHER_OFFER, eur(1), at(0)),
    }


# --- deliveries -----------------------------------------------------------------------------------


async def test_due_deliveries_are_claimed_under_a_lease(store: AlertStore) -> None:
    hook = webhook(1)
    await store.webhooks.create(hook)
    for minutes in (0, 1):
        await store.alerts.record(ORG_A, fired(rule(AlertKind.STOCK_CHANGE), minutes), [])
    assert await store.deliveries.next_due(at(0)) == at(0)
    lease = timedelta(minutes=2)
    assert await store.deliveries.claim_due(at(0.5), lease, 10) != []
    assert await store.deliveries.next_due(at(0.5)) == at(1), "the other one, not the held one"
    claimed = await store.deliveries.claim_due(at(1), lease, 10)
    assert [delivery.next_attempt_time for delivery in claimed] == [at(1)], "the first is leased already"
    assert await store.deliveries.claim_due(at(2), lease, 10) == []
    assert await store.deliveries.next_due(at(2)) == at(2.5), "both held: the first lease to end"
    again = await store.deliveries.claim_due(at(3), lease, 10)
    assert [delivery.next_attempt_time for delivery in again] == [at(0), at(1)], "leases ran out: both come back"

    retried = domain.attempted(again[0], DeliveryAttempt(at(3), 500, "HTTP 500", 12), delivered=False)
    await store.deliveries.save(retried)
    delivered = domain.attempted(again[1], DeliveryAttempt(at(3), 204, "", 8), delivered=True)
    await store.deliveries.save(delivered)
    assert await store.deliveries.get(ORG_A, retried.id) == retried
    assert await store.deliveries.get(ORG_A, delivered.id) == delivered
    assert await store.deliveries.next_due(at(3)) == retried.next_attempt_time
    assert retried.next_attempt_time is not None
    assert await store.deliveries.claim_due(retried.next_attempt_time - timedelta(seconds=1), lease, 10) == []
    assert [d.id for d in await store.deliveries.claim_due(retried.next_attempt_time, lease, 10)] == [retried.id]
    by_state = await store.deliveries.find(ORG_A, hook.id, state=DeliveryState.DELIVERED, before_id=None, limit=10)
    assert by_state == [delivered]
    newest = await store.deliveries.find(ORG_A, hook.id, state=None, before_id=None, limit=1)
    assert newest[0].id == max(retried.id, delivered.id)
    older = await store.deliveries.find(ORG_A, hook.id, state=None, before_id=newest[0].id, limit=5)
    assert [d.id for d in older] == [min(retried.id, delivered.id)]


async def test_pings_are_enqueued_once_and_deleting_a_webhook_deletes_its_log(store: AlertStore) -> None:
    hook, other = webhook(1), webhook(2)
    await store.webhooks.create(hook)
    await store.webhooks.create(other)
    ping = domain.ping_event(hook.id, now=at(0), event_id="evt_" + "0" * 26)
    (queued,) = await store.deliveries.enqueue(ORG_A, ping, [hook])
    await store.deliveries.enqueue(ORG_A, ping, [hook])
    assert await store.deliveries.find(ORG_A, hook.id, state=None, before_id=None, limit=10) == [queued]
    await store.deliveries.enqueue(ORG_A, ping, [other])
    assert await store.webhooks.delete(ORG_A, hook.id)
    assert not await store.webhooks.delete(ORG_A, hook.id)
    assert await store.deliveries.get(ORG_A, queued.id) is None
    assert len(await store.deliveries.find(ORG_A, other.id, state=None, before_id=None, limit=10)) == 1
    # Saving a delivery whose webhook is gone changes nothing.
    await store.deliveries.save(domain.given_up(queued, now=at(1), why="the webhook was deleted"))
    assert await store.deliveries.get(ORG_A, queued.id) is None


async def test_webhooks_are_created_listed_and_updated(store: AlertStore) -> None:
    first, second = webhook(1, event_types=[1]), webhook(2, alert_kinds=[AlertKind.UNDERCUT, AlertKind.BELOW_MAP])
    await store.webhooks.create(first)
    await store.webhooks.create(second)
    await store.webhooks.create(webhook(3, ORG_B))
    with pytest.raises(Conflict):
        await store.webhooks.create(first)
    assert await store.webhooks.find(ORG_A, after_id="", limit=10) == [first, second]
    assert await store.webhooks.find(ORG_A, after_id=first.id, limit=10) == [second]
    assert await store.webhooks.get(ORG_B, first.id) is None
    assert (await store.webhooks.count(ORG_A), await store.webhooks.count(ORG_B)) == (2, 1)
    changed = domain.updated_webhook(first, WebhookDraft(active=False), {"active"}, now=at(1))
    await store.webhooks.update(first, changed)
    assert await store.webhooks.get(ORG_A, first.id) == changed
    with pytest.raises(Conflict):
        await store.webhooks.update(first, changed)


async def test_an_interrupted_fan_out_is_finished_once(store: AlertStore, mongo_database: Any, engine: Any) -> None:
    if engine.kind == "sqlite":
        pytest.skip("SQLite writes deliveries in the alert's own transaction: it has no outbox to finish")
    hook = webhook(1)
    await store.webhooks.create(hook)
    changes = fired(rule(AlertKind.EXTRACTION_BROKEN), 0)
    (event,) = changes[-1].events
    # What a crash after the alert's write and before its fan-out leaves: the notification inside the alert.
    await store.alerts.record(ORG_A, [], [])
    from services.competitor.alerts.repository.mongo import ALERTS, _alert_document, _event_document

    await mongo_database[ALERTS].insert_one({**_alert_document(changes[-1].after), "outbox": [_event_document(event)]})
    assert await store.deliveries.find(ORG_A, hook.id, state=None, before_id=None, limit=10) == []
    assert await store.deliveries.flush_outbox(100) == 1
    assert await store.deliveries.flush_outbox(100) == 0
    (delivery,) = await store.deliveries.find(ORG_A, hook.id, state=None, before_id=None, limit=10)
    assert delivery.id == domain.delivery_id(event.id, hook.id)
