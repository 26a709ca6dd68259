"""Alert rules and alerts without I/O: validation, readings, hysteresis, the dedup window, deliveries' retries."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.competitor.alerts import domain
from services.competitor.alerts.domain import (
    Alert,
    AlertChange,
    AlertKind,
    AlertRule,
    AlertState,
    DeliveryAttempt,
    DeliveryState,
    EventType,
    Reading,
    RuleDraft,
    Status,
    WebhookDraft,
)
from services.competitor.alerts.tests.support import at, eur, health, new_product, rule, seen
from services.competitor.tests.support import ORG_A, START, SequentialIds


def advance_all(the_rule: AlertRule, *readings: Reading | None) -> tuple[Alert | None, list[AlertChange]]:
    """Every reading through `advance` in turn: the head at the end and every change on the way."""
    alert_ids, event_ids = SequentialIds("alt_"), SequentialIds("evt_")
    head: Alert | None = None
    changes: list[AlertChange] = []
    for reading in readings:
        assert reading is not None
        # Judged a second after it was seen: notifications are due from then.
        now = reading.at + timedelta(seconds=1)
        for change in domain.advance(the_rule, head, reading, now=now, alert_ids=alert_ids, event_ids=event_ids):
            changes.append(change)
            if change.after.head:
                head = change.after
    return head, changes


def events_of(changes: list[AlertChange]) -> list[EventType]:
    return [event.type for change in changes for event in change.events]


# --- rules ----------------------------------------------------------------------------------------


def test_percentages_are_exact_basis_points() -> None:
    assert [domain.parse_percent(text, field="f") for text in ("10", "12.5", "0.25", " 100 ")] == [
        1000,
        1250,
        25,
        10000,
    ]
    assert [domain.format_percent(bp) for bp in (1000, 1250, 25, 0)] == ["10", "12.5", "0.25", "0"]
    for wrong in ("-1", "1.234", "1e2", "abc", "", "1000"):
        with pytest.raises(InvalidArgument) as refused:
            domain.parse_percent(wrong, field="threshold_percent")
        assert refused.value.field == "threshold_percent"


def test_rules_get_their_defaults() -> None:
    undercut = rule(AlertKind.UNDERCUT, threshold_percent="10")
    assert (undercut.threshold_bp, undercut.hysteresis_bp, undercut.band_bp) == (1000, None, 100)
    assert undercut.dedup_window == timedelta(hours=6)
    assert undercut.enabled
    assert rule(AlertKind.UNDERCUT, threshold_percent="2").band_bp == 40
    below_map = rule(AlertKind.BELOW_MAP)
    assert (below_map.threshold_bp, below_map.band_bp) == (0, 0)
    assert rule(AlertKind.UNDERCUT, threshold_percent="5", hysteresis_percent="2.5").band_bp == 250
    assert rule(AlertKind.STOCK_CHANGE, dedup_window_seconds=0).dedup_window == timedelta(0)


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        (AlertKind.UNDERCUT, {}, "threshold_percent"),
        (AlertKind.UNDERCUT, {"threshold_percent": "0"}, "threshold_percent"),
        (AlertKind.UNDERCUT, {"threshold_percent": "100.01"}, "threshold_percent"),
        (AlertKind.PRICE_CHANGE, {"threshold_percent": "101"}, "threshold_percent"),
        (AlertKind.BELOW_MAP, {"threshold_percent": "100"}, "threshold_percent"),
        (AlertKind.STOCK_CHANGE, {"threshold_percent": "5"}, "threshold_percent"),
        (AlertKind.UNDERCUT, {"threshold_percent": "5", "hysteresis_percent": "6"}, "hysteresis_percent"),
        (AlertKind.PRICE_CHANGE, {"threshold_percent": "5", "hysteresis_percent": "1"}, "hysteresis_percent"),
        (AlertKind.NEW_PRODUCT, {}, "category_id"),
        (AlertKind.NEW_PRODUCT, {"category_id": "bad id!"}, "category_id"),
        (AlertKind.UNDERCUT, {"threshold_percent": "5", "category_id": "kettles"}, "category_id"),
        (AlertKind.STOCK_CHANGE, {"competitor_ids": ["shop-1"]}, "competitor_ids"),
        (AlertKind.STOCK_CHANGE, {"dedup_window_seconds": -1}, "dedup_window_seconds"),
        (AlertKind.STOCK_CHANGE, {"dedup_window_seconds": 31 * 86400}, "dedup_window_seconds"),
        (AlertKind.STOCK_CHANGE, {"name": "  "}, "name"),
        (AlertKind.STOCK_CHANGE, {"name": "two\nlines"}, "name"),
    ],
)
def test_bad_rules_are_refused_with_the_field(kind: AlertKind, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        rule(kind, **fields)
    assert refused.value.field == field


def test_a_rule_without_a_kind_is_refused() -> None:
    with pytest.raises(InvalidArgument) as refused:
        domain.new_rule(ORG_A, "rul_" + "0" * 26, RuleDraft(name="x"), now=START)
    assert refused.value.field == "kind"


def test_updates_follow_the_mask_and_a_default_band_follows_the_threshold() -> None:
    original = rule(AlertKind.UNDERCUT, threshold_percent="10")
    later = START + timedelta(minutes=1)
    moved = domain.updated_rule(original, RuleDraft(threshold_percent="20"), {"threshold_percent"}, now=later)
    assert (moved.threshold_bp, moved.band_bp, moved.revision, moved.update_time) == (2000, 100, 2, later)
    assert moved.create_time == original.create_time
    assert domain.updated_rule(moved, RuleDraft(threshold_percent="20"), {"threshold_percent"}, now=later) is moved
    explicit = domain.updated_rule(moved, RuleDraft(hysteresis_percent="5"), {"hysteresis_percent"}, now=later)
    with pytest.raises(InvalidArgument) as refused:
        domain.updated_rule(explicit, RuleDraft(threshold_percent="4"), {"threshold_percent"}, now=later)
    assert refused.value.field == "hysteresis_percent"
    with pytest.raises(InvalidArgument):
        domain.parse_rule_mask(["kind"])
    stock = rule(AlertKind.STOCK_CHANGE)
    assert not domain.updated_rule(stock, RuleDraft(enabled=False), {"enabled"}, now=later).enabled


# --- readings -------------------------------------------------------------------------------------


def test_undercut_messages_say_it_in_words() -> None:
    undercut = rule(AlertKind.UNDERCUT, threshold_percent="10")
    reading = domain.judge_undercut(undercut, seen(0, 8404), eur(9580), "Shop X")
    assert reading is not None
    assert reading.message == "Shop X sells SKU-1 at 84.04 EUR, 12.3 % below our 95.80 EUR"
    assert (reading.status, reading.price, reading.reference_price) == (Status.FIRING, eur(8404), eur(9580))
    above = domain.judge_undercut(undercut, seen(0, 9999), eur(9580), "Shop X")
    assert above is not None
    assert (above.status, above.message) == (Status.CLEAR, "Shop X sells SKU-1 at 99.99 EUR, 4.4 % above our 95.80 EUR")
    out = domain.judge_undercut(undercut, seen(0, 5000, in_stock=False), eur(9580), "Shop X")
    assert out is not None
    assert out.status is Status.CLEAR, "an out-of-stock competitor undercuts nobody"


def test_quarantined_observations_are_never_read() -> None:
    quarantined = seen(0, 100, quarantined=True, in_stock=False)
    assert domain.judge_undercut(rule(AlertKind.UNDERCUT, threshold_percent="1"), quarantined, eur(9580), "S") is None
    assert domain.judge_below_map(rule(AlertKind.BELOW_MAP), quarantined, eur(2499), "S") is None
    assert domain.judge_stock(quarantined, "S") is None
    assert (
        domain.judge_price_change(rule(AlertKind.PRICE_CHANGE, threshold_percent="1"), quarantined, eur(9580), "S")
        is None
    )


def test_other_readings() -> None:
    below = domain.judge_below_map(rule(AlertKind.BELOW_MAP), seen(0, 2000), eur(2499), "Shop X")
    assert below is not None
    assert below.message == "Shop X sells SKU-1 at 20.00 EUR, 20.0 % below its MAP of 24.99 EUR"
    change = domain.judge_price_change(
        rule(AlertKind.PRICE_CHANGE, threshold_percent="10"), seen(0, 9900), eur(8404), "Shop X"
    )
    assert change is not None
    assert change.message == "Shop X raised SKU-1 from 84.04 EUR to 99.00 EUR (+17.8 %)"
    small = domain.judge_price_change(
        rule(AlertKind.PRICE_CHANGE, threshold_percent="10"), seen(0, 9000), eur(8404), "S"
    )
    assert small is None, "a 7 % move is under a 10 % threshold"
    other_currency = domain.judge_undercut(
        rule(AlertKind.UNDERCUT, threshold_percent="1"), seen(0, 1), Money(100, "USD"), "S"
    )
    assert other_currency is None, "prices in other currencies are not compared"
    watched = rule(AlertKind.NEW_PRODUCT, category_id="kettles")
    product = domain.judge_new_product(watched, new_product(0, "kettles", sku="SKU-9"), "Shop X")
    assert product is not None
    assert (
        product.message
        == "Shop X lists a new product in category kettles: “Kettle 1.7 l” at 29.99 EUR, matched to SKU-9"
    )
    assert domain.judge_new_product(watched, new_product(0, "mugs"), "Shop X") is None
    broken = domain.judge_source_health(health(0, True, reason="every product shows 9.99"), "Shop X")
    assert broken.message == "Extraction from Shop X's source “Main catalog” is broken: every product shows 9.99"
    assert (broken.subject, broken.status) == ("src_1", Status.FIRING)
    assert domain.judge_source_health(health(1, False), "Shop X").status is Status.CLEAR


# --- hysteresis and the dedup window --------------------------------------------------------------


def undercut_reading(minutes: float, theirs: int, the_rule: AlertRule) -> Reading | None:
    return domain.judge_undercut(the_rule, seen(minutes, theirs), eur(10000), "Shop X")


def test_undercut_fires_above_n_and_clears_only_below_n_minus_h() -> None:
    the_rule = rule(AlertKind.UNDERCUT, threshold_percent="10", hysteresis_percent="2")
    head, changes = advance_all(
        the_rule,
        undercut_reading(0, 9000, the_rule),  # 10 % below: not more than N, nothing opens
        undercut_reading(1, 8900, the_rule),  # 11 %: fires
        undercut_reading(2, 9100, the_rule),  # 9 %: inside the band, stays open
        undercut_reading(3, 8950, the_rule),  # 10.5 %: still open, seen again
        undercut_reading(4, 9200, the_rule),  # 8 % = N - h: clears
    )
    assert events_of(changes) == [EventType.ALERT_FIRED, EventType.ALERT_RESOLVED]
    assert head is not None
    assert (head.state, head.first_seen, head.last_seen, head.resolve_time, head.occurrences) == (
        AlertState.RESOLVED,
        at(1),
        at(3),
        at(4),
        1,
    )
    assert head.message == "Shop X sells SKU-1 at 92.00 EUR, 8.0 % below our 100.00 EUR"
    body = json.loads(changes[0].events[0].body)
    assert body["type"] == "alert.fired"
    assert body["alert"]["message"] == "Shop X sells SKU-1 at 89.00 EUR, 11.0 % below our 100.00 EUR"
    assert body["alert"]["price"] == {"amount": "89.00", "currency": "EUR"}
    assert body["rule"] == {"id": the_rule.id, "name": the_rule.name}


def test_a_flap_within_the_window_reopens_the_same_alert_quietly() -> None:
    the_rule = rule(AlertKind.UNDERCUT, threshold_percent="10", hysteresis_percent="2")
    head, changes = advance_all(
        the_rule,
        undercut_reading(0, 8000, the_rule),  # fires: told
        undercut_reading(10, 9500, the_rule),  # clears: told
        undercut_reading(20, 8000, the_rule),  # fires again 20 min later: same alert, not told
        undercut_reading(30, 9500, the_rule),  # clears again: receivers already think so
        undercut_reading(40, 8000, the_rule),  # fires a third time
    )
    assert events_of(changes) == [EventType.ALERT_FIRED, EventType.ALERT_RESOLVED]
    assert head is not None
    assert (head.state, head.occurrences, head.first_seen) == (AlertState.OPEN, 3, at(0))
    assert len({change.after.id for change in changes}) == 1
    # Still firing once the window since the last notification (at minute 10) is over: receivers hear it.
    late = undercut_reading(10 + 6 * 60, 8000, the_rule)
    assert late is not None
    told = domain.advance(
        the_rule, head, late, now=late.at, alert_ids=SequentialIds("alt_x"), event_ids=SequentialIds("evt_x")
    )
    assert events_of(told) == [EventType.ALERT_FIRED]
    assert told[0].after.id == head.id


def test_firing_again_after_the_window_opens_a_new_alert() -> None:
    the_rule = rule(AlertKind.STOCK_CHANGE, dedup_window_seconds=3600)
    head, changes = advance_all(
        the_rule,
        domain.judge_stock(seen(0, 100, in_stock=False), "Shop X"),
        domain.judge_stock(seen(5, 100), "Shop X"),
        domain.judge_stock(seen(125, 100, in_stock=False), "Shop X"),
    )
    assert events_of(changes) == [EventType.ALERT_FIRED, EventType.ALERT_RESOLVED, EventType.ALERT_FIRED]
    assert head is not None
    first = changes[0].after
    assert head.id != first.id
    superseded = [change.after for change in changes if not change.after.head]
    assert [(alert.id, alert.state) for alert in superseded] == [(first.id, AlertState.RESOLVED)]
    assert changes[1].after.message == "Shop X has SKU-1 in stock at 1.00 EUR"
    assert head.message == "Shop X is out of stock of SKU-1"


def test_late_or_repeated_readings_change_nothing() -> None:
    the_rule = rule(AlertKind.STOCK_CHANGE)
    head, _ = advance_all(the_rule, domain.judge_stock(seen(10, 100, in_stock=False), "Shop X"))
    assert head is not None
    for minutes in (10, 5):
        reading = domain.judge_stock(seen(minutes, 100), "Shop X")
        assert reading is not None
        unchanged = domain.advance(
            the_rule, head, reading, now=at(20), alert_ids=SequentialIds("a"), event_ids=SequentialIds("e")
        )
        assert unchanged == []


def test_one_off_alerts_are_resolved_as_they_fire_and_fold_recurrences() -> None:
    the_rule = rule(AlertKind.PRICE_CHANGE, threshold_percent="5")
    readings = [
        domain.judge_price_change(the_rule, seen(0, 11000), eur(10000), "Shop X"),
        domain.judge_price_change(the_rule, seen(60, 9000), eur(11000), "Shop X"),
        domain.judge_price_change(the_rule, seen(7 * 60, 10000), eur(9000), "Shop X"),
    ]
    head, changes = advance_all(the_rule, *readings)
    assert events_of(changes) == [EventType.ALERT_FIRED, EventType.ALERT_FIRED]
    first = changes[1].after
    assert (first.state, first.occurrences, first.last_seen) == (AlertState.RESOLVED, 2, at(60))
    assert first.message == "Shop X cut SKU-1 from 110.00 EUR to 90.00 EUR (-18.2 %)"
    assert head is not None
    assert (head.id != first.id, head.occurrences, head.resolve_time) == (True, 1, at(7 * 60))


def test_a_closed_rule_resolves_its_open_alert() -> None:
    the_rule = rule(AlertKind.EXTRACTION_BROKEN)
    head, _ = advance_all(the_rule, domain.judge_source_health(health(0, True), "Shop X"))
    assert head is not None
    change = domain.closed(the_rule, head, "the rule was deleted", now=at(30), event_ids=SequentialIds("evt_"))
    assert (change.after.state, change.after.resolve_time) == (AlertState.RESOLVED, at(30))
    assert change.after.message.endswith("(closed: the rule was deleted)")
    assert events_of([change]) == [EventType.ALERT_RESOLVED]


# --- webhooks and deliveries ----------------------------------------------------------------------


def test_webhooks_choose_their_events() -> None:
    hook = domain.new_webhook(
        ORG_A,
        "whk_" + "0" * 26,
        WebhookDraft(url="HTTPS://Hooks.Example:443/in", alert_kinds=[AlertKind.UNDERCUT], event_types=[1]),
        secret="s",
        now=START,
    )
    assert hook.url == "https://hooks.example/in"
    the_rule = rule(AlertKind.UNDERCUT, threshold_percent="10")
    _, changes = advance_all(the_rule, undercut_reading(0, 8000, the_rule), undercut_reading(1, 9900, the_rule))
    fired, resolved = (event for change in changes for event in change.events)
    assert [hook.wants(fired), hook.wants(resolved)] == [True, False]
    assert hook.wants(domain.ping_event(hook.id, now=START, event_id="evt_1"))
    assert not replace(hook, active=False).wants(fired)
    assert len(domain.fan_out(ORG_A, fired, [hook, replace(hook, id="whk_" + "1" * 26)])) == 2
    assert domain.fan_out("org_b", fired, [hook]) == []
    for draft in (WebhookDraft(url="ftp://hooks.example/"), WebhookDraft(url="https://user:pw@hooks.example/")):
        with pytest.raises(InvalidArgument) as refused:
            domain.validate_webhook(draft)
        assert refused.value.field == "url"
    with pytest.raises(InvalidArgument):
        domain.validate_webhook(WebhookDraft(url="https://hooks.example/", event_types=[EventType.PING]))


def test_deliveries_retry_with_backoff_then_fail_for_good() -> None:
    the_rule = rule(AlertKind.EXTRACTION_BROKEN)
    _, changes = advance_all(the_rule, domain.judge_source_health(health(0, True), "Shop X"))
    hook = domain.new_webhook(ORG_A, "whk_" + "0" * 26, WebhookDraft(url="https://h.example/"), secret="s", now=START)
    (delivery,) = domain.fan_out(ORG_A, changes[0].events[0], [hook])
    queued = at(0) + timedelta(seconds=1)
    assert (delivery.state, delivery.next_attempt_time, delivery.create_time) == (DeliveryState.PENDING, queued, queued)
    assert json.loads(delivery.body)["time"] == "2026-03-01T09:00:00.000Z", "the body tells when it happened"
    assert delivery.id == domain.delivery_id(delivery.event_id, hook.id)
    delays = (timedelta(seconds=10), timedelta(minutes=1))
    moment = queued
    for expected_wait in (timedelta(seconds=12), timedelta(seconds=72)):
        attempt = DeliveryAttempt(moment, 503, "HTTP 503", 4)
        delivery = domain.attempted(delivery, attempt, delivered=False, delays=delays, jitter=1.2)
        assert (delivery.state, delivery.next_attempt_time) == (DeliveryState.PENDING, moment + expected_wait)
        assert delivery.next_attempt_time is not None
        moment = delivery.next_attempt_time
    failed = domain.attempted(delivery, DeliveryAttempt(moment, 0, "x" * 1000, 10_000), delivered=False, delays=delays)
    assert (failed.state, failed.finish_time, len(failed.attempts)) == (DeliveryState.FAILED, moment, 3)
    assert len(failed.attempts[-1].error) == domain.MAX_ERROR_LENGTH
    done = domain.attempted(delivery, DeliveryAttempt(moment, 204, "", 3), delivered=True, delays=delays)
    assert (done.state, done.next_attempt_time, done.finish_time) == (DeliveryState.DELIVERED, None, moment)
    assert (
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    ) == domain.RETRY_DELAYS
