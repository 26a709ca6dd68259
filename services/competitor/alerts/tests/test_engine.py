"""The AlertEngine as the market's event sink: rules judged, alerts and deliveries stored, anti-flap kept."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from runtime.auth import Role
from runtime.errors import Unavailable
from services.competitor.alerts import domain
from services.competitor.alerts.domain import Alert, AlertKind, AlertRule, AlertState, Webhook, WebhookDraft
from services.competitor.alerts.engine import ALERTS_SUBJECT, AlertEngine
from services.competitor.alerts.repository import AlertStore
from services.competitor.alerts.tests.support import (
    OFFER,
    OTHER_OFFER,
    RIVAL,
    SHOP,
    CompetitorNames,
    FakeCatalog,
    at,
    engine_clock,
    eur,
    health,
    item,
    new_product,
    rule,
    seen,
)
from services.competitor.market_events import MarketEventSink
from services.competitor.tests.support import ORG_A, ORG_B, START

pytestmark = pytest.mark.timeout(60)


@dataclass
class Bench:
    store: AlertStore
    engine: AlertEngine
    catalog: FakeCatalog
    hook: Webhook
    pokes: list[int]

    async def rule(self, kind: AlertKind, **fields: Any) -> AlertRule:
        created = rule(kind, **fields)
        await self.store.rules.create(created)
        return created

    async def alerts(self, **filters: Any) -> list[Alert]:
        values: dict[str, Any] = {"state": None, "kind": None, "rule_id": None, "before_id": None, "limit": 100}
        values.update(filters)
        return await self.store.alerts.find(ORG_A, **values)

    async def bodies(self) -> list[dict[str, Any]]:
        deliveries = await self.store.deliveries.find(ORG_A, self.hook.id, state=None, before_id=None, limit=100)
        # Ids order deliveries by the millisecond they were made in; the event's time orders them exactly.
        return sorted((json.loads(delivery.body) for delivery in deliveries), key=lambda body: body["time"])


@pytest.fixture
async def bench(sqlite_store: AlertStore) -> Bench:
    catalog = FakeCatalog(item("SKU-1", 9580, map_price=8000), item("SKU-2", 1000))
    pokes: list[int] = []
    engine = AlertEngine(
        sqlite_store,
        catalog,
        CompetitorNames(organizations=(ORG_A, ORG_B)),
        clock=engine_clock,
        on_notify=lambda: pokes.append(1),
    )
    hook = domain.new_webhook(ORG_A, "whk_" + "0" * 26, WebhookDraft(url="https://h.example/"), secret="s", now=START)
    await sqlite_store.webhooks.create(hook)
    return Bench(sqlite_store, engine, catalog, hook, pokes)


async def test_the_engine_is_a_market_event_sink(bench: Bench) -> None:
    sink: MarketEventSink = bench.engine
    await sink.prices_seen([])
    await sink.new_products_seen([])
    assert await bench.alerts() == []


async def test_an_undercut_fires_and_resolves_with_notifications(bench: Bench) -> None:
    undercut = await bench.rule(AlertKind.UNDERCUT, threshold_percent="10")
    await bench.engine.prices_seen([seen(0, 8404), seen(0, 9500, offer_id=OTHER_OFFER, sku="SKU-2")])
    (alert,) = await bench.alerts()
    assert (alert.kind, alert.state, alert.rule_id, alert.subject, alert.sku, alert.competitor_id) == (
        AlertKind.UNDERCUT,
        AlertState.OPEN,
        undercut.id,
        OFFER,
        "SKU-1",
        SHOP,
    )
    assert alert.message == "Shop X sells SKU-1 at 84.04 EUR, 12.3 % below our 95.80 EUR"
    assert bench.catalog.calls == [(ORG_A, frozenset({"SKU-1", "SKU-2"}))]
    await bench.engine.prices_seen([seen(5, 8700)])  # 9.2 %: inside the band (N - h = 9 %)
    await bench.engine.prices_seen([seen(10, 8800)])  # 8.1 %: clears
    (alert,) = await bench.alerts()
    assert (alert.state, alert.last_seen, alert.resolve_time) == (AlertState.RESOLVED, at(0), at(10))
    assert [(body["type"], body["alert"]["id"]) for body in await bench.bodies()] == [
        ("alert.fired", alert.id),
        ("alert.resolved", alert.id),
    ]
    assert len(bench.pokes) == 2, "the delivery worker is woken for each batch with notifications"


async def test_quarantined_observations_never_fire_nor_clear(bench: Bench) -> None:
    await bench.rule(AlertKind.UNDERCUT, threshold_percent="10")
    await bench.rule(AlertKind.STOCK_CHANGE)
    await bench.engine.prices_seen([seen(0, 100, quarantined=True, in_stock=False)])
    assert await bench.alerts() == []
    await bench.engine.prices_seen([seen(1, 5000)])
    (undercut,) = await bench.alerts()
    await bench.engine.prices_seen([seen(2, 9999, quarantined=True, in_stock=False)])
    assert await bench.alerts() == [undercut], "a quarantined price that would clear it changes nothing"
    assert bench.catalog.calls == [(ORG_A, frozenset({"SKU-1"}))], "no catalog read for quarantined-only batches"


async def test_price_changes_compare_with_the_last_price_that_was_a_fact(bench: Bench) -> None:
    await bench.rule(AlertKind.PRICE_CHANGE, threshold_percent="10", dedup_window_seconds=0)
    await bench.engine.prices_seen([seen(0, 10000, previous=9990)])
    assert await bench.alerts() == []
    await bench.engine.prices_seen([seen(1, 99, quarantined=True)])
    await bench.engine.prices_seen([seen(2, 10100)])
    assert await bench.alerts() == [], "100.00 -> 101.00 is 1 %: the quarantined 0.99 in between was no price"
    await bench.engine.prices_seen([seen(3, 12000), seen(4, 12100)])
    (alert,) = await bench.alerts()
    assert alert.message == "Shop X raised SKU-1 from 101.00 EUR to 120.00 EUR (+18.8 %)"
    assert (alert.state, alert.price, alert.reference_price) == (AlertState.RESOLVED, eur(12000), eur(10100))
    await bench.engine.prices_seen([seen(3.5, 5000)])
    assert len(await bench.alerts()) == 1, "an observation older than the last one judged is not a change"
    await bench.engine.prices_seen([seen(5, 6000)])
    newest = (await bench.alerts())[0]
    assert newest.message == "Shop X cut SKU-1 from 121.00 EUR to 60.00 EUR (-50.4 %)"


async def test_first_sighting_uses_the_price_the_ingest_replaced(bench: Bench) -> None:
    await bench.rule(AlertKind.PRICE_CHANGE, threshold_percent="10")
    await bench.engine.prices_seen([seen(0, 8000, previous=10000)])
    (alert,) = await bench.alerts()
    assert alert.message == "Shop X cut SKU-1 from 100.00 EUR to 80.00 EUR (-20.0 %)"


async def test_map_stock_filters_and_organisations(bench: Bench) -> None:
    below_map = await bench.rule(AlertKind.BELOW_MAP)
    stock = await bench.rule(AlertKind.STOCK_CHANGE, competitor_ids=[RIVAL])
    elsewhere = rule(AlertKind.STOCK_CHANGE, ORG_B)
    await bench.store.rules.create(elsewhere)
    await bench.engine.prices_seen(
        [
            seen(0, 7999, in_stock=False),  # below MAP (80.00), out of stock at a competitor the stock rule ignores
            seen(0, 7000, offer_id=OTHER_OFFER, competitor_id=RIVAL, sku="SKU-2", in_stock=False),
            seen(0, 1, in_stock=False, organization_id=ORG_B),
        ]
    )
    by_rule = {alert.rule_id: alert for alert in await bench.alerts()}
    assert set(by_rule) == {below_map.id, stock.id}
    assert by_rule[below_map.id].message == "Shop X sells SKU-1 at 79.99 EUR, 0.01 % below its MAP of 80.00 EUR"
    assert by_rule[stock.id].message == "Rival is out of stock of SKU-2"
    other = await bench.store.alerts.find(ORG_B, state=None, kind=None, rule_id=None, before_id=None, limit=10)
    assert [alert.rule_id for alert in other] == [elsewhere.id]
    await bench.engine.prices_seen([seen(1, 8000)])
    assert (await bench.store.alerts.get(ORG_A, by_rule[below_map.id].id)).state is AlertState.RESOLVED  # type: ignore[union-attr]


async def test_new_products_in_watched_categories(bench: Bench) -> None:
    kettles = await bench.rule(AlertKind.NEW_PRODUCT, category_id="kettles")
    await bench.engine.new_products_seen([new_product(0, "mugs"), new_product(1, "kettles", url="https://s.example/k")])
    (alert,) = await bench.alerts()
    assert (alert.rule_id, alert.subject, alert.state) == (kettles.id, "https://s.example/k", AlertState.RESOLVED)
    assert (
        alert.message
        == "Shop X lists a new product in category kettles: “Kettle 1.7 l” at 29.99 EUR, waiting for review"
    )
    assert [body["type"] for body in await bench.bodies()] == ["alert.fired"]


async def test_extraction_broken_opens_and_resolves_per_source(bench: Bench) -> None:
    await bench.rule(AlertKind.EXTRACTION_BROKEN)
    await bench.engine.source_health_changed(health(0, True, reason="price found on 12 % of pages"))
    await bench.engine.source_health_changed(health(1, True, source_id="src_2"))
    await bench.engine.source_health_changed(health(2, False))
    alerts = {alert.subject: alert for alert in await bench.alerts()}
    assert (alerts["src_1"].state, alerts["src_2"].state) == (AlertState.RESOLVED, AlertState.OPEN)
    assert alerts["src_1"].message == "Extraction from Shop X's source “Main catalog” works again"
    types = [(body["type"], body["alert"]["subject"]) for body in await bench.bodies()]
    assert types == [("alert.fired", "src_1"), ("alert.fired", "src_2"), ("alert.resolved", "src_1")]


async def test_without_the_catalog_other_kinds_are_still_judged(bench: Bench) -> None:
    await bench.rule(AlertKind.UNDERCUT, threshold_percent="10")
    await bench.rule(AlertKind.STOCK_CHANGE)
    bench.catalog.failure = Unavailable("product service is down")
    await bench.engine.prices_seen([seen(0, 100, in_stock=False)])
    assert [alert.kind for alert in await bench.alerts()] == [AlertKind.STOCK_CHANGE]


async def test_catalog_reads_are_made_in_the_organisations_name(bench: Bench) -> None:
    await bench.rule(AlertKind.UNDERCUT, threshold_percent="10")
    await bench.engine.prices_seen([seen(0, 100)])
    (principal,) = bench.catalog.principals
    assert (principal.organization_id, principal.subject_id, principal.role) == (ORG_A, ALERTS_SUBJECT, Role.VIEWER)


async def test_history_is_not_alerted_on(bench: Bench) -> None:
    await bench.rule(AlertKind.STOCK_CHANGE)
    await bench.rule(AlertKind.EXTRACTION_BROKEN)
    await bench.rule(AlertKind.NEW_PRODUCT, category_id="kettles")
    a_day_and_more = -(12 * 60 + 1)
    await bench.engine.prices_seen([seen(a_day_and_more, 100, in_stock=False)])
    await bench.engine.source_health_changed(health(a_day_and_more, True))
    await bench.engine.new_products_seen([new_product(a_day_and_more, "kettles")])
    assert await bench.alerts() == []
    await bench.engine.prices_seen([seen(a_day_and_more + 1, 100, in_stock=False)])
    assert len(await bench.alerts()) == 1, "exactly a day old is still current"
