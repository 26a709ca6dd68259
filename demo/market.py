"""Demo competitors and their prices for the demo catalog: who sells what, at which price, in stock or not.

Deterministic for a seed. Each competitor lists a share of the active catalog with its own habit (one
undercuts, one sits above, a marketplace scatters), and its latest prices are observed over the last
days, so position rules and the market view have fresh, plausible data from the first start. The
competitor-intelligence work replaces these imports with crawls of the demo shops.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from demo.catalog import DemoCatalog

DEFAULT_SEED = 23


@dataclass(frozen=True, slots=True)
class DemoCompetitor:
    name: str
    website: str
    # Share of the active catalog it lists, and its price relative to ours: mean and spread.
    coverage: float
    price_ratio: float
    spread: float
    out_of_stock_share: float


COMPETITORS = (
    DemoCompetitor("Northwind Outlet", "https://northwind-outlet.example", 0.7, 0.95, 0.04, 0.05),
    DemoCompetitor("Southbay Store", "https://southbay-store.example", 0.5, 1.04, 0.05, 0.10),
    DemoCompetitor("Everything Marketplace", "https://everything-marketplace.example", 0.8, 0.99, 0.10, 0.15),
)


@dataclass(frozen=True, slots=True)
class DemoOffer:
    competitor: str
    sku: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class DemoObservation:
    competitor: str
    url: str
    time: datetime
    price_minor: int
    currency: str
    in_stock: bool


@dataclass(frozen=True, slots=True)
class DemoMarket:
    offers: tuple[DemoOffer, ...]
    observations: tuple[DemoObservation, ...]


def generate_market(catalog: DemoCatalog, *, now: datetime, seed: int = DEFAULT_SEED, days: int = 3) -> DemoMarket:
    """Offers of every competitor and one observation per offer and day, the last within the hour before `now`."""
    rng = random.Random(seed)
    offers: list[DemoOffer] = []
    observations: list[DemoObservation] = []
    active = [product for product in catalog.products if product.status == "active"]
    for competitor in COMPETITORS:
        for product in active:
            if rng.random() >= competitor.coverage:
                continue
            url = f"{competitor.website}/p/{product.sku.lower()}"
            offers.append(DemoOffer(competitor.name, product.sku, url, product.title))
            ratio = rng.gauss(competitor.price_ratio, competitor.spread)
            for day in range(days, 0, -1):
                drift = rng.gauss(0, 0.01)
                price = max(1, round(product.price_minor * max(0.5, ratio + drift)))
                observations.append(
                    DemoObservation(
                        competitor=competitor.name,
                        url=url,
                        time=now - timedelta(days=day - 1, minutes=rng.randint(5, 55)),
                        price_minor=price,
                        currency=product.currency,
                        in_stock=rng.random() >= competitor.out_of_stock_share,
                    )
                )
    return DemoMarket(tuple(offers), tuple(observations))
