"""Business counters of the competitor service, exported on its /metrics endpoint."""

from __future__ import annotations

from prometheus_client import Counter

OFFERS_UPSERTED = Counter(
    "omnipricex_offers_upserted_total",
    "Offers an upsert or CSV import wrote (created, updated) or found already up to date (unchanged)",
    ["outcome"],
)
OBSERVATIONS_RECORDED = Counter(
    "omnipricex_observations_recorded_total",
    "Observations recorded, by the RPC that brought them: created (stored as a change of price, stock or "
    "quarantine) or unchanged (already stored, or only extending how long a price was seen)",
    ["source", "outcome"],
)
OBSERVATIONS_QUARANTINED = Counter(
    "omnipricex_observations_quarantined_total",
    "Observations recorded as quarantined (kept, never fed to pricing), by the RPC that brought them",
    ["source"],
)
MARKET_SKUS_LISTED = Counter(
    "omnipricex_market_skus_listed_total",
    "Skus whose market prices ListMarketPrices returned",
)


def count_offers(*, created: int = 0, updated: int = 0, unchanged: int = 0) -> None:
    for outcome, count in (("created", created), ("updated", updated), ("unchanged", unchanged)):
        if count:
            OFFERS_UPSERTED.labels(outcome).inc(count)


def count_observations(source: str, *, created: int, unchanged: int, quarantined: int) -> None:
    for outcome, count in (("created", created), ("unchanged", unchanged)):
        if count:
            OBSERVATIONS_RECORDED.labels(source, outcome).inc(count)
    if quarantined:
        OBSERVATIONS_QUARANTINED.labels(source).inc(quarantined)


def count_market_skus(count: int) -> None:
    if count:
        MARKET_SKUS_LISTED.inc(count)
