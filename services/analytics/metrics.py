"""Business counters of the analytics service, exported on its /metrics endpoint."""

from __future__ import annotations

from prometheus_client import Counter

ORDER_LINES_INGESTED = Counter(
    "omnipricex_order_lines_ingested_total",
    "Order lines an ingest or CSV import wrote (created, updated) or found already stored (unchanged)",
    ["outcome"],
)


def count_ingested(*, created: int = 0, updated: int = 0, unchanged: int = 0) -> None:
    for outcome, count in (("created", created), ("updated", updated), ("unchanged", unchanged)):
        if count:
            ORDER_LINES_INGESTED.labels(outcome).inc(count)
