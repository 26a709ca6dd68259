"""Business counters of the product service, exported on its /metrics endpoint."""

from __future__ import annotations

from prometheus_client import Counter

PRODUCTS_UPSERTED = Counter(
    "omnipricex_products_upserted_total",
    "Products a create, update or bulk call wrote (created, updated) or found already up to date (unchanged)",
    ["outcome"],
)
PRICE_CHANGES_RECORDED = Counter(
    "omnipricex_price_changes_recorded_total",
    "Price changes recorded as price events, by the RPC that made them",
    ["source"],
)


def count_written(*, created: int = 0, updated: int = 0, unchanged: int = 0) -> None:
    for outcome, count in (("created", created), ("updated", updated), ("unchanged", unchanged)):
        if count:
            PRODUCTS_UPSERTED.labels(outcome).inc(count)


def count_price_changes(source: str, count: int) -> None:
    if count:
        PRICE_CHANGES_RECORDED.labels(source).inc(count)
