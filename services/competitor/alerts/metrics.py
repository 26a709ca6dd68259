"""Business counters of competitor alerting, exported on the competitor service's /metrics endpoint."""

from __future__ import annotations

from prometheus_client import Counter

ALERT_EVENTS = Counter(
    "omnipricex_alert_events_total",
    "Alert notifications stored for webhooks, by alert kind and event (alert_fired, alert_resolved)",
    ["kind", "event"],
)
ENGINE_FAILURES = Counter(
    "omnipricex_alert_engine_failures_total",
    "Market events the alert engine could not judge (the facts stay recorded), by what failed",
    ["step"],
)
DELIVERY_ATTEMPTS = Counter(
    "omnipricex_webhook_delivery_attempts_total",
    "Webhook delivery attempts, by outcome: delivered, retry (will be tried again), failed (given up), blocked "
    "(the address is off limits)",
    ["outcome"],
)
